/* MTU arithmetic: the worst-case overhead really bounds what every
 * algorithm adds (checked by sealing packets of every size), and
 * kt_mtu_inner_max is exactly the largest inner packet whose sealed form
 * fits (checked against real seals of that size and one byte more), for
 * ESP, ESP in UDP, AH and an AH+ESP bundle, IPv4 and IPv6 outside. */
#include "core/ah.h"
#include "core/err.h"
#include "core/esp.h"
#include "core/mtu.h"
#include "tests/unit/testutil.h"

/* Two tunnel-mode SAs (the bundle) need two outer headers of headroom. */
#define HEADROOM (2 * KT_PKT_HEADROOM)
#define BUF_LEN (HEADROOM + 9000 + 2 * KT_PKT_TAILROOM)

static uint8_t key[KT_XFORM_MAX_KEY + KT_XFORM_SALT_LEN];

struct alg {
	uint16_t encr, bits, integ;
};

static const struct alg esp_algs[] = {
	{ KT_ENCR_AES_GCM_16, 128, KT_INTEG_NONE },
	{ KT_ENCR_CHACHA20_POLY1305, 0, KT_INTEG_NONE },
	{ KT_ENCR_AES_CBC, 256, KT_INTEG_HMAC_SHA2_512_256 },
	{ KT_ENCR_AES_CBC, 128, KT_INTEG_HMAC_SHA2_256_128 },
	{ KT_ENCR_NULL, 0, KT_INTEG_HMAC_SHA2_384_192 },
};
#define N_ESP (sizeof(esp_algs) / sizeof(esp_algs[0]))

static struct kt_addr A(const char *s)
{
	struct kt_addr a;
	assert_int_equal(kt_addr_parse(&a, s), 0);
	return a;
}

static struct kt_sa *make_sa(struct kt_sad *sad, uint8_t proto, const struct alg *a, uint8_t v,
			     bool encap, uint32_t spi)
{
	struct kt_sa_params p = {
		.spi = spi, .proto = proto, .mode = KT_MODE_TUNNEL, .dir = KT_DIR_OUT,
		.src = A(v == 6 ? "2001:db8::1" : "192.0.2.1"),
		.dst = A(v == 6 ? "2001:db8::2" : "192.0.2.2"),
		.encap = encap, .encap_sport = 4500, .encap_dport = 4500,
		.xf = { .encr = a->encr, .encr_key_bits = a->bits, .integ = a->integ },
	};
	if (proto == KT_IPPROTO_ESP) {
		p.xf.encr_key = key;
		p.xf.encr_key_len = (size_t)kt_encr_key_len(a->encr, a->bits);
	}
	if (a->integ) {
		p.xf.integ_key = key;
		p.xf.integ_key_len = (size_t)kt_integ_key_len(a->integ);
	}
	struct kt_sa *sa;
	assert_int_equal(kt_sad_add(sad, &p, 0, &sa), 0);
	return sa;
}

/* Seal an inner IPv4 packet of n bytes; the sealed length. */
static size_t seal_len(struct kt_sad *sad, struct kt_sa *esp, struct kt_sa *ah, size_t n)
{
	static uint8_t buf[BUF_LEN];
	struct kt_addr s = A("10.1.0.1"), d = A("10.2.0.1");
	struct kt_pkt pkt = { .head = buf, .cap = sizeof(buf), .off = HEADROOM, .len = n };
	assert_int_equal(kt_ip_build(kt_pkt_data(&pkt), &s, &d, KT_IPPROTO_UDP, n - 20, 0, 64, 1), 20);
	if (esp)
		assert_int_equal(kt_esp_seal(sad, esp, &pkt), 0);
	if (ah)
		assert_int_equal(kt_ah_seal(sad, ah, &pkt), 0);
	return pkt.len;
}

