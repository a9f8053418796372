/* strongSwan-style proposal strings: keyword table, parser with the same
 * completeness rules as strongSwan (plus errors where strongSwan silently
 * drops algorithms), and the keyword and display formatters. Which
 * algorithms are legacy is the crypto door's decision, not this file's. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/text.h"
#include "core/ike/proposal.h"

struct keyword {
	const char *name;
	uint8_t type;  /* enum kt_ike_xf_type */
	uint16_t id;
	uint16_t bits; /* encryption key length; 0 for fixed-size ciphers */
};

/* The first entry for a (type, id, bits) is the canonical keyword the
 * formatter prints; later ones are strongSwan's aliases. */
static const struct keyword keywords[] = {
	{ "aes128", KT_IKE_XF_ENCR, KT_ENCR_AES_CBC, 128 },
	{ "aes256", KT_IKE_XF_ENCR, KT_ENCR_AES_CBC, 256 },
	{ "aes", KT_IKE_XF_ENCR, KT_ENCR_AES_CBC, 128 },
	{ "aes128gcm16", KT_IKE_XF_ENCR, KT_ENCR_AES_GCM_16, 128 },
	{ "aes128gcm128", KT_IKE_XF_ENCR, KT_ENCR_AES_GCM_16, 128 },
	{ "aes128gcm", KT_IKE_XF_ENCR, KT_ENCR_AES_GCM_16, 128 },
	{ "aes256gcm16", KT_IKE_XF_ENCR, KT_ENCR_AES_GCM_16, 256 },
	{ "aes256gcm128", KT_IKE_XF_ENCR, KT_ENCR_AES_GCM_16, 256 },
	{ "aes256gcm", KT_IKE_XF_ENCR, KT_ENCR_AES_GCM_16, 256 },
	{ "chacha20poly1305", KT_IKE_XF_ENCR, KT_ENCR_CHACHA20_POLY1305, 0 },
	{ "null", KT_IKE_XF_ENCR, KT_ENCR_NULL, 0 },
	{ "3des", KT_IKE_XF_ENCR, KT_ENCR_3DES_CBC, 0 },
	{ "des", KT_IKE_XF_ENCR, KT_ENCR_DES_CBC, 0 },
	{ "sha256", KT_IKE_XF_INTEG, KT_INTEG_HMAC_SHA2_256_128, 0 },
	{ "sha2_256", KT_IKE_XF_INTEG, KT_INTEG_HMAC_SHA2_256_128, 0 },
	{ "sha384", KT_IKE_XF_INTEG, KT_INTEG_HMAC_SHA2_384_192, 0 },
	{ "sha2_384", KT_IKE_XF_INTEG, KT_INTEG_HMAC_SHA2_384_192, 0 },
	{ "sha512", KT_IKE_XF_INTEG, KT_INTEG_HMAC_SHA2_512_256, 0 },
	{ "sha2_512", KT_IKE_XF_INTEG, KT_INTEG_HMAC_SHA2_512_256, 0 },
	{ "sha1", KT_IKE_XF_INTEG, KT_INTEG_HMAC_SHA1_96, 0 },
	{ "sha", KT_IKE_XF_INTEG, KT_INTEG_HMAC_SHA1_96, 0 },
	{ "md5", KT_IKE_XF_INTEG, KT_INTEG_HMAC_MD5_96, 0 },
	{ "prfsha256", KT_IKE_XF_PRF, KT_PRF_HMAC_SHA2_256, 0 },
	{ "prfsha384", KT_IKE_XF_PRF, KT_PRF_HMAC_SHA2_384, 0 },
	{ "prfsha512", KT_IKE_XF_PRF, KT_PRF_HMAC_SHA2_512, 0 },
	{ "prfsha1", KT_IKE_XF_PRF, KT_PRF_HMAC_SHA1, 0 },
	{ "modp2048", KT_IKE_XF_DH, KT_DH_MODP_2048, 0 },
	{ "modp3072", KT_IKE_XF_DH, KT_DH_MODP_3072, 0 },
	{ "modp4096", KT_IKE_XF_DH, KT_DH_MODP_4096, 0 },
	{ "ecp256", KT_IKE_XF_DH, KT_DH_ECP_256, 0 },
	{ "ecp384", KT_IKE_XF_DH, KT_DH_ECP_384, 0 },
	{ "ecp521", KT_IKE_XF_DH, KT_DH_ECP_521, 0 },
	{ "x25519", KT_IKE_XF_DH, KT_DH_CURVE_25519, 0 },
	{ "curve25519", KT_IKE_XF_DH, KT_DH_CURVE_25519, 0 },
	{ "modp1536", KT_IKE_XF_DH, KT_DH_MODP_1536, 0 },
	{ "modp1024", KT_IKE_XF_DH, KT_DH_MODP_1024, 0 },
	{ "modp768", KT_IKE_XF_DH, KT_DH_MODP_768, 0 },
	{ "none", KT_IKE_XF_DH, KT_PROPOSAL_DH_NONE, 0 },
	{ "modpnone", KT_IKE_XF_DH, KT_PROPOSAL_DH_NONE, 0 },
	{ "noesn", KT_IKE_XF_ESN, KT_IKE_ESN_NO, 0 },
	{ "esn", KT_IKE_XF_ESN, KT_IKE_ESN_YES, 0 },
};

