/* Unit tests for IKEv2 SK payload protection (core/ike/crypt.c) and the
 * generic AEAD-style calls under it (kt_xform_seal_aad/open_aad): known
 * answers (GCM, RFC 7539 ChaCha20-Poly1305, RFC 3602 CBC with a one-shot
 * HMAC), round trips through the real codec for every IKE transform in
 * both directions, tampering with every byte, IV policy, bad padding and
 * argument checks. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tests/unit/testutil.h"
#include "core/err.h"
#include "core/ike/crypt.h"

/* ---- counting allocator: the AEAD SK path allocates nothing ---- */

#include "tests/unit/countalloc.h"

/* ---- the IKE suites, written out independently of xform.c's table ---- */

struct suite {
	const char *label;
	uint16_t encr, bits, integ;
	size_t ekey, ikey;            /* SK_e (with AEAD salt), SK_a */
	size_t iv, icv, block;        /* what the codec must be given */
	bool legacy;
};

static const struct suite suites[] = {
	{ "aes128gcm16", KT_ENCR_AES_GCM_16, 128, KT_INTEG_NONE, 20, 0, 8, 16, 1, false },
	{ "aes256gcm16", KT_ENCR_AES_GCM_16, 256, KT_INTEG_NONE, 36, 0, 8, 16, 1, false },
	{ "chacha20poly1305", KT_ENCR_CHACHA20_POLY1305, 0, KT_INTEG_NONE, 36, 0, 8, 16, 1, false },
	{ "aes128-sha256", KT_ENCR_AES_CBC, 128, KT_INTEG_HMAC_SHA2_256_128, 16, 32, 16, 16, 16, false },
	{ "aes128-sha384", KT_ENCR_AES_CBC, 128, KT_INTEG_HMAC_SHA2_384_192, 16, 48, 16, 24, 16, false },
	{ "aes128-sha512", KT_ENCR_AES_CBC, 128, KT_INTEG_HMAC_SHA2_512_256, 16, 64, 16, 32, 16, false },
	{ "aes256-sha256", KT_ENCR_AES_CBC, 256, KT_INTEG_HMAC_SHA2_256_128, 32, 32, 16, 16, 16, false },
	{ "aes256-sha384", KT_ENCR_AES_CBC, 256, KT_INTEG_HMAC_SHA2_384_192, 32, 48, 16, 24, 16, false },
	{ "aes256-sha512", KT_ENCR_AES_CBC, 256, KT_INTEG_HMAC_SHA2_512_256, 32, 64, 16, 32, 16, false },
	{ "3des-sha1", KT_ENCR_3DES_CBC, 0, KT_INTEG_HMAC_SHA1_96, 24, 20, 8, 12, 8, true },
};
#define N_SUITES (sizeof(suites) / sizeof(suites[0]))
#define N_AEAD 3 /* the first entries */

static void make_keys(struct kt_ike_keys *k, const struct suite *s)
{
	memset(k, 0, sizeof(*k));
	k->encr_len = s->ekey;
	k->integ_len = s->ikey;
	k->prf_len = 32;
	assert_int_equal(kt_random(k->sk_ei, sizeof(k->sk_ei)), 0);
	assert_int_equal(kt_random(k->sk_er, sizeof(k->sk_er)), 0);
	assert_int_equal(kt_random(k->sk_ai, sizeof(k->sk_ai)), 0);
	assert_int_equal(kt_random(k->sk_ar, sizeof(k->sk_ar)), 0);
}

/* An initiator and a responder sharing one set of keys. */
struct pair {
	struct kt_ike_keys keys;
	struct kt_ike_crypt i, r;
};

static void pair_init(struct pair *p, const struct suite *s)
{
	make_keys(&p->keys, s);
	assert_int_equal(kt_ike_crypt_init(&p->i, s->encr, s->bits, s->integ, &p->keys, true,
					   s->legacy), 0);
	assert_int_equal(kt_ike_crypt_init(&p->r, s->encr, s->bits, s->integ, &p->keys, false,
					   s->legacy), 0);
}

static void pair_free(struct pair *p)
{
	kt_ike_crypt_free(&p->i);
	kt_ike_crypt_free(&p->r);
	kt_ike_keys_wipe(&p->keys);
}

