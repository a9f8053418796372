/* kt_ts_prefixes: a selector's address range as the fewest prefixes that
 * cover it exactly (what a routing table can hold). A table of ranges with
 * their known decompositions, and random IPv4 and IPv6 ranges checked
 * against a deliberately naive reference (walk the range, grow each block
 * while it stays aligned and inside). */
#include "core/err.h"
#include "core/ts.h"
#include "tests/unit/testutil.h"

static struct kt_ts R(const char *text)
{
	struct kt_ts ts;
	assert_int_equal(kt_ts_parse(&ts, text), 0);
	return ts;
}

static const struct {
	const char *range;
	const char *want; /* the prefixes, space separated */
} cases[] = {
	{ "10.1.0.0/24", "10.1.0.0/24" },
	{ "192.0.2.7", "192.0.2.7/32" },
	{ "0.0.0.0/0", "0.0.0.0/0" },
	{ "10.0.0.1-10.0.0.6", "10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32" },
	{ "10.0.0.0-10.0.1.255", "10.0.0.0/23" },
	{ "10.0.0.255-10.0.1.0", "10.0.0.255/32 10.0.1.0/32" },
	{ "0.0.0.1-255.255.255.255",
	  "0.0.0.1/32 0.0.0.2/31 0.0.0.4/30 0.0.0.8/29 0.0.0.16/28 0.0.0.32/27 0.0.0.64/26 "
	  "0.0.0.128/25 0.0.1.0/24 0.0.2.0/23 0.0.4.0/22 0.0.8.0/21 0.0.16.0/20 0.0.32.0/19 "
	  "0.0.64.0/18 0.0.128.0/17 0.1.0.0/16 0.2.0.0/15 0.4.0.0/14 0.8.0.0/13 0.16.0.0/12 "
	  "0.32.0.0/11 0.64.0.0/10 0.128.0.0/9 1.0.0.0/8 2.0.0.0/7 4.0.0.0/6 8.0.0.0/5 "
	  "16.0.0.0/4 32.0.0.0/3 64.0.0.0/2 128.0.0.0/1" },
	{ "255.255.255.255", "255.255.255.255/32" },
	{ "::/0", "::/0" },
	{ "2001:db8::/32", "2001:db8::/32" },
	{ "2001:db8::1-2001:db8::2", "2001:db8::1/128 2001:db8::2/128" },
	{ "2001:db8::-2001:db8::1:0", "2001:db8::/112 2001:db8::1:0/128" },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127" },
};

static void format_all(const struct kt_addr *a, const uint8_t *lens, size_t n, char *out,
		       size_t cap)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char b[64];
		used += (size_t)snprintf(out + used, cap - used, "%s%s/%u", i ? " " : "",
					 kt_addr_format(&a[i], b, sizeof(b)), lens[i]);
		assert_true(used < cap);
	}
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_addr a[KT_TS_MAX_PREFIXES];
		uint8_t lens[KT_TS_MAX_PREFIXES];
		struct kt_ts ts = R(cases[i].range);
		size_t n = kt_ts_prefixes(&ts, a, lens, KT_TS_MAX_PREFIXES);
		char got[4096];
		format_all(a, lens, n, got, sizeof(got));
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].range, got, cases[i].want);
	}
}

