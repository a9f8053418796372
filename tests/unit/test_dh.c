/* Key exchange tests: both parties agree in every group, wire lengths,
 * RFC 6989 refusals of bad peer values (MODP range, points off the curve,
 * X25519 low-order points), and the RFC 5903 §8 and RFC 7748 §6.1
 * vectors through the test-only private-key constructor. */
#include "tests/unit/testutil.h"

#include "core/crypto/dh.h"
#include "core/err.h"

#define HEXBUF 600

/* RFC 3526 §3, the 2048-bit MODP prime (group 14). */
static const char MODP2048_P[] =
	"FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1 29024E08 8A67CC74"
	"020BBEA6 3B139B22 514A0879 8E3404DD EF9519B3 CD3A431B 302B0A6D F25F1437"
	"4FE1356D 6D51C245 E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED"
	"EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D C2007CB8 A163BF05"
	"98DA4836 1C55D39A 69163FA8 FD24CF5F 83655D23 DCA3AD96 1C62F356 208552BB"
	"9ED52907 7096966D 670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B"
	"E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9 DE2BCBF6 95581718"
	"3995497C EA956AE5 15D22618 98FA0510 15728E5A 8AACAA68 FFFFFFFF FFFFFFFF";

/* RFC 2409 §6.2, the 1024-bit MODP prime (group 2). */
static const char MODP1024_P[] =
	"FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1 29024E08 8A67CC74"
	"020BBEA6 3B139B22 514A0879 8E3404DD EF9519B3 CD3A431B 302B0A6D F25F1437"
	"4FE1356D 6D51C245 E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED"
	"EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE65381 FFFFFFFF FFFFFFFF";

struct group_case {
	uint16_t group;
	bool legacy;
	int pub_len, secret_len;
	const char *name;
};

static const struct group_case group_cases[] = {
	{ KT_DH_MODP_768, true, 96, 96, "modp768" },
	{ KT_DH_MODP_1024, true, 128, 128, "modp1024" },
	{ KT_DH_MODP_1536, true, 192, 192, "modp1536" },
	{ KT_DH_MODP_2048, false, 256, 256, "modp2048" },
	{ KT_DH_MODP_3072, false, 384, 384, "modp3072" },
	{ KT_DH_MODP_4096, false, 512, 512, "modp4096" },
	{ KT_DH_ECP_256, false, 64, 32, "ecp256" },
	{ KT_DH_ECP_384, false, 96, 48, "ecp384" },
	{ KT_DH_ECP_521, false, 132, 66, "ecp521" },
	{ KT_DH_CURVE_25519, false, 32, 32, "x25519" },
};
#define N_GROUPS (sizeof(group_cases) / sizeof(group_cases[0]))

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void dh_open(struct kt_dh *dh, uint16_t group)
{
	int rc = kt_dh_init(dh, group, true);

	if (rc != 0)
		fail_msg("kt_dh_init(%u): %s", group, kt_strerror(rc));
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_GROUPS; i++) {
		const struct group_case *c = &group_cases[i];

		assert_int_equal(kt_dh_public_len(c->group), c->pub_len);
		assert_int_equal(kt_dh_secret_len(c->group), c->secret_len);
		assert_int_equal(kt_dh_is_legacy(c->group), c->legacy);
		assert_string_equal(kt_dh_name(c->group), c->name);
		assert_true(c->pub_len <= KT_DH_MAX_PUBLIC && c->secret_len <= KT_DH_MAX_SECRET);
	}
	for (uint16_t g = 0; g < 40; g++) {
		bool known = false;

		for (size_t i = 0; i < N_GROUPS; i++)
			known |= group_cases[i].group == g;
		if (known)
			continue;
		assert_int_equal(kt_dh_public_len(g), KT_ERR_UNSUPPORTED);
		assert_null(kt_dh_name(g));
	}
}

