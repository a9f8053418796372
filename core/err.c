/* Names of the core's error codes, for logs and the CLI. */
#include "core/err.h"

const char *kt_strerror(int err)
{
	switch (err) {
	case KT_OK: return "success";
	case KT_ERR_INVAL: return "invalid argument";
	case KT_ERR_NOMEM: return "out of memory";
	case KT_ERR_NOSPACE: return "no room in packet buffer";
	case KT_ERR_MALFORMED: return "malformed packet";
	case KT_ERR_NO_SA: return "no SA for SPI";
	case KT_ERR_REPLAY: return "replayed sequence number";
	case KT_ERR_TOO_OLD: return "sequence number left of replay window";
	case KT_ERR_AUTH: return "integrity check failed";
	case KT_ERR_PADDING: return "bad ESP padding";
	case KT_ERR_POLICY: return "refused by policy";
	case KT_ERR_EXHAUSTED: return "sequence numbers exhausted";
	case KT_ERR_EXPIRED: return "SA past hard lifetime";
	case KT_ERR_DUMMY: return "dummy packet";
	case KT_ERR_PROTO: return "unexpected next header";
	case KT_ERR_LEGACY: return "insecure legacy algorithm on an SA not marked legacy";
	case KT_ERR_UNSUPPORTED: return "unsupported algorithm";
	case KT_ERR_CRYPTO: return "libcrypto failure";
	case KT_ERR_EXISTS: return "already exists";
	case KT_ERR_NOT_FOUND: return "not found";
	case KT_ERR_DISCARD: return "discarded by policy";
	case KT_ERR_ACQUIRE: return "no SA yet for protected traffic";
	case KT_ERR_FRAGMENT: return "fragmented IPsec packet";
	case KT_ERR_IKE_MAJOR_VERSION: return "IKE major version above 2";
	case KT_ERR_IKE_CRITICAL: return "unsupported critical IKE payload";
	case KT_ERR_IKE_SYNTAX: return "IKE field value not allowed by RFC 7296";
	case KT_ERR_IKE_LIMIT: return "IKE message exceeds a codec limit";
	}
	return "unknown error";
}
