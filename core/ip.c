/* IPv4 and IPv6 header parsing and building, and the RFC 1071 checksums the
 * packet core needs (IPv4 header, UDP for ESP in UDP, TCP/UDP/ICMPv6 after
 * a NAT). Every field read is bounded by min(buffer length, length the
 * header states). */
#include <string.h>

#include "core/bytes.h"
#include "core/err.h"
#include "core/ip.h"

#define IPV4_IHL_MIN 5            /* RFC 791 §3.1: IHL in 32-bit words */
#define IPV4_FLAG_MF 0x2000       /* RFC 791 §3.1: more fragments */
#define IPV4_FRAG_OFF 0x1fff      /* RFC 791 §3.1: fragment offset */
#define IPV4_CSUM_OFF 10
#define IPV6_FRAG_HDR_LEN 8       /* RFC 8200 §4.5 */
#define IPV6_FRAG_OFF 0xfff8      /* RFC 8200 §4.5: offset, in 8-octet units */
#define IPV6_FRAG_M 0x0001        /* RFC 8200 §4.5: more fragments */
#define IPV6_EXT_UNIT 8           /* RFC 8200 §4.3-4.6: Hdr Ext Len unit */
#define IP_LEN_MAX 65535          /* 16-bit total / payload length field */
#define L4_PORTS_LEN 4            /* TCP, UDP and SCTP start with both ports */
#define ICMP_TYPE_CODE_LEN 2
#define TCP_HDR_MIN 20            /* RFC 9293 §3.1: data offset 5 words */
#define TCP_CSUM_OFF 16           /* RFC 9293 §3.1 */
#define UDP_LEN_OFF 4             /* RFC 768 */
#define UDP_CSUM_OFF 6            /* RFC 768 */
#define ICMPV6_HDR_LEN 4          /* RFC 4443 §2.1: type, code, checksum */
#define ICMPV6_CSUM_OFF 2         /* RFC 4443 §2.1 */
/* Extension headers walked before giving up. RFC 8200 sets no limit, but a
 * chain longer than this is an attack on middleboxes, not traffic (RFC 7112,
 * RFC 9098), and a bound keeps the walk's cost fixed. */
#define IPV6_MAX_EXT_HDRS 8

/* Ports or ICMP type/code, only where the upper-layer header is present
 * (never in a non-first fragment) and long enough. */
static void parse_upper(const uint8_t *p, struct kt_ip_info *out)
{
	const uint8_t *l4 = p + out->hdr_len;
	size_t avail = out->tot_len - out->hdr_len;
	uint8_t icmp = out->version == 4 ? KT_IPPROTO_ICMP : KT_IPPROTO_ICMPV6;

	if (!out->first_fragment_or_whole)
		return;
	if (out->proto == KT_IPPROTO_TCP || out->proto == KT_IPPROTO_UDP ||
	    out->proto == KT_IPPROTO_SCTP) {
		if (avail < L4_PORTS_LEN)
			return;
		out->has_ports = true;
		out->sport = kt_get16(l4);
		out->dport = kt_get16(l4 + 2);
	} else if (out->proto == icmp && avail >= ICMP_TYPE_CODE_LEN) {
		out->has_icmp = true;
		out->icmp_type = l4[0];
		out->icmp_code = l4[1];
	}
}

static int parse_v4(const uint8_t *p, size_t len, struct kt_ip_info *out)
{
	size_t ihl, tot;
	uint16_t frag;

	if (len < KT_IPV4_HDR_MIN)
		return KT_ERR_MALFORMED;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	tot = kt_get16(p + 2);
	if (ihl < IPV4_IHL_MIN * 4 || ihl > len || tot < ihl || tot > len)
		return KT_ERR_MALFORMED;
	frag = kt_get16(p + 6);
	out->version = 4;
	out->proto = p[9];
	out->proto_off = 9;
	out->hdr_len = (uint16_t)ihl;
	out->tot_len = (uint32_t)tot;
	out->src.version = out->dst.version = 4;
	memcpy(out->src.bytes, p + 12, 4);
	memcpy(out->dst.bytes, p + 16, 4);
	out->fragment = (frag & (IPV4_FLAG_MF | IPV4_FRAG_OFF)) != 0;
	out->first_fragment_or_whole = (frag & IPV4_FRAG_OFF) == 0;
	return 0;
}

