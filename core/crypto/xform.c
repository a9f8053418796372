/* ESP/AH transforms over OpenSSL 3 EVP: the algorithm tables, keying the
 * libcrypto contexts once per SA, and the per-packet seal/open/mac calls,
 * which allocate nothing and set only the nonce or IV before each packet. */
#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "core/crypto/xform.h"
#include "core/bytes.h"
#include "core/err.h"

#define ESP_HDR_LEN 8       /* SPI + low sequence number, RFC 4303 §2 */
#define SEQ_HI_LEN 4        /* ESN high half in the ICV, RFC 4303 §2.2.1 */
#define ESP_ALIGN 4         /* trailer alignment, RFC 4303 §2.4 */
#define AEAD_IV_LEN 8       /* RFC 4106 §3.1, RFC 7634 §2 */
#define AEAD_ICV_LEN 16     /* RFC 4106 §6 (ICV 16), RFC 7634 §2 */
#define AEAD_NONCE_LEN (KT_XFORM_SALT_LEN + AEAD_IV_LEN) /* RFC 4106 §4 */
#define AEAD_AAD_ESN_LEN 12 /* SPI | seq_hi | seq_lo, RFC 4106 §5 */

struct encr_alg {
	uint16_t id;
	uint16_t bits;       /* key size named by the SA */
	bool fixed;          /* the only size: encr_key_bits may be 0 */
	bool aead;
	bool legacy;
	uint8_t key_len;     /* without the AEAD salt */
	uint8_t iv_len;
	uint8_t block_size;
	const char *name;    /* strongSwan keyword */
	const char *evp;     /* OpenSSL cipher name; NULL: no cipher */
};

static const struct encr_alg encr_algs[] = {
	/* id                        bits fixed  aead   legacy key iv blk */
	{ KT_ENCR_AES_GCM_16,        128, false, true,  false, 16, 8, ESP_ALIGN,
	  "aes128gcm16", "AES-128-GCM" },
	{ KT_ENCR_AES_GCM_16,        256, false, true,  false, 32, 8, ESP_ALIGN,
	  "aes256gcm16", "AES-256-GCM" },
	{ KT_ENCR_CHACHA20_POLY1305, 256, true,  true,  false, 32, 8, ESP_ALIGN,
	  "chacha20poly1305", "ChaCha20-Poly1305" },
	{ KT_ENCR_AES_CBC,           128, false, false, false, 16, 16, 16,
	  "aes128", "AES-128-CBC" },
	{ KT_ENCR_AES_CBC,           256, false, false, false, 32, 16, 16,
	  "aes256", "AES-256-CBC" },
	{ KT_ENCR_3DES_CBC,          192, true,  false, true,  24, 8, 8,
	  "3des", "DES-EDE3-CBC" },
	{ KT_ENCR_DES_CBC,            64, true,  false, true,   8, 8, 8,
	  "des", "DES-CBC" },
	{ KT_ENCR_NULL,                0, true,  false, false,  0, 0, ESP_ALIGN,
	  "null", NULL },
	{ KT_ENCR_NONE,                0, true,  false, false,  0, 0, ESP_ALIGN,
	  NULL, NULL },
};

struct integ_alg {
	uint16_t id;
	bool legacy;
	uint8_t key_len;     /* RFC 4868 §2.1.1: the hash output length */
	uint8_t icv_len;     /* truncated output */
	const char *name;
	const char *digest;  /* NULL: no MAC */
};

