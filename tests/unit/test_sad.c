/* SAD tests: install/find/remove, validation, destination matching, a large
 * table, lifetimes by bytes, packets and time with the exact event
 * sequence, sequence number exhaustion, the bounded event queue and moving
 * an SA to a peer's new address after a NAT mapping change. */
#include "tests/unit/testutil.h"

#include "core/err.h"
#include "core/esp.h"
#include "core/ip.h"
#include "core/sad.h"

static const uint8_t key36[36] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
	19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36,
};
static const uint8_t key64[64] = { 0x42 };

static struct kt_addr addr(const char *s)
{
	struct kt_addr a;
	assert_int_equal(kt_addr_parse(&a, s), 0);
	return a;
}

/* An inbound AES-128-GCM transport SA. */
static struct kt_sa_params gcm_params(uint32_t spi, uint8_t dir)
{
	struct kt_sa_params p = {
		.spi = spi, .proto = KT_IPPROTO_ESP, .mode = KT_MODE_TRANSPORT, .dir = dir,
		.xf = { .encr = KT_ENCR_AES_GCM_16, .encr_key_bits = 128,
			.encr_key = key36, .encr_key_len = 20 },
	};
	return p;
}

static struct kt_sa *add_ok(struct kt_sad *sad, const struct kt_sa_params *p, kt_tstamp now)
{
	struct kt_sa *sa = NULL;
	assert_int_equal(kt_sad_add(sad, p, now, &sa), 0);
	assert_non_null(sa);
	return sa;
}

static void expect_event(struct kt_sad *sad, uint8_t type, uint8_t limit, uint32_t spi)
{
	struct kt_sa_event ev;
	assert_true(kt_sad_next_event(sad, &ev));
	assert_int_equal(ev.type, type);
	assert_int_equal(ev.limit, limit);
	assert_int_equal(ev.spi, spi);
}

static void expect_no_event(struct kt_sad *sad)
{
	struct kt_sa_event ev;
	assert_false(kt_sad_next_event(sad, &ev));
}

static void test_add_lookup_remove(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = gcm_params(0x1000, KT_DIR_IN);
	p.dst = addr("192.0.2.1");
	p.cookie = 77;
	p.seq_start = 9;
	struct kt_sa *sa = add_ok(sad, &p, 5 * KT_SECONDS);
	struct kt_addr d = addr("192.0.2.1");

	assert_int_equal(kt_sad_count(sad), 1);
	assert_ptr_equal(kt_sad_lookup(sad, 0x1000, KT_IPPROTO_ESP, KT_DIR_IN, &d), sa);
	assert_null(kt_sad_lookup(sad, 0x1000, KT_IPPROTO_ESP, KT_DIR_OUT, &d));
	assert_null(kt_sad_lookup(sad, 0x1000, KT_IPPROTO_AH, KT_DIR_IN, &d));
	assert_null(kt_sad_lookup(sad, 0x1001, KT_IPPROTO_ESP, KT_DIR_IN, &d));
	/* What was stored: a copy without key pointers, keyed contexts, window. */
	assert_null(sa->p.xf.encr_key);
	assert_null(sa->p.xf.integ_key);
	assert_int_equal(sa->p.cookie, 77);
	assert_int_equal(sa->seq, 9);
	assert_int_equal(sa->created, 5 * KT_SECONDS);
	/* An inbound SA is keyed for opening only. */
	assert_non_null(sa->xf.dec_ctx);
	assert_null(sa->xf.enc_ctx);
	assert_int_equal(sa->replay.size, KT_REPLAY_WINDOW_DEFAULT);
	assert_true(kt_sa_usable(sa));

	kt_sad_remove(sad, sa);
	assert_int_equal(kt_sad_count(sad), 0);
	assert_null(kt_sad_lookup(sad, 0x1000, KT_IPPROTO_ESP, KT_DIR_IN, &d));
	kt_sad_del(sad);
}

static void test_replay_window_setting(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = gcm_params(1, KT_DIR_IN);
	p.replay_window = 1024;
	assert_int_equal(add_ok(sad, &p, 0)->replay.size, 1024);
	p = gcm_params(2, KT_DIR_IN);
	p.no_replay = true;
	p.replay_window = 1024;
	assert_int_equal(add_ok(sad, &p, 0)->replay.size, 0);
	p = gcm_params(3, KT_DIR_OUT);
	assert_null(add_ok(sad, &p, 0)->replay.bitmap); /* outbound: no window */
	kt_sad_del(sad);
}

struct bad_case {
	const char *name;
	void (*edit)(struct kt_sa_params *p);
	int err;
};

