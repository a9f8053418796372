/* Unit tests for PSK authentication (core/ike/authpsk.c): fixed values
 * computed outside kotetsu (Python's hmac module), the RFC 7296 §2.15
 * construction rebuilt from direct kt_prf calls, and refusal of every
 * changed input. */
#include "tests/unit/testutil.h"
#include "core/err.h"
#include "core/ike/authpsk.h"

static const uint8_t psk[] = "correct horse battery staple";
#define PSK_LEN (sizeof(psk) - 1)
static uint8_t real_msg[100], nonce[32], sk_p[64];
static const uint8_t id_body[] = "\x02\x00\x00\x00site-a.example"; /* ID_FQDN */
#define ID_LEN (sizeof(id_body) - 1)

struct prf_case {
	uint16_t id;
	bool legacy;
	const char *auth; /* hex, from Python: hmac.new(...) written out */
};

static const struct prf_case prfs[] = {
	{ KT_PRF_HMAC_SHA1, true, "ea6c38030fc6d406eead848e2fd4b0851b6aee04" },
	{ KT_PRF_HMAC_SHA2_256, false,
	  "f505367b19a79f513f9da954e32d9d14cff5d214eb7b08e046184ba215601d17" },
	{ KT_PRF_HMAC_SHA2_384, false,
	  "669b3b0f28635f4154bb4a69506615897476acf80869a822c28593a774a6e860"
	  "1b45ac7ad3285f0a622fec79d88e47ed" },
	{ KT_PRF_HMAC_SHA2_512, false,
	  "d7843759f4ba8d7b861325eb8a13f3a62956051dd9f54c049de10c75bc4d9070"
	  "8d7509853ee097c52dcea82f4bee51184c1a6f689e8481f72a5e041ea0ba5297" },
};
#define N_PRFS (sizeof(prfs) / sizeof(prfs[0]))

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(real_msg); i++)
		real_msg[i] = (uint8_t)(i * 3);
	for (size_t i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)(0xa0 + i);
	memset(sk_p, 0x11, sizeof(sk_p));
	return 0;
}

static void prf_init(struct kt_prf *prf, const struct prf_case *c)
{
	assert_int_equal(kt_prf_init(prf, c->id, c->legacy), 0);
}

static int auth(struct kt_prf *prf, uint8_t *out)
{
	return kt_ike_psk_auth(prf, psk, PSK_LEN, real_msg, sizeof(real_msg), nonce,
			       sizeof(nonce), sk_p, kt_prf_len(prf), id_body, ID_LEN, out);
}

static int verify(struct kt_prf *prf, const uint8_t *a, size_t len)
{
	return kt_ike_psk_verify(prf, psk, PSK_LEN, real_msg, sizeof(real_msg), nonce,
				 sizeof(nonce), sk_p, kt_prf_len(prf), id_body, ID_LEN, a, len);
}

static void test_known_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_PRFS; i++) {
		struct kt_prf prf;
		uint8_t want[KT_PRF_MAX_LEN], got[KT_PRF_MAX_LEN];
		size_t n = unhex(want, sizeof(want), prfs[i].auth);

		prf_init(&prf, &prfs[i]);
		assert_int_equal(auth(&prf, got), (int)n);
		assert_memory_equal(got, want, n);
		assert_int_equal(verify(&prf, want, n), 0);
		kt_prf_free(&prf);
	}
}

/* prf(prf(PSK, "Key Pad for IKEv2"), msg | nonce | prf(SK_p, ID')) from
 * separate kt_prf calls, with inputs of several sizes. */
