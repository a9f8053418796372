/* What two IKE peers agree on: proposal selection between configured
 * kt_proposal lists and the wire proposals of an SA payload (RFC 7296
 * §2.7, §3.3), selector narrowing (§2.9), identities (§3.5), and the
 * strongSwan-syntax text of each for "peer offered X, we accept Y" logs. */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/ike/ike_int.h"

#define PORT_MAX 0xffff

/* ---- Configured proposals to the wire ---- */

static void add_xf(struct kt_ike_proposal *w, uint8_t type, uint16_t id, uint16_t bits)
{
	if (w->n_xf < KT_IKE_MAX_TRANSFORMS)
		w->xf[w->n_xf++] = (struct kt_ike_transform){ .type = type, .id = id, .key_bits = bits };
}

/* strongSwan's order: encryption, integrity, PRF, key exchange, ESN. */
static void one_to_wire(const struct kt_proposal *p, uint8_t num, bool with_dh, uint64_t spi,
			uint8_t spi_size, struct kt_ike_proposal *w)
{
	memset(w, 0, offsetof(struct kt_ike_proposal, xf));
	w->num = num;
	w->proto = p->proto;
	w->spi_size = spi_size;
	w->spi = spi;
	for (size_t i = 0; i < p->n_encr; i++)
		add_xf(w, KT_IKE_XF_ENCR, p->encr[i].id, p->encr[i].key_bits);
	for (size_t i = 0; i < p->n_integ; i++)
		add_xf(w, KT_IKE_XF_INTEG, p->integ[i], 0);
	for (size_t i = 0; i < p->n_prf; i++)
		add_xf(w, KT_IKE_XF_PRF, p->prf[i], 0);
	for (size_t i = 0; with_dh && i < p->n_dh; i++)
		add_xf(w, KT_IKE_XF_DH, p->dh[i], 0);
	for (size_t i = 0; i < p->n_esn; i++)
		add_xf(w, KT_IKE_XF_ESN, p->esn[i], 0);
	if (p->proto != KT_IKE_PROTO_IKE && p->n_esn == 0)
		add_xf(w, KT_IKE_XF_ESN, KT_IKE_ESN_NO, 0);
}

size_t kt_ike_nego_to_wire(const struct kt_proposal *list, size_t n, bool with_dh, uint64_t spi,
			   uint8_t spi_size, struct kt_ike_proposal *out)
{
	if (n > KT_IKE_MAX_PROPOSALS)
		n = KT_IKE_MAX_PROPOSALS;
	for (size_t i = 0; i < n; i++)
		one_to_wire(&list[i], (uint8_t)(i + 1), with_dh, spi, spi_size, &out[i]);
	return n;
}

void kt_ike_nego_choice_wire(const struct kt_ike_choice *c, uint8_t spi_size,
			     struct kt_ike_proposal *w)
{
	memset(w, 0, offsetof(struct kt_ike_proposal, xf));
	w->num = c->num;
	w->proto = c->proto;
	w->spi_size = spi_size;
	w->spi = c->spi;
	if (c->proto != KT_IKE_PROTO_AH)
		add_xf(w, KT_IKE_XF_ENCR, c->encr, c->encr_bits);
	if (c->integ)
		add_xf(w, KT_IKE_XF_INTEG, c->integ, 0);
	if (c->proto == KT_IKE_PROTO_IKE)
		add_xf(w, KT_IKE_XF_PRF, c->prf, 0);
	if (c->dh)
		add_xf(w, KT_IKE_XF_DH, c->dh, 0);
	if (c->proto != KT_IKE_PROTO_IKE)
		add_xf(w, KT_IKE_XF_ESN, c->esn, 0);
}

/* ---- Selection ---- */

static bool in_list(const uint16_t *list, size_t n, uint16_t id)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == id)
			return true;
	return false;
}

static bool ours_has_encr(const struct kt_proposal *p, uint16_t id, uint16_t bits)
{
	for (size_t i = 0; i < p->n_encr; i++)
		if (p->encr[i].id == id && p->encr[i].key_bits == bits)
			return true;
	return false;
}

/* Transforms of one type offered in a wire proposal, in the peer's order
 * (those with attributes we do not know are unacceptable, §3.3.6). */
static size_t offered_ids(const struct kt_ike_proposal *w, uint8_t type, uint16_t *ids, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < w->n_xf && n < cap; i++)
		if (w->xf[i].type == type && !w->xf[i].unknown_attr)
			ids[n++] = w->xf[i].id;
	return n;
}