static void test_legacy_and_unknown(void **state)
{
	struct kt_dh dh;

	(void)state;
	for (size_t i = 0; i < N_GROUPS; i++) {
		int want = group_cases[i].legacy ? KT_ERR_LEGACY : 0;

		assert_int_equal(kt_dh_init(&dh, group_cases[i].group, false), want);
		if (want)
			assert_null(dh.key);
		kt_dh_free(&dh);
	}
	assert_int_equal(kt_dh_init(&dh, 3, true), KT_ERR_UNSUPPORTED);   /* EC2N */
	assert_int_equal(kt_dh_init(&dh, 22, true), KT_ERR_UNSUPPORTED);  /* MODP with subgroup */
	assert_int_equal(kt_dh_init(&dh, 32, true), KT_ERR_UNSUPPORTED);  /* Curve448 */
	kt_dh_free(&dh);
	kt_dh_free(&dh);
}

/* Two parties in each group reach the same secret of the full length. */
static void test_agree(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_GROUPS; i++) {
		const struct group_case *c = &group_cases[i];
		uint8_t pa[KT_DH_MAX_PUBLIC], pb[KT_DH_MAX_PUBLIC];
		uint8_t sa[KT_DH_MAX_SECRET], sb[KT_DH_MAX_SECRET];
		struct kt_dh a;
		struct kt_dh *b;

		dh_open(&a, c->group);
		assert_int_equal(kt_dh_new(c->group, true, &b), 0);
		assert_int_equal(kt_dh_public(&a, pa, sizeof(pa)), c->pub_len);
		assert_int_equal(kt_dh_public(b, pb, sizeof(pb)), c->pub_len);
		assert_memory_not_equal(pa, pb, c->pub_len);
		assert_int_equal(kt_dh_derive(&a, pb, c->pub_len, sa, sizeof(sa)), c->secret_len);
		assert_int_equal(kt_dh_derive(b, pa, c->pub_len, sb, sizeof(sb)), c->secret_len);
		if (memcmp(sa, sb, c->secret_len) != 0)
			fail_msg("%s: the two sides disagree", c->name);
		assert_false(all_zero(sa, c->secret_len));
		kt_dh_secret_wipe(sa, sizeof(sa));
		assert_true(all_zero(sa, sizeof(sa)));
		kt_dh_free(&a);
		kt_dh_del(b);
	}
	kt_dh_del(NULL);
}

/* RFC 7296 §2.14: g^ir keeps its leading zero bytes. Exchange until one
 * secret starts with 0x00 (1 in 256) and check both sides still agree at
 * 256 bytes. */
static void test_modp_leading_zero(void **state)
{
	uint8_t pa[256], pb[256], sa[256], sb[256];
	struct kt_dh a;
	bool seen = false;

	(void)state;
	dh_open(&a, KT_DH_MODP_2048);
	assert_int_equal(kt_dh_public(&a, pa, sizeof(pa)), 256);
	for (int i = 0; i < 4000 && !seen; i++) {
		struct kt_dh b;

		dh_open(&b, KT_DH_MODP_2048);
		assert_int_equal(kt_dh_public(&b, pb, sizeof(pb)), 256);
		assert_int_equal(kt_dh_derive(&b, pa, 256, sb, sizeof(sb)), 256);
		if (sb[0] == 0) {
			assert_int_equal(kt_dh_derive(&a, pb, 256, sa, sizeof(sa)), 256);
			assert_memory_equal(sa, sb, 256);
			seen = true;
		}
		kt_dh_free(&b);
	}
	assert_true(seen);
	kt_dh_free(&a);
}

/* Every length but the group's own is malformed; short buffers refused. */
static void test_lengths(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_GROUPS; i++) {
		const struct group_case *c = &group_cases[i];
		uint8_t pub[KT_DH_MAX_PUBLIC + 2], secret[KT_DH_MAX_SECRET];
		const size_t bad[] = { 0, 1, (size_t)c->pub_len - 1, (size_t)c->pub_len + 1,
				       2 * (size_t)c->pub_len };
		struct kt_dh dh;

		dh_open(&dh, c->group);
		assert_int_equal(kt_dh_public(&dh, pub, (size_t)c->pub_len - 1), KT_ERR_NOSPACE);
		assert_int_equal(kt_dh_public(&dh, pub, sizeof(pub)), c->pub_len);
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			static uint8_t big[2 * KT_DH_MAX_PUBLIC];

			memcpy(big, pub, c->pub_len);
			if (kt_dh_derive(&dh, big, bad[k], secret, sizeof(secret)) != KT_ERR_MALFORMED)
				fail_msg("%s: %zu-byte value not refused", c->name, bad[k]);
		}
		assert_int_equal(kt_dh_derive(&dh, pub, c->pub_len, secret, (size_t)c->secret_len - 1),
				 KT_ERR_NOSPACE);
		kt_dh_free(&dh);
	}
}

