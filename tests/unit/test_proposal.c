/* Tests of strongSwan-style proposal strings: parsing (derived PRFs,
 * several algorithms of a type, aliases), the completeness and legacy rules
 * with their messages, lists, defaults and both output forms. */
#include "tests/unit/testutil.h"

#include "core/err.h"
#include "core/ike/proposal.h"

#define IKE KT_IKE_PROTO_IKE
#define ESP KT_IKE_PROTO_ESP
#define AH KT_IKE_PROTO_AH

struct good_case {
	uint8_t proto;
	const char *text;
	bool legacy;
	const char *keywords; /* kt_proposal_format */
	const char *display;  /* kt_proposal_display */
};

static const struct good_case good[] = {
	{ IKE, "aes256gcm16-prfsha384-x25519", false, "aes256gcm16-prfsha384-x25519",
	  "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519" },
	{ IKE, "aes128gcm16-prfsha256-ecp256", false, "aes128gcm16-prfsha256-ecp256",
	  "AES_GCM_16_128/PRF_HMAC_SHA2_256/ECP_256" },
	/* PRF derived from the integrity algorithm, as strongSwan does. */
	{ IKE, "aes256-sha256-modp2048", false, "aes256-sha256-prfsha256-modp2048",
	  "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048" },
	{ IKE, "chacha20poly1305-prfsha256-x25519", false, "chacha20poly1305-prfsha256-x25519",
	  "CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519" },
	/* Several of one type: alternatives, in order; one PRF per integrity. */
	{ IKE, "aes128-aes256-sha256-sha384-modp2048", false,
	  "aes128-aes256-sha256-sha384-prfsha256-prfsha384-modp2048",
	  "AES_CBC_128/AES_CBC_256/HMAC_SHA2_256_128/HMAC_SHA2_384_192/PRF_HMAC_SHA2_256/"
	  "PRF_HMAC_SHA2_384/MODP_2048" },
	/* An explicit prf is kept and nothing is derived. */
	{ IKE, "aes256-sha256-prfsha512-ecp384", false, "aes256-sha256-prfsha512-ecp384",
	  "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_512/ECP_384" },
	/* Aliases and case print as the canonical keyword. */
	{ IKE, "aes-sha2_256-curve25519", false, "aes128-sha256-prfsha256-x25519",
	  "AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519" },
	{ IKE, "AES256GCM16-PRFSHA384-X25519", false, "aes256gcm16-prfsha384-x25519",
	  "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519" },
	{ IKE, "aes256gcm16-prfsha512-ecp521-modp4096-modp3072", false,
	  "aes256gcm16-prfsha512-ecp521-modp4096-modp3072",
	  "AES_GCM_16_256/PRF_HMAC_SHA2_512/ECP_521/MODP_4096/MODP_3072" },
	{ IKE, "3des-sha1-modp1024", true, "3des-sha1-prfsha1-modp1024",
	  "3DES/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024" },
	{ IKE, "des-md5-prfsha256-modp768-modp1536", true, "des-md5-prfsha256-modp768-modp1536",
	  "DES/HMAC_MD5_96/PRF_HMAC_SHA2_256/MODP_768/MODP_1536" },
	{ ESP, "aes256gcm16", false, "aes256gcm16", "AES_GCM_16_256" },
	{ ESP, "aes128gcm16-esn", false, "aes128gcm16-esn", "AES_GCM_16_128/EXT_SEQ" },
	{ ESP, "aes256-sha256", false, "aes256-sha256", "AES_CBC_256/HMAC_SHA2_256_128" },
	{ ESP, "aes128-sha256-x25519", false, "aes128-sha256-x25519",
	  "AES_CBC_128/HMAC_SHA2_256_128/CURVE_25519" },
	{ ESP, "aes256gcm16-noesn", false, "aes256gcm16", "AES_GCM_16_256" },
	{ ESP, "aes256gcm16-esn-noesn", false, "aes256gcm16-esn-noesn",
	  "AES_GCM_16_256/EXT_SEQ/NO_EXT_SEQ" },
	{ ESP, "aes128gcm128", false, "aes128gcm16", "AES_GCM_16_128" },
	{ ESP, "aes256gcm", false, "aes256gcm16", "AES_GCM_16_256" },
	{ ESP, "chacha20poly1305", false, "chacha20poly1305", "CHACHA20_POLY1305" },
	{ ESP, "null-sha512", false, "null-sha512", "NULL/HMAC_SHA2_512_256" },
	{ ESP, "aes256gcm16-x25519-none", false, "aes256gcm16-x25519-none",
	  "AES_GCM_16_256/CURVE_25519/MODP_NONE" },
	{ ESP, " aes256 - sha384 ", false, "aes256-sha384", "AES_CBC_256/HMAC_SHA2_384_192" },
	{ ESP, "3des-md5", true, "3des-md5", "3DES/HMAC_MD5_96" },
	{ AH, "sha256", false, "sha256", "HMAC_SHA2_256_128" },
	{ AH, "sha384-esn", false, "sha384-esn", "HMAC_SHA2_384_192/EXT_SEQ" },
	{ AH, "sha512-sha256-ecp256", false, "sha512-sha256-ecp256",
	  "HMAC_SHA2_512_256/HMAC_SHA2_256_128/ECP_256" },
};

