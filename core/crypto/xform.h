/* The one door to OpenSSL for ESP and AH: a transform bundles an encryption
 * algorithm and an integrity algorithm with ready-made libcrypto contexts,
 * keyed once when the SA is created, so the packet path allocates nothing.
 * Cipher+HMAC transforms are wrapped to look like an AEAD (as Linux does),
 * so ESP has one data path. Algorithm numbers are the IKEv2 transform IDs
 * (RFC 7296 §3.3.2, IANA "Transform Type 1/3"). */
#ifndef KT_CRYPTO_XFORM_H
#define KT_CRYPTO_XFORM_H

#include "core/types.h"

/* Transform Type 1 (encryption) IDs. */
enum kt_encr {
	KT_ENCR_NONE = 0,               /* AH: no encryption */
	KT_ENCR_DES_CBC = 2,            /* legacy */
	KT_ENCR_3DES_CBC = 3,           /* legacy */
	KT_ENCR_NULL = 11,              /* RFC 2410 */
	KT_ENCR_AES_CBC = 12,           /* RFC 3602, 128/256-bit keys */
	KT_ENCR_AES_GCM_16 = 20,        /* RFC 4106, 16-byte ICV, 4-byte salt */
	KT_ENCR_CHACHA20_POLY1305 = 28, /* RFC 7634, 4-byte salt */
};

/* Transform Type 3 (integrity) IDs. */
enum kt_integ {
	KT_INTEG_NONE = 0,
	KT_INTEG_HMAC_MD5_96 = 1,       /* legacy, RFC 2403 */
	KT_INTEG_HMAC_SHA1_96 = 2,      /* legacy, RFC 2404 */
	KT_INTEG_HMAC_SHA2_256_128 = 12,/* RFC 4868 */
	KT_INTEG_HMAC_SHA2_384_192 = 13,
	KT_INTEG_HMAC_SHA2_512_256 = 14,
};

#define KT_XFORM_MAX_ICV 32
#define KT_XFORM_MAX_IV 16
#define KT_XFORM_MAX_KEY 64
#define KT_XFORM_SALT_LEN 4 /* GCM (RFC 4106 §8.1), ChaCha20-Poly1305 (RFC 7634 §2) */

/* Which directions a transform is keyed for: an SA only ever seals or only
 * opens, and one cipher context less is about 1 KiB less per SA. */
enum kt_xform_use { KT_XFORM_USE_BOTH = 0, KT_XFORM_USE_SEAL = 1, KT_XFORM_USE_OPEN = 2 };

struct kt_xform_params {
	uint16_t encr;           /* enum kt_encr */
	uint16_t encr_key_bits;  /* AES: 128 or 256; 0 = the algorithm's only size */
	const uint8_t *encr_key; /* AEAD: key followed by the 4-byte salt */
	size_t encr_key_len;
	uint16_t integ;          /* enum kt_integ; must be NONE for AEADs */
	const uint8_t *integ_key;
	size_t integ_key_len;    /* HMAC keys: the full hash output length */
	bool allow_legacy;       /* the SA is explicitly marked legacy */
	uint8_t use;             /* enum kt_xform_use; seal/open in the other
	                            direction then return KT_ERR_INVAL */
};

struct kt_xform {
	uint16_t encr, integ;
	bool aead;                /* GCM or ChaCha20-Poly1305 */
	bool cipher;              /* a real cipher (not NULL encryption, not AH) */
	uint8_t iv_len;           /* bytes of IV on the wire */
	uint8_t icv_len;          /* bytes of ICV on the wire */
	uint8_t block_size;       /* ESP payload alignment (at least 4) */
	uint8_t salt[KT_XFORM_SALT_LEN];
	void *enc_ctx;            /* EVP_CIPHER_CTX *, keyed for encryption */
	void *dec_ctx;            /* EVP_CIPHER_CTX *, keyed for decryption */
	void *mac_ctx;            /* EVP_MAC_CTX *, keyed HMAC */
};

/* The ESP view of one packet for seal/open. The ICV input for cipher+HMAC
 * is hdr | iv | data [| seq_hi]; for an AEAD the AAD is SPI | seq (with
 * ESN: SPI | seq_hi | seq_lo, RFC 4106 §5, RFC 7634 §2.1) and the nonce
 * salt | iv. */