static bool is_v6_ext(uint8_t nh)
{
	return nh == KT_IPPROTO_HOPOPTS || nh == KT_IPPROTO_ROUTING ||
	       nh == KT_IPPROTO_FRAGMENT || nh == KT_IPPROTO_DSTOPTS;
}

/* Length of the extension header `nh` at p[off..end), or 0 if it does not
 * fit. A fragment header also sets the fragment flags. */
static size_t v6_ext_len(const uint8_t *p, size_t off, size_t end, uint8_t nh,
			 struct kt_ip_info *out)
{
	size_t hlen = IPV6_FRAG_HDR_LEN;

	if (end - off < 2)
		return 0;
	if (nh != KT_IPPROTO_FRAGMENT)
		hlen = ((size_t)p[off + 1] + 1) * IPV6_EXT_UNIT;
	if (end - off < hlen)
		return 0;
	if (nh == KT_IPPROTO_FRAGMENT) {
		uint16_t fo = kt_get16(p + off + 2);
		/* Offset 0 with M clear is an atomic fragment: a whole packet
		 * (RFC 6946). */
		if (fo & (IPV6_FRAG_OFF | IPV6_FRAG_M))
			out->fragment = true;
		if (fo & IPV6_FRAG_OFF)
			out->first_fragment_or_whole = false;
	}
	return hlen;
}

/* Walk hop-by-hop, routing, fragment and destination options headers up to
 * the upper-layer protocol, AH or ESP. After a non-first fragment's header
 * the rest is fragment data, so the walk stops there. */
static int walk_v6(const uint8_t *p, struct kt_ip_info *out)
{
	size_t off = KT_IPV6_HDR_LEN, nh_off = 6, end = out->tot_len;
	uint8_t nh = p[6];
	unsigned n;

	for (n = 0; is_v6_ext(nh) && out->first_fragment_or_whole; n++) {
		size_t hlen;

		/* RFC 8200 §4.3: hop-by-hop options only right after the IPv6 header. */
		if (n == IPV6_MAX_EXT_HDRS || (nh == KT_IPPROTO_HOPOPTS && n != 0))
			return KT_ERR_MALFORMED;
		hlen = v6_ext_len(p, off, end, nh, out);
		if (hlen == 0)
			return KT_ERR_MALFORMED;
		nh_off = off;
		nh = p[off];
		off += hlen;
	}
	out->proto = nh;
	out->proto_off = (uint16_t)nh_off;
	out->hdr_len = (uint16_t)off;
	return 0;
}

static int parse_v6(const uint8_t *p, size_t len, struct kt_ip_info *out)
{
	size_t plen;

	if (len < KT_IPV6_HDR_LEN)
		return KT_ERR_MALFORMED;
	plen = kt_get16(p + 4);
	/* Payload length 0 announces a jumbogram (RFC 2675): not supported. */
	if (plen == 0 || plen > len - KT_IPV6_HDR_LEN)
		return KT_ERR_MALFORMED;
	out->version = 6;
	out->tot_len = (uint32_t)(KT_IPV6_HDR_LEN + plen);
	out->src.version = out->dst.version = 6;
	memcpy(out->src.bytes, p + 8, 16);
	memcpy(out->dst.bytes, p + 24, 16);
	out->first_fragment_or_whole = true;
	return walk_v6(p, out);
}

int kt_ip_parse(const uint8_t *p, size_t len, struct kt_ip_info *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (len < 1)
		return KT_ERR_MALFORMED;
	switch (p[0] >> 4) {
	case 4:
		rc = parse_v4(p, len, out);
		break;
	case 6:
		rc = parse_v6(p, len, out);
		break;
	default:
		return KT_ERR_MALFORMED;
	}
	if (rc == 0)
		parse_upper(p, out);
	return rc;
}

/* Eight bytes at a time: one's-complement sums are independent of byte
 * order up to a final swap (RFC 1071 §2(B)), so the words are added as the
 * host loads them, then the folded sum is swapped to network order. The
 * checksum of each segment the data plane splits or merges is the one pass
 * over its payload we cannot avoid. */