/* ---- an IKE_AUTH-like message built with the codec ---- */

static const uint8_t fqdn[] = "initiator.example";
static const uint8_t auth_data[32] = { 0xa5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

struct msg {
	uint8_t buf[2048];
	size_t len;
	struct kt_ike_sk sk;
	uint8_t plain[2048];   /* the SK plaintext before sealing */
	size_t inner;          /* inner payload bytes (without padding) */
};

/* vid_len varies the inner length, so every padding length occurs. */
static void build(struct msg *m, const struct kt_ike_crypt *c, bool from_initiator,
		  size_t vid_len)
{
	struct kt_ike_writer w;
	uint8_t vid[64];
	int len;

	assert_true(vid_len <= sizeof(vid));
	memset(vid, 0x5c, sizeof(vid));
	kt_ike_writer_init(&w, m->buf, sizeof(m->buf));
	kt_ike_write_hdr(&w, &(struct kt_ike_hdr){
		.spi_i = 0x0102030405060708ull, .spi_r = 0x1112131415161718ull,
		.exchange = KT_IKE_EXCH_IKE_AUTH, .msg_id = 1,
		.flags = from_initiator ? KT_IKE_FLAG_I : KT_IKE_FLAG_R });
	kt_ike_write_sk_begin(&w, c->iv_len);
	kt_ike_write_id(&w, from_initiator ? KT_IKE_PL_IDI : KT_IKE_PL_IDR,
			&(struct kt_ike_id){ KT_IKE_ID_FQDN, { fqdn, sizeof(fqdn) - 1 }, { 0 } });
	kt_ike_write_auth(&w, KT_IKE_AUTH_PSK, auth_data, sizeof(auth_data));
	kt_ike_write_notify(&w, &(struct kt_ike_notify){ .type = KT_IKE_N_INITIAL_CONTACT });
	if (vid_len)
		kt_ike_write_vid(&w, vid, vid_len);
	assert_int_equal(kt_ike_write_sk_end(&w, c->block_size, c->icv_len, &m->sk), 0);
	len = kt_ike_writer_finish(&w);
	assert_true(len > 0);
	m->len = (size_t)len;
	m->inner = (size_t)kt_ike_sk_unpad(m->buf + m->sk.ct_off, m->sk.ct_len);
	memcpy(m->plain, m->buf + m->sk.ct_off, m->sk.ct_len);
}

static void build_sealed(struct msg *m, struct kt_ike_crypt *c, bool from_initiator,
			 size_t vid_len)
{
	build(m, c, from_initiator, vid_len);
	assert_int_equal(kt_ike_crypt_seal(c, m->buf, m->len, &m->sk), 0);
}

/* What a receiver does: decode, locate, open, decode the inner chain. */
static int receive(struct kt_ike_crypt *c, uint8_t *buf, size_t len, struct kt_ike_msg *dm,
		   struct kt_ike_sk *sk)
{
	int rc = kt_ike_decode(buf, len, dm);

	if (rc == 0)
		rc = kt_ike_sk_locate(dm, c->iv_len, c->icv_len, c->block_size, sk);
	if (rc == 0)
		rc = kt_ike_crypt_open(c, buf, len, sk);
	if (rc >= 0) {
		int n = rc;
		rc = kt_ike_decode_chain(sk->next, buf + sk->ct_off, (size_t)n, dm);
		if (rc == 0)
			rc = n;
	}
	return rc;
}

static void check_inner(const struct kt_ike_msg *dm, bool from_initiator, size_t vid_len)
{
	const struct kt_ike_payload *pl;
	struct kt_ike_id id;
	struct kt_ike_auth auth;
	struct kt_ike_notify n;

	pl = kt_ike_find(dm, from_initiator ? KT_IKE_PL_IDI : KT_IKE_PL_IDR, NULL);
	assert_non_null(pl);
	assert_true(pl->encrypted);
	assert_int_equal(kt_ike_parse_id(pl, &id), 0);
	assert_int_equal(id.type, KT_IKE_ID_FQDN);
	assert_int_equal(id.data.len, sizeof(fqdn) - 1);
	assert_memory_equal(id.data.p, fqdn, sizeof(fqdn) - 1);
	pl = kt_ike_find(dm, KT_IKE_PL_AUTH, NULL);
	assert_non_null(pl);
	assert_int_equal(kt_ike_parse_auth(pl, &auth), 0);
	assert_int_equal(auth.method, KT_IKE_AUTH_PSK);
	assert_memory_equal(auth.data.p, auth_data, sizeof(auth_data));
	pl = kt_ike_find(dm, KT_IKE_PL_NOTIFY, NULL);
	assert_non_null(pl);
	assert_int_equal(kt_ike_parse_notify(pl, &n), 0);
	assert_int_equal(n.type, KT_IKE_N_INITIAL_CONTACT);
	pl = kt_ike_find(dm, KT_IKE_PL_VID, NULL);
	if (vid_len) {
		assert_non_null(pl);
		assert_int_equal(pl->len, vid_len);
	} else {
		assert_null(pl);
	}
}

/* ---- known answers for kt_xform_seal_aad ---- */

static void aead_xform(struct kt_xform *x, uint16_t encr, uint16_t bits, const char *key_salt)
{
	uint8_t key[KT_XFORM_MAX_KEY];
	size_t n = unhex(key, sizeof(key), key_salt);

	assert_int_equal(kt_xform_init(x, &(struct kt_xform_params){
		.encr = encr, .encr_key_bits = bits, .encr_key = key, .encr_key_len = n }), 0);
}

struct aead_kat {
	const char *label;
	uint16_t encr, bits;
	const char *key_salt, *iv, *aad, *pt, *ct, *tag;
};

static const struct aead_kat aead_kats[] = {
	/* GCM spec (McGrew-Viega) test case 4; the 12-byte IV split as salt | iv. */
	{ "gcm-tc4", KT_ENCR_AES_GCM_16, 128,
	  "feffe9928665731c6d6a8f9467308308 cafebabe", "facedbaddecaf888",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
	  "5bc94fbc3221a5db94fae95ae7121a47" },
	/* RFC 7539 §2.8.2; constant 07000000 is the salt (RFC 7634 §2). */
	{ "rfc7539", KT_ENCR_CHACHA20_POLY1305, 0,
	  "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f 07000000",
	  "4041424344454647", "50515253c0c1c2c3c4c5c6c7",
	  "4c616469657320616e642047656e746c656d656e206f662074686520636c6173"
	  "73206f66202739393a204966204920636f756c64206f6666657220796f75206f"
	  "6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73"
	  "637265656e20776f756c642062652069742e",
	  "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
	  "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
	  "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	  "3ff4def08e4b7a9de576d26586cec64b6116",
	  "1ae10b594f09e26a7e902ecbd0600691" },
};

static void test_aead_known_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(aead_kats) / sizeof(aead_kats[0]); i++) {
		const struct aead_kat *k = &aead_kats[i];
		uint8_t iv[8], aad[64], pt[256], ct[256], tag[16], data[256], icv[16];
		size_t aad_len = unhex(aad, sizeof(aad), k->aad);
		size_t len = unhex(pt, sizeof(pt), k->pt);
		struct kt_xform x;

		unhex(iv, sizeof(iv), k->iv);
		assert_int_equal(unhex(ct, sizeof(ct), k->ct), len);
		unhex(tag, sizeof(tag), k->tag);
		aead_xform(&x, k->encr, k->bits, k->key_salt);
		memcpy(data, pt, len);
		assert_int_equal(kt_xform_seal_aad(&x, aad, aad_len, iv, data, len, icv), 0);
		assert_memory_equal(data, ct, len);
		assert_memory_equal(icv, tag, sizeof(tag));
		assert_int_equal(kt_xform_open_aad(&x, aad, aad_len, iv, data, len, icv), 0);
		assert_memory_equal(data, pt, len);
		/* One changed AAD byte: refused, and no plaintext left behind. */
		memcpy(data, ct, len);
		aad[aad_len - 1] ^= 0x80;
		assert_int_equal(kt_xform_open_aad(&x, aad, aad_len, iv, data, len, icv),
				 KT_ERR_AUTH);
		for (size_t j = 0; j < len; j++)
			assert_int_equal(data[j], 0);
		kt_xform_free(&x);
	}
}