static void spi0(struct kt_sa_params *p) { p->spi = 0; }
static void proto_tcp(struct kt_sa_params *p) { p->proto = KT_IPPROTO_TCP; }
static void mode0(struct kt_sa_params *p) { p->mode = 0; }
static void mode3(struct kt_sa_params *p) { p->mode = 3; }
static void dir0(struct kt_sa_params *p) { p->dir = 0; }
static void dir3(struct kt_sa_params *p) { p->dir = 3; }
static void esp_encr_none(struct kt_sa_params *p) { p->xf.encr = KT_ENCR_NONE; }
static void esp_null_no_integ(struct kt_sa_params *p)
{
	p->xf = (struct kt_xform_params){ .encr = KT_ENCR_NULL };
}
static void aead_with_integ(struct kt_sa_params *p)
{
	p->xf.integ = KT_INTEG_HMAC_SHA2_256_128;
	p->xf.integ_key = key64;
	p->xf.integ_key_len = 32;
}
static void ah_with_encr(struct kt_sa_params *p)
{
	p->proto = KT_IPPROTO_AH;
	aead_with_integ(p);
}
static void ah_no_integ(struct kt_sa_params *p)
{
	p->proto = KT_IPPROTO_AH;
	p->xf = (struct kt_xform_params){ .encr = KT_ENCR_NONE };
}
static void short_key(struct kt_sa_params *p) { p->xf.encr_key_len = 16; }
static void des_no_legacy(struct kt_sa_params *p)
{
	p->xf = (struct kt_xform_params){ .encr = KT_ENCR_3DES_CBC, .encr_key = key36,
					  .encr_key_len = 24, .integ = KT_INTEG_HMAC_SHA2_256_128,
					  .integ_key = key64, .integ_key_len = 32 };
}
static void md5_no_legacy(struct kt_sa_params *p)
{
	p->xf = (struct kt_xform_params){ .encr = KT_ENCR_AES_CBC, .encr_key_bits = 128,
					  .encr_key = key36, .encr_key_len = 16,
					  .integ = KT_INTEG_HMAC_MD5_96, .integ_key = key64,
					  .integ_key_len = 16 };
}
static void window_too_big(struct kt_sa_params *p) { p->replay_window = KT_REPLAY_WINDOW_MAX + 1; }
static void tunnel_out_no_addr(struct kt_sa_params *p)
{
	p->dir = KT_DIR_OUT;
	p->mode = KT_MODE_TUNNEL;
}
static void tunnel_out_mixed(struct kt_sa_params *p)
{
	tunnel_out_no_addr(p);
	p->src = addr("192.0.2.1");
	p->dst = addr("2001:db8::1");
}
static void too_many_ts(struct kt_sa_params *p) { p->n_local_ts = KT_SA_MAX_TS + 1; }

static const struct bad_case bad_cases[] = {
	{ "SPI 0 is reserved", spi0, KT_ERR_INVAL },
	{ "protocol not ESP/AH", proto_tcp, KT_ERR_INVAL },
	{ "mode 0", mode0, KT_ERR_INVAL },
	{ "mode 3", mode3, KT_ERR_INVAL },
	{ "dir 0", dir0, KT_ERR_INVAL },
	{ "dir 3", dir3, KT_ERR_INVAL },
	{ "ESP without encryption", esp_encr_none, KT_ERR_INVAL },
	{ "ESP NULL without integrity", esp_null_no_integ, KT_ERR_INVAL },
	{ "AEAD with integrity", aead_with_integ, KT_ERR_INVAL },
	{ "AH with encryption", ah_with_encr, KT_ERR_INVAL },
	{ "AH without integrity", ah_no_integ, KT_ERR_INVAL },
	{ "wrong key length", short_key, KT_ERR_INVAL },
	{ "3DES not marked legacy", des_no_legacy, KT_ERR_LEGACY },
	{ "HMAC-MD5 not marked legacy", md5_no_legacy, KT_ERR_LEGACY },
	{ "replay window too big", window_too_big, KT_ERR_INVAL },
	{ "outbound tunnel without addresses", tunnel_out_no_addr, KT_ERR_INVAL },
	{ "outbound tunnel v4 to v6", tunnel_out_mixed, KT_ERR_INVAL },
	{ "too many selectors", too_many_ts, KT_ERR_INVAL },
};

static void test_add_refused(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct kt_sa_params p = gcm_params(0x2000, KT_DIR_IN);
		struct kt_sa *sa = (struct kt_sa *)&sad; /* must be left alone */
		bad_cases[i].edit(&p);
		int err = kt_sad_add(sad, &p, 0, &sa);
		if (err != bad_cases[i].err)
			fail_msg("%s: got %d (%s), want %d", bad_cases[i].name, err,
				 kt_strerror(err), bad_cases[i].err);
		assert_ptr_equal(sa, (struct kt_sa *)&sad);
		assert_int_equal(kt_sad_count(sad), 0);
	}
	kt_sad_del(sad);
}

