/* PRF and key schedule tests: RFC 4868 §2.7.1 PRF vectors, prf+ against a
 * naive T1, T2, ... chain built on kt_prf, the splitting of SKEYSEED's
 * and SK_d's output into keys, limits and refusals. */
#include "tests/unit/testutil.h"

#include "core/crypto/prf.h"
#include "core/err.h"

static const uint16_t modern[] = { KT_PRF_HMAC_SHA2_256, KT_PRF_HMAC_SHA2_384,
				   KT_PRF_HMAC_SHA2_512 };
#define N_MODERN (sizeof(modern) / sizeof(modern[0]))

static void prf_open(struct kt_prf *prf, uint16_t id)
{
	int rc = kt_prf_init(prf, id, false);

	if (rc != 0)
		fail_msg("kt_prf_init(%u): %s", id, kt_strerror(rc));
}

/* ---- RFC 4868 §2.7.1 ---- */

struct vector {
	const char *name;
	const char *key;    /* hex; NULL: 131 bytes of 0xaa */
	const char *data;   /* text, or hex when data_hex */
	bool data_hex;
	const char *out[3]; /* SHA2-256, -384, -512 */
};

static const struct vector vectors[] = {
	{ "PRF-1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There", false, {
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	  "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
	  "faea9ea9076ede7f4af152e8b2fa9cb6",
	  "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
	  "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" } },
	{ "PRF-2", "4a656665", "what do ya want for nothing?", false, {
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	  "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
	  "8e2240ca5e69e2c78b3239ecfab21649",
	  "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
	  "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" } },
	{ "PRF-3", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  "dddddddddddddddddddddddddddddddddddddddddddddddddd"
	  "dddddddddddddddddddddddddddddddddddddddddddddddddd", true, {
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
	  "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b"
	  "2a5ab39dc13814b94e3ab6e101a34f27",
	  "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
	  "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb" } },
	{ "PRF-4", "0102030405060708090a0b0c0d0e0f10111213141516171819",
	  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
	  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd", true, {
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
	  "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e"
	  "6801dd23c4a7d679ccf8a386c674cffb",
	  "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
	  "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd" } },
	{ "PRF-5", NULL, "Test Using Larger Than Block-Size Key - Hash Key First", false, {
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	  "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
	  "0c2ef6ab4030fe8296248df163f44952",
	  "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
	  "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598" } },
	{ "PRF-6", NULL, "This is a test using a larger than block-size key and a larger "
	  "than block-size data. The key needs to be hashed before being used by the "
	  "HMAC algorithm.", false, {
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
	  "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5"
	  "a678cc31e799176d3860e6110c46523e",
	  "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
	  "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58" } },
};

static size_t vector_key(const struct vector *v, uint8_t *key, size_t cap)
{
	if (v->key)
		return unhex(key, cap, v->key);
	memset(key, 0xaa, 131);
	return 131;
}

static size_t vector_data(const struct vector *v, uint8_t *data, size_t cap)
{
	size_t n;

	if (v->data_hex)
		return unhex(data, cap, v->data);
	n = strlen(v->data);
	assert_true(n <= cap);
	memcpy(data, v->data, n);
	return n;
}

/* Each vector whole and cut into three chunks: the same output. */
static void test_rfc4868_vectors(void **state)
{
	(void)state;
	for (size_t h = 0; h < N_MODERN; h++) {
		struct kt_prf prf;

		prf_open(&prf, modern[h]);
		for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
			const struct vector *v = &vectors[i];
			uint8_t key[160], data[200], want[KT_PRF_MAX_LEN], got[KT_PRF_MAX_LEN];
			size_t klen = vector_key(v, key, sizeof(key));
			size_t dlen = vector_data(v, data, sizeof(data));
			size_t wlen = unhex(want, sizeof(want), v->out[h]);
			struct kt_chunk whole = { data, dlen };
			struct kt_chunk cut[] = { { data, 1 }, { data + 1, 0 },
						  { data + 1, dlen - 1 } };

			assert_int_equal(wlen, kt_prf_len(&prf));
			assert_int_equal(kt_prf(&prf, key, klen, &whole, 1, got), (int)wlen);
			if (memcmp(got, want, wlen) != 0)
				fail_msg("%s, PRF %u: wrong output", v->name, modern[h]);
			memset(got, 0, sizeof(got));
			assert_int_equal(kt_prf(&prf, key, klen, cut, 3, got), (int)wlen);
			if (memcmp(got, want, wlen) != 0)
				fail_msg("%s, PRF %u, chunked: wrong output", v->name, modern[h]);
		}
		kt_prf_free(&prf);
	}
}

