/* Security Association Database: a chained hash table of SAs keyed by
 * (SPI, protocol, direction), lifetime accounting and the bounded queue of
 * lifetime/exhaustion events that the caller drains. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ip.h"
#include "core/sad.h"

#define SAD_INITIAL_BUCKETS 16 /* power of two */
#define SAD_MAX_BUCKETS ((size_t)1 << 24)
/* Events not yet drained when this many are queued overwrite the oldest. */
#define SAD_EVENT_RING 256
#define SEQ_MAX_32 UINT32_MAX /* RFC 4303 §3.3.3: the counter never cycles */
#define SEQ_MAX_ESN UINT64_MAX

struct kt_sad {
	struct kt_sa **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
	struct kt_sa_event events[SAD_EVENT_RING];
	size_t ev_head, ev_count;
	uint64_t lost_events;
};

static size_t sa_hash(uint32_t spi, uint8_t proto, uint8_t dir, size_t nbuckets)
{
	/* SPIs are chosen at random by the receiver, but a multiplicative mix
	 * keeps sequential SPIs (tests, some peers) spread out too. */
	uint64_t k = (uint64_t)spi << 16 | (uint64_t)proto << 8 | dir;
	k *= 0x9e3779b97f4a7c15ull;
	return (size_t)(k >> 32) & (nbuckets - 1);
}

struct kt_sad *kt_sad_new(void)
{
	struct kt_sad *sad = calloc(1, sizeof(*sad));
	if (!sad)
		return NULL;
	sad->buckets = calloc(SAD_INITIAL_BUCKETS, sizeof(*sad->buckets));
	if (!sad->buckets) {
		free(sad);
		return NULL;
	}
	sad->nbuckets = SAD_INITIAL_BUCKETS;
	return sad;
}

static void sa_free(struct kt_sa *sa)
{
	kt_xform_free(&sa->xf);
	if (sa->p.dir == KT_DIR_IN)
		kt_replay_free(&sa->replay);
	free(sa);
}

void kt_sad_del(struct kt_sad *sad)
{
	if (!sad)
		return;
	for (size_t i = 0; i < sad->nbuckets; i++) {
		struct kt_sa *sa = sad->buckets[i];
		while (sa) {
			struct kt_sa *next = sa->next;
			sa_free(sa);
			sa = next;
		}
	}
	free(sad->buckets);
	free(sad);
}

/* ---- events ---- */

static void push_event(struct kt_sad *sad, const struct kt_sa *sa, uint8_t type, uint8_t limit)
{
	if (sad->ev_count == SAD_EVENT_RING) {
		sad->ev_head = (sad->ev_head + 1) % SAD_EVENT_RING;
		sad->ev_count--;
		sad->lost_events++;
	}
	struct kt_sa_event *ev = &sad->events[(sad->ev_head + sad->ev_count) % SAD_EVENT_RING];
	*ev = (struct kt_sa_event){
		.type = type, .limit = limit, .spi = sa->p.spi,
		.proto = sa->p.proto, .dir = sa->p.dir, .cookie = sa->p.cookie,
	};
	sad->ev_count++;
}

bool kt_sad_next_event(struct kt_sad *sad, struct kt_sa_event *ev)
{
	if (sad->ev_count == 0)
		return false;
	*ev = sad->events[sad->ev_head];
	sad->ev_head = (sad->ev_head + 1) % SAD_EVENT_RING;
	sad->ev_count--;
	return true;
}

uint64_t kt_sad_lost_events(const struct kt_sad *sad) { return sad->lost_events; }

/* ---- table ---- */

static bool addr_ok(const struct kt_addr *a) { return a->version == 4 || a->version == 6; }

