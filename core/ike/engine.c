/* The IKEv2 engine object: creation and reload, the hash tables of SAs,
 * the initiate and terminate commands, dispatch of each received message
 * to the exchange that handles it, and the queues of datagrams and events
 * the caller drains, log lines included. Status views are in status.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/err.h"
#include "core/ike/ike_int.h"

#define HTAB_INITIAL 64

/* ---- Hash table ---- */

int kt_ike_htab_init(struct kt_ike_htab *t)
{
	t->b = calloc(HTAB_INITIAL, sizeof(*t->b));
	t->mask = HTAB_INITIAL - 1;
	t->n = 0;
	return t->b ? 0 : KT_ERR_NOMEM;
}

void kt_ike_htab_free(struct kt_ike_htab *t)
{
	free(t->b);
	t->b = NULL;
}

/* Keys are our random SPIs or keyed hashes: the low bits are spread already. */
static size_t slot(const struct kt_ike_htab *t, uint64_t key) { return (size_t)(key ^ key >> 32) & t->mask; }

static void grow(struct kt_ike_htab *t)
{
	size_t cap = (t->mask + 1) * 2;
	struct kt_ike_hnode **b = calloc(cap, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	struct kt_ike_htab nt = { .b = b, .mask = cap - 1, .n = t->n };
	for (size_t i = 0; i <= t->mask; i++)
		for (struct kt_ike_hnode *n = t->b[i], *next; n; n = next) {
			next = n->next;
			size_t s = slot(&nt, n->key);
			n->next = b[s];
			b[s] = n;
		}
	free(t->b);
	*t = nt;
}

int kt_ike_htab_add(struct kt_ike_htab *t, struct kt_ike_hnode *n, uint64_t key)
{
	if (t->n > t->mask)
		grow(t);
	n->key = key;
	size_t s = slot(t, key);
	n->next = t->b[s];
	t->b[s] = n;
	t->n++;
	return 0;
}

void kt_ike_htab_del(struct kt_ike_htab *t, struct kt_ike_hnode *n)
{
	for (struct kt_ike_hnode **pp = &t->b[slot(t, n->key)]; *pp; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			t->n--;
			return;
		}
}

struct kt_ike_hnode *kt_ike_htab_find(const struct kt_ike_htab *t, uint64_t key)
{
	struct kt_ike_hnode *n = t->b[slot(t, key)];
	while (n && n->key != key)
		n = n->next;
	return n;
}

struct kt_ike_hnode *kt_ike_htab_next(const struct kt_ike_hnode *n, uint64_t key)
{
	for (n = n->next; n && n->key != key; n = n->next)
		;
	return (struct kt_ike_hnode *)n;
}

/* A keyed mix of a peer-chosen value (SPIi, source address), so that a
 * flood cannot aim at one chain. Not cryptographic: the key is random and
 * chains are short; the half-open cap bounds the rest. */
static uint64_t mix(uint64_t x, uint64_t key)
{
	x ^= key;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ x >> 33;
}

uint64_t kt_ike_hash_addr(const struct kt_ike *ike, const struct kt_addr *a, uint64_t extra)
{
	uint64_t h = mix(extra ^ a->version, ike->hash_key);
	for (size_t i = 0; i < 16; i += 8) {
		uint64_t w;
		memcpy(&w, a->bytes + i, 8);
		h = mix(h ^ w, ike->hash_key + i + 1);
	}
	return h;
}

/* ---- Creation ---- */

static void defaults(struct kt_ike_settings *s)
{
	if (!s->retransmit_base)
		s->retransmit_base = KT_IKE_RETRANSMIT_BASE;
	if (!s->retransmit_factor_pct)
		s->retransmit_factor_pct = KT_IKE_RETRANSMIT_FACTOR_PCT;
	if (!s->retransmit_tries)
		s->retransmit_tries = KT_IKE_RETRANSMIT_TRIES;
	if (!s->retransmit_jitter_pct)
		s->retransmit_jitter_pct = KT_IKE_RETRANSMIT_JITTER_PCT;
	if (s->retransmit_jitter_pct > 100)
		s->retransmit_jitter_pct = 100;
	if (!s->half_open_timeout)
		s->half_open_timeout = KT_IKE_HALF_OPEN_TIMEOUT;
	if (!s->cookie_threshold)
		s->cookie_threshold = KT_IKE_COOKIE_THRESHOLD;
	if (!s->cookie_threshold_per_src)
		s->cookie_threshold_per_src = KT_IKE_COOKIE_THRESHOLD_PER_SRC;
	if (!s->half_open_max)
		s->half_open_max = KT_IKE_HALF_OPEN_MAX;
}

int kt_ike_new(const struct kt_ike_settings *s, kt_tstamp now, struct kt_ike **out)
{
	if (!s || !s->conf || !out)
		return KT_ERR_INVAL;
	struct kt_ike *ike = calloc(1, sizeof(*ike));
	if (!ike)
		return KT_ERR_NOMEM;
	ike->set = *s;
	defaults(&ike->set);
	ike->conf = s->conf;
	ike->log_level = s->conf->daemon.log_level;
	ike->out_tail = &ike->out_head;
	ike->ev_tail = &ike->ev_head;
	ike->next_id = 1;
	int rc = kt_ike_htab_init(&ike->by_spi);
	if (!rc)
		rc = kt_ike_htab_init(&ike->by_ispi);
	if (!rc)
		rc = kt_ike_htab_init(&ike->child_spis);
	if (!rc)
		rc = kt_ike_htab_init(&ike->src_counts);
	if (!rc)
		rc = kt_random((uint8_t *)&ike->hash_key, sizeof(ike->hash_key));
	if (!rc)
		rc = kt_ike_cookie_init(&ike->cookies, now);
	if (!rc)
		rc = kt_ike_timers_init(ike, now);
	if (rc) {
		kt_ike_del(ike);
		return rc;
	}
	*out = ike;
	return 0;
}

void kt_ike_del(struct kt_ike *ike)
{
	if (!ike)
		return;
	ike->closing = true; /* no events, nothing sent: the engine is going away */
	while (ike->sas)
		kt_ike_sa_down(ike, ike->sas, 0);
	kt_ike_reap(ike);
	while (ike->out_head) {
		struct ike_dgram_node *n = ike->out_head;
		ike->out_head = n->next;
		free(n);
	}
	while (ike->ev_head) {
		struct ike_ev_node *n = ike->ev_head;
		ike->ev_head = n->next;
		OPENSSL_cleanse(n->ev, n->size);
		free(n);
	}
	for (size_t i = 0; i < IKE_N_PRF; i++)
		kt_prf_free(&ike->prf[i]);
	kt_ike_cookie_wipe(&ike->cookies);
	kt_ike_timers_free(ike);
	/* src_counts nodes are freed with their SAs' half-open counts. */
	kt_ike_htab_free(&ike->by_spi);
	kt_ike_htab_free(&ike->by_ispi);
	kt_ike_htab_free(&ike->child_spis);
	kt_ike_htab_free(&ike->src_counts);
	/* Decrypted requests and our own plaintext passed through these. */
	OPENSSL_cleanse(ike->rx, ike->rx_used);
	OPENSSL_cleanse(ike->tx, sizeof(ike->tx));
	free(ike);
}

struct kt_prf *kt_ike_prf(struct kt_ike *ike, uint16_t id)
{
	static const uint16_t ids[IKE_N_PRF] = { KT_PRF_HMAC_SHA1, KT_PRF_HMAC_SHA2_256,
						 KT_PRF_HMAC_SHA2_384, KT_PRF_HMAC_SHA2_512 };
	for (size_t i = 0; i < IKE_N_PRF; i++) {
		if (ids[i] != id)
			continue;
		if (!ike->prf[i].ctx && kt_prf_init(&ike->prf[i], id, true))
			return NULL;
		return &ike->prf[i];
	}
	return NULL;
}

/* ---- Reload ---- */

static const struct kt_conf_child *find_child(const struct kt_conf_peer *p, const char *name)
{
	for (size_t i = 0; p && i < p->n_children; i++)
		if (strcmp(p->children[i]->name, name) == 0)
			return p->children[i];
	return NULL;
}

static void remap_sa(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	sa->peer = kt_conf_peer(ike->conf, sa->peer_name);
	bool up = sa->state == IKE_S_ESTABLISHED || sa->state == IKE_S_DELETING;
	if (!sa->peer && !up) {
		kt_ike_log(ike, sa, KT_IKE_LOG_INFO, "removed from the configuration, aborting");
		kt_ike_sa_down(ike, sa, 0);
		return;
	}
	for (struct ike_child *c = sa->children; c; c = c->next) {
		c->conf = find_child(sa->peer, c->name);
		if (c->conf)
			continue;
		if (c->state == CHILD_S_PENDING)
			kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
		else if (c->state == CHILD_S_INSTALLED)
			c->delete_pending = true;
	}
	if (!sa->peer)
		sa->delete_pending = true;
	kt_ike_timer_keepalive(ike, sa, now); /* its interval may have changed */
	kt_ike_sa_kick(ike, sa, now);
}

int kt_ike_set_conf(struct kt_ike *ike, kt_tstamp now, const struct kt_conf *conf)
{
	if (!ike || !conf)
		return KT_ERR_INVAL;
	ike->conf = conf;
	ike->log_level = conf->daemon.log_level;
	for (struct ike_sa *sa = ike->sas, *next; sa; sa = next) {
		next = sa->next;
		remap_sa(ike, sa, now);
	}
	kt_ike_reap(ike);
	return 0;
}

size_t kt_ike_candidates(const struct kt_ike *ike, const struct kt_addr *addr,
			 const struct kt_conf_peer **out, size_t cap)
{
	size_t n = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < ike->conf->n_peers && n < cap; i++) {
			const struct kt_conf_peer *p = ike->conf->peers[i];
			bool exact = p->remote_kind == KT_CONF_REMOTE_ADDR && kt_addr_equal(&p->remote, addr);
			bool wild = p->remote_kind != KT_CONF_REMOTE_ADDR;
			if (pass == 0 ? exact : wild)
				out[n++] = p;
		}
	return n;
}

