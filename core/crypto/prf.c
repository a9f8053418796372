/* IKEv2's PRF over OpenSSL's HMAC and the key schedule built on it: prf+,
 * the IKE SA secrets, their rekeyed form and CHILD_SA keying material
 * (RFC 7296 §2.13, §2.14, §2.17, §2.18). */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "core/crypto/prf.h"
#include "core/err.h"

#define SEED_MAX_CHUNKS 4 /* Ni, Nr, SPIi, SPIr  or  g^ir, Ni, Nr */
/* SK_d, SK_pi, SK_pr plus two SK_a and two SK_e (RFC 7296 §2.14) */
#define IKE_KEYMAT_MAX (3 * KT_PRF_MAX_LEN + 4 * KT_KDF_MAX_KEY)
/* two encryption and two integrity keys (RFC 7296 §2.17) */
#define CHILD_KEYMAT_MAX (4 * KT_KDF_MAX_KEY)

struct prf_alg {
	uint16_t id;
	bool legacy;
	uint8_t len;        /* HMAC output = preferred key length, RFC 4868 §2.1.2 */
	const char *name;   /* strongSwan keyword */
	const char *digest; /* OpenSSL digest name */
};

static const struct prf_alg prf_algs[] = {
	{ KT_PRF_HMAC_SHA2_256, false, 32, "prfsha256", "SHA2-256" },
	{ KT_PRF_HMAC_SHA2_384, false, 48, "prfsha384", "SHA2-384" },
	{ KT_PRF_HMAC_SHA2_512, false, 64, "prfsha512", "SHA2-512" },
	{ KT_PRF_HMAC_SHA1,     true,  20, "prfsha1",   "SHA1" },
};

static const struct prf_alg *find_prf(uint16_t id)
{
	for (size_t i = 0; i < sizeof(prf_algs) / sizeof(prf_algs[0]); i++)
		if (prf_algs[i].id == id)
			return &prf_algs[i];
	return NULL;
}

bool kt_prf_is_legacy(uint16_t id)
{
	const struct prf_alg *a = find_prf(id);
	return a && a->legacy;
}

const char *kt_prf_name(uint16_t id)
{
	const struct prf_alg *a = find_prf(id);
	return a ? a->name : NULL;
}

static int new_hmac_ctx(const struct prf_alg *a, EVP_MAC *mac, EVP_MAC_CTX **out)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)a->digest, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);

	if (!ctx)
		return KT_ERR_NOMEM;
	/* (the output size is known only once keyed: kt_prf checks it) */
	if (!EVP_MAC_CTX_set_params(ctx, params)) {
		EVP_MAC_CTX_free(ctx);
		return KT_ERR_CRYPTO;
	}
	*out = ctx;
	return 0;
}

int kt_prf_init(struct kt_prf *prf, uint16_t id, bool allow_legacy)
{
	const struct prf_alg *a = find_prf(id);
	EVP_MAC_CTX *ctx = NULL;
	EVP_MAC *mac;
	int rc;

	memset(prf, 0, sizeof(*prf));
	if (!a)
		return KT_ERR_UNSUPPORTED;
	if (a->legacy && !allow_legacy)
		return KT_ERR_LEGACY;
	mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	if (!mac)
		return KT_ERR_CRYPTO;
	rc = new_hmac_ctx(a, mac, &ctx);
	if (rc < 0) {
		EVP_MAC_free(mac);
		return rc;
	}
	prf->id = id;
	prf->len = a->len;
	prf->mac = mac;
	prf->ctx = ctx;
	return 0;
}

void kt_prf_free(struct kt_prf *prf)
{
	EVP_MAC_CTX_free(prf->ctx); /* cleanses the keyed HMAC state */
	EVP_MAC_free(prf->mac);
	memset(prf, 0, sizeof(*prf));
}

size_t kt_prf_len(const struct kt_prf *prf)
{
	return prf->len;
}

int kt_prf(struct kt_prf *prf, const uint8_t *key, size_t key_len,
	   const struct kt_chunk *data, size_t n, uint8_t *out)
{
	size_t out_len = 0;

	/* EVP_MAC_init with no key would reuse the previous call's key. */
	if (!prf->ctx || !key || key_len == 0 || (n && !data) || !out)
		return KT_ERR_INVAL;
	if (!EVP_MAC_init(prf->ctx, key, key_len, NULL))
		return KT_ERR_CRYPTO;
	for (size_t i = 0; i < n; i++) {
		if (data[i].len == 0)
			continue;
		if (!data[i].p)
			return KT_ERR_INVAL;
		if (!EVP_MAC_update(prf->ctx, data[i].p, data[i].len))
			return KT_ERR_CRYPTO;
	}
	if (!EVP_MAC_final(prf->ctx, out, &out_len, prf->len) || out_len != prf->len)
		return KT_ERR_CRYPTO;
	return (int)out_len;
}

