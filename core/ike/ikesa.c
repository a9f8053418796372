/* IKE SA and CHILD_SA objects: creation, SPIs, the one function per object
 * that performs every state change (refusing those its table does not
 * list, as OpenIKED does), teardown with its events, the framing and
 * protection of our messages, and the request window (RFC 7296 §2.3:
 * one request of ours outstanding per IKE SA). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/err.h"
#include "core/ike/codec.h"
#include "core/ike/ike_int.h"

#define CHILD_SPI_MIN 256 /* RFC 4303 §2.1: 1..255 are reserved by IANA */
#define SPI_TRIES 16      /* random draws before giving up on a unique SPI */

/* ---- States ---- */

static const bool ike_allowed[IKE_S_COUNT][IKE_S_COUNT] = {
	[IKE_S_NEW] = { [IKE_S_INIT_SENT] = true, [IKE_S_HALF_OPEN] = true, [IKE_S_DEAD] = true },
	/* INIT_SENT -> INIT_SENT: resent after COOKIE or INVALID_KE_PAYLOAD. */
	[IKE_S_INIT_SENT] = { [IKE_S_INIT_SENT] = true, [IKE_S_AUTH_SENT] = true, [IKE_S_DEAD] = true },
	[IKE_S_AUTH_SENT] = { [IKE_S_ESTABLISHED] = true, [IKE_S_DEAD] = true },
	[IKE_S_HALF_OPEN] = { [IKE_S_ESTABLISHED] = true, [IKE_S_DEAD] = true },
	[IKE_S_ESTABLISHED] = { [IKE_S_DELETING] = true, [IKE_S_DEAD] = true },
	[IKE_S_DELETING] = { [IKE_S_DEAD] = true },
};

static const bool child_allowed[CHILD_S_COUNT][CHILD_S_COUNT] = {
	[CHILD_S_NEW] = { [CHILD_S_PENDING] = true, [CHILD_S_INSTALLED] = true, [CHILD_S_DEAD] = true },
	[CHILD_S_PENDING] = { [CHILD_S_CREATING] = true, [CHILD_S_DEAD] = true },
	[CHILD_S_CREATING] = { [CHILD_S_INSTALLED] = true, [CHILD_S_DEAD] = true },
	[CHILD_S_INSTALLED] = { [CHILD_S_DELETING] = true, [CHILD_S_DEAD] = true },
	[CHILD_S_DELETING] = { [CHILD_S_DEAD] = true },
};

static const char *const ike_names[IKE_S_COUNT] = {
	"new", "init-sent", "auth-sent", "half-open", "established", "deleting", "dead",
};
static const char *const child_names[CHILD_S_COUNT] = {
	"new", "pending", "creating", "installed", "deleting", "dead",
};

const char *kt_ike_sa_state_name(uint8_t s) { return s < IKE_S_COUNT ? ike_names[s] : "?"; }
const char *kt_ike_child_state_name(uint8_t s) { return s < CHILD_S_COUNT ? child_names[s] : "?"; }

/* ---- Per-source half-open counts ---- */

struct src_count {
	struct kt_ike_hnode node;
	struct kt_addr addr;
	uint32_t n;
};

static struct src_count *src_find(struct kt_ike *ike, const struct kt_addr *a)
{
	uint64_t k = kt_ike_hash_addr(ike, a, 0);
	for (struct kt_ike_hnode *n = kt_ike_htab_find(&ike->src_counts, k); n; n = kt_ike_htab_next(n, k)) {
		struct src_count *s = IKE_CONTAINER(n, struct src_count, node);
		if (kt_addr_equal(&s->addr, a))
			return s;
	}
	return NULL;
}

uint32_t kt_ike_half_open_from(struct kt_ike *ike, const struct kt_addr *a)
{
	struct src_count *s = src_find(ike, a);
	return s ? s->n : 0;
}

void kt_ike_sa_count_half_open(struct kt_ike *ike, struct ike_sa *sa)
{
	struct src_count *s = src_find(ike, &sa->remote.addr);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return;
		s->addr = sa->remote.addr;
		kt_ike_htab_add(&ike->src_counts, &s->node, kt_ike_hash_addr(ike, &s->addr, 0));
	}
	s->n++;
	ike->half_open++;
	sa->half_open_counted = true;
}

