/* CHILD_SAs: the offer and its check (initiator), the pick of config,
 * proposal and narrowed selectors (responder), keys and CHILD_UP (both),
 * shared by IKE_AUTH; and CREATE_CHILD_SA for further CHILD_SAs with an
 * optional PFS key exchange (RFC 7296 §1.3.1, §2.17). Rekeying arrives
 * later: a REKEY_SA request, or one for the IKE SA, is answered with
 * TEMPORARY_FAILURE (§2.25), which peers such as strongSwan retry later
 * instead of tearing the SA down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/err.h"
#include "core/ike/codec.h"
#include "core/ike/ike_int.h"

/* ---- Shared: parse, pick, check ---- */

int kt_ike_child_parse(const struct kt_ike_msg *m, struct ike_child_ask *a)
{
	const struct kt_ike_payload *sa = kt_ike_find(m, KT_IKE_PL_SA, NULL),
				    *tsi = kt_ike_find(m, KT_IKE_PL_TSI, NULL),
				    *tsr = kt_ike_find(m, KT_IKE_PL_TSR, NULL);
	if (!sa && !tsi && !tsr)
		return KT_ERR_NOT_FOUND;
	if (!sa || !tsi || !tsr)
		return KT_ERR_IKE_SYNTAX;
	int rc = kt_ike_parse_sa(sa, &a->sa);
	if (rc)
		return KT_ERR_IKE_SYNTAX;
	rc = kt_ike_parse_ts(tsi, &a->tsi);
	if (!rc)
		rc = kt_ike_parse_ts(tsr, &a->tsr);
	if (rc)
		return rc == KT_ERR_UNSUPPORTED ? rc : KT_ERR_IKE_SYNTAX;
	a->transport = kt_ike_find_notify(m, KT_IKE_N_USE_TRANSPORT_MODE, NULL) != NULL;
	return 0;
}

static const struct kt_proposal *child_list(const struct kt_conf_child *cc, uint8_t proto, size_t *n)
{
	*n = proto == KT_IKE_PROTO_AH ? cc->n_ah : cc->n_esp;
	return proto == KT_IKE_PROTO_AH ? cc->ah : cc->esp;
}

static uint8_t child_proto(const struct kt_conf_child *cc)
{
	return cc->protocol == KT_CONF_PROTO_AH ? KT_IKE_PROTO_AH : KT_IKE_PROTO_ESP;
}

/* Children IKEv2 cannot set up here, with the reason logged: AH+ESP
 * bundles (RFC 7296 dropped them) and AH once UDP encapsulation is on —
 * AH authenticates the IP addresses a NAT rewrites, and RFC 3948 has no
 * UDP framing for it. */
bool kt_ike_child_negotiable(struct kt_ike *ike, struct ike_sa *sa, const struct kt_conf_child *cc)
{
	if (cc->protocol == KT_CONF_PROTO_AH_ESP) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "CHILD_SA %s: ah+esp bundles cannot be "
			   "negotiated with IKEv2 (RFC 7296 dropped them): use esp or ah", cc->name);
		return false;
	}
	if (cc->protocol == KT_CONF_PROTO_AH && sa->natt) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "CHILD_SA %s: AH cannot cross NAT (it "
			   "authenticates the IP addresses the NAT rewrites): use ESP%s", cc->name,
			   sa->nat_local || sa->nat_remote ? "" : " (nat-t = force encapsulates)");
		return false;
	}
	return true;
}

static const char *mode_name(uint8_t mode) { return mode == KT_MODE_TRANSPORT ? "transport" : "tunnel"; }

/* Narrow the peer's selectors to one child config (§2.9). */
static bool narrow(const struct ike_sa *sa, const struct kt_conf_child *cc,
		   const struct kt_ike_ts_list *tsi, const struct kt_ike_ts_list *tsr,
		   struct ike_child_pick *out)
{
	struct kt_ts cl[KT_CONF_MAX_TS], cr[KT_CONF_MAX_TS];
	size_t nl = kt_ike_ts_resolve(cc->local_ts, cc->n_local_ts, &sa->local.addr, cl, KT_CONF_MAX_TS);
	size_t nr = kt_ike_ts_resolve(cc->remote_ts, cc->n_remote_ts, &sa->remote.addr, cr, KT_CONF_MAX_TS);
	out->n_rts = kt_ike_ts_narrow(tsi->ts, tsi->n, cr, nr, out->rts, KT_SA_MAX_TS);
	out->n_lts = kt_ike_ts_narrow(tsr->ts, tsr->n, cl, nl, out->lts, KT_SA_MAX_TS);
	return out->n_rts && out->n_lts;
}

