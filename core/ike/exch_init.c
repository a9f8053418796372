/* IKE_SA_INIT (RFC 7296 §1.2) in both roles: proposals and key exchange,
 * stateless cookies under load (§2.6), INVALID_KE_PAYLOAD and its retry
 * (§1.2), NAT detection (§2.23), and the key schedule (§2.14). Replies that
 * need no SA (cookie, errors) are built here too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ike/codec.h"
#include "core/ike/ike_int.h"
#include "core/ike/natd.h"

#define VENDOR_ID "kotetsu"

/* ---- Shared ---- */

void kt_ike_reply_clear(struct kt_ike *ike, const struct ike_rx *rx, const struct kt_ike_hdr *h,
			uint16_t type, const uint8_t *data, size_t len)
{
	struct kt_ike_writer w;
	kt_ike_writer_init(&w, ike->tx, sizeof(ike->tx));
	struct kt_ike_hdr r = {
		.spi_i = h->spi_i,
		.spi_r = h->spi_r,
		.exchange = h->exchange,
		.msg_id = h->msg_id,
		.flags = (uint8_t)(KT_IKE_FLAG_R | ((h->flags & KT_IKE_FLAG_I) ? 0 : KT_IKE_FLAG_I)),
	};
	kt_ike_write_hdr(&w, &r);
	kt_ike_write_notify_simple(&w, type, data, len);
	int n = kt_ike_writer_finish(&w);
	if (n > 0)
		kt_ike_queue_dgram(ike, &rx->local, &rx->remote, ike->tx, (size_t)n);
}

static const struct kt_ike_payload *need(const struct kt_ike_msg *m, uint8_t type)
{
	return kt_ike_find(m, type, NULL);
}

/* The NAT_DETECTION pair for a message with these SPIs (RFC 7296 §2.23).
 * With nat-t = force the source hash is deliberately wrong, so that the
 * peer sees a NAT and both sides encapsulate (as strongSwan's encap). */
static void write_natd(struct kt_ike_writer *w, const struct ike_sa *sa, uint64_t spi_r, bool force)
{
	uint8_t src[KT_IKE_NATD_LEN], dst[KT_IKE_NATD_LEN];
	if (force || kt_ike_natd_hash(sa->spi_i, spi_r, &sa->local.addr, sa->local.port, src))
		kt_random(src, sizeof(src));
	if (kt_ike_natd_hash(sa->spi_i, spi_r, &sa->remote.addr, sa->remote.port, dst))
		kt_random(dst, sizeof(dst));
	kt_ike_write_notify_simple(w, KT_IKE_N_NAT_DETECTION_SOURCE_IP, src, sizeof(src));
	kt_ike_write_notify_simple(w, KT_IKE_N_NAT_DETECTION_DESTINATION_IP, dst, sizeof(dst));
}

static bool natd_match(const struct kt_ike_msg *m, uint16_t type, const uint8_t want[KT_IKE_NATD_LEN],
		       bool *seen)
{
	bool match = false;
	for (const struct kt_ike_payload *p = kt_ike_find(m, KT_IKE_PL_NOTIFY, NULL); p;
	     p = kt_ike_find(m, KT_IKE_PL_NOTIFY, p)) {
		struct kt_ike_notify n;
		if (kt_ike_parse_notify(p, &n) || n.type != type)
			continue;
		*seen = true;
		match |= n.data.len == KT_IKE_NATD_LEN && memcmp(n.data.p, want, KT_IKE_NATD_LEN) == 0;
	}
	return match;
}

/* Compare the peer's hashes with the addresses the message really used.
 * local: our address (the configured one if set: what we announced). */
