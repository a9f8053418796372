/* Security Policy Database: rules kept in an array sorted by priority, with
 * each rule's selectors precompiled into 128-bit integer ranges so the
 * per-packet lookup is a linear scan of cheap comparisons. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/spd.h"

#define SPD_INITIAL_CAP 8
#define SPD_PORT_MAX 0xffff

/* One selector as the lookup reads it: addresses as two big-endian 64-bit
 * words (IPv4 in the top 32 bits of the first), so order is integer order. */
struct sel {
	uint64_t start[2], end[2];
	uint16_t port_start, port_end;
	uint8_t proto;
	bool any_port;
};

/* The compiled selectors are derived from rule.local/remote at add time;
 * callers of kt_spd_get may change the SA pointers and cookie only. */
struct entry {
	uint8_t version;
	struct sel local, remote;
	struct kt_spd_rule rule;
};

struct kt_spd {
	struct entry *v; /* sorted by rule.priority, ties in insertion order */
	size_t n, cap;
	uint32_t next_id;
};

/* One end of the packet, in the same form as struct sel. */
struct end {
	uint64_t addr[2];
	uint16_t port;
	bool has_port;
};

static uint64_t load_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void addr_words(const struct kt_addr *a, uint64_t w[2])
{
	if (a->version == 6) {
		w[0] = load_be(a->bytes, 8);
		w[1] = load_be(a->bytes + 8, 8);
	} else {
		w[0] = load_be(a->bytes, 4) << 32;
		w[1] = 0;
	}
}

static bool words_le(const uint64_t a[2], const uint64_t b[2])
{
	return a[0] < b[0] || (a[0] == b[0] && a[1] <= b[1]);
}

static void compile_sel(struct sel *s, const struct kt_ts *ts)
{
	addr_words(&ts->start, s->start);
	addr_words(&ts->end, s->end);
	s->port_start = ts->port_start;
	s->port_end = ts->port_end;
	s->proto = ts->proto;
	s->any_port = ts->port_start == 0 && ts->port_end == SPD_PORT_MAX;
}

/* Same rules as kt_ts_match, on the compiled form; cheap fields first. */
static bool sel_match(const struct sel *s, uint8_t proto, const struct end *e)
{
	if (s->proto != KT_TS_PROTO_ANY && s->proto != proto)
		return false;
	if (!s->any_port && (!e->has_port || e->port < s->port_start || e->port > s->port_end))
		return false;
	return words_le(s->start, e->addr) && words_le(e->addr, s->end);
}

static bool ts_valid(const struct kt_ts *ts)
{
	return (ts->start.version == 4 || ts->start.version == 6) &&
	       ts->end.version == ts->start.version && kt_addr_cmp(&ts->start, &ts->end) <= 0 &&
	       ts->port_start <= ts->port_end;
}

static bool rule_valid(const struct kt_spd_rule *r)
{
	if (r->action != KT_ACT_DISCARD && r->action != KT_ACT_BYPASS && r->action != KT_ACT_PROTECT)
		return false;
	return ts_valid(&r->local) && ts_valid(&r->remote) &&
	       r->local.start.version == r->remote.start.version;
}

struct kt_spd *kt_spd_new(void)
{
	struct kt_spd *spd = calloc(1, sizeof(*spd));
	if (spd)
		spd->next_id = 1;
	return spd;
}

void kt_spd_del(struct kt_spd *spd)
{
	if (!spd)
		return;
	free(spd->v);
	free(spd);
}

static int grow(struct kt_spd *spd)
{
	if (spd->n < spd->cap)
		return 0;
	size_t cap = spd->cap ? spd->cap * 2 : SPD_INITIAL_CAP;
	if (cap > SIZE_MAX / sizeof(struct entry))
		return KT_ERR_NOMEM;
	struct entry *v = realloc(spd->v, cap * sizeof(*v));
	if (!v)
		return KT_ERR_NOMEM;
	spd->v = v;
	spd->cap = cap;
	return 0;
}

int kt_spd_add(struct kt_spd *spd, const struct kt_spd_rule *rule, uint32_t *id)
{
	if (!rule_valid(rule))
		return KT_ERR_INVAL;
	if (grow(spd) < 0)
		return KT_ERR_NOMEM;

	/* After every rule of equal priority: equal priorities keep insertion order. */
	size_t pos = spd->n;
	while (pos > 0 && spd->v[pos - 1].rule.priority > rule->priority)
		pos--;
	memmove(&spd->v[pos + 1], &spd->v[pos], (spd->n - pos) * sizeof(spd->v[0]));
	spd->n++;

	struct entry *e = &spd->v[pos];
	e->rule = *rule;
	e->rule.id = spd->next_id++;
	if (spd->next_id == 0) /* 0 is never an id */
		spd->next_id = 1;
	e->version = rule->local.start.version;
	compile_sel(&e->local, &rule->local);
	compile_sel(&e->remote, &rule->remote);
	if (id)
		*id = e->rule.id;
	return 0;
}

static struct entry *find(const struct kt_spd *spd, uint32_t id)
{
	for (size_t i = 0; i < spd->n; i++)
		if (spd->v[i].rule.id == id)
			return &spd->v[i];
	return NULL;
}

int kt_spd_remove(struct kt_spd *spd, uint32_t id)
{
	struct entry *e = find(spd, id);
	if (!e)
		return KT_ERR_NOT_FOUND;
	size_t pos = (size_t)(e - spd->v);
	memmove(e, e + 1, (spd->n - pos - 1) * sizeof(*e));
	spd->n--;
	return 0;
}

struct kt_spd_rule *kt_spd_get(struct kt_spd *spd, uint32_t id)
{
	struct entry *e = find(spd, id);
	return e ? &e->rule : NULL;
}

void kt_spd_forget_sa(struct kt_spd *spd, const struct kt_sa *sa)
{
	for (size_t i = 0; i < spd->n; i++) {
		struct kt_spd_rule *r = &spd->v[i].rule;
		if (r->esp == sa)
			r->esp = NULL;
		if (r->ah == sa)
			r->ah = NULL;
	}
}

size_t kt_spd_count(const struct kt_spd *spd) { return spd->n; }

static void make_end(struct end *e, const struct kt_ts_point *pt)
{
	addr_words(pt->addr, e->addr);
	e->has_port = pt->has_port;
	e->port = pt->port;
}

const struct kt_spd_rule *kt_spd_lookup(const struct kt_spd *spd, const struct kt_ip_info *ip,
					bool outbound)
{
	struct kt_ts_point lp, rp;
	struct end le, re;
	kt_ts_points(ip, outbound, &lp, &rp);
	make_end(&le, &lp);
	make_end(&re, &rp);
	for (size_t i = 0; i < spd->n; i++) {
		const struct entry *e = &spd->v[i];
		if (e->version == ip->version && sel_match(&e->local, ip->proto, &le) &&
		    sel_match(&e->remote, ip->proto, &re))
			return &e->rule;
	}
	return NULL;
}
