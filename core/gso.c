/* Splitting a TUN's TCP/UDP super-packets (TSO, USO) into packets and
 * completing the checksums the kernel left to us (gso.h). Each segment's
 * checksum is computed anew over its own pseudo-header, header and
 * payload: nothing the kernel left in the checksum field is relied on. */
#include <string.h>

#include "core/bytes.h"
#include "core/err.h"
#include "core/gso.h"
#include "core/ip.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80
#define TCP_FLAGS_OFF 13
#define IPV4_ID_OFF 4
#define UDP_LEN_OFF 4

void kt_vnet_hdr_get(const uint8_t *p, struct kt_vnet_hdr *h)
{
	h->flags = p[0];
	h->gso_type = p[1];
	memcpy(&h->hdr_len, p + 2, 2);
	memcpy(&h->gso_size, p + 4, 2);
	memcpy(&h->csum_start, p + 6, 2);
	memcpy(&h->csum_offset, p + 8, 2);
}

void kt_vnet_hdr_put(uint8_t *p, const struct kt_vnet_hdr *h)
{
	p[0] = h->flags;
	p[1] = h->gso_type;
	memcpy(p + 2, &h->hdr_len, 2);
	memcpy(p + 4, &h->gso_size, 2);
	memcpy(p + 6, &h->csum_start, 2);
	memcpy(p + 8, &h->csum_offset, 2);
}

/* A checksum as Linux stores a completed one: 0 is sent as 0xffff (the
 * same value in one's complement; for UDP, 0 would mean "none"). */
static uint16_t csum_store(uint32_t sum)
{
	uint16_t c = kt_ip_csum_fold(sum);
	return c ? c : 0xffff;
}

int kt_gso_csum(uint8_t *p, size_t len, const struct kt_vnet_hdr *h)
{
	if (!(h->flags & KT_VNET_F_NEEDS_CSUM))
		return 0;
	size_t start = h->csum_start, field = start + h->csum_offset;
	if (field + 2 > len)
		return KT_ERR_MALFORMED;
	kt_put16(p + field, csum_store(kt_ip_csum_add(0, p + start, len - start)));
	return 0;
}

/* The transport header of a GSO packet: at csum_start, right after the
 * IP headers, of the protocol gso_type names, whole. Its length, or 0. */
static size_t l4_hdr_len(const struct kt_gso *g, const struct kt_ip_info *ip)
{
	if (g->h.csum_start != ip->hdr_len || ip->fragment || ip->proto != g->proto)
		return 0;
	size_t need = g->proto == KT_IPPROTO_TCP ? KT_TCP_HDR_MIN : KT_UDP_HDR_LEN;
	if (g->l4 + need > g->tot)
		return 0;
	if (g->proto == KT_IPPROTO_UDP)
		return g->h.csum_offset == KT_UDP_CSUM_OFF ? KT_UDP_HDR_LEN : 0;
	size_t doff = (size_t)(g->p[g->l4 + 12] >> 4) * 4;
	if (g->h.csum_offset != KT_TCP_CSUM_OFF || doff < KT_TCP_HDR_MIN || g->l4 + doff > g->tot)
		return 0;
	return doff;
}

/* Family and protocol a GSO type stands for; false for what we refuse. */
static bool gso_kind(uint8_t type, uint8_t *version, uint8_t *proto)
{
	switch (type & ~KT_VNET_GSO_ECN) {
	case KT_VNET_GSO_TCPV4: *version = 4; *proto = KT_IPPROTO_TCP; return true;
	case KT_VNET_GSO_TCPV6: *version = 6; *proto = KT_IPPROTO_TCP; return true;
	case KT_VNET_GSO_UDP_L4: *version = 0; *proto = KT_IPPROTO_UDP; return true;
	default: return false;
	}
}