/* ECP with the SEC 1 point-format octet in front: not IKE's wire form. */
static void test_ecp_prefix_refused(void **state)
{
	static const uint16_t ecp[] = { KT_DH_ECP_256, KT_DH_ECP_384, KT_DH_ECP_521 };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		uint8_t pub[1 + 132], secret[66];
		int len = kt_dh_public_len(ecp[i]);
		struct kt_dh dh;

		dh_open(&dh, ecp[i]);
		pub[0] = 0x04;
		assert_int_equal(kt_dh_public(&dh, pub + 1, sizeof(pub) - 1), len);
		assert_int_equal(kt_dh_derive(&dh, pub, len + 1, secret, sizeof(secret)),
				 KT_ERR_MALFORMED);
		kt_dh_free(&dh);
	}
}

/* Big-endian add of a small signed delta to a len-byte number. */
static void add_small(uint8_t *n, size_t len, int delta)
{
	int carry = delta;

	for (size_t i = len; i-- > 0 && carry;) {
		int v = n[i] + carry;

		n[i] = (uint8_t)(v & 0xff);
		carry = v >> 8; /* arithmetic: -1 on borrow */
	}
}

/* RFC 6989 §2.1: only 1 < y < p-1 is taken. */
static void check_modp_range(uint16_t group, const char *prime_hex, size_t len)
{
	struct {
		const char *what;
		int from_p;    /* 1: p + delta; 0: small constant delta */
		int delta;
		int want;
	} cases[] = {
		{ "0", 0, 0, KT_ERR_INVAL },
		{ "1", 0, 1, KT_ERR_INVAL },
		{ "2", 0, 2, 0 },
		{ "p-2", 1, -2, 0 },
		{ "p-1", 1, -1, KT_ERR_INVAL },
		{ "p", 1, 0, KT_ERR_INVAL },
		{ "p+1", 1, 1, KT_ERR_INVAL },
	};
	uint8_t p[512], y[512], secret[512];
	struct kt_dh dh;

	assert_int_equal(unhex(p, sizeof(p), prime_hex), len);
	dh_open(&dh, group);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		if (cases[i].from_p) {
			memcpy(y, p, len);
			add_small(y, len, cases[i].delta);
		} else {
			memset(y, 0, len);
			y[len - 1] = (uint8_t)cases[i].delta;
		}
		memset(secret, 0xaa, sizeof(secret));
		rc = kt_dh_derive(&dh, y, len, secret, sizeof(secret));
		if (rc != (cases[i].want ? cases[i].want : (int)len))
			fail_msg("group %u, y = %s: got %d", group, cases[i].what, rc);
		if (rc < 0)
			assert_true(all_zero(secret, sizeof(secret)));
	}
	memset(y, 0xff, len); /* above p */
	assert_int_equal(kt_dh_derive(&dh, y, len, secret, sizeof(secret)), KT_ERR_INVAL);
	kt_dh_free(&dh);
}

static void test_modp_invalid(void **state)
{
	(void)state;
	check_modp_range(KT_DH_MODP_2048, MODP2048_P, 256);
	check_modp_range(KT_DH_MODP_1024, MODP1024_P, 128);
}

