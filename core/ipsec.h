/* The packet pipeline: what the daemon calls for each packet. Outbound:
 * SPD lookup, then ESP and/or AH with the rule's SAs. Inbound: AH/ESP
 * opened (bundles and nested transport SAs in order), then the inner
 * packet checked against the selectors of every SA it came through
 * (RFC 4301 §5.2); cleartext packets pass only on a BYPASS rule. Each
 * refusal is counted by reason. */
#ifndef KT_IPSEC_H
#define KT_IPSEC_H

#include "core/spd.h"

struct kt_drops {
	uint64_t malformed, fragment, no_sa, replay, too_old, auth, padding, policy,
		proto, exhausted, expired, dummy, nospace, discard, acquire, crypto;
};

struct kt_ipsec {
	struct kt_sad *sad;
	struct kt_spd *spd;
	struct kt_drops drops;
};

/* Positive results. */
enum kt_verdict {
	KT_SEALED = 1,     /* output: pkt is the protected packet to send */
	KT_BYPASS = 2,     /* pkt passes unchanged (BYPASS rule) */
	KT_DECAPPED = 3,   /* input: pkt is the inner packet, selectors checked */
	KT_IKE = 4,        /* input: UDP 4500 with the non-ESP marker: IKE's */
	KT_KEEPALIVE = 5,  /* input: NAT keepalive (RFC 3948 §2.3): ignore */
};

/* Create/free the SAD and SPD. Returns 0 or KT_ERR_NOMEM. */
int kt_ipsec_init(struct kt_ipsec *ips);
void kt_ipsec_free(struct kt_ipsec *ips);

/* Protect or pass one outbound packet. Returns KT_SEALED, KT_BYPASS or a
 * negative error (counted): KT_ERR_DISCARD, KT_ERR_ACQUIRE (*rule set: the
 * caller starts IKE for rule->cookie), KT_ERR_EXHAUSTED, ... */
int kt_ipsec_output(struct kt_ipsec *ips, struct kt_pkt *pkt, const struct kt_spd_rule **rule);

/* Process one inbound packet. Returns KT_DECAPPED (and *sa, the innermost
 * SA), KT_BYPASS, KT_IKE, KT_KEEPALIVE, or a negative error (counted).
 * When the innermost SA is transport mode and a layer was ESP in UDP, the
 * decapsulated packet's TCP, UDP (IPv4: unless 0) and ICMPv6 checksum is
 * recomputed over its addresses as received, which a NAT rewrote
 * (RFC 3948 §3.1.2; kt_ip_fix_l4_csum). Tunnel mode and transport without
 * encap leave the packet as the peer sent it. */
int kt_ipsec_input(struct kt_ipsec *ips, struct kt_pkt *pkt, struct kt_sa **sa);

/* Count err in the matching drop counter (no-op for success codes). */
void kt_drops_count(struct kt_drops *d, int err);

#endif