static void test_parse_and_format(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct good_case *c = &good[i];
		struct kt_proposal p;
		char err[KT_PROPOSAL_ERR_LEN] = "", buf[512];
		int rc = kt_proposal_parse(&p, c->proto, c->text, c->legacy, err, sizeof(err));
		if (rc)
			fail_msg("case %zu '%s': %d %s", i, c->text, rc, err);
		assert_int_equal(p.proto, c->proto);
		assert_int_equal(kt_proposal_format(&p, buf, sizeof(buf)), strlen(c->keywords));
		assert_string_equal(buf, c->keywords);
		assert_int_equal(kt_proposal_display(&p, buf, sizeof(buf)), strlen(c->display));
		assert_string_equal(buf, c->display);
	}
}

/* parse -> keyword form -> parse gives the same proposal. */
static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct good_case *c = &good[i];
		struct kt_proposal a, b;
		char buf[512];
		assert_int_equal(kt_proposal_parse(&a, c->proto, c->text, c->legacy, NULL, 0), 0);
		assert_true(kt_proposal_format(&a, buf, sizeof(buf)) > 0);
		assert_int_equal(kt_proposal_parse(&b, c->proto, buf, c->legacy, NULL, 0), 0);
		assert_true(kt_proposal_equal(&a, &b));
		assert_int_equal(kt_proposal_is_legacy(&a), c->legacy);
	}
}

static void test_model(void **state)
{
	(void)state;
	struct kt_proposal p;
	assert_int_equal(kt_proposal_parse(&p, IKE, "aes256-sha384-modp3072", false, NULL, 0), 0);
	assert_int_equal(p.n_encr, 1);
	assert_int_equal(p.encr[0].id, KT_ENCR_AES_CBC);
	assert_int_equal(p.encr[0].key_bits, 256);
	assert_int_equal(p.n_integ, 1);
	assert_int_equal(p.integ[0], KT_INTEG_HMAC_SHA2_384_192);
	assert_int_equal(p.n_prf, 1);
	assert_int_equal(p.prf[0], KT_PRF_HMAC_SHA2_384);
	assert_int_equal(p.n_dh, 1);
	assert_int_equal(p.dh[0], KT_DH_MODP_3072);
	assert_int_equal(p.n_esn, 0);

	assert_int_equal(kt_proposal_parse(&p, ESP, "chacha20poly1305", false, NULL, 0), 0);
	assert_int_equal(p.encr[0].key_bits, 0); /* no Key Length attribute */
	assert_int_equal(p.n_integ, 0);
	assert_int_equal(p.n_esn, 1);
	assert_int_equal(p.esn[0], KT_IKE_ESN_NO);
}

struct bad_case {
	uint8_t proto;
	const char *text;
	bool legacy;
	int rc;
	const char *msg;
};