static void log_no_child(struct kt_ike *ike, struct ike_sa *sa, const struct ike_child_ask *a)
{
	char ti[IKE_TS_TEXT], tr[IKE_TS_TEXT];
	kt_ike_ts_format(a->tsi.ts, a->tsi.n, ti, sizeof(ti));
	kt_ike_ts_format(a->tsr.ts, a->tsr.n, tr, sizeof(tr));
	kt_ike_log(ike, sa, KT_IKE_LOG_WARN, "no CHILD_SA configured for traffic selectors %s === %s",
		   ti, tr);
}

static void log_no_proposal(struct kt_ike *ike, struct ike_sa *sa, const struct kt_conf_child *cc,
			    const struct ike_child_ask *a)
{
	char got[IKE_PROP_TEXT], ours[IKE_PROP_TEXT];
	size_t n;
	const struct kt_proposal *list = child_list(cc, child_proto(cc), &n);
	kt_ike_nego_format_wire(&a->sa, got, sizeof(got));
	kt_ike_nego_format_list(list, n, ours, sizeof(ours));
	kt_ike_log(ike, sa, KT_IKE_LOG_WARN, "CHILD_SA %s: no proposal chosen: peer offered %s, we accept %s",
		   cc->name, got, ours);
}

uint16_t kt_ike_child_pick(struct kt_ike *ike, struct ike_sa *sa, const struct ike_child_ask *a,
			   int dh_mode, uint16_t ke_group, struct ike_child_pick *out)
{
	const struct kt_conf_peer *p = sa->peer;
	const struct kt_conf_child *near = NULL;
	bool near_mode = false;
	/* Transport mode through a NAT: narrow what our IP headers carry. */
	struct kt_ike_ts_list tsi = a->tsi, tsr = a->tsr;
	out->swap = (struct ike_ts_swap){ 0 };
	if (a->transport)
		kt_ike_natt_ts_ours(ike, sa, &tsi, &tsr, &out->swap);
	for (size_t i = 0; p && i < p->n_children; i++) {
		const struct kt_conf_child *cc = p->children[i];
		if (cc->protocol == KT_CONF_PROTO_AH_ESP || !narrow(sa, cc, &tsi, &tsr, out))
			continue;
		if ((cc->mode == KT_MODE_TRANSPORT) != a->transport) {
			if (!near)
				near = cc, near_mode = true;
			continue;
		}
		size_t n;
		const struct kt_proposal *list = child_list(cc, child_proto(cc), &n);
		if (kt_ike_nego_select(&a->sa, list, n, child_proto(cc), dh_mode, ke_group, &out->c)) {
			if (!near)
				near = cc, near_mode = false;
			continue;
		}
		if (!kt_ike_child_negotiable(ike, sa, cc))
			return KT_IKE_N_NO_PROPOSAL_CHOSEN;
		out->conf = cc;
		return 0;
	}
	if (!near) {
		log_no_child(ike, sa, a);
		return KT_IKE_N_TS_UNACCEPTABLE;
	}
	if (near_mode)
		kt_ike_log(ike, sa, KT_IKE_LOG_WARN, "CHILD_SA %s: peer asks for %s mode, we have %s",
			   near->name, a->transport ? "transport" : "tunnel", mode_name(near->mode));
	else
		log_no_proposal(ike, sa, near, a);
	return KT_IKE_N_NO_PROPOSAL_CHOSEN;
}

int kt_ike_child_write_offer_sa(struct kt_ike *ike, struct kt_ike_writer *w, struct ike_child *c,
				bool with_dh)
{
	(void)ike;
	size_t n;
	const struct kt_proposal *list = child_list(c->conf, c->proto, &n);
	struct kt_ike_proposal prop[KT_IKE_MAX_PROPOSALS];
	n = kt_ike_nego_to_wire(list, n, with_dh, c->spi_in, KT_IKE_SPI_SIZE_CHILD, prop);
	return kt_ike_write_sa(w, prop, n);
}

int kt_ike_child_write_offer_ts(struct kt_ike *ike, struct kt_ike_writer *w, struct ike_child *c)
{
	const struct kt_conf_child *cc = c->conf;
	const struct ike_sa *sa = c->sa;
	struct kt_ts l[KT_CONF_MAX_TS], r[KT_CONF_MAX_TS];
	size_t nl = kt_ike_ts_resolve(cc->local_ts, cc->n_local_ts, &sa->local.addr, l, KT_CONF_MAX_TS);
	size_t nr = kt_ike_ts_resolve(cc->remote_ts, cc->n_remote_ts, &sa->remote.addr, r, KT_CONF_MAX_TS);
	if (!nl || !nr) {
		kt_ike_log(ike, c->sa, KT_IKE_LOG_ERROR, "CHILD_SA %s: no traffic selectors (dynamic needs "
			   "a known address)", c->name);
		return KT_ERR_INVAL;
	}
	int rc = kt_ike_child_set_ts(c, l, nl, r, nr);
	if (rc)
		return rc;
	kt_ike_write_ts(w, KT_IKE_PL_TSI, l, nl);
	return kt_ike_write_ts(w, KT_IKE_PL_TSR, r, nr);
}