/* The HMAC context keeps state derived from the last key (its inner and
 * outer pads) until it is keyed again: rekey it with a public constant
 * once a secret key is done with. */
static void prf_forget(struct kt_prf *prf)
{
	static const uint8_t dummy = 0;

	if (prf->ctx)
		(void)EVP_MAC_init(prf->ctx, &dummy, sizeof(dummy), NULL);
}

static int prf_plus_chunks(struct kt_prf *prf, const uint8_t *key, size_t key_len,
			   const struct kt_chunk *seed, size_t n_seed, uint8_t *out, size_t out_len)
{
	struct kt_chunk in[SEED_MAX_CHUNKS + 2];
	uint8_t t[KT_PRF_MAX_LEN];
	uint8_t counter = 0;
	size_t done = 0;
	int rc = 0;

	if (!prf->ctx || n_seed > SEED_MAX_CHUNKS || (out_len && !out) ||
	    out_len > (size_t)KT_PRF_PLUS_MAX_BLOCKS * prf->len)
		return KT_ERR_INVAL;
	in[0] = (struct kt_chunk){ t, 0 }; /* T0 is empty */
	memcpy(in + 1, seed, n_seed * sizeof(*seed));
	in[n_seed + 1] = (struct kt_chunk){ &counter, 1 };
	while (done < out_len) {
		size_t take = out_len - done < prf->len ? out_len - done : prf->len;

		counter++;
		rc = kt_prf(prf, key, key_len, in, n_seed + 2, t);
		if (rc < 0)
			break;
		memcpy(out + done, t, take);
		done += take;
		in[0].len = prf->len;
	}
	OPENSSL_cleanse(t, sizeof(t));
	if (rc < 0) {
		OPENSSL_cleanse(out, out_len);
		return rc;
	}
	return 0;
}

int kt_prf_plus(struct kt_prf *prf, const uint8_t *key, size_t key_len,
		const uint8_t *seed, size_t seed_len, uint8_t *out, size_t out_len)
{
	const struct kt_chunk s = { seed, seed_len };
	int rc;

	if (!key || key_len == 0)
		return KT_ERR_INVAL;
	rc = prf_plus_chunks(prf, key, key_len, &s, 1, out, out_len);
	prf_forget(prf);
	return rc;
}

/* RFC 7296 §2.10: at least 128 bits and at least half the PRF's key size;
 * §3.9: at most 256 bytes. */
static bool nonces_ok(const struct kt_prf *prf, const struct kt_kdf_in *in)
{
	size_t min = prf->len / 2 > KT_NONCE_MIN_LEN ? prf->len / 2 : KT_NONCE_MIN_LEN;

	return in->ni && in->nr && in->ni_len >= min && in->nr_len >= min &&
	       in->ni_len <= KT_NONCE_MAX_LEN && in->nr_len <= KT_NONCE_MAX_LEN;
}

static bool kdf_in_ok(const struct kt_prf *prf, const struct kt_kdf_in *in, bool ike)
{
	if (!prf->ctx || !nonces_ok(prf, in))
		return false;
	if (in->encr_key_len > KT_KDF_MAX_KEY || in->integ_key_len > KT_KDF_MAX_KEY)
		return false;
	if (in->g_ir ? in->g_ir_len == 0 : in->g_ir_len != 0)
		return false;
	if (ike)
		return in->g_ir && in->spi_i && in->spi_r;
	return in->encr_key_len + in->integ_key_len > 0;
}

static const uint8_t *take(uint8_t *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
	return src + n;
}

/* {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
 *   = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)  (RFC 7296 §2.14) */
