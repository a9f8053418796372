/* IKE_AUTH with pre-shared keys (RFC 7296 §1.2, §2.15) and the first
 * CHILD_SA riding in it: identities, AUTH made and checked with every
 * configured PSK (rotation), the peer configuration chosen by identity,
 * and the rule that a refused child leaves the IKE SA up (§1.2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ike/authpsk.h"
#include "core/ike/codec.h"
#include "core/ike/ike_int.h"

#define ID_BODY_MAX (4 + KT_CONF_MAX_ID) /* ID Type, RESERVED, data (RFC 7296 §3.5) */

/* RestOfInitIDPayload / RestOfRespIDPayload of §2.15. */
static size_t id_body(const struct kt_ike_id *id, uint8_t out[ID_BODY_MAX])
{
	size_t n = id->data.len < KT_CONF_MAX_ID ? id->data.len : KT_CONF_MAX_ID;
	out[0] = id->type;
	out[1] = out[2] = out[3] = 0;
	memcpy(out + 4, id->data.p, n);
	return 4 + n;
}

/* Signed octets of one side: the IKE_SA_INIT message it sent, the other
 * side's nonce, and its SK_p. */
struct signer {
	const struct ike_msgbuf *msg;
	const uint8_t *nonce, *sk_p;
	size_t nonce_len, sk_p_len;
};

static struct signer signer_of(const struct ike_sa *sa, bool initiator)
{
	const struct ike_hs *hs = sa->hs;
	struct signer s = { .msg = initiator ? hs->init_req : hs->init_resp,
			    .nonce = initiator ? hs->nr : hs->ni,
			    .nonce_len = initiator ? hs->nr_len : hs->ni_len,
			    .sk_p = initiator ? hs->keys.sk_pi : hs->keys.sk_pr,
			    .sk_p_len = hs->keys.prf_len };
	return s;
}

static bool psk_usable(const struct kt_conf_psk *k) { return k->kind == KT_CONF_PSK_SECRET && k->len; }

static int make_auth(struct kt_ike *ike, const struct ike_sa *sa, const struct kt_conf_psk *psk,
		     const uint8_t *body, size_t body_len, uint8_t *out)
{
	struct kt_prf *prf = kt_ike_prf(ike, sa->prf);
	struct signer s = signer_of(sa, sa->initiator);
	if (!prf || !psk_usable(psk))
		return KT_ERR_INVAL;
	return kt_ike_psk_auth(prf, psk->secret, psk->len, s.msg->data, s.msg->len, s.nonce, s.nonce_len,
			       s.sk_p, s.sk_p_len, body, body_len, out);
}

/* Which of the peer's PSKs made the other side's AUTH (-1: none). */
static int check_auth(struct kt_ike *ike, const struct ike_sa *sa, const struct kt_conf_peer *p,
		      const uint8_t *body, size_t body_len, const struct kt_ike_auth *auth)
{
	struct kt_prf *prf = kt_ike_prf(ike, sa->prf);
	struct signer s = signer_of(sa, !sa->initiator);
	if (!prf || auth->method != KT_IKE_AUTH_PSK)
		return -1;
	for (size_t i = 0; i < p->n_psk; i++)
		if (psk_usable(&p->psk[i]) &&
		    kt_ike_psk_verify(prf, p->psk[i].secret, p->psk[i].len, s.msg->data, s.msg->len, s.nonce,
				      s.nonce_len, s.sk_p, s.sk_p_len, body, body_len, auth->data.p,
				      auth->data.len) == 0)
			return (int)i;
	return -1;
}

/* IDx and AUTH of our side. */
static void write_id_auth(struct kt_ike *ike, struct ike_sa *sa, struct kt_ike_writer *w,
			  const struct kt_conf_psk *psk, int *rc)
{
	struct kt_ike_id id;
	uint8_t body[ID_BODY_MAX], auth[KT_PRF_MAX_LEN];
	kt_ike_id_ours(&sa->peer->local_id, &sa->local.addr, &id);
	kt_ike_write_id(w, sa->initiator ? KT_IKE_PL_IDI : KT_IKE_PL_IDR, &id);
	if (sa->initiator && kt_ike_id_checked(&sa->peer->remote_id)) {
		struct kt_ike_id r;
		kt_ike_id_ours(&sa->peer->remote_id, &sa->remote.addr, &r);
		kt_ike_write_id(w, KT_IKE_PL_IDR, &r);
	}
	int n = make_auth(ike, sa, psk, body, id_body(&id, body), auth);
	if (n < 0) {
		*rc = n;
		return;
	}
	kt_ike_write_auth(w, KT_IKE_AUTH_PSK, auth, (size_t)n);
}