/* ---- prf+ against the chain written out naively ---- */

#define SEED_CAP 600

/* T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n), one flat buffer each. */
static void naive_prf_plus(struct kt_prf *prf, const uint8_t *key, size_t key_len,
			   const uint8_t *seed, size_t seed_len, uint8_t *out, size_t out_len)
{
	uint8_t buf[KT_PRF_MAX_LEN + SEED_CAP + 1], t[KT_PRF_MAX_LEN];
	size_t h = kt_prf_len(prf), tlen = 0, done = 0;
	unsigned n = 1;

	assert_true(seed_len <= SEED_CAP);
	while (done < out_len) {
		struct kt_chunk c = { buf, tlen + seed_len + 1 };
		size_t take = out_len - done < h ? out_len - done : h;

		memcpy(buf, t, tlen);
		memcpy(buf + tlen, seed, seed_len);
		buf[tlen + seed_len] = (uint8_t)n++;
		assert_int_equal(kt_prf(prf, key, key_len, &c, 1, t), (int)h);
		memcpy(out + done, t, take);
		done += take;
		tlen = h;
	}
}

static void fill(uint8_t *p, size_t len, uint8_t start)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(start + i * 7);
}

static void test_prf_plus_naive(void **state)
{
	uint8_t key[48], seed[100];

	(void)state;
	fill(key, sizeof(key), 1);
	fill(seed, sizeof(seed), 50);
	for (size_t h = 0; h < N_MODERN; h++) {
		struct kt_prf prf;
		size_t hl;

		prf_open(&prf, modern[h]);
		hl = kt_prf_len(&prf);
		const size_t lens[] = { 0, 1, hl - 1, hl, hl + 1, 3 * hl + 5, 255 * hl };
		const size_t seed_lens[] = { 0, 1, sizeof(seed) };

		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			for (size_t s = 0; s < 3; s++) {
				static uint8_t got[255 * KT_PRF_MAX_LEN], want[255 * KT_PRF_MAX_LEN];

				memset(got, 0, lens[i]);
				naive_prf_plus(&prf, key, sizeof(key), seed, seed_lens[s], want, lens[i]);
				assert_int_equal(kt_prf_plus(&prf, key, sizeof(key), seed, seed_lens[s],
							     got, lens[i]), 0);
				if (memcmp(got, want, lens[i]) != 0)
					fail_msg("PRF %u, %zu bytes, seed %zu: prf+ differs",
						 modern[h], lens[i], seed_lens[s]);
			}
		}
		kt_prf_free(&prf);
	}
}

/* A prefix of a longer prf+ output is the shorter output. */
static void test_prf_plus_prefix(void **state)
{
	struct kt_prf prf;
	uint8_t key[32], seed[40], longer[200], shorter[77];

	(void)state;
	fill(key, sizeof(key), 3);
	fill(seed, sizeof(seed), 9);
	prf_open(&prf, KT_PRF_HMAC_SHA2_384);
	assert_int_equal(kt_prf_plus(&prf, key, sizeof(key), seed, sizeof(seed), longer, sizeof(longer)), 0);
	assert_int_equal(kt_prf_plus(&prf, key, sizeof(key), seed, sizeof(seed), shorter, sizeof(shorter)), 0);
	assert_memory_equal(longer, shorter, sizeof(shorter));
	kt_prf_free(&prf);
}

/* RFC 7296 §2.13: 255 blocks at most; the output is wiped on refusal. */
static void test_prf_plus_limit(void **state)
{
	static uint8_t out[255 * KT_PRF_MAX_LEN + 1];
	uint8_t key[32] = { 1 };

	(void)state;
	for (size_t h = 0; h < N_MODERN; h++) {
		struct kt_prf prf;
		size_t max;

		prf_open(&prf, modern[h]);
		max = 255 * kt_prf_len(&prf);
		assert_int_equal(kt_prf_plus(&prf, key, sizeof(key), NULL, 0, out, max), 0);
		memset(out, 0xee, sizeof(out));
		assert_int_equal(kt_prf_plus(&prf, key, sizeof(key), NULL, 0, out, max + 1),
				 KT_ERR_INVAL);
		assert_int_equal(kt_prf_plus(&prf, NULL, 0, NULL, 0, out, 10), KT_ERR_INVAL);
		kt_prf_free(&prf);
	}
}