static const struct bad_case bad[] = {
	{ IKE, "aes256gcm16-sha256-prfsha256-x25519", false, KT_ERR_INVAL,
	  "aes256gcm16 is an AEAD cipher and takes no integrity algorithm: remove sha256" },
	{ IKE, "aes256gcm16-x25519", false, KT_ERR_INVAL,
	  "an IKE proposal needs a prf (e.g. prfsha256)" },
	{ IKE, "aes256-modp2048", false, KT_ERR_INVAL,
	  "aes256 needs an integrity algorithm (e.g. sha256)" },
	{ IKE, "aes256-sha256", false, KT_ERR_INVAL,
	  "an IKE proposal needs a key exchange group (e.g. x25519)" },
	{ IKE, "sha256-prfsha256-x25519", false, KT_ERR_INVAL,
	  "an IKE proposal needs an encryption algorithm (e.g. aes256gcm16)" },
	{ IKE, "aes256gcm16-aes256-sha256-x25519", false, KT_ERR_INVAL,
	  "AEAD and non-AEAD ciphers cannot share a proposal; separate them with a comma" },
	{ IKE, "aes256gcm16-prfsha256-x25519-esn", false, KT_ERR_INVAL,
	  "esn and noesn belong in ESP and AH proposals" },
	{ IKE, "null-sha256-modp2048", false, KT_ERR_INVAL, "null encryption is not allowed for IKE" },
	{ IKE, "aes256gcm16-prfsha256-none", false, KT_ERR_INVAL,
	  "IKE needs a key exchange: 'none' is not one" },
	{ IKE, "3des-sha256-modp2048", false, KT_ERR_LEGACY,
	  "3des is insecure; set legacy = yes on the peer to allow it" },
	{ IKE, "aes256-sha256-modp1024", false, KT_ERR_LEGACY,
	  "modp1024 is insecure; set legacy = yes on the peer to allow it" },
	{ IKE, "aes256gcm16-prfsha1-x25519", false, KT_ERR_LEGACY,
	  "prfsha1 is insecure; set legacy = yes on the peer to allow it" },
	{ IKE, "aes256-md5-modp2048", true, KT_ERR_INVAL,
	  "an IKE proposal needs a prf (e.g. prfsha256): none follows from its integrity algorithm" },
	{ IKE, "aes256gcm16-prfmd5-x25519", true, KT_ERR_UNSUPPORTED,
	  "prfmd5 is a strongSwan algorithm kotetsu does not support" },
	{ ESP, "aes256-sha1", false, KT_ERR_LEGACY,
	  "sha1 is insecure; set legacy = yes on the peer to allow it" },
	{ ESP, "aes256-sha", false, KT_ERR_LEGACY,
	  "sha is insecure; set legacy = yes on the peer to allow it" },
	{ ESP, "des-sha256", false, KT_ERR_LEGACY,
	  "des is insecure; set legacy = yes on the peer to allow it" },
	{ ESP, "aes256gcm16-sha256", false, KT_ERR_INVAL,
	  "aes256gcm16 is an AEAD cipher and takes no integrity algorithm: remove sha256" },
	{ ESP, "aes256", false, KT_ERR_INVAL, "aes256 needs an integrity algorithm (e.g. sha256)" },
	{ ESP, "null", false, KT_ERR_INVAL, "null needs an integrity algorithm (e.g. sha256)" },
	{ ESP, "sha256", false, KT_ERR_INVAL,
	  "an ESP proposal needs an encryption algorithm (e.g. aes256gcm16)" },
	{ ESP, "aes256gcm16-prfsha256", false, KT_ERR_INVAL, "a prf belongs in IKE proposals, not ESP" },
	{ AH, "aes256-sha256", false, KT_ERR_INVAL,
	  "aes256 has no place in an AH proposal: AH only authenticates" },
	{ AH, "esn", false, KT_ERR_INVAL, "an AH proposal needs an integrity algorithm (e.g. sha256)" },
	{ AH, "sha256-prfsha256", false, KT_ERR_INVAL, "a prf belongs in IKE proposals, not AH" },
	{ ESP, "aes192-sha256", false, KT_ERR_UNSUPPORTED,
	  "aes192 is a strongSwan algorithm kotetsu does not support" },
	{ ESP, "camellia256-sha256", false, KT_ERR_UNSUPPORTED,
	  "camellia256 is a strongSwan algorithm kotetsu does not support" },
	{ ESP, "aes128gcm8", false, KT_ERR_UNSUPPORTED,
	  "aes128gcm8 is a strongSwan algorithm kotetsu does not support" },
	{ ESP, "aes256-foo", false, KT_ERR_INVAL, "unknown algorithm 'foo'" },
	{ ESP, "aes256--sha256", false, KT_ERR_INVAL, "empty algorithm name (two '-' in a row?)" },
	{ ESP, "aes256-sha256-", false, KT_ERR_INVAL, "empty algorithm name (two '-' in a row?)" },
	{ ESP, "", false, KT_ERR_INVAL, "empty proposal" },
	{ ESP, "  ", false, KT_ERR_INVAL, "empty proposal" },
	{ ESP, "aes256gcm16-aes256gcm16", false, KT_ERR_INVAL, "aes256gcm16 appears twice" },
	{ ESP, "aes-aes128-sha256", false, KT_ERR_INVAL, "aes128 appears twice" },
	{ ESP, "aes128gcm16-esn-esn", false, KT_ERR_INVAL, "esn appears twice" },
	{ ESP, "aes256gcm16-modp2048-modp3072-modp4096-ecp256-ecp384-ecp521-x25519-none-modp1536",
	  true, KT_ERR_INVAL, "too many key exchange algorithms (at most 8)" },
	{ 0, "aes256gcm16", false, KT_ERR_INVAL, "unknown protocol 0" },
	{ 4, "aes256gcm16", false, KT_ERR_INVAL, "unknown protocol 4" },
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct bad_case *c = &bad[i];
		struct kt_proposal p;
		char err[KT_PROPOSAL_ERR_LEN] = "";
		int rc = kt_proposal_parse(&p, c->proto, c->text, c->legacy, err, sizeof(err));
		if (rc != c->rc || strcmp(err, c->msg) != 0)
			fail_msg("case %zu '%s': got %d '%s', want %d '%s'", i, c->text, rc, err,
				 c->rc, c->msg);
		/* A failed parse leaves nothing half-filled. */
		assert_int_equal(p.n_encr + p.n_integ + p.n_prf + p.n_dh + p.n_esn + p.proto, 0);
	}
}

