/* Every timer of the IKE engine, and the only place that arms them:
 *
 *   retransmit   per IKE SA while one of our requests is outstanding. The
 *                request goes out again after base * factor^n (n = 0, 1, ...)
 *                shortened by a random jitter of up to jitter percent, as
 *                strongSwan's retransmit_timeout/_base/_jitter. A "try" is
 *                one retransmission, as strongSwan's retransmit_tries: after
 *                `tries` of them and one more wait the SA fails (IKE_DOWN).
 *   half-open    per responder SA from its IKE_SA_INIT until IKE_AUTH
 *                completes: after half_open_timeout the SA is dropped.
 *   response     per IKE SA that keeps its last response for a retransmitted
 *   cache        request: freed once the peer's retransmissions must be over
 *                (the whole span of our own schedule, without jitter).
 *   keepalive    per established IKE SA whose side is behind a NAT (with
 *                UDP encapsulation): a NAT keepalive every [peer] keepalive
 *                seconds (RFC 3948 §2.3) keeps the NAT's mapping open; the
 *                side not behind a NAT sends none.
 *   cookie       engine-wide: the cookie secret rotates every
 *   secret       KT_IKE_COOKIE_SECRET_LIFETIME.
 *
 * Protocol code only reports events (request sent, response received,
 * half-open, established, response cached, SA gone, keepalive to check);
 * this file decides what to arm, as WireGuard's timers.c. SAs sit in a
 * binary min-heap keyed by their earliest deadline, so next_expiry is O(1)
 * and each change O(log n). */
#include <stdlib.h>

#include "core/err.h"
#include "core/ike/ike_int.h"

#define JITTER_SCALE 65536u /* resolution of the random jitter fraction */

static kt_tstamp earliest(const struct ike_sa *sa)
{
	kt_tstamp t = sa->t_retransmit;
	if (sa->t_half_open < t)
		t = sa->t_half_open;
	if (sa->t_resp_free < t)
		t = sa->t_resp_free;
	if (sa->t_keepalive < t)
		t = sa->t_keepalive;
	return t;
}

/* ---- Heap ---- */

static void heap_put(struct kt_ike *ike, size_t i, struct ike_sa *sa)
{
	ike->heap[i] = sa;
	sa->heap_idx = i;
}

static void sift_up(struct kt_ike *ike, size_t i)
{
	struct ike_sa *sa = ike->heap[i];
	kt_tstamp t = earliest(sa);
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (earliest(ike->heap[parent]) <= t)
			break;
		heap_put(ike, i, ike->heap[parent]);
		i = parent;
	}
	heap_put(ike, i, sa);
}

static void sift_down(struct kt_ike *ike, size_t i)
{
	struct ike_sa *sa = ike->heap[i];
	kt_tstamp t = earliest(sa);
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= ike->heap_n)
			break;
		if (c + 1 < ike->heap_n && earliest(ike->heap[c + 1]) < earliest(ike->heap[c]))
			c++;
		if (t <= earliest(ike->heap[c]))
			break;
		heap_put(ike, i, ike->heap[c]);
		i = c;
	}
	heap_put(ike, i, sa);
}

static void heap_remove(struct kt_ike *ike, struct ike_sa *sa)
{
	size_t i = sa->heap_idx;
	sa->heap_idx = SIZE_MAX;
	struct ike_sa *last = ike->heap[--ike->heap_n];
	if (last == sa)
		return;
	heap_put(ike, i, last);
	sift_up(ike, i);
	sift_down(ike, last->heap_idx);
}

static bool heap_insert(struct kt_ike *ike, struct ike_sa *sa)
{
	if (ike->heap_n == ike->heap_cap) {
		size_t cap = ike->heap_cap ? ike->heap_cap * 2 : 64;
		struct ike_sa **h = realloc(ike->heap, cap * sizeof(*h));
		if (!h)
			return false;
		ike->heap = h;
		ike->heap_cap = cap;
	}
	heap_put(ike, ike->heap_n++, sa);
	sift_up(ike, sa->heap_idx);
	return true;
}

/* Put the SA where its deadlines say. */
static void update(struct kt_ike *ike, struct ike_sa *sa)
{
	bool armed = earliest(sa) != KT_TSTAMP_NEVER;
	if (sa->heap_idx == SIZE_MAX) {
		if (armed && !heap_insert(ike, sa))
			sa->heap_idx = SIZE_MAX; /* no memory: the SA simply never times out */
		return;
	}
	if (!armed) {
		heap_remove(ike, sa);
		return;
	}
	sift_up(ike, sa->heap_idx);
	sift_down(ike, sa->heap_idx);
}

int kt_ike_timers_init(struct kt_ike *ike, kt_tstamp now)
{
	ike->cookie_rotate_at = now + KT_IKE_COOKIE_SECRET_LIFETIME;
	return 0;
}

void kt_ike_timers_free(struct kt_ike *ike)
{
	free(ike->heap);
	ike->heap = NULL;
	ike->heap_n = ike->heap_cap = 0;
}

/* ---- Schedules ---- */

/* Wait before retransmission n + 1 (n = 0: after the first send). */
static kt_tstamp backoff(const struct kt_ike *ike, unsigned n, bool jitter)
{
	kt_tstamp t = ike->set.retransmit_base;
	for (unsigned i = 0; i < n; i++)
		t = t / 100 * ike->set.retransmit_factor_pct + t % 100 * ike->set.retransmit_factor_pct / 100;
	uint16_t r = 0;
	if (jitter && kt_random((uint8_t *)&r, sizeof(r)) == 0)
		t -= t / 100 * ike->set.retransmit_jitter_pct * r / JITTER_SCALE;
	return t;
}

