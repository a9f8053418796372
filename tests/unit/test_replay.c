/* Anti-replay window tests: a numbered table of cases at every window size,
 * ESN inference across the 2^32 boundary (RFC 4303 Appendix A2.2), and
 * differential runs against a deliberately naive reference. */
#include "tests/unit/testutil.h"

#include "core/err.h"
#include "core/replay.h"

#define E32 ((uint64_t)1 << 32)

static const uint32_t sizes[] = {32, 64, 128, 1024, 4096, 65536};

/* Receive seq as the inbound path does: check, then advance when accepted. */
static int receive(struct kt_replay *r, uint64_t seq)
{
	int rc = kt_replay_check(r, seq);

	if (rc == 0)
		kt_replay_advance(r, seq);
	return rc;
}

struct step {
	uint64_t seq;
	int want;
};

static void run_steps(struct kt_replay *r, const struct step *s, size_t n, uint32_t w)
{
	for (size_t i = 0; i < n; i++) {
		int got = receive(r, s[i].seq);

		if (got != s[i].want)
			fail_msg("window %u, case %zu: seq %llu: got %d, want %d", w, i + 1,
				 (unsigned long long)s[i].seq, got, s[i].want);
	}
}

/* The same story at each window size W, like WireGuard's counter test. */
static void test_table(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint64_t w = sizes[k];
		const struct step steps[] = {
			/*  1 */ {0, KT_ERR_REPLAY},
			/*  2 */ {1, 0},
			/*  3 */ {1, KT_ERR_REPLAY},
			/*  4 */ {9, 0},
			/*  5 */ {8, 0},
			/*  6 */ {7, 0},
			/*  7 */ {7, KT_ERR_REPLAY},
			/*  8 */ {w + 1, 0},
			/*  9 */ {1, KT_ERR_TOO_OLD},         /* top - 1 == W */
			/* 10 */ {2, 0},                      /* oldest in window */
			/* 11 */ {2, KT_ERR_REPLAY},
			/* 12 */ {9, KT_ERR_REPLAY},
			/* 13 */ {w, 0},
			/* 14 */ {w + 1, KT_ERR_REPLAY},
			/* 15 */ {3 * w, 0},                  /* jump of about two windows */
			/* 16 */ {2 * w + 1, 0},              /* left edge */
			/* 17 */ {2 * w, KT_ERR_TOO_OLD},     /* just outside */
			/* 18 */ {2 * w + 1, KT_ERR_REPLAY},
			/* 19 */ {3 * w, KT_ERR_REPLAY},
			/* 20 */ {13 * w + 7, 0},             /* jump of ten windows */
			/* 21 */ {13 * w + 6, 0},
			/* 22 */ {12 * w + 8, 0},             /* left edge */
			/* 23 */ {12 * w + 7, KT_ERR_TOO_OLD},
			/* 24 */ {3 * w, KT_ERR_TOO_OLD},
			/* 25 */ {13 * w + 8, 0},
			/* 26 */ {13 * w + 7, KT_ERR_REPLAY},
			/* 27 */ {0, KT_ERR_REPLAY},
		};
		struct kt_replay r;

		assert_int_equal(kt_replay_init(&r, (uint32_t)w, false), 0);
		run_steps(&r, steps, sizeof(steps) / sizeof(steps[0]), (uint32_t)w);
		assert_int_equal(r.top, 13 * w + 8);
		kt_replay_free(&r);
	}
}

/* Fill the window, then jump by k: every number in the new window other
 * than the new top must be fresh, whatever the jump (ring aliasing). */
static void test_slide_clears(void **state)
{
	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t w = sizes[s];
		struct kt_replay r;
		assert_int_equal(kt_replay_init(&r, w, false), 0);
		uint64_t ring = (uint64_t)r.words * 64;
		const uint64_t jumps[] = {1, 2, 63, 64, 65, w - 1, w, w + 1, w + 63, w + 64,
					  ring - 64, ring - 1, ring, ring + 1, 5 * ring + 17};

		for (size_t j = 0; j < sizeof(jumps) / sizeof(jumps[0]); j++) {
			uint64_t base = 1000000 * (j + 1) + w;
			uint64_t top = base + jumps[j];

			for (uint64_t q = base - w + 1; q <= base; q++)
				assert_int_equal(receive(&r, q), 0);
			assert_int_equal(receive(&r, top), 0);
			for (uint64_t q = top - w + 1; q < top; q++) {
				int want = q <= base ? KT_ERR_REPLAY : 0;
				if (kt_replay_check(&r, q) != want)
					fail_msg("window %u, jump %llu: seq %llu", w,
						 (unsigned long long)jumps[j], (unsigned long long)q);
			}
			assert_int_equal(kt_replay_check(&r, top - w), KT_ERR_TOO_OLD);
		}
		kt_replay_free(&r);
	}
}

