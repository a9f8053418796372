/* Unit tests for the ESP/AH crypto door (core/crypto/xform.c): RFC 4868
 * vectors, seal/open round trips for every algorithm, tampering, parameter
 * checks, and one-shot EVP/HMAC computations that prove the constructions
 * (nonce = salt | IV, AAD layout, hdr | iv | ct | seq_hi). */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tests/unit/testutil.h"
#include "core/crypto/xform.h"
#include "core/err.h"

/* ---- counting allocator: proves the AEAD packet path allocates nothing ---- */

#include "tests/unit/countalloc.h"

/* ---- algorithm table, written independently of xform.c's ---- */

struct cfg {
	const char *label;
	uint16_t encr, bits, integ;
	size_t ekey_len, ikey_len;   /* encr key includes the AEAD salt */
	uint8_t iv_len, icv_len, block;
	bool legacy;
};

static const struct cfg cfgs[] = {
	{ "aes128gcm16", KT_ENCR_AES_GCM_16, 128, KT_INTEG_NONE, 20, 0, 8, 16, 4, false },
	{ "aes256gcm16", KT_ENCR_AES_GCM_16, 256, KT_INTEG_NONE, 36, 0, 8, 16, 4, false },
	{ "chacha20poly1305", KT_ENCR_CHACHA20_POLY1305, 0, KT_INTEG_NONE, 36, 0, 8, 16, 4, false },
	{ "chacha20poly1305/256", KT_ENCR_CHACHA20_POLY1305, 256, KT_INTEG_NONE, 36, 0, 8, 16, 4, false },
	{ "aes128-sha256", KT_ENCR_AES_CBC, 128, KT_INTEG_HMAC_SHA2_256_128, 16, 32, 16, 16, 16, false },
	{ "aes128-sha384", KT_ENCR_AES_CBC, 128, KT_INTEG_HMAC_SHA2_384_192, 16, 48, 16, 24, 16, false },
	{ "aes128-sha512", KT_ENCR_AES_CBC, 128, KT_INTEG_HMAC_SHA2_512_256, 16, 64, 16, 32, 16, false },
	{ "aes256-sha256", KT_ENCR_AES_CBC, 256, KT_INTEG_HMAC_SHA2_256_128, 32, 32, 16, 16, 16, false },
	{ "aes256-sha384", KT_ENCR_AES_CBC, 256, KT_INTEG_HMAC_SHA2_384_192, 32, 48, 16, 24, 16, false },
	{ "aes256-sha512", KT_ENCR_AES_CBC, 256, KT_INTEG_HMAC_SHA2_512_256, 32, 64, 16, 32, 16, false },
	{ "null-sha256", KT_ENCR_NULL, 0, KT_INTEG_HMAC_SHA2_256_128, 0, 32, 0, 16, 4, false },
	{ "null-sha384", KT_ENCR_NULL, 0, KT_INTEG_HMAC_SHA2_384_192, 0, 48, 0, 24, 4, false },
	{ "null-sha512", KT_ENCR_NULL, 0, KT_INTEG_HMAC_SHA2_512_256, 0, 64, 0, 32, 4, false },
	{ "aes128-sha1", KT_ENCR_AES_CBC, 128, KT_INTEG_HMAC_SHA1_96, 16, 20, 16, 12, 16, true },
	{ "aes256-md5", KT_ENCR_AES_CBC, 256, KT_INTEG_HMAC_MD5_96, 32, 16, 16, 12, 16, true },
	{ "3des-sha1", KT_ENCR_3DES_CBC, 0, KT_INTEG_HMAC_SHA1_96, 24, 20, 8, 12, 8, true },
	{ "3des-sha256", KT_ENCR_3DES_CBC, 192, KT_INTEG_HMAC_SHA2_256_128, 24, 32, 8, 16, 8, true },
	{ "des-md5", KT_ENCR_DES_CBC, 0, KT_INTEG_HMAC_MD5_96, 8, 16, 8, 12, 8, true },
	{ "des-sha256", KT_ENCR_DES_CBC, 64, KT_INTEG_HMAC_SHA2_256_128, 8, 32, 8, 16, 8, true },
	{ "null-md5", KT_ENCR_NULL, 0, KT_INTEG_HMAC_MD5_96, 0, 16, 0, 12, 4, true },
	{ "null-sha1", KT_ENCR_NULL, 0, KT_INTEG_HMAC_SHA1_96, 0, 20, 0, 12, 4, true },
};

#define N_CFGS (sizeof(cfgs) / sizeof(cfgs[0]))
#define MAX_DATA 1408

static uint8_t ekey[KT_XFORM_MAX_KEY + KT_XFORM_SALT_LEN];
static uint8_t ikey[KT_XFORM_MAX_KEY];

