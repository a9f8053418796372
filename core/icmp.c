/* ICMP "fragmentation needed" and ICMPv6 "packet too big" for packets the
 * data plane cannot carry whole: when to send one (never about an error,
 * a non-initial fragment or a source that is no single host), and its
 * bytes. */
#include <string.h>

#include "core/bytes.h"
#include "core/err.h"
#include "core/icmp.h"

#define IPV4_FLAG_DF 0x4000        /* RFC 791 §3.1 */
#define IPV4_FRAG_OFF 0x1fff
#define ICMP_DEST_UNREACH 3        /* RFC 792 */
#define ICMP_FRAG_NEEDED 4         /* RFC 792 code; RFC 1191 §4 puts the MTU in bytes 6-7 */
#define ICMPV6_PACKET_TOO_BIG 2    /* RFC 4443 §3.2 */
#define ICMPV6_INFO_MIN 128        /* RFC 4443 §2.1: types below are errors */
#define ICMP_ERR_TTL 64
#define IPV4_LEN_MAX 0xffff

/* RFC 1122 §3.2.2: ICMP errors are never answered with ICMP errors. */
static bool v4_icmp_error(uint8_t type)
{
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

static bool is_error(const struct kt_ip_info *ip)
{
	if (ip->version == 4)
		return ip->proto == KT_IPPROTO_ICMP && ip->has_icmp && v4_icmp_error(ip->icmp_type);
	return ip->proto == KT_IPPROTO_ICMPV6 && ip->has_icmp && ip->icmp_type < ICMPV6_INFO_MIN;
}

/* Sources an error must not go to: no single host is there. */
static bool bad_source(const struct kt_addr *a)
{
	static const uint8_t zero[16], loop6[16] = { [15] = 1 };
	const uint8_t *b = a->bytes;
	if (a->version == 4)
		return kt_get32(b) == 0 || b[0] == 127 || b[0] >= 224;
	return memcmp(b, zero, 16) == 0 || memcmp(b, loop6, 16) == 0 || b[0] == 0xff;
}

bool kt_icmp_df(const uint8_t *pkt, size_t len)
{
	if (len < 1)
		return false;
	if (pkt[0] >> 4 == 6)
		return true;
	return len >= KT_IPV4_HDR_MIN && (kt_get16(pkt + 6) & IPV4_FLAG_DF);
}

/* The ICMPv6 checksum covers a pseudo-header (RFC 4443 §2.3, RFC 8200 §8.1). */
static uint16_t icmp6_csum(const struct kt_addr *src, const struct kt_addr *dst,
			   const uint8_t *msg, size_t len)
{
	uint8_t tail[8] = { 0 };
	kt_put32(tail, (uint32_t)len);
	tail[7] = KT_IPPROTO_ICMPV6;
	uint32_t sum = kt_ip_csum_add(0, src->bytes, 16);
	sum = kt_ip_csum_add(sum, dst->bytes, 16);
	sum = kt_ip_csum_add(sum, tail, sizeof(tail));
	return kt_ip_csum_fold(kt_ip_csum_add(sum, msg, len));
}

static int build(uint8_t *out, const uint8_t *pkt, size_t quote, const struct kt_ip_info *ip,
		 const struct kt_addr *src, uint32_t mtu)
{
	size_t hlen = kt_ip_hdr_len(ip->version), msg_len = KT_ICMP_HDR_LEN + quote;
	uint8_t *icmp = out + hlen;
	uint8_t proto = ip->version == 4 ? KT_IPPROTO_ICMP : KT_IPPROTO_ICMPV6;
	int rc = kt_ip_build(out, src, &ip->src, proto, msg_len, 0, ICMP_ERR_TTL, 0);
	if (rc < 0)
		return rc;
	memset(icmp, 0, KT_ICMP_HDR_LEN);
	memcpy(icmp + KT_ICMP_HDR_LEN, pkt, quote);
	if (ip->version == 4) {
		icmp[0] = ICMP_DEST_UNREACH;
		icmp[1] = ICMP_FRAG_NEEDED;
		kt_put16(icmp + 6, mtu > IPV4_LEN_MAX ? IPV4_LEN_MAX : mtu);
		kt_put16(icmp + 2, kt_ip_csum_fold(kt_ip_csum_add(0, icmp, msg_len)));
	} else {
		icmp[0] = ICMPV6_PACKET_TOO_BIG;
		kt_put32(icmp + 4, mtu);
		kt_put16(icmp + 2, icmp6_csum(src, &ip->src, icmp, msg_len));
	}
	return (int)(hlen + msg_len);
}

int kt_icmp_too_big(uint8_t *out, size_t cap, const uint8_t *pkt, size_t len,
		    const struct kt_addr *src, uint32_t mtu)
{
	struct kt_ip_info ip;
	if (kt_ip_parse(pkt, len, &ip) < 0)
		return KT_ERR_MALFORMED;
	if (src->version != ip.version)
		return KT_ERR_INVAL;
	if (is_error(&ip) || bad_source(&ip.src) ||
	    (ip.version == 4 && (kt_get16(pkt + 6) & IPV4_FRAG_OFF)))
		return 0;
	size_t limit = ip.version == 4 ? KT_ICMP_V4_MAX : KT_ICMP_V6_MAX;
	size_t head = kt_ip_hdr_len(ip.version) + KT_ICMP_HDR_LEN;
	size_t quote = ip.tot_len < limit - head ? ip.tot_len : limit - head;
	if (cap < head + quote)
		return KT_ERR_NOSPACE;
	uint32_t floor = ip.version == 4 ? KT_ICMP_V4_MIN_MTU : KT_ICMP_V6_MIN_MTU;
	return build(out, pkt, quote, &ip, src, mtu < floor ? floor : mtu);
}
