/* AH, RFC 4302: integrity for the packet including the immutable parts of
 * its IP header. Mutable fields (IPv4 TOS, flags, fragment offset, TTL,
 * checksum, mutable options; IPv6 traffic class, flow label, hop limit and
 * options with the change-en-route bit) are zeroed for the ICV only. */
#ifndef KT_AH_H
#define KT_AH_H

#include "core/sad.h"

#define KT_AH_HDR_LEN 12 /* next header, length, reserved, SPI, sequence */

/* Seal pkt with the outbound AH SA (tunnel: new outer header; transport: AH
 * after the IP header). Returns as kt_esp_seal (KT_ERR_FRAGMENT for a
 * fragment in transport mode, RFC 4302 §3.3.3). */
int kt_ah_seal(struct kt_sad *sad, struct kt_sa *sa, struct kt_pkt *pkt);

/* Verify and remove AH (ip->proto == AH) in the same fixed order as ESP.
 * Returns 0 and *sa, or KT_ERR_MALFORMED, KT_ERR_NO_SA, KT_ERR_EXPIRED,
 * KT_ERR_REPLAY, KT_ERR_TOO_OLD, KT_ERR_AUTH, KT_ERR_PROTO, KT_ERR_FRAGMENT
 * (reassemble first). */
int kt_ah_open(struct kt_sad *sad, struct kt_pkt *pkt, const struct kt_ip_info *ip,
	       struct kt_sa **sa);

size_t kt_ah_overhead(const struct kt_sa *sa);

#endif