static void natd_detect(struct kt_ike *ike, struct ike_sa *sa, const struct ike_rx *rx,
			const struct kt_addr *local)
{
	const struct kt_ike_hdr *h = &rx->m.hdr;
	uint8_t src[KT_IKE_NATD_LEN], dst[KT_IKE_NATD_LEN];
	bool src_seen = false, dst_seen = false;
	if (kt_ike_natd_hash(h->spi_i, h->spi_r, &rx->remote.addr, rx->remote.port, src) ||
	    kt_ike_natd_hash(h->spi_i, h->spi_r, local, rx->local.port, dst))
		return;
	bool src_ok = natd_match(&rx->m, KT_IKE_N_NAT_DETECTION_SOURCE_IP, src, &src_seen);
	bool dst_ok = natd_match(&rx->m, KT_IKE_N_NAT_DETECTION_DESTINATION_IP, dst, &dst_seen);
	sa->natd_seen = src_seen && dst_seen;
	if (!sa->natd_seen)
		return;
	sa->nat_remote = !src_ok;
	sa->nat_local = !dst_ok;
	uint8_t nat_t = sa->peer ? sa->peer->nat_t : KT_CONF_NAT_AUTO;
	bool nat = sa->nat_local || sa->nat_remote;
	sa->natt = nat_t != KT_CONF_NAT_OFF && (nat || nat_t == KT_CONF_NAT_FORCE);
	if (nat)
		kt_ike_log(ike, sa, KT_IKE_LOG_INFO, "NAT detected: %s%s%s", sa->nat_local ? "we are" : "",
			   sa->nat_local && sa->nat_remote ? " and " : "",
			   sa->nat_remote ? "the peer is behind a NAT" : " behind a NAT");
	if (nat && nat_t == KT_CONF_NAT_OFF)
		kt_ike_log(ike, sa, KT_IKE_LOG_WARN, "NAT detected but nat-t = off: ESP will not pass it");
}

/* Derive the IKE SA keys, key the SK transform, keep what the SA's life
 * needs, and drop the key pair. */
static int derive(struct kt_ike *ike, struct ike_sa *sa, const uint8_t *g_ir, size_t g_ir_len)
{
	struct ike_hs *hs = sa->hs;
	struct kt_prf *prf = kt_ike_prf(ike, sa->prf);
	int ek = kt_encr_key_len(sa->encr, sa->encr_bits);
	int ak = sa->integ ? kt_integ_key_len(sa->integ) : 0;
	if (!prf || ek < 0 || ak < 0)
		return KT_ERR_UNSUPPORTED;
	uint8_t spi_i[8], spi_r[8];
	wrn(spi_i, sa->spi_i, 8);
	wrn(spi_r, sa->spi_r, 8);
	struct kt_kdf_in in = { .g_ir = g_ir, .g_ir_len = g_ir_len, .ni = hs->ni, .ni_len = hs->ni_len,
				.nr = hs->nr, .nr_len = hs->nr_len, .spi_i = spi_i, .spi_r = spi_r,
				.encr_key_len = (size_t)ek, .integ_key_len = (size_t)ak };
	int rc = kt_ike_keys_derive(prf, &in, &hs->keys);
	if (!rc)
		rc = kt_ike_crypt_init(&sa->crypt, sa->encr, sa->encr_bits, sa->integ, &hs->keys,
				       sa->initiator, sa->peer && sa->peer->legacy);
	if (rc)
		return rc;
	sa->crypt_ready = true;
	const struct kt_ike_keys *k = &hs->keys;
	size_t total = k->prf_len + 2 * k->encr_len + 2 * k->integ_len;
	sa->keys = malloc(sizeof(*sa->keys) + total);
	if (!sa->keys)
		return KT_ERR_NOMEM;
	*sa->keys = (struct ike_keys_kept){ (uint8_t)k->prf_len, (uint8_t)k->encr_len, (uint8_t)k->integ_len };
	uint8_t *p = sa->keys->data;
	memcpy(p, k->sk_d, k->prf_len);
	memcpy(p += k->prf_len, k->sk_ei, k->encr_len);
	memcpy(p += k->encr_len, k->sk_er, k->encr_len);
	memcpy(p += k->encr_len, k->sk_ai, k->integ_len);
	memcpy(p + k->integ_len, k->sk_ar, k->integ_len);
	kt_dh_free(&hs->dh);
	return 0;
}

static void set_choice(struct ike_sa *sa, const struct kt_ike_choice *c)
{
	sa->encr = c->encr;
	sa->encr_bits = c->encr_bits;
	sa->integ = c->integ;
	sa->prf = c->prf;
	sa->dh = c->dh;
}