static void keep_remote_id(struct ike_sa *sa, const struct kt_ike_id *id)
{
	char text[IKE_ID_TEXT];
	kt_ike_id_format(id, text, sizeof(text));
	free(sa->remote_id);
	sa->remote_id = strdup(text);
}

static void established(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	char lid[IKE_ID_TEXT], la[48], ra[48], prop[128];
	struct kt_ike_id id;
	kt_ike_id_ours(&sa->peer->local_id, &sa->local.addr, &id);
	kt_ike_id_format(&id, lid, sizeof(lid));
	struct kt_ike_choice c = { .proto = KT_IKE_PROTO_IKE, .encr = sa->encr, .encr_bits = sa->encr_bits,
				   .integ = sa->integ, .prf = sa->prf, .dh = sa->dh };
	kt_ike_nego_display(&c, prop, sizeof(prop));
	kt_ike_sa_set_state(ike, sa, IKE_S_ESTABLISHED);
	sa->established = now;
	kt_ike_timer_keepalive(ike, sa, now);
	sa->announced = true;
	sa->report_down = true;
	kt_ike_emit_ike(ike, sa, KT_IKE_EV_IKE_UP, 0);
	kt_ike_log(ike, sa, KT_IKE_LOG_INFO, "IKE SA established %s, %s[%u] %s <-> %s[%u] %s", prop,
		   kt_addr_format(&sa->local.addr, la, sizeof(la)), sa->local.port, lid,
		   kt_addr_format(&sa->remote.addr, ra, sizeof(ra)), sa->remote.port,
		   sa->remote_id ? sa->remote_id : "?");
}

/* ---- Initiator ---- */

static struct ike_child *first_child(struct kt_ike *ike, struct ike_sa *sa)
{
	for (struct ike_child *c = sa->children, *next; c; c = next) {
		next = c->next;
		if (c->state != CHILD_S_PENDING)
			continue;
		if (c->conf && kt_ike_child_negotiable(ike, sa, c->conf))
			return c;
		kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
	}
	return NULL;
}

static void write_child_offer(struct kt_ike *ike, struct ike_out *o, struct ike_child *c, int *rc)
{
	if (!c)
		return;
	if (c->mode == KT_MODE_TRANSPORT)
		kt_ike_write_notify_simple(&o->w, KT_IKE_N_USE_TRANSPORT_MODE, NULL, 0);
	kt_ike_child_write_offer_sa(ike, &o->w, c, false); /* no KE in IKE_AUTH (§1.2) */
	int r = kt_ike_child_write_offer_ts(ike, &o->w, c);
	if (r)
		*rc = r;
}

int kt_ike_auth_start(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	struct ike_child *c = first_child(ike, sa);
	int rc = 0;
	if (c && (rc = kt_ike_child_alloc_spi(ike, c)) == 0)
		rc = kt_ike_child_set_state(ike, c, CHILD_S_CREATING);
	struct ike_out o;
	if (!rc) {
		kt_ike_out_begin(ike, sa, &o, KT_IKE_EXCH_IKE_AUTH, false, sa->next_req_id);
		write_id_auth(ike, sa, &o.w, &sa->peer->psk[0], &rc);
		write_child_offer(ike, &o, c, &rc);
	}
	int len = rc ? rc : kt_ike_out_end(ike, sa, &o);
	if (len >= 0 && (rc = kt_ike_sa_set_state(ike, sa, IKE_S_AUTH_SENT)) == 0)
		rc = kt_ike_send_request(ike, sa, now, KT_IKE_EXCH_IKE_AUTH, (size_t)len);
	if (len < 0 || rc) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "cannot send IKE_AUTH: %s (is the psk loaded?)",
			   kt_strerror(len < 0 ? len : rc));
		kt_ike_sa_down(ike, sa, 0);
		return len < 0 ? len : rc;
	}
	sa->req.child = c;
	return 0;
}

/* After AUTH failed on our side: tell the peer (RFC 7296 §2.21.2) in an
 * INFORMATIONAL nobody waits for, then drop the SA. */