static void test_seq32_max(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint64_t w = sizes[k], max = UINT32_MAX;
		const struct step steps[] = {
			{max, 0},
			{max, KT_ERR_REPLAY},
			{max - w + 1, 0},
			{max - w, KT_ERR_TOO_OLD},
			{max - 1, 0},
			{max - 1, KT_ERR_REPLAY},
		};
		struct kt_replay r;

		assert_int_equal(kt_replay_init(&r, (uint32_t)w, false), 0);
		assert_int_equal(kt_replay_infer(&r, UINT32_MAX), max);
		run_steps(&r, steps, sizeof(steps) / sizeof(steps[0]), (uint32_t)w);
		assert_int_equal(kt_replay_infer(&r, 5), 5); /* no ESN: high bits stay 0 */
		kt_replay_free(&r);
	}
}

static void test_init_limits(void **state)
{
	struct kt_replay r;
	(void)state;

	assert_int_equal(kt_replay_init(&r, KT_REPLAY_WINDOW_MAX + 1, false), KT_ERR_INVAL);
	kt_replay_free(&r);
	assert_int_equal(kt_replay_init(&r, KT_REPLAY_WINDOW_MAX, true), 0);
	assert_true(r.words >= KT_REPLAY_WINDOW_MAX / 64);
	kt_replay_free(&r);
	assert_int_equal(kt_replay_init(&r, 1, false), 0);
	assert_int_equal(r.words >= 1, 1);
	assert_int_equal(receive(&r, 5), 0);
	assert_int_equal(receive(&r, 4), KT_ERR_TOO_OLD);
	assert_int_equal(receive(&r, 5), KT_ERR_REPLAY);
	assert_int_equal(receive(&r, 6), 0);
	kt_replay_free(&r);
}

/* advance() on a number left of the window (a caller that skipped the
 * check) must not mark the newer number that shares its bit. */
static void test_advance_too_old(void **state)
{
	struct kt_replay r;
	(void)state;

	assert_int_equal(kt_replay_init(&r, 64, false), 0);
	kt_replay_advance(&r, 1000);
	uint64_t ring = (uint64_t)r.words * 64;
	kt_replay_advance(&r, 999 - ring);
	kt_replay_advance(&r, 999 - 2 * ring);
	assert_int_equal(kt_replay_check(&r, 999), 0);
	assert_int_equal(r.top, 1000);
	kt_replay_free(&r);
}

/* Window 0: no replay protection, everything passes; top still moves so
 * ESN inference keeps working. */
static void test_disabled(void **state)
{
	struct kt_replay r;
	(void)state;

	assert_int_equal(kt_replay_init(&r, 0, true), 0);
	assert_true(r.words >= 1);
	const uint64_t seqs[] = {1, 1, 0, 500, 3, 500};
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
		assert_int_equal(receive(&r, seqs[i]), 0);
	assert_int_equal(r.top, 500);
	kt_replay_advance(&r, E32 - 5);
	assert_int_equal(kt_replay_infer(&r, 3), E32 + 3);
	assert_int_equal(kt_replay_infer(&r, 0x80000000u), 0x80000000u);
	kt_replay_free(&r);
}

struct infer_case {
	uint32_t size;
	bool esn;
	uint64_t top, want;
	uint32_t seq_lo;
};