/* How long a peer with our schedule keeps retransmitting one request. */
static kt_tstamp retransmit_span(const struct kt_ike *ike)
{
	kt_tstamp total = 0;
	for (unsigned i = 0; i <= ike->set.retransmit_tries; i++)
		total += backoff(ike, i, false);
	return total;
}

/* ---- Events from protocol code ---- */

void kt_ike_timer_request_sent(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	sa->t_retransmit = now + backoff(ike, 0, true);
	update(ike, sa);
}

void kt_ike_timer_response_received(struct kt_ike *ike, struct ike_sa *sa)
{
	sa->t_retransmit = KT_TSTAMP_NEVER;
	update(ike, sa);
}

void kt_ike_timer_half_open(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	sa->t_half_open = now + ike->set.half_open_timeout;
	update(ike, sa);
}

void kt_ike_timer_established(struct kt_ike *ike, struct ike_sa *sa)
{
	sa->t_half_open = KT_TSTAMP_NEVER;
	update(ike, sa);
}

void kt_ike_timer_response_cached(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	sa->t_resp_free = now + retransmit_span(ike);
	update(ike, sa);
}

/* The keepalive interval this SA needs now, 0 for none. */
static kt_tstamp keepalive_period(const struct ike_sa *sa)
{
	if (sa->state != IKE_S_ESTABLISHED || !sa->natt || !sa->nat_local || !sa->peer)
		return 0;
	return (kt_tstamp)sa->peer->keepalive * KT_SECONDS;
}

void kt_ike_timer_keepalive(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	kt_tstamp period = keepalive_period(sa);
	if (!period)
		sa->t_keepalive = KT_TSTAMP_NEVER;
	else if (sa->t_keepalive == KT_TSTAMP_NEVER || sa->t_keepalive > now + period)
		sa->t_keepalive = now + period; /* a running one keeps its beat */
	update(ike, sa);
}

void kt_ike_timer_sa_gone(struct kt_ike *ike, struct ike_sa *sa)
{
	sa->t_retransmit = sa->t_half_open = sa->t_resp_free = sa->t_keepalive = KT_TSTAMP_NEVER;
	if (sa->heap_idx != SIZE_MAX)
		heap_remove(ike, sa);
}

/* ---- Expiry ---- */

kt_tstamp kt_ike_next_expiry(const struct kt_ike *ike)
{
	kt_tstamp t = ike->cookie_rotate_at;
	if (ike->heap_n && earliest(ike->heap[0]) < t)
		t = earliest(ike->heap[0]);
	return t;
}

static void retransmit(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	if (!sa->req.msg) {
		sa->t_retransmit = KT_TSTAMP_NEVER;
		update(ike, sa);
		return;
	}
	if (sa->req.tries >= ike->set.retransmit_tries) {
		kt_ike_log(ike, sa, KT_IKE_LOG_ERROR, "no response to %s request after %u retransmissions, "
			   "giving up", kt_ike_exchange_name(sa->req.exchange), sa->req.tries);
		kt_ike_sa_down(ike, sa, 0);
		return;
	}
	sa->req.tries++;
	ike->stats.retransmits++;
	kt_ike_log(ike, sa, KT_IKE_LOG_DEBUG, "retransmitting %s request %u (%u of %u)",
		   kt_ike_exchange_name(sa->req.exchange), sa->req.msg_id, sa->req.tries,
		   ike->set.retransmit_tries);
	kt_ike_queue_dgram(ike, &sa->local, &sa->remote, sa->req.msg->data, sa->req.msg->len);
	sa->t_retransmit = now + backoff(ike, sa->req.tries, true);
	update(ike, sa);
}

static void keepalive(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	kt_tstamp period = keepalive_period(sa);
	if (period)
		kt_ike_natt_keepalive(ike, sa);
	sa->t_keepalive = period ? now + period : KT_TSTAMP_NEVER;
	update(ike, sa);
}

static void expire(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now)
{
	if (sa->t_half_open <= now) {
		kt_ike_log(ike, sa, KT_IKE_LOG_DEBUG, "half-open IKE SA from %s timed out",
			   sa->remote_id ? sa->remote_id : "peer");
		kt_ike_sa_down(ike, sa, 0);
		return;
	}
	if (sa->t_resp_free <= now) {
		kt_ike_sa_drop_response(sa);
		sa->t_resp_free = KT_TSTAMP_NEVER;
		update(ike, sa);
	}
	if (sa->t_keepalive <= now)
		keepalive(ike, sa, now);
	if (sa->t_retransmit <= now) /* last: it may end the SA */
		retransmit(ike, sa, now);
}

void kt_ike_handle_expiry(struct kt_ike *ike, kt_tstamp now)
{
	if (ike->cookie_rotate_at <= now) {
		kt_ike_cookie_rotate(&ike->cookies, now);
		ike->cookie_rotate_at = now + KT_IKE_COOKIE_SECRET_LIFETIME;
	}
	while (ike->heap_n && earliest(ike->heap[0]) <= now)
		expire(ike, ike->heap[0], now);
	kt_ike_reap(ike);
}