/* strongSwan keywords we know but do not implement: a clearer message than
 * "unknown". Entries ending in '*' match as a prefix. */
static const char *const unsupported[] = {
	"aes192*", "aes128ctr", "aes256ctr", "aes128ccm*", "aes256ccm*", "aes128gcm8",
	"aes128gcm12", "aes128gcm64", "aes128gcm96", "aes256gcm8", "aes256gcm12",
	"aes256gcm64", "aes256gcm96", "aes128gmac", "aes256gmac", "camellia*", "blowfish*",
	"cast128", "serpent*", "twofish*", "chacha20poly1305compat", "sha1_160", "sha256_96",
	"sha2_256_96", "md5_128", "aesxcbc", "aescmac", "prfmd5", "prfaesxcbc",
	"prfaescmac", "prfcamelliaxcbc", "modpnull", "modp6144", "modp8192", "modp1024s160",
	"modp2048s224", "modp2048s256", "ecp192", "ecp224", "ecp224bp", "ecp256bp",
	"ecp384bp", "ecp512bp", "curve448", "x448", "ntru*", "kyber*",
};

struct id_name {
	uint16_t id;
	const char *name;
};

/* strongSwan's enum names (display form), including IDs a peer may offer. */
static const struct id_name encr_names[] = {
	{ 2, "DES" }, { 3, "3DES" }, { 11, "NULL" }, { 12, "AES_CBC" }, { 13, "AES_CTR" },
	{ 14, "AES_CCM_8" }, { 15, "AES_CCM_12" }, { 16, "AES_CCM_16" }, { 18, "AES_GCM_8" },
	{ 19, "AES_GCM_12" }, { 20, "AES_GCM_16" }, { 21, "NULL_AES_GMAC" },
	{ 23, "CAMELLIA_CBC" }, { 24, "CAMELLIA_CTR" }, { 28, "CHACHA20_POLY1305" },
};
static const struct id_name integ_names[] = {
	{ 1, "HMAC_MD5_96" }, { 2, "HMAC_SHA1_96" }, { 5, "AES_XCBC_96" },
	{ 8, "AES_CMAC_96" }, { 12, "HMAC_SHA2_256_128" }, { 13, "HMAC_SHA2_384_192" },
	{ 14, "HMAC_SHA2_512_256" },
};
static const struct id_name prf_names[] = {
	{ 1, "PRF_HMAC_MD5" }, { 2, "PRF_HMAC_SHA1" }, { 4, "PRF_AES128_XCBC" },
	{ 5, "PRF_HMAC_SHA2_256" }, { 6, "PRF_HMAC_SHA2_384" }, { 7, "PRF_HMAC_SHA2_512" },
	{ 8, "PRF_AES128_CMAC" },
};
static const struct id_name dh_names[] = {
	{ 0, "MODP_NONE" }, { 1, "MODP_768" }, { 2, "MODP_1024" }, { 5, "MODP_1536" },
	{ 14, "MODP_2048" }, { 15, "MODP_3072" }, { 16, "MODP_4096" }, { 17, "MODP_6144" },
	{ 18, "MODP_8192" }, { 19, "ECP_256" }, { 20, "ECP_384" }, { 21, "ECP_521" },
	{ 22, "MODP_1024_160" }, { 23, "MODP_2048_224" }, { 24, "MODP_2048_256" },
	{ 25, "ECP_192" }, { 26, "ECP_224" }, { 27, "ECP_224_BP" }, { 28, "ECP_256_BP" },
	{ 29, "ECP_384_BP" }, { 30, "ECP_512_BP" }, { 31, "CURVE_25519" }, { 32, "CURVE_448" },
};
static const struct id_name esn_names[] = { { 0, "NO_EXT_SEQ" }, { 1, "EXT_SEQ" } };

