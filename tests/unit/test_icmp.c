/* ICMP "fragmentation needed" and ICMPv6 "packet too big": the bytes of
 * each (headers, MTU field, quoted packet, both checksums verified
 * independently here), the RFC size limits, the MTU floors, and the table
 * of packets that must never be answered. */
#include "core/bytes.h"
#include "core/err.h"
#include "core/icmp.h"
#include "tests/unit/testutil.h"

#define GW4 "10.1.0.1"
#define GW6 "fd00:1::1"

static struct kt_addr A(const char *s)
{
	struct kt_addr a;
	assert_int_equal(kt_addr_parse(&a, s), 0);
	return a;
}

/* An IP packet: header from kt_ip_build, then an upper-layer header whose
 * first bytes are given (type/code or ports), then a counting pattern. */
static size_t make_pkt(uint8_t *p, const char *src, const char *dst, uint8_t proto,
		       size_t total, uint8_t b0, uint8_t b1)
{
	struct kt_addr s = A(src), d = A(dst);
	size_t hlen = kt_ip_hdr_len(s.version);
	assert_int_equal(kt_ip_build(p, &s, &d, proto, total - hlen, 0, 64, 7), (int)hlen);
	for (size_t i = hlen; i < total; i++)
		p[i] = (uint8_t)i;
	p[hlen] = b0;
	p[hlen + 1] = b1;
	return total;
}

static void set_frag(uint8_t *p, uint16_t flags_off)
{
	kt_put16(p + 6, flags_off);
	kt_ip4_set_csum(p);
}

static uint16_t v6_sum(const uint8_t *ip6, size_t len)
{
	/* Pseudo-header written out by hand: src, dst, length, zeros, 58. */
	uint8_t ph[40] = { 0 };
	memcpy(ph, ip6 + 8, 32);
	kt_put32(ph + 32, (uint32_t)len);
	ph[39] = KT_IPPROTO_ICMPV6;
	uint32_t sum = kt_ip_csum_add(0, ph, sizeof(ph));
	return kt_ip_csum_fold(kt_ip_csum_add(sum, ip6 + 40, len));
}

static void test_v4_frag_needed(void **state)
{
	(void)state;
	uint8_t pkt[1400], out[2048];
	size_t len = make_pkt(pkt, "10.1.0.7", "10.2.0.9", KT_IPPROTO_TCP, sizeof(pkt), 0x9c, 0x40);
	set_frag(pkt, 0x4000); /* DF */
	assert_true(kt_icmp_df(pkt, len));
	struct kt_addr gw = A(GW4);
	int n = kt_icmp_too_big(out, sizeof(out), pkt, len, &gw, 1335);
	assert_int_equal(n, KT_ICMP_V4_MAX);
	struct kt_ip_info ip;
	assert_int_equal(kt_ip_parse(out, (size_t)n, &ip), 0);
	assert_int_equal(ip.proto, KT_IPPROTO_ICMP);
	assert_true(kt_addr_equal(&ip.src, &gw));
	struct kt_addr sender = A("10.1.0.7");
	assert_true(kt_addr_equal(&ip.dst, &sender));
	assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(0, out, 20)), 0);
	const uint8_t *icmp = out + 20;
	assert_int_equal(icmp[0], 3);
	assert_int_equal(icmp[1], 4);
	assert_int_equal(kt_get16(icmp + 4), 0);
	assert_int_equal(kt_get16(icmp + 6), 1335);
	assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(0, icmp, (size_t)n - 20)), 0);
	assert_memory_equal(icmp + 8, pkt, (size_t)n - 28); /* as much as fits 576 */
}

