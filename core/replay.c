/* Anti-replay window, RFC 4303 §3.4.3, with ESN inference from Appendix
 * A2.2. The bitmap is a ring of 64-bit words indexed by sequence number, as
 * in Linux and WireGuard: sliding clears whole words and never shifts. */
#include <stdlib.h>

#include "core/err.h"
#include "core/replay.h"

#define WORD_BITS 64
/* RFC 4303 Appendix A2.2 needs a window to place seq_lo. Without replay
 * checks there is none, so half the 32-bit space is used: the packet is put
 * in the 2^32 epoch nearest to the highest number seen, which tolerates the
 * most reordering either way. */
#define INFER_WINDOW_UNCHECKED 0x80000000u

/* One word more than the window needs: the word holding top is only partly
 * inside the window, so size bits behind top always lie in the other
 * words-1 words, and sliding can clear whole words. */
static uint32_t words_for(uint32_t size)
{
	return (size + WORD_BITS - 1) / WORD_BITS + 1;
}

int kt_replay_init(struct kt_replay *r, uint32_t size, bool esn)
{
	r->top = 0;
	r->size = 0;
	r->words = 0;
	r->esn = esn;
	r->bitmap = NULL;
	if (size > KT_REPLAY_WINDOW_MAX)
		return KT_ERR_INVAL;
	r->words = words_for(size);
	r->bitmap = calloc(r->words, sizeof(*r->bitmap));
	if (!r->bitmap) {
		r->words = 0;
		return KT_ERR_NOMEM;
	}
	r->size = size;
	return 0;
}

void kt_replay_free(struct kt_replay *r)
{
	free(r->bitmap);
	r->bitmap = NULL;
	r->words = 0;
}

uint64_t kt_replay_infer(const struct kt_replay *r, uint32_t seq_lo)
{
	uint32_t w = r->size ? r->size : INFER_WINDOW_UNCHECKED;
	uint32_t tl = (uint32_t)r->top, th = (uint32_t)(r->top >> 32);
	uint32_t bottom = tl - w + 1; /* mod 2^32, as Appendix A2.2 intends */
	uint64_t seqh;

	if (!r->esn)
		return seq_lo;
	if (tl >= w - 1) /* case A: window inside one epoch */
		seqh = seq_lo >= bottom ? th : (uint64_t)th + 1;
	else /* case B: window spans the epoch boundary */
		seqh = seq_lo >= bottom ? (th ? th - 1 : 0) : th;
	return seqh << 32 | seq_lo;
}

static bool bit_test(const struct kt_replay *r, uint64_t seq)
{
	uint64_t bit = seq % ((uint64_t)r->words * WORD_BITS);

	return r->bitmap[bit / WORD_BITS] >> (bit % WORD_BITS) & 1;
}

int kt_replay_check(const struct kt_replay *r, uint64_t seq)
{
	if (r->size == 0)
		return 0;
	if (seq == 0)
		return KT_ERR_REPLAY; /* RFC 4303 §3.3.3: the first packet is 1 */
	if (seq > r->top)
		return 0;
	if (r->top - seq >= r->size)
		return KT_ERR_TOO_OLD;
	return bit_test(r, seq) ? KT_ERR_REPLAY : 0;
}

/* Move top to seq: words between the old top's word and the new one hold
 * numbers that slid out of the window (or were never seen), so clear them;
 * more words than the ring has means all of it. */
static void slide(struct kt_replay *r, uint64_t seq)
{
	uint64_t from = r->top / WORD_BITS, to = seq / WORD_BITS;
	uint64_t n = to - from, i;

	if (n > r->words)
		n = r->words;
	for (i = 1; i <= n; i++)
		r->bitmap[(from + i) % r->words] = 0;
	r->top = seq;
}

void kt_replay_advance(struct kt_replay *r, uint64_t seq)
{
	uint64_t bit;

	if (r->size == 0) {
		if (seq > r->top)
			r->top = seq;
		return;
	}
	if (seq > r->top)
		slide(r, seq);
	else if (r->top - seq >= r->size)
		return; /* left of the window: its bit now belongs to a newer number */
	bit = seq % ((uint64_t)r->words * WORD_BITS);
	r->bitmap[bit / WORD_BITS] |= (uint64_t)1 << (bit % WORD_BITS);
}