/* strongSwan's derivation of the PRF from the integrity algorithm. */
static const struct {
	uint16_t integ, prf;
} integ_prf[] = {
	{ KT_INTEG_HMAC_SHA1_96, KT_PRF_HMAC_SHA1 },
	{ KT_INTEG_HMAC_SHA2_256_128, KT_PRF_HMAC_SHA2_256 },
	{ KT_INTEG_HMAC_SHA2_384_192, KT_PRF_HMAC_SHA2_384 },
	{ KT_INTEG_HMAC_SHA2_512_256, KT_PRF_HMAC_SHA2_512 },
};

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const type_words[] = {
	[KT_IKE_XF_ENCR] = "encryption", [KT_IKE_XF_PRF] = "prf",
	[KT_IKE_XF_INTEG] = "integrity", [KT_IKE_XF_DH] = "key exchange",
	[KT_IKE_XF_ESN] = "esn",
};

static int fail(char *err, size_t err_len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t err_len, int rc, const char *fmt, ...)
{
	if (err && err_len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static const struct keyword *find_keyword(const char *name)
{
	for (size_t i = 0; i < N_ELEM(keywords); i++)
		if (strcasecmp(keywords[i].name, name) == 0)
			return &keywords[i];
	return NULL;
}

static const struct keyword *find_canonical(uint8_t type, uint16_t id, uint16_t bits)
{
	for (size_t i = 0; i < N_ELEM(keywords); i++)
		if (keywords[i].type == type && keywords[i].id == id && keywords[i].bits == bits)
			return &keywords[i];
	return NULL;
}

static bool is_unsupported(const char *name)
{
	for (size_t i = 0; i < N_ELEM(unsupported); i++) {
		const char *u = unsupported[i];
		size_t n = strlen(u);
		if (u[n - 1] == '*' ? strncasecmp(u, name, n - 1) == 0 : strcasecmp(u, name) == 0)
			return true;
	}
	return false;
}

bool kt_proposal_encr_is_aead(uint16_t encr)
{
	return encr == KT_ENCR_AES_GCM_16 || encr == KT_ENCR_CHACHA20_POLY1305;
}

static bool kw_is_legacy(const struct keyword *k)
{
	switch (k->type) {
	case KT_IKE_XF_ENCR: return kt_encr_is_legacy(k->id);
	case KT_IKE_XF_INTEG: return kt_integ_is_legacy(k->id);
	case KT_IKE_XF_PRF: return kt_prf_is_legacy(k->id);
	case KT_IKE_XF_DH: return k->id != KT_PROPOSAL_DH_NONE && kt_dh_is_legacy(k->id);
	default: return false;
	}
}

/* ---- Building a proposal ----------------------------------------------- */

/* Slot array and count for a transform type (ENCR handled by the caller). */
static uint16_t *ids_of(struct kt_proposal *p, uint8_t type, uint8_t **n)
{
	switch (type) {
	case KT_IKE_XF_INTEG: *n = &p->n_integ; return p->integ;
	case KT_IKE_XF_PRF: *n = &p->n_prf; return p->prf;
	case KT_IKE_XF_DH: *n = &p->n_dh; return p->dh;
	default: *n = NULL; return NULL;
	}
}

/* Append one algorithm; 1 if it was already there, 0 if added, -1 if full. */
static int add_alg(struct kt_proposal *p, uint8_t type, uint16_t id, uint16_t bits)
{
	if (type == KT_IKE_XF_ENCR) {
		for (size_t i = 0; i < p->n_encr; i++)
			if (p->encr[i].id == id && p->encr[i].key_bits == bits)
				return 1;
		if (p->n_encr == KT_PROPOSAL_MAX_ALGS)
			return -1;
		p->encr[p->n_encr++] = (struct kt_proposal_encr){ id, bits };
		return 0;
	}
	if (type == KT_IKE_XF_ESN) {
		for (size_t i = 0; i < p->n_esn; i++)
			if (p->esn[i] == id)
				return 1;
		p->esn[p->n_esn++] = (uint8_t)id; /* two values, both distinct */
		return 0;
	}
	uint8_t *n;
	uint16_t *ids = ids_of(p, type, &n);
	if (!ids)
		return -1;
	for (size_t i = 0; i < *n; i++)
		if (ids[i] == id)
			return 1;
	if (*n == KT_PROPOSAL_MAX_ALGS)
		return -1;
	ids[(*n)++] = id;
	return 0;
}

static int add_token(struct kt_proposal *p, const char *tok, bool allow_legacy, char *err,
		     size_t err_len)
{
	const struct keyword *k = find_keyword(tok);
	if (!k && is_unsupported(tok))
		return fail(err, err_len, KT_ERR_UNSUPPORTED,
			    "%s is a strongSwan algorithm kotetsu does not support", tok);
	if (!k)
		return fail(err, err_len, KT_ERR_INVAL, "unknown algorithm '%s'", tok);
	if (kw_is_legacy(k) && !allow_legacy)
		return fail(err, err_len, KT_ERR_LEGACY,
			    "%s is insecure; set legacy = yes on the peer to allow it", tok);
	int rc = add_alg(p, k->type, k->id, k->bits);
	if (rc > 0)
		return fail(err, err_len, KT_ERR_INVAL, "%s appears twice", tok);
	if (rc < 0)
		return fail(err, err_len, KT_ERR_INVAL, "too many %s algorithms (at most %d)",
			    type_words[k->type], KT_PROPOSAL_MAX_ALGS);
	return 0;
}

/* ---- Completeness rules ------------------------------------------------ */

static const char *encr_kw(const struct kt_proposal_encr *e)
{
	const struct keyword *k = find_canonical(KT_IKE_XF_ENCR, e->id, e->key_bits);
	return k ? k->name : "cipher";
}

static const char *integ_kw(uint16_t id)
{
	const struct keyword *k = find_canonical(KT_IKE_XF_INTEG, id, 0);
	return k ? k->name : "integrity";
}

/* Ciphers must be all AEAD or all not (RFC 7296 §3.3: separate proposals);
 * an AEAD takes no integrity, anything else needs it. */
static int check_ciphers(const struct kt_proposal *p, char *err, size_t err_len)
{
	size_t aead = 0;
	for (size_t i = 0; i < p->n_encr; i++)
		aead += kt_proposal_encr_is_aead(p->encr[i].id);
	if (aead && aead != p->n_encr)
		return fail(err, err_len, KT_ERR_INVAL,
			    "AEAD and non-AEAD ciphers cannot share a proposal; "
			    "separate them with a comma");
	if (aead && p->n_integ)
		return fail(err, err_len, KT_ERR_INVAL,
			    "%s is an AEAD cipher and takes no integrity algorithm: remove %s",
			    encr_kw(&p->encr[0]), integ_kw(p->integ[0]));
	if (!aead && !p->n_integ)
		return fail(err, err_len, KT_ERR_INVAL,
			    "%s needs an integrity algorithm (e.g. sha256)", encr_kw(&p->encr[0]));
	return 0;
}

static void derive_prf(struct kt_proposal *p)
{
	for (size_t i = 0; i < p->n_integ; i++)
		for (size_t j = 0; j < N_ELEM(integ_prf); j++)
			if (integ_prf[j].integ == p->integ[i])
				add_alg(p, KT_IKE_XF_PRF, integ_prf[j].prf, 0);
}

static bool has_dh_none(const struct kt_proposal *p)
{
	for (size_t i = 0; i < p->n_dh; i++)
		if (p->dh[i] == KT_PROPOSAL_DH_NONE)
			return true;
	return false;
}

static int check_ike(struct kt_proposal *p, char *err, size_t err_len)
{
	if (!p->n_encr)
		return fail(err, err_len, KT_ERR_INVAL,
			    "an IKE proposal needs an encryption algorithm (e.g. aes256gcm16)");
	for (size_t i = 0; i < p->n_encr; i++)
		if (p->encr[i].id == KT_ENCR_NULL) /* RFC 8247 §2.1: MUST NOT */
			return fail(err, err_len, KT_ERR_INVAL, "null encryption is not allowed for IKE");
	if (p->n_esn)
		return fail(err, err_len, KT_ERR_INVAL, "esn and noesn belong in ESP and AH proposals");
	int rc = check_ciphers(p, err, err_len);
	if (rc)
		return rc;
	if (!p->n_prf)
		derive_prf(p);
	if (!p->n_prf)
		return fail(err, err_len, KT_ERR_INVAL,
			    "an IKE proposal needs a prf (e.g. prfsha256)%s",
			    p->n_integ ? ": none follows from its integrity algorithm" : "");
	if (has_dh_none(p))
		return fail(err, err_len, KT_ERR_INVAL, "IKE needs a key exchange: 'none' is not one");
	if (!p->n_dh)
		return fail(err, err_len, KT_ERR_INVAL,
			    "an IKE proposal needs a key exchange group (e.g. x25519)");
	return 0;
}

static int check_child(struct kt_proposal *p, char *err, size_t err_len)
{
	const char *proto = p->proto == KT_IKE_PROTO_ESP ? "ESP" : "AH";
	if (p->n_prf)
		return fail(err, err_len, KT_ERR_INVAL, "a prf belongs in IKE proposals, not %s", proto);
	if (p->proto == KT_IKE_PROTO_AH) {
		if (p->n_encr)
			return fail(err, err_len, KT_ERR_INVAL,
				    "%s has no place in an AH proposal: AH only authenticates",
				    encr_kw(&p->encr[0]));
		if (!p->n_integ)
			return fail(err, err_len, KT_ERR_INVAL,
				    "an AH proposal needs an integrity algorithm (e.g. sha256)");
	} else {
		if (!p->n_encr)
			return fail(err, err_len, KT_ERR_INVAL,
				    "an ESP proposal needs an encryption algorithm (e.g. aes256gcm16)");
		int rc = check_ciphers(p, err, err_len);
		if (rc)
			return rc;
	}
	if (!p->n_esn) /* strongSwan's default: ESN not supported */
		add_alg(p, KT_IKE_XF_ESN, KT_IKE_ESN_NO, 0);
	return 0;
}

/* ---- Parsing ------------------------------------------------------------ */

static bool valid_proto(uint8_t proto)
{
	return proto == KT_IKE_PROTO_IKE || proto == KT_IKE_PROTO_ESP || proto == KT_IKE_PROTO_AH;
}

static int parse_tokens(struct kt_proposal *p, char *buf, bool allow_legacy, char *err,
			size_t err_len)
{
	char *rest = buf;
	for (;;) {
		char *dash = strchr(rest, '-');
		if (dash)
			*dash = '\0';
		char *tok = kt_text_trim(rest);
		if (!*tok)
			return fail(err, err_len, KT_ERR_INVAL, "empty algorithm name (two '-' in a row?)");
		int rc = add_token(p, tok, allow_legacy, err, err_len);
		if (rc)
			return rc;
		if (!dash)
			return 0;
		rest = dash + 1;
	}
}

int kt_proposal_parse(struct kt_proposal *p, uint8_t proto, const char *text,
		      bool allow_legacy, char *err, size_t err_len)
{
	char buf[KT_PROPOSAL_TEXT_MAX + 1];
	memset(p, 0, sizeof(*p));
	if (!valid_proto(proto))
		return fail(err, err_len, KT_ERR_INVAL, "unknown protocol %u", proto);
	size_t n = strnlen(text, KT_PROPOSAL_TEXT_MAX + 1);
	if (n > KT_PROPOSAL_TEXT_MAX)
		return fail(err, err_len, KT_ERR_INVAL, "proposal longer than %d characters",
			    KT_PROPOSAL_TEXT_MAX);
	memcpy(buf, text, n + 1);
	if (!*kt_text_trim(buf))
		return fail(err, err_len, KT_ERR_INVAL, "empty proposal");

	p->proto = proto;
	int rc = parse_tokens(p, buf, allow_legacy, err, err_len);
	if (!rc)
		rc = proto == KT_IKE_PROTO_IKE ? check_ike(p, err, err_len)
					       : check_child(p, err, err_len);
	if (rc)
		memset(p, 0, sizeof(*p));
	return rc;
}

/* Prefix err with the failing proposal's text, so that in a list the
 * reader sees which one is wrong. */
static int list_fail(char *err, size_t err_len, int rc, const char *item)
{
	char msg[KT_PROPOSAL_ERR_LEN];
	if (!err || !err_len)
		return rc;
	snprintf(msg, sizeof(msg), "%s", err);
	snprintf(err, err_len, "'%.64s': %s", item, msg);
	return rc;
}

static int parse_items(struct kt_proposal *list, size_t cap, size_t *n, uint8_t proto,
		       char *buf, bool allow_legacy, char *err, size_t err_len)
{
	char *rest = buf;
	for (;;) {
		char *comma = strchr(rest, ',');
		if (comma)
			*comma = '\0';
		char *item = kt_text_trim(rest);
		if (!*item)
			return fail(err, err_len, KT_ERR_INVAL, "empty proposal in the list");
		if (*n == cap)
			return fail(err, err_len, KT_ERR_INVAL, "more than %zu proposals", cap);
		int rc = kt_proposal_parse(&list[*n], proto, item, allow_legacy, err, err_len);
		if (rc)
			return list_fail(err, err_len, rc, item);
		(*n)++;
		if (!comma)
			return 0;
		rest = comma + 1;
	}
}

int kt_proposal_parse_list(struct kt_proposal *list, size_t cap, size_t *n, uint8_t proto,
			   const char *text, bool allow_legacy, char *err, size_t err_len)
{
	char buf[KT_PROPOSAL_LIST_TEXT_MAX + 1];
	*n = 0;
	size_t len = strnlen(text, KT_PROPOSAL_LIST_TEXT_MAX + 1);
	if (len > KT_PROPOSAL_LIST_TEXT_MAX)
		return fail(err, err_len, KT_ERR_INVAL, "proposal list longer than %d characters",
			    KT_PROPOSAL_LIST_TEXT_MAX);
	memcpy(buf, text, len + 1);
	int rc = parse_items(list, cap, n, proto, buf, allow_legacy, err, err_len);
	if (rc)
		*n = 0;
	return rc;
}

int kt_proposal_defaults(struct kt_proposal *list, size_t cap, size_t *n, uint8_t proto)
{
	const char *text = proto == KT_IKE_PROTO_IKE   ? KT_PROPOSAL_DEFAULT_IKE
			   : proto == KT_IKE_PROTO_ESP ? KT_PROPOSAL_DEFAULT_ESP
			   : proto == KT_IKE_PROTO_AH  ? KT_PROPOSAL_DEFAULT_AH
						       : NULL;
	if (!text) {
		*n = 0;
		return KT_ERR_INVAL;
	}
	return kt_proposal_parse_list(list, cap, n, proto, text, false, NULL, 0);
}

/* ---- Formatting --------------------------------------------------------- */

/* Appends to a caller buffer and remembers overflow; the buffer always
 * stays NUL-terminated. */
struct out {
	char *buf;
	size_t len, pos;
	bool full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	if (o->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= o->len - o->pos)
		o->full = true;
	else
		o->pos += (size_t)w;
}

static int out_done(struct out *o)
{
	return o->full ? KT_ERR_NOSPACE : (int)o->pos;
}

static bool out_init(struct out *o, char *buf, size_t len)
{
	*o = (struct out){ .buf = buf, .len = len, .full = len == 0 };
	if (len)
		buf[0] = '\0';
	return len != 0;
}

/* A lone "no ESN" is the default and is left out of both forms. */
static bool esn_is_default(const struct kt_proposal *p)
{
	return p->n_esn == 1 && p->esn[0] == KT_IKE_ESN_NO;
}

static void put_keyword(struct out *o, const char **sep, uint8_t type, uint16_t id,
			uint16_t bits)
{
	static const char *const generic[] = {
		[KT_IKE_XF_ENCR] = "encr", [KT_IKE_XF_PRF] = "prf", [KT_IKE_XF_INTEG] = "integ",
		[KT_IKE_XF_DH] = "dh", [KT_IKE_XF_ESN] = "esn",
	};
	const struct keyword *k = find_canonical(type, id, bits);
	if (k)
		put(o, "%s%s", *sep, k->name);
	else if (bits)
		put(o, "%s%s%u_%u", *sep, generic[type], id, bits);
	else
		put(o, "%s%s%u", *sep, generic[type], id);
	*sep = "-";
}

int kt_proposal_format(const struct kt_proposal *p, char *buf, size_t len)
{
	struct out o;
	const char *sep = "";
	if (!out_init(&o, buf, len))
		return KT_ERR_NOSPACE;
	for (size_t i = 0; i < p->n_encr && i < KT_PROPOSAL_MAX_ALGS; i++)
		put_keyword(&o, &sep, KT_IKE_XF_ENCR, p->encr[i].id, p->encr[i].key_bits);
	for (size_t i = 0; i < p->n_integ && i < KT_PROPOSAL_MAX_ALGS; i++)
		put_keyword(&o, &sep, KT_IKE_XF_INTEG, p->integ[i], 0);
	for (size_t i = 0; i < p->n_prf && i < KT_PROPOSAL_MAX_ALGS; i++)
		put_keyword(&o, &sep, KT_IKE_XF_PRF, p->prf[i], 0);
	for (size_t i = 0; i < p->n_dh && i < KT_PROPOSAL_MAX_ALGS; i++)
		put_keyword(&o, &sep, KT_IKE_XF_DH, p->dh[i], 0);
	for (size_t i = 0; !esn_is_default(p) && i < p->n_esn && i < 2; i++)
		put_keyword(&o, &sep, KT_IKE_XF_ESN, p->esn[i], 0);
	return out_done(&o);
}

int kt_proposal_format_list(const struct kt_proposal *list, size_t n, char *buf, size_t len)
{
	struct out o;
	if (!out_init(&o, buf, len))
		return KT_ERR_NOSPACE;
	for (size_t i = 0; i < n && !o.full; i++) {
		if (i)
			put(&o, ", ");
		if (o.full)
			break;
		int w = kt_proposal_format(&list[i], o.buf + o.pos, o.len - o.pos);
		if (w < 0)
			o.full = true;
		else
			o.pos += (size_t)w;
	}
	return out_done(&o);
}

static const char *id_name(const struct id_name *t, size_t n, uint16_t id)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].id == id)
			return t[i].name;
	return NULL;
}