static void uncount_half_open(struct kt_ike *ike, struct ike_sa *sa)
{
	if (!sa->half_open_counted)
		return;
	sa->half_open_counted = false;
	ike->half_open--;
	struct src_count *s = src_find(ike, &sa->remote.addr);
	if (s && --s->n == 0) {
		kt_ike_htab_del(&ike->src_counts, &s->node);
		free(s);
	}
}

/* ---- Objects ---- */

struct ike_msgbuf *kt_ike_msgbuf(const uint8_t *data, size_t len)
{
	struct ike_msgbuf *m = malloc(sizeof(*m) + len);
	if (m) {
		m->len = len;
		memcpy(m->data, data, len);
	}
	return m;
}

static void msgbuf_free(struct ike_msgbuf **m)
{
	if (*m) {
		OPENSSL_cleanse((*m)->data, (*m)->len);
		free(*m);
		*m = NULL;
	}
}

int kt_ike_random_u64(uint64_t *v) { return kt_random((uint8_t *)v, sizeof(*v)); }

uint64_t kt_ike_our_spi(const struct ike_sa *sa) { return sa->initiator ? sa->spi_i : sa->spi_r; }

struct ike_sa *kt_ike_sa_new(struct kt_ike *ike, const struct kt_conf_peer *peer, bool initiator,
			     kt_tstamp now)
{
	struct ike_sa *sa = calloc(1, sizeof(*sa));
	if (!sa)
		return NULL;
	sa->hs = calloc(1, sizeof(*sa->hs));
	if (!sa->hs) {
		free(sa);
		return NULL;
	}
	sa->id = ike->next_id++;
	sa->peer = peer;
	snprintf(sa->peer_name, sizeof(sa->peer_name), "%s", peer ? peer->name : "");
	sa->initiator = initiator;
	sa->report_down = initiator;
	sa->heap_idx = SIZE_MAX;
	sa->t_retransmit = sa->t_half_open = sa->t_resp_free = sa->t_keepalive = KT_TSTAMP_NEVER;
	(void)now; /* established is set when it is */
	sa->next = ike->sas;
	if (ike->sas)
		ike->sas->prev = sa;
	ike->sas = sa;
	ike->n_sas++;
	return sa;
}

int kt_ike_sa_alloc_spi(struct kt_ike *ike, struct ike_sa *sa)
{
	for (int i = 0; i < SPI_TRIES; i++) {
		uint64_t spi;
		if (kt_ike_random_u64(&spi))
			return KT_ERR_CRYPTO;
		if (spi == 0 || kt_ike_htab_find(&ike->by_spi, spi))
			continue;
		if (sa->initiator)
			sa->spi_i = spi;
		else
			sa->spi_r = spi;
		return kt_ike_htab_add(&ike->by_spi, &sa->spi_node, spi);
	}
	return KT_ERR_EXISTS;
}

struct ike_sa *kt_ike_sa_by_spi(struct kt_ike *ike, uint64_t spi)
{
	if (spi == 0)
		return NULL;
	struct kt_ike_hnode *n = kt_ike_htab_find(&ike->by_spi, spi);
	return n ? IKE_CONTAINER(n, struct ike_sa, spi_node) : NULL;
}

int kt_ike_sa_link_ispi(struct kt_ike *ike, struct ike_sa *sa)
{
	int rc = kt_ike_htab_add(&ike->by_ispi, &sa->ispi_node,
				 kt_ike_hash_addr(ike, &sa->remote.addr, sa->spi_i));
	sa->ispi_linked = rc == 0;
	return rc;
}

struct ike_sa *kt_ike_sa_by_ispi(struct kt_ike *ike, uint64_t spi_i, const struct kt_addr *remote)
{
	uint64_t k = kt_ike_hash_addr(ike, remote, spi_i);
	for (struct kt_ike_hnode *n = kt_ike_htab_find(&ike->by_ispi, k); n; n = kt_ike_htab_next(n, k)) {
		struct ike_sa *sa = IKE_CONTAINER(n, struct ike_sa, ispi_node);
		if (sa->spi_i == spi_i && kt_addr_equal(&sa->remote.addr, remote))
			return sa;
	}
	return NULL;
}