/* ---- Commands ---- */

static struct ike_sa *live_sa_of(struct kt_ike *ike, const struct kt_conf_peer *p)
{
	for (struct ike_sa *sa = ike->sas; sa; sa = sa->next)
		if (sa->peer == p && !sa->delete_pending && sa->state != IKE_S_DELETING &&
		    sa->state != IKE_S_HALF_OPEN)
			return sa;
	return NULL;
}

static bool has_child(const struct ike_sa *sa, const char *name)
{
	for (const struct ike_child *c = sa->children; c; c = c->next)
		if (strcmp(c->name, name) == 0 && !c->delete_pending)
			return true;
	return false;
}

static int want_children(struct kt_ike *ike, struct ike_sa *sa, const struct kt_conf_peer *p,
			 const struct kt_conf_child *only)
{
	for (size_t i = 0; i < p->n_children; i++) {
		const struct kt_conf_child *cc = p->children[i];
		if ((only && cc != only) || has_child(sa, cc->name))
			continue;
		struct ike_child *c = kt_ike_child_new(ike, sa, cc);
		if (!c || kt_ike_child_set_state(ike, c, CHILD_S_PENDING))
			return KT_ERR_NOMEM;
	}
	return 0;
}

static struct ike_sa *start_sa(struct kt_ike *ike, kt_tstamp now, const struct kt_conf_peer *p,
			       const struct kt_ike_endpoint *remote)
{
	struct ike_sa *sa = kt_ike_sa_new(ike, p, true, now);
	if (!sa)
		return NULL;
	sa->local = (struct kt_ike_endpoint){ .addr = p->local, .port = KT_IKE_PORT };
	sa->remote = remote ? *remote : (struct kt_ike_endpoint){ .addr = p->remote, .port = KT_IKE_PORT };
	if (!sa->remote.port)
		sa->remote.port = KT_IKE_PORT;
	if (kt_ike_sa_alloc_spi(ike, sa)) {
		kt_ike_sa_down(ike, sa, 0);
		return NULL;
	}
	return sa;
}