/* RFC 6989 §2.3: a point off the curve, (0,0), a coordinate >= p. */
static void test_ecp_invalid(void **state)
{
	static const uint16_t ecp[] = { KT_DH_ECP_256, KT_DH_ECP_384, KT_DH_ECP_521 };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		uint8_t good[132], bad[132], secret[66];
		size_t len = (size_t)kt_dh_public_len(ecp[i]), half = len / 2;
		struct kt_dh us, them;

		dh_open(&us, ecp[i]);
		dh_open(&them, ecp[i]);
		assert_int_equal(kt_dh_public(&them, good, sizeof(good)), (int)len);
		assert_int_equal(kt_dh_derive(&us, good, len, secret, sizeof(secret)), (int)half);

		memcpy(bad, good, len);
		bad[len - 1] ^= 1; /* y changed: off the curve */
		memset(secret, 0xaa, sizeof(secret));
		assert_int_equal(kt_dh_derive(&us, bad, len, secret, sizeof(secret)), KT_ERR_INVAL);
		assert_true(all_zero(secret, sizeof(secret)));

		memset(bad, 0, len); /* (0,0) */
		assert_int_equal(kt_dh_derive(&us, bad, len, secret, sizeof(secret)), KT_ERR_INVAL);

		memcpy(bad, good, len);
		memset(bad, 0xff, half); /* x above the field prime */
		assert_int_equal(kt_dh_derive(&us, bad, len, secret, sizeof(secret)), KT_ERR_INVAL);

		memset(bad, 0xff, len);
		assert_int_equal(kt_dh_derive(&us, bad, len, secret, sizeof(secret)), KT_ERR_INVAL);
		kt_dh_free(&us);
		kt_dh_free(&them);
	}
}

/* Curve25519 points of small order (and their non-canonical spellings)
 * make the shared secret all zero: refused (RFC 7748 §6.1, RFC 8031 §2.3). */
static void test_x25519_low_order(void **state)
{
	static const char *const points[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};
	struct kt_dh dh;

	(void)state;
	dh_open(&dh, KT_DH_CURVE_25519);
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		uint8_t u[32], secret[32];
		int rc;

		unhex(u, sizeof(u), points[i]);
		memset(secret, 0xaa, sizeof(secret));
		rc = kt_dh_derive(&dh, u, sizeof(u), secret, sizeof(secret));
		if (rc != KT_ERR_INVAL)
			fail_msg("low-order point %zu: got %d, want KT_ERR_INVAL", i, rc);
		assert_true(all_zero(secret, sizeof(secret)));
	}
	kt_dh_free(&dh);
}

/* ---- known-answer vectors ---- */

struct kat {
	const char *what;
	uint16_t group;
	const char *i, *gi, *r, *gr, *gir;
};

static const struct kat kats[] = {
	{ "RFC 5903 §8.1", KT_DH_ECP_256,
	  "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
	  "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180"
	  "5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
	  "C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53",
	  "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63"
	  "56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
	  "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE" },
	{ "RFC 5903 §8.2", KT_DH_ECP_384,
	  "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655"
	  "E35B5380 41E649EE 3FAEF896 783AB194",
	  "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6"
	  "DE3AC808 ACB4BDB4 C88732AE E95F41AA"
	  "9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E"
	  "EB9FCFF3 C2C947DA E69B4C63 4573A81C",
	  "41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942"
	  "E0308312 916B8ED2 960E4BD5 5A7448FC",
	  "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D"
	  "0D1AC43A 0336DEF9 6FDA41D0 774A3571"
	  "DCFBEC7A ACF31964 72169E83 8430367F 66EEBE3C 6E70C416 DD5F0C68 759DD1FF"
	  "F83FA401 42209DFF 5EAAD96D B9E6386C",
	  "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4"
	  "D6031355 69B9E9D0 9CF5D4A2 70F59746" },
	{ "RFC 5903 §8.3", KT_DH_ECP_521,
	  "0037ADE9 319A89F4 DABDB3EF 411AACCC A5123C61 ACAB57B5 393DCE47 608172A0"
	  "95AA85A3 0FE1C295 2C6771D9 37BA9777 F5957B26 39BAB072 462F68C2 7A57382D 4A52",
	  "0015417E 84DBF28C 0AD3C278 713349DC 7DF153C8 97A1891B D98BAB43 57C9ECBE"
	  "E1E3BF42 E00B8E38 0AEAE57C 2D107564 94188594 2AF5A7F4 601723C4 195D176C ED3E"
	  "017CAE20 B6641D2E EB695786 D8C94614 6239D099 E18E1D5A 514C739D 7CB4A10A"
	  "D8A78801 5AC405D7 799DC75E 7B7D5B6C F2261A6A 7F150743 8BF01BEB 6CA3926F 9582",
	  "0145BA99 A847AF43 793FDD0E 872E7CDF A16BE30F DC780F97 BCCC3F07 8380201E"
	  "9C677D60 0B343757 A3BDBF2A 3163E4C2 F869CCA7 458AA4A4 EFFC311F 5CB15168 5EB9",
	  "00D0B397 5AC4B799 F5BEA16D 5E13E9AF 971D5E9B 984C9F39 728B5E57 39735A21"
	  "9B97C356 436ADC6E 95BB0352 F6BE64A6 C2912D4E F2D0433C ED2B6171 640012D9 460F"
	  "015C6822 6383956E 3BD066E7 97B623C2 7CE0EAC2 F551A10C 2C724D98 52077B87"
	  "220B6536 C5C408A1 D2AEBB8E 86D678AE 49CB5709 1F473229 6579AB44 FCD17F0F C56A",
	  "01144C7D 79AE6956 BC8EDB8E 7C787C45 21CB086F A64407F9 7894E5E6 B2D79B04"
	  "D1427E73 CA4BAA24 0A347868 59810C06 B3C715A3 A8CC3151 F2BEE417 996D19F3 DDEA" },
	{ "RFC 7748 §6.1", KT_DH_CURVE_25519,
	  "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
	  "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
	  "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
	  "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
	  "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742" },
};

