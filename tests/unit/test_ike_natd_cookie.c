/* Unit tests for the unkeyed hashes (core/crypto/hash.c), NAT detection
 * (core/ike/natd.c) and stateless cookies (core/ike/cookie.c): FIPS 180
 * vectors, NAT-D against values computed in Python and a one-shot EVP
 * digest of the concatenation, cookie acceptance and refusal around
 * secret rotation. */
#include <openssl/evp.h>

#include "tests/unit/testutil.h"
#include "core/crypto/hash.h"
#include "core/err.h"
#include "core/ike/cookie.h"
#include "core/ike/natd.h"

/* ---- hash ---- */

static void test_hash_vectors(void **state)
{
	uint8_t want1[20], want256[32], out1[20], out256[32];
	struct kt_chunk abc = { (const uint8_t *)"abc", 3 };
	struct kt_chunk split[] = { { (const uint8_t *)"a", 1 }, { NULL, 0 },
				    { (const uint8_t *)"bc", 2 } };
	(void)state;

	/* FIPS 180-2 appendix A.1 and B.1: "abc" */
	unhex(want1, sizeof(want1), "a9993e364706816aba3e25717850c26c9cd0d89d");
	unhex(want256, sizeof(want256),
	      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(kt_hash_sha1(&abc, 1, out1), 0);
	assert_memory_equal(out1, want1, 20);
	assert_int_equal(kt_hash_sha256(&abc, 1, out256), 0);
	assert_memory_equal(out256, want256, 32);
	/* Chunk boundaries do not matter; empty chunks are skipped. */
	assert_int_equal(kt_hash_sha1(split, 3, out1), 0);
	assert_memory_equal(out1, want1, 20);
	assert_int_equal(kt_hash_sha256(split, 3, out256), 0);
	assert_memory_equal(out256, want256, 32);
	/* The empty message. */
	unhex(want1, sizeof(want1), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	assert_int_equal(kt_hash_sha1(NULL, 0, out1), 0);
	assert_memory_equal(out1, want1, 20);
}

/* ---- NAT-D ---- */

struct natd_case {
	const char *addr;
	uint16_t port;
	uint64_t spi_i, spi_r;
	const char *want; /* Python: hashlib.sha1(pack(">QQ") + packed + pack(">H")) */
};

static const struct natd_case natd_cases[] = {
	{ "192.0.2.1", 500, 0x0123456789abcdefull, 0, "9426429034924268452f8e3ff79fb69e2a8d71eb" },
	{ "2001:db8::1", 4500, 0x0123456789abcdefull, 0xfedcba9876543210ull,
	  "9de8bfefaab479f0d5a5609a6de20595c6307502" },
};

static void oneshot_sha1(const uint8_t *p, size_t len, uint8_t out[20])
{
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(p, len, out, &n, EVP_sha1(), NULL), 1);
	assert_int_equal(n, 20);
}

static void test_natd_known(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(natd_cases) / sizeof(natd_cases[0]); i++) {
		const struct natd_case *c = &natd_cases[i];
		struct kt_addr a;
		uint8_t want[KT_IKE_NATD_LEN], got[KT_IKE_NATD_LEN];

		assert_int_equal(kt_addr_parse(&a, c->addr), 0);
		unhex(want, sizeof(want), c->want);
		assert_int_equal(kt_ike_natd_hash(c->spi_i, c->spi_r, &a, c->port, got), 0);
		assert_memory_equal(got, want, sizeof(want));
	}
}

/* Against SHA-1 of the concatenation built byte by byte, v4 and v6, with
 * random SPIs, addresses and ports; any changed input changes the hash. */
static void test_natd_concatenation(void **state)
{
	(void)state;
	for (int round = 0; round < 64; round++) {
		uint8_t rnd[8 + 8 + 16 + 2], buf[8 + 8 + 16 + 2], want[20], got[20], other[20];
		struct kt_addr a = { .version = round % 2 ? 6 : 4 };
		size_t alen = a.version == 4 ? 4 : 16, n = 0;
		uint64_t si = 0, sr = 0;
		uint16_t port;

		assert_int_equal(kt_random(rnd, sizeof(rnd)), 0);
		for (int b = 0; b < 8; b++) {
			si = si << 8 | rnd[b];
			sr = sr << 8 | rnd[8 + b];
		}
		if (round % 4 < 2)
			sr = 0; /* as in IKE_SA_INIT */
		memcpy(a.bytes, rnd + 16, alen);
		port = (uint16_t)(rnd[32] << 8 | rnd[33]);
		for (int b = 7; b >= 0; b--)
			buf[n++] = (uint8_t)(si >> (8 * b));
		for (int b = 7; b >= 0; b--)
			buf[n++] = (uint8_t)(sr >> (8 * b));
		memcpy(buf + n, a.bytes, alen);
		n += alen;
		buf[n++] = (uint8_t)(port >> 8);
		buf[n++] = (uint8_t)port;
		oneshot_sha1(buf, n, want);
		assert_int_equal(kt_ike_natd_hash(si, sr, &a, port, got), 0);
		assert_memory_equal(got, want, 20);

		assert_int_equal(kt_ike_natd_hash(si, sr, &a, (uint16_t)(port ^ 1), other), 0);
		assert_memory_not_equal(other, got, 20);
		assert_int_equal(kt_ike_natd_hash(si ^ 1, sr, &a, port, other), 0);
		assert_memory_not_equal(other, got, 20);
		assert_int_equal(kt_ike_natd_hash(si, sr ^ 1, &a, port, other), 0);
		assert_memory_not_equal(other, got, 20);
		a.bytes[alen - 1] ^= 1;
		assert_int_equal(kt_ike_natd_hash(si, sr, &a, port, other), 0);
		assert_memory_not_equal(other, got, 20);
	}
}

