/* The documents the control socket returns: `status` (DESIGN.md's
 * status --json) and `keys` (material for Wireshark's decryption tables,
 * which the CLI writes out). */
#ifndef KD_STATUS_H
#define KD_STATUS_H

#include <jansson.h>

#include "daemon/kotetsud.h"

/* {"peers": [...], "drops": {...}, "daemon": {...}}: one entry per IKE SA,
 * in configuration order, and one with state "down" for each configured
 * peer without one. NULL when out of memory. */
json_t *kd_status_json(struct kd *kd);
/* {"ike": [{spi_i, spi_r, encr, encr_key_bits, integ, sk_ei, sk_er, sk_ai,
 * sk_ar}], "sas": [{peer, child, protocol, dir, family, src, dst, spi,
 * encr, encr_key_bits, encr_key, integ, integ_key, encap, sport, dport}]}
 * with algorithms as IKEv2 transform IDs and keys in hex. NULL when out
 * of memory. */
json_t *kd_keys_json(struct kd *kd);

#endif
