/* The CHILD_SAs kotetsud has installed into its SADs: what the engine
 * negotiated (SPIs, proposal, selectors), the SAs in the SAD (for their
 * counters), and a copy of the keys for `kotetsu keys --wireshark`, wiped
 * when the child goes. */
#ifndef KD_CHILD_H
#define KD_CHILD_H

#include "daemon/kotetsud.h"

struct kd_child {
	char peer[KT_CONF_MAX_NAME + 1];
	char name[KT_CONF_MAX_NAME + 1];
	uint64_t ike_id;
	kt_tstamp installed;
	struct kt_ike_child_sa csa;            /* key pointers point into csa.keys */
	struct kt_sa *sa[KT_IKE_CHILD_MAX_SA]; /* csa.sa[i] as installed */
	/* The data plane's view (dp_policy.c): its SPD rules, the cookie in
	 * them, and the path MTU toward the peer. */
	uint64_t cookie;
	uint32_t rules[KT_IKE_MAX_CHILD_TS * KT_IKE_MAX_CHILD_TS];
	size_t n_rules;
	unsigned path_mtu;
	struct kd_child *next;
};

/* CHILD_UP: install every SA of the event and the SPD rules that send
 * traffic to them. Returns 0 or a KT_ERR_* (then nothing stays installed). */
int kd_child_install(struct kd *kd, const struct kt_ike_event *ev);
/* CHILD_DOWN: remove the child with the event's SPIs (no-op if unknown). */
void kd_child_remove(struct kd *kd, const struct kt_ike_event *ev);
/* IKE_DOWN: remove whatever children of that IKE SA remain. */
void kd_child_remove_ike(struct kd *kd, uint64_t ike_id);
void kd_child_remove_all(struct kd *kd);
struct kd_child *kd_child_find(struct kd *kd, const char *peer, uint32_t spi_in,
			       uint32_t spi_out);
/* The child's outbound SAs (either may be NULL). */
void kd_child_out_sas(const struct kd_child *c, struct kt_sa **esp, struct kt_sa **ah);
/* Counters of the child's SAs of its main protocol (ESP, or AH alone).
 * Under the write lock (kd_wk_lock): the workers write them. */
void kd_child_counters(const struct kd_child *c, struct kt_sa_stats *in, struct kt_sa_stats *out);
/* The peer's NAT mapping moved: every SA of c toward or from peer's new
 * address and port (kt_sad_set_peer on the SAD of each SA's direction,
 * under the write lock), and our copy of their parameters with them.
 * Returns 0 or the first error of kt_sad_set_peer (the SAs before it have
 * moved). */
int kd_child_set_peer(struct kd *kd, struct kd_child *c, const struct kt_ike_endpoint *peer);

/* The SADs (kd->ips_out.sad, kd->ips_in.sad) taken together, each call
 * under the write lock: the earliest time-based lifetime, the lifetimes
 * due at now, and the next queued lifetime or exhaustion event (false:
 * none left). */
kt_tstamp kd_sad_next_expiry(struct kd *kd);
void kd_sad_handle_expiry(struct kd *kd, kt_tstamp now);
bool kd_sad_next_event(struct kd *kd, struct kt_sa_event *ev);

#endif