static void test_legacy_allowed_and_ah(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = gcm_params(0x3000, KT_DIR_IN);
	des_no_legacy(&p);
	p.xf.allow_legacy = true;
	add_ok(sad, &p, 0);
	p = gcm_params(0x3001, KT_DIR_IN);
	p.proto = KT_IPPROTO_AH;
	p.xf = (struct kt_xform_params){ .encr = KT_ENCR_NONE, .integ = KT_INTEG_HMAC_SHA2_256_128,
					 .integ_key = key64, .integ_key_len = 32 };
	struct kt_sa *ah = add_ok(sad, &p, 0);
	assert_ptr_equal(kt_sad_lookup(sad, 0x3001, KT_IPPROTO_AH, KT_DIR_IN, NULL), ah);
	p = gcm_params(0x3002, KT_DIR_IN);
	p.xf = (struct kt_xform_params){ .encr = KT_ENCR_NULL, .integ = KT_INTEG_HMAC_SHA2_256_128,
					 .integ_key = key64, .integ_key_len = 32 };
	add_ok(sad, &p, 0);
	assert_int_equal(kt_sad_count(sad), 3);
	kt_sad_del(sad);
}

static void test_duplicates(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = gcm_params(0x4000, KT_DIR_IN);
	p.dst = addr("192.0.2.1");
	add_ok(sad, &p, 0);
	assert_int_equal(kt_sad_add(sad, &p, 0, NULL), KT_ERR_EXISTS);
	struct kt_sa_params q = p;
	q.dir = KT_DIR_OUT; /* same SPI the other way */
	add_ok(sad, &q, 0);
	q = p;
	q.dst = addr("192.0.2.2"); /* another local address */
	add_ok(sad, &q, 0);
	q = p;
	q.dst = addr("::ffff:192.0.2.1"); /* another family */
	add_ok(sad, &q, 0);
	q = p;
	q.dst.version = 0; /* any destination */
	memset(q.dst.bytes, 0, sizeof(q.dst.bytes));
	add_ok(sad, &q, 0);
	assert_int_equal(kt_sad_add(sad, &q, 0, NULL), KT_ERR_EXISTS);
	assert_int_equal(kt_sad_count(sad), 5);
	kt_sad_del(sad);
}

static void test_dst_matching(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = gcm_params(0x5000, KT_DIR_IN);
	p.dst = addr("192.0.2.1");
	struct kt_sa *bound = add_ok(sad, &p, 0);
	struct kt_addr d1 = addr("192.0.2.1"), d2 = addr("192.0.2.2"), d6 = addr("2001:db8::1");

	assert_ptr_equal(kt_sad_lookup(sad, 0x5000, KT_IPPROTO_ESP, KT_DIR_IN, &d1), bound);
	assert_null(kt_sad_lookup(sad, 0x5000, KT_IPPROTO_ESP, KT_DIR_IN, &d2));
	assert_null(kt_sad_lookup(sad, 0x5000, KT_IPPROTO_ESP, KT_DIR_IN, &d6));

	p.dst = (struct kt_addr){ 0 };
	struct kt_sa *any = add_ok(sad, &p, 0);
	/* The SA bound to the address wins over the wildcard, whatever the order. */
	assert_ptr_equal(kt_sad_lookup(sad, 0x5000, KT_IPPROTO_ESP, KT_DIR_IN, &d1), bound);
	assert_ptr_equal(kt_sad_lookup(sad, 0x5000, KT_IPPROTO_ESP, KT_DIR_IN, &d2), any);
	assert_ptr_equal(kt_sad_lookup(sad, 0x5000, KT_IPPROTO_ESP, KT_DIR_IN, &d6), any);

	kt_sad_remove(sad, any);
	assert_null(kt_sad_lookup(sad, 0x5000, KT_IPPROTO_ESP, KT_DIR_IN, &d2));
	assert_ptr_equal(kt_sad_lookup(sad, 0x5000, KT_IPPROTO_ESP, KT_DIR_IN, &d1), bound);
	kt_sad_del(sad);
}

#define MANY 10000

static uint32_t next_rand(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s;
}

static void count_cb(struct kt_sa *sa, void *arg)
{
	uint64_t *sum = arg;
	sum[0]++;
	sum[1] += sa->p.cookie;
}

