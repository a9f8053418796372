/* Stateless IKE_SA_INIT cookies (RFC 7296 §2.6): a versioned keyed hash of
 * what identifies the initiator's request, checked against the current or
 * the previous secret. */
#include <string.h>

#include <openssl/crypto.h>

#include "core/crypto/hash.h"
#include "core/crypto/xform.h"
#include "core/bytes.h"
#include "core/err.h"
#include "core/ike/cookie.h"

#define SPI_LEN 8 /* RFC 7296 §3.1 */

int kt_ike_cookie_init(struct kt_ike_cookie_jar *j, kt_tstamp now)
{
	memset(j, 0, sizeof(*j));
	if (kt_random(j->secret, sizeof(j->secret)) < 0) {
		kt_ike_cookie_wipe(j);
		return KT_ERR_CRYPTO;
	}
	j->version = 1;
	j->rotated = now;
	return 0;
}

int kt_ike_cookie_rotate(struct kt_ike_cookie_jar *j, kt_tstamp now)
{
	uint8_t fresh[KT_IKE_COOKIE_SECRET_LEN];

	if (kt_random(fresh, sizeof(fresh)) < 0)
		return KT_ERR_CRYPTO;
	memcpy(j->prev, j->secret, sizeof(j->prev));
	memcpy(j->secret, fresh, sizeof(j->secret));
	OPENSSL_cleanse(fresh, sizeof(fresh));
	j->version++;
	j->has_prev = true;
	j->rotated = now;
	return 0;
}

static int make(const uint8_t *secret, uint32_t version, const uint8_t *ni, size_t ni_len,
		const struct kt_addr *src, uint64_t spi_i, uint8_t out[KT_IKE_COOKIE_LEN])
{
	uint8_t spi[SPI_LEN];

	if (!ni || ni_len == 0 || !src || (src->version != 4 && src->version != 6))
		return KT_ERR_INVAL;
	for (int i = SPI_LEN - 1; i >= 0; i--, spi_i >>= 8)
		spi[i] = (uint8_t)spi_i;
	struct kt_chunk c[] = {
		{ ni, ni_len },
		{ src->bytes, src->version == 4 ? 4 : 16 },
		{ spi, sizeof(spi) },
		{ secret, KT_IKE_COOKIE_SECRET_LEN },
	};
	kt_put32(out, version);
	return kt_hash_sha256(c, sizeof(c) / sizeof(c[0]), out + KT_IKE_COOKIE_VERSION_LEN);
}

int kt_ike_cookie_make(const struct kt_ike_cookie_jar *j, const uint8_t *ni, size_t ni_len,
		       const struct kt_addr *src, uint64_t spi_i, uint8_t out[KT_IKE_COOKIE_LEN])
{
	return make(j->secret, j->version, ni, ni_len, src, spi_i, out);
}

bool kt_ike_cookie_check(const struct kt_ike_cookie_jar *j, const uint8_t *cookie, size_t len,
			 const uint8_t *ni, size_t ni_len, const struct kt_addr *src,
			 uint64_t spi_i)
{
	uint8_t want[KT_IKE_COOKIE_LEN];
	const uint8_t *secret;
	uint32_t version;
	bool ok;

	if (!cookie || len != KT_IKE_COOKIE_LEN)
		return false;
	/* The version is public (it travels in clear); only the hash is secret. */
	version = kt_get32(cookie);
	if (version == j->version)
		secret = j->secret;
	else if (j->has_prev && version == j->version - 1)
		secret = j->prev;
	else
		return false;
	ok = make(secret, version, ni, ni_len, src, spi_i, want) == 0
	     && CRYPTO_memcmp(want, cookie, KT_IKE_COOKIE_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

void kt_ike_cookie_wipe(struct kt_ike_cookie_jar *j)
{
	OPENSSL_cleanse(j, sizeof(*j));
}