/* RFC 3602 case #1 for the cipher, and a one-shot HMAC over aad | iv | ct
 * for the ICV (RFC 7296 §3.14). */
static void test_cbc_hmac_construction(void **state)
{
	uint8_t key[16], iv[16], ct[16], ikey[32], aad[40], data[16], icv[16], full[32];
	unsigned int full_len = 0;
	struct kt_xform x;
	(void)state;

	unhex(key, sizeof(key), "06a9214036b8a15b512e03d534120006");
	unhex(iv, sizeof(iv), "3dafba429d9eb430b422da802c9fac41");
	unhex(ct, sizeof(ct), "e353779c1079aeb82708942dbe77181a");
	memset(ikey, 0x33, sizeof(ikey));
	for (size_t i = 0; i < sizeof(aad); i++)
		aad[i] = (uint8_t)(i * 7);
	assert_int_equal(kt_xform_init(&x, &(struct kt_xform_params){
		.encr = KT_ENCR_AES_CBC, .encr_key_bits = 128, .encr_key = key, .encr_key_len = 16,
		.integ = KT_INTEG_HMAC_SHA2_256_128, .integ_key = ikey, .integ_key_len = 32 }), 0);
	memcpy(data, "Single block msg", 16);
	assert_int_equal(kt_xform_seal_aad(&x, aad, sizeof(aad), iv, data, 16, icv), 0);
	assert_memory_equal(data, ct, 16);

	uint8_t input[sizeof(aad) + 32];
	memcpy(input, aad, sizeof(aad));
	memcpy(input + sizeof(aad), iv, 16);
	memcpy(input + sizeof(aad) + 16, ct, 16);
	assert_non_null(HMAC(EVP_sha256(), ikey, 32, input, sizeof(input), full, &full_len));
	assert_memory_equal(icv, full, 16);

	assert_int_equal(kt_xform_open_aad(&x, aad, sizeof(aad), iv, data, 16, icv), 0);
	assert_memory_equal(data, "Single block msg", 16);
	/* Verify before decrypt: a bad ICV leaves the ciphertext untouched. */
	memcpy(data, ct, 16);
	icv[15] ^= 1;
	assert_int_equal(kt_xform_open_aad(&x, aad, sizeof(aad), iv, data, 16, icv), KT_ERR_AUTH);
	assert_memory_equal(data, ct, 16);
	kt_xform_free(&x);
}