static void test_many(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	static struct kt_sa *sas[MANY];
	static uint32_t spis[MANY];
	uint32_t rnd = 1;
	uint64_t want_sum = 0;

	for (size_t i = 0; i < MANY; i++) {
		/* Distinct SPIs: random high bits, the index in the low bits. */
		spis[i] = (next_rand(&rnd) & 0xffff0000u) | (uint32_t)(i + 1);
		struct kt_sa_params p = gcm_params(spis[i], i % 2 ? KT_DIR_IN : KT_DIR_OUT);
		p.cookie = i;
		p.replay_window = 32;
		sas[i] = add_ok(sad, &p, 0);
		want_sum += i;
	}
	assert_int_equal(kt_sad_count(sad), MANY);
	for (size_t i = 0; i < MANY; i++)
		assert_ptr_equal(kt_sad_lookup(sad, spis[i], KT_IPPROTO_ESP,
					       i % 2 ? KT_DIR_IN : KT_DIR_OUT, NULL), sas[i]);
	uint64_t sum[2] = { 0, 0 };
	kt_sad_foreach(sad, count_cb, sum);
	assert_int_equal(sum[0], MANY);
	assert_int_equal(sum[1], want_sum);
	/* SPIs never installed (low bits 0) are not found. */
	for (uint32_t i = 1; i < 1000; i++)
		assert_null(kt_sad_lookup(sad, i << 16, KT_IPPROTO_ESP, KT_DIR_IN, NULL));
	for (size_t i = 0; i < MANY; i += 2)
		kt_sad_remove(sad, sas[i]);
	assert_int_equal(kt_sad_count(sad), MANY / 2);
	for (size_t i = 0; i < MANY; i++) {
		struct kt_sa *f = kt_sad_lookup(sad, spis[i], KT_IPPROTO_ESP,
						i % 2 ? KT_DIR_IN : KT_DIR_OUT, NULL);
		if (i % 2)
			assert_ptr_equal(f, sas[i]);
		else
			assert_null(f);
	}
	kt_sad_del(sad);
}

static void test_lifetime_bytes(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = gcm_params(0x6000, KT_DIR_OUT);
	p.soft.bytes = 1000;
	p.hard.bytes = 2000;
	p.cookie = 99;
	struct kt_sa *sa = add_ok(sad, &p, 0);

	assert_int_equal(kt_sa_account(sad, sa, 400), 0);
	assert_int_equal(kt_sa_account(sad, sa, 400), 0);
	expect_no_event(sad);
	assert_int_equal(kt_sa_account(sad, sa, 400), 0); /* 1200: soft */
	struct kt_sa_event ev;
	assert_true(kt_sad_next_event(sad, &ev));
	assert_int_equal(ev.type, KT_SA_EV_SOFT);
	assert_int_equal(ev.limit, KT_LIMIT_BYTES);
	assert_int_equal(ev.spi, 0x6000);
	assert_int_equal(ev.proto, KT_IPPROTO_ESP);
	assert_int_equal(ev.dir, KT_DIR_OUT);
	assert_int_equal(ev.cookie, 99);
	expect_no_event(sad);
	assert_int_equal(kt_sa_account(sad, sa, 400), 0);
	expect_no_event(sad); /* soft fires once */
	assert_true(kt_sa_usable(sa));
	assert_int_equal(kt_sa_account(sad, sa, 400), 0); /* 2000: hard, still passes */
	expect_event(sad, KT_SA_EV_HARD, KT_LIMIT_BYTES, 0x6000);
	expect_no_event(sad);
	assert_false(kt_sa_usable(sa));
	assert_int_equal(kt_sa_account(sad, sa, 1), KT_ERR_EXPIRED);
	expect_no_event(sad);
	assert_int_equal(sa->stats.packets, 5);
	assert_int_equal(sa->stats.bytes, 2000);
	kt_sad_del(sad);
}

static void test_lifetime_packets(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = gcm_params(0x6001, KT_DIR_IN);
	p.soft.packets = 3;
	p.hard.packets = 5;
	struct kt_sa *sa = add_ok(sad, &p, 0);

	for (int i = 1; i <= 5; i++) {
		assert_int_equal(kt_sa_account(sad, sa, 10), 0);
		if (i == 3)
			expect_event(sad, KT_SA_EV_SOFT, KT_LIMIT_PACKETS, 0x6001);
		if (i == 5)
			expect_event(sad, KT_SA_EV_HARD, KT_LIMIT_PACKETS, 0x6001);
		expect_no_event(sad);
	}
	assert_int_equal(kt_sa_account(sad, sa, 10), KT_ERR_EXPIRED);
	kt_sad_del(sad);
}