int kt_ike_initiate(struct kt_ike *ike, kt_tstamp now, const char *peer, const char *child,
		    const struct kt_ike_endpoint *remote)
{
	const struct kt_conf_peer *p = peer ? kt_conf_peer(ike->conf, peer) : NULL;
	const struct kt_conf_child *cc = p && child ? kt_conf_child(ike->conf, peer, child) : NULL;
	if (!p || (child && !cc))
		return KT_ERR_NOT_FOUND;
	if (p->remote_kind == KT_CONF_REMOTE_ANY || (p->remote_kind == KT_CONF_REMOTE_DNS && !remote))
		return KT_ERR_INVAL;
	struct ike_sa *sa = live_sa_of(ike, p);
	bool fresh = !sa;
	if (fresh && !(sa = start_sa(ike, now, p, remote)))
		return KT_ERR_NOMEM;
	int rc = want_children(ike, sa, p, cc);
	if (!rc && fresh) {
		kt_ike_log(ike, sa, KT_IKE_LOG_INFO, "initiating IKE SA");
		rc = kt_ike_init_start(ike, sa, now);
	} else if (!rc) {
		kt_ike_sa_kick(ike, sa, now);
	}
	kt_ike_reap(ike);
	return rc;
}

static bool end_child(struct kt_ike *ike, struct ike_sa *sa, const char *child)
{
	bool found = false;
	for (struct ike_child *c = sa->children, *next; c; c = next) {
		next = c->next;
		if (strcmp(c->name, child))
			continue;
		found = true;
		if (c->state == CHILD_S_PENDING)
			kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
		else if (c->state == CHILD_S_INSTALLED || c->state == CHILD_S_CREATING)
			c->delete_pending = true; /* a child still being created goes once it is up */
	}
	return found;
}