static int ike_split(struct kt_prf *prf, const uint8_t *skeyseed, size_t skeyseed_len,
		     const struct kt_kdf_in *in, struct kt_ike_keys *out)
{
	const struct kt_chunk seed[] = {
		{ in->ni, in->ni_len }, { in->nr, in->nr_len },
		{ in->spi_i, KT_IKE_SPI_LEN }, { in->spi_r, KT_IKE_SPI_LEN },
	};
	size_t p = prf->len, a = in->integ_key_len, e = in->encr_key_len;
	size_t total = 3 * p + 2 * a + 2 * e;
	uint8_t keymat[IKE_KEYMAT_MAX];
	const uint8_t *k = keymat;
	int rc = prf_plus_chunks(prf, skeyseed, skeyseed_len, seed, 4, keymat, total);

	if (rc == 0) {
		out->prf_len = p;
		out->integ_len = a;
		out->encr_len = e;
		k = take(out->sk_d, k, p);
		k = take(out->sk_ai, k, a);
		k = take(out->sk_ar, k, a);
		k = take(out->sk_ei, k, e);
		k = take(out->sk_er, k, e);
		k = take(out->sk_pi, k, p);
		take(out->sk_pr, k, p);
	}
	OPENSSL_cleanse(keymat, total);
	return rc;
}

int kt_ike_keys_derive(struct kt_prf *prf, const struct kt_kdf_in *in, struct kt_ike_keys *out)
{
	uint8_t nonces[2 * KT_NONCE_MAX_LEN];
	uint8_t skeyseed[KT_PRF_MAX_LEN];
	const struct kt_chunk gir = { in->g_ir, in->g_ir_len };
	int rc;

	kt_ike_keys_wipe(out);
	if (!kdf_in_ok(prf, in, true))
		return KT_ERR_INVAL;
	/* SKEYSEED = prf(Ni | Nr, g^ir): HMAC keys at any length, so the
	 * nonces are the key as they are (RFC 7296 §2.14). */
	memcpy(nonces, in->ni, in->ni_len);
	memcpy(nonces + in->ni_len, in->nr, in->nr_len);
	rc = kt_prf(prf, nonces, in->ni_len + in->nr_len, &gir, 1, skeyseed);
	if (rc >= 0)
		rc = ike_split(prf, skeyseed, (size_t)rc, in, out);
	OPENSSL_cleanse(skeyseed, sizeof(skeyseed));
	prf_forget(prf);
	if (rc < 0)
		kt_ike_keys_wipe(out);
	return rc < 0 ? rc : 0;
}

int kt_ike_keys_rekey(struct kt_prf *old_prf, const uint8_t *old_sk_d, size_t old_sk_d_len,
		      struct kt_prf *new_prf, const struct kt_kdf_in *in, struct kt_ike_keys *out)
{
	const struct kt_chunk data[] = {
		{ in->g_ir, in->g_ir_len }, { in->ni, in->ni_len }, { in->nr, in->nr_len },
	};
	uint8_t skeyseed[KT_PRF_MAX_LEN];
	int rc;

	kt_ike_keys_wipe(out);
	if (!old_prf->ctx || !old_sk_d || old_sk_d_len == 0 || !kdf_in_ok(new_prf, in, true))
		return KT_ERR_INVAL;
	/* The exchange belongs to the old SA, so its PRF makes SKEYSEED. */
	rc = kt_prf(old_prf, old_sk_d, old_sk_d_len, data, 3, skeyseed);
	if (rc >= 0)
		rc = ike_split(new_prf, skeyseed, (size_t)rc, in, out);
	OPENSSL_cleanse(skeyseed, sizeof(skeyseed));
	prf_forget(old_prf);
	prf_forget(new_prf);
	if (rc < 0)
		kt_ike_keys_wipe(out);
	return rc < 0 ? rc : 0;
}

int kt_child_keys_derive(struct kt_prf *prf, const uint8_t *sk_d, size_t sk_d_len,
			 const struct kt_kdf_in *in, struct kt_child_keys *out)
{
	const struct kt_chunk seed[] = {
		{ in->g_ir, in->g_ir_len }, { in->ni, in->ni_len }, { in->nr, in->nr_len },
	};
	size_t e = in->encr_key_len, a = in->integ_key_len, total = 2 * (e + a);
	uint8_t keymat[CHILD_KEYMAT_MAX];
	const uint8_t *k = keymat;
	int rc;

	kt_child_keys_wipe(out);
	if (!sk_d || sk_d_len == 0 || !kdf_in_ok(prf, in, false))
		return KT_ERR_INVAL;
	rc = prf_plus_chunks(prf, sk_d, sk_d_len, seed, 3, keymat, total);
	prf_forget(prf);
	if (rc == 0) {
		out->encr_len = e;
		out->integ_len = a;
		k = take(out->encr_i, k, e);
		k = take(out->integ_i, k, a);
		k = take(out->encr_r, k, e);
		take(out->integ_r, k, a);
	}
	OPENSSL_cleanse(keymat, total);
	return rc;
}

void kt_ike_keys_wipe(struct kt_ike_keys *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

void kt_child_keys_wipe(struct kt_child_keys *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}
