/* Coalescing consecutive TCP segments of one flow into a super-packet for
 * a TUN with offloads (gro.h). The rules are Linux's GRO's: only segments
 * that the kernel's segmentation (or core/gso.c) turns back into the same
 * segments are merged, so nothing the receiver sees changes but the count
 * of packets. */
#include <string.h>

#include "core/bytes.h"
#include "core/gro.h"
#include "core/ip.h"

#define TCP_FLAGS_OFF 13
#define TCP_DOFF_OFF 12
#define TCP_ACK 0x10
#define TCP_PSH 0x08
#define IPV4_DF 0x40
#define IPV4_ID_OFF 4
#define IPV4_TTL_OFF 8
#define IPV6_PLEN_OFF 4
#define IPV6_HLIM_OFF 7

/* May this TCP packet (ip: its parse) merge at all? */
static bool mergeable(const uint8_t *p, size_t len, const struct kt_ip_info *ip)
{
	if (ip->tot_len != len || len > KT_GRO_MAX || ip->hdr_len != kt_ip_hdr_len(ip->version))
		return false;
	if (ip->version == 4 && !(p[6] & IPV4_DF))
		return false;
	const uint8_t *tcp = p + ip->hdr_len;
	size_t tcp_len = len - ip->hdr_len;
	if (tcp_len < KT_TCP_HDR_MIN)
		return false;
	size_t doff = (size_t)(tcp[TCP_DOFF_OFF] >> 4) * 4;
	if (doff < KT_TCP_HDR_MIN || doff >= tcp_len)
		return false;
	if ((tcp[TCP_DOFF_OFF] & 0x0f) || (tcp[TCP_FLAGS_OFF] & ~TCP_PSH) != TCP_ACK)
		return false;
	uint32_t pseudo = kt_ip_pseudo_sum_hdr(p, ip->version, KT_IPPROTO_TCP, tcp_len);
	return kt_ip_csum_fold(kt_ip_csum_add(pseudo, tcp, tcp_len)) == 0;
}

enum kt_gro_kind kt_gro_parse(const uint8_t *p, size_t len, struct kt_gro_seg *s)
{
	struct kt_ip_info ip;
	if (kt_ip_parse(p, len, &ip) < 0 || ip.proto != KT_IPPROTO_TCP)
		return KT_GRO_OTHER;
	if (ip.fragment || !ip.has_ports)
		return KT_GRO_ANY;
	memset(s, 0, sizeof(*s));
	s->key = (struct kt_gro_key){ .src = ip.src, .dst = ip.dst, .sport = ip.sport,
				      .dport = ip.dport };
	if (!mergeable(p, len, &ip))
		return KT_GRO_FLOW;
	const uint8_t *tcp = p + ip.hdr_len;
	s->ip_hl = ip.hdr_len;
	s->hl = (uint16_t)(ip.hdr_len + (tcp[TCP_DOFF_OFF] >> 4) * 4);
	s->len = (uint16_t)len;
	s->seq = kt_get32(tcp + 4);
	s->flags = tcp[TCP_FLAGS_OFF];
	return KT_GRO_SEG;
}

bool kt_gro_same_flow(const struct kt_gro_key *a, const struct kt_gro_key *b)
{
	return a->sport == b->sport && a->dport == b->dport && kt_addr_equal(&a->src, &b->src) &&
	       kt_addr_equal(&a->dst, &b->dst);
}

void kt_gro_start(struct kt_gro *g, uint8_t *p, size_t cap, const struct kt_gro_seg *s)
{
	memset(g, 0, sizeof(*g));
	g->p = p;
	g->cap = cap < KT_GRO_MAX ? cap : KT_GRO_MAX;
	g->first = *s;
	g->len = s->len;
	g->next_seq = s->seq + (uint32_t)(s->len - s->hl);
	g->mss = (uint16_t)(s->len - s->hl);
	g->n = 1;
	g->psh = s->flags & TCP_PSH;
	g->closed = g->psh;
}

/* The IP headers of the first segment f and of q agree where a segment
 * split from one super-packet would: all but the lengths, ID and checksum. */
