/* Traffic selector tests: strongSwan-syntax parsing (valid and invalid
 * strings), prefix construction, matching, and packet end derivation. */
#include "core/err.h"
#include "core/ts.h"
#include "tests/unit/testutil.h"

#define ALL 0, 0xffff

static struct kt_addr A(const char *s)
{
	struct kt_addr a;
	assert_int_equal(kt_addr_parse(&a, s), 0);
	return a;
}

static void assert_addr(const struct kt_addr *got, const char *want, const char *ctx)
{
	struct kt_addr w = A(want);
	if (!kt_addr_equal(got, &w)) {
		char buf[64];
		fail_msg("%s: got %s, want %s", ctx, kt_addr_format(got, buf, sizeof(buf)), want);
	}
}

static const struct parse_case {
	const char *text;
	const char *start, *end;
	uint8_t proto;
	uint16_t port_start, port_end;
} parse_ok[] = {
	{ "10.1.0.0/24", "10.1.0.0", "10.1.0.255", 0, ALL },
	{ "192.0.2.7", "192.0.2.7", "192.0.2.7", 0, ALL },
	{ "192.0.2.7/32", "192.0.2.7", "192.0.2.7", 0, ALL },
	{ "10.1.2.3/16", "10.1.0.0", "10.1.255.255", 0, ALL }, /* host bits masked */
	{ "10.0.0.0/25", "10.0.0.0", "10.0.0.127", 0, ALL },
	{ "10.0.0.0/008", "10.0.0.0", "10.255.255.255", 0, ALL },
	{ "0.0.0.0/0", "0.0.0.0", "255.255.255.255", 0, ALL },
	{ "2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 0, ALL },
	{ "2001:db8::1", "2001:db8::1", "2001:db8::1", 0, ALL },
	{ "2001:db8:1:2:3:4:5:6/63", "2001:db8:1:2::", "2001:db8:1:3:ffff:ffff:ffff:ffff", 0, ALL },
	{ "::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, ALL },
	{ "10.0.0.5-10.0.0.9", "10.0.0.5", "10.0.0.9", 0, ALL },
	{ "2001:db8::1-2001:db8::1", "2001:db8::1", "2001:db8::1", 0, ALL },
	{ "0.0.0.0/0[udp]", "0.0.0.0", "255.255.255.255", 17, ALL },
	{ "10.0.0.0/8[tcp/80]", "10.0.0.0", "10.255.255.255", 6, 80, 80 },
	{ "10.0.0.0/8[tcp/1024-2048]", "10.0.0.0", "10.255.255.255", 6, 1024, 2048 },
	{ "10.0.0.0/8[TCP/0-65535]", "10.0.0.0", "10.255.255.255", 6, ALL },
	{ "10.0.0.0/8[udp/65535]", "10.0.0.0", "10.255.255.255", 17, 65535, 65535 },
	{ "10.0.0.0/8[udp/0]", "10.0.0.0", "10.255.255.255", 17, 0, 0 },
	{ "10.0.0.0/8[tcp/any]", "10.0.0.0", "10.255.255.255", 6, ALL },
	{ "10.0.0.0/8[6]", "10.0.0.0", "10.255.255.255", 6, ALL },
	{ "10.0.0.0/8[6/443]", "10.0.0.0", "10.255.255.255", 6, 443, 443 },
	{ "10.0.0.0/8[any]", "10.0.0.0", "10.255.255.255", 0, ALL },
	{ "10.0.0.0/8[0]", "10.0.0.0", "10.255.255.255", 0, ALL },
	{ "10.0.0.0/8[sctp/9899]", "10.0.0.0", "10.255.255.255", 132, 9899, 9899 },
	{ "10.0.0.0/8[ah]", "10.0.0.0", "10.255.255.255", 51, ALL },
	{ "10.0.0.0/8[esp]", "10.0.0.0", "10.255.255.255", 50, ALL },
	{ "10.0.0.0/8[gre]", "10.0.0.0", "10.255.255.255", 47, ALL },
	{ "10.0.0.0/8[255]", "10.0.0.0", "10.255.255.255", 255, ALL },
	{ "10.0.0.1[icmp/8]", "10.0.0.1", "10.0.0.1", 1, 0x0800, 0x08ff },
	{ "10.0.0.1[icmp/3-4]", "10.0.0.1", "10.0.0.1", 1, 0x0300, 0x04ff },
	{ "0.0.0.0/0[icmp/255]", "0.0.0.0", "255.255.255.255", 1, 0xff00, 0xffff },
	{ "0.0.0.0/0[icmp]", "0.0.0.0", "255.255.255.255", 1, ALL },
	{ "::/0[icmpv6/128]", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 58, 0x8000, 0x80ff },
	{ "::/0[ipv6-icmp/135-136]", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 58, 0x8700, 0x88ff },
};

static void test_parse_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_ok) / sizeof(parse_ok[0]); i++) {
		const struct parse_case *c = &parse_ok[i];
		struct kt_ts ts;
		int rc = kt_ts_parse(&ts, c->text);
		if (rc != 0)
			fail_msg("\"%s\": rc %d", c->text, rc);
		assert_addr(&ts.start, c->start, c->text);
		assert_addr(&ts.end, c->end, c->text);
		if (ts.proto != c->proto || ts.port_start != c->port_start || ts.port_end != c->port_end)
			fail_msg("\"%s\": proto %u ports %u-%u, want %u %u-%u", c->text, ts.proto,
				 ts.port_start, ts.port_end, c->proto, c->port_start, c->port_end);
	}
}