static size_t count_type(const struct kt_ike_proposal *w, uint8_t type)
{
	size_t n = 0;
	for (size_t i = 0; i < w->n_xf; i++)
		n += w->xf[i].type == type;
	return n;
}

/* §3.3.6: a proposal with a transform type we do not know is unacceptable. */
static bool types_known(const struct kt_ike_proposal *w)
{
	for (size_t i = 0; i < w->n_xf; i++)
		if (w->xf[i].type < KT_IKE_XF_ENCR || w->xf[i].type > KT_IKE_XF_ESN)
			return false;
	return true;
}

/* Integrity that goes with encr: none for an AEAD (RFC 5282 §8: no
 * integrity transform, or NONE), else the peer's first that we have. */
static bool pick_integ(const struct kt_ike_proposal *w, const struct kt_proposal *ours,
		       uint16_t encr, uint16_t *out)
{
	uint16_t ids[KT_IKE_MAX_TRANSFORMS];
	size_t n = offered_ids(w, KT_IKE_XF_INTEG, ids, KT_IKE_MAX_TRANSFORMS);
	if (encr != KT_ENCR_NONE && kt_proposal_encr_is_aead(encr)) {
		*out = KT_INTEG_NONE;
		return count_type(w, KT_IKE_XF_INTEG) == 0 || in_list(ids, n, KT_INTEG_NONE);
	}
	for (size_t i = 0; i < n; i++)
		if (ids[i] != KT_INTEG_NONE && in_list(ours->integ, ours->n_integ, ids[i])) {
			*out = ids[i];
			return true;
		}
	return false;
}

static bool pick_encr_integ(const struct kt_ike_proposal *w, const struct kt_proposal *ours,
			    struct kt_ike_choice *c)
{
	if (w->proto == KT_IKE_PROTO_AH) {
		c->encr = KT_ENCR_NONE;
		c->encr_bits = 0;
		return count_type(w, KT_IKE_XF_ENCR) == 0 && pick_integ(w, ours, KT_ENCR_NONE, &c->integ);
	}
	for (size_t i = 0; i < w->n_xf; i++) {
		const struct kt_ike_transform *x = &w->xf[i];
		if (x->type != KT_IKE_XF_ENCR || x->unknown_attr || !ours_has_encr(ours, x->id, x->key_bits))
			continue;
		if (pick_integ(w, ours, x->id, &c->integ)) {
			c->encr = x->id;
			c->encr_bits = x->key_bits;
			return true;
		}
	}
	return false;
}

static bool pick_first(const struct kt_ike_proposal *w, uint8_t type, const uint16_t *ours,
		       size_t n_ours, uint16_t prefer, bool use_prefer, uint16_t *out)
{
	uint16_t ids[KT_IKE_MAX_TRANSFORMS];
	size_t n = offered_ids(w, type, ids, KT_IKE_MAX_TRANSFORMS);
	if (use_prefer && in_list(ids, n, prefer) && in_list(ours, n_ours, prefer)) {
		*out = prefer;
		return true;
	}
	for (size_t i = 0; i < n; i++)
		if (in_list(ours, n_ours, ids[i])) {
			*out = ids[i];
			return true;
		}
	return false;
}

/* Key exchange by mode. With PFS an absent transform means "none" on
 * either side (RFC 7296 §3.3.2: NONE may be proposed to make PFS optional). */
static bool pick_dh(const struct kt_ike_proposal *w, const struct kt_proposal *ours, int mode,
		    uint16_t ke_group, uint16_t *out)
{
	*out = 0;
	if (mode == NEGO_DH_IGNORE)
		return true;
	if (mode == NEGO_DH_REQUIRED) {
		uint16_t g = 0;
		if (!pick_first(w, KT_IKE_XF_DH, ours->dh, ours->n_dh, ke_group, ke_group != 0, &g) || g == 0)
			return false;
		*out = g;
		return true;
	}
	static const uint16_t none[1] = { KT_PROPOSAL_DH_NONE };
	const uint16_t *mine = ours->n_dh ? ours->dh : none;
	size_t n_mine = ours->n_dh ? ours->n_dh : 1;
	if (count_type(w, KT_IKE_XF_DH) == 0)
		return in_list(mine, n_mine, KT_PROPOSAL_DH_NONE);
	return pick_first(w, KT_IKE_XF_DH, mine, n_mine, ke_group, true, out);
}