static int write_ke(struct kt_ike_writer *w, const struct kt_dh *dh)
{
	uint8_t pub[KT_DH_MAX_PUBLIC];
	int n = kt_dh_public(dh, pub, sizeof(pub));
	if (n < 0)
		return n;
	return kt_ike_write_ke(w, dh->group, pub, (size_t)n);
}

/* ---- Initiator ---- */

static int send_init(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	const struct kt_conf_peer *p = sa->peer;
	struct ike_hs *hs = sa->hs;
	struct kt_ike_proposal prop[KT_IKE_MAX_PROPOSALS];
	size_t n = kt_ike_nego_to_wire(p->ike, p->n_ike, true, 0, 0, prop);
	struct ike_out o;
	kt_ike_out_begin(ike, sa, &o, KT_IKE_EXCH_IKE_SA_INIT, false, 0);
	if (hs->cookie_len) /* RFC 7296 §2.6: the cookie comes first */
		kt_ike_write_notify_simple(&o.w, KT_IKE_N_COOKIE, hs->cookie, hs->cookie_len);
	kt_ike_write_sa(&o.w, prop, n);
	int rc = write_ke(&o.w, &hs->dh);
	kt_ike_write_nonce(&o.w, hs->ni, hs->ni_len);
	if (p->nat_t != KT_CONF_NAT_OFF)
		write_natd(&o.w, sa, 0, p->nat_t == KT_CONF_NAT_FORCE);
	if (ike->set.send_vendor_id)
		kt_ike_write_vid(&o.w, (const uint8_t *)VENDOR_ID, strlen(VENDOR_ID));
	int len = rc ? rc : kt_ike_out_end(ike, sa, &o);
	if (len < 0)
		return len;
	rc = kt_ike_sa_set_state(ike, sa, IKE_S_INIT_SENT);
	return rc ? rc : kt_ike_send_request(ike, sa, now, KT_IKE_EXCH_IKE_SA_INIT, (size_t)len);
}

static int new_key_pair(struct ike_sa *sa, uint16_t group)
{
	kt_dh_free(&sa->hs->dh);
	if (group <= IKE_MAX_DH_GROUP)
		sa->hs->ke_tried |= 1u << group;
	return kt_dh_init(&sa->hs->dh, group, sa->peer->legacy);
}

int kt_ike_init_start(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	struct ike_hs *hs = sa->hs;
	hs->ni_len = IKE_NONCE_LEN;
	int rc = kt_random(hs->ni, hs->ni_len);
	if (!rc)
		rc = new_key_pair(sa, kt_ike_nego_first_dh(sa->peer->ike, sa->peer->n_ike));
	if (!rc)
		rc = send_init(ike, sa, now);
	if (rc) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "cannot start IKE_SA_INIT: %s", kt_strerror(rc));
		kt_ike_sa_down(ike, sa, 0);
	}
	return rc;
}

static int init_fail(struct kt_ike *ike, struct ike_sa *sa, uint16_t reason)
{
	kt_ike_sa_down(ike, sa, reason);
	return 0;
}

static int on_cookie(struct kt_ike *ike, struct ike_sa *sa, const struct kt_ike_notify *n,
		     kt_tstamp now)
{
	struct ike_hs *hs = sa->hs;
	if (n->data.len == 0 || n->data.len > IKE_COOKIE_MAX || hs->cookies_followed >= IKE_COOKIE_FOLLOW) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "peer keeps asking for cookies, giving up");
		return init_fail(ike, sa, KT_IKE_N_COOKIE);
	}
	memcpy(hs->cookie, n->data.p, n->data.len);
	hs->cookie_len = n->data.len;
	hs->cookies_followed++;
	kt_ike_log(ike, sa, KT_IKE_LOG_DEBUG, "peer asked for a cookie, sending IKE_SA_INIT again");
	kt_ike_timer_response_received(ike, sa);
	return send_init(ike, sa, now);
}

