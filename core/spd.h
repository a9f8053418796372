/* Security Policy Database (RFC 4301 §4.4.1): an ordered list of rules,
 * each a pair of selectors (local, remote) and an action. One rule serves
 * both directions: outbound the packet's source is matched against `local`,
 * inbound its destination. The first matching rule decides; when none
 * matches the packet is discarded. Nothing bypasses unless a rule says so. */
#ifndef KT_SPD_H
#define KT_SPD_H

#include "core/sad.h"

enum kt_action { KT_ACT_DISCARD = 1, KT_ACT_BYPASS = 2, KT_ACT_PROTECT = 3 };

struct kt_spd_rule {
	struct kt_ts local, remote;
	uint8_t action;       /* enum kt_action */
	uint32_t priority;    /* lower first; equal priorities keep insertion order */
	/* PROTECT: outbound SAs, ESP applied first, then AH (bundle). Both NULL
	 * until IKE installs them: the packet triggers an acquire. */
	struct kt_sa *esp, *ah;
	uint64_t cookie;      /* the caller's handle (which child to negotiate) */
	uint32_t id;          /* assigned by kt_spd_add */
};

struct kt_spd;

struct kt_spd *kt_spd_new(void);
void kt_spd_del(struct kt_spd *spd);

/* Insert a copy of the rule by priority. Returns 0 and *id, KT_ERR_INVAL
 * (selector versions disagree, bad action), KT_ERR_NOMEM. */
int kt_spd_add(struct kt_spd *spd, const struct kt_spd_rule *rule, uint32_t *id);
/* Remove a rule. Returns 0 or KT_ERR_NOT_FOUND. */
int kt_spd_remove(struct kt_spd *spd, uint32_t id);
/* The stored rule, to attach or detach SAs; NULL if no such id. Only esp,
 * ah and cookie may be changed through it (selectors are compiled at add
 * time); the pointer is valid until the next add or remove. */
struct kt_spd_rule *kt_spd_get(struct kt_spd *spd, uint32_t id);
/* Detach an SA from every rule that points at it (before it is removed). */
void kt_spd_forget_sa(struct kt_spd *spd, const struct kt_sa *sa);
size_t kt_spd_count(const struct kt_spd *spd);

/* First rule matching the packet, or NULL (= discard). */
const struct kt_spd_rule *kt_spd_lookup(const struct kt_spd *spd, const struct kt_ip_info *ip,
					bool outbound);

#endif