static int validate(const struct kt_sa_params *p)
{
	if (p->spi == 0) /* RFC 4303 §2.1: SPI 0 is reserved */
		return KT_ERR_INVAL;
	if (p->mode != KT_MODE_TRANSPORT && p->mode != KT_MODE_TUNNEL)
		return KT_ERR_INVAL;
	if (p->dir != KT_DIR_IN && p->dir != KT_DIR_OUT)
		return KT_ERR_INVAL;
	if (p->proto == KT_IPPROTO_ESP) {
		if (p->xf.encr == KT_ENCR_NONE)
			return KT_ERR_INVAL;
		if (p->xf.encr == KT_ENCR_NULL && p->xf.integ == KT_INTEG_NONE)
			return KT_ERR_INVAL;
	} else if (p->proto == KT_IPPROTO_AH) {
		if (p->xf.encr != KT_ENCR_NONE || p->xf.integ == KT_INTEG_NONE)
			return KT_ERR_INVAL;
	} else {
		return KT_ERR_INVAL;
	}
	/* An outbound tunnel needs both outer addresses of one family. */
	if (p->dir == KT_DIR_OUT && p->mode == KT_MODE_TUNNEL &&
	    (!addr_ok(&p->src) || p->src.version != p->dst.version))
		return KT_ERR_INVAL;
	if (p->replay_window > KT_REPLAY_WINDOW_MAX)
		return KT_ERR_INVAL;
	if (p->n_local_ts > KT_SA_MAX_TS || p->n_remote_ts > KT_SA_MAX_TS)
		return KT_ERR_INVAL;
	return 0;
}

static bool same_key(const struct kt_sa *sa, uint32_t spi, uint8_t proto, uint8_t dir)
{
	return sa->p.spi == spi && sa->p.proto == proto && sa->p.dir == dir;
}

/* Prefer an SA bound to this destination over one for any destination
 * (RFC 4301 §4.1: the longest match wins). A NULL dst matches either. */
struct kt_sa *kt_sad_lookup(const struct kt_sad *sad, uint32_t spi, uint8_t proto,
			    uint8_t dir, const struct kt_addr *dst)
{
	struct kt_sa *any = NULL;
	for (struct kt_sa *sa = sad->buckets[sa_hash(spi, proto, dir, sad->nbuckets)]; sa;
	     sa = sa->next) {
		if (!same_key(sa, spi, proto, dir))
			continue;
		if (sa->p.dst.version == 0) {
			if (!any)
				any = sa;
		} else if (!dst || kt_addr_equal(&sa->p.dst, dst)) {
			return sa;
		}
	}
	return any;
}

/* Is an SA other than `except` installed with this key and exactly this dst
 * (version 0: the "any destination" one)? */
static bool key_taken(const struct kt_sad *sad, uint32_t spi, uint8_t proto, uint8_t dir,
		      const struct kt_addr *dst, const struct kt_sa *except)
{
	for (struct kt_sa *sa = sad->buckets[sa_hash(spi, proto, dir, sad->nbuckets)]; sa;
	     sa = sa->next)
		if (sa != except && same_key(sa, spi, proto, dir) &&
		    sa->p.dst.version == dst->version &&
		    (dst->version == 0 || kt_addr_equal(&sa->p.dst, dst)))
			return true;
	return false;
}

static bool exists(const struct kt_sad *sad, const struct kt_sa_params *p)
{
	return key_taken(sad, p->spi, p->proto, p->dir, &p->dst, NULL);
}

/* Double the table when the load passes 1. On allocation failure the old
 * table stays: lookups are slower but still correct. */
static void maybe_grow(struct kt_sad *sad)
{
	if (sad->count + 1 <= sad->nbuckets || sad->nbuckets >= SAD_MAX_BUCKETS)
		return;
	size_t n = sad->nbuckets * 2;
	struct kt_sa **b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < sad->nbuckets; i++) {
		struct kt_sa *sa = sad->buckets[i];
		while (sa) {
			struct kt_sa *next = sa->next;
			size_t h = sa_hash(sa->p.spi, sa->p.proto, sa->p.dir, n);
			sa->next = b[h];
			b[h] = sa;
			sa = next;
		}
	}
	free(sad->buckets);
	sad->buckets = b;
	sad->nbuckets = n;
}

/* The link that points at sa in its chain, or NULL if sa is not in the SAD. */
static struct kt_sa **find_link(struct kt_sad *sad, const struct kt_sa *sa)
{
	struct kt_sa **pp = &sad->buckets[sa_hash(sa->p.spi, sa->p.proto, sa->p.dir, sad->nbuckets)];

	for (; *pp; pp = &(*pp)->next)
		if (*pp == sa)
			return pp;
	return NULL;
}