static int on_invalid_ke(struct kt_ike *ike, struct ike_sa *sa, const struct kt_ike_notify *n,
			 kt_tstamp now)
{
	const struct kt_conf_peer *p = sa->peer;
	uint16_t g = n->data.len == 2 ? rd16(n->data.p) : 0;
	bool tried = g <= IKE_MAX_DH_GROUP && (sa->hs->ke_tried & (1u << g));
	if (!kt_ike_nego_has_dh(p->ike, p->n_ike, g) || tried || g == 0) {
		char ours[IKE_PROP_TEXT];
		kt_ike_nego_format_list(p->ike, p->n_ike, ours, sizeof(ours));
		const char *name = kt_dh_name(g);
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "peer wants key exchange %s%s, we %s: %s",
			   name ? name : "?", tried ? " again" : "", tried ? "sent it already" : "offer", ours);
		return init_fail(ike, sa, KT_IKE_N_INVALID_KE_PAYLOAD);
	}
	kt_ike_log(ike, sa, KT_IKE_LOG_INFO, "peer prefers key exchange %s, retrying with it", kt_dh_name(g));
	int rc = new_key_pair(sa, g);
	kt_ike_timer_response_received(ike, sa);
	if (!rc)
		rc = send_init(ike, sa, now);
	if (rc)
		return init_fail(ike, sa, 0);
	return 0;
}

static int on_error(struct kt_ike *ike, struct ike_sa *sa, const struct kt_ike_notify *n)
{
	if (n->type == KT_IKE_N_NO_PROPOSAL_CHOSEN) {
		char ours[IKE_PROP_TEXT];
		kt_ike_nego_format_list(sa->peer->ike, sa->peer->n_ike, ours, sizeof(ours));
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "peer accepts none of our IKE proposals: %s", ours);
	} else {
		const char *name = kt_ike_notify_name(n->type);
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "peer refused IKE_SA_INIT: %s",
			   name ? name : "unknown error");
	}
	return init_fail(ike, sa, n->type);
}

struct init_payloads {
	struct kt_ike_proposals sa;
	struct kt_ike_ke ke;
	struct kt_chunk nonce;
};

static int parse_init(const struct kt_ike_msg *m, struct init_payloads *p)
{
	const struct kt_ike_payload *sa = need(m, KT_IKE_PL_SA), *ke = need(m, KT_IKE_PL_KE),
				    *no = need(m, KT_IKE_PL_NONCE);
	if (!sa || !ke || !no)
		return KT_ERR_IKE_SYNTAX;
	int rc = kt_ike_parse_sa(sa, &p->sa);
	if (!rc)
		rc = kt_ike_parse_ke(ke, &p->ke);
	if (!rc)
		rc = kt_ike_parse_nonce(no, &p->nonce);
	return rc;
}

/* The responder's choice must be one of ours, with the group we sent. */
static int accept_response(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx,
			   const struct init_payloads *p)
{
	const struct kt_conf_peer *peer = sa->peer;
	struct kt_ike_choice c;
	uint16_t g = sa->hs->dh.group;
	if (kt_ike_nego_check(&p->sa, peer->ike, peer->n_ike, KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, g, &c) ||
	    c.dh != g || p->ke.group != g) {
		char got[IKE_PROP_TEXT];
		kt_ike_nego_format_wire(&p->sa, got, sizeof(got));
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "peer chose %s (key exchange %u), which we did not "
			   "offer", got, p->ke.group);
		return KT_ERR_IKE_SYNTAX;
	}
	if (rx->m.hdr.spi_r == 0 || p->nonce.len > KT_NONCE_MAX_LEN)
		return KT_ERR_IKE_SYNTAX;
	set_choice(sa, &c);
	sa->spi_r = rx->m.hdr.spi_r;
	memcpy(sa->hs->nr, p->nonce.p, p->nonce.len);
	sa->hs->nr_len = p->nonce.len;
	return 0;
}

static int finish_init(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx,
		       const struct init_payloads *p)
{
	uint8_t g_ir[KT_DH_MAX_SECRET];
	int n = kt_dh_derive(&sa->hs->dh, p->ke.data.p, p->ke.data.len, g_ir, sizeof(g_ir));
	if (n < 0) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "peer's key exchange value is unacceptable (%s)",
			   kt_strerror(n));
		return n;
	}
	int rc = derive(ike, sa, g_ir, (size_t)n);
	kt_dh_secret_wipe(g_ir, sizeof(g_ir));
	if (rc) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "cannot derive IKE SA keys: %s", kt_strerror(rc));
		return rc;
	}
	sa->hs->init_resp = kt_ike_msgbuf(rx->buf, rx->len);
	sa->hs->init_req = sa->req.msg; /* AUTH signs the request as sent */
	sa->req.msg = NULL;
	return sa->hs->init_resp ? 0 : KT_ERR_NOMEM;
}