static void end_sa(struct kt_ike *ike, struct ike_sa *sa)
{
	if (sa->state == IKE_S_ESTABLISHED) {
		sa->delete_pending = true;
	} else if (sa->state != IKE_S_DELETING) {
		kt_ike_log(ike, sa, KT_IKE_LOG_INFO, "aborting the IKE SA being set up");
		kt_ike_sa_down(ike, sa, 0);
	}
}

int kt_ike_terminate(struct kt_ike *ike, kt_tstamp now, const char *peer, const char *child)
{
	bool found = false;
	for (struct ike_sa *sa = ike->sas, *next; sa && peer; sa = next) {
		next = sa->next;
		if (strcmp(sa->peer_name, peer))
			continue;
		if (child) {
			found |= end_child(ike, sa, child);
		} else {
			found = true;
			end_sa(ike, sa);
		}
		if (sa->state != IKE_S_DEAD)
			kt_ike_sa_kick(ike, sa, now);
	}
	kt_ike_reap(ike);
	return found ? 0 : KT_ERR_NOT_FOUND;
}

/* ---- Output queue ---- */

static bool queue(struct kt_ike *ike, const struct kt_ike_endpoint *local,
		  const struct kt_ike_endpoint *remote, const uint8_t *data, size_t len, bool marker)
{
	struct ike_dgram_node *n = malloc(sizeof(*n) + len);
	if (!n)
		return false; /* as a lost datagram: retransmission recovers */
	n->next = NULL;
	n->d = (struct kt_ike_dgram){ .local = *local, .remote = *remote, .len = len, .marker = marker };
	memcpy(n->data, data, len);
	*ike->out_tail = n;
	ike->out_tail = &n->next;
	return true;
}

void kt_ike_queue_dgram(struct kt_ike *ike, const struct kt_ike_endpoint *local,
			const struct kt_ike_endpoint *remote, const uint8_t *data, size_t len)
{
	if (queue(ike, local, remote, data, len, local->port == KT_IKE_NATT_PORT))
		ike->stats.tx++;
}

void kt_ike_queue_plain(struct kt_ike *ike, const struct kt_ike_endpoint *local,
			const struct kt_ike_endpoint *remote, const uint8_t *data, size_t len)
{
	queue(ike, local, remote, data, len, false);
}

