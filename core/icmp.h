/* The ICMP errors a gateway sends about packets too large for its tunnel:
 * IPv4 "fragmentation needed" (RFC 792, with the next-hop MTU of RFC 1191)
 * and ICMPv6 "packet too big" (RFC 4443 §3.2), built as whole IP packets
 * (the data plane writes them to its TUN), so senders learn the path MTU. */
#ifndef KT_ICMP_H
#define KT_ICMP_H

#include "core/ip.h"

#define KT_ICMP_HDR_LEN 8        /* type, code, checksum, 4 bytes of data */
#define KT_ICMP_V4_MAX 576       /* RFC 1812 §4.3.2.3: an error fits 576 bytes */
#define KT_ICMP_V6_MAX 1280      /* RFC 4443 §2.4(c): no more than the IPv6 minimum MTU */
#define KT_ICMP_V4_MIN_MTU 68    /* RFC 791: every IPv4 link carries 68 bytes */
#define KT_ICMP_V6_MIN_MTU 1280  /* RFC 8200 §5 */

/* May the packet not be fragmented on its way (IPv4 DF set; IPv6 always,
 * routers never fragment it)? pkt is a parsed IP packet of len bytes. */
bool kt_icmp_df(const uint8_t *pkt, size_t len);

/* Build into out (cap bytes, at least KT_ICMP_V6_MAX is always enough) the
 * error that tells the sender of pkt that it must fit in mtu bytes:
 * from src (an address of the gateway, same version as pkt) to pkt's
 * source, quoting as much of pkt as the RFC limits allow. mtu is raised to
 * the version's minimum. Returns the packet's length; 0 when no error may
 * be sent about pkt (it is itself an ICMP error, a non-initial IPv4
 * fragment, or its source is unspecified, loopback, multicast or
 * broadcast: RFC 1122 §3.2.2, RFC 4443 §2.4(e)); KT_ERR_MALFORMED (pkt is
 * not an IP packet), KT_ERR_INVAL (src of another version),
 * KT_ERR_NOSPACE (cap too small). */
int kt_icmp_too_big(uint8_t *out, size_t cap, const uint8_t *pkt, size_t len,
		    const struct kt_addr *src, uint32_t mtu);

#endif
