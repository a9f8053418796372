/* Security Association Database (RFC 4301 §4.4.2). Inbound SAs are found by
 * SPI, protocol and destination in constant time (a hash table). Each SA
 * holds its keyed transform, replay window, counters, lifetimes and
 * selectors. Lifetime and exhaustion events are queued and drained by the
 * caller (kt_sad_next_event), time is an argument (kt_sad_next_expiry /
 * kt_sad_handle_expiry), as in ngtcp2. */
#ifndef KT_SAD_H
#define KT_SAD_H

#include "core/crypto/xform.h"
#include "core/replay.h"
#include "core/ts.h"

#define KT_SA_MAX_TS 8

enum kt_mode { KT_MODE_TRANSPORT = 1, KT_MODE_TUNNEL = 2 };
enum kt_dir { KT_DIR_IN = 1, KT_DIR_OUT = 2 };

/* Limits: 0 means "none". Time limits count from the SA's creation. */
struct kt_lifetime {
	uint64_t bytes;
	uint64_t packets;
	kt_tstamp time;
};

struct kt_sa_params {
	uint32_t spi;             /* network value as a number (host order) */
	uint8_t proto;            /* KT_IPPROTO_ESP or KT_IPPROTO_AH */
	uint8_t mode;             /* enum kt_mode */
	uint8_t dir;              /* enum kt_dir */
	struct kt_addr src, dst;  /* outer addresses: outbound src=us, dst=peer;
	                             inbound src=peer, dst=us (version 0 on an
	                             inbound SA's dst: any destination) */
	bool esn;
	uint32_t replay_window;   /* inbound; 0 = KT_REPLAY_WINDOW_DEFAULT */
	bool no_replay;           /* inbound: disable the check (window 0) */
	struct kt_xform_params xf;
	bool encap;               /* ESP in UDP (RFC 3948) */
	uint16_t encap_sport, encap_dport;
	uint16_t tfc_pad;         /* tunnel mode: pad inner payload up to this */
	uint8_t ttl;              /* outer TTL / hop limit; 0 = 64 */
	struct kt_lifetime soft, hard;
	uint64_t seq_start;       /* outbound: last sequence number "already
	                             sent" (0: the first packet carries 1) */
	struct kt_ts local_ts[KT_SA_MAX_TS], remote_ts[KT_SA_MAX_TS];
	uint8_t n_local_ts, n_remote_ts; /* 0 = any */
	bool bundled;             /* inbound AH+ESP bundle member: ESP must
	                             arrive inside AH, AH must carry ESP */
	uint64_t cookie;          /* the caller's handle, echoed in events */
};

struct kt_sa_stats {
	uint64_t bytes, packets;  /* payload bytes (inner packet) */
	uint64_t replay, too_old, auth, padding, policy, malformed, proto;
};

struct kt_sa {
	struct kt_sa_params p;    /* key pointers in p.xf are cleared */
	struct kt_xform xf;
	struct kt_replay replay;  /* inbound */
	uint64_t seq;             /* outbound: last sequence number used */
	kt_tstamp created;
	struct kt_sa_stats stats;
	bool soft_fired, hard_fired, exhausted;
	struct kt_sa *next;       /* hash chain */
};

enum kt_sa_event_type {
	KT_SA_EV_SOFT = 1,        /* soft lifetime reached: rekey */
	KT_SA_EV_HARD = 2,        /* hard lifetime reached: SA refuses traffic */
	KT_SA_EV_EXHAUSTED = 3,   /* outbound sequence numbers used up */
};
enum kt_sa_limit { KT_LIMIT_BYTES = 1, KT_LIMIT_PACKETS = 2, KT_LIMIT_TIME = 3, KT_LIMIT_SEQ = 4 };

struct kt_sa_event {
	uint8_t type;            /* enum kt_sa_event_type */
	uint8_t limit;           /* enum kt_sa_limit: what was reached */
	uint32_t spi;
	uint8_t proto, dir;
	uint64_t cookie;
};