int kt_ike_next_dgram(struct kt_ike *ike, struct kt_ike_dgram *d, uint8_t *buf, size_t cap)
{
	struct ike_dgram_node *n = ike->out_head;
	if (!n)
		return 0;
	if (n->d.len > cap)
		return KT_ERR_NOSPACE;
	*d = n->d;
	memcpy(buf, n->data, n->d.len);
	ike->out_head = n->next;
	if (!ike->out_head)
		ike->out_tail = &ike->out_head;
	free(n);
	return (int)d->len;
}

/* ---- Events ---- */

void kt_ike_emit(struct kt_ike *ike, const struct kt_ike_event *ev, size_t size)
{
	if (ike->closing)
		return;
	struct ike_ev_node *n = malloc(sizeof(*n) + size);
	if (!n)
		return;
	n->next = NULL;
	n->size = size;
	memcpy(n->ev, ev, size);
	*ike->ev_tail = n;
	ike->ev_tail = &n->next;
}

static void ev_head(struct kt_ike_event *ev, const struct ike_sa *sa, uint8_t type)
{
	memset(ev, 0, offsetof(struct kt_ike_event, child_sa));
	ev->type = type;
	if (sa) {
		snprintf(ev->peer, sizeof(ev->peer), "%s", sa->peer_name);
		ev->ike_id = sa->id;
	}
}

static void vlog(struct kt_ike *ike, const char *peer, uint64_t id, bool prefix, uint8_t level,
		 const char *fmt, va_list ap)
{
	if (level > ike->log_level || ike->closing)
		return;
	struct kt_ike_event ev;
	memset(&ev, 0, offsetof(struct kt_ike_event, child_sa));
	ev.type = KT_IKE_EV_LOG;
	ev.level = level;
	ev.ike_id = id;
	snprintf(ev.peer, sizeof(ev.peer), "%s", peer);
	int n = 0;
	if (prefix && peer[0])
		n = snprintf(ev.text, sizeof(ev.text), "peer %s: ", peer);
	if (n < 0 || (size_t)n >= sizeof(ev.text))
		n = 0;
	vsnprintf(ev.text + n, sizeof(ev.text) - (size_t)n, fmt, ap);
	kt_ike_emit(ike, &ev, offsetof(struct kt_ike_event, child_sa));
}

void kt_ike_log(struct kt_ike *ike, const struct ike_sa *sa, uint8_t level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(ike, sa ? sa->peer_name : "", sa ? sa->id : 0, true, level, fmt, ap);
	va_end(ap);
}

void kt_ike_logp(struct kt_ike *ike, const char *peer, uint64_t id, uint8_t level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(ike, peer, id, false, level, fmt, ap);
	va_end(ap);
}

void kt_ike_emit_ike(struct kt_ike *ike, const struct ike_sa *sa, uint8_t type, uint16_t reason)
{
	struct kt_ike_event ev;
	ev_head(&ev, sa, type);
	ev.reason = reason;
	const char *why = reason ? kt_ike_notify_name(reason) : NULL;
	snprintf(ev.text, sizeof(ev.text), "IKE SA %s%s%s", type == KT_IKE_EV_IKE_UP ? "up" : "down",
		 why ? ": " : "", why ? why : "");
	kt_ike_emit(ike, &ev, offsetof(struct kt_ike_event, child_sa));
}

bool kt_ike_next_event(struct kt_ike *ike, struct kt_ike_event *ev)
{
	struct ike_ev_node *n = ike->ev_head;
	if (!n)
		return false;
	memcpy(ev, n->ev, n->size);
	if (n->size < sizeof(*ev))
		memset((uint8_t *)ev + n->size, 0, sizeof(*ev) - n->size);
	/* Key pointers must point into the caller's copy, not the node. */
	for (size_t i = 0; i < ev->child_sa.n_sa && i < KT_IKE_CHILD_MAX_SA; i++) {
		struct kt_xform_params *x = &ev->child_sa.sa[i].xf;
		if (x->encr_key)
			x->encr_key = ev->child_sa.keys[i][0];
		if (x->integ_key)
			x->integ_key = ev->child_sa.keys[i][1];
	}
	ike->ev_head = n->next;
	if (!ike->ev_head)
		ike->ev_tail = &ike->ev_head;
	OPENSSL_cleanse(n->ev, n->size);
	free(n);
	return true;
}