/* One big packet crosses both limits: soft is reported before hard. */
static void test_lifetime_soft_and_hard_at_once(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = gcm_params(0x6002, KT_DIR_OUT);
	p.soft.bytes = 10;
	p.hard.bytes = 20;
	p.hard.packets = 1; /* bytes are reported first */
	struct kt_sa *sa = add_ok(sad, &p, 0);
	assert_int_equal(kt_sa_account(sad, sa, 100), 0);
	expect_event(sad, KT_SA_EV_SOFT, KT_LIMIT_BYTES, 0x6002);
	expect_event(sad, KT_SA_EV_HARD, KT_LIMIT_BYTES, 0x6002);
	expect_no_event(sad);
	kt_sad_del(sad);
}

static void test_lifetime_time(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	assert_int_equal(kt_sad_next_expiry(sad), KT_TSTAMP_NEVER);
	struct kt_sa_params p = gcm_params(0x7000, KT_DIR_OUT);
	p.soft.time = 10 * KT_SECONDS;
	p.hard.time = 20 * KT_SECONDS;
	struct kt_sa *a = add_ok(sad, &p, 100 * KT_SECONDS);
	p = gcm_params(0x7001, KT_DIR_IN);
	p.hard.time = 15 * KT_SECONDS;
	struct kt_sa *b = add_ok(sad, &p, 100 * KT_SECONDS);
	p = gcm_params(0x7002, KT_DIR_IN); /* no limits at all */
	add_ok(sad, &p, 0);

	assert_int_equal(kt_sad_next_expiry(sad), 110 * KT_SECONDS);
	kt_sad_handle_expiry(sad, 110 * KT_SECONDS - 1);
	expect_no_event(sad);
	kt_sad_handle_expiry(sad, 110 * KT_SECONDS);
	expect_event(sad, KT_SA_EV_SOFT, KT_LIMIT_TIME, 0x7000);
	expect_no_event(sad);
	assert_true(kt_sa_usable(a));
	assert_int_equal(kt_sad_next_expiry(sad), 115 * KT_SECONDS);
	kt_sad_handle_expiry(sad, 116 * KT_SECONDS);
	expect_event(sad, KT_SA_EV_HARD, KT_LIMIT_TIME, 0x7001);
	expect_no_event(sad);
	assert_false(kt_sa_usable(b));
	assert_int_equal(kt_sa_account(sad, b, 1), KT_ERR_EXPIRED);
	assert_int_equal(kt_sad_next_expiry(sad), 120 * KT_SECONDS);
	kt_sad_handle_expiry(sad, 120 * KT_SECONDS - 1);
	expect_no_event(sad);
	kt_sad_handle_expiry(sad, 120 * KT_SECONDS);
	expect_event(sad, KT_SA_EV_HARD, KT_LIMIT_TIME, 0x7000);
	expect_no_event(sad);
	assert_int_equal(kt_sad_next_expiry(sad), KT_TSTAMP_NEVER);
	kt_sad_handle_expiry(sad, 900 * KT_SECONDS); /* nothing fires twice */
	expect_no_event(sad);
	kt_sad_del(sad);
}

/* Soft reached by bytes first is not reported again when its time comes. */
static void test_lifetime_soft_once_across_kinds(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = gcm_params(0x7100, KT_DIR_OUT);
	p.soft.bytes = 1;
	p.soft.time = KT_SECONDS;
	struct kt_sa *sa = add_ok(sad, &p, 0);
	assert_int_equal(kt_sa_account(sad, sa, 5), 0);
	expect_event(sad, KT_SA_EV_SOFT, KT_LIMIT_BYTES, 0x7100);
	assert_int_equal(kt_sad_next_expiry(sad), KT_TSTAMP_NEVER);
	kt_sad_handle_expiry(sad, 10 * KT_SECONDS);
	expect_no_event(sad);
	kt_sad_del(sad);
}

static void test_exhaustion_32(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = gcm_params(0x8000, KT_DIR_OUT);
	p.seq_start = 0xfffffffe;
	struct kt_sa *sa = add_ok(sad, &p, 0);
	uint64_t seq = 0;

	assert_int_equal(kt_sa_next_seq(sad, sa, &seq), 0);
	assert_int_equal(seq, 0xffffffffu);
	expect_no_event(sad);
	assert_true(kt_sa_usable(sa));
	seq = 7;
	assert_int_equal(kt_sa_next_seq(sad, sa, &seq), KT_ERR_EXHAUSTED);
	assert_int_equal(seq, 7);
	expect_event(sad, KT_SA_EV_EXHAUSTED, KT_LIMIT_SEQ, 0x8000);
	assert_false(kt_sa_usable(sa));
	assert_int_equal(kt_sa_next_seq(sad, sa, &seq), KT_ERR_EXHAUSTED);
	expect_no_event(sad); /* queued once */
	assert_int_equal(sa->seq, 0xffffffffu); /* never wraps */
	kt_sad_del(sad);
}