static int fail_auth(struct kt_ike *ike, struct ike_sa *sa)
{
	struct ike_out o;
	kt_ike_out_begin(ike, sa, &o, KT_IKE_EXCH_INFORMATIONAL, false, sa->next_req_id);
	kt_ike_write_notify_simple(&o.w, KT_IKE_N_AUTHENTICATION_FAILED, NULL, 0);
	int len = kt_ike_out_end(ike, sa, &o);
	if (len > 0)
		kt_ike_send_oneshot(ike, sa, (size_t)len);
	kt_ike_sa_down(ike, sa, KT_IKE_N_AUTHENTICATION_FAILED);
	return 0;
}

static int verify_responder(struct kt_ike *ike, struct ike_sa *sa, const struct ike_rx *rx)
{
	const struct kt_ike_payload *idp = kt_ike_find(&rx->m, KT_IKE_PL_IDR, NULL),
				    *ap = kt_ike_find(&rx->m, KT_IKE_PL_AUTH, NULL);
	struct kt_ike_id id;
	struct kt_ike_auth auth;
	if (!idp || !ap || kt_ike_parse_id(idp, &id) || kt_ike_parse_auth(ap, &auth)) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "IKE_AUTH response without a valid IDr and AUTH");
		kt_ike_sa_down(ike, sa, KT_IKE_N_INVALID_SYNTAX);
		return KT_ERR_IKE_SYNTAX;
	}
	char text[IKE_ID_TEXT];
	kt_ike_id_format(&id, text, sizeof(text));
	if (!kt_ike_id_matches(&sa->peer->remote_id, &id)) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "peer identity '%s' does not match remote-id %s",
			   text, sa->peer->remote_id.text);
		return fail_auth(ike, sa), KT_ERR_AUTH;
	}
	if (check_auth(ike, sa, sa->peer, idp->body, idp->len, &auth) < 0) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "authentication of '%s' failed (wrong PSK?)", text);
		return fail_auth(ike, sa), KT_ERR_AUTH;
	}
	keep_remote_id(sa, &id);
	return 0;
}

static void take_child(struct kt_ike *ike, struct ike_sa *sa, struct ike_child *c, const struct ike_rx *rx)
{
	struct kt_ike_notify n;
	if (kt_ike_find_error(&rx->m, &n)) {
		const char *name = kt_ike_notify_name(n.type);
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "CHILD_SA %s refused by peer: %s (the IKE SA stays up)",
			   c->name, name ? name : "unknown error");
		kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
		return;
	}
	struct ike_child_ask *a = malloc(sizeof(*a));
	struct ike_child_pick pick;
	if (!a || kt_ike_child_parse(&rx->m, a)) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "CHILD_SA %s: the answer carries no usable SA", c->name);
		kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
	} else if (kt_ike_child_check(ike, c, a, NEGO_DH_IGNORE, 0, &pick)) {
		kt_ike_child_refuse(ike, c, (uint32_t)a->sa.prop[0].spi);
	} else {
		struct ike_hs *hs = sa->hs;
		struct ike_child_deal d = { .c = &pick.c, .we_initiated = true, .ni = hs->ni,
					    .ni_len = hs->ni_len, .nr = hs->nr, .nr_len = hs->nr_len,
					    .lts = pick.lts, .rts = pick.rts, .n_lts = pick.n_lts,
					    .n_rts = pick.n_rts };
		if (kt_ike_child_install(ike, c, &d))
			kt_ike_child_refuse(ike, c, (uint32_t)pick.c.spi);
	}
	free(a);
}

int kt_ike_auth_response(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx)
{
	if (sa->state != IKE_S_AUTH_SENT)
		return KT_ERR_INVAL;
	struct ike_child *c = sa->req.child;
	kt_ike_sa_clear_req(sa);
	kt_ike_timer_response_received(ike, sa);
	struct kt_ike_notify n;
	if (!kt_ike_find(&rx->m, KT_IKE_PL_AUTH, NULL) && kt_ike_find_error(&rx->m, &n)) {
		const char *name = kt_ike_notify_name(n.type);
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "peer refused IKE_AUTH: %s%s",
			   name ? name : "unknown error",
			   n.type == KT_IKE_N_AUTHENTICATION_FAILED ? " (wrong PSK or identity?)" : "");
		kt_ike_sa_down(ike, sa, n.type);
		return 0;
	}
	if (verify_responder(ike, sa, rx))
		return 0;
	established(ike, sa, rx->now);
	if (c && c->state == CHILD_S_CREATING)
		take_child(ike, sa, c, rx);
	kt_ike_sa_free_hs(sa);
	kt_ike_sa_kick(ike, sa, rx->now);
	return 0;
}