int kt_ike_init_response(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx)
{
	if (sa->state != IKE_S_INIT_SENT)
		return KT_ERR_INVAL;
	struct kt_ike_notify n;
	if (kt_ike_find_notify(&rx->m, KT_IKE_N_COOKIE, &n))
		return on_cookie(ike, sa, &n, rx->now);
	if (kt_ike_find_notify(&rx->m, KT_IKE_N_INVALID_KE_PAYLOAD, &n))
		return on_invalid_ke(ike, sa, &n, rx->now);
	if (kt_ike_find_error(&rx->m, &n))
		return on_error(ike, sa, &n);
	struct init_payloads p;
	if (parse_init(&rx->m, &p) || accept_response(ike, sa, rx, &p)) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "invalid IKE_SA_INIT response");
		return init_fail(ike, sa, KT_IKE_N_INVALID_SYNTAX);
	}
	if (sa->local.addr.version == 0) /* learnt from the route the answer took */
		sa->local.addr = rx->local.addr;
	natd_detect(ike, sa, rx, &sa->local.addr);
	kt_ike_timer_response_received(ike, sa);
	if (finish_init(ike, sa, rx, &p))
		return init_fail(ike, sa, 0);
	kt_ike_sa_clear_req(sa);
	if (sa->natt) { /* RFC 7296 §2.23: move to port 4500 from IKE_AUTH on */
		sa->local.port = KT_IKE_NATT_PORT;
		sa->remote.port = KT_IKE_NATT_PORT;
	}
	return kt_ike_auth_start(ike, sa, rx->now);
}

/* ---- Responder ---- */

static int resend_init(struct kt_ike *ike, struct ike_sa *sa, const struct ike_rx *rx)
{
	if (sa->state != IKE_S_HALF_OPEN || !sa->hs || !sa->hs->init_resp) {
		ike->stats.dropped_state++;
		return KT_ERR_INVAL;
	}
	kt_ike_queue_dgram(ike, &rx->local, &rx->remote, sa->hs->init_resp->data, sa->hs->init_resp->len);
	ike->stats.retransmits++;
	return 0;
}

static bool cookie_ok(const struct kt_ike *ike, const struct ike_rx *rx, const struct kt_chunk *ni)
{
	struct kt_ike_notify n;
	const struct kt_ike_msg *m = &rx->m;
	if (m->n_pl == 0 || m->pl[0].type != KT_IKE_PL_NOTIFY || kt_ike_parse_notify(&m->pl[0], &n) ||
	    n.type != KT_IKE_N_COOKIE)
		return false;
	return kt_ike_cookie_check(&ike->cookies, n.data.p, n.data.len, ni->p, ni->len,
				   &rx->remote.addr, m->hdr.spi_i);
}

/* Returns true when the request may go on (else a cookie was sent or it was dropped). */
static bool admit(struct kt_ike *ike, const struct ike_rx *rx, const struct kt_chunk *ni)
{
	bool busy = ike->half_open >= ike->set.cookie_threshold ||
		    kt_ike_half_open_from(ike, &rx->remote.addr) >= ike->set.cookie_threshold_per_src;
	if (busy && !cookie_ok(ike, rx, ni)) {
		uint8_t cookie[KT_IKE_COOKIE_LEN];
		if (kt_ike_cookie_make(&ike->cookies, ni->p, ni->len, &rx->remote.addr, rx->m.hdr.spi_i, cookie))
			return false;
		kt_ike_reply_clear(ike, rx, &rx->m.hdr, KT_IKE_N_COOKIE, cookie, sizeof(cookie));
		ike->stats.cookies_sent++;
		return false;
	}
	if (ike->half_open >= ike->set.half_open_max) {
		ike->stats.half_open_refused++;
		return false;
	}
	return true;
}