static void test_matches_construction(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_PRFS; i++) {
		struct kt_prf prf;

		prf_init(&prf, &prfs[i]);
		for (size_t round = 0; round < 8; round++) {
			uint8_t key[64], msg[600], skp[64], id[40], nce[256];
			uint8_t pad_key[KT_PRF_MAX_LEN], maced[KT_PRF_MAX_LEN];
			uint8_t want[KT_PRF_MAX_LEN], got[KT_PRF_MAX_LEN];
			size_t klen = 1 + round * 7, mlen = 200 + round * 50, nlen = 16 + round * 30;
			size_t idlen = 5 + round * 4;
			int n;

			assert_int_equal(kt_random(key, sizeof(key)), 0);
			assert_int_equal(kt_random(msg, sizeof(msg)), 0);
			assert_int_equal(kt_random(skp, sizeof(skp)), 0);
			assert_int_equal(kt_random(id, sizeof(id)), 0);
			assert_int_equal(kt_random(nce, sizeof(nce)), 0);
			struct kt_chunk pad = { (const uint8_t *)"Key Pad for IKEv2", 17 };
			struct kt_chunk idc = { id, idlen };
			n = kt_prf(&prf, key, klen, &pad, 1, pad_key);
			assert_int_equal(n, (int)kt_prf_len(&prf));
			assert_int_equal(kt_prf(&prf, skp, kt_prf_len(&prf), &idc, 1, maced), n);
			struct kt_chunk octets[] = { { msg, mlen }, { nce, nlen }, { maced, (size_t)n } };
			assert_int_equal(kt_prf(&prf, pad_key, (size_t)n, octets, 3, want), n);

			assert_int_equal(kt_ike_psk_auth(&prf, key, klen, msg, mlen, nce, nlen, skp,
							 kt_prf_len(&prf), id, idlen, got), n);
			assert_memory_equal(got, want, (size_t)n);
			assert_int_equal(kt_ike_psk_verify(&prf, key, klen, msg, mlen, nce, nlen, skp,
							   kt_prf_len(&prf), id, idlen, want,
							   (size_t)n), 0);
		}
		kt_prf_free(&prf);
	}
}

/* Each input changed by one byte (or one byte shorter) fails verification. */
static void test_any_change_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_PRFS; i++) {
		struct kt_prf prf;
		uint8_t a[KT_PRF_MAX_LEN], bad_psk[PSK_LEN], bad_msg[sizeof(real_msg)];
		uint8_t bad_nonce[sizeof(nonce)], bad_skp[sizeof(sk_p)], bad_id[ID_LEN];
		size_t n, plen;

		prf_init(&prf, &prfs[i]);
		n = (size_t)auth(&prf, a);
		plen = kt_prf_len(&prf);
		memcpy(bad_psk, psk, PSK_LEN);
		bad_psk[3] ^= 0x20;
		memcpy(bad_msg, real_msg, sizeof(bad_msg));
		bad_msg[50] ^= 1;
		memcpy(bad_nonce, nonce, sizeof(nonce));
		bad_nonce[31] ^= 0x80;
		memcpy(bad_skp, sk_p, sizeof(sk_p));
		bad_skp[0] ^= 1;
		memcpy(bad_id, id_body, ID_LEN);
		bad_id[ID_LEN - 1] = 'X'; /* another identity */

#define VERIFY(P, PL, M, ML, N, NL, S, SL, I, IL) \
	kt_ike_psk_verify(&prf, P, PL, M, ML, N, NL, S, SL, I, IL, a, n)
		assert_int_equal(VERIFY(psk, PSK_LEN, real_msg, sizeof(real_msg), nonce, sizeof(nonce),
					sk_p, plen, id_body, ID_LEN), 0);
		assert_int_equal(VERIFY(bad_psk, PSK_LEN, real_msg, sizeof(real_msg), nonce,
					sizeof(nonce), sk_p, plen, id_body, ID_LEN), KT_ERR_AUTH);
		assert_int_equal(VERIFY(psk, PSK_LEN - 1, real_msg, sizeof(real_msg), nonce,
					sizeof(nonce), sk_p, plen, id_body, ID_LEN), KT_ERR_AUTH);
		assert_int_equal(VERIFY(psk, PSK_LEN, bad_msg, sizeof(real_msg), nonce, sizeof(nonce),
					sk_p, plen, id_body, ID_LEN), KT_ERR_AUTH);
		assert_int_equal(VERIFY(psk, PSK_LEN, real_msg, sizeof(real_msg) - 1, nonce,
					sizeof(nonce), sk_p, plen, id_body, ID_LEN), KT_ERR_AUTH);
		assert_int_equal(VERIFY(psk, PSK_LEN, real_msg, sizeof(real_msg), bad_nonce,
					sizeof(nonce), sk_p, plen, id_body, ID_LEN), KT_ERR_AUTH);
		assert_int_equal(VERIFY(psk, PSK_LEN, real_msg, sizeof(real_msg), nonce,
					sizeof(nonce) - 1, sk_p, plen, id_body, ID_LEN), KT_ERR_AUTH);
		assert_int_equal(VERIFY(psk, PSK_LEN, real_msg, sizeof(real_msg), nonce, sizeof(nonce),
					bad_skp, plen, id_body, ID_LEN), KT_ERR_AUTH);
		assert_int_equal(VERIFY(psk, PSK_LEN, real_msg, sizeof(real_msg), nonce, sizeof(nonce),
					sk_p, plen, bad_id, ID_LEN), KT_ERR_AUTH);
		assert_int_equal(VERIFY(psk, PSK_LEN, real_msg, sizeof(real_msg), nonce, sizeof(nonce),
					sk_p, plen, id_body, ID_LEN - 1), KT_ERR_AUTH);
#undef VERIFY
		/* The AUTH value itself: each byte, and the wrong length. */
		for (size_t b = 0; b < n; b++) {
			a[b] ^= 0x04;
			assert_int_equal(verify(&prf, a, n), KT_ERR_AUTH);
			a[b] ^= 0x04;
		}
		assert_int_equal(verify(&prf, a, n), 0);
		assert_int_equal(verify(&prf, a, n - 1), KT_ERR_AUTH);
		assert_int_equal(verify(&prf, a, n + 1), KT_ERR_AUTH);
		assert_int_equal(verify(&prf, a, 0), KT_ERR_AUTH);
		assert_int_equal(verify(&prf, NULL, n), KT_ERR_AUTH);
		kt_prf_free(&prf);
	}
}