static void link_sa(struct kt_sad *sad, struct kt_sa *sa)
{
	size_t h = sa_hash(sa->p.spi, sa->p.proto, sa->p.dir, sad->nbuckets);

	sa->next = sad->buckets[h];
	sad->buckets[h] = sa;
}

static int sa_setup(struct kt_sa *sa, const struct kt_sa_params *p, kt_tstamp now)
{
	sa->p = *p;
	sa->p.xf.encr_key = NULL; /* keys live only inside the libcrypto contexts */
	sa->p.xf.integ_key = NULL;
	struct kt_xform_params xp = p->xf;
	xp.use = p->dir == KT_DIR_IN ? KT_XFORM_USE_OPEN : KT_XFORM_USE_SEAL;
	int err = kt_xform_init(&sa->xf, &xp);
	if (err)
		return err;
	if (p->dir == KT_DIR_IN) {
		uint32_t w = p->no_replay ? 0
			     : p->replay_window ? p->replay_window : KT_REPLAY_WINDOW_DEFAULT;
		err = kt_replay_init(&sa->replay, w, p->esn);
		if (err) {
			kt_xform_free(&sa->xf);
			return err;
		}
	}
	sa->seq = p->seq_start;
	sa->created = now;
	return 0;
}

int kt_sad_add(struct kt_sad *sad, const struct kt_sa_params *p, kt_tstamp now,
	       struct kt_sa **out)
{
	int err = validate(p);
	if (err)
		return err;
	if (exists(sad, p))
		return KT_ERR_EXISTS;
	struct kt_sa *sa = calloc(1, sizeof(*sa));
	if (!sa)
		return KT_ERR_NOMEM;
	err = sa_setup(sa, p, now);
	if (err) {
		free(sa);
		return err;
	}
	maybe_grow(sad);
	link_sa(sad, sa);
	sad->count++;
	if (out)
		*out = sa;
	return 0;
}

void kt_sad_remove(struct kt_sad *sad, struct kt_sa *sa)
{
	struct kt_sa **pp = find_link(sad, sa);

	if (!pp)
		return;
	*pp = sa->next;
	sad->count--;
	sa_free(sa);
}

/* The IP version of the SA's outer header: that of the peer's address, or
 * of ours when the peer's is unset; 0 when neither is set. */
static uint8_t outer_version(const struct kt_sa *sa)
{
	bool out = sa->p.dir == KT_DIR_OUT;
	const struct kt_addr *peer = out ? &sa->p.dst : &sa->p.src;
	const struct kt_addr *us = out ? &sa->p.src : &sa->p.dst;

	return peer->version ? peer->version : us->version;
}

int kt_sad_set_peer(struct kt_sad *sad, struct kt_sa *sa, const struct kt_addr *addr,
		    uint16_t port)
{
	uint8_t v = outer_version(sa);
	struct kt_sa **pp;

	if (!addr_ok(addr) || (v && v != addr->version) || !(pp = find_link(sad, sa)))
		return KT_ERR_INVAL;
	if (sa->p.dir == KT_DIR_IN) {
		sa->p.src = *addr;
		if (sa->p.encap)
			sa->p.encap_sport = port;
		return 0;
	}
	/* Two outbound SAs may not share (SPI, proto, dst), as in kt_sad_add. */
	if (key_taken(sad, sa->p.spi, sa->p.proto, sa->p.dir, addr, sa))
		return KT_ERR_EXISTS;
	/* dst is part of an outbound SA's key: unlink and link it again, so
	 * its place stays right whatever the hash covers. */
	*pp = sa->next;
	sa->p.dst = *addr;
	if (sa->p.encap)
		sa->p.encap_dport = port;
	link_sa(sad, sa);
	return 0;
}

size_t kt_sad_count(const struct kt_sad *sad) { return sad->count; }

/* The next pointer is read before fn runs, so fn may even remove its SA. */
void kt_sad_foreach(struct kt_sad *sad, void (*fn)(struct kt_sa *sa, void *arg), void *arg)
{
	for (size_t i = 0; i < sad->nbuckets; i++) {
		struct kt_sa *sa = sad->buckets[i];
		while (sa) {
			struct kt_sa *next = sa->next;
			fn(sa, arg);
			sa = next;
		}
	}
}