uint16_t kt_ike_child_check(struct kt_ike *ike, struct ike_child *c, const struct ike_child_ask *a,
			    int dh_mode, uint16_t ke_group, struct ike_child_pick *out)
{
	size_t n;
	const struct kt_proposal *list = child_list(c->conf, c->proto, &n);
	if (kt_ike_nego_check(&a->sa, list, n, c->proto, dh_mode, ke_group, &out->c) ||
	    a->sa.prop[0].spi_size != KT_IKE_SPI_SIZE_CHILD) {
		char got[IKE_PROP_TEXT];
		kt_ike_nego_format_wire(&a->sa, got, sizeof(got));
		kt_ike_log(ike, c->sa, KT_IKE_LOG_ERROR, "CHILD_SA %s: peer chose %s, which we did not offer",
			   c->name, got);
		return KT_IKE_N_NO_PROPOSAL_CHOSEN;
	}
	const struct kt_ts *l = c->ts, *r = c->ts + c->n_lts;
	if (!kt_ike_ts_subset(a->tsi.ts, a->tsi.n, l, c->n_lts) ||
	    !kt_ike_ts_subset(a->tsr.ts, a->tsr.n, r, c->n_rts)) {
		char gi[IKE_TS_TEXT], gr[IKE_TS_TEXT], oi[IKE_TS_TEXT], orr[IKE_TS_TEXT];
		kt_ike_ts_format(a->tsi.ts, a->tsi.n, gi, sizeof(gi));
		kt_ike_ts_format(a->tsr.ts, a->tsr.n, gr, sizeof(gr));
		kt_ike_ts_format(l, c->n_lts, oi, sizeof(oi));
		kt_ike_ts_format(r, c->n_rts, orr, sizeof(orr));
		kt_ike_log(ike, c->sa, KT_IKE_LOG_ERROR, "CHILD_SA %s: peer's selectors %s === %s are not "
			   "within ours %s === %s", c->name, gi, gr, oi, orr);
		return KT_IKE_N_TS_UNACCEPTABLE;
	}
	if (a->transport != (c->mode == KT_MODE_TRANSPORT)) {
		kt_ike_log(ike, c->sa, KT_IKE_LOG_ERROR, "CHILD_SA %s: we asked for %s mode, peer answered %s",
			   c->name, mode_name(c->mode), a->transport ? "transport" : "tunnel");
		return KT_IKE_N_NO_PROPOSAL_CHOSEN;
	}
	out->conf = c->conf;
	out->n_lts = a->tsi.n < KT_SA_MAX_TS ? a->tsi.n : KT_SA_MAX_TS;
	out->n_rts = a->tsr.n < KT_SA_MAX_TS ? a->tsr.n : KT_SA_MAX_TS;
	memcpy(out->lts, a->tsi.ts, out->n_lts * sizeof(struct kt_ts));
	memcpy(out->rts, a->tsr.ts, out->n_rts * sizeof(struct kt_ts));
	return 0;
}

void kt_ike_child_write_answer_sa(struct kt_ike_writer *w, const struct ike_child_pick *p,
				  uint32_t spi_in)
{
	if (p->conf->mode == KT_MODE_TRANSPORT)
		kt_ike_write_notify_simple(w, KT_IKE_N_USE_TRANSPORT_MODE, NULL, 0);
	struct kt_ike_choice c = p->c;
	c.spi = spi_in;
	struct kt_ike_proposal prop;
	kt_ike_nego_choice_wire(&c, KT_IKE_SPI_SIZE_CHILD, &prop);
	kt_ike_write_sa(w, &prop, 1);
}

/* In the peer's terms: a NAT swap (§2.23.1) is undone, so that the answer
 * stays within what the peer offered. */
void kt_ike_child_write_answer_ts(struct kt_ike_writer *w, const struct ike_child_pick *p)
{
	struct kt_ts ti[KT_SA_MAX_TS], tr[KT_SA_MAX_TS];
	memcpy(ti, p->rts, p->n_rts * sizeof(ti[0]));
	memcpy(tr, p->lts, p->n_lts * sizeof(tr[0]));
	kt_ike_natt_ts_theirs(&p->swap, true, ti, p->n_rts);
	kt_ike_natt_ts_theirs(&p->swap, false, tr, p->n_lts);
	kt_ike_write_ts(w, KT_IKE_PL_TSI, ti, p->n_rts);
	kt_ike_write_ts(w, KT_IKE_PL_TSR, tr, p->n_lts);
}