/* ---- Responder ---- */

static bool ids_fit(const struct kt_conf_peer *p, const struct kt_ike_id *idi, const struct kt_ike_id *idr)
{
	if (!kt_ike_id_matches(&p->remote_id, idi))
		return false;
	/* IDr names whom the initiator wants: one of our identities. */
	return !idr || !p->local_id.type || kt_ike_id_matches(&p->local_id, idr);
}

/* The configuration for this identity: exact remote-id matches first, then
 * peers that accept any identity; each must accept the IKE proposal in use. */
static const struct kt_conf_peer *find_peer(struct kt_ike *ike, const struct ike_sa *sa,
					    const struct kt_ike_id *idi, const struct kt_ike_id *idr)
{
	const struct kt_conf_peer *cand[KT_CONF_MAX_PEERS];
	size_t n = kt_ike_candidates(ike, &sa->remote.addr, cand, KT_CONF_MAX_PEERS);
	struct kt_ike_choice now = { .num = 1, .proto = KT_IKE_PROTO_IKE, .encr = sa->encr,
				     .encr_bits = sa->encr_bits, .integ = sa->integ, .prf = sa->prf,
				     .dh = sa->dh };
	struct kt_ike_proposals used = { .n = 1 };
	kt_ike_nego_choice_wire(&now, 0, &used.prop[0]);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			const struct kt_conf_peer *p = cand[i];
			struct kt_ike_choice c;
			if (kt_ike_id_checked(&p->remote_id) != (pass == 0) || p->auth != KT_CONF_AUTH_PSK ||
			    !ids_fit(p, idi, idr) ||
			    kt_ike_nego_select(&used, p->ike, p->n_ike, KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED,
					       sa->dh, &c))
				continue;
			return p;
		}
	return NULL;
}

/* INITIAL_CONTACT (§2.4): the peer forgot its other SAs with us, so drop
 * ours with the same identity from the same address. */
static void initial_contact(struct kt_ike *ike, struct ike_sa *sa)
{
	for (struct ike_sa *o = ike->sas, *next; o; o = next) {
		next = o->next;
		if (o == sa || o->peer != sa->peer || !o->remote_id || !sa->remote_id ||
		    strcmp(o->remote_id, sa->remote_id) || !kt_addr_equal(&o->remote.addr, &sa->remote.addr) ||
		    o->state != IKE_S_ESTABLISHED)
			continue;
		kt_ike_log(ike, o, KT_IKE_LOG_INFO, "INITIAL_CONTACT from %s: deleting the old IKE SA",
			   sa->remote_id);
		kt_ike_sa_down(ike, o, 0);
	}
}

static int refuse_auth(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx, const char *id)
{
	kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "authentication of '%s' failed (wrong PSK?)", id);
	kt_ike_reply_error(ike, sa, rx, KT_IKE_N_AUTHENTICATION_FAILED, NULL, 0);
	return 0;
}

/* Identify and authenticate the initiator. Returns the PSK that worked, or
 * -1 after answering AUTHENTICATION_FAILED / INVALID_SYNTAX. */