struct ike_child *kt_ike_child_new(struct kt_ike *ike, struct ike_sa *sa,
				   const struct kt_conf_child *conf)
{
	(void)ike;
	struct ike_child *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->sa = sa;
	c->conf = conf;
	snprintf(c->name, sizeof(c->name), "%s", conf->name);
	c->mode = conf->mode;
	c->proto = conf->protocol == KT_CONF_PROTO_AH ? KT_IKE_PROTO_AH : KT_IKE_PROTO_ESP;
	struct ike_child **pp = &sa->children;
	while (*pp)
		pp = &(*pp)->next;
	*pp = c;
	return c;
}

int kt_ike_child_alloc_spi(struct kt_ike *ike, struct ike_child *c)
{
	for (int i = 0; i < SPI_TRIES; i++) {
		uint32_t spi;
		if (kt_random((uint8_t *)&spi, sizeof(spi)))
			return KT_ERR_CRYPTO;
		if (spi < CHILD_SPI_MIN || kt_ike_htab_find(&ike->child_spis, spi))
			continue;
		c->spi_in = spi;
		c->spi_linked = kt_ike_htab_add(&ike->child_spis, &c->spi_node, spi) == 0;
		return c->spi_linked ? 0 : KT_ERR_NOMEM;
	}
	return KT_ERR_EXISTS;
}

int kt_ike_child_set_ts(struct ike_child *c, const struct kt_ts *l, size_t nl, const struct kt_ts *r,
			size_t nr)
{
	struct kt_ts *ts = malloc((nl + nr) * sizeof(*ts) + 1);
	if (!ts)
		return KT_ERR_NOMEM;
	memcpy(ts, l, nl * sizeof(*ts));
	memcpy(ts + nl, r, nr * sizeof(*ts));
	free(c->ts);
	c->ts = ts;
	c->n_lts = (uint8_t)nl;
	c->n_rts = (uint8_t)nr;
	return 0;
}

void kt_ike_sa_free_hs(struct ike_sa *sa)
{
	struct ike_hs *hs = sa->hs;
	if (!hs)
		return;
	kt_dh_free(&hs->dh);
	msgbuf_free(&hs->init_req);
	msgbuf_free(&hs->init_resp);
	kt_ike_keys_wipe(&hs->keys);
	OPENSSL_cleanse(hs, sizeof(*hs));
	free(hs);
	sa->hs = NULL;
}

static void cx_free(struct ike_cx **cx)
{
	if (*cx) {
		kt_dh_free(&(*cx)->dh);
		OPENSSL_cleanse(*cx, sizeof(**cx));
		free(*cx);
		*cx = NULL;
	}
}

void kt_ike_sa_clear_req(struct ike_sa *sa)
{
	msgbuf_free(&sa->req.msg);
	cx_free(&sa->req.cx);
	sa->req = (struct ike_req){ 0 };
}

/* ---- State changes ---- */

