/* IKEv2 key exchange (Transform Type 4) over OpenSSL 3: MODP groups
 * (RFC 3526), NIST ECP groups (RFC 5903) and Curve25519 (RFC 8031). Public
 * values are in IKE wire form; the peer's is validated as RFC 6989 asks
 * before it is used. */
#ifndef KT_CRYPTO_DH_H
#define KT_CRYPTO_DH_H

#include "core/types.h"

/* Transform Type 4 IDs. */
enum kt_dh_group {
	KT_DH_MODP_768 = 1,      /* legacy, RFC 2409 §6.1 */
	KT_DH_MODP_1024 = 2,     /* legacy, RFC 2409 §6.2 */
	KT_DH_MODP_1536 = 5,     /* legacy, RFC 3526 §2 */
	KT_DH_MODP_2048 = 14,    /* RFC 3526 §3 */
	KT_DH_MODP_3072 = 15,
	KT_DH_MODP_4096 = 16,
	KT_DH_ECP_256 = 19,      /* RFC 5903 */
	KT_DH_ECP_384 = 20,
	KT_DH_ECP_521 = 21,
	KT_DH_CURVE_25519 = 31,  /* RFC 8031 */
};

#define KT_DH_MAX_PUBLIC 512 /* MODP 4096 */
#define KT_DH_MAX_SECRET 512

/* Our half of one exchange: a fresh key pair. */
struct kt_dh {
	uint16_t group;
	void *key; /* EVP_PKEY *, our key pair */
};

/* Generate a key pair for group. Returns 0, KT_ERR_LEGACY (groups 1, 2, 5
 * without allow_legacy), KT_ERR_UNSUPPORTED, KT_ERR_NOMEM, KT_ERR_CRYPTO.
 * On failure nothing needs freeing; kt_dh_free is safe on a zeroed or
 * freed object. */
int kt_dh_init(struct kt_dh *dh, uint16_t group, bool allow_legacy);
/* Free the key pair (libcrypto wipes the private key). */
void kt_dh_free(struct kt_dh *dh);
/* The same on the heap; kt_dh_del(NULL) is a no-op. */
int kt_dh_new(uint16_t group, bool allow_legacy, struct kt_dh **out);
void kt_dh_del(struct kt_dh *dh);

/* For tests only: a key pair from a known private value (big-endian
 * scalar of the field size for ECP, the 32-byte string for Curve25519),
 * to check RFC 5903 §8 and RFC 7748 §6.1. MODP: KT_ERR_UNSUPPORTED. */
int kt_dh_new_with_private(uint16_t group, const uint8_t *priv, size_t priv_len,
			   struct kt_dh **out);

/* Wire lengths in bytes: public value (MODP: modulus; ECP: x | y; X25519:
 * 32) and shared secret (MODP: modulus; ECP: x; X25519: 32), or
 * KT_ERR_UNSUPPORTED. */
int kt_dh_public_len(uint16_t group);
int kt_dh_secret_len(uint16_t group);
bool kt_dh_is_legacy(uint16_t group);
/* strongSwan's keyword ("modp2048", "ecp256", "x25519"); NULL if unknown. */
const char *kt_dh_name(uint16_t group);

/* Write our public value in IKE wire form (RFC 7296 §3.4: MODP left-padded
 * to the modulus; RFC 5903 §7: x | y, no point-format octet).
 * Returns its length, KT_ERR_NOSPACE, KT_ERR_CRYPTO. */
int kt_dh_public(const struct kt_dh *dh, uint8_t *buf, size_t len);

/* Check the peer's public value and compute the shared secret g^ir into
 * secret, at its full length (RFC 7296 §2.14: left-padded with zeros).
 * Returns the secret length, or
 *   KT_ERR_MALFORMED  peer_len is not kt_dh_public_len(group);
 *   KT_ERR_INVAL      the value is unacceptable (RFC 6989): MODP not
 *                     1 < y < p-1, ECP not a point of the curve,
 *                     Curve25519 giving an all-zero secret;
 *   KT_ERR_NOSPACE    secret_len too small;
 *   KT_ERR_NOMEM, KT_ERR_CRYPTO.
 * On failure secret holds no key material. */
int kt_dh_derive(struct kt_dh *dh, const uint8_t *peer, size_t peer_len,
		 uint8_t *secret, size_t secret_len);

/* Wipe a shared secret the caller no longer needs. */
void kt_dh_secret_wipe(uint8_t *secret, size_t len);

#endif