static void test_exhaustion_esn(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = gcm_params(0x8001, KT_DIR_OUT);
	p.esn = true;
	p.seq_start = 0xfffffffe;
	struct kt_sa *sa = add_ok(sad, &p, 0);
	uint64_t seq;

	/* With ESN the 32-bit boundary is just another number. */
	assert_int_equal(kt_sa_next_seq(sad, sa, &seq), 0);
	assert_int_equal(seq, 0xffffffffu);
	assert_int_equal(kt_sa_next_seq(sad, sa, &seq), 0);
	assert_int_equal(seq, 0x100000000ull);
	expect_no_event(sad);

	p.spi = 0x8002;
	p.seq_start = UINT64_MAX - 1;
	sa = add_ok(sad, &p, 0);
	assert_int_equal(kt_sa_next_seq(sad, sa, &seq), 0);
	assert_true(seq == UINT64_MAX);
	assert_int_equal(kt_sa_next_seq(sad, sa, &seq), KT_ERR_EXHAUSTED);
	expect_event(sad, KT_SA_EV_EXHAUSTED, KT_LIMIT_SEQ, 0x8002);
	assert_int_equal(kt_sa_next_seq(sad, sa, &seq), KT_ERR_EXHAUSTED);
	expect_no_event(sad);
	assert_false(kt_sa_usable(sa));
	kt_sad_del(sad);
}

#define EV_SAS 300
#define EV_RING 256 /* sad.c's queue size, observable through lost_events */

static void test_event_overflow(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa *sas[EV_SAS];
	for (int i = 0; i < EV_SAS; i++) {
		struct kt_sa_params p = gcm_params(0x9000 + i, KT_DIR_OUT);
		p.soft.packets = 1;
		p.cookie = i;
		sas[i] = add_ok(sad, &p, 0);
	}
	for (int i = 0; i < EV_SAS; i++)
		assert_int_equal(kt_sa_account(sad, sas[i], 1), 0);
	assert_int_equal(kt_sad_lost_events(sad), EV_SAS - EV_RING);
	/* The oldest were overwritten: the first left is number 44. */
	struct kt_sa_event ev;
	for (int i = EV_SAS - EV_RING; i < EV_SAS; i++) {
		assert_true(kt_sad_next_event(sad, &ev));
		assert_int_equal(ev.cookie, i);
		assert_int_equal(ev.spi, 0x9000 + i);
	}
	expect_no_event(sad);
	/* The queue works normally after being drained. */
	struct kt_sa_params p = gcm_params(0xa000, KT_DIR_OUT);
	p.hard.packets = 1;
	struct kt_sa *sa = add_ok(sad, &p, 0);
	assert_int_equal(kt_sa_account(sad, sa, 1), 0);
	expect_event(sad, KT_SA_EV_HARD, KT_LIMIT_PACKETS, 0xa000);
	expect_no_event(sad);
	assert_int_equal(kt_sad_lost_events(sad), EV_SAS - EV_RING);
	kt_sad_del(sad);
}

static void remove_cb(struct kt_sa *sa, void *arg)
{
	kt_sad_remove(arg, sa);
}

static void test_foreach_remove_all(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	for (uint32_t i = 1; i <= 100; i++) {
		struct kt_sa_params p = gcm_params(i, KT_DIR_IN);
		add_ok(sad, &p, 0);
	}
	kt_sad_foreach(sad, remove_cb, sad);
	assert_int_equal(kt_sad_count(sad), 0);
	kt_sad_del(sad);
	kt_sad_del(NULL);
}

/* ---- kt_sad_set_peer ---- */

#define NAT_PORT 61000

/* An outbound ESP-in-UDP tunnel SA 192.0.2.1:4500 -> 198.51.100.2:4500. */
static struct kt_sa_params encap_out_params(uint32_t spi)
{
	struct kt_sa_params p = gcm_params(spi, KT_DIR_OUT);
	p.mode = KT_MODE_TUNNEL;
	p.src = addr("192.0.2.1");
	p.dst = addr("198.51.100.2");
	p.encap = true;
	p.encap_sport = p.encap_dport = KT_NAT_T_PORT;
	return p;
}