static void test_aad_invalid(void **state)
{
	uint8_t key[32] = { 1 }, ikey[32] = { 2 }, iv[16] = { 0 }, data[32] = { 0 }, icv[32];
	struct kt_xform cbc, ah, gcm;
	(void)state;

	assert_int_equal(kt_xform_init(&cbc, &(struct kt_xform_params){
		.encr = KT_ENCR_AES_CBC, .encr_key_bits = 128, .encr_key = key, .encr_key_len = 16,
		.integ = KT_INTEG_HMAC_SHA2_256_128, .integ_key = ikey, .integ_key_len = 32 }), 0);
	assert_int_equal(kt_xform_seal_aad(&cbc, data, 4, iv, data, 15, icv), KT_ERR_INVAL);
	assert_int_equal(kt_xform_open_aad(&cbc, data, 4, iv, data, 17, icv), KT_ERR_INVAL);
	assert_int_equal(kt_xform_seal_aad(&cbc, data, 4, iv, data, 32, icv), 0);
	kt_xform_free(&cbc);

	assert_int_equal(kt_xform_init(&ah, &(struct kt_xform_params){
		.encr = KT_ENCR_NONE, .integ = KT_INTEG_HMAC_SHA2_256_128,
		.integ_key = ikey, .integ_key_len = 32 }), 0);
	assert_int_equal(kt_xform_seal_aad(&ah, data, 4, iv, data, 16, icv), KT_ERR_INVAL);
	assert_int_equal(kt_xform_open_aad(&ah, data, 4, iv, data, 16, icv), KT_ERR_INVAL);
	kt_xform_free(&ah);

	/* An AEAD takes any length, also none (ESP's 4-byte alignment does not apply). */
	aead_xform(&gcm, KT_ENCR_AES_GCM_16, 128, "000102030405060708090a0b0c0d0e0f 01020304");
	for (size_t len = 0; len < 20; len++) {
		memset(data, (int)len, sizeof(data));
		assert_int_equal(kt_xform_seal_aad(&gcm, iv, 3, iv, data, len, icv), 0);
		assert_int_equal(kt_xform_open_aad(&gcm, iv, 3, iv, data, len, icv), 0);
		for (size_t j = 0; j < len; j++)
			assert_int_equal(data[j], len);
	}
	kt_xform_free(&gcm);
}