void kt_ike_child_refuse(struct kt_ike *ike, struct ike_child *c, uint32_t spi_out)
{
	c->spi_out = spi_out;
	c->refused = true;
	if (kt_ike_child_set_state(ike, c, CHILD_S_INSTALLED) == 0)
		c->delete_pending = true;
}

/* ---- CHILD_UP ---- */

static void fill_sa(struct kt_sa_params *s, const struct ike_child *c, const struct ike_child_deal *d,
		    bool in, uint8_t *ek, size_t ek_len, uint8_t *ak, size_t ak_len)
{
	const struct ike_sa *sa = c->sa;
	const struct kt_conf_child *cc = c->conf;
	s->spi = in ? c->spi_in : c->spi_out;
	s->proto = c->proto == KT_IKE_PROTO_AH ? KT_IPPROTO_AH : KT_IPPROTO_ESP;
	s->mode = c->mode;
	s->dir = in ? KT_DIR_IN : KT_DIR_OUT;
	s->src = in ? sa->remote.addr : sa->local.addr;
	s->dst = in ? sa->local.addr : sa->remote.addr;
	s->esn = d->c->esn == KT_IKE_ESN_YES;
	s->replay_window = cc->replay_window;
	s->no_replay = cc->replay_window == 0;
	s->xf = (struct kt_xform_params){ .encr = d->c->encr, .encr_key_bits = d->c->encr_bits,
					  .encr_key = ek_len ? ek : NULL, .encr_key_len = ek_len,
					  .integ = d->c->integ, .integ_key = ak_len ? ak : NULL,
					  .integ_key_len = ak_len, .allow_legacy = sa->peer && sa->peer->legacy };
	s->encap = c->encap;
	s->encap_sport = in ? sa->remote.port : sa->local.port;
	s->encap_dport = in ? sa->local.port : sa->remote.port;
	s->soft.time = (kt_tstamp)cc->rekey_time * KT_SECONDS;
	s->hard.time = (kt_tstamp)cc->life_time * KT_SECONDS;
	s->n_local_ts = (uint8_t)d->n_lts;
	s->n_remote_ts = (uint8_t)d->n_rts;
	memcpy(s->local_ts, d->lts, d->n_lts * sizeof(struct kt_ts));
	memcpy(s->remote_ts, d->rts, d->n_rts * sizeof(struct kt_ts));
}

static void fill_event(struct kt_ike_event *ev, const struct ike_child *c, const struct ike_child_deal *d,
		       const struct kt_child_keys *k)
{
	struct kt_ike_child_sa *cs = &ev->child_sa;
	ev->type = KT_IKE_EV_CHILD_UP;
	snprintf(ev->peer, sizeof(ev->peer), "%s", c->sa->peer_name);
	snprintf(ev->child, sizeof(ev->child), "%s", c->name);
	ev->ike_id = c->sa->id;
	/* The exchange's initiator sends with the _i keys (§2.17). */
	const uint8_t *in_e = d->we_initiated ? k->encr_r : k->encr_i;
	const uint8_t *in_a = d->we_initiated ? k->integ_r : k->integ_i;
	const uint8_t *out_e = d->we_initiated ? k->encr_i : k->encr_r;
	const uint8_t *out_a = d->we_initiated ? k->integ_i : k->integ_r;
	memcpy(cs->keys[0][0], in_e, k->encr_len);
	memcpy(cs->keys[0][1], in_a, k->integ_len);
	memcpy(cs->keys[1][0], out_e, k->encr_len);
	memcpy(cs->keys[1][1], out_a, k->integ_len);
	fill_sa(&cs->sa[0], c, d, true, cs->keys[0][0], k->encr_len, cs->keys[0][1], k->integ_len);
	fill_sa(&cs->sa[1], c, d, false, cs->keys[1][0], k->encr_len, cs->keys[1][1], k->integ_len);
	cs->n_sa = 2;
	cs->spi_in = c->spi_in;
	cs->spi_out = c->spi_out;
	cs->protocol = c->proto == KT_IKE_PROTO_AH ? KT_CONF_PROTO_AH : KT_CONF_PROTO_ESP;
	cs->mode = c->mode;
	cs->encap = c->encap;
	kt_ike_nego_display(d->c, cs->proposal, sizeof(cs->proposal));
	cs->n_local_ts = d->n_lts;
	cs->n_remote_ts = d->n_rts;
	memcpy(cs->local_ts, d->lts, d->n_lts * sizeof(struct kt_ts));
	memcpy(cs->remote_ts, d->rts, d->n_rts * sizeof(struct kt_ts));
	snprintf(ev->text, sizeof(ev->text), "CHILD_SA %s up, SPIs %08x_i %08x_o", c->name, c->spi_in,
		 c->spi_out);
}