static bool same_ip(const uint8_t *f, const uint8_t *q, uint8_t version)
{
	if (version == 6)
		return memcmp(f, q, IPV6_PLEN_OFF) == 0 && memcmp(f + 6, q + 6, 34) == 0;
	return memcmp(f, q, 2) == 0 && memcmp(f + 6, q + 6, 4) == 0 && memcmp(f + 12, q + 12, 8) == 0;
}

/* IPv4: q's ID follows the run's (+1 a segment, or 0 throughout with DF). */
static bool id_follows(struct kt_gro *g, const uint8_t *q)
{
	uint16_t id0 = kt_get16(g->p + IPV4_ID_OFF), id = kt_get16(q + IPV4_ID_OFF);
	if (g->n == 1) {
		if (id != (uint16_t)(id0 + 1) && (id0 || id))
			return false;
		g->id_step = id == (uint16_t)(id0 + 1);
		return true;
	}
	return id == (uint16_t)(id0 + g->n * g->id_step);
}

/* The TCP headers agree but for sequence number, flags and checksum:
 * ports, acknowledgment, offset, window, urgent pointer and options. */
static bool same_tcp(const uint8_t *f, const uint8_t *q, size_t tcp_hl)
{
	return memcmp(f, q, 4) == 0 && memcmp(f + 8, q + 8, 5) == 0 &&
	       memcmp(f + 14, q + 14, 2) == 0 && memcmp(f + 18, q + 18, tcp_hl - 18) == 0;
}

bool kt_gro_append(struct kt_gro *g, const uint8_t *q, const struct kt_gro_seg *s)
{
	const struct kt_gro_seg *f = &g->first;
	size_t pay = (size_t)(s->len - s->hl);
	if (g->closed || s->ip_hl != f->ip_hl || s->hl != f->hl || s->seq != g->next_seq ||
	    pay > g->mss || g->len + pay > g->cap || !kt_gro_same_flow(&s->key, &f->key))
		return false;
	uint8_t version = f->key.src.version;
	if (!same_ip(g->p, q, version) || !same_tcp(g->p + f->ip_hl, q + f->ip_hl, f->hl - f->ip_hl))
		return false;
	if (version == 4 && !id_follows(g, q))
		return false;
	memcpy(g->p + g->len, q + s->hl, pay);
	g->len += pay;
	g->next_seq += (uint32_t)pay;
	g->n++;
	g->psh = s->flags & TCP_PSH;
	g->closed = g->psh || pay < g->mss;
	return true;
}

size_t kt_gro_finish(struct kt_gro *g, struct kt_vnet_hdr *h)
{
	const struct kt_gro_seg *f = &g->first;
	uint8_t version = f->key.src.version, *tcp = g->p + f->ip_hl;
	memset(h, 0, sizeof(*h));
	if (g->n < 2)
		return g->len;
	if (version == 4) {
		kt_put16(g->p + 2, g->len);
		kt_ip4_set_csum(g->p);
	} else {
		kt_put16(g->p + IPV6_PLEN_OFF, g->len - KT_IPV6_HDR_LEN);
	}
	if (g->psh)
		tcp[TCP_FLAGS_OFF] |= TCP_PSH;
	/* NEEDS_CSUM: the field holds the pseudo-header sum, not complemented,
	 * and the kernel adds the rest (as Linux's tcp_v4_send_check). */
	uint16_t pseudo = (uint16_t)~kt_ip_csum_fold(
		kt_ip_pseudo_sum_hdr(g->p, version, KT_IPPROTO_TCP, g->len - f->ip_hl));
	kt_put16(tcp + KT_TCP_CSUM_OFF, pseudo);
	*h = (struct kt_vnet_hdr){ .flags = KT_VNET_F_NEEDS_CSUM,
				   .gso_type = version == 4 ? KT_VNET_GSO_TCPV4 : KT_VNET_GSO_TCPV6,
				   .hdr_len = f->hl, .gso_size = g->mss, .csum_start = f->ip_hl,
				   .csum_offset = KT_TCP_CSUM_OFF };
	return g->len;
}