/* ---- kt_ike_crypt ---- */

static void test_init_parameters(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SUITES; i++) {
		const struct suite *s = &suites[i];
		struct pair p;

		print_message("%s\n", s->label);
		pair_init(&p, s);
		assert_int_equal(p.i.iv_len, s->iv);
		assert_int_equal(p.i.icv_len, s->icv);
		assert_int_equal(p.i.block_size, s->block);
		assert_int_equal(p.i.encr, s->encr);
		assert_int_equal(p.i.encr_key_bits, s->bits);
		assert_int_equal(p.i.integ, s->integ);
		assert_true(p.i.iv_counter == 0);
		pair_free(&p);
	}
}

struct bad_init {
	const char *label;
	uint16_t encr, bits, integ;
	size_t ekey, ikey;
	bool legacy;
	int want;
};

static const struct bad_init bad_inits[] = {
	{ "null", KT_ENCR_NULL, 0, KT_INTEG_HMAC_SHA2_256_128, 0, 32, false, KT_ERR_INVAL },
	{ "none", KT_ENCR_NONE, 0, KT_INTEG_HMAC_SHA2_256_128, 0, 32, false, KT_ERR_INVAL },
	{ "gcm+integ", KT_ENCR_AES_GCM_16, 128, KT_INTEG_HMAC_SHA2_256_128, 20, 32, false, KT_ERR_INVAL },
	{ "cbc no integ", KT_ENCR_AES_CBC, 128, KT_INTEG_NONE, 16, 0, false, KT_ERR_INVAL },
	{ "short encr key", KT_ENCR_AES_GCM_16, 128, KT_INTEG_NONE, 16, 0, false, KT_ERR_INVAL },
	{ "long integ key", KT_ENCR_AES_CBC, 128, KT_INTEG_HMAC_SHA2_256_128, 16, 48, false, KT_ERR_INVAL },
	{ "aes192", KT_ENCR_AES_CBC, 192, KT_INTEG_HMAC_SHA2_256_128, 24, 32, false, KT_ERR_INVAL },
	{ "huge key", KT_ENCR_AES_CBC, 128, KT_INTEG_HMAC_SHA2_256_128, 16, 1000, false, KT_ERR_INVAL },
	{ "3des", KT_ENCR_3DES_CBC, 0, KT_INTEG_HMAC_SHA2_256_128, 24, 32, false, KT_ERR_LEGACY },
	{ "sha1-96", KT_ENCR_AES_CBC, 128, KT_INTEG_HMAC_SHA1_96, 16, 20, false, KT_ERR_LEGACY },
	{ "unknown", 99, 128, KT_INTEG_HMAC_SHA2_256_128, 16, 32, false, KT_ERR_UNSUPPORTED },
};

static void test_init_refusals(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_inits) / sizeof(bad_inits[0]); i++) {
		const struct bad_init *b = &bad_inits[i];
		struct kt_ike_keys k = { .encr_len = b->ekey, .integ_len = b->ikey };
		struct kt_ike_crypt c;

		print_message("%s\n", b->label);
		assert_int_equal(kt_ike_crypt_init(&c, b->encr, b->bits, b->integ, &k, true,
						   b->legacy), b->want);
		assert_null(c.out.enc_ctx);
		assert_null(c.in.mac_ctx);
		kt_ike_crypt_free(&c); /* safe after a failure */
	}
}