static void child_unlink(struct kt_ike *ike, struct ike_child *c)
{
	if (c->spi_linked) {
		kt_ike_htab_del(&ike->child_spis, &c->spi_node);
		c->spi_linked = false;
	}
	struct ike_sa *sa = c->sa;
	for (struct ike_child **pp = &sa->children; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (sa->req.child == c)
		sa->req.child = NULL;
	c->next = ike->dead_children;
	ike->dead_children = c;
}

int kt_ike_child_set_state(struct kt_ike *ike, struct ike_child *c, uint8_t to)
{
	if (c->state >= CHILD_S_COUNT || to >= CHILD_S_COUNT || !child_allowed[c->state][to]) {
		kt_ike_log(ike, c->sa, KT_IKE_LOG_ERROR, "CHILD_SA %s: refused state change %s -> %s",
			   c->name, kt_ike_child_state_name(c->state), kt_ike_child_state_name(to));
		return KT_ERR_INVAL;
	}
	c->state = to;
	if (to == CHILD_S_DEAD)
		child_unlink(ike, c);
	return 0;
}

static void sa_unlink(struct kt_ike *ike, struct ike_sa *sa)
{
	uncount_half_open(ike, sa);
	if (sa->spi_node.key) /* linked once an SPI was allocated */
		kt_ike_htab_del(&ike->by_spi, &sa->spi_node);
	if (sa->ispi_linked)
		kt_ike_htab_del(&ike->by_ispi, &sa->ispi_node);
	sa->ispi_linked = false;
	kt_ike_timer_sa_gone(ike, sa);
	while (sa->children)
		kt_ike_child_set_state(ike, sa->children, CHILD_S_DEAD);
	if (sa->prev)
		sa->prev->next = sa->next;
	else
		ike->sas = sa->next;
	if (sa->next)
		sa->next->prev = sa->prev;
	sa->prev = NULL;
	sa->next = ike->dead;
	ike->dead = sa;
	ike->n_sas--;
}

int kt_ike_sa_set_state(struct kt_ike *ike, struct ike_sa *sa, uint8_t to)
{
	if (sa->state >= IKE_S_COUNT || to >= IKE_S_COUNT || !ike_allowed[sa->state][to]) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "refused IKE SA state change %s -> %s",
			   kt_ike_sa_state_name(sa->state), kt_ike_sa_state_name(to));
		return KT_ERR_INVAL;
	}
	uint8_t from = sa->state;
	sa->state = to;
	if (from == IKE_S_HALF_OPEN)
		uncount_half_open(ike, sa);
	if (to == IKE_S_ESTABLISHED)
		kt_ike_timer_established(ike, sa);
	if (to == IKE_S_DEAD)
		sa_unlink(ike, sa);
	return 0;
}

static void free_child(struct ike_child *c)
{
	free(c->ts);
	free(c);
}

static void free_sa(struct ike_sa *sa)
{
	kt_ike_sa_free_hs(sa);
	kt_ike_crypt_free(&sa->crypt);
	if (sa->keys) {
		OPENSSL_cleanse(sa->keys->data, (size_t)sa->keys->d_len + 2u * sa->keys->e_len +
						       2u * sa->keys->a_len);
		free(sa->keys);
	}
	kt_ike_sa_clear_req(sa);
	msgbuf_free(&sa->resp);
	free(sa->remote_id);
	free(sa);
}

void kt_ike_reap(struct kt_ike *ike)
{
	while (ike->dead_children) {
		struct ike_child *c = ike->dead_children;
		ike->dead_children = c->next;
		free_child(c);
	}
	while (ike->dead) {
		struct ike_sa *sa = ike->dead;
		ike->dead = sa->next;
		free_sa(sa);
	}
}

/* ---- Teardown with events ---- */

void kt_ike_child_down(struct kt_ike *ike, struct ike_child *c, uint16_t reason)
{
	if ((c->state == CHILD_S_INSTALLED || c->state == CHILD_S_DELETING) && !c->refused) {
		struct kt_ike_event *ev = calloc(1, sizeof(*ev));
		if (ev) {
			ev->type = KT_IKE_EV_CHILD_DOWN;
			snprintf(ev->peer, sizeof(ev->peer), "%s", c->sa->peer_name);
			snprintf(ev->child, sizeof(ev->child), "%s", c->name);
			ev->ike_id = c->sa->id;
			ev->reason = reason;
			ev->child_sa.spi_in = c->spi_in;
			ev->child_sa.spi_out = c->spi_out;
			ev->child_sa.protocol = c->proto == KT_IKE_PROTO_AH ? KT_CONF_PROTO_AH : KT_CONF_PROTO_ESP;
			ev->child_sa.mode = c->mode;
			ev->child_sa.encap = c->encap;
			snprintf(ev->text, sizeof(ev->text), "CHILD_SA %s down, SPIs %08x_i %08x_o", c->name,
				 c->spi_in, c->spi_out);
			kt_ike_emit(ike, ev, sizeof(*ev));
			free(ev);
		}
		kt_ike_log(ike, c->sa, KT_IKE_LOG_INFO, "CHILD_SA %s deleted, SPIs %08x_i %08x_o%s%s",
			   c->name, c->spi_in, c->spi_out, reason ? ": " : "",
			   reason ? kt_ike_notify_name(reason) : "");
	}
	if (c->state != CHILD_S_DEAD)
		kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
}