static const struct integ_alg integ_algs[] = {
	{ KT_INTEG_HMAC_MD5_96,       true,  16, 12, "md5",    "MD5" },      /* RFC 2403 */
	{ KT_INTEG_HMAC_SHA1_96,      true,  20, 12, "sha1",   "SHA1" },     /* RFC 2404 */
	{ KT_INTEG_HMAC_SHA2_256_128, false, 32, 16, "sha256", "SHA2-256" }, /* RFC 4868 */
	{ KT_INTEG_HMAC_SHA2_384_192, false, 48, 24, "sha384", "SHA2-384" },
	{ KT_INTEG_HMAC_SHA2_512_256, false, 64, 32, "sha512", "SHA2-512" },
	{ KT_INTEG_NONE,              false,  0,  0, NULL,     NULL },
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static bool encr_known(uint16_t id)
{
	for (size_t i = 0; i < N_ELEMS(encr_algs); i++)
		if (encr_algs[i].id == id)
			return true;
	return false;
}

static const struct encr_alg *find_encr(uint16_t id, uint16_t bits)
{
	for (size_t i = 0; i < N_ELEMS(encr_algs); i++) {
		const struct encr_alg *e = &encr_algs[i];
		if (e->id == id && (e->bits == bits || (bits == 0 && e->fixed)))
			return e;
	}
	return NULL;
}

static const struct integ_alg *find_integ(uint16_t id)
{
	for (size_t i = 0; i < N_ELEMS(integ_algs); i++)
		if (integ_algs[i].id == id)
			return &integ_algs[i];
	return NULL;
}

bool kt_encr_is_legacy(uint16_t encr)
{
	for (size_t i = 0; i < N_ELEMS(encr_algs); i++)
		if (encr_algs[i].id == encr && encr_algs[i].legacy)
			return true;
	return false;
}

bool kt_integ_is_legacy(uint16_t integ)
{
	const struct integ_alg *a = find_integ(integ);
	return a && a->legacy;
}

const char *kt_encr_name(uint16_t encr, uint16_t key_bits)
{
	const struct encr_alg *e = find_encr(encr, key_bits);
	return e ? e->name : NULL;
}

const char *kt_integ_name(uint16_t integ)
{
	const struct integ_alg *a = find_integ(integ);
	return a ? a->name : NULL;
}

int kt_encr_key_len(uint16_t encr, uint16_t key_bits)
{
	const struct encr_alg *e = find_encr(encr, key_bits);
	if (!e)
		return encr_known(encr) ? KT_ERR_INVAL : KT_ERR_UNSUPPORTED;
	return e->key_len + (e->aead ? KT_XFORM_SALT_LEN : 0);
}

int kt_integ_key_len(uint16_t integ)
{
	const struct integ_alg *a = find_integ(integ);
	return a ? a->key_len : KT_ERR_UNSUPPORTED;
}

/* DES lives in OpenSSL's legacy provider. Loading any provider explicitly
 * stops libcrypto from activating "default" on its own, so both are loaded,
 * once per process, and kept (the handles stay reachable here). */
static CRYPTO_ONCE legacy_once = CRYPTO_ONCE_STATIC_INIT;
static OSSL_PROVIDER *prov_default, *prov_legacy;

static void load_legacy(void)
{
	prov_default = OSSL_PROVIDER_load(NULL, "default");
	prov_legacy = OSSL_PROVIDER_load(NULL, "legacy");
}

static bool legacy_provider_ready(void)
{
	return CRYPTO_THREAD_run_once(&legacy_once, load_legacy) && prov_default && prov_legacy;
}

static int check_key(const uint8_t *key, size_t len, int want)
{
	if (want < 0)
		return want;
	if (len != (size_t)want || (len > 0 && !key))
		return KT_ERR_INVAL;
	return 0;
}

static int check_params(const struct kt_xform_params *p, const struct encr_alg **ep,
			const struct integ_alg **ip)
{
	const struct encr_alg *e = find_encr(p->encr, p->encr_key_bits);
	const struct integ_alg *i = find_integ(p->integ);
	int rc;

	if (!encr_known(p->encr) || !i)
		return KT_ERR_UNSUPPORTED;
	if (!e)
		return KT_ERR_INVAL;
	if ((e->legacy || i->legacy) && !p->allow_legacy)
		return KT_ERR_LEGACY;
	/* An AEAD carries its own ICV; anything else needs an HMAC (no
	 * encryption-only ESP, RFC 8221 §5). */
	if (e->aead != (i->id == KT_INTEG_NONE))
		return KT_ERR_INVAL;
	rc = check_key(p->encr_key, p->encr_key_len, kt_encr_key_len(p->encr, p->encr_key_bits));
	if (rc == 0)
		rc = check_key(p->integ_key, p->integ_key_len, i->key_len);
	*ep = e;
	*ip = i;
	return rc;
}

static int new_cipher_ctx(void **out, const EVP_CIPHER *c, const uint8_t *key, int enc,
			  bool aead)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!ctx)
		return KT_ERR_NOMEM;
	if (!EVP_CipherInit_ex(ctx, c, NULL, NULL, NULL, enc)
	    || (aead && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, AEAD_NONCE_LEN, NULL))
	    || !EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, enc)
	    || (!aead && !EVP_CIPHER_CTX_set_padding(ctx, 0))) {
		EVP_CIPHER_CTX_free(ctx);
		return KT_ERR_CRYPTO;
	}
	*out = ctx;
	return 0;
}

