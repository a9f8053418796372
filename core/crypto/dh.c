/* IKEv2 key exchange over OpenSSL 3 EVP_PKEY: key pairs for the MODP, ECP
 * and Curve25519 groups, IKE's wire form of public values, and the RFC 6989
 * checks on the peer's value before any shared secret is computed. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/dh.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/proverr.h>

#include "core/crypto/dh.h"
#include "core/err.h"

#define EC_MAX_FIELD 66            /* P-521, RFC 5903 §3.3 */
#define EC_POINT_UNCOMPRESSED 0x04 /* SEC 1 §2.3.3; IKE omits it, RFC 5903 §7 */
#define MODP_GENERATOR 2           /* RFC 2409 §6.1, §6.2 */
#define PARAMS_MAX_BN 3            /* p, g and one key value */

enum group_kind { MODP, ECP, ECX };

struct group {
	uint16_t id;
	uint8_t kind;          /* enum group_kind */
	bool legacy;
	uint16_t len;          /* modulus or field size in bytes */
	const char *name;      /* strongSwan keyword */
	const char *type;      /* OpenSSL key type */
	const char *ossl_name; /* OpenSSL group name; NULL: see prime */
	BIGNUM *(*prime)(BIGNUM *); /* RFC 2409 groups OpenSSL does not name */
};

static const struct group groups[] = {
	{ KT_DH_MODP_768,    MODP, true,   96, "modp768",  "DH", NULL, BN_get_rfc2409_prime_768 },
	{ KT_DH_MODP_1024,   MODP, true,  128, "modp1024", "DH", NULL, BN_get_rfc2409_prime_1024 },
	{ KT_DH_MODP_1536,   MODP, true,  192, "modp1536", "DH", "modp_1536", NULL },
	{ KT_DH_MODP_2048,   MODP, false, 256, "modp2048", "DH", "modp_2048", NULL },
	{ KT_DH_MODP_3072,   MODP, false, 384, "modp3072", "DH", "modp_3072", NULL },
	{ KT_DH_MODP_4096,   MODP, false, 512, "modp4096", "DH", "modp_4096", NULL },
	{ KT_DH_ECP_256,     ECP,  false,  32, "ecp256",   "EC", "P-256", NULL },
	{ KT_DH_ECP_384,     ECP,  false,  48, "ecp384",   "EC", "P-384", NULL },
	{ KT_DH_ECP_521,     ECP,  false,  66, "ecp521",   "EC", "P-521", NULL },
	{ KT_DH_CURVE_25519, ECX,  false,  32, "x25519",   "X25519", NULL, NULL },
};

static const struct group *find_group(uint16_t id)
{
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (groups[i].id == id)
			return &groups[i];
	return NULL;
}

static size_t public_len(const struct group *g)
{
	return g->kind == ECP ? 2u * g->len : g->len;
}

int kt_dh_public_len(uint16_t group)
{
	const struct group *g = find_group(group);
	return g ? (int)public_len(g) : KT_ERR_UNSUPPORTED;
}

int kt_dh_secret_len(uint16_t group)
{
	const struct group *g = find_group(group);
	return g ? g->len : KT_ERR_UNSUPPORTED;
}

bool kt_dh_is_legacy(uint16_t group)
{
	const struct group *g = find_group(group);
	return g && g->legacy;
}

const char *kt_dh_name(uint16_t group)
{
	const struct group *g = find_group(group);
	return g ? g->name : NULL;
}

/* ---- OSSL_PARAM building: a group plus optional key values ---- */

struct params {
	OSSL_PARAM_BLD *bld;
	BIGNUM *bn[PARAMS_MAX_BN]; /* must outlive OSSL_PARAM_BLD_to_param */
	size_t n;
};

/* One key value: a big-endian integer (DH public, EC private) or an octet
 * string (EC point, X25519 key). Private integers go to secure memory so
 * that OSSL_PARAM_free clears them. */
struct keyval {
	const char *name;
	const uint8_t *p;
	size_t len;
	bool integer;
	bool secret;
};

static bool push_bn(struct params *ps, const char *name, BIGNUM *bn)
{
	if (!bn || ps->n == PARAMS_MAX_BN) {
		BN_clear_free(bn);
		return false;
	}
	ps->bn[ps->n++] = bn;
	return OSSL_PARAM_BLD_push_BN(ps->bld, name, bn);
}

/* OpenSSL has no name for the RFC 2409 groups: give p and g = 2. (Without
 * q: OpenSSL 3.0 fails to make a key for these p with q given. The range
 * check in modp_check is all a safe prime needs, RFC 6989 §2.1.) */