static bool pick_esn(const struct kt_ike_proposal *w, const struct kt_proposal *ours, uint8_t *out)
{
	static const uint16_t no[1] = { KT_IKE_ESN_NO };
	uint16_t mine[2];
	size_t n_mine = ours->n_esn;
	for (size_t i = 0; i < n_mine; i++)
		mine[i] = ours->esn[i];
	uint16_t got = KT_IKE_ESN_NO;
	bool ok = count_type(w, KT_IKE_XF_ESN) == 0
			  ? in_list(n_mine ? mine : no, n_mine ? n_mine : 1, KT_IKE_ESN_NO)
			  : pick_first(w, KT_IKE_XF_ESN, n_mine ? mine : no, n_mine ? n_mine : 1, 0, false, &got);
	*out = (uint8_t)got;
	return ok;
}

static bool match_one(const struct kt_ike_proposal *w, const struct kt_proposal *ours, int mode,
		      uint16_t ke_group, struct kt_ike_choice *c)
{
	memset(c, 0, sizeof(*c));
	if (w->proto != ours->proto || !types_known(w) || !pick_encr_integ(w, ours, c))
		return false;
	if (w->proto == KT_IKE_PROTO_IKE) {
		if (!pick_first(w, KT_IKE_XF_PRF, ours->prf, ours->n_prf, 0, false, &c->prf))
			return false;
	} else if (count_type(w, KT_IKE_XF_PRF) || !pick_esn(w, ours, &c->esn)) {
		return false;
	}
	if (!pick_dh(w, ours, mode, ke_group, &c->dh))
		return false;
	c->num = w->num;
	c->proto = w->proto;
	c->spi = w->spi;
	return true;
}

int kt_ike_nego_select(const struct kt_ike_proposals *offered, const struct kt_proposal *ours,
		       size_t n_ours, uint8_t proto, int dh_mode, uint16_t ke_group,
		       struct kt_ike_choice *out)
{
	for (size_t i = 0; i < offered->n; i++) {
		if (offered->prop[i].proto != proto)
			continue;
		for (size_t j = 0; j < n_ours; j++)
			if (match_one(&offered->prop[i], &ours[j], dh_mode, ke_group, out))
				return 0;
	}
	return KT_ERR_NOT_FOUND;
}

/* A chosen proposal carries one transform of each type it uses (§3.3.6). */
static bool single_each(const struct kt_ike_proposal *w)
{
	for (uint8_t t = KT_IKE_XF_ENCR; t <= KT_IKE_XF_ESN; t++)
		if (count_type(w, t) > 1)
			return false;
	return true;
}

int kt_ike_nego_check(const struct kt_ike_proposals *resp, const struct kt_proposal *ours,
		      size_t n_ours, uint8_t proto, int dh_mode, uint16_t ke_group,
		      struct kt_ike_choice *out)
{
	if (resp->n != 1)
		return KT_ERR_IKE_SYNTAX;
	const struct kt_ike_proposal *w = &resp->prop[0];
	if (w->num == 0 || w->num > n_ours || w->proto != proto || !single_each(w))
		return KT_ERR_NOT_FOUND;
	if (dh_mode == NEGO_DH_IGNORE) {
		for (size_t i = 0; i < w->n_xf; i++)
			if (w->xf[i].type == KT_IKE_XF_DH && w->xf[i].id != KT_PROPOSAL_DH_NONE)
				return KT_ERR_NOT_FOUND;
	}
	if (!match_one(w, &ours[w->num - 1], dh_mode, ke_group, out))
		return KT_ERR_NOT_FOUND;
	return 0;
}

bool kt_ike_nego_has_dh(const struct kt_proposal *list, size_t n, uint16_t group)
{
	for (size_t i = 0; i < n; i++)
		if (in_list(list[i].dh, list[i].n_dh, group))
			return true;
	return false;
}

uint16_t kt_ike_nego_first_dh(const struct kt_proposal *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < list[i].n_dh; j++)
			if (list[i].dh[j] != KT_PROPOSAL_DH_NONE)
				return list[i].dh[j];
	return 0;
}

/* ---- Text ---- */