static int derive_child(struct kt_ike *ike, const struct ike_child *c, const struct ike_child_deal *d,
			struct kt_child_keys *k)
{
	const struct ike_sa *sa = c->sa;
	struct kt_prf *prf = kt_ike_prf(ike, sa->prf);
	int ek = c->proto == KT_IKE_PROTO_AH ? 0 : kt_encr_key_len(d->c->encr, d->c->encr_bits);
	int ak = d->c->integ ? kt_integ_key_len(d->c->integ) : 0;
	if (!prf || !sa->keys || ek < 0 || ak < 0)
		return KT_ERR_UNSUPPORTED;
	struct kt_kdf_in in = { .g_ir = d->g_ir, .g_ir_len = d->g_ir_len, .ni = d->ni, .ni_len = d->ni_len,
				.nr = d->nr, .nr_len = d->nr_len, .encr_key_len = (size_t)ek,
				.integ_key_len = (size_t)ak };
	return kt_child_keys_derive(prf, sa->keys->data, sa->keys->d_len, &in, k);
}

static void log_up(struct kt_ike *ike, const struct ike_child *c, const struct ike_child_deal *d)
{
	char l[IKE_TS_TEXT], r[IKE_TS_TEXT], prop[96];
	kt_ike_ts_format(d->lts, d->n_lts, l, sizeof(l));
	kt_ike_ts_format(d->rts, d->n_rts, r, sizeof(r));
	kt_ike_nego_display(d->c, prop, sizeof(prop));
	kt_ike_log(ike, c->sa, KT_IKE_LOG_INFO, "CHILD_SA %s installed, %s %s%s %s, SPIs %08x_i %08x_o, "
		   "%s === %s", c->name, c->proto == KT_IKE_PROTO_AH ? "AH" : "ESP", mode_name(c->mode),
		   c->encap ? " in UDP" : "", prop, c->spi_in, c->spi_out, l, r);
}

int kt_ike_child_install(struct kt_ike *ike, struct ike_child *c, const struct ike_child_deal *d)
{
	struct kt_child_keys k;
	int rc = derive_child(ike, c, d, &k);
	if (!rc)
		rc = kt_ike_child_set_ts(c, d->lts, d->n_lts, d->rts, d->n_rts);
	struct kt_ike_event *ev = rc ? NULL : calloc(1, sizeof(*ev));
	if (!ev) {
		kt_child_keys_wipe(&k);
		kt_ike_log(ike, c->sa, KT_IKE_LOG_ERROR, "CHILD_SA %s: cannot derive keys: %s", c->name,
			   kt_strerror(rc ? rc : KT_ERR_NOMEM));
		return rc ? rc : KT_ERR_NOMEM;
	}
	c->spi_out = (uint32_t)d->c->spi;
	c->encr = d->c->encr;
	c->encr_bits = d->c->encr_bits;
	c->integ = d->c->integ;
	c->dh = d->c->dh;
	c->esn = d->c->esn == KT_IKE_ESN_YES;
	c->mode = c->conf->mode;
	c->encap = c->sa->natt;
	kt_ike_child_set_state(ike, c, CHILD_S_INSTALLED);
	fill_event(ev, c, d, &k);
	kt_child_keys_wipe(&k);
	kt_ike_emit(ike, ev, sizeof(*ev));
	OPENSSL_cleanse(ev->child_sa.keys, sizeof(ev->child_sa.keys));
	free(ev);
	log_up(ike, c, d);
	return 0;
}

/* ---- CREATE_CHILD_SA, initiator ---- */

static int send_child(struct kt_ike *ike, struct ike_sa *sa, struct ike_child *c, struct ike_cx *cx,
		      kt_tstamp now)
{
	struct ike_out o;
	kt_ike_out_begin(ike, sa, &o, KT_IKE_EXCH_CREATE_CHILD_SA, false, sa->next_req_id);
	if (c->mode == KT_MODE_TRANSPORT)
		kt_ike_write_notify_simple(&o.w, KT_IKE_N_USE_TRANSPORT_MODE, NULL, 0);
	kt_ike_child_write_offer_sa(ike, &o.w, c, true);
	kt_ike_write_nonce(&o.w, cx->nonce, sizeof(cx->nonce));
	if (cx->dh.group) {
		uint8_t pub[KT_DH_MAX_PUBLIC];
		int n = kt_dh_public(&cx->dh, pub, sizeof(pub));
		if (n < 0)
			return n;
		kt_ike_write_ke(&o.w, cx->dh.group, pub, (size_t)n);
	}
	int rc = kt_ike_child_write_offer_ts(ike, &o.w, c);
	int len = rc ? rc : kt_ike_out_end(ike, sa, &o);
	if (len < 0)
		return len;
	if (c->state == CHILD_S_PENDING && (rc = kt_ike_child_set_state(ike, c, CHILD_S_CREATING)))
		return rc;
	rc = kt_ike_send_request(ike, sa, now, KT_IKE_EXCH_CREATE_CHILD_SA, (size_t)len);
	if (rc)
		return rc;
	sa->req.child = c;
	sa->req.cx = cx;
	return 0;
}