static bool push_rfc2409_group(struct params *ps, const struct group *g)
{
	BIGNUM *p = g->prime(NULL), *gen = BN_new();

	if (!p || !gen || !BN_set_word(gen, MODP_GENERATOR)) {
		BN_free(p);
		BN_free(gen);
		return false;
	}
	/* both pushes run: each one takes its BIGNUM */
	bool ok = push_bn(ps, OSSL_PKEY_PARAM_FFC_P, p);
	return push_bn(ps, OSSL_PKEY_PARAM_FFC_G, gen) && ok;
}

static bool push_group(struct params *ps, const struct group *g)
{
	if (g->ossl_name)
		return OSSL_PARAM_BLD_push_utf8_string(ps->bld, OSSL_PKEY_PARAM_GROUP_NAME,
						       g->ossl_name, 0);
	if (g->prime)
		return push_rfc2409_group(ps, g);
	return true; /* X25519 has no parameters */
}

static bool push_keyval(struct params *ps, const struct keyval *kv)
{
	BIGNUM *bn;

	if (!kv->integer)
		return OSSL_PARAM_BLD_push_octet_string(ps->bld, kv->name, kv->p, kv->len);
	bn = kv->secret ? BN_secure_new() : BN_new();
	if (bn && !BN_bin2bn(kv->p, (int)kv->len, bn)) {
		BN_clear_free(bn);
		bn = NULL;
	}
	return push_bn(ps, kv->name, bn);
}

/* An EVP_PKEY of group g from its parameters and nkv key values;
 * selection says what the result holds. */