struct kt_xform_io {
	const uint8_t *hdr;  /* 8-byte ESP header (SPI, low 32 bits of seq) */
	uint64_t seq;        /* full sequence number (AEAD IV on seal; seq_hi) */
	bool esn;            /* seq_hi takes part in the ICV */
	uint8_t *iv;         /* iv_len bytes on the wire; filled in by seal */
	uint8_t *data;       /* plaintext (seal) or ciphertext (open), in place */
	size_t len;          /* multiple of block_size */
	uint8_t *icv;        /* icv_len bytes: written by seal, read by open */
};

/* Key the contexts. Returns 0, KT_ERR_LEGACY (DES, 3DES, HMAC-MD5-96,
 * HMAC-SHA1-96 without allow_legacy), KT_ERR_INVAL (wrong key length, AEAD
 * with integrity, NULL without integrity), KT_ERR_UNSUPPORTED,
 * KT_ERR_NOMEM, KT_ERR_CRYPTO. On failure nothing needs freeing. */
int kt_xform_init(struct kt_xform *x, const struct kt_xform_params *p);
/* Free the contexts; keys inside them are wiped by libcrypto. */
void kt_xform_free(struct kt_xform *x);

/* Is this algorithm legacy (needs allow_legacy)? */
bool kt_encr_is_legacy(uint16_t encr);
bool kt_integ_is_legacy(uint16_t integ);
/* IKEv2 names as strongSwan writes them ("aes128gcm16", "sha256"); NULL if unknown. */
const char *kt_encr_name(uint16_t encr, uint16_t key_bits);
const char *kt_integ_name(uint16_t integ);
/* Key lengths in bytes the transform needs (encr: key + salt for AEADs). */
int kt_encr_key_len(uint16_t encr, uint16_t key_bits);
int kt_integ_key_len(uint16_t integ);

/* Encrypt io->data in place and write io->iv and io->icv. The IV is the
 * 64-bit sequence number for AEADs (unique per SA, RFC 4106 §3.1) and random
 * for CBC. Returns 0 or KT_ERR_CRYPTO. */
int kt_xform_seal(struct kt_xform *x, struct kt_xform_io *io);

/* Verify io->icv (in constant time) and only then decrypt io->data in
 * place. Returns 0, KT_ERR_AUTH, KT_ERR_CRYPTO. */
int kt_xform_open(struct kt_xform *x, struct kt_xform_io *io);

/* Generic protection for IKE's SK payload (and anything shaped like it),
 * with the caller's IV in iv (iv_len bytes, read only). AEAD (RFC 5282):
 * nonce = salt | iv, associated data aad. Cipher+HMAC (RFC 7296 §3.14):
 * encrypt data, then MAC aad | iv | data; open verifies in constant time
 * before decrypting. data is len bytes, in place; icv holds icv_len bytes.
 * Returns 0, KT_ERR_AUTH (open: ICV mismatch; an AEAD's data is then
 * zeroed), KT_ERR_INVAL (len not a multiple of block_size for CBC, an
 * AH-only transform, a length over INT_MAX), KT_ERR_CRYPTO. Allocates
 * nothing (the AEAD path not even inside libcrypto; OpenSSL 3.0's HMAC
 * re-init copies a digest context internally, as for ESP). */
int kt_xform_seal_aad(struct kt_xform *x, const uint8_t *aad, size_t aad_len, const uint8_t *iv,
		      uint8_t *data, size_t len, uint8_t *icv);
int kt_xform_open_aad(struct kt_xform *x, const uint8_t *aad, size_t aad_len, const uint8_t *iv,
		      uint8_t *data, size_t len, const uint8_t *icv);

/* One piece of a MAC input (AH: header, AH with zeroed ICV, payload, seq_hi). */
struct kt_chunk {
	const uint8_t *p;
	size_t len;
};

/* Integrity-only: HMAC over the chunks, truncated to icv_len, into icv.
 * Returns 0 or KT_ERR_CRYPTO; KT_ERR_INVAL if the transform has no MAC. */
int kt_xform_mac(struct kt_xform *x, const struct kt_chunk *chunks, size_t n, uint8_t *icv);

/* Fill buf with len bytes from libcrypto's CSPRNG: the core's one source of
 * randomness. Returns 0 or KT_ERR_CRYPTO. */
int kt_random(uint8_t *buf, size_t len);

#endif