/* The first candidate peer that accepts one of the offered proposals. */
static const struct kt_conf_peer *choose(struct kt_ike *ike, const struct ike_rx *rx,
					 const struct init_payloads *p, struct kt_ike_choice *c)
{
	const struct kt_conf_peer *cand[KT_CONF_MAX_PEERS];
	size_t n = kt_ike_candidates(ike, &rx->remote.addr, cand, KT_CONF_MAX_PEERS);
	for (size_t i = 0; i < n; i++)
		if (cand[i]->auth == KT_CONF_AUTH_PSK &&
		    kt_ike_nego_select(&p->sa, cand[i]->ike, cand[i]->n_ike, KT_IKE_PROTO_IKE,
				       NEGO_DH_REQUIRED, p->ke.group, c) == 0)
			return cand[i];
	char addr[48], got[IKE_PROP_TEXT], ours[IKE_PROP_TEXT];
	kt_addr_format(&rx->remote.addr, addr, sizeof(addr));
	kt_ike_nego_format_wire(&p->sa, got, sizeof(got));
	if (!n) {
		kt_ike_logp(ike, "", 0, KT_IKE_LOG_WARN, "%s: no peer configured for this address "
			    "(it offered %s)", addr, got);
		return NULL;
	}
	kt_ike_nego_format_list(cand[0]->ike, cand[0]->n_ike, ours, sizeof(ours));
	kt_ike_logp(ike, cand[0]->name, 0, KT_IKE_LOG_WARN, "peer %s from %s: no proposal chosen: "
		    "peer offered %s, we accept %s", cand[0]->name, addr, got, ours);
	return NULL;
}

/* A fresh responder SA, reachable by its SPI and by (SPIi, address). */
static struct ike_sa *open_sa(struct kt_ike *ike, const struct ike_rx *rx,
			      const struct kt_conf_peer *peer, const struct kt_ike_choice *c,
			      const struct init_payloads *p)
{
	struct ike_sa *sa = kt_ike_sa_new(ike, peer, false, rx->now);
	if (!sa)
		return NULL;
	sa->spi_i = rx->m.hdr.spi_i;
	sa->local = rx->local;
	sa->remote = rx->remote;
	set_choice(sa, c);
	struct ike_hs *hs = sa->hs;
	memcpy(hs->ni, p->nonce.p, p->nonce.len);
	hs->ni_len = p->nonce.len;
	hs->nr_len = IKE_NONCE_LEN;
	if (kt_ike_sa_alloc_spi(ike, sa) || kt_ike_sa_link_ispi(ike, sa) || kt_random(hs->nr, hs->nr_len) ||
	    kt_ike_sa_set_state(ike, sa, IKE_S_HALF_OPEN)) {
		kt_ike_sa_down(ike, sa, 0);
		return NULL;
	}
	kt_ike_sa_count_half_open(ike, sa);
	kt_ike_timer_half_open(ike, sa, rx->now);
	sa->exp_req_id = 1;
	return sa;
}

static int answer_init(struct kt_ike *ike, struct ike_sa *sa, const struct ike_rx *rx,
		       const struct kt_ike_choice *c)
{
	struct kt_ike_proposal prop;
	struct kt_ike_choice mine = *c;
	mine.spi = 0;
	kt_ike_nego_choice_wire(&mine, 0, &prop);
	struct ike_out o;
	kt_ike_out_begin(ike, sa, &o, KT_IKE_EXCH_IKE_SA_INIT, true, 0);
	kt_ike_write_sa(&o.w, &prop, 1);
	int rc = write_ke(&o.w, &sa->hs->dh);
	kt_ike_write_nonce(&o.w, sa->hs->nr, sa->hs->nr_len);
	if (sa->natd_seen && sa->peer->nat_t != KT_CONF_NAT_OFF)
		write_natd(&o.w, sa, sa->spi_r, sa->peer->nat_t == KT_CONF_NAT_FORCE);
	if (ike->set.send_vendor_id)
		kt_ike_write_vid(&o.w, (const uint8_t *)VENDOR_ID, strlen(VENDOR_ID));
	int len = rc ? rc : kt_ike_out_end(ike, sa, &o);
	if (len < 0)
		return len;
	sa->hs->init_req = kt_ike_msgbuf(rx->buf, rx->len);
	sa->hs->init_resp = kt_ike_msgbuf(ike->tx, (size_t)len);
	if (!sa->hs->init_req || !sa->hs->init_resp)
		return KT_ERR_NOMEM;
	kt_ike_queue_dgram(ike, &rx->local, &rx->remote, ike->tx, (size_t)len);
	return 0;
}