void kt_ike_sa_down(struct kt_ike *ike, struct ike_sa *sa, uint16_t reason)
{
	if (sa->state == IKE_S_DEAD)
		return;
	while (sa->children)
		kt_ike_child_down(ike, sa->children, reason);
	if (sa->report_down) {
		kt_ike_emit_ike(ike, sa, KT_IKE_EV_IKE_DOWN, reason);
		if (sa->announced)
			kt_ike_log(ike, sa, KT_IKE_LOG_INFO, "IKE SA deleted%s%s", reason ? ": " : "",
				   reason ? kt_ike_notify_name(reason) : "");
	}
	kt_ike_sa_set_state(ike, sa, IKE_S_DEAD);
}

/* ---- Our messages ---- */

void kt_ike_out_begin(struct kt_ike *ike, struct ike_sa *sa, struct ike_out *o, uint8_t exchange,
		      bool response, uint32_t msg_id)
{
	kt_ike_writer_init(&o->w, ike->tx, sizeof(ike->tx));
	struct kt_ike_hdr h = {
		.spi_i = sa->spi_i,
		.spi_r = sa->spi_r,
		.exchange = exchange,
		.msg_id = msg_id,
		.flags = (uint8_t)((sa->initiator ? KT_IKE_FLAG_I : 0) | (response ? KT_IKE_FLAG_R : 0)),
	};
	kt_ike_write_hdr(&o->w, &h);
	o->sk_open = exchange != KT_IKE_EXCH_IKE_SA_INIT && sa->crypt_ready;
	if (o->sk_open)
		kt_ike_write_sk_begin(&o->w, sa->crypt.iv_len);
}

int kt_ike_out_end(struct kt_ike *ike, struct ike_sa *sa, struct ike_out *o)
{
	if (o->sk_open)
		kt_ike_write_sk_end(&o->w, sa->crypt.block_size, sa->crypt.icv_len, &o->sk);
	int len = kt_ike_writer_finish(&o->w);
	if (len < 0) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "cannot build message: %s", kt_strerror(len));
		return len;
	}
	if (o->sk_open) {
		int rc = kt_ike_crypt_seal(&sa->crypt, ike->tx, (size_t)len, &o->sk);
		if (rc) {
			kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "cannot encrypt message: %s", kt_strerror(rc));
			return rc;
		}
	}
	return len;
}

int kt_ike_send_request(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now, uint8_t exchange,
			size_t len)
{
	struct ike_msgbuf *m = kt_ike_msgbuf(ike->tx, len);
	if (!m)
		return KT_ERR_NOMEM;
	msgbuf_free(&sa->req.msg);
	sa->req.msg = m;
	sa->req.exchange = exchange;
	sa->req.msg_id = rd32(ike->tx + IKE_HDR_MSGID_OFF);
	sa->req.tries = 0;
	sa->next_req_id = sa->req.msg_id + 1;
	kt_ike_queue_dgram(ike, &sa->local, &sa->remote, m->data, m->len);
	kt_ike_timer_request_sent(ike, sa, now);
	return 0;
}

void kt_ike_send_response(struct kt_ike *ike, struct ike_sa *sa, const struct ike_rx *rx,
			  size_t len, kt_tstamp now)
{
	msgbuf_free(&sa->resp);
	sa->resp = kt_ike_msgbuf(ike->tx, len);
	sa->exp_req_id = rx->m.hdr.msg_id + 1;
	kt_ike_queue_dgram(ike, &rx->local, &rx->remote, ike->tx, len);
	if (sa->resp)
		kt_ike_timer_response_cached(ike, sa, now);
}

void kt_ike_sa_drop_response(struct ike_sa *sa) { msgbuf_free(&sa->resp); }

void kt_ike_send_oneshot(struct kt_ike *ike, struct ike_sa *sa, size_t len)
{
	kt_ike_queue_dgram(ike, &sa->local, &sa->remote, ike->tx, len);
}