static int new_pfs_key(struct ike_cx *cx, uint16_t group, bool legacy)
{
	kt_dh_free(&cx->dh);
	if (group == 0)
		return 0;
	if (group <= IKE_MAX_DH_GROUP)
		cx->ke_tried |= 1u << group;
	return kt_dh_init(&cx->dh, group, legacy);
}

static void child_fail(struct kt_ike *ike, struct ike_child *c, int rc)
{
	kt_ike_log(ike, c->sa, KT_IKE_LOG_ERROR, "CHILD_SA %s: cannot start: %s", c->name, kt_strerror(rc));
	kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
}

int kt_ike_child_start(struct kt_ike *ike, struct ike_sa *sa, struct ike_child *c, kt_tstamp now)
{
	if (!c->conf || !kt_ike_child_negotiable(ike, sa, c->conf)) {
		kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
		kt_ike_sa_kick(ike, sa, now);
		return KT_ERR_UNSUPPORTED;
	}
	struct ike_cx *cx = calloc(1, sizeof(*cx));
	int rc = cx ? 0 : KT_ERR_NOMEM;
	size_t n;
	const struct kt_proposal *list = child_list(c->conf, c->proto, &n);
	if (!rc && !c->spi_linked)
		rc = kt_ike_child_alloc_spi(ike, c);
	if (!rc)
		rc = kt_random(cx->nonce, sizeof(cx->nonce));
	if (!rc)
		rc = new_pfs_key(cx, kt_ike_nego_first_dh(list, n), sa->peer->legacy);
	if (!rc)
		rc = send_child(ike, sa, c, cx, now);
	if (rc) {
		if (cx)
			kt_dh_free(&cx->dh);
		free(cx);
		child_fail(ike, c, rc);
		kt_ike_sa_kick(ike, sa, now);
	}
	return rc;
}

/* INVALID_KE_PAYLOAD: retry once with the group the peer asks for, if ours. */
static bool retry_ke(struct kt_ike *ike, struct ike_sa *sa, struct ike_child *c, struct ike_cx *cx,
		     const struct kt_ike_notify *n, kt_tstamp now)
{
	size_t cnt;
	const struct kt_proposal *list = child_list(c->conf, c->proto, &cnt);
	uint16_t g = n->data.len == 2 ? rd16(n->data.p) : 0;
	if (g == 0 || g > IKE_MAX_DH_GROUP || (cx->ke_tried & (1u << g)) ||
	    !kt_ike_nego_has_dh(list, cnt, g))
		return false;
	kt_ike_log(ike, sa, KT_IKE_LOG_INFO, "CHILD_SA %s: peer prefers PFS group %s, retrying", c->name,
		   kt_dh_name(g));
	return new_pfs_key(cx, g, sa->peer->legacy) == 0 && send_child(ike, sa, c, cx, now) == 0;
}

/* The peer's answer: proposal, nonce, optional KE, selectors, mode. */
static void take_answer(struct kt_ike *ike, struct ike_child *c, struct ike_cx *cx,
			const struct ike_rx *rx)
{
	struct ike_child_ask a;
	struct ike_child_pick pick;
	struct kt_chunk nr;
	const struct kt_ike_payload *no = kt_ike_find(&rx->m, KT_IKE_PL_NONCE, NULL);
	if (kt_ike_child_parse(&rx->m, &a) || !no || kt_ike_parse_nonce(no, &nr)) {
		kt_ike_log(ike, c->sa, KT_IKE_LOG_ERROR, "CHILD_SA %s: invalid CREATE_CHILD_SA response",
			   c->name);
		kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
		return;
	}
	if (kt_ike_child_check(ike, c, &a, NEGO_DH_PFS, cx->dh.group, &pick)) {
		kt_ike_child_refuse(ike, c, (uint32_t)a.sa.prop[0].spi);
		return;
	}
	uint8_t g_ir[KT_DH_MAX_SECRET];
	int n = 0;
	if (pick.c.dh) {
		struct kt_ike_ke ke;
		const struct kt_ike_payload *kp = kt_ike_find(&rx->m, KT_IKE_PL_KE, NULL);
		n = !kp || kt_ike_parse_ke(kp, &ke) || ke.group != cx->dh.group
			    ? KT_ERR_IKE_SYNTAX
			    : kt_dh_derive(&cx->dh, ke.data.p, ke.data.len, g_ir, sizeof(g_ir));
	}
	struct ike_child_deal d = { .c = &pick.c, .we_initiated = true, .ni = cx->nonce,
				    .ni_len = sizeof(cx->nonce), .nr = nr.p, .nr_len = nr.len,
				    .g_ir = pick.c.dh ? g_ir : NULL, .g_ir_len = n > 0 ? (size_t)n : 0,
				    .lts = pick.lts, .rts = pick.rts, .n_lts = pick.n_lts, .n_rts = pick.n_rts };
	if (n < 0 || kt_ike_child_install(ike, c, &d)) {
		kt_ike_log(ike, c->sa, KT_IKE_LOG_ERROR, "CHILD_SA %s: peer's PFS value is unusable",
			   c->name);
		kt_ike_child_refuse(ike, c, (uint32_t)pick.c.spi);
	}
	kt_dh_secret_wipe(g_ir, sizeof(g_ir));
}