static uint32_t sum_words(const uint8_t *p, size_t len)
{
	uint64_t acc = 0;
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		acc += (w & 0xffffffffu) + (w >> 32); /* < 2^33 each: no overflow below 2^31 words */
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	acc = (acc >> 8 | acc << 8) & 0xffff;
#endif
	return (uint32_t)acc;
}

uint32_t kt_ip_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t head = len & ~(size_t)7;
	uint64_t acc = (uint64_t)sum + sum_words(p, head);
	size_t i;

	for (i = head; i + 1 < len; i += 2)
		acc += kt_get16(p + i);
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	/* 2^32 = 1 mod 2^16-1, so end-around carries keep the sum's value. */
	while (acc >> 32)
		acc = (acc & 0xffffffff) + (acc >> 32);
	return (uint32_t)acc;
}

uint32_t kt_ip_pseudo_sum_hdr(const uint8_t *p, uint8_t version, uint8_t proto, size_t l4_len)
{
	uint32_t sum = version == 6 ? kt_ip_csum_add(0, p + 8, 32) : kt_ip_csum_add(0, p + 12, 8);
	return sum + proto + (uint32_t)(l4_len >> 16) + (uint32_t)(l4_len & 0xffff);
}

uint16_t kt_ip_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void kt_ip4_set_csum(uint8_t *p)
{
	size_t ihl = (size_t)(p[0] & 0x0f) * 4;

	kt_put16(p + IPV4_CSUM_OFF, 0);
	kt_put16(p + IPV4_CSUM_OFF, kt_ip_csum_fold(kt_ip_csum_add(0, p, ihl)));
}

static void build_v4(uint8_t *p, const struct kt_addr *src, const struct kt_addr *dst,
		     uint8_t proto, size_t tot_len, uint8_t tos, uint8_t ttl, uint16_t id)
{
	p[0] = 0x40 | IPV4_IHL_MIN;
	p[1] = tos;
	kt_put16(p + 2, tot_len);
	kt_put16(p + 4, id);
	kt_put16(p + 6, 0); /* DF clear: the path may fragment the outer packet */
	p[8] = ttl;
	p[9] = proto;
	memcpy(p + 12, src->bytes, 4);
	memcpy(p + 16, dst->bytes, 4);
	kt_ip4_set_csum(p);
}

static void build_v6(uint8_t *p, const struct kt_addr *src, const struct kt_addr *dst,
		     uint8_t proto, size_t payload_len, uint8_t tclass, uint8_t hops)
{
	p[0] = (uint8_t)(0x60 | tclass >> 4);
	p[1] = (uint8_t)(tclass << 4); /* flow label 0 */
	p[2] = p[3] = 0;
	kt_put16(p + 4, payload_len);
	p[6] = proto;
	p[7] = hops;
	memcpy(p + 8, src->bytes, 16);
	memcpy(p + 24, dst->bytes, 16);
}

int kt_ip_build(uint8_t *p, const struct kt_addr *src, const struct kt_addr *dst,
		uint8_t proto, size_t payload_len, uint8_t tos, uint8_t ttl, uint16_t id)
{
	size_t hlen;

	if (src->version != dst->version || (src->version != 4 && src->version != 6))
		return KT_ERR_INVAL;
	hlen = kt_ip_hdr_len(src->version);
	if (payload_len > IP_LEN_MAX || (src->version == 4 && payload_len > IP_LEN_MAX - hlen))
		return KT_ERR_INVAL;
	if (src->version == 4)
		build_v4(p, src, dst, proto, hlen + payload_len, tos, ttl, id);
	else
		build_v6(p, src, dst, proto, payload_len, tos, ttl);
	return (int)hlen;
}

void kt_ip_set_len(uint8_t *p, size_t tot_len)
{
	if (p[0] >> 4 == 6) {
		kt_put16(p + 4, tot_len - KT_IPV6_HDR_LEN);
	} else {
		kt_put16(p + 2, tot_len);
		kt_ip4_set_csum(p);
	}
}

uint8_t kt_ip_tos(const uint8_t *p)
{
	if (p[0] >> 4 == 6)
		return (uint8_t)((p[0] & 0x0f) << 4 | p[1] >> 4);
	return p[1];
}