/* Every suite, both directions, every padding length. */
static void test_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SUITES; i++) {
		struct pair p;

		print_message("%s\n", suites[i].label);
		pair_init(&p, &suites[i]);
		for (int dir = 0; dir < 2; dir++) {
			struct kt_ike_crypt *tx = dir ? &p.r : &p.i, *rx = dir ? &p.i : &p.r;

			for (size_t vid = 0; vid <= 2 * suites[i].block + 1; vid++) {
				struct msg m;
				struct kt_ike_msg dm;
				struct kt_ike_sk sk;

				build_sealed(&m, tx, dir == 0, vid);
				assert_memory_not_equal(m.buf + m.sk.ct_off, m.plain,
							m.sk.ct_len < 16 ? m.sk.ct_len : 16);
				assert_int_equal(receive(rx, m.buf, m.len, &dm, &sk), m.inner);
				assert_memory_equal(&sk, &m.sk, sizeof(sk));
				assert_memory_equal(m.buf + sk.ct_off, m.plain, m.inner);
				check_inner(&dm, dir == 0, vid);
			}
		}
		pair_free(&p);
	}
}

/* A message sealed with one direction's keys does not open with the
 * other's: SK_ei and SK_er really differ in use. */
static void test_wrong_direction(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SUITES; i++) {
		struct pair p;
		struct msg m;
		struct kt_ike_msg dm;
		struct kt_ike_sk sk;

		pair_init(&p, &suites[i]);
		build_sealed(&m, &p.i, true, 3);
		assert_int_equal(receive(&p.i, m.buf, m.len, &dm, &sk), KT_ERR_AUTH);
		build_sealed(&m, &p.r, false, 3);
		assert_int_equal(receive(&p.r, m.buf, m.len, &dm, &sk), KT_ERR_AUTH);
		pair_free(&p);
	}
}

/* RFC 7296 §2.14: the initiator protects with SK_ei/SK_ai, the responder
 * with SK_er/SK_ar. Checked with transforms keyed straight from those keys,
 * which a consistent swap in both roles would fail. */
static void test_keys_per_direction(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SUITES; i++) {
		const struct suite *s = &suites[i];
		struct pair p;

		pair_init(&p, s);
		for (int dir = 0; dir < 2; dir++) {
			struct kt_xform x;
			struct msg m;
			bool from_i = dir == 0;

			assert_int_equal(kt_xform_init(&x, &(struct kt_xform_params){
				.encr = s->encr, .encr_key_bits = s->bits, .integ = s->integ,
				.encr_key = from_i ? p.keys.sk_ei : p.keys.sk_er, .encr_key_len = s->ekey,
				.integ_key = s->ikey ? (from_i ? p.keys.sk_ai : p.keys.sk_ar) : NULL,
				.integ_key_len = s->ikey, .allow_legacy = s->legacy }), 0);
			build_sealed(&m, from_i ? &p.i : &p.r, from_i, 2);
			assert_int_equal(kt_xform_open_aad(&x, m.buf, m.sk.iv_off, m.buf + m.sk.iv_off,
							   m.buf + m.sk.ct_off, m.sk.ct_len,
							   m.buf + m.sk.icv_off), 0);
			assert_memory_equal(m.buf + m.sk.ct_off, m.plain, m.sk.ct_len);
			kt_xform_free(&x);
		}
		pair_free(&p);
	}
}

/* Flip each bit position class in every byte: header, SK header, IV,
 * ciphertext, ICV. All are covered by the ICV. */
static void test_tamper_every_byte(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SUITES; i++) {
		struct pair p;
		struct msg m;

		print_message("%s\n", suites[i].label);
		pair_init(&p, &suites[i]);
		build_sealed(&m, &p.i, true, 5);
		for (size_t off = 0; off < m.len; off++) {
			for (uint8_t bit = 1; bit; bit <<= 3) {
				uint8_t t[sizeof(m.buf)];

				memcpy(t, m.buf, m.len);
				t[off] ^= bit;
				assert_int_equal(kt_ike_crypt_open(&p.r, t, m.len, &m.sk),
						 KT_ERR_AUTH);
				assert_memory_not_equal(t + m.sk.ct_off, m.plain, m.inner);
			}
		}
		/* The untouched message still opens. */
		assert_int_equal(kt_ike_crypt_open(&p.r, m.buf, m.len, &m.sk), m.inner);
		pair_free(&p);
	}
}