/* ---- lifetimes ---- */

static void fire_soft(struct kt_sad *sad, struct kt_sa *sa, uint8_t limit)
{
	sa->soft_fired = true;
	push_event(sad, sa, KT_SA_EV_SOFT, limit);
}

static void fire_hard(struct kt_sad *sad, struct kt_sa *sa, uint8_t limit)
{
	sa->hard_fired = true;
	push_event(sad, sa, KT_SA_EV_HARD, limit);
}

/* Which count limit (bytes first) the SA's totals have reached, or 0. */
static uint8_t count_limit(const struct kt_sa *sa, const struct kt_lifetime *lt)
{
	if (lt->bytes && sa->stats.bytes >= lt->bytes)
		return KT_LIMIT_BYTES;
	if (lt->packets && sa->stats.packets >= lt->packets)
		return KT_LIMIT_PACKETS;
	return 0;
}

int kt_sa_account(struct kt_sad *sad, struct kt_sa *sa, size_t bytes)
{
	if (sa->hard_fired)
		return KT_ERR_EXPIRED;
	sa->stats.packets++;
	sa->stats.bytes += bytes;
	uint8_t limit;
	if (!sa->soft_fired && (limit = count_limit(sa, &sa->p.soft)))
		fire_soft(sad, sa, limit);
	if ((limit = count_limit(sa, &sa->p.hard)))
		fire_hard(sad, sa, limit); /* this packet still passes */
	return 0;
}

bool kt_sa_usable(const struct kt_sa *sa) { return !sa->hard_fired && !sa->exhausted; }

int kt_sa_next_seq(struct kt_sad *sad, struct kt_sa *sa, uint64_t *seq)
{
	uint64_t max = sa->p.esn ? SEQ_MAX_ESN : SEQ_MAX_32;
	if (sa->exhausted)
		return KT_ERR_EXHAUSTED;
	if (sa->seq >= max) {
		sa->exhausted = true;
		push_event(sad, sa, KT_SA_EV_EXHAUSTED, KT_LIMIT_SEQ);
		return KT_ERR_EXHAUSTED;
	}
	*seq = ++sa->seq;
	return 0;
}

static kt_tstamp deadline(kt_tstamp created, kt_tstamp after)
{
	return after > KT_TSTAMP_NEVER - created ? KT_TSTAMP_NEVER : created + after;
}

static kt_tstamp sa_next_expiry(const struct kt_sa *sa)
{
	kt_tstamp t = KT_TSTAMP_NEVER;
	if (!sa->soft_fired && sa->p.soft.time)
		t = deadline(sa->created, sa->p.soft.time);
	if (!sa->hard_fired && sa->p.hard.time) {
		kt_tstamp h = deadline(sa->created, sa->p.hard.time);
		if (h < t)
			t = h;
	}
	return t;
}

/* A linear scan over all SAs: fine for the SA counts of a gateway today; a
 * timer heap can replace it if the scan ever shows in a profile. */
kt_tstamp kt_sad_next_expiry(const struct kt_sad *sad)
{
	kt_tstamp t = KT_TSTAMP_NEVER;
	for (size_t i = 0; i < sad->nbuckets; i++)
		for (const struct kt_sa *sa = sad->buckets[i]; sa; sa = sa->next) {
			kt_tstamp s = sa_next_expiry(sa);
			if (s < t)
				t = s;
		}
	return t;
}

void kt_sad_handle_expiry(struct kt_sad *sad, kt_tstamp now)
{
	for (size_t i = 0; i < sad->nbuckets; i++)
		for (struct kt_sa *sa = sad->buckets[i]; sa; sa = sa->next) {
			if (!sa->soft_fired && sa->p.soft.time &&
			    deadline(sa->created, sa->p.soft.time) <= now)
				fire_soft(sad, sa, KT_LIMIT_TIME);
			if (!sa->hard_fired && sa->p.hard.time &&
			    deadline(sa->created, sa->p.hard.time) <= now)
				fire_hard(sad, sa, KT_LIMIT_TIME);
		}
}
