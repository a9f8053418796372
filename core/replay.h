/* Anti-replay window with 32-bit and extended (64-bit) sequence numbers,
 * RFC 4303 §3.4.3 and Appendix A. The window is a bitmap of `size` bits
 * allocated once when the SA is created; checking and advancing never
 * allocate. Inbound order (STYLE.md): check first, verify the ICV, then
 * advance. */
#ifndef KT_REPLAY_H
#define KT_REPLAY_H

#include "core/types.h"

#define KT_REPLAY_WINDOW_DEFAULT 128
#define KT_REPLAY_WINDOW_MAX 65536 /* packets; rounded up to 64-bit words */

struct kt_replay {
	uint64_t top;        /* highest sequence number accepted; 0: none yet */
	uint32_t size;       /* window in packets; 0 disables replay checks */
	uint32_t words;      /* bitmap words: size rounded up, plus one so that
	                        sliding clears whole words (at least 1) */
	bool esn;            /* extended sequence numbers */
	uint64_t *bitmap;    /* bit for seq s lives at (s % (words*64)) */
};

/* Allocate the window; size 0 disables the check (only sensible without
 * integrity): every number passes, top still follows the highest, and ESN
 * inference picks the epoch nearest to it. Returns 0, KT_ERR_INVAL
 * (size > max), KT_ERR_NOMEM. */
int kt_replay_init(struct kt_replay *r, uint32_t size, bool esn);
void kt_replay_free(struct kt_replay *r);

/* Infer the full sequence number for the received low 32 bits (RFC 4303
 * Appendix A2.2 when esn; otherwise the high bits are 0). Does not check. */
uint64_t kt_replay_infer(const struct kt_replay *r, uint32_t seq_lo);

/* Is `seq` (as inferred) acceptable? 0, KT_ERR_REPLAY (already seen or
 * sequence number 0), KT_ERR_TOO_OLD (left of the window). */
int kt_replay_check(const struct kt_replay *r, uint64_t seq);

/* Record seq as seen, sliding the window forward if it is new top. Call only
 * after kt_replay_check succeeded and the ICV verified. */
void kt_replay_advance(struct kt_replay *r, uint64_t seq);

#endif