static void put_display(struct out *o, const char **sep, uint8_t type, uint16_t id,
			uint16_t bits)
{
	const char *name = NULL;
	switch (type) {
	case KT_IKE_XF_ENCR: name = id_name(encr_names, N_ELEM(encr_names), id); break;
	case KT_IKE_XF_INTEG: name = id_name(integ_names, N_ELEM(integ_names), id); break;
	case KT_IKE_XF_PRF: name = id_name(prf_names, N_ELEM(prf_names), id); break;
	case KT_IKE_XF_DH: name = id_name(dh_names, N_ELEM(dh_names), id); break;
	case KT_IKE_XF_ESN: name = id_name(esn_names, N_ELEM(esn_names), id); break;
	}
	if (name)
		put(o, "%s%s", *sep, name);
	else
		put(o, "%sUNKNOWN_%u_%u", *sep, type, id);
	if (bits)
		put(o, "_%u", bits);
	*sep = "/";
}

int kt_proposal_display(const struct kt_proposal *p, char *buf, size_t len)
{
	struct out o;
	const char *sep = "";
	if (!out_init(&o, buf, len))
		return KT_ERR_NOSPACE;
	for (size_t i = 0; i < p->n_encr && i < KT_PROPOSAL_MAX_ALGS; i++)
		put_display(&o, &sep, KT_IKE_XF_ENCR, p->encr[i].id, p->encr[i].key_bits);
	for (size_t i = 0; i < p->n_integ && i < KT_PROPOSAL_MAX_ALGS; i++)
		put_display(&o, &sep, KT_IKE_XF_INTEG, p->integ[i], 0);
	for (size_t i = 0; i < p->n_prf && i < KT_PROPOSAL_MAX_ALGS; i++)
		put_display(&o, &sep, KT_IKE_XF_PRF, p->prf[i], 0);
	for (size_t i = 0; i < p->n_dh && i < KT_PROPOSAL_MAX_ALGS; i++)
		put_display(&o, &sep, KT_IKE_XF_DH, p->dh[i], 0);
	for (size_t i = 0; !esn_is_default(p) && i < p->n_esn && i < 2; i++)
		put_display(&o, &sep, KT_IKE_XF_ESN, p->esn[i], 0);
	return out_done(&o);
}