/* Seal a small packet 10.1.0.1 -> 10.2.0.1 with sa; the outer header. */
static void seal_one(struct kt_sad *sad, struct kt_sa *sa, struct kt_ip_info *outer)
{
	static uint8_t buf[KT_PKT_HEADROOM + 64 + KT_PKT_TAILROOM];
	struct kt_addr s = addr("10.1.0.1"), d = addr("10.2.0.1");
	struct kt_pkt pkt = { buf, sizeof(buf), KT_PKT_HEADROOM, 0 };
	int h = kt_ip_build(buf + KT_PKT_HEADROOM, &s, &d, KT_IPPROTO_UDP, 8, 0, 64, 1);

	assert_true(h > 0);
	memset(buf + KT_PKT_HEADROOM + h, 0, 8);
	pkt.len = (size_t)h + 8;
	assert_int_equal(kt_esp_seal(sad, sa, &pkt), 0);
	assert_int_equal(kt_ip_parse(kt_pkt_data(&pkt), pkt.len, outer), 0);
}

static void test_set_peer_outbound(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	/* Neighbours in every chain, and a table that has grown. */
	for (uint32_t i = 1; i <= 100; i++) {
		struct kt_sa_params q = encap_out_params(0x7000 + i);
		add_ok(sad, &q, 0);
	}
	struct kt_sa_params p = encap_out_params(0x7000);
	struct kt_sa *sa = add_ok(sad, &p, 0);
	struct kt_addr old = p.dst, moved = addr("203.0.113.9"), us = p.src;
	struct kt_ip_info ip;

	seal_one(sad, sa, &ip);
	assert_true(kt_addr_equal(&ip.dst, &old));
	assert_int_equal(ip.dport, KT_NAT_T_PORT);

	assert_int_equal(kt_sad_set_peer(sad, sa, &moved, NAT_PORT), 0);
	assert_true(kt_addr_equal(&sa->p.dst, &moved));
	assert_int_equal(sa->p.encap_dport, NAT_PORT);
	assert_true(kt_addr_equal(&sa->p.src, &us)); /* our side stays */
	assert_int_equal(sa->p.encap_sport, KT_NAT_T_PORT);
	seal_one(sad, sa, &ip);
	assert_int_equal(ip.proto, KT_IPPROTO_UDP);
	assert_true(kt_addr_equal(&ip.dst, &moved));
	assert_true(kt_addr_equal(&ip.src, &us));
	assert_int_equal(ip.dport, NAT_PORT);
	assert_int_equal(ip.sport, KT_NAT_T_PORT);

	assert_ptr_equal(kt_sad_lookup(sad, 0x7000, KT_IPPROTO_ESP, KT_DIR_OUT, &moved), sa);
	assert_null(kt_sad_lookup(sad, 0x7000, KT_IPPROTO_ESP, KT_DIR_OUT, &old));
	/* The old dst is free again; the new one is taken. */
	assert_int_equal(kt_sad_add(sad, &p, 0, NULL), 0);
	p.dst = moved;
	assert_int_equal(kt_sad_add(sad, &p, 0, NULL), KT_ERR_EXISTS);
	assert_int_equal(kt_sad_count(sad), 102);
	kt_sad_remove(sad, sa);
	assert_int_equal(kt_sad_count(sad), 101);
	assert_null(kt_sad_lookup(sad, 0x7000, KT_IPPROTO_ESP, KT_DIR_OUT, &moved));
	assert_non_null(kt_sad_lookup(sad, 0x7000, KT_IPPROTO_ESP, KT_DIR_OUT, &old));
	assert_non_null(kt_sad_lookup(sad, 0x7001, KT_IPPROTO_ESP, KT_DIR_OUT, &old));
	kt_sad_del(sad);
}

static void test_set_peer_inbound(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = gcm_params(0x7100, KT_DIR_IN);
	p.src = addr("2001:db8::2");
	p.dst = addr("2001:db8::1");
	p.encap = true;
	p.encap_sport = p.encap_dport = KT_NAT_T_PORT;
	struct kt_sa *sa = add_ok(sad, &p, 0);
	struct kt_addr moved = addr("2001:db8:f::9"), us = p.dst;

	assert_int_equal(kt_sad_set_peer(sad, sa, &moved, NAT_PORT), 0);
	assert_true(kt_addr_equal(&sa->p.src, &moved));
	assert_int_equal(sa->p.encap_sport, NAT_PORT);
	assert_true(kt_addr_equal(&sa->p.dst, &us));
	assert_int_equal(sa->p.encap_dport, KT_NAT_T_PORT);
	/* Inbound SAs are found by our address, which did not move. */
	assert_ptr_equal(kt_sad_lookup(sad, 0x7100, KT_IPPROTO_ESP, KT_DIR_IN, &us), sa);
	assert_null(kt_sad_lookup(sad, 0x7100, KT_IPPROTO_ESP, KT_DIR_IN, &moved));
	kt_sad_remove(sad, sa);
	assert_int_equal(kt_sad_count(sad), 0);
	kt_sad_del(sad);
}