static int setup_keys(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ekey); i++)
		ekey[i] = (uint8_t)(0x11 + 7 * i);
	for (size_t i = 0; i < sizeof(ikey); i++)
		ikey[i] = (uint8_t)(0xa5 ^ (3 * i));
	return 0;
}

static struct kt_xform_params params_for(const struct cfg *c)
{
	struct kt_xform_params p = {
		.encr = c->encr, .encr_key_bits = c->bits,
		.encr_key = c->ekey_len ? ekey : NULL, .encr_key_len = c->ekey_len,
		.integ = c->integ,
		.integ_key = c->ikey_len ? ikey : NULL, .integ_key_len = c->ikey_len,
		.allow_legacy = c->legacy,
	};
	return p;
}

static void init_ok(struct kt_xform *x, const struct cfg *c)
{
	struct kt_xform_params p = params_for(c);
	int rc = kt_xform_init(x, &p);

	if (rc != 0)
		fail_msg("%s: init returned %d (%s)", c->label, rc, kt_strerror(rc));
	assert_int_equal(x->iv_len, c->iv_len);
	assert_int_equal(x->icv_len, c->icv_len);
	assert_int_equal(x->block_size, c->block);
	assert_int_equal(x->aead, c->integ == KT_INTEG_NONE);
}

/* One ESP packet in its parts. */
struct pkt {
	uint8_t hdr[8];
	uint8_t iv[KT_XFORM_MAX_IV];
	uint8_t data[MAX_DATA];
	uint8_t icv[KT_XFORM_MAX_ICV];
	struct kt_xform_io io;
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void pkt_fill(struct pkt *k, uint32_t spi, uint64_t seq, bool esn, size_t len)
{
	memset(k, 0, sizeof(*k));
	put_be32(k->hdr, spi);
	put_be32(k->hdr + 4, (uint32_t)seq);
	for (size_t i = 0; i < len; i++)
		k->data[i] = (uint8_t)(i * 31 + 5);
	k->io = (struct kt_xform_io){ .hdr = k->hdr, .seq = seq, .esn = esn, .iv = k->iv,
				      .data = k->data, .len = len, .icv = k->icv };
}

/* A copy whose io points into the copy. */
static void pkt_copy(struct pkt *dst, const struct pkt *src)
{
	*dst = *src;
	dst->io.hdr = dst->hdr;
	dst->io.iv = dst->iv;
	dst->io.data = dst->data;
	dst->io.icv = dst->icv;
}

/* ---- RFC 4868 §2.7.2 authentication test vectors ---- */

#define K0B16 "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
#define JEFE16 "4a6566654a6566654a6566654a656665"
#define KAA16 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DD10 "dddddddddddddddddddd"
#define CD10 "cdcdcdcdcdcdcdcdcdcd"
#define HI_THERE "4869205468657265"
#define WHAT_DO_YA "7768617420646f2079612077616e7420666f72206e6f7468696e673f"

static const struct {
	const char *name;
	uint16_t integ;
	const char *key, *data, *icv;
} rfc4868[] = {
	{ "AUTH256-1", KT_INTEG_HMAC_SHA2_256_128, K0B16 K0B16, HI_THERE,
	  "198a607eb44bfbc69903a0f1cf2bbdc5" },
	{ "AUTH256-2", KT_INTEG_HMAC_SHA2_256_128, JEFE16 JEFE16, WHAT_DO_YA,
	  "167f928588c5cc2eef8e3093caa0e87c" },
	{ "AUTH256-3", KT_INTEG_HMAC_SHA2_256_128, KAA16 KAA16, DD10 DD10 DD10 DD10 DD10,
	  "cdcb1220d1ecccea91e53aba3092f962" },
	{ "AUTH256-4", KT_INTEG_HMAC_SHA2_256_128,
	  "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
	  CD10 CD10 CD10 CD10 CD10, "372efcf9b40b35c2115b1346903d2ef4" },
	{ "AUTH384-1", KT_INTEG_HMAC_SHA2_384_192, K0B16 K0B16 K0B16, HI_THERE,
	  "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973" },
	{ "AUTH384-2", KT_INTEG_HMAC_SHA2_384_192, JEFE16 JEFE16 JEFE16, WHAT_DO_YA,
	  "2c7353974f1842fd66d53c452ca42122b28c0b594cfb184d" },
	{ "AUTH384-3", KT_INTEG_HMAC_SHA2_384_192, KAA16 KAA16 KAA16, DD10 DD10 DD10 DD10 DD10,
	  "809f439be00274321d4a538652164b53554a508184a0c316" },
	{ "AUTH512-1", KT_INTEG_HMAC_SHA2_512_256, K0B16 K0B16 K0B16 K0B16, HI_THERE,
	  "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8" },
	{ "AUTH512-2", KT_INTEG_HMAC_SHA2_512_256, JEFE16 JEFE16 JEFE16 JEFE16, WHAT_DO_YA,
	  "cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b15454" },
	{ "AUTH512-3", KT_INTEG_HMAC_SHA2_512_256, KAA16 KAA16 KAA16 KAA16,
	  DD10 DD10 DD10 DD10 DD10,
	  "2ee7acd783624ca9398710f3ee05ae41b9f9b0510c87e49e586cc9bf961733d8" },
};

static const EVP_MD *md_for(uint16_t integ)
{
	switch (integ) {
	case KT_INTEG_HMAC_MD5_96: return EVP_md5();
	case KT_INTEG_HMAC_SHA1_96: return EVP_sha1();
	case KT_INTEG_HMAC_SHA2_256_128: return EVP_sha256();
	case KT_INTEG_HMAC_SHA2_384_192: return EVP_sha384();
	case KT_INTEG_HMAC_SHA2_512_256: return EVP_sha512();
	}
	fail_msg("no digest for integ %u", integ);
	return NULL;
}

static void test_rfc4868_vectors(void **state)
{
	(void)state;
	for (size_t v = 0; v < sizeof(rfc4868) / sizeof(rfc4868[0]); v++) {
		uint8_t key[64], data[64], want[32], icv[KT_XFORM_MAX_ICV + 8], full[EVP_MAX_MD_SIZE];
		size_t klen = unhex(key, sizeof(key), rfc4868[v].key);
		size_t dlen = unhex(data, sizeof(data), rfc4868[v].data);
		size_t wlen = unhex(want, sizeof(want), rfc4868[v].icv);
		struct kt_xform_params p = { .encr = KT_ENCR_NONE, .integ = rfc4868[v].integ,
					     .integ_key = key, .integ_key_len = klen };
		struct kt_chunk c[] = { { data, 3 }, { NULL, 0 }, { data + 3, dlen - 3 } };
		struct kt_xform x;
		unsigned int flen = 0;

		assert_int_equal(kt_xform_init(&x, &p), 0);
		assert_int_equal(x.icv_len, wlen);
		/* Truncation: exactly icv_len bytes written, the rest untouched. */
		memset(icv, 0xee, sizeof(icv));
		assert_int_equal(kt_xform_mac(&x, c, 3, icv), 0);
		if (memcmp(icv, want, wlen) != 0)
			fail_msg("%s: ICV mismatch", rfc4868[v].name);
		for (size_t i = wlen; i < sizeof(icv); i++)
			assert_int_equal(icv[i], 0xee);
		/* And it is the leading half of the full HMAC. */
		assert_non_null(HMAC(md_for(p.integ), key, (int)klen, data, dlen, full, &flen));
		assert_int_equal(flen, 2 * wlen);
		assert_memory_equal(full, want, wlen);
		kt_xform_free(&x);
	}
}

/* EVP_MAC_init(ctx, NULL, 0, NULL) must restart from the stored key: many
 * packets of varying content each match a one-shot HMAC. */
static void test_hmac_key_reuse(void **state)
{
	static const uint16_t integs[] = {
		KT_INTEG_HMAC_SHA2_256_128, KT_INTEG_HMAC_SHA2_384_192, KT_INTEG_HMAC_SHA2_512_256,
		KT_INTEG_HMAC_SHA1_96, KT_INTEG_HMAC_MD5_96,
	};
	(void)state;
	for (size_t k = 0; k < sizeof(integs) / sizeof(integs[0]); k++) {
		struct kt_xform_params p = { .encr = KT_ENCR_NONE, .integ = integs[k],
					     .integ_key = ikey, .allow_legacy = true };
		struct kt_xform x;
		uint8_t data[300], first[KT_XFORM_MAX_ICV], icv[KT_XFORM_MAX_ICV];
		uint8_t full[EVP_MAX_MD_SIZE];
		unsigned int flen;

		p.integ_key_len = (size_t)kt_integ_key_len(integs[k]);
		assert_int_equal(kt_xform_init(&x, &p), 0);
		memset(data, 0x5a, sizeof(data));
		struct kt_chunk fixed = { data, 100 };
		assert_int_equal(kt_xform_mac(&x, &fixed, 1, first), 0);
		for (int i = 0; i < 500; i++) {
			size_t len = (size_t)(i * 37) % sizeof(data);
			struct kt_chunk c = { data, len };
			data[len / 2] ^= (uint8_t)i;
			assert_int_equal(kt_xform_mac(&x, &c, 1, icv), 0);
			HMAC(md_for(integs[k]), ikey, (int)p.integ_key_len, data, len, full, &flen);
			assert_memory_equal(icv, full, x.icv_len);
			data[len / 2] ^= (uint8_t)i;
			assert_int_equal(kt_xform_mac(&x, &fixed, 1, icv), 0);
			assert_memory_equal(icv, first, x.icv_len);
		}
		kt_xform_free(&x);
	}
}

/* ---- round trips ---- */

static void roundtrip(const struct cfg *c, bool esn, size_t len)
{
	struct kt_xform tx, rx;
	struct pkt k;
	uint8_t plain[MAX_DATA];
	uint64_t seq = esn ? 0x100000007ULL : 7;

	init_ok(&tx, c);
	init_ok(&rx, c);
	pkt_fill(&k, 0xc0ffee01, seq, esn, len);
	memcpy(plain, k.data, len);
	if (kt_xform_seal(&tx, &k.io) != 0)
		fail_msg("%s esn=%d len=%zu: seal failed", c->label, esn, len);
	if (c->encr == KT_ENCR_NULL)
		assert_memory_equal(k.data, plain, len);
	else
		assert_memory_not_equal(k.data, plain, len);
	if (kt_xform_open(&rx, &k.io) != 0)
		fail_msg("%s esn=%d len=%zu: open failed", c->label, esn, len);
	assert_memory_equal(k.data, plain, len);
	kt_xform_free(&tx);
	kt_xform_free(&rx);
}

/* A transform keyed for one direction works in it and refuses the other,
 * for ESP and for the generic (IKE SK) entry points alike. */
static void one_way_case(const struct cfg *c)
{
	struct kt_xform tx, rx;
	struct kt_xform_params p = params_for(c);
	struct pkt k, again;
	uint8_t aad[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, iv[KT_XFORM_MAX_IV] = { 9 };

	p.use = KT_XFORM_USE_SEAL;
	assert_int_equal(kt_xform_init(&tx, &p), 0);
	p.use = KT_XFORM_USE_OPEN;
	assert_int_equal(kt_xform_init(&rx, &p), 0);
	pkt_fill(&k, 0x1234, 5, false, 64);
	assert_int_equal(kt_xform_seal(&tx, &k.io), 0);
	pkt_copy(&again, &k);
	if (c->encr != KT_ENCR_NULL) {
		assert_int_equal(kt_xform_open(&tx, &again.io), KT_ERR_INVAL);
		assert_int_equal(kt_xform_seal(&rx, &again.io), KT_ERR_INVAL);
		assert_int_equal(kt_xform_seal_aad(&rx, aad, 8, iv, k.data, 64, k.icv), KT_ERR_INVAL);
		assert_int_equal(kt_xform_open_aad(&tx, aad, 8, iv, k.data, 64, k.icv), KT_ERR_INVAL);
	}
	assert_int_equal(kt_xform_open(&rx, &k.io), 0);
	kt_xform_free(&tx);
	kt_xform_free(&rx);
}

static void test_one_way_keying(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CFGS; i++)
		one_way_case(&cfgs[i]);
}

static void test_roundtrip_all(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CFGS; i++) {
		size_t lens[] = { cfgs[i].block, 64, MAX_DATA };
		for (int esn = 0; esn <= 1; esn++)
			for (size_t l = 0; l < 3; l++)
				roundtrip(&cfgs[i], esn, lens[l]);
	}
}

