/* INFORMATIONAL exchanges (RFC 7296 §1.4): Delete of the IKE SA or of
 * CHILD_SAs in both roles (including deletes that cross, §1.4.1), empty
 * requests for liveness, error notifies, and the encrypted one-notify
 * answer that refuses a request. */
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/ike/ike_int.h"

#define DELETE_MAX_SPIS 64 /* ours per Delete; more are handled, not echoed */

void kt_ike_reply_error(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx, uint16_t type,
			const uint8_t *data, size_t len)
{
	struct ike_out o;
	kt_ike_out_begin(ike, sa, &o, rx->m.hdr.exchange, true, rx->m.hdr.msg_id);
	kt_ike_write_notify_simple(&o.w, type, data, len);
	int n = kt_ike_out_end(ike, sa, &o);
	if (n > 0)
		kt_ike_send_response(ike, sa, rx, (size_t)n, rx->now);
	/* A refused IKE_AUTH ends the half-open SA (§2.21.2). */
	if (sa->state == IKE_S_HALF_OPEN)
		kt_ike_sa_down(ike, sa, type);
}

/* ---- Initiator ---- */

struct spi_lists {
	uint32_t esp[DELETE_MAX_SPIS], ah[DELETE_MAX_SPIS];
	size_t n_esp, n_ah;
};

static void add_spi(struct spi_lists *l, uint8_t proto, uint32_t spi)
{
	if (proto == KT_IKE_PROTO_AH && l->n_ah < DELETE_MAX_SPIS)
		l->ah[l->n_ah++] = spi;
	else if (proto == KT_IKE_PROTO_ESP && l->n_esp < DELETE_MAX_SPIS)
		l->esp[l->n_esp++] = spi;
}

static void write_deletes(struct kt_ike_writer *w, const struct spi_lists *l)
{
	if (l->n_esp)
		kt_ike_write_delete(w, KT_IKE_PROTO_ESP, l->esp, l->n_esp);
	if (l->n_ah)
		kt_ike_write_delete(w, KT_IKE_PROTO_AH, l->ah, l->n_ah);
}

int kt_ike_info_start_delete(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	struct spi_lists l = { 0 };
	struct ike_out o;
	kt_ike_out_begin(ike, sa, &o, KT_IKE_EXCH_INFORMATIONAL, false, sa->next_req_id);
	if (sa->delete_pending) {
		kt_ike_write_delete(&o.w, KT_IKE_PROTO_IKE, NULL, 0);
	} else {
		for (struct ike_child *c = sa->children; c; c = c->next)
			if (c->delete_pending && c->state == CHILD_S_INSTALLED &&
			    (c->proto == KT_IKE_PROTO_AH ? l.n_ah : l.n_esp) < DELETE_MAX_SPIS) {
				add_spi(&l, c->proto, c->spi_in);
				c->delete_pending = false;
				kt_ike_child_set_state(ike, c, CHILD_S_DELETING);
			}
		write_deletes(&o.w, &l);
	}
	int len = kt_ike_out_end(ike, sa, &o);
	int rc = len < 0 ? len : 0;
	if (!rc && sa->delete_pending)
		rc = kt_ike_sa_set_state(ike, sa, IKE_S_DELETING);
	if (!rc)
		rc = kt_ike_send_request(ike, sa, now, KT_IKE_EXCH_INFORMATIONAL, (size_t)len);
	if (rc) { /* cannot tell the peer: forget the SAs all the same */
		kt_ike_sa_down(ike, sa, 0);
		return rc;
	}
	sa->req.delete_ike = sa->delete_pending;
	kt_ike_log(ike, sa, KT_IKE_LOG_INFO, "deleting %s", sa->delete_pending ? "the IKE SA" : "CHILD_SAs");
	return 0;
}

int kt_ike_info_response(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx)
{
	bool delete_ike = sa->req.delete_ike;
	kt_ike_sa_clear_req(sa);
	kt_ike_timer_response_received(ike, sa);
	if (delete_ike) {
		kt_ike_sa_down(ike, sa, 0);
		return 0;
	}
	/* The peer deleted its halves (its Delete payloads name them). */
	for (struct ike_child *c = sa->children, *next; c; c = next) {
		next = c->next;
		if (c->state == CHILD_S_DELETING)
			kt_ike_child_down(ike, c, 0);
	}
	kt_ike_sa_kick(ike, sa, rx->now);
	return 0;
}