static int key_cipher(struct kt_xform *x, const struct encr_alg *e, const uint8_t *key,
		      uint8_t use)
{
	EVP_CIPHER *c;
	int rc;

	if (!e->evp)
		return 0;
	if (e->id == KT_ENCR_DES_CBC && !legacy_provider_ready())
		return KT_ERR_UNSUPPORTED;
	c = EVP_CIPHER_fetch(NULL, e->evp, NULL);
	if (!c)
		return KT_ERR_UNSUPPORTED;
	x->cipher = true;
	rc = use == KT_XFORM_USE_OPEN ? 0 : new_cipher_ctx(&x->enc_ctx, c, key, 1, e->aead);
	if (rc == 0 && use != KT_XFORM_USE_SEAL)
		rc = new_cipher_ctx(&x->dec_ctx, c, key, 0, e->aead);
	EVP_CIPHER_free(c);
	if (rc == 0 && e->aead)
		memcpy(x->salt, key + e->key_len, KT_XFORM_SALT_LEN);
	return rc;
}

static int key_mac(struct kt_xform *x, const struct integ_alg *i, const uint8_t *key, size_t len)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)i->digest, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx;

	if (!i->digest)
		return 0;
	mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	if (!mac)
		return KT_ERR_UNSUPPORTED;
	ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	if (!ctx)
		return KT_ERR_NOMEM;
	x->mac_ctx = ctx;
	return EVP_MAC_init(ctx, key, len, params) ? 0 : KT_ERR_CRYPTO;
}

int kt_xform_init(struct kt_xform *x, const struct kt_xform_params *p)
{
	const struct encr_alg *e = NULL;
	const struct integ_alg *i = NULL;
	int rc;

	memset(x, 0, sizeof(*x));
	rc = check_params(p, &e, &i);
	if (rc < 0)
		return rc;
	x->encr = p->encr;
	x->integ = p->integ;
	x->aead = e->aead;
	x->iv_len = e->iv_len;
	x->block_size = e->block_size;
	x->icv_len = e->aead ? AEAD_ICV_LEN : i->icv_len;
	rc = key_cipher(x, e, p->encr_key, p->use);
	if (rc == 0)
		rc = key_mac(x, i, p->integ_key, p->integ_key_len);
	if (rc < 0)
		kt_xform_free(x);
	return rc;
}

void kt_xform_free(struct kt_xform *x)
{
	EVP_CIPHER_CTX_free(x->enc_ctx);
	EVP_CIPHER_CTX_free(x->dec_ctx);
	EVP_MAC_CTX_free(x->mac_ctx);
	x->enc_ctx = x->dec_ctx = x->mac_ctx = NULL;
	OPENSSL_cleanse(x->salt, sizeof(x->salt));
}