void kt_ike_sa_kick(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	if (sa->req.msg || sa->state != IKE_S_ESTABLISHED)
		return;
	if (sa->delete_pending) {
		kt_ike_info_start_delete(ike, sa, now);
		return;
	}
	for (struct ike_child *c = sa->children; c; c = c->next)
		if (c->delete_pending && c->state == CHILD_S_INSTALLED) {
			kt_ike_info_start_delete(ike, sa, now);
			return;
		}
	for (struct ike_child *c = sa->children; c; c = c->next)
		if (c->state == CHILD_S_PENDING) {
			kt_ike_child_start(ike, sa, c, now);
			return;
		}
}

/* Only the encrypted payloads count once SK is open: anything in clear
 * before it is authenticated but was not meant to be read. */
static void keep_encrypted(struct kt_ike_msg *m)
{
	size_t k = 0;
	for (size_t i = 0; i < m->n_pl; i++)
		if (m->pl[i].encrypted)
			m->pl[k++] = m->pl[i];
	m->n_pl = k;
}

int kt_ike_open(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx)
{
	if (!sa->crypt_ready)
		return KT_ERR_MALFORMED;
	struct kt_ike_sk sk;
	int rc = kt_ike_sk_locate(&rx->m, sa->crypt.iv_len, sa->crypt.icv_len, sa->crypt.block_size, &sk);
	if (rc || sk.fragment) /* we announce no fragmentation (RFC 7383) */
		return KT_ERR_MALFORMED;
	int n = kt_ike_crypt_open(&sa->crypt, rx->buf, rx->len, &sk);
	if (n == KT_ERR_AUTH)
		return KT_ERR_AUTH;
	if (n == KT_ERR_MALFORMED)
		return KT_ERR_IKE_SYNTAX; /* authentic, but its padding lies */
	if (n < 0)
		return KT_ERR_MALFORMED;
	rc = kt_ike_decode_chain(sk.next, rx->buf + sk.ct_off, (size_t)n, &rx->m);
	keep_encrypted(&rx->m);
	if (rc == KT_ERR_IKE_CRITICAL)
		return rc;
	if (rc)
		return KT_ERR_IKE_SYNTAX;
	if (rx->local.port == KT_IKE_NATT_PORT) {
		/* RFC 7296 §2.23: on port 4500 the peer's address and port may
		 * change (natt.c decides whether we follow); the responder
		 * answers from where it was reached. */
		uncount_half_open(ike, sa); /* counted by its first address: authentic now */
		if (!sa->initiator)
			sa->local = rx->local;
		kt_ike_natt_follow(ike, sa, rx);
	}
	return 0;
}

/* ---- Message lookups ---- */

const struct kt_ike_payload *kt_ike_find_notify(const struct kt_ike_msg *m, uint16_t type,
						struct kt_ike_notify *out)
{
	for (const struct kt_ike_payload *p = kt_ike_find(m, KT_IKE_PL_NOTIFY, NULL); p;
	     p = kt_ike_find(m, KT_IKE_PL_NOTIFY, p)) {
		struct kt_ike_notify n;
		if (kt_ike_parse_notify(p, &n) == 0 && n.type == type) {
			if (out)
				*out = n;
			return p;
		}
	}
	return NULL;
}

const struct kt_ike_payload *kt_ike_find_error(const struct kt_ike_msg *m, struct kt_ike_notify *out)
{
	for (const struct kt_ike_payload *p = kt_ike_find(m, KT_IKE_PL_NOTIFY, NULL); p;
	     p = kt_ike_find(m, KT_IKE_PL_NOTIFY, p)) {
		struct kt_ike_notify n;
		if (kt_ike_parse_notify(p, &n) == 0 && kt_ike_notify_is_error(n.type)) {
			if (out)
				*out = n;
			return p;
		}
	}
	return NULL;
}

int kt_ike_write_notify_simple(struct kt_ike_writer *w, uint16_t type, const uint8_t *data, size_t len)
{
	struct kt_ike_notify n = { .type = type, .data = { data, len } };
	return kt_ike_write_notify(w, &n);
}