/* ---- tampering ---- */

enum tamper { T_DATA, T_ICV, T_HDR_SPI, T_HDR_SEQ, T_IV, T_SEQ_HI, T_COUNT };
static const char *tamper_names[] = { "data", "icv", "spi", "seq_lo", "iv", "seq_hi" };

static void tamper_case(const struct cfg *c, bool esn, enum tamper t)
{
	struct kt_xform tx, rx;
	struct pkt sealed, k;
	int rc;

	if (t == T_IV && c->iv_len == 0)
		return;
	if (t == T_SEQ_HI && !esn)
		return;
	init_ok(&tx, c);
	init_ok(&rx, c);
	pkt_fill(&sealed, 0x01020304, 0x500000010ULL, esn, 64);
	assert_int_equal(kt_xform_seal(&tx, &sealed.io), 0);
	pkt_copy(&k, &sealed);
	switch (t) {
	case T_DATA: k.data[17] ^= 0x04; break;
	case T_ICV: k.icv[c->icv_len - 1] ^= 0x80; break;
	case T_HDR_SPI: k.hdr[0] ^= 0x01; break;
	case T_HDR_SEQ: k.hdr[7] ^= 0x01; break;
	case T_IV: k.iv[c->iv_len - 1] ^= 0x01; break;
	case T_SEQ_HI: k.io.seq += 1ULL << 32; break;
	default: break;
	}
	rc = kt_xform_open(&rx, &k.io);
	if (rc != KT_ERR_AUTH)
		fail_msg("%s esn=%d tamper %s: got %d", c->label, esn, tamper_names[t], rc);
	if (c->integ == KT_INTEG_NONE) {
		/* AEAD: no unverified plaintext is left behind. */
		for (size_t i = 0; i < 64; i++)
			assert_int_equal(k.data[i], 0);
	}
	/* The contexts still work after a failure. */
	pkt_copy(&k, &sealed);
	assert_int_equal(kt_xform_open(&rx, &k.io), 0);
	kt_xform_free(&tx);
	kt_xform_free(&rx);
}