static void test_too_long(void **state)
{
	(void)state;
	char text[KT_PROPOSAL_TEXT_MAX + 2];
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	struct kt_proposal p;
	char err[KT_PROPOSAL_ERR_LEN];
	assert_int_equal(kt_proposal_parse(&p, ESP, text, false, err, sizeof(err)), KT_ERR_INVAL);
	assert_string_equal(err, "proposal longer than 256 characters");
	/* No message buffer: still a clean failure. */
	assert_int_equal(kt_proposal_parse(&p, ESP, "bogus", false, NULL, 0), KT_ERR_INVAL);
}

static void test_lists(void **state)
{
	(void)state;
	struct kt_proposal list[KT_PROPOSAL_MAX_LIST];
	size_t n = 99;
	char err[KT_PROPOSAL_ERR_LEN] = "", buf[1024];

	assert_int_equal(kt_proposal_parse_list(list, KT_PROPOSAL_MAX_LIST, &n, ESP,
						"aes256gcm16 , aes128-sha256-esn,chacha20poly1305",
						false, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_int_equal(kt_proposal_format_list(list, n, buf, sizeof(buf)),
			 strlen("aes256gcm16, aes128-sha256-esn, chacha20poly1305"));
	assert_string_equal(buf, "aes256gcm16, aes128-sha256-esn, chacha20poly1305");

	/* An error names the failing proposal and leaves the list empty. */
	assert_int_equal(kt_proposal_parse_list(list, KT_PROPOSAL_MAX_LIST, &n, ESP,
						"aes256gcm16, aes256-sha1", false, err, sizeof(err)),
			 KT_ERR_LEGACY);
	assert_int_equal(n, 0);
	assert_string_equal(err, "'aes256-sha1': sha1 is insecure; set legacy = yes on the peer to allow it");

	static const char *const empties[] = { "aes256gcm16,,aes128gcm16", "aes256gcm16,", ",", "" };
	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		assert_int_equal(kt_proposal_parse_list(list, KT_PROPOSAL_MAX_LIST, &n, ESP, empties[i],
							false, err, sizeof(err)), KT_ERR_INVAL);
		assert_string_equal(err, "empty proposal in the list");
	}

	assert_int_equal(kt_proposal_parse_list(list, 2, &n, AH, "sha256, sha384, sha512", false,
						err, sizeof(err)), KT_ERR_INVAL);
	assert_string_equal(err, "more than 2 proposals");
	assert_int_equal(n, 0);
}

static void test_defaults(void **state)
{
	(void)state;
	static const struct {
		uint8_t proto;
		size_t n;
		const char *text;
	} cases[] = {
		{ IKE, 3, "aes256gcm16-prfsha384-x25519, aes128gcm16-prfsha256-ecp256, "
			  "aes256-sha256-prfsha256-modp2048" },
		{ ESP, 4, "aes256gcm16, aes128gcm16, chacha20poly1305, aes256-sha256" },
		{ AH, 2, "sha256, sha384" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_proposal list[KT_PROPOSAL_MAX_LIST];
		size_t n;
		char buf[512];
		assert_int_equal(kt_proposal_defaults(list, KT_PROPOSAL_MAX_LIST, &n, cases[i].proto), 0);
		assert_int_equal(n, cases[i].n);
		assert_true(kt_proposal_format_list(list, n, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, cases[i].text);
		for (size_t j = 0; j < n; j++)
			assert_false(kt_proposal_is_legacy(&list[j]));
	}
	struct kt_proposal one;
	size_t n;
	assert_int_equal(kt_proposal_defaults(&one, 1, &n, 0), KT_ERR_INVAL);
	assert_int_equal(kt_proposal_defaults(&one, 1, &n, IKE), KT_ERR_INVAL); /* cap too small */
}

/* Proposals from a peer may carry IDs without a keyword. */
static void test_format_unknown_ids(void **state)
{
	(void)state;
	struct kt_proposal p = { .proto = IKE, .n_encr = 2, .n_integ = 1, .n_prf = 1, .n_dh = 2 };
	p.encr[0] = (struct kt_proposal_encr){ 13, 128 };
	p.encr[1] = (struct kt_proposal_encr){ 99, 0 };
	p.integ[0] = 5;
	p.prf[0] = 4;
	p.dh[0] = 30;
	p.dh[1] = 1000;
	char buf[256];
	assert_true(kt_proposal_format(&p, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "encr13_128-encr99-integ5-prf4-dh30-dh1000");
	assert_true(kt_proposal_display(&p, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "AES_CTR_128/UNKNOWN_1_99/AES_XCBC_96/PRF_AES128_XCBC/"
				 "ECP_512_BP/UNKNOWN_4_1000");
	/* AES-CBC with a key size we lack still has strongSwan's keyword. */
	p = (struct kt_proposal){ .proto = ESP, .n_encr = 1, .n_integ = 1 };
	p.encr[0] = (struct kt_proposal_encr){ KT_ENCR_AES_CBC, 192 };
	p.integ[0] = KT_INTEG_HMAC_SHA2_256_128;
	assert_true(kt_proposal_format(&p, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "encr12_192-sha256");
	assert_true(kt_proposal_display(&p, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "AES_CBC_192/HMAC_SHA2_256_128");
}

static void test_format_nospace(void **state)
{
	(void)state;
	struct kt_proposal p;
	assert_int_equal(kt_proposal_parse(&p, IKE, "aes256gcm16-prfsha384-x25519", false, NULL, 0), 0);
	char buf[16];
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(kt_proposal_format(&p, buf, sizeof(buf)), KT_ERR_NOSPACE);
	assert_non_null(memchr(buf, '\0', sizeof(buf)));
	assert_int_equal(kt_proposal_display(&p, buf, sizeof(buf)), KT_ERR_NOSPACE);
	assert_non_null(memchr(buf, '\0', sizeof(buf)));
	assert_int_equal(kt_proposal_format(&p, buf, 0), KT_ERR_NOSPACE);
	/* Exactly enough room: "aes256gcm16-prfsha384-x25519" is 28 characters. */
	char exact[29];
	assert_int_equal(kt_proposal_format(&p, exact, sizeof(exact)), 28);
	assert_int_equal(kt_proposal_format(&p, exact, sizeof(exact) - 1), KT_ERR_NOSPACE);

	struct kt_proposal list[2] = { p, p };
	char lbuf[40];
	assert_int_equal(kt_proposal_format_list(list, 2, lbuf, sizeof(lbuf)), KT_ERR_NOSPACE);
	assert_int_equal(kt_proposal_format_list(list, 0, lbuf, sizeof(lbuf)), 0);
	assert_string_equal(lbuf, "");
}

static void test_equal(void **state)
{
	(void)state;
	struct kt_proposal a, b;
	assert_int_equal(kt_proposal_parse(&a, ESP, "aes128-aes256-sha256", false, NULL, 0), 0);
	assert_int_equal(kt_proposal_parse(&b, ESP, "aes256-aes128-sha256", false, NULL, 0), 0);
	assert_false(kt_proposal_equal(&a, &b)); /* order is preference */
	assert_int_equal(kt_proposal_parse(&b, AH, "sha256", false, NULL, 0), 0);
	assert_false(kt_proposal_equal(&a, &b));
	assert_int_equal(kt_proposal_parse(&b, ESP, "aes-aes256-sha2_256-noesn", false, NULL, 0), 0);
	assert_true(kt_proposal_equal(&a, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_format),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_format_unknown_ids),
		cmocka_unit_test(test_format_nospace),
		cmocka_unit_test(test_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