/* Without ESP in UDP there is no port to move. */
static void test_set_peer_no_encap(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa_params p = encap_out_params(0x7200);
	p.encap = false;
	p.encap_sport = p.encap_dport = 0;
	struct kt_sa *sa = add_ok(sad, &p, 0);
	struct kt_addr moved = addr("203.0.113.9");
	struct kt_ip_info ip;

	assert_int_equal(kt_sad_set_peer(sad, sa, &moved, NAT_PORT), 0);
	assert_int_equal(sa->p.encap_dport, 0);
	seal_one(sad, sa, &ip);
	assert_int_equal(ip.proto, KT_IPPROTO_ESP);
	assert_true(kt_addr_equal(&ip.dst, &moved));
	kt_sad_del(sad);
}

static void test_set_peer_refused(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new(), *other = kt_sad_new();
	struct kt_sa_params p = encap_out_params(0x7300);
	struct kt_sa *sa = add_ok(sad, &p, 0);
	struct kt_sa_params q = encap_out_params(0x7300);
	q.dst = addr("203.0.113.9");
	struct kt_sa *twin = add_ok(sad, &q, 0);
	struct kt_sa *stranger = add_ok(other, &p, 0);
	struct kt_addr v6 = addr("2001:db8::9"), unset = { 0 }, free_v4 = addr("203.0.113.10");
	struct kt_sa_params in = gcm_params(0x7301, KT_DIR_IN);
	in.src = addr("198.51.100.2");
	struct kt_sa *sa_in = add_ok(sad, &in, 0);

	/* Another family than the SA's outer header, or no address. */
	assert_int_equal(kt_sad_set_peer(sad, sa, &v6, NAT_PORT), KT_ERR_INVAL);
	assert_int_equal(kt_sad_set_peer(sad, sa_in, &v6, NAT_PORT), KT_ERR_INVAL);
	assert_int_equal(kt_sad_set_peer(sad, sa, &unset, NAT_PORT), KT_ERR_INVAL);
	/* Not in this SAD. */
	assert_int_equal(kt_sad_set_peer(sad, stranger, &free_v4, NAT_PORT), KT_ERR_INVAL);
	/* Same SPI to the same peer address: lookups could not tell them apart. */
	assert_int_equal(kt_sad_set_peer(sad, sa, &q.dst, NAT_PORT), KT_ERR_EXISTS);
	/* Nothing changed. */
	assert_true(kt_addr_equal(&sa->p.dst, &p.dst));
	assert_int_equal(sa->p.encap_dport, KT_NAT_T_PORT);
	assert_true(kt_addr_equal(&sa_in->p.src, &in.src));
	assert_true(kt_addr_equal(&stranger->p.dst, &p.dst));
	assert_ptr_equal(kt_sad_lookup(sad, 0x7300, KT_IPPROTO_ESP, KT_DIR_OUT, &p.dst), sa);
	assert_ptr_equal(kt_sad_lookup(sad, 0x7300, KT_IPPROTO_ESP, KT_DIR_OUT, &q.dst), twin);
	/* Setting the address it already has is fine. */
	assert_int_equal(kt_sad_set_peer(sad, sa, &p.dst, KT_NAT_T_PORT), 0);
	assert_ptr_equal(kt_sad_lookup(sad, 0x7300, KT_IPPROTO_ESP, KT_DIR_OUT, &p.dst), sa);
	assert_int_equal(kt_sad_count(sad), 3);
	kt_sad_del(other);
	kt_sad_del(sad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_lookup_remove),
		cmocka_unit_test(test_replay_window_setting),
		cmocka_unit_test(test_add_refused),
		cmocka_unit_test(test_legacy_allowed_and_ah),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_dst_matching),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_lifetime_bytes),
		cmocka_unit_test(test_lifetime_packets),
		cmocka_unit_test(test_lifetime_soft_and_hard_at_once),
		cmocka_unit_test(test_lifetime_time),
		cmocka_unit_test(test_lifetime_soft_once_across_kinds),
		cmocka_unit_test(test_exhaustion_32),
		cmocka_unit_test(test_exhaustion_esn),
		cmocka_unit_test(test_event_overflow),
		cmocka_unit_test(test_foreach_remove_all),
		cmocka_unit_test(test_set_peer_outbound),
		cmocka_unit_test(test_set_peer_inbound),
		cmocka_unit_test(test_set_peer_no_encap),
		cmocka_unit_test(test_set_peer_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