/* ---- algorithms, legacy, bad arguments ---- */

static void test_algorithms(void **state)
{
	static const struct {
		uint16_t id;
		int init;         /* without allow_legacy */
		size_t len;
		const char *name;
	} cases[] = {
		{ KT_PRF_HMAC_SHA2_256, 0, 32, "prfsha256" },
		{ KT_PRF_HMAC_SHA2_384, 0, 48, "prfsha384" },
		{ KT_PRF_HMAC_SHA2_512, 0, 64, "prfsha512" },
		{ KT_PRF_HMAC_SHA1, KT_ERR_LEGACY, 20, "prfsha1" },
		{ 1, KT_ERR_UNSUPPORTED, 0, NULL },  /* HMAC-MD5 */
		{ 4, KT_ERR_UNSUPPORTED, 0, NULL },  /* AES128-XCBC */
		{ 0, KT_ERR_UNSUPPORTED, 0, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_prf prf;
		const char *name = kt_prf_name(cases[i].id);

		assert_int_equal(kt_prf_init(&prf, cases[i].id, false), cases[i].init);
		if (cases[i].init != 0)
			assert_null(prf.ctx); /* nothing to free after a failure */
		kt_prf_free(&prf);
		assert_int_equal(kt_prf_is_legacy(cases[i].id), cases[i].init == KT_ERR_LEGACY);
		if (cases[i].name)
			assert_string_equal(name, cases[i].name);
		else
			assert_null(name);
		if (cases[i].len == 0)
			continue;
		assert_int_equal(kt_prf_init(&prf, cases[i].id, true), 0);
		assert_int_equal(kt_prf_len(&prf), cases[i].len);
		kt_prf_free(&prf);
		kt_prf_free(&prf); /* a freed object may be freed again */
	}
}

/* HMAC-SHA1 works once allowed: RFC 2202 test case 1. */
static void test_legacy_sha1(void **state)
{
	struct kt_prf prf;
	uint8_t key[20], out[KT_PRF_MAX_LEN], want[20];
	struct kt_chunk data = { (const uint8_t *)"Hi There", 8 };

	(void)state;
	memset(key, 0x0b, sizeof(key));
	unhex(want, sizeof(want), "b617318655057264e28bc0b6fb378c8ef146be00");
	assert_int_equal(kt_prf_init(&prf, KT_PRF_HMAC_SHA1, true), 0);
	assert_int_equal(kt_prf(&prf, key, sizeof(key), &data, 1, out), 20);
	assert_memory_equal(out, want, 20);
	kt_prf_free(&prf);
}

/* An empty key is refused, not silently replaced by the previous key. */
static void test_bad_arguments(void **state)
{
	struct kt_prf prf, zero;
	uint8_t key[32] = { 7 }, out[KT_PRF_MAX_LEN];
	struct kt_chunk data = { key, 4 }, holey = { NULL, 4 };

	(void)state;
	memset(&zero, 0, sizeof(zero));
	prf_open(&prf, KT_PRF_HMAC_SHA2_256);
	assert_int_equal(kt_prf(&prf, key, sizeof(key), &data, 1, out), 32);
	assert_int_equal(kt_prf(&prf, key, 0, &data, 1, out), KT_ERR_INVAL);
	assert_int_equal(kt_prf(&prf, NULL, 4, &data, 1, out), KT_ERR_INVAL);
	assert_int_equal(kt_prf(&prf, key, sizeof(key), &holey, 1, out), KT_ERR_INVAL);
	assert_int_equal(kt_prf(&zero, key, sizeof(key), &data, 1, out), KT_ERR_INVAL);
	kt_prf_free(&prf);
}

/* ---- the key schedule ---- */

struct sizes {
	const char *what;
	size_t encr, integ;
};

static const struct sizes suites[] = {
	{ "aes128gcm16", 16 + 4, 0 },
	{ "aes256gcm16", 32 + 4, 0 },
	{ "aes128-sha256", 16, 32 },
	{ "aes256-sha512", 32, 64 },
	{ "null-sha384", 0, 48 },
};
#define N_SUITES (sizeof(suites) / sizeof(suites[0]))

struct material {
	uint8_t gir[256], ni[48], nr[32], spi_i[8], spi_r[8], sk_d[64];
};

static void material_init(struct material *m)
{
	fill(m->gir, sizeof(m->gir), 0x10);
	fill(m->ni, sizeof(m->ni), 0x20);
	fill(m->nr, sizeof(m->nr), 0x30);
	fill(m->spi_i, 8, 0x40);
	fill(m->spi_r, 8, 0x50);
	fill(m->sk_d, sizeof(m->sk_d), 0x60);
}

static struct kt_kdf_in kdf_in(const struct material *m, const struct sizes *s)
{
	return (struct kt_kdf_in){
		.g_ir = m->gir, .g_ir_len = sizeof(m->gir),
		.ni = m->ni, .ni_len = sizeof(m->ni), .nr = m->nr, .nr_len = sizeof(m->nr),
		.spi_i = m->spi_i, .spi_r = m->spi_r,
		.encr_key_len = s->encr, .integ_key_len = s->integ,
	};
}

static size_t cat(uint8_t *dst, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	memcpy(dst, a, an);
	memcpy(dst + an, b, bn);
	return an + bn;
}

/* Check one key of len bytes at *off in keymat and that the bytes after it
 * in its array stayed zero. */
static void expect_key(const char *what, const uint8_t *key, size_t cap, const uint8_t *keymat,
		       size_t *off, size_t len)
{
	if (memcmp(key, keymat + *off, len) != 0)
		fail_msg("%s differs from keymat[%zu..%zu)", what, *off, *off + len);
	for (size_t i = len; i < cap; i++)
		if (key[i])
			fail_msg("%s: byte %zu past its length is set", what, i);
	*off += len;
}

/* The seven keys are, in order, the bytes of the naive prf+ stream. */
static void check_ike_split(struct kt_prf *prf, const uint8_t *skeyseed, const struct kt_kdf_in *in,
			    const struct kt_ike_keys *k, const char *what)
{
	uint8_t seed[SEED_CAP], keymat[1024];
	size_t p = kt_prf_len(prf), a = in->integ_key_len, e = in->encr_key_len, off = 0;
	size_t slen = cat(seed, in->ni, in->ni_len, in->nr, in->nr_len);

	slen += cat(seed + slen, in->spi_i, 8, in->spi_r, 8);
	naive_prf_plus(prf, skeyseed, p, seed, slen, keymat, 3 * p + 2 * a + 2 * e);
	assert_int_equal(k->prf_len, p);
	assert_int_equal(k->integ_len, a);
	assert_int_equal(k->encr_len, e);
	expect_key(what, k->sk_d, sizeof(k->sk_d), keymat, &off, p);
	expect_key(what, k->sk_ai, sizeof(k->sk_ai), keymat, &off, a);
	expect_key(what, k->sk_ar, sizeof(k->sk_ar), keymat, &off, a);
	expect_key(what, k->sk_ei, sizeof(k->sk_ei), keymat, &off, e);
	expect_key(what, k->sk_er, sizeof(k->sk_er), keymat, &off, e);
	expect_key(what, k->sk_pi, sizeof(k->sk_pi), keymat, &off, p);
	expect_key(what, k->sk_pr, sizeof(k->sk_pr), keymat, &off, p);
}

/* SKEYSEED = prf(Ni | Nr, g^ir) with the nonces as the HMAC key as is. */
static void test_ike_keys(void **state)
{
	struct material m;

	(void)state;
	material_init(&m);
	for (size_t h = 0; h < N_MODERN; h++) {
		struct kt_prf prf;

		prf_open(&prf, modern[h]);
		for (size_t s = 0; s < N_SUITES; s++) {
			struct kt_kdf_in in = kdf_in(&m, &suites[s]);
			uint8_t nonces[80], skeyseed[KT_PRF_MAX_LEN];
			struct kt_chunk gir = { m.gir, sizeof(m.gir) };
			struct kt_ike_keys k;

			assert_int_equal(kt_ike_keys_derive(&prf, &in, &k), 0);
			cat(nonces, m.ni, sizeof(m.ni), m.nr, sizeof(m.nr));
			assert_int_equal(kt_prf(&prf, nonces, sizeof(nonces), &gir, 1, skeyseed),
					 (int)kt_prf_len(&prf));
			check_ike_split(&prf, skeyseed, &in, &k, suites[s].what);
			kt_ike_keys_wipe(&k);
		}
		kt_prf_free(&prf);
	}
}

/* RFC 7296 §2.18: the old SA's PRF makes SKEYSEED from the old SK_d, the
 * new SA's PRF splits it. */
static void test_ike_rekey(void **state)
{
	struct kt_prf oldp, newp;
	struct material m;
	struct kt_kdf_in in;
	struct kt_ike_keys k, same_prf;
	uint8_t data[400], skeyseed[KT_PRF_MAX_LEN];
	struct kt_chunk c;

	(void)state;
	material_init(&m);
	in = kdf_in(&m, &suites[2]);
	prf_open(&oldp, KT_PRF_HMAC_SHA2_256);
	prf_open(&newp, KT_PRF_HMAC_SHA2_512);
	assert_int_equal(kt_ike_keys_rekey(&oldp, m.sk_d, 32, &newp, &in, &k), 0);
	c.p = data;
	c.len = cat(data, m.gir, sizeof(m.gir), m.ni, sizeof(m.ni));
	memcpy(data + c.len, m.nr, sizeof(m.nr));
	c.len += sizeof(m.nr);
	assert_int_equal(kt_prf(&oldp, m.sk_d, 32, &c, 1, skeyseed), 32);
	/* the split keys with SKEYSEED as long as the old PRF's output */
	{
		uint8_t seed[SEED_CAP], keymat[1024];
		size_t slen = cat(seed, m.ni, sizeof(m.ni), m.nr, sizeof(m.nr)), off = 0;

		slen += cat(seed + slen, m.spi_i, 8, m.spi_r, 8);
		naive_prf_plus(&newp, skeyseed, 32, seed, slen, keymat, 3 * 64 + 2 * 32 + 2 * 16);
		assert_int_equal(k.prf_len, 64);
		expect_key("SK_d", k.sk_d, sizeof(k.sk_d), keymat, &off, 64);
		expect_key("SK_ai", k.sk_ai, sizeof(k.sk_ai), keymat, &off, 32);
		expect_key("SK_ar", k.sk_ar, sizeof(k.sk_ar), keymat, &off, 32);
		expect_key("SK_ei", k.sk_ei, sizeof(k.sk_ei), keymat, &off, 16);
		expect_key("SK_er", k.sk_er, sizeof(k.sk_er), keymat, &off, 16);
		expect_key("SK_pi", k.sk_pi, sizeof(k.sk_pi), keymat, &off, 64);
		expect_key("SK_pr", k.sk_pr, sizeof(k.sk_pr), keymat, &off, 64);
	}
	/* which PRF makes SKEYSEED matters */
	assert_int_equal(kt_ike_keys_rekey(&newp, m.sk_d, 32, &newp, &in, &same_prf), 0);
	assert_memory_not_equal(k.sk_d, same_prf.sk_d, 64);
	kt_ike_keys_wipe(&k);
	kt_ike_keys_wipe(&same_prf);
	kt_prf_free(&oldp);
	kt_prf_free(&newp);
}

/* KEYMAT = prf+(SK_d, [g^ir |] Ni | Nr) = encr_i | integ_i | encr_r | integ_r. */
static void test_child_keys(void **state)
{
	struct material m;

	(void)state;
	material_init(&m);
	for (size_t h = 0; h < N_MODERN; h++) {
		struct kt_prf prf;

		prf_open(&prf, modern[h]);
		for (size_t s = 0; s < N_SUITES; s++) {
			for (int pfs = 0; pfs < 2; pfs++) {
				struct kt_kdf_in in = kdf_in(&m, &suites[s]);
				uint8_t seed[SEED_CAP], keymat[512];
				size_t e = suites[s].encr, a = suites[s].integ, off = 0, slen = 0;
				struct kt_child_keys k;

				if (!pfs) {
					in.g_ir = NULL;
					in.g_ir_len = 0;
				} else {
					memcpy(seed, m.gir, sizeof(m.gir));
					slen = sizeof(m.gir);
				}
				in.spi_i = in.spi_r = NULL; /* not used for a CHILD_SA */
				slen += cat(seed + slen, m.ni, sizeof(m.ni), m.nr, sizeof(m.nr));
				assert_int_equal(kt_child_keys_derive(&prf, m.sk_d, kt_prf_len(&prf),
								      &in, &k), 0);
				naive_prf_plus(&prf, m.sk_d, kt_prf_len(&prf), seed, slen, keymat,
					       2 * (e + a));
				assert_int_equal(k.encr_len, e);
				assert_int_equal(k.integ_len, a);
				expect_key("encr_i", k.encr_i, sizeof(k.encr_i), keymat, &off, e);
				expect_key("integ_i", k.integ_i, sizeof(k.integ_i), keymat, &off, a);
				expect_key("encr_r", k.encr_r, sizeof(k.encr_r), keymat, &off, e);
				expect_key("integ_r", k.integ_r, sizeof(k.integ_r), keymat, &off, a);
				kt_child_keys_wipe(&k);
			}
		}
		kt_prf_free(&prf);
	}
}

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/* Out-of-range inputs are refused and leave no keys behind. */
static void test_kdf_refusals(void **state)
{
	struct kt_prf p256, p512;
	struct material m;
	uint8_t longnonce[257] = { 0 };

	(void)state;
	material_init(&m);
	prf_open(&p256, KT_PRF_HMAC_SHA2_256);
	prf_open(&p512, KT_PRF_HMAC_SHA2_512);
	const struct {
		const char *what;
		struct kt_prf *prf;
	} cases[] = {
		{ "nonce of 15 bytes", &p256 },
		{ "nonce of 257 bytes", &p256 },
		{ "nonce under half the PRF key (31 < 64/2)", &p512 },
		{ "no g^ir", &p256 },
		{ "no SPIr", &p256 },
		{ "encryption key over 64", &p256 },
		{ "g^ir pointer with zero length", &p256 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_kdf_in in = kdf_in(&m, &suites[2]);
		struct kt_ike_keys k;

		switch (i) {
		case 0: in.nr_len = 15; break;
		case 1: in.ni = longnonce; in.ni_len = sizeof(longnonce); break;
		case 2: in.nr_len = 31; break;
		case 3: in.g_ir = NULL; in.g_ir_len = 0; break;
		case 4: in.spi_r = NULL; break;
		case 5: in.encr_key_len = KT_KDF_MAX_KEY + 1; break;
		case 6: in.g_ir_len = 0; break;
		}
		memset(&k, 0xa5, sizeof(k));
		if (kt_ike_keys_derive(cases[i].prf, &in, &k) != KT_ERR_INVAL)
			fail_msg("%s: not refused", cases[i].what);
		assert_true(all_zero(&k, sizeof(k)));
	}
	/* the same boundaries accepted */
	{
		struct kt_kdf_in in = kdf_in(&m, &suites[2]);
		struct kt_ike_keys k;

		in.nr_len = 32;
		assert_int_equal(kt_ike_keys_derive(&p512, &in, &k), 0);
		in.nr_len = 16;
		assert_int_equal(kt_ike_keys_derive(&p256, &in, &k), 0);
		in.ni = longnonce;
		in.ni_len = 256;
		assert_int_equal(kt_ike_keys_derive(&p256, &in, &k), 0);
		kt_ike_keys_wipe(&k);
		assert_true(all_zero(&k, sizeof(k)));
	}
	/* CHILD_SA: an SK_d is needed, and some key to make */
	{
		struct kt_kdf_in in = kdf_in(&m, &suites[0]);
		struct kt_child_keys k;

		assert_int_equal(kt_child_keys_derive(&p256, NULL, 0, &in, &k), KT_ERR_INVAL);
		in.encr_key_len = 0;
		assert_int_equal(kt_child_keys_derive(&p256, m.sk_d, 32, &in, &k), KT_ERR_INVAL);
		assert_true(all_zero(&k, sizeof(k)));
	}
	kt_prf_free(&p256);
	kt_prf_free(&p512);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4868_vectors),
		cmocka_unit_test(test_prf_plus_naive),
		cmocka_unit_test(test_prf_plus_prefix),
		cmocka_unit_test(test_prf_plus_limit),
		cmocka_unit_test(test_algorithms),
		cmocka_unit_test(test_legacy_sha1),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_ike_keys),
		cmocka_unit_test(test_ike_rekey),
		cmocka_unit_test(test_child_keys),
		cmocka_unit_test(test_kdf_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