static int import_key(const struct group *g, int selection, const struct keyval *kv,
		      size_t nkv, EVP_PKEY **out)
{
	struct params ps = { .bld = OSSL_PARAM_BLD_new() };
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	bool built = ps.bld && push_group(&ps, g);
	int rc = KT_ERR_NOMEM;

	*out = NULL;
	for (size_t i = 0; built && i < nkv; i++)
		built = push_keyval(&ps, &kv[i]);
	if (built)
		params = OSSL_PARAM_BLD_to_param(ps.bld);
	if (params)
		ctx = EVP_PKEY_CTX_new_from_name(NULL, g->type, NULL);
	if (ctx) {
		rc = KT_ERR_CRYPTO;
		if (EVP_PKEY_fromdata_init(ctx) > 0 &&
		    EVP_PKEY_fromdata(ctx, out, selection, params) > 0)
			rc = 0;
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	for (size_t i = 0; i < ps.n; i++)
		BN_clear_free(ps.bn[i]);
	OSSL_PARAM_BLD_free(ps.bld);
	return rc;
}

/* ---- our key pair ---- */

static int generate(const struct group *g, EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx;
	int rc;

	*out = NULL;
	if (g->kind == ECX) {
		ctx = EVP_PKEY_CTX_new_from_name(NULL, g->type, NULL);
	} else {
		EVP_PKEY *params;

		rc = import_key(g, EVP_PKEY_KEY_PARAMETERS, NULL, 0, &params);
		if (rc < 0)
			return rc;
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
		EVP_PKEY_free(params); /* ctx holds its own reference */
	}
	if (!ctx)
		return KT_ERR_NOMEM;
	rc = EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_generate(ctx, out) > 0 ? 0 : KT_ERR_CRYPTO;
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int kt_dh_init(struct kt_dh *dh, uint16_t group, bool allow_legacy)
{
	const struct group *g = find_group(group);
	EVP_PKEY *key;
	int rc;

	memset(dh, 0, sizeof(*dh));
	if (!g)
		return KT_ERR_UNSUPPORTED;
	if (g->legacy && !allow_legacy)
		return KT_ERR_LEGACY;
	ERR_set_mark();
	rc = generate(g, &key);
	ERR_pop_to_mark();
	if (rc < 0)
		return rc;
	dh->group = group;
	dh->key = key;
	return 0;
}

void kt_dh_free(struct kt_dh *dh)
{
	EVP_PKEY_free(dh->key); /* clears the private key */
	memset(dh, 0, sizeof(*dh));
}

int kt_dh_new(uint16_t group, bool allow_legacy, struct kt_dh **out)
{
	struct kt_dh *dh = malloc(sizeof(*dh));
	int rc;

	*out = NULL;
	if (!dh)
		return KT_ERR_NOMEM;
	rc = kt_dh_init(dh, group, allow_legacy);
	if (rc < 0) {
		free(dh);
		return rc;
	}
	*out = dh;
	return 0;
}

void kt_dh_del(struct kt_dh *dh)
{
	if (!dh)
		return;
	kt_dh_free(dh);
	free(dh);
}

/* ---- test-only: a key pair from a known private value ---- */

/* EC import does not derive the public point from the private scalar,
 * so compute d * G here (uncompressed SEC 1 encoding into pub). */
static int ec_public_from_private(const struct group *g, const uint8_t *priv, uint8_t *pub,
				  size_t *pub_len)
{
	EC_GROUP *grp = EC_GROUP_new_by_curve_name_ex(NULL, NULL, EC_curve_nist2nid(g->ossl_name));
	EC_POINT *pt = grp ? EC_POINT_new(grp) : NULL;
	BIGNUM *d = BN_secure_new();
	int rc = KT_ERR_CRYPTO;

	if (pt && d && BN_bin2bn(priv, g->len, d) && EC_POINT_mul(grp, pt, d, NULL, NULL, NULL)) {
		*pub_len = EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, pub,
					      1 + 2 * EC_MAX_FIELD, NULL);
		if (*pub_len == 1 + public_len(g))
			rc = 0;
	}
	BN_clear_free(d);
	EC_POINT_free(pt);
	EC_GROUP_free(grp);
	return rc;
}

static int key_from_private(const struct group *g, const uint8_t *priv, EVP_PKEY **out)
{
	uint8_t pub[1 + 2 * EC_MAX_FIELD];
	size_t pub_len = 0;
	int rc;

	if (g->kind == ECX) {
		*out = EVP_PKEY_new_raw_private_key_ex(NULL, g->type, NULL, priv, g->len);
		return *out ? 0 : KT_ERR_CRYPTO;
	}
	rc = ec_public_from_private(g, priv, pub, &pub_len);
	if (rc < 0)
		return rc;
	const struct keyval kv[] = {
		{ OSSL_PKEY_PARAM_PRIV_KEY, priv, g->len, true, true },
		{ OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len, false, false },
	};
	return import_key(g, EVP_PKEY_KEYPAIR, kv, 2, out);
}

int kt_dh_new_with_private(uint16_t group, const uint8_t *priv, size_t priv_len,
			   struct kt_dh **out)
{
	const struct group *g = find_group(group);
	struct kt_dh *dh;
	int rc;

	*out = NULL;
	if (!g || g->kind == MODP)
		return KT_ERR_UNSUPPORTED;
	if (!priv || priv_len != g->len)
		return KT_ERR_INVAL;
	dh = calloc(1, sizeof(*dh));
	if (!dh)
		return KT_ERR_NOMEM;
	ERR_set_mark();
	rc = key_from_private(g, priv, (EVP_PKEY **)&dh->key);
	ERR_pop_to_mark();
	if (rc < 0) {
		free(dh);
		return rc;
	}
	dh->group = group;
	*out = dh;
	return 0;
}

/* ---- public values ---- */

static int modp_public(EVP_PKEY *key, uint8_t *buf, size_t len)
{
	BIGNUM *y = NULL;
	int rc = KT_ERR_CRYPTO;

	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PUB_KEY, &y) &&
	    BN_bn2binpad(y, buf, (int)len) == (int)len)
		rc = (int)len;
	BN_free(y);
	return rc;
}

/* OpenSSL encodes an EC point as 0x04 | x | y; IKE sends x | y. */
static int octet_public(EVP_PKEY *key, bool ec, uint8_t *buf, size_t len)
{
	uint8_t enc[1 + 2 * EC_MAX_FIELD];
	size_t skip = ec ? 1 : 0, n = 0;

	if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, enc, sizeof(enc), &n) ||
	    n != len + skip || (ec && enc[0] != EC_POINT_UNCOMPRESSED))
		return KT_ERR_CRYPTO;
	memcpy(buf, enc + skip, len);
	return (int)len;
}

int kt_dh_public(const struct kt_dh *dh, uint8_t *buf, size_t len)
{
	const struct group *g = find_group(dh->group);
	size_t want;
	int rc;

	if (!g || !dh->key || !buf)
		return KT_ERR_INVAL;
	want = public_len(g);
	if (len < want)
		return KT_ERR_NOSPACE;
	ERR_set_mark();
	if (g->kind == MODP)
		rc = modp_public(dh->key, buf, want);
	else
		rc = octet_public(dh->key, g->kind == ECP, buf, want);
	ERR_pop_to_mark();
	return rc;
}

/* ---- the peer's value and the shared secret ---- */

/* RFC 6989 §2.1: 1 < y < p-1. The MODP primes here are safe primes, so
 * this also excludes the only small subgroup, {1, p-1}. */