/* ---- Queries ------------------------------------------------------------ */

bool kt_proposal_is_legacy(const struct kt_proposal *p)
{
	for (size_t i = 0; i < p->n_encr && i < KT_PROPOSAL_MAX_ALGS; i++)
		if (kt_encr_is_legacy(p->encr[i].id))
			return true;
	for (size_t i = 0; i < p->n_integ && i < KT_PROPOSAL_MAX_ALGS; i++)
		if (kt_integ_is_legacy(p->integ[i]))
			return true;
	for (size_t i = 0; i < p->n_prf && i < KT_PROPOSAL_MAX_ALGS; i++)
		if (kt_prf_is_legacy(p->prf[i]))
			return true;
	for (size_t i = 0; i < p->n_dh && i < KT_PROPOSAL_MAX_ALGS; i++)
		if (p->dh[i] != KT_PROPOSAL_DH_NONE && kt_dh_is_legacy(p->dh[i]))
			return true;
	return false;
}

bool kt_proposal_equal(const struct kt_proposal *a, const struct kt_proposal *b)
{
	if (a->proto != b->proto || a->n_encr != b->n_encr || a->n_integ != b->n_integ ||
	    a->n_prf != b->n_prf || a->n_dh != b->n_dh || a->n_esn != b->n_esn)
		return false;
	if (a->n_encr > KT_PROPOSAL_MAX_ALGS || a->n_integ > KT_PROPOSAL_MAX_ALGS ||
	    a->n_prf > KT_PROPOSAL_MAX_ALGS || a->n_dh > KT_PROPOSAL_MAX_ALGS || a->n_esn > 2)
		return false;
	return memcmp(a->encr, b->encr, a->n_encr * sizeof(a->encr[0])) == 0 &&
	       memcmp(a->integ, b->integ, a->n_integ * sizeof(a->integ[0])) == 0 &&
	       memcmp(a->prf, b->prf, a->n_prf * sizeof(a->prf[0])) == 0 &&
	       memcmp(a->dh, b->dh, a->n_dh * sizeof(a->dh[0])) == 0 &&
	       memcmp(a->esn, b->esn, a->n_esn) == 0;
}