void kt_ike_event_wipe(struct kt_ike_event *ev)
{
	if (!ev)
		return;
	OPENSSL_cleanse(ev->child_sa.keys, sizeof(ev->child_sa.keys));
	for (size_t i = 0; i < KT_IKE_CHILD_MAX_SA; i++) {
		ev->child_sa.sa[i].xf.encr_key = NULL;
		ev->child_sa.sa[i].xf.integ_key = NULL;
	}
}

/* ---- Dispatch ---- */

static int drop(uint64_t *counter, int rc)
{
	(*counter)++;
	return rc;
}

static bool is_response(const struct kt_ike_hdr *h) { return h->flags & KT_IKE_FLAG_R; }

/* Does the header fit the SA: the sender's role is the other one, and both
 * SPIs agree (the responder's is not known before IKE_SA_INIT's answer). */
static bool hdr_fits(const struct ike_sa *sa, const struct kt_ike_hdr *h)
{
	bool from_initiator = h->flags & KT_IKE_FLAG_I;
	if (from_initiator == sa->initiator)
		return false;
	if (sa->state == IKE_S_INIT_SENT)
		return h->spi_i == sa->spi_i;
	return h->spi_i == sa->spi_i && h->spi_r == sa->spi_r;
}

/* Requests the state does not allow are dropped before any decryption. */
static bool request_allowed(const struct ike_sa *sa, uint8_t exchange)
{
	switch (sa->state) {
	case IKE_S_HALF_OPEN:
		return exchange == KT_IKE_EXCH_IKE_AUTH;
	case IKE_S_ESTABLISHED:
	case IKE_S_DELETING:
		return exchange == KT_IKE_EXCH_CREATE_CHILD_SA || exchange == KT_IKE_EXCH_INFORMATIONAL;
	default:
		return false;
	}
}

static int resend_response(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx)
{
	/* Only an authentic copy of the last request earns the resend. */
	rx->resent = true;
	int rc = kt_ike_open(ike, sa, rx);
	if (rc == KT_ERR_AUTH)
		return drop(&ike->stats.dropped_auth, rc);
	kt_ike_queue_dgram(ike, &rx->local, &rx->remote, sa->resp->data, sa->resp->len);
	ike->stats.retransmits++;
	return 0;
}

static int on_request(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx)
{
	const struct kt_ike_hdr *h = &rx->m.hdr;
	if (h->msg_id + 1 == sa->exp_req_id && sa->resp)
		return resend_response(ike, sa, rx);
	if (h->msg_id != sa->exp_req_id || !request_allowed(sa, h->exchange))
		return drop(&ike->stats.dropped_state, KT_ERR_INVAL);
	int rc = kt_ike_open(ike, sa, rx);
	if (rc == KT_ERR_AUTH)
		return drop(&ike->stats.dropped_auth, rc);
	if (rc == KT_ERR_IKE_CRITICAL) {
		uint8_t t = rx->m.err_type;
		kt_ike_log(ike, sa, KT_IKE_LOG_WARN, "%s request with unsupported critical payload %u",
			   kt_ike_exchange_name(h->exchange), t);
		kt_ike_reply_error(ike, sa, rx, KT_IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD, &t, 1);
		return 0;
	}
	if (rc == KT_ERR_MALFORMED)
		return drop(&ike->stats.dropped_malformed, rc);
	if (rc) {
		/* Authentic but unparsable: RFC 7296 §3.10.1 INVALID_SYNTAX. */
		kt_ike_log(ike, sa, KT_IKE_LOG_WARN, "malformed %s request, answering INVALID_SYNTAX",
			   kt_ike_exchange_name(h->exchange));
		kt_ike_reply_error(ike, sa, rx, KT_IKE_N_INVALID_SYNTAX, NULL, 0);
		return 0;
	}
	switch (h->exchange) {
	case KT_IKE_EXCH_IKE_AUTH:
		return kt_ike_auth_request(ike, sa, rx);
	case KT_IKE_EXCH_CREATE_CHILD_SA:
		return kt_ike_child_request(ike, sa, rx);
	default:
		return kt_ike_info_request(ike, sa, rx);
	}
}