int kt_random(uint8_t *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (len > INT_MAX)
		return KT_ERR_INVAL;
	return RAND_bytes(buf, (int)len) == 1 ? 0 : KT_ERR_CRYPTO;
}

/* ---- AEAD: AES-GCM (RFC 4106), ChaCha20-Poly1305 (RFC 7634) ---- */

/* AAD is the ESP header itself, or with ESN the SPI, seq_hi and seq_lo. */
static const uint8_t *aead_aad(const struct kt_xform_io *io, uint8_t *buf, int *len)
{
	if (!io->esn) {
		*len = ESP_HDR_LEN;
		return io->hdr;
	}
	memcpy(buf, io->hdr, 4);
	kt_put32(buf + 4, (uint32_t)(io->seq >> 32));
	memcpy(buf + 8, io->hdr + 4, 4);
	*len = AEAD_AAD_ESN_LEN;
	return buf;
}

static void aead_nonce(const struct kt_xform *x, const uint8_t *iv, uint8_t *nonce)
{
	memcpy(nonce, x->salt, KT_XFORM_SALT_LEN);
	memcpy(nonce + KT_XFORM_SALT_LEN, iv, AEAD_IV_LEN);
}

/* The AEAD operations shared by ESP and IKE's SK payload: nonce = salt | iv,
 * any AAD, data encrypted or decrypted in place. */
static int aead_encrypt(struct kt_xform *x, const uint8_t *aad, size_t aad_len,
			const uint8_t *iv, uint8_t *data, size_t len, uint8_t *icv)
{
	EVP_CIPHER_CTX *ctx = x->enc_ctx;
	uint8_t nonce[AEAD_NONCE_LEN], fin[EVP_MAX_BLOCK_LENGTH];
	int n, ok;

	if (!ctx)
		return KT_ERR_INVAL;
	aead_nonce(x, iv, nonce);
	ok = EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce)
	     && (aad_len == 0 || EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len))
	     && (len == 0 || EVP_EncryptUpdate(ctx, data, &n, data, (int)len))
	     && EVP_EncryptFinal_ex(ctx, fin, &n)
	     && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_ICV_LEN, icv);
	OPENSSL_cleanse(nonce, sizeof(nonce));
	return ok ? 0 : KT_ERR_CRYPTO;
}

static int aead_decrypt(struct kt_xform *x, const uint8_t *aad, size_t aad_len,
			const uint8_t *iv, uint8_t *data, size_t len, const uint8_t *icv)
{
	EVP_CIPHER_CTX *ctx = x->dec_ctx;
	uint8_t nonce[AEAD_NONCE_LEN], fin[EVP_MAX_BLOCK_LENGTH];
	int n, ok;

	if (!ctx)
		return KT_ERR_INVAL;
	aead_nonce(x, iv, nonce);
	ok = EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce)
	     && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_ICV_LEN, (void *)icv)
	     && (aad_len == 0 || EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len))
	     && (len == 0 || EVP_DecryptUpdate(ctx, data, &n, data, (int)len));
	OPENSSL_cleanse(nonce, sizeof(nonce));
	if (!ok)
		return KT_ERR_CRYPTO;
	if (EVP_DecryptFinal_ex(ctx, fin, &n) > 0)
		return 0;
	/* The tag is checked only after decryption: never leave unverified
	 * plaintext in the caller's buffer. */
	if (len > 0)
		memset(data, 0, len);
	return KT_ERR_AUTH;
}

static int aead_seal(struct kt_xform *x, struct kt_xform_io *io)
{
	uint8_t aadbuf[AEAD_AAD_ESN_LEN];
	int aad_len;
	const uint8_t *aad = aead_aad(io, aadbuf, &aad_len);

	kt_put32(io->iv, (uint32_t)(io->seq >> 32));
	kt_put32(io->iv + 4, (uint32_t)io->seq);
	return aead_encrypt(x, aad, (size_t)aad_len, io->iv, io->data, io->len, io->icv);
}