static void from_wire(const struct kt_ike_proposal *w, struct kt_proposal *p)
{
	memset(p, 0, sizeof(*p));
	p->proto = w->proto;
	for (size_t i = 0; i < w->n_xf; i++) {
		const struct kt_ike_transform *x = &w->xf[i];
		switch (x->type) {
		case KT_IKE_XF_ENCR:
			if (p->n_encr < KT_PROPOSAL_MAX_ALGS)
				p->encr[p->n_encr++] = (struct kt_proposal_encr){ x->id, x->key_bits };
			break;
		case KT_IKE_XF_INTEG:
			if (p->n_integ < KT_PROPOSAL_MAX_ALGS && x->id != KT_INTEG_NONE)
				p->integ[p->n_integ++] = x->id;
			break;
		case KT_IKE_XF_PRF:
			if (p->n_prf < KT_PROPOSAL_MAX_ALGS)
				p->prf[p->n_prf++] = x->id;
			break;
		case KT_IKE_XF_DH:
			if (p->n_dh < KT_PROPOSAL_MAX_ALGS)
				p->dh[p->n_dh++] = x->id;
			break;
		case KT_IKE_XF_ESN:
			if (p->n_esn < 2)
				p->esn[p->n_esn++] = (uint8_t)x->id;
			break;
		default:
			break;
		}
	}
}

void kt_ike_nego_format_wire(const struct kt_ike_proposals *w, char *buf, size_t len)
{
	struct kt_proposal list[KT_IKE_MAX_PROPOSALS];
	size_t n = w->n < KT_IKE_MAX_PROPOSALS ? w->n : KT_IKE_MAX_PROPOSALS;
	for (size_t i = 0; i < n; i++)
		from_wire(&w->prop[i], &list[i]);
	kt_ike_nego_format_list(list, n, buf, len);
}

void kt_ike_nego_format_list(const struct kt_proposal *list, size_t n, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (n == 0) {
		snprintf(buf, len, "(none)");
		return;
	}
	/* A truncated list stays NUL-terminated: good enough for a log line. */
	(void)kt_proposal_format_list(list, n, buf, len);
}

void kt_ike_nego_display(const struct kt_ike_choice *c, char *buf, size_t len)
{
	struct kt_proposal p;
	memset(&p, 0, sizeof(p));
	p.proto = c->proto;
	if (c->proto != KT_IKE_PROTO_AH)
		p.encr[p.n_encr++] = (struct kt_proposal_encr){ c->encr, c->encr_bits };
	if (c->integ)
		p.integ[p.n_integ++] = c->integ;
	if (c->proto == KT_IKE_PROTO_IKE)
		p.prf[p.n_prf++] = c->prf;
	if (c->dh)
		p.dh[p.n_dh++] = c->dh;
	if (c->proto != KT_IKE_PROTO_IKE)
		p.esn[p.n_esn++] = c->esn;
	if (len)
		(void)kt_proposal_display(&p, buf, len);
}

/* ---- Traffic selectors ---- */

size_t kt_ike_ts_resolve(const struct kt_conf_ts *c, size_t n, const struct kt_addr *dyn,
			 struct kt_ts *out, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k < cap; i++) {
		if (!c[i].dynamic) {
			out[k++] = c[i].ts;
			continue;
		}
		if (dyn->version != 4 && dyn->version != 6)
			continue;
		struct kt_ts t = c[i].ts;
		t.start = t.end = *dyn;
		out[k++] = t;
	}
	return k;
}

static bool opaque(const struct kt_ts *t)
{
	return t->port_start == KT_IKE_TS_OPAQUE_START && t->port_end == KT_IKE_TS_OPAQUE_END;
}

static bool full_ports(const struct kt_ts *t) { return t->port_start == 0 && t->port_end == PORT_MAX; }

/* Ports of the intersection; OPAQUE meets only OPAQUE or the full range. */
static bool ports_meet(const struct kt_ts *a, const struct kt_ts *b, struct kt_ts *o)
{
	if (opaque(a) || opaque(b)) {
		if (!(opaque(a) || full_ports(a)) || !(opaque(b) || full_ports(b)))
			return false;
		o->port_start = KT_IKE_TS_OPAQUE_START;
		o->port_end = KT_IKE_TS_OPAQUE_END;
		return true;
	}
	o->port_start = a->port_start > b->port_start ? a->port_start : b->port_start;
	o->port_end = a->port_end < b->port_end ? a->port_end : b->port_end;
	return o->port_start <= o->port_end;
}