static void test_v4_small_packet_quoted_whole(void **state)
{
	(void)state;
	uint8_t pkt[100], out[KT_ICMP_V4_MAX];
	size_t len = make_pkt(pkt, "10.1.0.7", "10.2.0.9", KT_IPPROTO_UDP, sizeof(pkt), 1, 2);
	struct kt_addr gw = A(GW4);
	int n = kt_icmp_too_big(out, sizeof(out), pkt, len, &gw, 1400);
	assert_int_equal(n, 20 + 8 + 100);
	assert_memory_equal(out + 28, pkt, 100);
	assert_false(kt_icmp_df(pkt, len)); /* DF clear: may be fragmented */
}

static void test_v6_packet_too_big(void **state)
{
	(void)state;
	uint8_t pkt[1500], out[KT_ICMP_V6_MAX];
	size_t len = make_pkt(pkt, "fd00:1::7", "fd00:2::9", KT_IPPROTO_TCP, sizeof(pkt), 0, 80);
	assert_true(kt_icmp_df(pkt, len));
	struct kt_addr gw = A(GW6);
	int n = kt_icmp_too_big(out, sizeof(out), pkt, len, &gw, 1400);
	assert_int_equal(n, KT_ICMP_V6_MAX);
	struct kt_ip_info ip;
	assert_int_equal(kt_ip_parse(out, (size_t)n, &ip), 0);
	assert_int_equal(ip.proto, KT_IPPROTO_ICMPV6);
	assert_true(kt_addr_equal(&ip.src, &gw));
	struct kt_addr sender = A("fd00:1::7");
	assert_true(kt_addr_equal(&ip.dst, &sender));
	const uint8_t *icmp = out + 40;
	assert_int_equal(icmp[0], 2);
	assert_int_equal(icmp[1], 0);
	assert_int_equal(kt_get32(icmp + 4), 1400);
	assert_int_equal(v6_sum(out, (size_t)n - 40), 0);
	assert_memory_equal(icmp + 8, pkt, (size_t)n - 48);
}

static void test_mtu_floors(void **state)
{
	(void)state;
	uint8_t p4[200], p6[200], out[KT_ICMP_V6_MAX];
	struct kt_addr gw4 = A(GW4), gw6 = A(GW6);
	make_pkt(p4, "10.1.0.7", "10.2.0.9", KT_IPPROTO_UDP, sizeof(p4), 1, 2);
	make_pkt(p6, "fd00:1::7", "fd00:2::9", KT_IPPROTO_UDP, sizeof(p6), 1, 2);
	assert_true(kt_icmp_too_big(out, sizeof(out), p4, sizeof(p4), &gw4, 20) > 0);
	assert_int_equal(kt_get16(out + 26), KT_ICMP_V4_MIN_MTU);
	assert_true(kt_icmp_too_big(out, sizeof(out), p6, sizeof(p6), &gw6, 1000) > 0);
	assert_int_equal(kt_get32(out + 44), KT_ICMP_V6_MIN_MTU);
}