static void check_inner_max(struct kt_sad *sad, struct kt_sa *esp, struct kt_sa *ah)
{
	static const size_t paths[] = { 576, 1280, 1400, 1492, 1500, 9000 };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		size_t n = kt_mtu_inner_max(esp, ah, paths[i]);
		assert_true(n > 20 && n < paths[i]);
		if (seal_len(sad, esp, ah, n) > paths[i] || seal_len(sad, esp, ah, n + 1) <= paths[i])
			fail_msg("path %zu: inner max %zu is not the edge (%zu -> %zu, %zu -> %zu)",
				 paths[i], n, n, seal_len(sad, esp, ah, n), n + 1,
				 seal_len(sad, esp, ah, n + 1));
	}
}

static void check_worst(struct kt_sad *sad, struct kt_sa *esp, struct kt_sa *ah, uint8_t v,
			bool encap)
{
	size_t worst = kt_mtu_worst_overhead(esp != NULL, ah != NULL, v, encap);
	for (size_t n = 28; n <= 1600; n++) {
		size_t added = seal_len(sad, esp, ah, n) - n;
		if (added > worst)
			fail_msg("inner %zu: %zu bytes added, worst case says %zu", n, added, worst);
	}
}

static void test_esp(void **state)
{
	(void)state;
	uint32_t spi = 0x100;
	for (size_t i = 0; i < N_ESP; i++)
		for (uint8_t v = 4; v <= 6; v += 2)
			for (int encap = 0; encap < 2; encap++) {
				struct kt_sad *sad = kt_sad_new();
				struct kt_sa *sa = make_sa(sad, KT_IPPROTO_ESP, &esp_algs[i], v,
							   encap, spi++);
				check_inner_max(sad, sa, NULL);
				check_worst(sad, sa, NULL, v, encap);
				kt_sad_del(sad);
			}
}

static void test_ah_and_bundle(void **state)
{
	(void)state;
	static const struct alg ah_alg = { KT_ENCR_NONE, 0, KT_INTEG_HMAC_SHA2_512_256 };
	for (uint8_t v = 4; v <= 6; v += 2) {
		struct kt_sad *sad = kt_sad_new();
		struct kt_sa *ah = make_sa(sad, KT_IPPROTO_AH, &ah_alg, v, false, 0x200);
		check_inner_max(sad, NULL, ah);
		check_worst(sad, NULL, ah, v, false);
		struct kt_sa *esp = make_sa(sad, KT_IPPROTO_ESP, &esp_algs[2], v, false, 0x201);
		check_inner_max(sad, esp, ah);
		check_worst(sad, esp, ah, v, false);
		kt_sad_del(sad);
	}
}

static void test_worst_values(void **state)
{
	(void)state;
	/* Outer header + UDP 8, ESP 8, IV 16, padding 15, trailer 2, ICV 32. */
	assert_int_equal(kt_mtu_worst_overhead(true, false, 4, true), 20 + 81);
	assert_int_equal(kt_mtu_worst_overhead(true, false, 6, false), 40 + 73);
	/* AH 12 + ICV 32, padded to 48 for IPv6's 8-byte alignment. */
	assert_int_equal(kt_mtu_worst_overhead(false, true, 4, false), 20 + 48);
	/* Unknown outer version: IPv6, the larger header; one per tunnel SA. */
	assert_int_equal(kt_mtu_worst_overhead(true, true, 0, true), 40 + 81 + 40 + 48);
}

static void test_nothing_fits(void **state)
{
	(void)state;
	struct kt_sad *sad = kt_sad_new();
	struct kt_sa *sa = make_sa(sad, KT_IPPROTO_ESP, &esp_algs[0], 6, true, 0x300);
	assert_int_equal(kt_mtu_inner_max(sa, NULL, 60), 0);
	assert_int_equal(kt_mtu_inner_max(NULL, NULL, 1500), 1500);
	kt_sad_del(sad);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0x30 + i);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_esp),
		cmocka_unit_test(test_ah_and_bundle),
		cmocka_unit_test(test_worst_values),
		cmocka_unit_test(test_nothing_fits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