int kt_ike_child_response(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx)
{
	struct ike_child *c = sa->req.child;
	struct ike_cx *cx = sa->req.cx;
	sa->req.cx = NULL;
	kt_ike_sa_clear_req(sa);
	kt_ike_timer_response_received(ike, sa);
	struct kt_ike_notify n;
	if (c && c->conf && kt_ike_find_error(&rx->m, &n)) {
		if (n.type == KT_IKE_N_INVALID_KE_PAYLOAD && retry_ke(ike, sa, c, cx, &n, rx->now))
			return 0;
		const char *name = kt_ike_notify_name(n.type);
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "CHILD_SA %s refused by peer: %s", c->name,
			   name ? name : "unknown error");
		kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
	} else if (c && c->conf && c->state == CHILD_S_CREATING) {
		take_answer(ike, c, cx, rx);
	} else if (c && c->state == CHILD_S_CREATING) {
		kt_ike_child_set_state(ike, c, CHILD_S_DEAD); /* removed by a reload meanwhile */
	}
	if (cx) {
		kt_dh_free(&cx->dh);
		OPENSSL_cleanse(cx, sizeof(*cx));
		free(cx);
	}
	kt_ike_sa_kick(ike, sa, rx->now);
	return 0;
}

/* ---- CREATE_CHILD_SA, responder ---- */

/* A REKEY_SA notify, or proposals for protocol IKE (an IKE SA rekey). */
static bool rekey_asked(struct kt_ike *ike, struct ike_sa *sa, const struct ike_rx *rx)
{
	bool ike_rekey = false;
	const struct kt_ike_payload *p = kt_ike_find(&rx->m, KT_IKE_PL_SA, NULL);
	struct kt_ike_proposals *w = p ? malloc(sizeof(*w)) : NULL;
	if (w && kt_ike_parse_sa(p, w) == 0)
		for (size_t i = 0; i < w->n; i++)
			ike_rekey |= w->prop[i].proto == KT_IKE_PROTO_IKE;
	free(w);
	if (!ike_rekey && !kt_ike_find_notify(&rx->m, KT_IKE_N_REKEY_SA, NULL))
		return false;
	kt_ike_log(ike, sa, KT_IKE_LOG_INFO, "peer asks to rekey %s; rekeying is not supported yet, "
		   "answering TEMPORARY_FAILURE", ike_rekey ? "the IKE SA" : "a CHILD_SA");
	return true;
}

struct answer {
	struct ike_child_pick pick;
	struct kt_chunk ni;
	struct kt_dh dh;
	uint8_t nr[IKE_NONCE_LEN];
	uint8_t g_ir[KT_DH_MAX_SECRET];
	size_t g_ir_len;
};

/* Settle proposal, nonce and PFS. Returns 0 or a notify type. */
static uint16_t settle(struct kt_ike *ike, struct ike_sa *sa, const struct ike_rx *rx,
		       const struct ike_child_ask *ask, struct answer *an)
{
	const struct kt_ike_payload *no = kt_ike_find(&rx->m, KT_IKE_PL_NONCE, NULL),
				    *kp = kt_ike_find(&rx->m, KT_IKE_PL_KE, NULL);
	struct kt_ike_ke ke = { 0 };
	if (!no || kt_ike_parse_nonce(no, &an->ni) || (kp && kt_ike_parse_ke(kp, &ke)))
		return KT_IKE_N_INVALID_SYNTAX;
	uint16_t why = kt_ike_child_pick(ike, sa, ask, NEGO_DH_PFS, ke.group, &an->pick);
	if (why)
		return why;
	if (kt_random(an->nr, sizeof(an->nr)))
		return KT_IKE_N_TEMPORARY_FAILURE;
	uint16_t g = an->pick.c.dh;
	if (!g)
		return 0;
	if (!kp || ke.group != g)
		return KT_IKE_N_INVALID_KE_PAYLOAD;
	int n = kt_dh_init(&an->dh, g, sa->peer->legacy);
	if (!n)
		n = kt_dh_derive(&an->dh, ke.data.p, ke.data.len, an->g_ir, sizeof(an->g_ir));
	if (n < 0) {
		kt_ike_log(ike, sa, KT_IKE_LOG_WARN, "peer's PFS key exchange value is unacceptable (%s)",
			   kt_strerror(n));
		return KT_IKE_N_INVALID_SYNTAX;
	}
	an->g_ir_len = (size_t)n;
	return 0;
}