static void test_tamper(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CFGS; i++)
		for (int esn = 0; esn <= 1; esn++)
			for (int t = 0; t < T_COUNT; t++)
				tamper_case(&cfgs[i], esn, (enum tamper)t);
}

/* Without ESN the high half of the receiver's seq plays no part. */
static void test_no_esn_ignores_seq_hi(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CFGS; i++) {
		struct kt_xform tx, rx;
		struct pkt k;

		init_ok(&tx, &cfgs[i]);
		init_ok(&rx, &cfgs[i]);
		pkt_fill(&k, 0x01020304, 42, false, 32);
		assert_int_equal(kt_xform_seal(&tx, &k.io), 0);
		k.io.seq += 3ULL << 32;
		assert_int_equal(kt_xform_open(&rx, &k.io), 0);
		kt_xform_free(&tx);
		kt_xform_free(&rx);
	}
}

/* ---- parameter checks ---- */

static void test_legacy(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CFGS; i++) {
		struct kt_xform_params p = params_for(&cfgs[i]);
		struct kt_xform x;
		bool legacy = kt_encr_is_legacy(cfgs[i].encr) || kt_integ_is_legacy(cfgs[i].integ);

		assert_int_equal(legacy, cfgs[i].legacy);
		p.allow_legacy = false;
		assert_int_equal(kt_xform_init(&x, &p), cfgs[i].legacy ? KT_ERR_LEGACY : 0);
		kt_xform_free(&x);
		p.allow_legacy = true;
		assert_int_equal(kt_xform_init(&x, &p), 0);
		kt_xform_free(&x);
	}
	assert_true(kt_encr_is_legacy(KT_ENCR_DES_CBC));
	assert_true(kt_encr_is_legacy(KT_ENCR_3DES_CBC));
	assert_false(kt_encr_is_legacy(KT_ENCR_AES_CBC));
	assert_false(kt_encr_is_legacy(KT_ENCR_NULL));
	assert_true(kt_integ_is_legacy(KT_INTEG_HMAC_MD5_96));
	assert_true(kt_integ_is_legacy(KT_INTEG_HMAC_SHA1_96));
	assert_false(kt_integ_is_legacy(KT_INTEG_HMAC_SHA2_256_128));
}