static void test_natd_bad_address(void **state)
{
	struct kt_addr a = { .version = 0 };
	uint8_t out[KT_IKE_NATD_LEN];
	(void)state;

	assert_int_equal(kt_ike_natd_hash(1, 2, &a, 500, out), KT_ERR_INVAL);
	a.version = 5;
	assert_int_equal(kt_ike_natd_hash(1, 2, &a, 500, out), KT_ERR_INVAL);
	assert_int_equal(kt_ike_natd_hash(1, 2, NULL, 500, out), KT_ERR_INVAL);
}

/* ---- cookies ---- */

static uint8_t ni[32];
static struct kt_addr src4, src6;
static const uint64_t spi = 0x8877665544332211ull;

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ni); i++)
		ni[i] = (uint8_t)(i + 1);
	assert_int_equal(kt_addr_parse(&src4, "198.51.100.7"), 0);
	assert_int_equal(kt_addr_parse(&src6, "2001:db8::7"), 0);
	return 0;
}

static bool check(const struct kt_ike_cookie_jar *j, const uint8_t *c, const struct kt_addr *a)
{
	return kt_ike_cookie_check(j, c, KT_IKE_COOKIE_LEN, ni, sizeof(ni), a, spi);
}

/* The layout: version | SHA-256(Ni | IPi | SPIi | secret), recomputed
 * here from the jar's secret. */
static void test_cookie_layout(void **state)
{
	struct kt_ike_cookie_jar j;
	uint8_t c[KT_IKE_COOKIE_LEN], buf[32 + 16 + 8 + 32], want[32];
	unsigned int n = 0;
	size_t len = 0;
	(void)state;

	assert_int_equal(kt_ike_cookie_init(&j, 5 * KT_SECONDS), 0);
	assert_true(j.rotated == 5 * KT_SECONDS);
	assert_false(j.has_prev);
	for (int round = 0; round < 2; round++) {
		const struct kt_addr *a = round ? &src6 : &src4;
		size_t alen = round ? 16 : 4;

		assert_int_equal(kt_ike_cookie_make(&j, ni, sizeof(ni), a, spi, c), 0);
		assert_int_equal(c[0] << 24 | c[1] << 16 | c[2] << 8 | c[3], j.version);
		len = 0;
		memcpy(buf, ni, sizeof(ni));
		len += sizeof(ni);
		memcpy(buf + len, a->bytes, alen);
		len += alen;
		for (int b = 7; b >= 0; b--)
			buf[len++] = (uint8_t)(spi >> (8 * b));
		memcpy(buf + len, j.secret, 32);
		len += 32;
		assert_int_equal(EVP_Digest(buf, len, want, &n, EVP_sha256(), NULL), 1);
		assert_memory_equal(c + 4, want, 32);
		assert_true(check(&j, c, a));
	}
	kt_ike_cookie_wipe(&j);
}

