/* start = on-traffic: a packet that meets a configured child's rule while
 * the child has no SA starts IKE for that child and waits, with at most
 * KD_DP_ACQ_QUEUE others (the oldest is dropped), until the CHILD_SA is
 * installed; then the queue leaves through the new SA. Nothing is ever
 * sent in clear. For other start modes such packets are dropped. The
 * queue's memory exists only while packets wait. Main thread only: the
 * outbound worker hands such packets over (worker.h); the flush sends
 * through the outbound path under the write lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/dataplane.h"
#include "daemon/log.h"
#include "daemon/worker.h"

#define ACQ_SLOT KD_DP_MTU_MAX  /* the TUN never hands us more */

static bool pow2(uint64_t n) { return (n & (n - 1)) == 0; }

void kd_dp_trap_drop_queue(struct kd_trap *t)
{
	free(t->queue);
	t->queue = NULL;
	t->q_head = t->q_n = 0;
}

static void enqueue(struct kd_dp *dp, struct kd_trap *t, const struct kt_pkt *pkt)
{
	if (!t->queue)
		t->queue = malloc((size_t)KD_DP_ACQ_QUEUE * ACQ_SLOT);
	if (!t->queue || pkt->len > ACQ_SLOT) {
		t->dropped++;
		dp->st.queue_dropped++;
		return;
	}
	if (t->q_n == KD_DP_ACQ_QUEUE) { /* full: the oldest goes */
		t->q_head = (t->q_head + 1) % KD_DP_ACQ_QUEUE;
		t->q_n--;
		t->dropped++;
		dp->st.queue_dropped++;
	}
	size_t at = (t->q_head + t->q_n) % KD_DP_ACQ_QUEUE;
	memcpy(t->queue + at * ACQ_SLOT, kt_pkt_data(pkt), pkt->len);
	t->q_len[at] = (uint16_t)pkt->len;
	t->q_n++;
	t->queued++;
	dp->st.queued++;
}

static void initiate(struct kd *kd, struct kd_trap *t, const struct kt_pkt *pkt)
{
	struct kt_ip_info ip;
	char dst[64] = "?", err[KT_IKE_LOG_LEN];
	if (kt_ip_parse(kt_pkt_data(pkt), pkt->len, &ip) == 0)
		kt_addr_format(&ip.dst, dst, sizeof(dst));
	kd->dp->st.acquires++;
	if (kd_ike_initiate(kd, t->peer, t->child, err, sizeof(err)) < 0)
		kd_err("traffic to %s for %s/%s: %s", dst, t->peer, t->child, err);
	else
		kd_info("peer %s: traffic to %s: initiating CHILD_SA %s (start = on-traffic)", t->peer,
			dst, t->child);
}

void kd_dp_acquire(struct kd *kd, uint64_t cookie, const struct kt_pkt *pkt)
{
	struct kd_dp *dp = kd->dp;
	struct kd_trap *t = kd_dp_trap_by_cookie(kd, cookie);
	if (!t) {
		dp->st.no_trap++;
		return;
	}
	if (!t->on_traffic) {
		t->dropped++;
		if (pow2(t->dropped))
			kd_debug("peer %s: CHILD_SA %s is not up: %llu packets dropped", t->peer,
				 t->child, (unsigned long long)t->dropped);
		return;
	}
	enqueue(dp, t, pkt);
	kt_tstamp now = kd_now();
	if (!t->last_initiate || now - t->last_initiate >= KD_DP_ACQ_RETRY) {
		t->last_initiate = now;
		initiate(kd, t, pkt);
	}
}

/* The waiting packets, oldest first, through the SPD again: they meet the
 * new CHILD_SA's rules now. The queue is detached first: a packet the new
 * SA does not cover starts a fresh one. */
void kd_dp_acquire_flush(struct kd *kd, struct kd_trap *t)
{
	struct kd_dp *dp = kd->dp;
	struct kd_trap q = *t;
	t->last_initiate = 0;
	t->queue = NULL;
	t->q_head = t->q_n = 0;
	if (!q.queue)
		return;
	kd_wk_lock(kd); /* the outbound path's buffers and SAs */
	for (size_t k = 0; k < q.q_n; k++) {
		size_t at = (q.q_head + k) % KD_DP_ACQ_QUEUE;
		uint8_t *slot = kd_dp_out_slot(kd);
		memcpy(slot + KD_DP_HEADROOM, q.queue + at * ACQ_SLOT, q.q_len[at]);
		struct kt_pkt pkt = { .head = slot, .cap = KD_DP_SLOT, .off = KD_DP_HEADROOM,
				      .len = q.q_len[at] };
		kd_dp_output(kd, &pkt);
		dp->st.flushed++;
	}
	kd_dp_tx_flush(kd);
	kd_wk_unlock(kd);
	kd_dp_trap_drop_queue(&q);
}