static void test_wrong_key_lengths(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CFGS; i++) {
		const struct cfg *c = &cfgs[i];
		const long deltas[] = { -1, 1, -4, 4 };
		for (size_t d = 0; d < 4; d++) {
			struct kt_xform_params p = params_for(c);
			struct kt_xform x;
			long el = (long)c->ekey_len + deltas[d], il = (long)c->ikey_len + deltas[d];

			p.encr_key = ekey;
			p.integ_key = ikey;
			if (el >= 0) {
				p.encr_key_len = (size_t)el;
				assert_int_equal(kt_xform_init(&x, &p), KT_ERR_INVAL);
			}
			p.encr_key_len = c->ekey_len;
			if (il >= 0) {
				p.integ_key_len = (size_t)il;
				assert_int_equal(kt_xform_init(&x, &p), KT_ERR_INVAL);
			}
		}
	}
}

static void test_bad_combinations(void **state)
{
	static const struct {
		const char *what;
		struct kt_xform_params p;
		int want;
	} cases[] = {
		{ "gcm + sha256", { .encr = KT_ENCR_AES_GCM_16, .encr_key_bits = 128,
				    .encr_key_len = 20, .integ = KT_INTEG_HMAC_SHA2_256_128,
				    .integ_key_len = 32 }, KT_ERR_INVAL },
		{ "chacha + sha1", { .encr = KT_ENCR_CHACHA20_POLY1305, .encr_key_len = 36,
				     .integ = KT_INTEG_HMAC_SHA1_96, .integ_key_len = 20,
				     .allow_legacy = true }, KT_ERR_INVAL },
		{ "null alone", { .encr = KT_ENCR_NULL }, KT_ERR_INVAL },
		{ "none alone", { .encr = KT_ENCR_NONE }, KT_ERR_INVAL },
		{ "cbc alone", { .encr = KT_ENCR_AES_CBC, .encr_key_bits = 128,
				 .encr_key_len = 16 }, KT_ERR_INVAL },
		{ "aes-192 cbc", { .encr = KT_ENCR_AES_CBC, .encr_key_bits = 192,
				   .encr_key_len = 24, .integ = KT_INTEG_HMAC_SHA2_256_128,
				   .integ_key_len = 32 }, KT_ERR_INVAL },
		{ "gcm no key size", { .encr = KT_ENCR_AES_GCM_16, .encr_key_len = 20 }, KT_ERR_INVAL },
		{ "chacha 128", { .encr = KT_ENCR_CHACHA20_POLY1305, .encr_key_bits = 128,
				  .encr_key_len = 20 }, KT_ERR_INVAL },
		{ "unknown encr", { .encr = 99, .integ = KT_INTEG_HMAC_SHA2_256_128,
				    .integ_key_len = 32 }, KT_ERR_UNSUPPORTED },
		{ "unknown integ", { .encr = KT_ENCR_NULL, .integ = 99, .integ_key_len = 32 },
		  KT_ERR_UNSUPPORTED },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_xform_params p = cases[i].p;
		struct kt_xform x;
		int rc;

		p.encr_key = ekey;
		p.integ_key = ikey;
		rc = kt_xform_init(&x, &p);
		if (rc != cases[i].want)
			fail_msg("%s: got %d, want %d", cases[i].what, rc, cases[i].want);
		assert_null(x.enc_ctx);
		assert_null(x.mac_ctx);
	}
}