static const char *const parse_bad[] = {
	"", "garbage", "any", "%any", "dynamic", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1",
	"10.0.0.0/+8", "10.0.0.0/8x", "10.0.0.0/8/8", "10.0.0.256", "10.0.0", "10.0.0.0/100000",
	"10.0.0.0/8[", "10.0.0.0/8[]", "10.0.0.0/8[tcp", "10.0.0.0/8tcp]", "10.0.0.0/8]",
	"10.0.0.0/8[tcp/]", "10.0.0.0/8[tcp/65536]", "10.0.0.0/8[tcp/80-]", "10.0.0.0/8[tcp/-80]",
	"10.0.0.0/8[tcp/2048-1024]", "10.0.0.0/8[tcp/80-90-100]", "10.0.0.0/8[foo]",
	"10.0.0.0/8[256]", "10.0.0.0/8[-1]", "10.0.0.0/8[tcp/80/90]", "10.0.0.0/8[tcp/http]",
	"10.0.0.0/8[tcp/+80]", "10.0.0.0/8[tcp/0x50]", "10.0.0.0/8[tcp/ 80]",
	"10.0.0.0/8[tcp/000080]", "10.0.0.0/8[esp/80]", "10.0.0.0/8[any/80]", "10.0.0.0/8[/80]",
	"10.0.0.0/8[icmp/256]", "10.0.0.0/8[icmp/8/0]", "::/0[icmp/8]", "10.0.0.0/8[icmpv6]",
	"10.0.0.0/8[tcp/80]]", "10.0.0.0/8[[tcp/80]", "10.0.0.0/8[tcp/80]x", "[tcp/80]",
	"10.0.0.9-10.0.0.5", "10.0.0.1-::1", "10.0.0.1-", "-10.0.0.1", "10.0.0.0/8-10.0.0.9",
	" 10.0.0.0/8", "10.0.0.0/8 ", "10.0.0.0 /8", "10.0.0.0/8,10.1.0.0/16",
};

static void test_parse_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_bad) / sizeof(parse_bad[0]); i++) {
		struct kt_ts ts, before;
		memset(&ts, 0xa5, sizeof(ts));
		before = ts;
		int rc = kt_ts_parse(&ts, parse_bad[i]);
		if (rc != KT_ERR_INVAL)
			fail_msg("\"%s\": rc %d, want KT_ERR_INVAL", parse_bad[i], rc);
		/* A failed parse leaves the output alone. */
		assert_memory_equal(&ts, &before, sizeof(ts));
	}
}

/* Over-long input is rejected without reading past the length limit: the
 * buffer has no NUL at all, so ASan would catch a read beyond it. */
static void test_parse_too_long(void **state)
{
	(void)state;
	struct kt_ts ts;
	char *buf = malloc(129);
	assert_non_null(buf);
	memset(buf, '1', 129);
	assert_int_equal(kt_ts_parse(&ts, buf), KT_ERR_INVAL);
	free(buf);

	char ok[200] = "10.0.0.0/8[tcp/80]";
	assert_int_equal(kt_ts_parse(&ts, ok), 0);
	memset(ok + strlen(ok), 0, sizeof(ok) - strlen(ok));
	memset(ok, '0', 150); /* "000...": too long and not an address */
	assert_int_equal(kt_ts_parse(&ts, ok), KT_ERR_INVAL);
}