/* AEAD IVs: a counter that never repeats under one key (RFC 5282 §3). */
static void test_aead_iv_unique(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_AEAD; i++) {
		struct pair p;

		pair_init(&p, &suites[i]);
		for (uint64_t n = 0; n < 300; n++) {
			struct msg m;
			uint8_t want[8];

			build_sealed(&m, &p.i, true, (size_t)(n % 7));
			for (int b = 0; b < 8; b++)
				want[b] = (uint8_t)(n >> (56 - 8 * b));
			assert_memory_equal(m.buf + m.sk.iv_off, want, 8);
		}
		/* The responder's out key has its own counter. */
		struct msg m;
		build_sealed(&m, &p.r, false, 0);
		assert_memory_equal(m.buf + m.sk.iv_off, "\0\0\0\0\0\0\0\0", 8);

		p.i.iv_counter = UINT64_MAX - 1;
		build_sealed(&m, &p.i, true, 0);
		assert_memory_equal(m.buf + m.sk.iv_off, "\xff\xff\xff\xff\xff\xff\xff\xfe", 8);
		build(&m, &p.i, true, 0);
		assert_int_equal(kt_ike_crypt_seal(&p.i, m.buf, m.len, &m.sk), KT_ERR_EXHAUSTED);
		assert_int_equal(kt_ike_crypt_seal(&p.i, m.buf, m.len, &m.sk), KT_ERR_EXHAUSTED);
		pair_free(&p);
	}
}

/* CBC IVs: random, so no two messages share one. */
static void test_cbc_iv_random(void **state)
{
	(void)state;
	for (size_t i = N_AEAD; i < N_SUITES; i++) {
		uint8_t ivs[64][16];
		struct pair p;

		pair_init(&p, &suites[i]);
		for (size_t n = 0; n < 64; n++) {
			struct msg m;

			build_sealed(&m, &p.i, true, 0);
			memcpy(ivs[n], m.buf + m.sk.iv_off, suites[i].iv);
			for (size_t k = 0; k < n; k++)
				assert_memory_not_equal(ivs[k], ivs[n], suites[i].iv);
		}
		pair_free(&p);
	}
}

/* A Pad Length longer than the plaintext, under a valid ICV. */
static void test_bad_padding(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SUITES; i++) {
		struct pair p;
		struct msg m;

		pair_init(&p, &suites[i]);
		build(&m, &p.i, true, 0);
		m.buf[m.sk.icv_off - 1] = (uint8_t)m.sk.ct_len; /* pad + 1 > len */
		assert_int_equal(kt_ike_crypt_seal(&p.i, m.buf, m.len, &m.sk), 0);
		assert_int_equal(kt_ike_crypt_open(&p.r, m.buf, m.len, &m.sk), KT_ERR_MALFORMED);
		/* Largest legal pad: everything but the Pad Length byte, no payloads. */
		build(&m, &p.i, true, 0);
		m.buf[m.sk.icv_off - 1] = (uint8_t)(m.sk.ct_len - 1);
		assert_int_equal(kt_ike_crypt_seal(&p.i, m.buf, m.len, &m.sk), 0);
		assert_int_equal(kt_ike_crypt_open(&p.r, m.buf, m.len, &m.sk), 0);
		pair_free(&p);
	}
}

/* Spans that do not belong to this transform or this buffer. */
static void test_bad_spans(void **state)
{
	struct pair p;
	struct msg m;
	struct kt_ike_sk sk;
	(void)state;

	pair_init(&p, &suites[3]); /* aes128-sha256 */
	build(&m, &p.i, true, 0);
	struct { const char *label; size_t *field; long delta; size_t len; } cases[] = {
		{ "iv_len", &sk.iv_len, 8, m.len },
		{ "icv_len", &sk.icv_len, -4, m.len },
		{ "ct_len", &sk.ct_len, 1, m.len },
		{ "ct_off", &sk.ct_off, 16, m.len },
		{ "icv_off", &sk.icv_off, 1, m.len },
		{ "iv_off", &sk.iv_off, 100000, m.len },
		{ "short buffer", &sk.iv_len, 0, m.len - 1 },
		{ "no ciphertext", &sk.ct_len, -(long)m.sk.ct_len, m.len },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s\n", cases[i].label);
		sk = m.sk;
		*cases[i].field += (size_t)cases[i].delta;
		assert_int_equal(kt_ike_crypt_seal(&p.i, m.buf, cases[i].len, &sk), KT_ERR_INVAL);
		assert_int_equal(kt_ike_crypt_open(&p.r, m.buf, cases[i].len, &sk), KT_ERR_INVAL);
	}
	pair_free(&p);
}