static int aead_open(struct kt_xform *x, struct kt_xform_io *io)
{
	uint8_t aadbuf[AEAD_AAD_ESN_LEN];
	int aad_len;
	const uint8_t *aad = aead_aad(io, aadbuf, &aad_len);

	return aead_decrypt(x, aad, (size_t)aad_len, io->iv, io->data, io->len, io->icv);
}

/* ---- cipher (CBC or NULL) + HMAC, encrypt-then-MAC (RFC 4303 §3.3.2.1) ---- */

static int mac_chunks(struct kt_xform *x, const struct kt_chunk *c, size_t n, uint8_t *icv)
{
	EVP_MAC_CTX *ctx = x->mac_ctx;
	uint8_t full[EVP_MAX_MD_SIZE];
	size_t len;

	/* No key: OpenSSL 3 restarts from the key set at init. */
	if (!EVP_MAC_init(ctx, NULL, 0, NULL))
		return KT_ERR_CRYPTO;
	for (size_t i = 0; i < n; i++)
		if (c[i].len > 0 && !EVP_MAC_update(ctx, c[i].p, c[i].len))
			return KT_ERR_CRYPTO;
	if (!EVP_MAC_final(ctx, full, &len, sizeof(full)) || len < x->icv_len)
		return KT_ERR_CRYPTO;
	memcpy(icv, full, x->icv_len);
	return 0;
}

/* ICV input: hdr | iv | data [| seq_hi] (RFC 4303 §2.2.1). */
static int etm_icv(struct kt_xform *x, const struct kt_xform_io *io, uint8_t *icv)
{
	uint8_t seq_hi[SEQ_HI_LEN];
	struct kt_chunk c[] = {
		{ io->hdr, ESP_HDR_LEN },
		{ io->iv, x->iv_len },
		{ io->data, io->len },
		{ seq_hi, io->esn ? SEQ_HI_LEN : 0 },
	};

	kt_put32(seq_hi, (uint32_t)(io->seq >> 32));
	return mac_chunks(x, c, N_ELEMS(c), icv);
}

/* CBC without OpenSSL padding: ESP pads to the block itself (RFC 4303 §2.4). */
static int cbc_crypt(EVP_CIPHER_CTX *ctx, const uint8_t *iv, uint8_t *data, size_t len)
{
	uint8_t fin[EVP_MAX_BLOCK_LENGTH];
	int n, m;

	if (!EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1)
	    || !EVP_CipherUpdate(ctx, data, &n, data, (int)len)
	    || !EVP_CipherFinal_ex(ctx, fin, &m) || (size_t)n != len || m != 0)
		return KT_ERR_CRYPTO;
	return 0;
}

static int etm_seal(struct kt_xform *x, struct kt_xform_io *io)
{
	if (x->cipher) {
		if (kt_random(io->iv, x->iv_len) < 0)
			return KT_ERR_CRYPTO;
		if (cbc_crypt(x->enc_ctx, io->iv, io->data, io->len) < 0)
			return KT_ERR_CRYPTO;
	}
	return etm_icv(x, io, io->icv);
}

static int etm_open(struct kt_xform *x, struct kt_xform_io *io)
{
	uint8_t icv[KT_XFORM_MAX_ICV];

	if (etm_icv(x, io, icv) < 0)
		return KT_ERR_CRYPTO;
	if (CRYPTO_memcmp(icv, io->icv, x->icv_len) != 0)
		return KT_ERR_AUTH;
	if (x->cipher)
		return cbc_crypt(x->dec_ctx, io->iv, io->data, io->len);
	return 0;
}

/* ESP needs a cipher (or NULL encryption) and whole blocks (block sizes
 * are powers of two); AH transforms (KT_ENCR_NONE) have no ESP data path. */
/* A transform keyed for one direction only (enum kt_xform_use) has no
 * cipher context for the other. */
