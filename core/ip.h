/* IPv4 and IPv6 header parsing and building for the packet core. The parser
 * validates every length before it reads a field and never reads past the
 * given length. */
#ifndef KT_IP_H
#define KT_IP_H

#include "core/types.h"

#define KT_IPPROTO_HOPOPTS 0
#define KT_IPPROTO_ICMP 1
#define KT_IPPROTO_IPIP 4     /* IPv4 inside (tunnel mode next header) */
#define KT_IPPROTO_TCP 6
#define KT_IPPROTO_UDP 17
#define KT_IPPROTO_IPV6 41    /* IPv6 inside (tunnel mode next header) */
#define KT_IPPROTO_ROUTING 43
#define KT_IPPROTO_FRAGMENT 44
#define KT_IPPROTO_ESP 50
#define KT_IPPROTO_AH 51
#define KT_IPPROTO_ICMPV6 58
#define KT_IPPROTO_NONE 59    /* "no next header": ESP dummy packets */
#define KT_IPPROTO_DSTOPTS 60
#define KT_IPPROTO_SCTP 132

#define KT_IPV4_HDR_MIN 20
#define KT_IPV4_HDR_MAX 60
#define KT_IPV6_HDR_LEN 40
#define KT_UDP_HDR_LEN 8
#define KT_NAT_T_PORT 4500    /* RFC 3948 */

/* What the parser learnt about a packet. Offsets are from the packet start. */
struct kt_ip_info {
	uint8_t version;     /* 4 or 6 */
	uint8_t proto;       /* upper-layer protocol; IPv6 extension headers are
	                        walked, and AH/ESP stop the walk */
	uint16_t hdr_len;    /* offset of the upper-layer header (IPv4: IHL*4;
	                        IPv6: 40 + extension headers) */
	uint16_t proto_off;  /* offset of the byte that holds `proto` (IPv4: 9;
	                        IPv6: 6 or the last extension header's byte 0) */
	uint32_t tot_len;    /* packet length stated by the header; <= buffer length */
	struct kt_addr src, dst;
	bool fragment;       /* a fragment (IPv4 MF/offset, IPv6 fragment header) */
	bool first_fragment_or_whole; /* upper-layer header present (offset 0) */
	bool has_ports;      /* TCP, UDP, SCTP header present: sport/dport valid */
	uint16_t sport, dport;
	bool has_icmp;       /* ICMP/ICMPv6 header present: type/code valid */
	uint8_t icmp_type, icmp_code;
};

/* Parse the IP header at p[0..len). Stops at the upper-layer protocol (or at
 * AH/ESP). Bytes beyond tot_len are ignored (link padding).
 * Returns 0 or KT_ERR_MALFORMED (bad version, IHL, lengths, truncated
 * extension header). Upper-layer headers shorter than their port fields
 * leave has_ports false rather than failing. */
int kt_ip_parse(const uint8_t *p, size_t len, struct kt_ip_info *out);

/* RFC 1071 one's-complement sum helpers. csum_add adds p as big-endian
 * 16-bit words to sum (only the last piece may have an odd length);
 * csum_fold folds to 16 bits and returns the complement, the value to store
 * in a checksum field (as Linux's csum_fold): over data that includes a
 * correct checksum it returns 0. */
uint32_t kt_ip_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t kt_ip_csum_fold(uint32_t sum);
/* The TCP/UDP pseudo-header sum (RFC 9293 §3.1, RFC 8200 §8.1) of the
 * IPv4 or IPv6 header at p (addresses at their fixed offsets) for
 * l4_len transport bytes of protocol proto. */
uint32_t kt_ip_pseudo_sum_hdr(const uint8_t *p, uint8_t version, uint8_t proto, size_t l4_len);
/* Recompute the IPv4 header checksum of the header at p (IHL from p). */
void kt_ip4_set_csum(uint8_t *p);

/* Write an outer IPv4 (20 bytes) or IPv6 (40 bytes) header at p for a
 * payload of payload_len bytes with the given next protocol. tos is the
 * DSCP+ECN byte (traffic class for IPv6), ttl the TTL / hop limit.
 * IPv4: DF clear, ID from `id`, checksum set. Returns the header length
 * or KT_ERR_INVAL (versions of src and dst differ, length too large). */
int kt_ip_build(uint8_t *p, const struct kt_addr *src, const struct kt_addr *dst,
		uint8_t proto, size_t payload_len, uint8_t tos, uint8_t ttl, uint16_t id);

/* Length of the header kt_ip_build writes for this version (20 or 40). */
static inline size_t kt_ip_hdr_len(uint8_t version) { return version == 6 ? KT_IPV6_HDR_LEN : KT_IPV4_HDR_MIN; }

/* Set the total/payload length field of the header at p (version from p)
 * to describe a packet of tot_len bytes; fixes the IPv4 checksum. */
void kt_ip_set_len(uint8_t *p, size_t tot_len);

/* The DSCP+ECN byte of the header at p (version from p). */
uint8_t kt_ip_tos(const uint8_t *p);

/* UDP checksum over an IPv4/IPv6 pseudo-header and the UDP datagram at udp
 * (length udp_len, checksum field included as it is). With the field zeroed
 * it is the value to send; a computed 0 is returned as 0xffff (RFC 768), so
 * over a datagram whose checksum is correct the result is 0xffff. */
uint16_t kt_udp_csum(const struct kt_addr *src, const struct kt_addr *dst,
		     const uint8_t *udp, size_t udp_len);

/* Recompute, in place, the upper-layer checksum of the IP packet at
 * p[0..len) over the addresses now in its IP header (for transport mode
 * behind a NAT, RFC 3948 §3.1.2). TCP (IPv4, IPv6) over the whole segment;
 * UDP over the UDP length (IPv4: a zero checksum, "none", stays zero; a
 * computed 0 is stored as 0xffff); ICMPv6 with its pseudo-header. Every
 * length is checked before it is used and nothing past len (or past the
 * header's own length) is read or written. Returns 1 when a checksum was
 * rewritten; 0 when there is none to fix (fragments, first ones included,
 * as they hold only part of what the checksum covers; ICMPv4; other
 * protocols; IPv4 UDP with checksum 0); KT_ERR_MALFORMED (not an IP packet,
 * TCP shorter than 20 bytes, UDP shorter than 8 or with a length beyond the
 * packet, ICMPv6 shorter than 4), the packet then untouched. */
int kt_ip_fix_l4_csum(uint8_t *p, size_t len);

#endif
