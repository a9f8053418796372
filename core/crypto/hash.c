/* SHA-1 and SHA-256 over a list of chunks, through EVP_Digest*: the unkeyed
 * hashes of NAT detection and cookies. Not on the packet path. */
#include <openssl/evp.h>

#include "core/crypto/hash.h"
#include "core/err.h"

static int digest(const EVP_MD *md, const struct kt_chunk *c, size_t n, uint8_t *out,
		  unsigned int want)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;
	int ok;

	if (!ctx)
		return KT_ERR_NOMEM;
	ok = md && EVP_DigestInit_ex(ctx, md, NULL);
	for (size_t i = 0; ok && i < n; i++)
		if (c[i].len > 0)
			ok = EVP_DigestUpdate(ctx, c[i].p, c[i].len);
	ok = ok && EVP_DigestFinal_ex(ctx, out, &len) && len == want;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : KT_ERR_CRYPTO;
}

int kt_hash_sha1(const struct kt_chunk *c, size_t n, uint8_t out[KT_HASH_SHA1_LEN])
{
	return digest(EVP_sha1(), c, n, out, KT_HASH_SHA1_LEN);
}

int kt_hash_sha256(const struct kt_chunk *c, size_t n, uint8_t out[KT_HASH_SHA256_LEN])
{
	return digest(EVP_sha256(), c, n, out, KT_HASH_SHA256_LEN);
}