/* RFC 768 / RFC 9293 §3.1 (IPv4) and RFC 8200 §8.1 (IPv6) pseudo-headers
 * for an upper-layer packet of len bytes. */
static uint32_t pseudo_sum(const struct kt_addr *src, const struct kt_addr *dst, uint8_t proto,
			   size_t len)
{
	uint8_t tail[8] = {0};
	size_t alen = src->version == 6 ? 16 : 4;
	uint32_t sum = kt_ip_csum_add(0, src->bytes, alen);

	sum = kt_ip_csum_add(sum, dst->bytes, alen);
	if (src->version == 6) {
		tail[0] = (uint8_t)(len >> 24);
		tail[1] = (uint8_t)(len >> 16);
		kt_put16(tail + 2, len);
		tail[7] = proto;
		return kt_ip_csum_add(sum, tail, 8);
	}
	tail[1] = proto;
	kt_put16(tail + 2, len);
	return kt_ip_csum_add(sum, tail, 4);
}

uint16_t kt_udp_csum(const struct kt_addr *src, const struct kt_addr *dst,
		     const uint8_t *udp, size_t udp_len)
{
	uint32_t sum = kt_ip_csum_add(pseudo_sum(src, dst, KT_IPPROTO_UDP, udp_len), udp, udp_len);
	uint16_t csum = kt_ip_csum_fold(sum);

	/* RFC 768: a computed 0 is sent as all ones; 0 means "no checksum". */
	return csum == 0 ? 0xffff : csum;
}

/* Where the upper-layer checksum field is (*off, from l4) and how many bytes
 * it covers (*len), for the header at l4 with avail bytes up to tot_len.
 * Returns 1, 0 when there is no checksum to fix, or KT_ERR_MALFORMED. */
static int l4_csum_span(const struct kt_ip_info *ip, const uint8_t *l4, size_t avail,
			size_t *off, size_t *len)
{
	size_t ulen;

	switch (ip->proto) {
	case KT_IPPROTO_TCP:
		if (avail < TCP_HDR_MIN)
			return KT_ERR_MALFORMED;
		*off = TCP_CSUM_OFF;
		*len = avail;
		return 1;
	case KT_IPPROTO_UDP:
		if (avail < KT_UDP_HDR_LEN)
			return KT_ERR_MALFORMED;
		ulen = kt_get16(l4 + UDP_LEN_OFF);
		if (ulen < KT_UDP_HDR_LEN || ulen > avail)
			return KT_ERR_MALFORMED;
		/* RFC 768: over IPv4, 0 says the sender computed none. */
		if (ip->version == 4 && kt_get16(l4 + UDP_CSUM_OFF) == 0)
			return 0;
		*off = UDP_CSUM_OFF;
		*len = ulen;
		return 1;
	case KT_IPPROTO_ICMPV6:
		if (ip->version != 6)
			return 0;
		if (avail < ICMPV6_HDR_LEN)
			return KT_ERR_MALFORMED;
		*off = ICMPV6_CSUM_OFF;
		*len = avail;
		return 1;
	default: /* ICMPv4's checksum covers no addresses; others: not ours */
		return 0;
	}
}

int kt_ip_fix_l4_csum(uint8_t *p, size_t len)
{
	struct kt_ip_info ip;
	size_t off, n;
	uint8_t *l4;
	uint16_t csum;
	int rc;

	if (kt_ip_parse(p, len, &ip) < 0)
		return KT_ERR_MALFORMED;
	/* A fragment holds only part of what the checksum covers. */
	if (ip.fragment)
		return 0;
	l4 = p + ip.hdr_len;
	rc = l4_csum_span(&ip, l4, ip.tot_len - ip.hdr_len, &off, &n);
	if (rc <= 0)
		return rc;
	kt_put16(l4 + off, 0);
	csum = kt_ip_csum_fold(kt_ip_csum_add(pseudo_sum(&ip.src, &ip.dst, ip.proto, n), l4, n));
	if (csum == 0 && ip.proto == KT_IPPROTO_UDP)
		csum = 0xffff; /* RFC 768: a computed 0 is sent as all ones */
	kt_put16(l4 + off, csum);
	return 1;
}