static int init_gso(struct kt_gso *g, const struct kt_ip_info *ip, size_t seg_max)
{
	uint8_t version;
	if (!gso_kind(g->h.gso_type, &version, &g->proto))
		return KT_ERR_UNSUPPORTED;
	if (version && version != ip->version)
		return KT_ERR_MALFORMED;
	g->l4 = g->h.csum_start;
	size_t l4len = l4_hdr_len(g, ip);
	g->hl = g->l4 + l4len;
	g->mss = g->h.gso_size;
	if (!l4len || g->mss == 0 || g->hl >= g->tot || g->hl + g->mss > seg_max)
		return KT_ERR_MALFORMED;
	g->gso = true;
	g->off = g->hl;
	g->id = ip->version == 4 ? kt_get16(g->p + IPV4_ID_OFF) : 0;
	g->seq = g->proto == KT_IPPROTO_TCP ? kt_get32(g->p + g->l4 + 4) : 0;
	size_t pay = g->tot - g->hl;
	return (int)((pay + g->mss - 1) / g->mss);
}

int kt_gso_init(struct kt_gso *g, const struct kt_vnet_hdr *h, const uint8_t *p, size_t len,
		size_t seg_max)
{
	struct kt_ip_info ip;
	memset(g, 0, sizeof(*g));
	g->h = *h;
	g->p = p;
	if (h->gso_type == KT_VNET_GSO_NONE) {
		g->tot = len;
		if (len == 0 || len > seg_max || ((h->flags & KT_VNET_F_NEEDS_CSUM) &&
				      (size_t)h->csum_start + h->csum_offset + 2 > len))
			return KT_ERR_MALFORMED;
		return 1;
	}
	if (kt_ip_parse(p, len, &ip) < 0)
		return KT_ERR_MALFORMED;
	g->version = ip.version;
	g->tot = ip.tot_len;
	return init_gso(g, &ip, seg_max);
}

/* Lengths, ID and sequence number of segment out[0..n), whose payload
 * starts at byte pos of the super-packet's payload. */
static void fix_segment(const struct kt_gso *g, uint8_t *out, size_t n, size_t pos, bool last)
{
	uint8_t *l4 = out + g->l4;
	size_t l4_len = n - g->l4;
	if (g->version == 4) {
		kt_put16(out + 2, n);
		kt_put16(out + IPV4_ID_OFF, (uint16_t)(g->id + pos / g->mss));
		kt_ip4_set_csum(out);
	} else {
		kt_put16(out + 4, n - KT_IPV6_HDR_LEN);
	}
	if (g->proto == KT_IPPROTO_TCP) {
		kt_put32(l4 + 4, g->seq + (uint32_t)pos);
		if (!last)
			l4[TCP_FLAGS_OFF] &= (uint8_t)~(TCP_FIN | TCP_PSH);
		if (pos)
			l4[TCP_FLAGS_OFF] &= (uint8_t)~TCP_CWR;
		kt_put16(l4 + KT_TCP_CSUM_OFF, 0);
	} else {
		kt_put16(l4 + UDP_LEN_OFF, l4_len);
		kt_put16(l4 + KT_UDP_CSUM_OFF, 0);
	}
	uint32_t pseudo = kt_ip_pseudo_sum_hdr(out, g->version, g->proto, l4_len);
	uint32_t sum = kt_ip_csum_add(pseudo, l4, l4_len);
	kt_put16(l4 + (g->proto == KT_IPPROTO_TCP ? KT_TCP_CSUM_OFF : KT_UDP_CSUM_OFF),
		 csum_store(sum));
}

int kt_gso_next(struct kt_gso *g, uint8_t *out, size_t cap)
{
	if (!g->gso) {
		if (g->off)
			return 0;
		if (g->tot > cap)
			return KT_ERR_NOSPACE;
		memcpy(out, g->p, g->tot);
		g->off = g->tot;
		return kt_gso_csum(out, g->tot, &g->h) < 0 ? KT_ERR_MALFORMED : (int)g->tot;
	}
	if (g->off >= g->tot)
		return 0;
	size_t pay = g->tot - g->off < g->mss ? g->tot - g->off : g->mss, n = g->hl + pay;
	if (n > cap)
		return KT_ERR_NOSPACE;
	memcpy(out, g->p, g->hl);
	memcpy(out + g->hl, g->p + g->off, pay);
	fix_segment(g, out, n, g->off - g->hl, g->off + pay == g->tot);
	g->off += pay;
	return (int)n;
}