static void test_misuse(void **state)
{
	struct kt_xform ah, gcm, cbc;
	struct kt_xform_params p = { .encr = KT_ENCR_NONE, .integ = KT_INTEG_HMAC_SHA2_256_128,
				     .integ_key = ikey, .integ_key_len = 32 };
	struct pkt k;
	uint8_t icv[KT_XFORM_MAX_ICV];
	struct kt_chunk c = { ikey, 8 };
	(void)state;

	assert_int_equal(kt_xform_init(&ah, &p), 0);
	init_ok(&gcm, &cfgs[0]);
	init_ok(&cbc, &cfgs[4]);
	pkt_fill(&k, 1, 1, false, 32);
	/* An AH transform has no ESP data path; an AEAD has no bare MAC. */
	assert_int_equal(kt_xform_seal(&ah, &k.io), KT_ERR_INVAL);
	assert_int_equal(kt_xform_open(&ah, &k.io), KT_ERR_INVAL);
	assert_int_equal(kt_xform_mac(&gcm, &c, 1, icv), KT_ERR_INVAL);
	assert_int_equal(kt_xform_mac(&cbc, &c, 1, icv), 0);
	/* Data not a whole number of cipher blocks. */
	k.io.len = 24;
	assert_int_equal(kt_xform_seal(&cbc, &k.io), KT_ERR_INVAL);
	assert_int_equal(kt_xform_open(&cbc, &k.io), KT_ERR_INVAL);
	k.io.len = 6;
	assert_int_equal(kt_xform_seal(&gcm, &k.io), KT_ERR_INVAL);
	kt_xform_free(&ah);
	kt_xform_free(&gcm);
	kt_xform_free(&cbc);
}

/* ---- independent computations of the constructions ---- */

static void test_aead_matches_oneshot(void **state)
{
	static const struct { size_t cfg; const char *evp; } aeads[] = {
		{ 0, "AES-128-GCM" }, { 1, "AES-256-GCM" }, { 2, "ChaCha20-Poly1305" },
	};
	(void)state;
	for (size_t a = 0; a < 3; a++) {
		const struct cfg *c = &cfgs[aeads[a].cfg];
		for (int esn = 0; esn <= 1; esn++) {
			struct kt_xform x;
			struct pkt k;
			uint64_t seq = 0x0123456789abcdefULL;
			uint8_t nonce[12], aad[12], ct[64], tag[16], fin[32];
			size_t key_len = c->ekey_len - KT_XFORM_SALT_LEN, aad_len;
			EVP_CIPHER *ciph = EVP_CIPHER_fetch(NULL, aeads[a].evp, NULL);
			EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
			int n;

			init_ok(&x, c);
			pkt_fill(&k, 0xdeadbeef, seq, esn, 64);
			/* RFC 4106 §4: nonce = salt (last 4 key bytes) | IV. */
			memcpy(nonce, ekey + key_len, 4);
			put_be32(nonce + 4, (uint32_t)(seq >> 32));
			put_be32(nonce + 8, (uint32_t)seq);
			/* RFC 4106 §5: AAD = SPI | [seq_hi |] seq_lo. */
			memcpy(aad, k.hdr, 4);
			if (esn) {
				put_be32(aad + 4, (uint32_t)(seq >> 32));
				memcpy(aad + 8, k.hdr + 4, 4);
				aad_len = 12;
			} else {
				memcpy(aad + 4, k.hdr + 4, 4);
				aad_len = 8;
			}
			assert_non_null(ciph);
			assert_true(EVP_EncryptInit_ex(ctx, ciph, NULL, ekey, nonce));
			assert_true(EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len));
			assert_true(EVP_EncryptUpdate(ctx, ct, &n, k.data, 64));
			assert_true(EVP_EncryptFinal_ex(ctx, fin, &n));
			assert_true(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag));

			assert_int_equal(kt_xform_seal(&x, &k.io), 0);
			assert_memory_equal(k.iv, nonce + 4, 8); /* IV on the wire = seq */
			assert_memory_equal(k.data, ct, 64);
			assert_memory_equal(k.icv, tag, 16);
			EVP_CIPHER_CTX_free(ctx);
			EVP_CIPHER_free(ciph);
			kt_xform_free(&x);
		}
	}
}