static void test_infer(void **state)
{
	(void)state;
	static const struct infer_case cases[] = {
		/* case A: Tl >= W - 1 */
		{64, true, E32 - 5, E32 + 3, 3},
		{64, true, E32 - 5, 0xfffffff0u, 0xfffffff0u},
		{64, true, E32 - 5, E32 - 68, (uint32_t)(E32 - 68)},          /* window bottom */
		{64, true, E32 - 5, 2 * E32 - 69, (uint32_t)(E32 - 69)},      /* below: next epoch */
		{64, true, 7 * E32 + 100, 7 * E32 + 37, 37},
		{64, true, 7 * E32 + 100, 8 * E32 + 36, 36},
		{64, true, 7 * E32 + 63, 7 * E32 + 0, 0},                    /* Tl == W - 1 */
		/* case B: Tl < W - 1 */
		{64, true, E32 + 2, 0xfffffff0u, 0xfffffff0u},
		{64, true, E32 + 2, E32 + 5, 5},
		{64, true, E32 + 2, E32 - 61, (uint32_t)(E32 - 61)},          /* window bottom */
		{64, true, E32 + 2, 2 * E32 - 62, (uint32_t)(E32 - 62)},      /* below: this epoch */
		{64, true, 7 * E32 + 62, 6 * E32 + 0xffffffffu, 0xffffffffu},
		{4096, true, E32 + 100, E32 - 3000, (uint32_t)(E32 - 3000)},
		/* Th == 0: Th - 1 would underflow */
		{64, true, 2, 0xfffffff0u, 0xfffffff0u},
		{64, true, 0, 1, 1},
		{64, true, 0, 0xffffffffu, 0xffffffffu},
		/* without ESN the high half is always 0 */
		{64, false, E32 - 5, 3, 3},
		{64, false, 5, 0xffffffffu, 0xffffffffu},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct infer_case *c = &cases[i];
		struct kt_replay r;
		uint64_t got;

		assert_int_equal(kt_replay_init(&r, c->size, c->esn), 0);
		r.top = c->top;
		got = kt_replay_infer(&r, c->seq_lo);
		if (got != c->want)
			fail_msg("infer case %zu: got %#llx, want %#llx", i + 1,
				 (unsigned long long)got, (unsigned long long)c->want);
		kt_replay_free(&r);
	}
}

/* A receiver crossing 2^32 with ESN, driven only by the low 32 bits. */
static void test_esn_crossing(void **state)
{
	struct kt_replay r;
	(void)state;

	assert_int_equal(kt_replay_init(&r, 128, true), 0);
	for (uint64_t s = E32 - 200; s < E32 - 4; s++)
		kt_replay_advance(&r, s);
	const struct {
		uint32_t lo;
		uint64_t seq;
		int want;
	} steps[] = {
		{3, E32 + 3, 0},
		{0xfffffffeu, E32 - 2, 0},
		{0xfffffffbu, E32 - 5, KT_ERR_REPLAY},
		{0, E32, 0},
		{3, E32 + 3, KT_ERR_REPLAY},
		{0xffffff84u, E32 - 124, KT_ERR_REPLAY}, /* window bottom, seen */
		{0xffffffffu, E32 - 1, 0},
		{200, E32 + 200, 0},
		{73, E32 + 73, 0},                       /* window bottom, fresh */
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		uint64_t seq = kt_replay_infer(&r, steps[i].lo);
		if (seq != steps[i].seq)
			fail_msg("step %zu: inferred %#llx, want %#llx", i + 1,
				 (unsigned long long)seq, (unsigned long long)steps[i].seq);
		assert_int_equal(receive(&r, seq), steps[i].want);
	}
	/* Below the window the low half is read as the next epoch (its ICV will
	 * fail); the old number itself is too old. */
	assert_int_equal(kt_replay_infer(&r, 72), 2 * E32 + 72);
	assert_int_equal(kt_replay_check(&r, E32 + 72), KT_ERR_TOO_OLD);
	kt_replay_free(&r);
}

/* --- Differential tests against naive references ------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

#define REF_SPAN (1u << 24) /* sequence numbers base .. base + REF_SPAN */

/* The obvious model: a set of every number ever accepted, and the top. */
struct ref {
	uint64_t base, top;
	uint32_t size;
	uint8_t *seen; /* one byte per number relative to base */
};

static int ref_check(const struct ref *m, uint64_t seq)
{
	if (seq == 0)
		return KT_ERR_REPLAY;
	if (seq > m->top)
		return 0;
	if (seq + m->size <= m->top)
		return KT_ERR_TOO_OLD;
	return m->seen[seq - m->base] ? KT_ERR_REPLAY : 0;
}

static void ref_advance(struct ref *m, uint64_t seq)
{
	m->seen[seq - m->base] = 1;
	if (seq > m->top)
		m->top = seq;
}