static bool keyed_for(const struct kt_xform *x, bool seal)
{
	return !x->cipher || (seal ? x->enc_ctx : x->dec_ctx) != NULL;
}

static bool io_ok(const struct kt_xform *x, const struct kt_xform_io *io)
{
	if (x->encr == KT_ENCR_NONE || (!x->aead && !x->mac_ctx))
		return false;
	return io->len <= INT_MAX && (io->len & (size_t)(x->block_size - 1)) == 0;
}

int kt_xform_seal(struct kt_xform *x, struct kt_xform_io *io)
{
	if (!io_ok(x, io) || !keyed_for(x, true))
		return KT_ERR_INVAL;
	return x->aead ? aead_seal(x, io) : etm_seal(x, io);
}

int kt_xform_open(struct kt_xform *x, struct kt_xform_io *io)
{
	if (!io_ok(x, io) || !keyed_for(x, false))
		return KT_ERR_INVAL;
	return x->aead ? aead_open(x, io) : etm_open(x, io);
}

int kt_xform_mac(struct kt_xform *x, const struct kt_chunk *chunks, size_t n, uint8_t *icv)
{
	if (!x->mac_ctx)
		return KT_ERR_INVAL;
	return mac_chunks(x, chunks, n, icv);
}

/* ---- generic AEAD-style protection (IKE's SK payload) ---- */

/* ICV input for cipher+HMAC: aad | iv | ciphertext (RFC 7296 §3.14). */
static int etm_icv_aad(struct kt_xform *x, const uint8_t *aad, size_t aad_len,
		       const uint8_t *iv, const uint8_t *data, size_t len, uint8_t *icv)
{
	struct kt_chunk c[] = {
		{ aad, aad_len },
		{ iv, x->iv_len },
		{ data, len },
	};

	return mac_chunks(x, c, N_ELEMS(c), icv);
}

/* Needs encryption (AEAD, or a cipher or NULL with HMAC); CBC needs whole
 * blocks, an AEAD any length. */
static bool aad_ok(const struct kt_xform *x, size_t aad_len, size_t len)
{
	if (x->encr == KT_ENCR_NONE || (!x->aead && !x->mac_ctx))
		return false;
	if (aad_len > INT_MAX || len > INT_MAX)
		return false;
	return x->aead || !x->cipher || len % x->block_size == 0;
}

int kt_xform_seal_aad(struct kt_xform *x, const uint8_t *aad, size_t aad_len, const uint8_t *iv,
		      uint8_t *data, size_t len, uint8_t *icv)
{
	if (!aad_ok(x, aad_len, len) || !keyed_for(x, true))
		return KT_ERR_INVAL;
	if (x->aead)
		return aead_encrypt(x, aad, aad_len, iv, data, len, icv);
	if (x->cipher && len > 0 && cbc_crypt(x->enc_ctx, iv, data, len) < 0)
		return KT_ERR_CRYPTO;
	return etm_icv_aad(x, aad, aad_len, iv, data, len, icv);
}

int kt_xform_open_aad(struct kt_xform *x, const uint8_t *aad, size_t aad_len, const uint8_t *iv,
		      uint8_t *data, size_t len, const uint8_t *icv)
{
	uint8_t want[KT_XFORM_MAX_ICV];
	int rc;

	if (!aad_ok(x, aad_len, len) || !keyed_for(x, false))
		return KT_ERR_INVAL;
	if (x->aead)
		return aead_decrypt(x, aad, aad_len, iv, data, len, icv);
	rc = etm_icv_aad(x, aad, aad_len, iv, data, len, want);
	if (rc < 0)
		return rc;
	if (CRYPTO_memcmp(want, icv, x->icv_len) != 0)
		return KT_ERR_AUTH;
	if (x->cipher && len > 0)
		return cbc_crypt(x->dec_ctx, iv, data, len);
	return 0;
}