static int answer_child(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx, struct answer *an)
{
	struct ike_child *c = kt_ike_child_new(ike, sa, an->pick.conf);
	if (!c || kt_ike_child_alloc_spi(ike, c)) {
		if (c)
			kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
		kt_ike_reply_error(ike, sa, rx, KT_IKE_N_TEMPORARY_FAILURE, NULL, 0);
		return KT_ERR_NOMEM;
	}
	struct ike_out o;
	kt_ike_out_begin(ike, sa, &o, KT_IKE_EXCH_CREATE_CHILD_SA, true, rx->m.hdr.msg_id);
	kt_ike_child_write_answer_sa(&o.w, &an->pick, c->spi_in);
	kt_ike_write_nonce(&o.w, an->nr, sizeof(an->nr));
	if (an->pick.c.dh) {
		uint8_t pub[KT_DH_MAX_PUBLIC];
		int n = kt_dh_public(&an->dh, pub, sizeof(pub));
		if (n > 0)
			kt_ike_write_ke(&o.w, an->dh.group, pub, (size_t)n);
	}
	kt_ike_child_write_answer_ts(&o.w, &an->pick);
	int len = kt_ike_out_end(ike, sa, &o);
	if (len < 0) {
		kt_ike_child_set_state(ike, c, CHILD_S_DEAD);
		return len;
	}
	kt_ike_send_response(ike, sa, rx, (size_t)len, rx->now);
	struct ike_child_deal d = { .c = &an->pick.c, .we_initiated = false, .ni = an->ni.p,
				    .ni_len = an->ni.len, .nr = an->nr, .nr_len = sizeof(an->nr),
				    .g_ir = an->g_ir_len ? an->g_ir : NULL, .g_ir_len = an->g_ir_len,
				    .lts = an->pick.lts, .rts = an->pick.rts, .n_lts = an->pick.n_lts,
				    .n_rts = an->pick.n_rts };
	if (kt_ike_child_install(ike, c, &d))
		kt_ike_child_refuse(ike, c, (uint32_t)an->pick.c.spi);
	return 0;
}

static int refuse_request(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx, uint16_t why,
			  uint16_t group)
{
	uint8_t g[2];
	wr16(g, group);
	bool ke = why == KT_IKE_N_INVALID_KE_PAYLOAD;
	kt_ike_reply_error(ike, sa, rx, why, ke ? g : NULL, ke ? sizeof(g) : 0);
	return 0;
}

int kt_ike_child_request(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx)
{
	if (!sa->peer || sa->state != IKE_S_ESTABLISHED)
		return refuse_request(ike, sa, rx, KT_IKE_N_NO_ADDITIONAL_SAS, 0);
	struct ike_child_ask *ask = malloc(sizeof(*ask));
	struct answer *an = calloc(1, sizeof(*an));
	int rc = 0;
	if (!ask || !an) {
		rc = refuse_request(ike, sa, rx, KT_IKE_N_TEMPORARY_FAILURE, 0);
		goto out;
	}
	int prc = kt_ike_child_parse(&rx->m, ask);
	if (rekey_asked(ike, sa, rx)) {
		rc = refuse_request(ike, sa, rx, KT_IKE_N_TEMPORARY_FAILURE, 0);
	} else if (prc) {
		uint16_t why = prc == KT_ERR_UNSUPPORTED ? KT_IKE_N_TS_UNACCEPTABLE : KT_IKE_N_INVALID_SYNTAX;
		rc = refuse_request(ike, sa, rx, why, 0);
	} else {
		uint16_t why = settle(ike, sa, rx, ask, an);
		rc = why ? refuse_request(ike, sa, rx, why, an->pick.c.dh) : answer_child(ike, sa, rx, an);
	}
out:
	if (an) {
		kt_dh_free(&an->dh);
		OPENSSL_cleanse(an, sizeof(*an));
	}
	free(an);
	free(ask);
	return rc;
}
