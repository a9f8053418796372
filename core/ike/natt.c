/* NAT traversal beyond detection (natd.c) and the move to port 4500
 * (exch_init.c): NAT keepalives (RFC 3948 §2.3), following the peer when
 * its NAT mapping changes (RFC 7296 §2.23), and transport-mode selectors
 * through a NAT (RFC 7296 §2.23.1). */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/ike/ike_int.h"

#define NATT_KEEPALIVE_BYTE 0xff /* RFC 3948 §2.3: the whole NAT-keepalive payload */
#define ENDPOINT_TEXT 64         /* "[IPv6]:port" */

/* ---- Keepalives ---- */

void kt_ike_natt_keepalive(struct kt_ike *ike, struct ike_sa *sa)
{
	static const uint8_t ka = NATT_KEEPALIVE_BYTE;
	kt_ike_queue_plain(ike, &sa->local, &sa->remote, &ka, sizeof(ka));
	ike->stats.keepalives++;
}

/* ---- Following the peer (§2.23) ---- */

static void endpoint_format(const struct kt_ike_endpoint *e, char *buf, size_t len)
{
	char a[48];
	kt_addr_format(&e->addr, a, sizeof(a));
	snprintf(buf, len, e->addr.version == 6 ? "[%s]:%u" : "%s:%u", a, e->port);
}

static bool same_endpoint(const struct kt_ike_endpoint *a, const struct kt_ike_endpoint *b)
{
	return a->port == b->port && kt_addr_equal(&a->addr, &b->addr);
}

/* Established, or its Delete is out (a retransmission goes to the peer too). */
static bool up(const struct ike_sa *sa)
{
	return sa->state == IKE_S_ESTABLISHED || sa->state == IKE_S_DELETING;
}

/* May an up SA follow its peer to `to`? Not from behind a NAT: anyone who
 * can replay one of the peer's packets could then redirect us. */
static bool may_follow(const struct ike_sa *sa, const struct kt_ike_endpoint *to)
{
	return !sa->nat_local && to->addr.version == sa->remote.addr.version &&
	       !same_endpoint(&sa->remote, to);
}

static void move(struct kt_ike *ike, struct ike_sa *sa, const struct kt_ike_endpoint *to)
{
	char from_t[ENDPOINT_TEXT], to_t[ENDPOINT_TEXT];
	endpoint_format(&sa->remote, from_t, sizeof(from_t));
	endpoint_format(to, to_t, sizeof(to_t));
	sa->remote = *to;
	kt_ike_log(ike, sa, KT_IKE_LOG_INFO, "peer moved from %s to %s (NAT mapping changed)", from_t, to_t);
	struct kt_ike_event ev;
	memset(&ev, 0, offsetof(struct kt_ike_event, child_sa));
	ev.type = KT_IKE_EV_PEER_MOVED;
	snprintf(ev.peer, sizeof(ev.peer), "%s", sa->peer_name);
	ev.ike_id = sa->id;
	ev.local = sa->local;
	ev.remote = sa->remote;
	snprintf(ev.text, sizeof(ev.text), "peer moved to %s", to_t);
	kt_ike_emit(ike, &ev, offsetof(struct kt_ike_event, child_sa));
}

void kt_ike_natt_follow(struct kt_ike *ike, struct ike_sa *sa, const struct ike_rx *rx)
{
	if (rx->resent || same_endpoint(&sa->remote, &rx->remote))
		return;
	if (!up(sa)) {
		sa->remote = rx->remote; /* the handshake moving to port 4500 */
		return;
	}
	if (may_follow(sa, &rx->remote)) {
		move(ike, sa, &rx->remote);
		return;
	}
	char got[ENDPOINT_TEXT], kept[ENDPOINT_TEXT];
	endpoint_format(&rx->remote, got, sizeof(got));
	endpoint_format(&sa->remote, kept, sizeof(kept));
	kt_ike_log(ike, sa, KT_IKE_LOG_DEBUG, "message from %s, staying with %s: we are behind a NAT",
		   got, kept);
}

int kt_ike_peer_seen(struct kt_ike *ike, kt_tstamp now, uint64_t ike_id,
		     const struct kt_ike_endpoint *remote)
{
	(void)now;
	if (!ike || !remote)
		return KT_ERR_INVAL;
	struct ike_sa *sa = ike->sas;
	while (sa && sa->id != ike_id)
		sa = sa->next;
	if (!sa)
		return KT_ERR_NOT_FOUND;
	if (!up(sa) || !sa->natt || !may_follow(sa, remote))
		return 0;
	move(ike, sa, remote);
	return 1;
}

/* ---- Transport mode selectors (§2.23.1) ---- */

/* The address every entry of the list is a single host of, or NULL. */
static const struct kt_addr *single_host(const struct kt_ike_ts_list *l)
{
	if (l->n == 0)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		if (!kt_addr_equal(&l->ts[i].start, &l->ts[i].end) ||
		    !kt_addr_equal(&l->ts[i].start, &l->ts[0].start))
			return NULL;
	return &l->ts[0].start;
}

/* Put ours in place of the list's single host; proto and ports stay. */
static bool swap_list(struct kt_ike_ts_list *l, const struct kt_addr *ours, struct kt_addr *offered)
{
	const struct kt_addr *a = single_host(l);
	if (!a || a->version != ours->version || kt_addr_equal(a, ours))
		return false;
	*offered = *a;
	for (size_t i = 0; i < l->n; i++)
		l->ts[i].start = l->ts[i].end = *ours;
	return true;
}

static void log_swap(struct kt_ike *ike, const struct ike_sa *sa, const char *which,
		     const struct kt_addr *offered, const struct kt_addr *ours)
{
	char o[48], u[48];
	kt_ike_log(ike, sa, KT_IKE_LOG_DEBUG, "transport mode through NAT: %s %s taken as %s", which,
		   kt_addr_format(offered, o, sizeof(o)), kt_addr_format(ours, u, sizeof(u)));
}

void kt_ike_natt_ts_ours(struct kt_ike *ike, const struct ike_sa *sa, struct kt_ike_ts_list *tsi,
			 struct kt_ike_ts_list *tsr, struct ike_ts_swap *swap)
{
	memset(swap, 0, sizeof(*swap));
	if (sa->nat_remote && swap_list(tsi, &sa->remote.addr, &swap->ti_offered)) {
		swap->ti = true;
		swap->ti_ours = sa->remote.addr;
		log_swap(ike, sa, "TSi", &swap->ti_offered, &swap->ti_ours);
	}
	if (sa->nat_local && swap_list(tsr, &sa->local.addr, &swap->tr_offered)) {
		swap->tr = true;
		swap->tr_ours = sa->local.addr;
		log_swap(ike, sa, "TSr", &swap->tr_offered, &swap->tr_ours);
	}
}

void kt_ike_natt_ts_theirs(const struct ike_ts_swap *swap, bool tsi, struct kt_ts *ts, size_t n)
{
	if (!(tsi ? swap->ti : swap->tr))
		return;
	const struct kt_addr *ours = tsi ? &swap->ti_ours : &swap->tr_ours;
	const struct kt_addr *offered = tsi ? &swap->ti_offered : &swap->tr_offered;
	for (size_t i = 0; i < n; i++)
		if (kt_addr_equal(&ts[i].start, ours) && kt_addr_equal(&ts[i].end, ours))
			ts[i].start = ts[i].end = *offered;
}