/* ---- Responder ---- */

static struct ike_child *child_by_out(struct ike_sa *sa, uint8_t proto, uint32_t spi)
{
	for (struct ike_child *c = sa->children; c; c = c->next)
		if (c->proto == proto && c->spi_out == spi &&
		    (c->state == CHILD_S_INSTALLED || c->state == CHILD_S_DELETING))
			return c;
	return NULL;
}

/* Children the peer deletes: echo our inbound SPIs of those we still had,
 * not of those whose Delete of ours crossed this one (§1.4.1). */
static void peer_deletes(struct ike_sa *sa, const struct kt_ike_delete *d, struct spi_lists *l,
			 struct ike_child **gone, size_t *n_gone, size_t cap)
{
	for (size_t i = 0; i < d->n; i++) {
		struct ike_child *c = child_by_out(sa, d->proto, kt_ike_delete_spi(d, i));
		if (!c)
			continue; /* unknown or already gone: harmless repeat */
		bool dup = false;
		for (size_t k = 0; k < *n_gone && !dup; k++)
			dup = gone[k] == c;
		if (dup || *n_gone == cap)
			continue;
		if (c->state == CHILD_S_INSTALLED)
			add_spi(l, c->proto, c->spi_in);
		gone[(*n_gone)++] = c;
	}
}

struct info_req {
	bool delete_ike;
	uint16_t reason;
	struct spi_lists l;
	struct ike_child *gone[2 * DELETE_MAX_SPIS];
	size_t n_gone;
};

static void read_request(struct kt_ike *ike, struct ike_sa *sa, const struct ike_rx *rx,
			 struct info_req *r)
{
	for (size_t i = 0; i < rx->m.n_pl; i++) {
		const struct kt_ike_payload *p = &rx->m.pl[i];
		struct kt_ike_delete d;
		struct kt_ike_notify n;
		if (p->type == KT_IKE_PL_DELETE && kt_ike_parse_delete(p, &d) == 0) {
			if (d.proto == KT_IKE_PROTO_IKE)
				r->delete_ike = true;
			else
				peer_deletes(sa, &d, &r->l, r->gone, &r->n_gone, 2 * DELETE_MAX_SPIS);
		} else if (p->type == KT_IKE_PL_NOTIFY && kt_ike_parse_notify(p, &n) == 0 &&
			   kt_ike_notify_is_error(n.type)) {
			const char *name = kt_ike_notify_name(n.type);
			kt_ike_log(ike, sa, KT_IKE_LOG_WARN, "peer reports %s", name ? name : "an unknown error");
			if (n.type == KT_IKE_N_AUTHENTICATION_FAILED) { /* it refused our AUTH */
				r->delete_ike = true;
				r->reason = n.type;
			}
		}
	}
}

int kt_ike_info_request(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx)
{
	struct info_req *r = calloc(1, sizeof(*r));
	if (!r)
		return KT_ERR_NOMEM;
	read_request(ike, sa, rx, r);
	struct ike_out o;
	kt_ike_out_begin(ike, sa, &o, KT_IKE_EXCH_INFORMATIONAL, true, rx->m.hdr.msg_id);
	if (!r->delete_ike)
		write_deletes(&o.w, &r->l);
	int len = kt_ike_out_end(ike, sa, &o);
	if (len > 0)
		kt_ike_send_response(ike, sa, rx, (size_t)len, rx->now);
	if (r->delete_ike) {
		kt_ike_log(ike, sa, KT_IKE_LOG_INFO, "peer deleted the IKE SA");
		kt_ike_sa_down(ike, sa, r->reason);
	} else {
		for (size_t i = 0; i < r->n_gone; i++)
			kt_ike_child_down(ike, r->gone[i], 0);
		kt_ike_sa_kick(ike, sa, rx->now);
	}
	free(r);
	return len < 0 ? len : 0;
}