static const char *cbc_evp(const struct cfg *c)
{
	switch (c->encr) {
	case KT_ENCR_AES_CBC: return c->ekey_len == 16 ? "AES-128-CBC" : "AES-256-CBC";
	case KT_ENCR_3DES_CBC: return "DES-EDE3-CBC";
	case KT_ENCR_DES_CBC: return "DES-CBC";
	}
	return NULL;
}

/* Decrypt with a fresh one-shot context and HMAC hdr | iv | ct | seq_hi. */
static void check_etm_oneshot(const struct cfg *c, const struct pkt *k, const uint8_t *plain,
			      size_t len, bool esn, uint64_t seq)
{
	uint8_t buf[8 + KT_XFORM_MAX_IV + MAX_DATA + 4], full[EVP_MAX_MD_SIZE], pt[MAX_DATA];
	uint8_t fin[32];
	size_t n = 0;
	unsigned int flen;
	int outl;

	memcpy(buf, k->hdr, 8);
	n = 8;
	memcpy(buf + n, k->iv, c->iv_len);
	n += c->iv_len;
	memcpy(buf + n, k->data, len);
	n += len;
	if (esn) {
		put_be32(buf + n, (uint32_t)(seq >> 32));
		n += 4;
	}
	assert_non_null(HMAC(md_for(c->integ), ikey, (int)c->ikey_len, buf, n, full, &flen));
	assert_memory_equal(k->icv, full, c->icv_len);
	if (!cbc_evp(c)) {
		assert_memory_equal(k->data, plain, len);
		return;
	}
	EVP_CIPHER *ciph = EVP_CIPHER_fetch(NULL, cbc_evp(c), NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	assert_non_null(ciph);
	assert_true(EVP_DecryptInit_ex(ctx, ciph, NULL, ekey, k->iv));
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	assert_true(EVP_DecryptUpdate(ctx, pt, &outl, k->data, (int)len));
	assert_int_equal(outl, len);
	assert_true(EVP_DecryptFinal_ex(ctx, fin, &outl));
	assert_memory_equal(pt, plain, len);
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(ciph);
}

static void test_etm_matches_oneshot(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CFGS; i++) {
		const struct cfg *c = &cfgs[i];
		if (c->integ == KT_INTEG_NONE)
			continue;
		for (int esn = 0; esn <= 1; esn++) {
			struct kt_xform x;
			struct pkt k;
			uint8_t plain[96];
			uint64_t seq = 0xa1b2c3d4e5f60718ULL;

			init_ok(&x, c);
			pkt_fill(&k, 0x11223344, seq, esn, 96);
			memcpy(plain, k.data, 96);
			assert_int_equal(kt_xform_seal(&x, &k.io), 0);
			check_etm_oneshot(c, &k, plain, 96, esn, seq);
			kt_xform_free(&x);
		}
	}
}

/* CBC IVs come from the CSPRNG: the same packet sealed twice differs. */
static void test_cbc_iv_random(void **state)
{
	struct kt_xform x;
	struct pkt a, b;
	(void)state;

	init_ok(&x, &cfgs[4]);
	pkt_fill(&a, 7, 7, false, 64);
	pkt_fill(&b, 7, 7, false, 64);
	assert_int_equal(kt_xform_seal(&x, &a.io), 0);
	assert_int_equal(kt_xform_seal(&x, &b.io), 0);
	assert_memory_not_equal(a.iv, b.iv, 16);
	assert_memory_not_equal(a.data, b.data, 64);
	kt_xform_free(&x);
}

/* ---- lifecycle, helpers, allocation ---- */

static void test_free_wipes(void **state)
{
	struct kt_xform x;
	static const uint8_t zero[KT_XFORM_SALT_LEN];
	(void)state;

	init_ok(&x, &cfgs[1]);
	assert_memory_equal(x.salt, ekey + 32, KT_XFORM_SALT_LEN);
	kt_xform_free(&x);
	assert_memory_equal(x.salt, zero, KT_XFORM_SALT_LEN);
	assert_null(x.enc_ctx);
	assert_null(x.dec_ctx);
	assert_null(x.mac_ctx);
	kt_xform_free(&x); /* twice is harmless */
}

