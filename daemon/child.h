/* The CHILD_SAs kotetsud has installed into its SAD: what the engine
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
/* Counters of the child's SAs of its main protocol (ESP, or AH alone). */
void kd_child_counters(const struct kd_child *c, struct kt_sa_stats *in, struct kt_sa_stats *out);

#endif