static uint64_t next_seq(const struct ref *m, uint64_t last)
{
	uint64_t top = m->top ? m->top : m->base + 1, r = rnd() % 100, d;

	if (r < 40)
		return top + 1 + rnd() % 3;
	if (r < 48)
		return top + 1 + rnd() % (3 * (uint64_t)m->size + 200);
	if (r < 85)
		d = rnd() % ((uint64_t)m->size + 3); /* around the window's left edge */
	else if (r < 93)
		return last;
	else
		d = rnd() % (top - m->base + 1);
	return top - m->base > d ? top - d : m->base;
}

static void differential(uint32_t size, uint64_t base, unsigned steps)
{
	struct ref m = {.base = base, .top = 0, .size = size};
	struct kt_replay r;
	uint64_t last = base + 1;

	m.seen = calloc(REF_SPAN, 1);
	assert_non_null(m.seen);
	assert_int_equal(kt_replay_init(&r, size, false), 0);
	for (unsigned i = 0; i < steps && m.top < base + REF_SPAN - 4 * (uint64_t)size - 400; i++) {
		uint64_t seq = next_seq(&m, last);
		int want = ref_check(&m, seq), got = kt_replay_check(&r, seq);

		if (got != want)
			fail_msg("window %u base %#llx step %u: seq %llu (top %llu): got %d, want %d",
				 size, (unsigned long long)base, i, (unsigned long long)seq,
				 (unsigned long long)m.top, got, want);
		if (got == 0 && rnd() % 10) { /* 1 in 10 fails its ICV: no advance */
			kt_replay_advance(&r, seq);
			ref_advance(&m, seq);
		}
		assert_int_equal(r.top, m.top);
		last = seq;
	}
	kt_replay_free(&r);
	free(m.seen);
}

static void test_differential(void **state)
{
	static const uint32_t dsizes[] = {1, 32, 63, 64, 65, 100, 128, 1000, 1024, 4096, 65536};
	static const uint64_t bases[] = {0, E32 - 5000, UINT64_MAX - REF_SPAN};
	(void)state;

	for (size_t i = 0; i < sizeof(dsizes) / sizeof(dsizes[0]); i++)
		for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++)
			differential(dsizes[i], bases[b], 100000);
}

/* Appendix A2.2 restated: the inferred number is the candidate with high
 * half Th-1, Th or Th+1 that lies in [T-W+1, T-W+1+2^32); when that is
 * below 0 (Th == 0), the high half is 0. */
static uint64_t ref_infer(uint64_t top, uint32_t w, uint32_t lo)
{
	int64_t bottom = (int64_t)top - (int64_t)w + 1;
	int64_t th = (int64_t)(top >> 32);

	for (int64_t h = th - 1; h <= th + 1; h++) {
		int64_t s = h * (int64_t)E32 + lo;
		if (h >= 0 && s >= bottom && s < bottom + (int64_t)E32)
			return (uint64_t)s;
	}
	return lo;
}

static void test_infer_differential(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 200000; i++) {
		uint32_t w = sizes[rnd() % (sizeof(sizes) / sizeof(sizes[0]))];
		uint64_t th = rnd() % 4 ? rnd() % 1000 : rnd() % 3;
		uint64_t tl = rnd() % 3 ? rnd() % (2 * (uint64_t)w) : rnd() & 0xffffffff;
		uint32_t lo = (uint32_t)(rnd() % 3 ? tl + w - rnd() % (3 * (uint64_t)w) : rnd());
		struct kt_replay r;

		if (rnd() % 2)
			tl = (E32 - tl) & 0xffffffff; /* near the top of the epoch too */
		assert_int_equal(kt_replay_init(&r, w, true), 0);
		r.top = th << 32 | tl;
		if (kt_replay_infer(&r, lo) != ref_infer(r.top, w, lo))
			fail_msg("top %#llx w %u lo %#x: got %#llx want %#llx",
				 (unsigned long long)r.top, w, lo,
				 (unsigned long long)kt_replay_infer(&r, lo),
				 (unsigned long long)ref_infer(r.top, w, lo));
		kt_replay_free(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_slide_clears),
		cmocka_unit_test(test_seq32_max),
		cmocka_unit_test(test_init_limits),
		cmocka_unit_test(test_advance_too_old),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_infer),
		cmocka_unit_test(test_esn_crossing),
		cmocka_unit_test(test_differential),
		cmocka_unit_test(test_infer_differential),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