/* Our key pair and g^ir; a value RFC 6989 refuses is answered with
 * INVALID_SYNTAX in clear, with no state kept (as strongSwan does), so
 * that a broken peer learns why instead of retransmitting. */
static int agree(struct kt_ike *ike, const struct ike_rx *rx, const struct kt_conf_peer *peer,
		 const struct init_payloads *p, struct kt_dh *dh, uint8_t *g_ir, size_t cap)
{
	int rc = kt_dh_init(dh, p->ke.group, peer->legacy);
	int n = rc ? rc : kt_dh_derive(dh, p->ke.data.p, p->ke.data.len, g_ir, cap);
	if (n >= 0)
		return n;
	char addr[48];
	kt_ike_logp(ike, peer->name, 0, KT_IKE_LOG_WARN, "peer %s from %s: unacceptable %s key "
		    "exchange value (%s)", peer->name, kt_addr_format(&rx->remote.addr, addr, sizeof(addr)),
		   kt_dh_name(p->ke.group) ? kt_dh_name(p->ke.group) : "?", kt_strerror(n));
	kt_dh_free(dh);
	if (n == KT_ERR_MALFORMED || n == KT_ERR_INVAL)
		kt_ike_reply_clear(ike, rx, &rx->m.hdr, KT_IKE_N_INVALID_SYNTAX, NULL, 0);
	return n;
}

static int respond(struct kt_ike *ike, const struct ike_rx *rx, const struct kt_conf_peer *peer,
		   const struct kt_ike_choice *c, const struct init_payloads *p)
{
	uint8_t g_ir[KT_DH_MAX_SECRET];
	struct kt_dh dh = { 0 };
	int n = agree(ike, rx, peer, p, &dh, g_ir, sizeof(g_ir));
	if (n < 0)
		return n;
	struct ike_sa *sa = open_sa(ike, rx, peer, c, p);
	if (!sa) {
		kt_dh_free(&dh);
		kt_dh_secret_wipe(g_ir, sizeof(g_ir));
		return KT_ERR_NOMEM;
	}
	sa->hs->dh = dh;
	natd_detect(ike, sa, rx, &rx->local.addr);
	int rc = answer_init(ike, sa, rx, c);
	if (!rc)
		rc = derive(ike, sa, g_ir, (size_t)n);
	kt_dh_secret_wipe(g_ir, sizeof(g_ir));
	if (rc) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "cannot answer IKE_SA_INIT: %s", kt_strerror(rc));
		kt_ike_sa_down(ike, sa, 0);
	}
	return rc;
}

int kt_ike_init_request(struct kt_ike *ike, struct ike_rx *rx)
{
	const struct kt_ike_hdr *h = &rx->m.hdr;
	struct ike_sa *old = kt_ike_sa_by_ispi(ike, h->spi_i, &rx->remote.addr);
	if (old)
		return resend_init(ike, old, rx);
	struct init_payloads p;
	if (h->msg_id != 0 || parse_init(&rx->m, &p)) {
		kt_ike_reply_clear(ike, rx, h, KT_IKE_N_INVALID_SYNTAX, NULL, 0);
		ike->stats.dropped_malformed++;
		return KT_ERR_IKE_SYNTAX;
	}
	if (!admit(ike, rx, &p.nonce))
		return 0;
	struct kt_ike_choice c;
	const struct kt_conf_peer *peer = choose(ike, rx, &p, &c);
	if (!peer) {
		kt_ike_reply_clear(ike, rx, h, KT_IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0);
		return 0;
	}
	if (c.dh != p.ke.group) {
		uint8_t g[2];
		wr16(g, c.dh);
		kt_ike_logp(ike, peer->name, 0, KT_IKE_LOG_INFO, "peer %s sent key exchange %s, asking "
			    "for %s", peer->name, kt_dh_name(p.ke.group) ? kt_dh_name(p.ke.group) : "?", kt_dh_name(c.dh));
		kt_ike_reply_clear(ike, rx, h, KT_IKE_N_INVALID_KE_PAYLOAD, g, sizeof(g));
		return 0;
	}
	return respond(ike, rx, peer, &c, &p);
}
