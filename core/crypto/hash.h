/* Plain message digests over OpenSSL 3 EVP, for the few places IKEv2 hashes
 * without a key: NAT detection (SHA-1, RFC 7296 §2.23) and stateless
 * cookies (SHA-256, §2.6). */
#ifndef KT_CRYPTO_HASH_H
#define KT_CRYPTO_HASH_H

#include "core/crypto/xform.h" /* struct kt_chunk */
#include "core/types.h"

#define KT_HASH_SHA1_LEN 20
#define KT_HASH_SHA256_LEN 32

/* out = H(c[0] | c[1] | ... | c[n-1]); empty chunks are allowed. Returns 0,
 * KT_ERR_NOMEM, KT_ERR_CRYPTO. */
int kt_hash_sha1(const struct kt_chunk *c, size_t n, uint8_t out[KT_HASH_SHA1_LEN]);
int kt_hash_sha256(const struct kt_chunk *c, size_t n, uint8_t out[KT_HASH_SHA256_LEN]);

#endif