static bool ts_meet(const struct kt_ts *a, const struct kt_ts *b, struct kt_ts *o)
{
	if (a->start.version != b->start.version)
		return false;
	if (a->proto != KT_TS_PROTO_ANY && b->proto != KT_TS_PROTO_ANY && a->proto != b->proto)
		return false;
	memset(o, 0, sizeof(*o));
	o->proto = a->proto != KT_TS_PROTO_ANY ? a->proto : b->proto;
	if (!ports_meet(a, b, o))
		return false;
	o->start = kt_addr_cmp(&a->start, &b->start) >= 0 ? a->start : b->start;
	o->end = kt_addr_cmp(&a->end, &b->end) <= 0 ? a->end : b->end;
	return kt_addr_cmp(&o->start, &o->end) <= 0;
}

static bool ts_same(const struct kt_ts *a, const struct kt_ts *b)
{
	return a->start.version == b->start.version && kt_addr_equal(&a->start, &b->start) &&
	       kt_addr_equal(&a->end, &b->end) && a->proto == b->proto &&
	       a->port_start == b->port_start && a->port_end == b->port_end;
}

size_t kt_ike_ts_narrow(const struct kt_ts *offered, size_t n_off, const struct kt_ts *ours,
			size_t n_ours, struct kt_ts *out, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < n_off; i++)
		for (size_t j = 0; j < n_ours && k < cap; j++) {
			struct kt_ts t;
			if (!ts_meet(&offered[i], &ours[j], &t))
				continue;
			bool dup = false;
			for (size_t d = 0; d < k && !dup; d++)
				dup = ts_same(&out[d], &t);
			if (!dup)
				out[k++] = t;
		}
	return k;
}

static bool ts_within(const struct kt_ts *a, const struct kt_ts *b)
{
	if (a->start.version != b->start.version)
		return false;
	if (b->proto != KT_TS_PROTO_ANY && a->proto != b->proto)
		return false;
	bool ports = full_ports(b) || (opaque(a) && opaque(b)) ||
		     (!opaque(a) && !opaque(b) && a->port_start >= b->port_start &&
		      a->port_end <= b->port_end);
	return ports && kt_addr_cmp(&a->start, &b->start) >= 0 && kt_addr_cmp(&a->end, &b->end) <= 0;
}

bool kt_ike_ts_subset(const struct kt_ts *got, size_t n_got, const struct kt_ts *sent,
		      size_t n_sent)
{
	if (n_got == 0)
		return false;
	for (size_t i = 0; i < n_got; i++) {
		bool in = false;
		for (size_t j = 0; j < n_sent && !in; j++)
			in = ts_within(&got[i], &sent[j]);
		if (!in)
			return false;
	}
	return true;
}

/* Prefix length if [start, end] is one CIDR block, else -1. */
static int prefix_of(const struct kt_ts *t)
{
	size_t n = t->start.version == 6 ? 16 : 4;
	int plen = -1;
	for (size_t i = 0; i < n * 8; i++) {
		unsigned bit = 0x80u >> (i % 8);
		bool s = t->start.bytes[i / 8] & bit, e = t->end.bytes[i / 8] & bit;
		if (plen < 0 && s != e)
			plen = (int)i;
		if (plen >= 0 && (s || !e))
			return -1;
	}
	return plen < 0 ? (int)(n * 8) : plen;
}

static const char *proto_name(uint8_t p)
{
	switch (p) {
	case KT_IPPROTO_TCP: return "tcp";
	case KT_IPPROTO_UDP: return "udp";
	case KT_IPPROTO_ICMP: return "icmp";
	case KT_IPPROTO_ICMPV6: return "ipv6-icmp";
	case KT_IPPROTO_SCTP: return "sctp";
	default: return NULL;
	}
}