static int modp_check(EVP_PKEY *ours, const uint8_t *peer, size_t len)
{
	BIGNUM *p = NULL, *y = BN_bin2bn(peer, (int)len, NULL);
	int rc = KT_ERR_NOMEM;

	if (y) {
		rc = KT_ERR_CRYPTO;
		if (EVP_PKEY_get_bn_param(ours, OSSL_PKEY_PARAM_FFC_P, &p) && BN_sub_word(p, 1))
			rc = BN_cmp(y, BN_value_one()) > 0 && BN_cmp(y, p) < 0 ? 0 : KT_ERR_INVAL;
	}
	BN_free(p);
	BN_free(y);
	return rc;
}

/* RFC 6989 §2.3: the point must lie on the curve (OpenSSL refuses one that
 * does not when importing it) and not be the point at infinity (which x | y
 * cannot even spell); EVP_PKEY_public_check checks both again, and the
 * order. */
static int ecp_check(EVP_PKEY *peer)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL);
	int ok;

	if (!ctx)
		return KT_ERR_NOMEM;
	ok = EVP_PKEY_public_check(ctx) > 0;
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : KT_ERR_INVAL;
}

static int import_peer(const struct kt_dh *dh, const struct group *g, const uint8_t *peer,
		       EVP_PKEY **out)
{
	uint8_t point[1 + 2 * EC_MAX_FIELD];
	struct keyval kv = { OSSL_PKEY_PARAM_PUB_KEY, peer, public_len(g), g->kind == MODP, false };
	int rc;

	if (g->kind == MODP) {
		rc = modp_check(dh->key, peer, kv.len);
		if (rc < 0)
			return rc;
	}
	if (g->kind == ECP) {
		point[0] = EC_POINT_UNCOMPRESSED;
		memcpy(point + 1, peer, kv.len);
		kv.p = point;
		kv.len++;
	}
	rc = import_key(g, EVP_PKEY_PUBLIC_KEY, &kv, 1, out);
	if (g->kind != ECP)
		return rc;
	if (rc == KT_ERR_CRYPTO)
		return KT_ERR_INVAL; /* not a point of the curve */
	return rc < 0 ? rc : ecp_check(*out);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

/* RFC 7748 §6.1 / RFC 8031 §2.3: a low-order peer value makes the X25519
 * result all zero. OpenSSL refuses that result itself with this reason;
 * any other failure is libcrypto's. */
static int derive_failed(const struct group *g)
{
	unsigned long e = ERR_peek_last_error();

	if (g->kind == ECX && ERR_GET_LIB(e) == ERR_LIB_PROV &&
	    ERR_GET_REASON(e) == PROV_R_FAILED_DURING_DERIVATION)
		return KT_ERR_INVAL;
	return KT_ERR_CRYPTO;
}

static int agree(EVP_PKEY *ours, const struct group *g, EVP_PKEY *peer, uint8_t *secret)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ours, NULL);
	size_t n = g->len;
	int rc = KT_ERR_CRYPTO;

	if (!ctx)
		return KT_ERR_NOMEM;
	/* dh_pad: the full modulus length, RFC 7296 §2.14 */
	if (EVP_PKEY_derive_init(ctx) <= 0 ||
	    (g->kind == MODP && EVP_PKEY_CTX_set_dh_pad(ctx, 1) <= 0) ||
	    EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) <= 0)
		goto out;
	if (EVP_PKEY_derive(ctx, secret, &n) <= 0)
		rc = derive_failed(g);
	else if (n != g->len)
		rc = KT_ERR_CRYPTO;
	else if (g->kind == ECX && all_zero(secret, n))
		rc = KT_ERR_INVAL;
	else
		rc = (int)n;
out:
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int kt_dh_derive(struct kt_dh *dh, const uint8_t *peer, size_t peer_len,
		 uint8_t *secret, size_t secret_len)
{
	const struct group *g = find_group(dh->group);
	EVP_PKEY *pk = NULL;
	int rc;

	if (!g || !dh->key || !peer || !secret)
		return KT_ERR_INVAL;
	if (peer_len != public_len(g))
		return KT_ERR_MALFORMED;
	if (secret_len < g->len)
		return KT_ERR_NOSPACE;
	ERR_set_mark();
	rc = import_peer(dh, g, peer, &pk);
	if (rc == 0)
		rc = agree(dh->key, g, pk, secret);
	ERR_pop_to_mark();
	EVP_PKEY_free(pk);
	if (rc < 0)
		OPENSSL_cleanse(secret, secret_len);
	return rc;
}

void kt_dh_secret_wipe(uint8_t *secret, size_t len)
{
	OPENSSL_cleanse(secret, len);
}