static int on_response(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx)
{
	const struct kt_ike_hdr *h = &rx->m.hdr;
	if (!sa->req.msg || h->msg_id != sa->req.msg_id || h->exchange != sa->req.exchange)
		return drop(&ike->stats.dropped_state, KT_ERR_INVAL);
	if (h->exchange == KT_IKE_EXCH_IKE_SA_INIT)
		return kt_ike_init_response(ike, sa, rx);
	int rc = kt_ike_open(ike, sa, rx);
	if (rc == KT_ERR_AUTH)
		return drop(&ike->stats.dropped_auth, rc);
	if (rc && rc != KT_ERR_IKE_CRITICAL) {
		kt_ike_log(ike, sa, KT_IKE_LOG_WARN, "malformed %s response (%s)",
			   kt_ike_exchange_name(h->exchange), kt_strerror(rc));
		return drop(&ike->stats.dropped_malformed, rc);
	}
	if (rc == KT_ERR_IKE_CRITICAL) {
		/* An authentic answer we cannot understand ends the exchange. */
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "%s response with unsupported critical payload %u",
			   kt_ike_exchange_name(h->exchange), rx->m.err_type);
		rx->m.n_pl = 0;
	}
	switch (h->exchange) {
	case KT_IKE_EXCH_IKE_AUTH:
		return kt_ike_auth_response(ike, sa, rx);
	case KT_IKE_EXCH_CREATE_CHILD_SA:
		return kt_ike_child_response(ike, sa, rx);
	default:
		return kt_ike_info_response(ike, sa, rx);
	}
}

static int dispatch(struct kt_ike *ike, struct ike_rx *rx)
{
	struct kt_ike_hdr h;
	int rc = kt_ike_decode_hdr(rx->buf, rx->len, &h);
	if (rc == KT_ERR_IKE_MAJOR_VERSION && !is_response(&h))
		kt_ike_reply_clear(ike, rx, &h, KT_IKE_N_INVALID_MAJOR_VERSION, NULL, 0);
	if (rc)
		return drop(&ike->stats.dropped_malformed, rc);
	rc = kt_ike_decode(rx->buf, rx->len, &rx->m);
	if (rc == KT_ERR_IKE_CRITICAL && !is_response(&h) && h.exchange == KT_IKE_EXCH_IKE_SA_INIT) {
		uint8_t t = rx->m.err_type;
		kt_ike_reply_clear(ike, rx, &h, KT_IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD, &t, 1);
	}
	if (rc)
		return drop(&ike->stats.dropped_malformed, rc);
	if (!is_response(&h) && h.exchange == KT_IKE_EXCH_IKE_SA_INIT && h.spi_r == 0)
		return kt_ike_init_request(ike, rx);
	uint64_t ours = (h.flags & KT_IKE_FLAG_I) ? h.spi_r : h.spi_i;
	struct ike_sa *sa = kt_ike_sa_by_spi(ike, ours);
	if (!sa || !hdr_fits(sa, &h))
		return drop(&ike->stats.dropped_unknown_spi, KT_ERR_NO_SA);
	return is_response(&h) ? on_response(ike, sa, rx) : on_request(ike, sa, rx);
}

int kt_ike_recv(struct kt_ike *ike, kt_tstamp now, const struct kt_ike_endpoint *local,
		const struct kt_ike_endpoint *remote, const uint8_t *msg, size_t len)
{
	if (!ike || !local || !remote || (!msg && len))
		return KT_ERR_INVAL;
	ike->stats.rx++;
	if (len > sizeof(ike->rx))
		return drop(&ike->stats.dropped_malformed, KT_ERR_MALFORMED);
	if (len)
		memcpy(ike->rx, msg, len);
	if (len > ike->rx_used)
		ike->rx_used = len;
	struct ike_rx rx = { .now = now, .local = *local, .remote = *remote, .buf = ike->rx, .len = len };
	int rc = dispatch(ike, &rx);
	kt_ike_reap(ike);
	return rc;
}