static void test_names_and_lengths(void **state)
{
	static const struct { uint16_t encr, bits; const char *name; int key_len; } e[] = {
		{ KT_ENCR_AES_GCM_16, 128, "aes128gcm16", 20 },
		{ KT_ENCR_AES_GCM_16, 256, "aes256gcm16", 36 },
		{ KT_ENCR_CHACHA20_POLY1305, 0, "chacha20poly1305", 36 },
		{ KT_ENCR_AES_CBC, 128, "aes128", 16 },
		{ KT_ENCR_AES_CBC, 256, "aes256", 32 },
		{ KT_ENCR_3DES_CBC, 0, "3des", 24 },
		{ KT_ENCR_DES_CBC, 0, "des", 8 },
		{ KT_ENCR_NULL, 0, "null", 0 },
		{ KT_ENCR_AES_CBC, 192, NULL, KT_ERR_INVAL },
		{ KT_ENCR_AES_GCM_16, 0, NULL, KT_ERR_INVAL },
		{ 99, 0, NULL, KT_ERR_UNSUPPORTED },
	};
	static const struct { uint16_t integ; const char *name; int key_len; } i[] = {
		{ KT_INTEG_HMAC_SHA2_256_128, "sha256", 32 },
		{ KT_INTEG_HMAC_SHA2_384_192, "sha384", 48 },
		{ KT_INTEG_HMAC_SHA2_512_256, "sha512", 64 },
		{ KT_INTEG_HMAC_SHA1_96, "sha1", 20 },
		{ KT_INTEG_HMAC_MD5_96, "md5", 16 },
		{ 99, NULL, KT_ERR_UNSUPPORTED },
	};
	(void)state;
	for (size_t k = 0; k < sizeof(e) / sizeof(e[0]); k++) {
		const char *n = kt_encr_name(e[k].encr, e[k].bits);
		if (e[k].name)
			assert_string_equal(n, e[k].name);
		else
			assert_null(n);
		assert_int_equal(kt_encr_key_len(e[k].encr, e[k].bits), e[k].key_len);
	}
	for (size_t k = 0; k < sizeof(i) / sizeof(i[0]); k++) {
		const char *n = kt_integ_name(i[k].integ);
		if (i[k].name)
			assert_string_equal(n, i[k].name);
		else
			assert_null(n);
		assert_int_equal(kt_integ_key_len(i[k].integ), i[k].key_len);
	}
}

static void test_random(void **state)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 };
	(void)state;

	assert_int_equal(kt_random(a, sizeof(a)), 0);
	assert_int_equal(kt_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(kt_random(NULL, 0), 0);
}

/* After the first packet, AEAD seal and open make no allocation at all, not
 * even inside libcrypto. (HMAC re-init in OpenSSL 3.0 duplicates a digest
 * context inside libcrypto, so the cipher+HMAC path is not counted here.) */
static void test_aead_no_alloc(void **state)
{
	(void)state;
	if (!counting_ok)
		skip();
	for (size_t i = 0; i < 3; i++) {
		struct kt_xform tx, rx;
		struct pkt k;
		long before;

		init_ok(&tx, &cfgs[i]);
		init_ok(&rx, &cfgs[i]);
		pkt_fill(&k, 9, 1, true, 1024);
		assert_int_equal(kt_xform_seal(&tx, &k.io), 0);
		assert_int_equal(kt_xform_open(&rx, &k.io), 0);
		before = n_allocs;
		for (uint64_t s = 2; s < 200; s++) {
			k.io.seq = s;
			assert_int_equal(kt_xform_seal(&tx, &k.io), 0);
			assert_int_equal(kt_xform_open(&rx, &k.io), 0);
		}
		assert_int_equal(n_allocs - before, 0);
		kt_xform_free(&tx);
		kt_xform_free(&rx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4868_vectors),
		cmocka_unit_test(test_hmac_key_reuse),
		cmocka_unit_test(test_roundtrip_all),
		cmocka_unit_test(test_one_way_keying),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_no_esn_ignores_seq_hi),
		cmocka_unit_test(test_legacy),
		cmocka_unit_test(test_wrong_key_lengths),
		cmocka_unit_test(test_bad_combinations),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_aead_matches_oneshot),
		cmocka_unit_test(test_etm_matches_oneshot),
		cmocka_unit_test(test_cbc_iv_random),
		cmocka_unit_test(test_free_wipes),
		cmocka_unit_test(test_names_and_lengths),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_aead_no_alloc),
	};

	/* Must come before libcrypto allocates anything. */
	countalloc_install();
	return cmocka_run_group_tests(tests, setup_keys, NULL);
}