static void test_from_prefix(void **state)
{
	(void)state;
	static const struct {
		const char *addr;
		unsigned len;
		const char *start, *end;
	} cases[] = {
		{ "10.1.2.3", 0, "0.0.0.0", "255.255.255.255" },
		{ "10.1.2.3", 1, "0.0.0.0", "127.255.255.255" },
		{ "10.1.2.3", 8, "10.0.0.0", "10.255.255.255" },
		{ "10.1.2.3", 23, "10.1.2.0", "10.1.3.255" },
		{ "10.1.2.3", 31, "10.1.2.2", "10.1.2.3" },
		{ "10.1.2.3", 32, "10.1.2.3", "10.1.2.3" },
		{ "2001:db8::7", 0, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
		{ "2001:db8::7", 64, "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff" },
		{ "2001:db8::7", 126, "2001:db8::4", "2001:db8::7" },
		{ "2001:db8::7", 128, "2001:db8::7", "2001:db8::7" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_addr a = A(cases[i].addr);
		struct kt_ts ts;
		assert_int_equal(kt_ts_from_prefix(&ts, &a, cases[i].len), 0);
		assert_addr(&ts.start, cases[i].start, cases[i].addr);
		assert_addr(&ts.end, cases[i].end, cases[i].addr);
		assert_int_equal(ts.proto, KT_TS_PROTO_ANY);
		assert_int_equal(ts.port_start, 0);
		assert_int_equal(ts.port_end, 0xffff);
	}

	struct kt_ts ts, before;
	memset(&ts, 0x5a, sizeof(ts));
	before = ts;
	struct kt_addr v4 = A("10.0.0.1"), v6 = A("::1"), none = { 0 };
	assert_int_equal(kt_ts_from_prefix(&ts, &v4, 33), KT_ERR_INVAL);
	assert_int_equal(kt_ts_from_prefix(&ts, &v6, 129), KT_ERR_INVAL);
	assert_int_equal(kt_ts_from_prefix(&ts, &none, 0), KT_ERR_INVAL);
	assert_memory_equal(&ts, &before, sizeof(ts));
}

#define OPAQUE false, 0
#define PORT(p) true, (p)

static const struct match_case {
	const char *ts;
	const char *addr;
	uint8_t proto;
	bool has_port;
	uint16_t port;
	bool match;
} match_cases[] = {
	{ "10.1.0.0/24", "10.1.0.0", 6, PORT(80), true },
	{ "10.1.0.0/24", "10.1.0.255", 17, PORT(53), true },
	{ "10.1.0.0/24", "10.1.1.0", 6, PORT(80), false },
	{ "10.1.0.0/24", "10.0.255.255", 6, PORT(80), false },
	{ "10.1.0.0/24", "::ffff:10.1.0.1", 6, PORT(80), false }, /* other version */
	{ "10.1.0.0/24", "10.1.0.1", 6, OPAQUE, true },           /* full range takes fragments */
	{ "10.1.0.0/24", "10.1.0.1", 50, OPAQUE, true },
	{ "10.0.0.0/8[tcp/80]", "10.2.3.4", 6, PORT(80), true },
	{ "10.0.0.0/8[tcp/80]", "10.2.3.4", 6, PORT(81), false },
	{ "10.0.0.0/8[tcp/80]", "10.2.3.4", 17, PORT(80), false },
	{ "10.0.0.0/8[tcp/80]", "10.2.3.4", 6, OPAQUE, false },
	{ "10.0.0.0/8[tcp/80]", "11.2.3.4", 6, PORT(80), false },
	{ "10.0.0.0/8[tcp/1024-2048]", "10.0.0.1", 6, PORT(1023), false },
	{ "10.0.0.0/8[tcp/1024-2048]", "10.0.0.1", 6, PORT(1024), true },
	{ "10.0.0.0/8[tcp/1024-2048]", "10.0.0.1", 6, PORT(2048), true },
	{ "10.0.0.0/8[tcp/1024-2048]", "10.0.0.1", 6, PORT(2049), false },
	{ "10.0.0.0/8[udp/0]", "10.0.0.1", 17, PORT(0), true },
	{ "10.0.0.0/8[udp/0]", "10.0.0.1", 17, OPAQUE, false },
	{ "0.0.0.0/0[udp]", "203.0.113.9", 17, OPAQUE, true },
	{ "0.0.0.0/0[udp]", "203.0.113.9", 6, PORT(53), false },
	{ "0.0.0.0/0", "0.0.0.0", 0, OPAQUE, true },
	{ "0.0.0.0/0", "255.255.255.255", 255, PORT(1), true },
	{ "10.0.0.1[icmp/8]", "10.0.0.1", 1, PORT(0x0800), true },
	{ "10.0.0.1[icmp/8]", "10.0.0.1", 1, PORT(0x08ff), true },
	{ "10.0.0.1[icmp/8]", "10.0.0.1", 1, PORT(0x0000), false },
	{ "10.0.0.1[icmp/8]", "10.0.0.1", 1, PORT(0x0900), false },
	{ "::/0[icmpv6/128]", "2001:db8::1", 58, PORT(0x8000), true },
	{ "::/0[icmpv6/128]", "2001:db8::1", 58, PORT(0x80ff), true },
	{ "::/0[icmpv6/128]", "2001:db8::1", 58, PORT(0x8100), false },
	{ "::/0[icmpv6/128]", "2001:db8::1", 58, PORT(0x7fff), false },
	{ "::/0[icmpv6/128]", "2001:db8::1", 1, PORT(0x8000), false },
	{ "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 6, PORT(1), true },
	{ "2001:db8::/32", "2001:db8::", 6, PORT(1), true },
	{ "2001:db8::/32", "2001:db9::", 6, PORT(1), false },
	{ "2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", 6, PORT(1), false },
	{ "2001:db8::/32", "32.1.13.184", 6, PORT(1), false },
	{ "2001:db8::1/128", "2001:db8::1", 6, OPAQUE, true },
	{ "2001:db8::1/128", "2001:db8::2", 6, OPAQUE, false },
	{ "::/0", "::", 0, OPAQUE, true },
	{ "10.0.0.5-10.0.0.9", "10.0.0.4", 6, PORT(1), false },
	{ "10.0.0.5-10.0.0.9", "10.0.0.5", 6, PORT(1), true },
	{ "10.0.0.5-10.0.0.9", "10.0.0.9", 6, PORT(1), true },
	{ "10.0.0.5-10.0.0.9", "10.0.0.10", 6, PORT(1), false },
};

static void test_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		struct kt_ts ts;
		assert_int_equal(kt_ts_parse(&ts, c->ts), 0);
		struct kt_addr a = A(c->addr);
		struct kt_ts_point pt = { .addr = &a, .proto = c->proto, .has_port = c->has_port,
					  .port = c->port };
		if (kt_ts_match(&ts, &pt) != c->match)
			fail_msg("case %zu: %s vs %s proto %u port %s%u: want %s", i, c->ts, c->addr,
				 c->proto, c->has_port ? "" : "opaque ", c->port,
				 c->match ? "match" : "no match");
	}
}

static struct kt_ip_info ip4(const char *src, const char *dst, uint8_t proto)
{
	struct kt_ip_info ip;
	memset(&ip, 0, sizeof(ip));
	ip.version = 4;
	ip.proto = proto;
	ip.src = A(src);
	ip.dst = A(dst);
	ip.first_fragment_or_whole = true;
	return ip;
}

static void test_points(void **state)
{
	(void)state;
	struct kt_ts_point l, r;
	struct kt_ip_info ip = ip4("10.0.0.1", "10.0.0.2", 6);
	ip.has_ports = true;
	ip.sport = 1234;
	ip.dport = 80;

	kt_ts_points(&ip, true, &l, &r);
	assert_ptr_equal(l.addr, &ip.src);
	assert_ptr_equal(r.addr, &ip.dst);
	assert_true(l.has_port && r.has_port);
	assert_int_equal(l.port, 1234);
	assert_int_equal(r.port, 80);
	assert_int_equal(l.proto, 6);
	assert_int_equal(r.proto, 6);

	kt_ts_points(&ip, false, &l, &r);
	assert_ptr_equal(l.addr, &ip.dst);
	assert_ptr_equal(r.addr, &ip.src);
	assert_int_equal(l.port, 80);
	assert_int_equal(r.port, 1234);

	/* ICMP: type<<8|code on both ends, whatever the direction. */
	ip = ip4("10.0.0.1", "10.0.0.2", 1);
	ip.has_icmp = true;
	ip.icmp_type = 3;
	ip.icmp_code = 4;
	for (int out = 0; out < 2; out++) {
		kt_ts_points(&ip, out, &l, &r);
		assert_true(l.has_port && r.has_port);
		assert_int_equal(l.port, 0x0304);
		assert_int_equal(r.port, 0x0304);
	}

	/* Non-initial fragment: no ports known. */
	ip = ip4("10.0.0.1", "10.0.0.2", 17);
	ip.fragment = true;
	ip.first_fragment_or_whole = false;
	kt_ts_points(&ip, true, &l, &r);
	assert_false(l.has_port);
	assert_false(r.has_port);
	assert_int_equal(l.proto, 17);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_too_long),
		cmocka_unit_test(test_from_prefix),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_points),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
