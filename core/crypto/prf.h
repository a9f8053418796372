/* IKEv2's pseudo-random function and key schedule over OpenSSL 3 HMAC:
 * prf and prf+ (RFC 7296 §2.13), the IKE SA keys (§2.14), their rekeyed
 * form (§2.18) and CHILD_SA keying material (§2.17). PRF numbers are the
 * IKEv2 Transform Type 2 IDs. */
#ifndef KT_CRYPTO_PRF_H
#define KT_CRYPTO_PRF_H

#include "core/crypto/xform.h" /* struct kt_chunk, KT_XFORM_MAX_KEY */
#include "core/types.h"

/* Transform Type 2 (PRF) IDs. */
enum kt_prf_alg {
	KT_PRF_HMAC_SHA1 = 2,       /* legacy, RFC 2104 */
	KT_PRF_HMAC_SHA2_256 = 5,   /* RFC 4868 */
	KT_PRF_HMAC_SHA2_384 = 6,
	KT_PRF_HMAC_SHA2_512 = 7,
};

#define KT_PRF_MAX_LEN 64          /* HMAC-SHA2-512 output */
#define KT_PRF_PLUS_MAX_BLOCKS 255 /* RFC 7296 §2.13: one-octet counter */
#define KT_NONCE_MIN_LEN 16        /* RFC 7296 §2.10: at least 128 bits */
#define KT_NONCE_MAX_LEN 256       /* RFC 7296 §3.9 */
#define KT_IKE_SPI_LEN 8           /* RFC 7296 §3.1 */
#define KT_KDF_MAX_KEY KT_XFORM_MAX_KEY /* one SK_a or SK_e (with AEAD salt) */

/* One PRF: the HMAC is fetched and its context made once, by init; each
 * call only rekeys that context. Not for concurrent use. */
struct kt_prf {
	uint16_t id;   /* enum kt_prf_alg */
	uint8_t len;   /* output bytes = preferred key bytes (RFC 4868 §2.1.2) */
	void *mac;     /* EVP_MAC * */
	void *ctx;     /* EVP_MAC_CTX *, digest set */
};

/* Returns 0, KT_ERR_LEGACY (HMAC-SHA1 without allow_legacy),
 * KT_ERR_UNSUPPORTED, KT_ERR_NOMEM, KT_ERR_CRYPTO. On failure nothing
 * needs freeing; kt_prf_free is safe on a zeroed or freed object. */
int kt_prf_init(struct kt_prf *prf, uint16_t id, bool allow_legacy);
void kt_prf_free(struct kt_prf *prf);
/* Output length in bytes. */
size_t kt_prf_len(const struct kt_prf *prf);
bool kt_prf_is_legacy(uint16_t id);
/* strongSwan's keyword ("prfsha256"); NULL if unknown. */
const char *kt_prf_name(uint16_t id);

/* out = prf(key, data[0] | data[1] | ...); out holds kt_prf_len bytes.
 * HMAC takes the key at any length, so no §2.14 key fitting is needed.
 * Returns kt_prf_len, KT_ERR_INVAL (empty key), KT_ERR_CRYPTO. */
int kt_prf(struct kt_prf *prf, const uint8_t *key, size_t key_len,
	   const struct kt_chunk *data, size_t n, uint8_t *out);

/* out = first out_len bytes of T1 | T2 | ..., T1 = prf(K, S | 0x01),
 * Tn = prf(K, Tn-1 | S | n). Returns 0, KT_ERR_INVAL (out_len above
 * 255 * kt_prf_len, empty key), KT_ERR_CRYPTO; on failure out is wiped. */
int kt_prf_plus(struct kt_prf *prf, const uint8_t *key, size_t key_len,
		const uint8_t *seed, size_t seed_len, uint8_t *out, size_t out_len);

/* Inputs of one key derivation. Nonces are the Nonce Data stripped of
 * headers; each must be KT_NONCE_MIN_LEN..KT_NONCE_MAX_LEN bytes and at
 * least half the PRF's key size (RFC 7296 §2.10). g^ir is the full-length
 * shared secret from kt_dh_derive. */
struct kt_kdf_in {
	const uint8_t *g_ir;   /* NULL for a CHILD_SA without PFS */
	size_t g_ir_len;
	const uint8_t *ni, *nr;
	size_t ni_len, nr_len;
	const uint8_t *spi_i, *spi_r; /* KT_IKE_SPI_LEN bytes each; IKE SA only */
	size_t encr_key_len;   /* per direction; AEAD: key plus 4-byte salt */
	size_t integ_key_len;  /* per direction; 0 for AEADs */
};

/* The seven IKE SA secrets of RFC 7296 §2.14. */
struct kt_ike_keys {
	size_t prf_len, integ_len, encr_len;
	uint8_t sk_d[KT_PRF_MAX_LEN];
	uint8_t sk_ai[KT_KDF_MAX_KEY], sk_ar[KT_KDF_MAX_KEY];
	uint8_t sk_ei[KT_KDF_MAX_KEY], sk_er[KT_KDF_MAX_KEY];
	uint8_t sk_pi[KT_PRF_MAX_LEN], sk_pr[KT_PRF_MAX_LEN];
};

/* One CHILD_SA's keys (RFC 7296 §2.17, single protocol): _i protects
 * traffic from initiator to responder, _r the other direction. */
struct kt_child_keys {
	size_t encr_len, integ_len;
	uint8_t encr_i[KT_KDF_MAX_KEY], integ_i[KT_KDF_MAX_KEY];
	uint8_t encr_r[KT_KDF_MAX_KEY], integ_r[KT_KDF_MAX_KEY];
};

/* IKE_SA_INIT: SKEYSEED = prf(Ni | Nr, g^ir), then
 * {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
 *   = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
 * Returns 0, KT_ERR_INVAL (missing input, nonce or key length out of
 * range), KT_ERR_CRYPTO. On failure out is wiped. */
int kt_ike_keys_derive(struct kt_prf *prf, const struct kt_kdf_in *in, struct kt_ike_keys *out);

/* IKE SA rekey (RFC 7296 §2.18): SKEYSEED = prf(SK_d (old), g^ir (new) |
 * Ni | Nr) with the old SA's PRF, the prf+ split as above with the new SA's
 * PRF, nonces and SPIs. Same returns as kt_ike_keys_derive. */
int kt_ike_keys_rekey(struct kt_prf *old_prf, const uint8_t *old_sk_d, size_t old_sk_d_len,
		      struct kt_prf *new_prf, const struct kt_kdf_in *in, struct kt_ike_keys *out);

/* CHILD_SA: KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr), split as
 * encr_i | integ_i | encr_r | integ_r (RFC 7296 §2.17 citing RFC 4301:
 * encryption key first). in->spi_* are ignored. Same returns as above. */
int kt_child_keys_derive(struct kt_prf *prf, const uint8_t *sk_d, size_t sk_d_len,
			 const struct kt_kdf_in *in, struct kt_child_keys *out);

void kt_ike_keys_wipe(struct kt_ike_keys *k);
void kt_child_keys_wipe(struct kt_child_keys *k);

#endif