static int authenticate(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx)
{
	const struct kt_ike_payload *ip = kt_ike_find(&rx->m, KT_IKE_PL_IDI, NULL),
				    *rp = kt_ike_find(&rx->m, KT_IKE_PL_IDR, NULL),
				    *ap = kt_ike_find(&rx->m, KT_IKE_PL_AUTH, NULL);
	struct kt_ike_id idi, idr;
	struct kt_ike_auth auth;
	if (!ip || !ap || kt_ike_parse_id(ip, &idi) || kt_ike_parse_auth(ap, &auth) ||
	    (rp && kt_ike_parse_id(rp, &idr))) {
		kt_ike_log(ike, sa, KT_IKE_LOG_WARN, "IKE_AUTH request without a valid IDi and AUTH%s",
			   kt_ike_find(&rx->m, KT_IKE_PL_EAP, NULL) ? " (EAP is not supported)" : "");
		kt_ike_reply_error(ike, sa, rx, ap || ip ? KT_IKE_N_INVALID_SYNTAX
						      : KT_IKE_N_AUTHENTICATION_FAILED, NULL, 0);
		return -1;
	}
	char text[IKE_ID_TEXT], addr[48];
	kt_ike_id_format(&idi, text, sizeof(text));
	const struct kt_conf_peer *p = find_peer(ike, sa, &idi, rp ? &idr : NULL);
	if (!p) {
		char want[IKE_ID_TEXT] = "";
		if (rp)
			kt_ike_id_format(&idr, want, sizeof(want));
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "no peer configuration matches identity '%s'%s%s%s "
			   "from %s", text, rp ? " asking for '" : "", want, rp ? "'" : "",
			   kt_addr_format(&sa->remote.addr, addr, sizeof(addr)));
		return refuse_auth(ike, sa, rx, text), -1;
	}
	sa->peer = p;
	snprintf(sa->peer_name, sizeof(sa->peer_name), "%s", p->name);
	sa->report_down = true;
	int k = check_auth(ike, sa, p, ip->body, ip->len, &auth);
	if (k < 0) {
		if (auth.method != KT_IKE_AUTH_PSK)
			kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "'%s' uses authentication method %u, we expect "
				   "a psk (2)", text, auth.method);
		return refuse_auth(ike, sa, rx, text), -1;
	}
	keep_remote_id(sa, &idi);
	return k;
}

/* The child of the request: 0 and pick filled, or the notify refusing it. */
static uint16_t ask_child(struct kt_ike *ike, struct ike_sa *sa, const struct ike_rx *rx,
			  struct ike_child_pick *pick, bool *asked)
{
	struct ike_child_ask *a = malloc(sizeof(*a));
	if (!a)
		return KT_IKE_N_TEMPORARY_FAILURE;
	int rc = kt_ike_child_parse(&rx->m, a);
	*asked = rc != KT_ERR_NOT_FOUND;
	uint16_t why = rc == KT_ERR_UNSUPPORTED ? KT_IKE_N_TS_UNACCEPTABLE
		       : rc				 ? KT_IKE_N_INVALID_SYNTAX
							 : kt_ike_child_pick(ike, sa, a, NEGO_DH_IGNORE, 0, pick);
	free(a);
	return why;
}

int kt_ike_auth_request(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx)
{
	int k = authenticate(ike, sa, rx);
	if (k < 0)
		return 0;
	if (kt_ike_find_notify(&rx->m, KT_IKE_N_INITIAL_CONTACT, NULL))
		initial_contact(ike, sa);
	struct ike_child_pick *pick = calloc(1, sizeof(*pick));
	bool asked = false;
	uint16_t why = pick ? ask_child(ike, sa, rx, pick, &asked) : KT_IKE_N_TEMPORARY_FAILURE;
	struct ike_child *c = NULL;
	if (asked && !why && (!(c = kt_ike_child_new(ike, sa, pick->conf)) || kt_ike_child_alloc_spi(ike, c)))
		why = KT_IKE_N_TEMPORARY_FAILURE;
	int rc = 0;
	struct ike_out o;
	kt_ike_out_begin(ike, sa, &o, KT_IKE_EXCH_IKE_AUTH, true, rx->m.hdr.msg_id);
	write_id_auth(ike, sa, &o.w, &sa->peer->psk[k], &rc);
	if (asked && why)
		kt_ike_write_notify_simple(&o.w, why, NULL, 0);
	else if (asked) {
		kt_ike_child_write_answer_sa(&o.w, pick, c->spi_in);
		kt_ike_child_write_answer_ts(&o.w, pick);
	}
	int len = rc ? rc : kt_ike_out_end(ike, sa, &o);
	if (len < 0) {
		free(pick);
		kt_ike_sa_down(ike, sa, 0);
		return len;
	}
	kt_ike_send_response(ike, sa, rx, (size_t)len, rx->now);
	established(ike, sa, rx->now);
	if (asked && !why) {
		struct ike_hs *hs = sa->hs;
		struct ike_child_deal d = { .c = &pick->c, .we_initiated = false, .ni = hs->ni,
					    .ni_len = hs->ni_len, .nr = hs->nr, .nr_len = hs->nr_len,
					    .lts = pick->lts, .rts = pick->rts, .n_lts = pick->n_lts,
					    .n_rts = pick->n_rts };
		if (kt_ike_child_install(ike, c, &d))
			kt_ike_child_refuse(ike, c, (uint32_t)pick->c.spi);
	} else if (c) {
		kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
	}
	free(pick);
	kt_ike_sa_free_hs(sa);
	return 0;
}
