/* MTU arithmetic for the data plane: the most a configured child can add
 * to a packet (to size the TUN before any SA exists) and the largest inner
 * packet an installed rule's SAs carry within a path MTU (to answer larger
 * ones with ICMP "too big"). */
#ifndef KT_MTU_H
#define KT_MTU_H

#include "core/sad.h"

#define KT_MTU_IPV6_MIN 1280     /* RFC 8200 §5: IPv6 needs this on every link */
/* Worst cases over every transform the core implements (xform.h): */
#define KT_MTU_MAX_BLOCK 16      /* AES-CBC: up to 15 bytes of padding */
#define KT_MTU_AH_ALIGN_V6 8     /* RFC 4302 §2.2: AH is a multiple of 8 bytes in IPv6 */

/* Bytes a child may add at most: tunnel mode (an outer header of
 * outer_version, 6 when unknown, for each of ESP and AH), UDP when encap,
 * and the largest IV, padding and ICV of any algorithm. Transport mode
 * adds less. */
size_t kt_mtu_worst_overhead(bool esp, bool ah, uint8_t outer_version, bool encap);

/* The largest inner packet that, sealed with esp then ah (either may be
 * NULL, as in an SPD rule), is at most path_mtu bytes; 0 if none is. */
size_t kt_mtu_inner_max(const struct kt_sa *esp, const struct kt_sa *ah, size_t path_mtu);

#endif