struct kt_sad;

/* Create an empty SAD. Returns NULL on allocation failure. */
struct kt_sad *kt_sad_new(void);
/* Free the SAD and every SA in it (keys wiped). */
void kt_sad_del(struct kt_sad *sad);

/* Install an SA: keys the transform, allocates the replay window, copies
 * the selectors (key bytes are not kept outside libcrypto contexts).
 * Returns 0 and *out, or KT_ERR_EXISTS (same SPI, proto, dir and dst),
 * KT_ERR_LEGACY, KT_ERR_INVAL, KT_ERR_NOMEM, KT_ERR_CRYPTO. */
int kt_sad_add(struct kt_sad *sad, const struct kt_sa_params *p, kt_tstamp now,
	       struct kt_sa **out);
/* Remove and free an SA. */
void kt_sad_remove(struct kt_sad *sad, struct kt_sa *sa);
/* Find an SA. For inbound lookups dst is the packet's destination: an SA
 * installed with a dst must match it; one without matches any. NULL if none. */
struct kt_sa *kt_sad_lookup(const struct kt_sad *sad, uint32_t spi, uint8_t proto,
			    uint8_t dir, const struct kt_addr *dst);
size_t kt_sad_count(const struct kt_sad *sad);

/* Point an installed SA at the peer's new outer address and UDP port after
 * its NAT mapping changed (RFC 7296 §2.23, RFC 3948). Outbound SA: sets
 * p.dst and, with ESP in UDP (p.encap), p.encap_dport; kt_sad_lookup then
 * finds it under the new dst only (kt_sad_remove still works). Inbound
 * SA: sets p.src and, with p.encap, p.encap_sport (its dst, our address,
 * stays). `port` is ignored on an SA without encap. Allocates nothing.
 * Returns 0, KT_ERR_INVAL (addr not IPv4/IPv6, or of another version than
 * the SA's outer addresses: the peer's, or ours when the peer's is unset;
 * sa not in this SAD), KT_ERR_EXISTS (another outbound SA with the same SPI
 * and protocol is installed for addr, as kt_sad_add refuses); on error the
 * SA is unchanged. */
int kt_sad_set_peer(struct kt_sad *sad, struct kt_sa *sa, const struct kt_addr *addr,
		    uint16_t port);

/* Account one packet of `bytes` on the SA and fire lifetime events.
 * Returns 0, or KT_ERR_EXPIRED if the hard limit was already reached. */
int kt_sa_account(struct kt_sad *sad, struct kt_sa *sa, size_t bytes);
/* Is the SA usable (not past hard lifetime, not exhausted)? */
bool kt_sa_usable(const struct kt_sa *sa);
/* Take the next outbound sequence number; KT_ERR_EXHAUSTED when 2^32-1
 * (2^64-1 with ESN) has been sent: never wraps. Queues EXHAUSTED once. */
int kt_sa_next_seq(struct kt_sad *sad, struct kt_sa *sa, uint64_t *seq);

/* Earliest time-based lifetime still to fire, or KT_TSTAMP_NEVER. */
kt_tstamp kt_sad_next_expiry(const struct kt_sad *sad);
/* Fire the time-based lifetimes due at `now`. */
void kt_sad_handle_expiry(struct kt_sad *sad, kt_tstamp now);
/* Pop the oldest queued event; false when none. The queue is bounded; when
 * full, the oldest events are overwritten and counted in lost_events. */
bool kt_sad_next_event(struct kt_sad *sad, struct kt_sa_event *ev);
uint64_t kt_sad_lost_events(const struct kt_sad *sad);

/* Iterate over all SAs (management, status): call fn for each. */
void kt_sad_foreach(struct kt_sad *sad, void (*fn)(struct kt_sa *sa, void *arg), void *arg);

#endif