static void test_worst_cases_fit_the_bound(void **state)
{
	(void)state;
	struct kt_addr a[KT_TS_MAX_PREFIXES];
	uint8_t lens[KT_TS_MAX_PREFIXES];
	struct kt_ts v4 = R("0.0.0.1-255.255.255.254");
	struct kt_ts v6 = R("::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	assert_int_equal(kt_ts_prefixes(&v4, a, lens, KT_TS_MAX_PREFIXES), 62);
	assert_int_equal(kt_ts_prefixes(&v6, a, lens, KT_TS_MAX_PREFIXES), KT_TS_MAX_PREFIXES);
	assert_int_equal(lens[0], 128);
	assert_int_equal(lens[KT_TS_MAX_PREFIXES - 1], 128);
}

static void test_short_array_and_bad_ranges(void **state)
{
	(void)state;
	struct kt_addr a[2];
	uint8_t lens[2];
	struct kt_ts ts = R("10.0.0.1-10.0.0.6");
	assert_int_equal(kt_ts_prefixes(&ts, a, lens, 2), 4); /* needs 4, wrote 2 */
	assert_int_equal(lens[0], 32);
	assert_int_equal(lens[1], 31);
	struct kt_ts bad = ts;
	bad.start = ts.end;
	bad.end = ts.start;
	assert_int_equal(kt_ts_prefixes(&bad, a, lens, 2), 0);
	struct kt_ts mixed = ts;
	mixed.end = R("2001:db8::1").end;
	assert_int_equal(kt_ts_prefixes(&mixed, a, lens, 2), 0);
	struct kt_ts unset = { 0 };
	assert_int_equal(kt_ts_prefixes(&unset, a, lens, 2), 0);
}

/* ---- differential: a naive reference on 64-bit integers ---- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* Can the block at cur grow to 2^k addresses (aligned, inside end)? */
static bool can_grow(uint64_t cur, uint64_t end, unsigned k)
{
	if (k == 64)
		return cur == 0 && end == UINT64_MAX;
	uint64_t size = (uint64_t)1 << k;
	return cur % size == 0 && end - cur >= size - 1;
}

/* Greedy from the start: the biggest aligned block that stays inside. */
static size_t naive(uint64_t start, uint64_t end, unsigned bits, uint64_t *bases, uint8_t *lens)
{
	size_t n = 0;
	uint64_t cur = start;
	for (;;) {
		unsigned k = 0;
		while (k < bits && can_grow(cur, end, k + 1))
			k++;
		bases[n] = cur;
		lens[n++] = (uint8_t)(bits - k);
		uint64_t last = k == 64 ? UINT64_MAX : cur + ((uint64_t)1 << k) - 1;
		if (last >= end)
			return n;
		cur = last + 1;
	}
}

static void set_low(struct kt_addr *a, uint8_t version, uint64_t v)
{
	memset(a, 0, sizeof(*a));
	a->version = version;
	size_t len = version == 6 ? 16 : 4;
	if (version == 6) { /* a fixed /64 above the random low half */
		a->bytes[0] = 0x20;
		a->bytes[1] = 0x01;
	}
	for (size_t i = len; i-- > len - (version == 6 ? 8 : 4); v >>= 8)
		a->bytes[i] = (uint8_t)v;
}

static void differential(uint8_t version)
{
	unsigned bits = version == 6 ? 64 : 32;
	for (int iter = 0; iter < 20000; iter++) {
		uint64_t mask = bits == 64 ? UINT64_MAX : 0xffffffffu;
		/* Mostly short spans, some long ones, to reach both edges. */
		uint64_t s = rnd() & mask, span = rnd() >> (rnd() % 64);
		if (bits == 32)
			span &= mask;
		uint64_t e = s + span < s || s + span > mask ? mask : s + span;
		struct kt_ts ts = { .proto = 0, .port_end = 0xffff };
		set_low(&ts.start, version, s);
		set_low(&ts.end, version, e);
		uint64_t bases[140];
		uint8_t nlens[140], lens[KT_TS_MAX_PREFIXES];
		struct kt_addr a[KT_TS_MAX_PREFIXES];
		size_t want = naive(s, e, bits, bases, nlens);
		size_t got = kt_ts_prefixes(&ts, a, lens, KT_TS_MAX_PREFIXES);
		assert_int_equal(got, want);
		for (size_t i = 0; i < got; i++) {
			struct kt_addr w;
			set_low(&w, version, bases[i]);
			assert_true(kt_addr_equal(&a[i], &w));
			assert_int_equal(lens[i], nlens[i] + (version == 6 ? 64 : 0));
		}
	}
}

static void test_differential_v4(void **state)
{
	(void)state;
	differential(4);
}

static void test_differential_v6(void **state)
{
	(void)state;
	differential(6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_worst_cases_fit_the_bound),
		cmocka_unit_test(test_short_array_and_bad_ranges),
		cmocka_unit_test(test_differential_v4),
		cmocka_unit_test(test_differential_v6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