/* One side of a vector: our public value and the secret from theirs. */
static void check_side(const struct kat *k, const char *priv_hex, const char *pub_hex,
		       const char *peer_hex)
{
	uint8_t priv[80], pub[140], peer[140], gir[80], got[140];
	size_t plen = unhex(priv, sizeof(priv), priv_hex);
	size_t publen = unhex(pub, sizeof(pub), pub_hex);
	size_t peerlen = unhex(peer, sizeof(peer), peer_hex);
	size_t glen = unhex(gir, sizeof(gir), k->gir);
	struct kt_dh *dh;

	assert_int_equal(kt_dh_new_with_private(k->group, priv, plen, &dh), 0);
	assert_int_equal(kt_dh_public(dh, got, sizeof(got)), (int)publen);
	if (memcmp(got, pub, publen) != 0)
		fail_msg("%s: public value differs", k->what);
	assert_int_equal(kt_dh_derive(dh, peer, peerlen, got, sizeof(got)), (int)glen);
	if (memcmp(got, gir, glen) != 0)
		fail_msg("%s: shared secret differs", k->what);
	kt_dh_del(dh);
}

static void test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		check_side(&kats[i], kats[i].i, kats[i].gi, kats[i].gr);
		check_side(&kats[i], kats[i].r, kats[i].gr, kats[i].gi);
	}
}

static void test_with_private_refusals(void **state)
{
	uint8_t priv[66] = { 1 };
	struct kt_dh *dh = (struct kt_dh *)1;

	(void)state;
	assert_int_equal(kt_dh_new_with_private(KT_DH_MODP_2048, priv, 32, &dh), KT_ERR_UNSUPPORTED);
	assert_null(dh);
	assert_int_equal(kt_dh_new_with_private(99, priv, 32, &dh), KT_ERR_UNSUPPORTED);
	assert_int_equal(kt_dh_new_with_private(KT_DH_ECP_256, priv, 31, &dh), KT_ERR_INVAL);
	assert_int_equal(kt_dh_new_with_private(KT_DH_ECP_256, priv, 33, &dh), KT_ERR_INVAL);
	assert_int_equal(kt_dh_new_with_private(KT_DH_CURVE_25519, priv, 31, &dh), KT_ERR_INVAL);
	assert_int_equal(kt_dh_new_with_private(KT_DH_ECP_521, NULL, 66, &dh), KT_ERR_INVAL);
	memset(priv, 0, sizeof(priv)); /* scalar 0: no key pair */
	assert_int_not_equal(kt_dh_new_with_private(KT_DH_ECP_256, priv, 32, &dh), 0);
	assert_null(dh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_legacy_and_unknown),
		cmocka_unit_test(test_agree),
		cmocka_unit_test(test_modp_leading_zero),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_ecp_prefix_refused),
		cmocka_unit_test(test_modp_invalid),
		cmocka_unit_test(test_ecp_invalid),
		cmocka_unit_test(test_x25519_low_order),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_with_private_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
