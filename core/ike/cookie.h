/* Stateless cookies for IKE_SA_INIT under load (RFC 7296 §2.6): the
 * responder answers with a COOKIE notification it can check later without
 * having kept any state, Cookie = VersionIDofSecret | Hash(Ni | IPi | SPIi |
 * secret). The secret rotates (kt_ike_handle_expiry, every
 * KT_IKE_COOKIE_SECRET_LIFETIME); cookies made with the previous one stay
 * valid for one more period so that a rotation does not fail an initiator
 * that is just retrying. */
#ifndef KT_IKE_COOKIE_H
#define KT_IKE_COOKIE_H

#include "core/types.h"

#define KT_IKE_COOKIE_SECRET_LEN 32
#define KT_IKE_COOKIE_VERSION_LEN 4
/* 4-byte secret version | SHA-256; RFC 7296 §3.10.1 allows 1..64 bytes. */
#define KT_IKE_COOKIE_LEN (KT_IKE_COOKIE_VERSION_LEN + 32)

struct kt_ike_cookie_jar {
	uint8_t secret[KT_IKE_COOKIE_SECRET_LEN], prev[KT_IKE_COOKIE_SECRET_LEN];
	uint32_t version;    /* of secret; prev is version - 1 */
	bool has_prev;
	kt_tstamp rotated;   /* when secret was made */
};

/* A fresh random secret, no previous one. Returns 0 or KT_ERR_CRYPTO
 * (the jar is then wiped). */
int kt_ike_cookie_init(struct kt_ike_cookie_jar *j, kt_tstamp now);
/* The current secret becomes the previous one, a new random secret takes
 * version + 1. Returns 0 or KT_ERR_CRYPTO (the jar is then unchanged). */
int kt_ike_cookie_rotate(struct kt_ike_cookie_jar *j, kt_tstamp now);

/* out = version | SHA-256(Ni | IPi | SPIi | secret), IPi the initiator's
 * address in network order, SPIi 8 big-endian bytes. Returns 0,
 * KT_ERR_INVAL (no nonce, address version not 4 or 6), KT_ERR_NOMEM,
 * KT_ERR_CRYPTO. */
int kt_ike_cookie_make(const struct kt_ike_cookie_jar *j, const uint8_t *ni, size_t ni_len,
		       const struct kt_addr *src, uint64_t spi_i, uint8_t out[KT_IKE_COOKIE_LEN]);

/* Is cookie one we made for this Ni, address and SPIi, with the current
 * secret or the previous one? Compared in constant time; false for any
 * other length or an unknown version. */
bool kt_ike_cookie_check(const struct kt_ike_cookie_jar *j, const uint8_t *cookie, size_t len,
			 const uint8_t *ni, size_t ni_len, const struct kt_addr *src,
			 uint64_t spi_i);

void kt_ike_cookie_wipe(struct kt_ike_cookie_jar *j);

#endif