static void test_cookie_refusals(void **state)
{
	struct kt_ike_cookie_jar j, other;
	uint8_t c[KT_IKE_COOKIE_LEN], t[KT_IKE_COOKIE_LEN + 1], bad_ni[sizeof(ni)];
	struct kt_addr a = src4;
	(void)state;

	assert_int_equal(kt_ike_cookie_init(&j, 0), 0);
	assert_int_equal(kt_ike_cookie_init(&other, 0), 0);
	assert_int_equal(kt_ike_cookie_make(&j, ni, sizeof(ni), &src4, spi, c), 0);
	assert_true(check(&j, c, &src4));
	/* Another jar (another daemon or a restart) has another secret. */
	assert_false(check(&other, c, &src4));
	/* Wrong Ni, shorter Ni, wrong address, other family, wrong SPI. */
	memcpy(bad_ni, ni, sizeof(ni));
	bad_ni[7] ^= 1;
	assert_false(kt_ike_cookie_check(&j, c, sizeof(c), bad_ni, sizeof(ni), &src4, spi));
	assert_false(kt_ike_cookie_check(&j, c, sizeof(c), ni, sizeof(ni) - 1, &src4, spi));
	a.bytes[3] ^= 1;
	assert_false(check(&j, c, &a));
	assert_false(check(&j, c, &src6));
	assert_false(kt_ike_cookie_check(&j, c, sizeof(c), ni, sizeof(ni), &src4, spi + 1));
	/* Each byte of the cookie matters; other lengths are refused. */
	for (size_t i = 0; i < sizeof(c); i++) {
		memcpy(t, c, sizeof(c));
		t[i] ^= 0x10;
		assert_false(check(&j, t, &src4));
	}
	memcpy(t, c, sizeof(c));
	t[sizeof(c)] = 0;
	assert_false(kt_ike_cookie_check(&j, t, sizeof(c) + 1, ni, sizeof(ni), &src4, spi));
	assert_false(kt_ike_cookie_check(&j, c, sizeof(c) - 1, ni, sizeof(ni), &src4, spi));
	assert_false(kt_ike_cookie_check(&j, NULL, 0, ni, sizeof(ni), &src4, spi));
	/* Unusable inputs. */
	assert_int_equal(kt_ike_cookie_make(&j, ni, 0, &src4, spi, c), KT_ERR_INVAL);
	a.version = 0;
	assert_int_equal(kt_ike_cookie_make(&j, ni, sizeof(ni), &a, spi, c), KT_ERR_INVAL);
	assert_false(check(&j, c, &a));
	kt_ike_cookie_wipe(&j);
	kt_ike_cookie_wipe(&other);
}

/* A cookie made before one rotation is still good; after two it is not. A
 * cookie is never accepted under a version it does not carry. */
static void test_cookie_rotation(void **state)
{
	struct kt_ike_cookie_jar j;
	uint8_t c0[KT_IKE_COOKIE_LEN], c1[KT_IKE_COOKIE_LEN], forged[KT_IKE_COOKIE_LEN];
	uint8_t old_secret[32];
	uint32_t v0;
	(void)state;

	assert_int_equal(kt_ike_cookie_init(&j, 0), 0);
	v0 = j.version;
	memcpy(old_secret, j.secret, 32);
	assert_int_equal(kt_ike_cookie_make(&j, ni, sizeof(ni), &src4, spi, c0), 0);

	assert_int_equal(kt_ike_cookie_rotate(&j, 120 * KT_SECONDS), 0);
	assert_int_equal(j.version, v0 + 1);
	assert_true(j.has_prev);
	assert_true(j.rotated == 120 * KT_SECONDS);
	assert_memory_equal(j.prev, old_secret, 32);
	assert_memory_not_equal(j.secret, old_secret, 32);
	assert_true(check(&j, c0, &src4));
	assert_int_equal(kt_ike_cookie_make(&j, ni, sizeof(ni), &src4, spi, c1), 0);
	assert_memory_not_equal(c0, c1, sizeof(c0));
	assert_true(check(&j, c1, &src4));
	/* The old cookie's hash under the new version number is no cookie. */
	memcpy(forged, c0, sizeof(forged));
	memcpy(forged, c1, 4);
	assert_false(check(&j, forged, &src4));

	assert_int_equal(kt_ike_cookie_rotate(&j, 240 * KT_SECONDS), 0);
	assert_false(check(&j, c0, &src4));
	assert_true(check(&j, c1, &src4));
	assert_int_equal(kt_ike_cookie_rotate(&j, 360 * KT_SECONDS), 0);
	assert_false(check(&j, c1, &src4));
	kt_ike_cookie_wipe(&j);
}

/* Versions wrap around without confusing current and previous. */
static void test_cookie_version_wrap(void **state)
{
	struct kt_ike_cookie_jar j;
	uint8_t c[KT_IKE_COOKIE_LEN];
	(void)state;

	assert_int_equal(kt_ike_cookie_init(&j, 0), 0);
	j.version = UINT32_MAX;
	assert_int_equal(kt_ike_cookie_make(&j, ni, sizeof(ni), &src6, spi, c), 0);
	assert_int_equal(kt_ike_cookie_rotate(&j, 1), 0);
	assert_int_equal(j.version, 0);
	assert_true(check(&j, c, &src6));
	assert_int_equal(kt_ike_cookie_rotate(&j, 2), 0);
	assert_false(check(&j, c, &src6));
	kt_ike_cookie_wipe(&j);
}

static void test_cookie_wipe(void **state)
{
	struct kt_ike_cookie_jar j, zero;
	(void)state;

	assert_int_equal(kt_ike_cookie_init(&j, 7), 0);
	assert_int_equal(kt_ike_cookie_rotate(&j, 8), 0);
	kt_ike_cookie_wipe(&j);
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(&j, &zero, sizeof(j));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_vectors),
		cmocka_unit_test(test_natd_known),
		cmocka_unit_test(test_natd_concatenation),
		cmocka_unit_test(test_natd_bad_address),
		cmocka_unit_test(test_cookie_layout),
		cmocka_unit_test(test_cookie_refusals),
		cmocka_unit_test(test_cookie_rotation),
		cmocka_unit_test(test_cookie_version_wrap),
		cmocka_unit_test(test_cookie_wipe),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