/* SKF fragments (RFC 7383 §2.5): the AAD runs through the fragment
 * numbers, which the ICV therefore protects. */
static void test_skf_fragment(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SUITES; i += 3) {
		struct pair p;
		uint8_t buf[512];
		size_t iv = suites[i].iv, icv = suites[i].icv, blk = suites[i].block;
		size_t inner = 37, ct_len = (inner + 1 + blk - 1) / blk * blk;
		size_t body = KT_IKE_SKF_HDR_LEN + iv + ct_len + icv;
		size_t len = KT_IKE_HDR_LEN + KT_IKE_PAYLOAD_HDR_LEN + body;
		struct kt_ike_msg dm;
		struct kt_ike_sk sk;

		pair_init(&p, &suites[i]);
		memset(buf, 0, sizeof(buf));
		buf[16] = KT_IKE_PL_SKF;
		buf[17] = 0x20;
		buf[18] = KT_IKE_EXCH_IKE_AUTH;
		buf[19] = KT_IKE_FLAG_I;
		buf[27] = (uint8_t)len;
		buf[28] = KT_IKE_PL_IDI;
		buf[31] = (uint8_t)(KT_IKE_PAYLOAD_HDR_LEN + body);
		buf[33] = 1; /* fragment 1 */
		buf[35] = 2; /* of 2 */
		assert_int_equal(kt_ike_decode(buf, len, &dm), 0);
		assert_int_equal(kt_ike_sk_locate(&dm, p.i.iv_len, p.i.icv_len, p.i.block_size, &sk), 0);
		assert_true(sk.fragment);
		memset(buf + sk.ct_off, 0x77, inner);
		buf[sk.ct_off + ct_len - 1] = (uint8_t)(ct_len - inner - 1);
		assert_int_equal(kt_ike_crypt_seal(&p.i, buf, len, &sk), 0);
		uint8_t t[sizeof(buf)];
		memcpy(t, buf, len);
		assert_int_equal(kt_ike_crypt_open(&p.r, t, len, &sk), (int)inner);
		memcpy(t, buf, len);
		t[35] = 3; /* claims another total */
		assert_int_equal(kt_ike_crypt_open(&p.r, t, len, &sk), KT_ERR_AUTH);
		pair_free(&p);
	}
}

/* After the first message, AEAD seal and open of an SK payload make no
 * allocation at all, not even inside libcrypto. */
static void test_aead_no_alloc(void **state)
{
	(void)state;
	if (!counting_ok)
		skip();
	for (size_t i = 0; i < N_AEAD; i++) {
		struct pair p;
		struct msg m;
		long before;

		pair_init(&p, &suites[i]);
		build_sealed(&m, &p.i, true, 1);
		assert_int_equal(kt_ike_crypt_open(&p.r, m.buf, m.len, &m.sk), m.inner);
		before = n_allocs;
		for (int n = 0; n < 100; n++) {
			build_sealed(&m, &p.i, true, 1);
			assert_int_equal(kt_ike_crypt_open(&p.r, m.buf, m.len, &m.sk), m.inner);
		}
		assert_int_equal(n_allocs - before, 0);
		pair_free(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aead_known_answers),
		cmocka_unit_test(test_cbc_hmac_construction),
		cmocka_unit_test(test_aad_invalid),
		cmocka_unit_test(test_init_parameters),
		cmocka_unit_test(test_init_refusals),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_wrong_direction),
		cmocka_unit_test(test_keys_per_direction),
		cmocka_unit_test(test_tamper_every_byte),
		cmocka_unit_test(test_aead_iv_unique),
		cmocka_unit_test(test_cbc_iv_random),
		cmocka_unit_test(test_bad_padding),
		cmocka_unit_test(test_bad_spans),
		cmocka_unit_test(test_skf_fragment),
		cmocka_unit_test(test_aead_no_alloc),
	};

	/* Must come before libcrypto allocates anything. */
	countalloc_install();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