/* Packets no error may answer, and near misses that must be answered. */
static const struct quiet_case {
	const char *name, *src, *dst;
	uint8_t proto, b0, b1;
	uint16_t frag; /* IPv4 flags and offset */
	bool answer;
} quiet[] = {
	{ "v4 echo request", "10.1.0.7", "10.2.0.9", KT_IPPROTO_ICMP, 8, 0, 0, true },
	{ "v4 unreachable", "10.1.0.7", "10.2.0.9", KT_IPPROTO_ICMP, 3, 1, 0, false },
	{ "v4 time exceeded", "10.1.0.7", "10.2.0.9", KT_IPPROTO_ICMP, 11, 0, 0, false },
	{ "v4 redirect", "10.1.0.7", "10.2.0.9", KT_IPPROTO_ICMP, 5, 0, 0, false },
	{ "v4 first fragment", "10.1.0.7", "10.2.0.9", KT_IPPROTO_UDP, 1, 2, 0x2000, true },
	{ "v4 later fragment", "10.1.0.7", "10.2.0.9", KT_IPPROTO_UDP, 1, 2, 0x2010, false },
	{ "v4 last fragment", "10.1.0.7", "10.2.0.9", KT_IPPROTO_UDP, 1, 2, 0x0010, false },
	{ "v4 from 0.0.0.0", "0.0.0.0", "10.2.0.9", KT_IPPROTO_UDP, 1, 2, 0, false },
	{ "v4 from loopback", "127.0.0.1", "10.2.0.9", KT_IPPROTO_UDP, 1, 2, 0, false },
	{ "v4 from multicast", "224.0.0.5", "10.2.0.9", KT_IPPROTO_UDP, 1, 2, 0, false },
	{ "v4 from broadcast", "255.255.255.255", "10.2.0.9", KT_IPPROTO_UDP, 1, 2, 0, false },
	{ "v4 to multicast", "10.1.0.7", "224.0.0.5", KT_IPPROTO_UDP, 1, 2, 0, true },
	{ "v6 echo request", "fd00:1::7", "fd00:2::9", KT_IPPROTO_ICMPV6, 128, 0, 0, true },
	{ "v6 dest unreachable", "fd00:1::7", "fd00:2::9", KT_IPPROTO_ICMPV6, 1, 0, 0, false },
	{ "v6 packet too big", "fd00:1::7", "fd00:2::9", KT_IPPROTO_ICMPV6, 2, 0, 0, false },
	{ "v6 from ::", "::", "fd00:2::9", KT_IPPROTO_UDP, 1, 2, 0, false },
	{ "v6 from ::1", "::1", "fd00:2::9", KT_IPPROTO_UDP, 1, 2, 0, false },
	{ "v6 from multicast", "ff02::1", "fd00:2::9", KT_IPPROTO_UDP, 1, 2, 0, false },
	{ "v6 to multicast", "fd00:1::7", "ff02::1", KT_IPPROTO_UDP, 1, 2, 0, true },
};

static void test_never_answered(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
		const struct quiet_case *c = &quiet[i];
		uint8_t pkt[300], out[KT_ICMP_V6_MAX];
		make_pkt(pkt, c->src, c->dst, c->proto, sizeof(pkt), c->b0, c->b1);
		if (pkt[0] >> 4 == 4)
			set_frag(pkt, c->frag);
		struct kt_addr gw = A(pkt[0] >> 4 == 4 ? GW4 : GW6);
		int n = kt_icmp_too_big(out, sizeof(out), pkt, sizeof(pkt), &gw, 1300);
		if (c->answer ? n <= 0 : n != 0)
			fail_msg("%s: got %d, want %s", c->name, n, c->answer ? "an error" : "0");
	}
}

static void test_errors(void **state)
{
	(void)state;
	uint8_t pkt[300], out[KT_ICMP_V6_MAX], junk[30] = { 0x45 };
	struct kt_addr gw4 = A(GW4), gw6 = A(GW6);
	make_pkt(pkt, "10.1.0.7", "10.2.0.9", KT_IPPROTO_UDP, sizeof(pkt), 1, 2);
	assert_int_equal(kt_icmp_too_big(out, sizeof(out), pkt, sizeof(pkt), &gw6, 1300),
			 KT_ERR_INVAL);
	assert_int_equal(kt_icmp_too_big(out, sizeof(out), junk, sizeof(junk), &gw4, 1300),
			 KT_ERR_MALFORMED);
	assert_int_equal(kt_icmp_too_big(out, 100, pkt, sizeof(pkt), &gw4, 1300), KT_ERR_NOSPACE);
	assert_int_equal(kt_icmp_too_big(out, 328, pkt, sizeof(pkt), &gw4, 1300), 328);
	assert_false(kt_icmp_df(pkt, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_frag_needed),
		cmocka_unit_test(test_v4_small_packet_quoted_whole),
		cmocka_unit_test(test_v6_packet_too_big),
		cmocka_unit_test(test_mtu_floors),
		cmocka_unit_test(test_never_answered),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