/* The two roles sign different things: the initiator's AUTH does not
 * verify as the responder's (different message, nonce, SK_p, ID). */
static void test_roles_differ(void **state)
{
	struct kt_prf prf;
	uint8_t msg1[80], msg2[90], ni[32], nr[32], skpi[32], skpr[32], a_i[32], a_r[32];
	const uint8_t idi[] = "\x02\x00\x00\x00" "a.example", idr[] = "\x02\x00\x00\x00" "b.example";
	(void)state;

	assert_int_equal(kt_prf_init(&prf, KT_PRF_HMAC_SHA2_256, false), 0);
	assert_int_equal(kt_random(msg1, sizeof(msg1)), 0);
	assert_int_equal(kt_random(msg2, sizeof(msg2)), 0);
	assert_int_equal(kt_random(ni, sizeof(ni)), 0);
	assert_int_equal(kt_random(nr, sizeof(nr)), 0);
	assert_int_equal(kt_random(skpi, sizeof(skpi)), 0);
	assert_int_equal(kt_random(skpr, sizeof(skpr)), 0);
	/* initiator: msg1 | Nr | prf(SK_pi, IDi'); responder: msg2 | Ni | prf(SK_pr, IDr') */
	assert_int_equal(kt_ike_psk_auth(&prf, psk, PSK_LEN, msg1, sizeof(msg1), nr, 32, skpi, 32,
					 idi, sizeof(idi) - 1, a_i), 32);
	assert_int_equal(kt_ike_psk_auth(&prf, psk, PSK_LEN, msg2, sizeof(msg2), ni, 32, skpr, 32,
					 idr, sizeof(idr) - 1, a_r), 32);
	assert_memory_not_equal(a_i, a_r, 32);
	assert_int_equal(kt_ike_psk_verify(&prf, psk, PSK_LEN, msg1, sizeof(msg1), nr, 32, skpi, 32,
					   idi, sizeof(idi) - 1, a_i, 32), 0);
	assert_int_equal(kt_ike_psk_verify(&prf, psk, PSK_LEN, msg2, sizeof(msg2), ni, 32, skpr, 32,
					   idr, sizeof(idr) - 1, a_i, 32), KT_ERR_AUTH);
	kt_prf_free(&prf);
}

static void test_bad_arguments(void **state)
{
	struct kt_prf prf;
	uint8_t out[KT_PRF_MAX_LEN];
	(void)state;

	assert_int_equal(kt_prf_init(&prf, KT_PRF_HMAC_SHA2_256, false), 0);
	/* An empty PSK or SK_p is not a key. */
	assert_int_equal(kt_ike_psk_auth(&prf, psk, 0, real_msg, sizeof(real_msg), nonce,
					 sizeof(nonce), sk_p, 32, id_body, ID_LEN, out), KT_ERR_INVAL);
	assert_int_equal(kt_ike_psk_auth(&prf, psk, PSK_LEN, real_msg, sizeof(real_msg), nonce,
					 sizeof(nonce), sk_p, 0, id_body, ID_LEN, out), KT_ERR_INVAL);
	assert_int_equal(kt_ike_psk_verify(&prf, NULL, 0, real_msg, sizeof(real_msg), nonce,
					   sizeof(nonce), sk_p, 32, id_body, ID_LEN, out, 32),
			 KT_ERR_INVAL);
	kt_prf_free(&prf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_matches_construction),
		cmocka_unit_test(test_any_change_refused),
		cmocka_unit_test(test_roles_differ),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