static size_t format_one(const struct kt_ts *t, char *buf, size_t len)
{
	char a[48], b[48], pr[40] = "";
	kt_addr_format(&t->start, a, sizeof(a));
	int plen = prefix_of(t);
	int n;
	if (plen >= 0)
		n = snprintf(buf, len, "%s/%d", a, plen);
	else
		n = snprintf(buf, len, "%s..%s", a, kt_addr_format(&t->end, b, sizeof(b)));
	if (t->proto != KT_TS_PROTO_ANY || !full_ports(t)) {
		const char *pn = proto_name(t->proto);
		char num[8];
		snprintf(num, sizeof(num), "%u", t->proto);
		const char *p = t->proto == KT_TS_PROTO_ANY ? "0" : pn ? pn : num;
		bool icmp = t->proto == KT_IPPROTO_ICMP || t->proto == KT_IPPROTO_ICMPV6;
		if (opaque(t))
			snprintf(pr, sizeof(pr), "[%s/OPAQUE]", p);
		else if (icmp && t->port_start >> 8 == t->port_end >> 8 && (t->port_start & 0xff) == 0 &&
			 (t->port_end & 0xff) == 0xff) /* one ICMP type, any code (§3.13.1) */
			snprintf(pr, sizeof(pr), "[%s/%u]", p, t->port_start >> 8);
		else if (full_ports(t))
			snprintf(pr, sizeof(pr), "[%s]", p);
		else if (t->port_start == t->port_end)
			snprintf(pr, sizeof(pr), "[%s/%u]", p, t->port_start);
		else
			snprintf(pr, sizeof(pr), "[%s/%u-%u]", p, t->port_start, t->port_end);
	}
	size_t used = n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
	int m = snprintf(buf + used, len - used, "%s", pr);
	return used + (m < 0 ? 0 : (size_t)m < len - used ? (size_t)m : len - used - 1);
}

void kt_ike_ts_format(const struct kt_ts *ts, size_t n, char *buf, size_t len)
{
	if (len == 0)
		return;
	buf[0] = '\0';
	size_t used = 0;
	for (size_t i = 0; i < n && used + 1 < len; i++) {
		if (i)
			used += (size_t)snprintf(buf + used, len - used, "%s", used + 3 < len ? ", " : "");
		if (used + 1 < len)
			used += format_one(&ts[i], buf + used, len - used);
	}
}

/* ---- Identities ---- */

void kt_ike_id_ours(const struct kt_conf_id *conf, const struct kt_addr *addr,
		    struct kt_ike_id *out)
{
	memset(out, 0, sizeof(*out));
	if (conf->type) {
		out->type = conf->type;
		out->data = (struct kt_chunk){ conf->data, conf->len };
		out->addr = conf->addr;
		return;
	}
	/* No local-id and no local address in the file: the address we use. */
	out->type = addr->version == 6 ? KT_IKE_ID_IPV6_ADDR : KT_IKE_ID_IPV4_ADDR;
	out->data = (struct kt_chunk){ addr->bytes, addr->version == 6 ? 16u : 4u };
	out->addr = *addr;
}

bool kt_ike_id_checked(const struct kt_conf_id *want) { return want->type != 0 && !want->any; }

bool kt_ike_id_matches(const struct kt_conf_id *want, const struct kt_ike_id *got)
{
	if (!kt_ike_id_checked(want))
		return true;
	return want->type == got->type && want->len == got->data.len &&
	       (want->len == 0 || memcmp(want->data, got->data.p, want->len) == 0);
}

static void text_of(const struct kt_chunk *c, char *buf, size_t len)
{
	size_t k = 0;
	for (size_t i = 0; i < c->len && k + 1 < len; i++) {
		uint8_t ch = c->p[i];
		buf[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	buf[k] = '\0';
}

static void hex_of(const char *prefix, const struct kt_chunk *c, char *buf, size_t len)
{
	size_t k = (size_t)snprintf(buf, len, "%s", prefix);
	for (size_t i = 0; i < c->len && k + 3 < len; i++)
		k += (size_t)snprintf(buf + k, len - k, "%02x", c->p[i]);
}

void kt_ike_id_format(const struct kt_ike_id *id, char *buf, size_t len)
{
	if (len == 0)
		return;
	switch (id->type) {
	case KT_IKE_ID_IPV4_ADDR:
	case KT_IKE_ID_IPV6_ADDR:
		if (len >= 46)
			kt_addr_format(&id->addr, buf, len);
		else
			buf[0] = '\0';
		return;
	case KT_IKE_ID_FQDN:
	case KT_IKE_ID_RFC822_ADDR:
		text_of(&id->data, buf, len);
		return;
	case KT_IKE_ID_KEY_ID:
		hex_of("@#", &id->data, buf, len);
		return;
	case KT_IKE_ID_NULL:
		snprintf(buf, len, "%%null");
		return;
	default: {
		char pfx[24];
		snprintf(pfx, sizeof(pfx), "id%u:#", id->type);
		hex_of(pfx, &id->data, buf, len);
	}
	}
}
