/* IP parsing, building and checksum tests. The packets in the parse table
 * were written by scapy (an encoder no one here wrote); the expectations
 * were worked out by hand from RFC 791 and RFC 8200. */
#include "tests/unit/testutil.h"

#include "core/err.h"
#include "core/ip.h"

#define A4 "c0000201c6336402"                                   /* 192.0.2.1 > 198.51.100.2 */
#define A6 "20010db8000000000000000000000001" "20010db8000100000000000000000002"
#define BUF_MAX 2048

struct pcase {
	const char *name, *hex;
	size_t cut;  /* nonzero: only the first `cut` bytes are given */
	size_t pad;  /* zero bytes of link padding after the packet */
	int rc;
	uint8_t version, proto;
	uint16_t hdr_len, proto_off;
	uint32_t tot_len;
	bool frag, first, ports;
	uint16_t sport, dport;
	bool icmp;
	uint8_t type, code;
};

#define OK4(tot) .version = 4, .hdr_len = 20, .proto_off = 9, .tot_len = tot
#define OK6(tot) .version = 6, .hdr_len = 40, .proto_off = 6, .tot_len = tot
#define V6(tot, hl, poff) .version = 6, .hdr_len = hl, .proto_off = poff, .tot_len = tot
#define WHOLE .first = true
#define PORTS(s, d) .ports = true, .sport = s, .dport = d
#define BAD .rc = KT_ERR_MALFORMED

static const struct pcase cases[] = {
	/* IPv4 */
	{"v4 tcp", "450000280001000040068e98" A4 "303901bb00000000000000005002200071b70000",
	 OK4(40), .proto = 6, WHOLE, PORTS(12345, 443)},
	{"v4 udp", "450000210002000040118e93" A4 "11941194000daca268656c6c6f",
	 OK4(33), .proto = 17, WHOLE, PORTS(4500, 4500)},
	{"v4 udp + link padding", "450000210002000040118e93" A4 "11941194000daca268656c6c6f",
	 .pad = 13, OK4(33), .proto = 17, WHOLE, PORTS(4500, 4500)},
	{"v4 icmp echo", "4500001c0003000040018ea7" A4 "0800f7f700070001",
	 OK4(28), .proto = 1, WHOLE, .icmp = true, .type = 8, .code = 0},
	{"v4 sctp", "450000200004000040848e1f" A4 "1388960c00000000d80b830b",
	 OK4(32), .proto = 132, WHOLE, PORTS(5000, 38412)},
	{"v4 options (IHL 6)", "460000200005000040118b90" A4 "010101000035041d00080f55",
	 .version = 4, .hdr_len = 24, .proto_off = 9, .tot_len = 32, .proto = 17, WHOLE, PORTS(53, 1053)},
	{"v4 first fragment", "4500002c0006200040116e84" A4 "045708ae001842be7878787878787878"
	 "7878787878787878", OK4(44), .proto = 17, .frag = true, WHOLE, PORTS(1111, 2222)},
	{"v4 middle fragment", "450000240006200340116e89" A4 "79797979797979797979797979797979",
	 OK4(36), .proto = 17, .frag = true},
	{"v4 last fragment", "4500001c0006000540118e8f" A4 "7a7a7a7a7a7a7a7a",
	 OK4(28), .proto = 17, .frag = true},
	{"v4 esp", "4500002c0007000040328e62" A4 "000010010000000165656565656565656565656565656565",
	 OK4(44), .proto = 50, WHOLE},
	{"v4 ipip", "450000300008000040048e8b" A4 "4500001c00010000401166ce0a0000010a000002000100020008ebd8",
	 OK4(48), .proto = 4, WHOLE},
	{"v4 udp, 3 bytes of header", "450000170002000040118e93" A4 "119411",
	 OK4(23), .proto = 17, WHOLE},
	{"v4 udp, ports beyond tot_len", "450000170002000040118e93" A4 "11941194000d",
	 OK4(23), .proto = 17, WHOLE},
	{"v4 icmp, 1 byte", "450000150003000040018ea7" A4 "08", OK4(21), .proto = 1, WHOLE},
	{"v4 header only", "450000140003000040068ea7" A4, OK4(20), .proto = 6, WHOLE},
	{"v4 empty", "", BAD},
	{"v4 truncated header", "450000280001000040068e98" A4 "303901bb", .cut = 19, BAD},
	{"v4 tot_len > len", "450000280001000040068e98" A4 "303901bb00000000000000005002200071b70000",
	 .cut = 39, BAD},
	{"v4 IHL 4", "440000280001000040068e98" A4 "303901bb00000000000000005002200071b70000", BAD},
	{"v4 IHL 0", "400000280001000040068e98" A4 "303901bb00000000000000005002200071b70000", BAD},
	{"v4 IHL*4 > len", "4f0000280001000040068e98" A4 "303901bb00000000000000005002200071b70000", BAD},
	{"v4 tot_len < 20", "450000130001000040068e98" A4 "303901bb00000000000000005002200071b70000", BAD},
	{"v4 tot_len < IHL*4", "460000160005000040118b90" A4 "010101000035041d00080f55", BAD},
	{"version 5", "550000280001000040068e98" A4 "303901bb00000000000000005002200071b70000", BAD},
	{"version 0", "00", BAD},
	/* IPv6 */
	{"v6 tcp", "6000000000140640" A6 "9c40001600000000000000005002200098160000",
	 OK6(60), .proto = 6, WHOLE, PORTS(40000, 22)},
	{"v6 udp + link padding", "6b800000000d1140" A6 "01f401f4000d5ca468656c6c6f",
	 .pad = 7, OK6(53), .proto = 17, WHOLE, PORTS(500, 500)},
	{"v6 icmpv6 echo", "6000000000083a40" A6 "8000244400010002",
	 OK6(48), .proto = 58, WHOLE, .icmp = true, .type = 128, .code = 0},
	{"v6 hop-by-hop", "6000000000100040" A6 "1100010400000000000700090008a458",
	 V6(56, 48, 40), .proto = 17, WHOLE, PORTS(7, 9)},
	{"v6 hbh, dst, routing, dst, tcp", "60000000004c0040" A6 "3c000104000000002b000104000000003c02"
	 "0001000000002001" "0db80000000000000000000000090601010600000000000001040000000000501f90"
	 "000000000000000050022000" "14870000",
	 V6(116, 96, 80), .proto = 6, WHOLE, PORTS(80, 8080)},
	{"v6 first fragment", "6000000000202c40" A6 "11000001000000090d05115c001852b4"
	 "66666666666666666666666666666666",
	 V6(72, 48, 40), .proto = 17, .frag = true, WHOLE, PORTS(3333, 4444)},
	{"v6 middle fragment", "6000000000182c40" A6 "110000190000000967676767676767676767676767676767",
	 V6(64, 48, 40), .proto = 17, .frag = true},
	{"v6 last fragment, dstopts inside", "6000000000182c40" A6
	 "3c0000280000000968686868686868686868686868686868",
	 V6(64, 48, 40), .proto = 60, .frag = true},
	{"v6 atomic fragment", "6000000000102c40" A6 "1100000000000009000500060008a45d",
	 V6(56, 48, 40), .proto = 17, WHOLE, PORTS(5, 6)},
	{"v6 dstopts, stop at AH", "6000000000343c40" A6 "33000104000000000600000000001234"
	 "000000010000000000000000000000000001000200000000000000005002200000000000",
	 V6(92, 48, 40), .proto = 51, WHOLE},
	{"v6 esp", "6000000000183240" A6 "000020020000000165656565656565656565656565656565",
	 OK6(64), .proto = 50, WHOLE},
	{"v6 no next header", "6000000000083b40" A6 "0000000000000000", OK6(48), .proto = 59, WHOLE},
	{"v6 8 dstopts (the limit)", "6000000000483c40" A6 "3c000104000000003c000104000000003c00010400000000"
	 "3c000104000000003c000104000000003c000104000000003c00010400000000"
	 "1100010400000000000b000c0008a451",
	 V6(112, 104, 96), .proto = 17, WHOLE, PORTS(11, 12)},
	{"v6 9 dstopts", "6000000000503c40" A6 "3c000104000000003c000104000000003c00010400000000"
	 "3c000104000000003c000104000000003c000104000000003c000104000000003c00010400000000"
	 "1100010400000000000b000c0008a451", BAD},
	{"v6 hop-by-hop not first", "6000000000183c40" A6 "00000104000000001100010400000000000700090008a458",
	 BAD},
	{"v6 ext header beyond payload", "6000000000083c40" A6 "3b010104000000000000000000000000", BAD},
	{"v6 ext header length byte missing", "6000000000013c40" A6 "3b", BAD},
	{"v6 fragment header truncated", "6000000000042c40" A6 "11000001", BAD},
	{"v6 routing header truncated", "6000000000102b40" A6 "3c02000100000000" "2001",
	 .pad = 6, BAD},
	{"v6 tcp, 3 bytes", "6000000000030640" A6 "9c4000", OK6(43), .proto = 6, WHOLE},
	{"v6 truncated header", "6000000000140640" A6, .cut = 39, BAD},
	{"v6 payload > len", "6000000000140640" A6 "9c40001600000000000000005002200098160000",
	 .cut = 59, BAD},
	{"v6 payload length 0, tcp", "6000000000000640" A6 "9c40001600000000000000005002200098160000", BAD},
	{"v6 payload length 0 (jumbogram)", "6000000000000040" A6 "3a00c2040001ffff", BAD},
};

#define EXPECT(got, want)                                                           \
	do {                                                                        \
		if ((long long)(got) != (long long)(want))                          \
			fail_msg("case %zu (%s): %s = %lld, want %lld", i + 1, c->name, \
				 #got, (long long)(got), (long long)(want));        \
	} while (0)

static void check_case(size_t i, const struct pcase *c)
{
	uint8_t buf[BUF_MAX] = {0};
	size_t len = unhex(buf, sizeof(buf), c->hex) + c->pad;
	struct kt_ip_info info;
	int rc;

	if (c->cut)
		len = c->cut;
	rc = kt_ip_parse(buf, len, &info);
	if (rc != c->rc)
		fail_msg("case %zu (%s): rc %d, want %d", i + 1, c->name, rc, c->rc);
	if (rc != 0)
		return;
	EXPECT(info.version, c->version);
	EXPECT(info.proto, c->proto);
	EXPECT(info.hdr_len, c->hdr_len);
	EXPECT(info.proto_off, c->proto_off);
	EXPECT(buf[info.proto_off], c->proto);
	EXPECT(info.tot_len, c->tot_len);
	EXPECT(info.fragment, c->frag);
	EXPECT(info.first_fragment_or_whole, c->first);
	EXPECT(info.has_ports, c->ports);
	EXPECT(info.sport, c->sport);
	EXPECT(info.dport, c->dport);
	EXPECT(info.has_icmp, c->icmp);
	EXPECT(info.icmp_type, c->type);
	EXPECT(info.icmp_code, c->code);
}

static void test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_case(i, &cases[i]);
	}
}

static void test_parse_addresses(void **state)
{
	uint8_t buf[BUF_MAX];
	struct kt_ip_info info;
	struct kt_addr s4, d4, s6, d6;
	size_t n;
	(void)state;

	assert_int_equal(kt_addr_parse(&s4, "192.0.2.1"), 0);
	assert_int_equal(kt_addr_parse(&d4, "198.51.100.2"), 0);
	assert_int_equal(kt_addr_parse(&s6, "2001:db8::1"), 0);
	assert_int_equal(kt_addr_parse(&d6, "2001:db8:1::2"), 0);
	n = unhex(buf, sizeof(buf), cases[0].hex);
	assert_int_equal(kt_ip_parse(buf, n, &info), 0);
	assert_true(kt_addr_equal(&info.src, &s4));
	assert_true(kt_addr_equal(&info.dst, &d4));
	n = unhex(buf, sizeof(buf), "6000000000140640" A6 "9c40001600000000000000005002200098160000");
	assert_int_equal(kt_ip_parse(buf, n, &info), 0);
	assert_true(kt_addr_equal(&info.src, &s6));
	assert_true(kt_addr_equal(&info.dst, &d6));
}

/* Bytes past tot_len must never be read: the parser sees a buffer whose
 * padding is poisoned and must give the same answer as without it. */
static void test_padding_ignored(void **state)
{
	uint8_t buf[BUF_MAX];
	struct kt_ip_info a, b;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = unhex(buf, sizeof(buf), cases[i].hex);
		if (cases[i].cut || cases[i].rc)
			continue;
		memset(buf + n, 0xa5, 64);
		assert_int_equal(kt_ip_parse(buf, n, &a), 0);
		assert_int_equal(kt_ip_parse(buf, n + 64, &b), 0);
		assert_memory_equal(&a, &b, sizeof(a));
	}
}

/* RFC 1071 §3 example and a captured-style IPv4 header whose checksum
 * (0xb861) is the widely published one. */
static void test_csum_known(void **state)
{
	uint8_t buf[65536];
	uint8_t hdr[20];
	(void)state;

	size_t n = unhex(buf, sizeof(buf), "0001f203f4f5f6f7");
	assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(0, buf, n)), (uint16_t)~0xddf2);
	/* in pieces of even length */
	assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(kt_ip_csum_add(0, buf, 2), buf + 2, 6)),
			 (uint16_t)~0xddf2);
	/* odd length: the last byte is padded with zero */
	assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(0, buf, 3)), (uint16_t)~(0x0001 + 0xf200));

	unhex(hdr, sizeof(hdr), "450000730000400040110000c0a80001c0a800c7");
	kt_ip4_set_csum(hdr);
	assert_int_equal(hdr[10], 0xb8);
	assert_int_equal(hdr[11], 0x61);
	assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(0, hdr, 20)), 0);
	hdr[8] = 0x3f; /* a changed TTL no longer verifies */
	assert_int_not_equal(kt_ip_csum_fold(kt_ip_csum_add(0, hdr, 20)), 0);

	/* 32768 words of 0xffff: no carry may be lost in a long sum */
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(0, buf, sizeof(buf))), 0);
	buf[0] = 0xfe; /* one word 0xfeff: the sum drops by 0x100 */
	assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(0, buf, sizeof(buf))), 0x0100);
	/* a running sum carried across calls keeps its carries */
	uint32_t sum = 0;
	for (int i = 0; i < 8; i++)
		sum = kt_ip_csum_add(sum, buf, sizeof(buf));
	assert_int_equal(kt_ip_csum_fold(sum), 0x0800);
	assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(0xffffffff, buf + 2, 2)), 0);
}

static void test_set_csum_options(void **state)
{
	uint8_t buf[64];
	size_t n = unhex(buf, sizeof(buf), "460000200005000040118b90" A4 "010101000035041d00080f55");
	(void)state;

	assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(0, buf, 24)), 0);
	buf[10] = buf[11] = 0x55;
	kt_ip4_set_csum(buf);
	assert_int_equal(buf[10] << 8 | buf[11], 0x8b90);
	assert_true(n == 32);
}

struct bcase {
	const char *src, *dst;
	uint8_t proto, tos, ttl;
	uint16_t id;
	size_t payload;
};

static void test_build_roundtrip(void **state)
{
	static const struct bcase bc[] = {
		{"192.0.2.1", "192.0.2.2", KT_IPPROTO_ESP, 0, 64, 1, 100},
		{"10.0.0.1", "10.255.255.254", KT_IPPROTO_UDP, 0xb8, 255, 0xffff, 8},
		{"0.0.0.0", "255.255.255.255", KT_IPPROTO_IPV6, 0x03, 1, 0x1234, 1480},
		{"2001:db8::1", "2001:db8::2", KT_IPPROTO_ESP, 0, 64, 0, 100},
		{"fe80::1", "ff02::1:ff00:1", KT_IPPROTO_UDP, 0xb8, 255, 7, 8},
		{"::1", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", KT_IPPROTO_IPIP, 0xff, 1, 0, 1460},
	};
	static uint8_t buf[BUF_MAX];
	(void)state;

	for (size_t i = 0; i < sizeof(bc) / sizeof(bc[0]); i++) {
		const struct bcase *c = &bc[i];
		struct kt_addr s, d;
		struct kt_ip_info info;
		int hl;

		assert_int_equal(kt_addr_parse(&s, c->src), 0);
		assert_int_equal(kt_addr_parse(&d, c->dst), 0);
		memset(buf, 0xee, sizeof(buf));
		hl = kt_ip_build(buf, &s, &d, c->proto, c->payload, c->tos, c->ttl, c->id);
		assert_int_equal(hl, kt_ip_hdr_len(s.version));
		assert_int_equal(kt_ip_parse(buf, (size_t)hl + c->payload, &info), 0);
		assert_int_equal(info.version, s.version);
		assert_int_equal(info.proto, c->proto);
		assert_int_equal(info.hdr_len, hl);
		assert_int_equal(info.tot_len, (size_t)hl + c->payload);
		assert_false(info.fragment);
		assert_true(kt_addr_equal(&info.src, &s));
		assert_true(kt_addr_equal(&info.dst, &d));
		assert_int_equal(kt_ip_tos(buf), c->tos);
		if (s.version == 4) {
			assert_int_equal(buf[8], c->ttl);
			assert_int_equal(buf[4] << 8 | buf[5], c->id);
			assert_int_equal(buf[6] & 0x40, 0); /* DF clear */
			assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(0, buf, 20)), 0);
		} else {
			assert_int_equal(buf[7], c->ttl);
			assert_int_equal(buf[1] & 0x0f, 0); /* flow label 0 */
			assert_int_equal(buf[2] | buf[3], 0);
		}
	}
}

static void test_build_invalid(void **state)
{
	uint8_t buf[64];
	struct kt_addr s4, s6, none = {0};
	(void)state;

	assert_int_equal(kt_addr_parse(&s4, "192.0.2.1"), 0);
	assert_int_equal(kt_addr_parse(&s6, "2001:db8::1"), 0);
	assert_int_equal(kt_ip_build(buf, &s4, &s6, 17, 8, 0, 64, 0), KT_ERR_INVAL);
	assert_int_equal(kt_ip_build(buf, &s6, &s4, 17, 8, 0, 64, 0), KT_ERR_INVAL);
	assert_int_equal(kt_ip_build(buf, &none, &none, 17, 8, 0, 64, 0), KT_ERR_INVAL);
	assert_int_equal(kt_ip_build(buf, &s4, &s4, 17, 65515, 0, 64, 0), 20);
	assert_int_equal(kt_ip_build(buf, &s4, &s4, 17, 65516, 0, 64, 0), KT_ERR_INVAL);
	assert_int_equal(kt_ip_build(buf, &s6, &s6, 17, 65535, 0, 64, 0), 40);
	assert_int_equal(kt_ip_build(buf, &s6, &s6, 17, 65536, 0, 64, 0), KT_ERR_INVAL);
}

static void test_set_len(void **state)
{
	static uint8_t buf[BUF_MAX];
	struct kt_addr s, d;
	struct kt_ip_info info;
	(void)state;

	assert_int_equal(kt_addr_parse(&s, "192.0.2.1"), 0);
	assert_int_equal(kt_addr_parse(&d, "192.0.2.9"), 0);
	assert_int_equal(kt_ip_build(buf, &s, &d, KT_IPPROTO_ESP, 500, 0, 64, 9), 20);
	kt_ip_set_len(buf, 60);
	assert_int_equal(buf[2] << 8 | buf[3], 60);
	assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(0, buf, 20)), 0);
	assert_int_equal(kt_ip_parse(buf, 60, &info), 0);
	assert_int_equal(info.tot_len, 60);

	assert_int_equal(kt_addr_parse(&s, "2001:db8::1"), 0);
	assert_int_equal(kt_addr_parse(&d, "2001:db8::9"), 0);
	assert_int_equal(kt_ip_build(buf, &s, &d, KT_IPPROTO_ESP, 500, 0, 64, 0), 40);
	kt_ip_set_len(buf, 1280);
	assert_int_equal(buf[4] << 8 | buf[5], 1240);
	assert_int_equal(kt_ip_parse(buf, 1280, &info), 0);
	assert_int_equal(info.tot_len, 1280);
}

static void test_tos(void **state)
{
	uint8_t buf[128];
	(void)state;

	unhex(buf, sizeof(buf), "6b800000000d1140" A6 "01f401f4000d5ca468656c6c6f");
	assert_int_equal(kt_ip_tos(buf), 0xb8);
	unhex(buf, sizeof(buf), "452e0028");
	assert_int_equal(kt_ip_tos(buf), 0x2e);
}

/* Naive UDP checksum: lay the pseudo-header out in memory, then sum. */
static uint16_t naive_udp_csum(const struct kt_addr *s, const struct kt_addr *d,
			       const uint8_t *udp, size_t len)
{
	static uint8_t tmp[40 + BUF_MAX + 1];
	size_t al = s->version == 6 ? 16 : 4, n = 0;
	uint64_t sum = 0;

	memcpy(tmp, s->bytes, al);
	memcpy(tmp + al, d->bytes, al);
	n = 2 * al;
	if (s->version == 6) {
		const uint8_t t[8] = {0, 0, (uint8_t)(len >> 8), (uint8_t)len, 0, 0, 0, 17};
		memcpy(tmp + n, t, 8);
		n += 8;
	} else {
		const uint8_t t[4] = {0, 17, (uint8_t)(len >> 8), (uint8_t)len};
		memcpy(tmp + n, t, 4);
		n += 4;
	}
	memcpy(tmp + n, udp, len);
	n += len;
	tmp[n] = 0;
	for (size_t i = 0; i < n; i += 2)
		sum += (uint64_t)tmp[i] << 8 | tmp[i + 1];
	while (sum > 0xffff)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	return sum ? (uint16_t)sum : 0xffff;
}

static void test_udp_csum_known(void **state)
{
	uint8_t buf[128];
	struct kt_addr s, d;
	(void)state;

	/* scapy's UDP checksums: 0xaca2 (IPv4), 0x5ca4 (IPv6) */
	assert_int_equal(kt_addr_parse(&s, "192.0.2.1"), 0);
	assert_int_equal(kt_addr_parse(&d, "198.51.100.2"), 0);
	unhex(buf, sizeof(buf), "11941194000daca268656c6c6f");
	assert_int_equal(kt_udp_csum(&s, &d, buf, 13), 0xffff); /* verifies */
	buf[6] = buf[7] = 0;
	assert_int_equal(kt_udp_csum(&s, &d, buf, 13), 0xaca2);

	assert_int_equal(kt_addr_parse(&s, "2001:db8::1"), 0);
	assert_int_equal(kt_addr_parse(&d, "2001:db8:1::2"), 0);
	unhex(buf, sizeof(buf), "01f401f4000d5ca468656c6c6f");
	assert_int_equal(kt_udp_csum(&s, &d, buf, 13), 0xffff);
	buf[6] = buf[7] = 0;
	assert_int_equal(kt_udp_csum(&s, &d, buf, 13), 0x5ca4);
}

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint8_t rnd8(void)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (uint8_t)(rng >> 56);
}

static void test_udp_csum_reference(void **state)
{
	static uint8_t udp[BUF_MAX];
	(void)state;

	for (int i = 0; i < 2000; i++) {
		struct kt_addr s = {.version = i % 2 ? 6 : 4}, d = s;
		size_t len = KT_UDP_HDR_LEN + (size_t)(rnd8() * 7 % 1500);

		for (size_t k = 0; k < (s.version == 6 ? 16u : 4u); k++) {
			s.bytes[k] = rnd8();
			d.bytes[k] = rnd8();
		}
		for (size_t k = 0; k < len; k++)
			udp[k] = rnd8();
		udp[4] = (uint8_t)(len >> 8);
		udp[5] = (uint8_t)len;
		udp[6] = udp[7] = 0;
		uint16_t c = kt_udp_csum(&s, &d, udp, len);
		assert_int_equal(c, naive_udp_csum(&s, &d, udp, len));
		udp[6] = (uint8_t)(c >> 8);
		udp[7] = (uint8_t)c;
		assert_int_equal(kt_udp_csum(&s, &d, udp, len), 0xffff);
	}
}

/* A datagram whose checksum computes to 0 is sent with 0xffff (RFC 768). */
static void test_udp_csum_zero(void **state)
{
	uint8_t udp[12] = {0x12, 0x34, 0x11, 0x94, 0, 12, 0, 0, 0xab, 0xcd, 0, 0};
	struct kt_addr s, d;
	uint16_t c;
	(void)state;

	assert_int_equal(kt_addr_parse(&s, "203.0.113.7"), 0);
	assert_int_equal(kt_addr_parse(&d, "198.51.100.99"), 0);
	c = kt_udp_csum(&s, &d, udp, sizeof(udp));
	/* putting the checksum into the last data word makes the sum all ones */
	udp[10] = (uint8_t)(c >> 8);
	udp[11] = (uint8_t)c;
	assert_int_equal(naive_udp_csum(&s, &d, udp, sizeof(udp)), 0xffff);
	assert_int_equal(kt_udp_csum(&s, &d, udp, sizeof(udp)), 0xffff);
}

/* ---- kt_ip_fix_l4_csum ---- */

/* Independent check: lay the pseudo-header out in memory beside the
 * segment and add it all up; a correct checksum makes the sum all ones. */
static bool naive_l4_ok(const struct kt_addr *s, const struct kt_addr *d, uint8_t proto,
			const uint8_t *seg, size_t len)
{
	static uint8_t tmp[40 + BUF_MAX + 1];
	size_t al = s->version == 6 ? 16 : 4, n;
	uint64_t sum = 0;

	memcpy(tmp, s->bytes, al);
	memcpy(tmp + al, d->bytes, al);
	n = 2 * al;
	if (s->version == 6) {
		const uint8_t t[8] = {0, 0, (uint8_t)(len >> 8), (uint8_t)len, 0, 0, 0, proto};
		memcpy(tmp + n, t, 8);
		n += 8;
	} else {
		const uint8_t t[4] = {0, proto, (uint8_t)(len >> 8), (uint8_t)len};
		memcpy(tmp + n, t, 4);
		n += 4;
	}
	memcpy(tmp + n, seg, len);
	n += len;
	tmp[n] = 0;
	for (size_t i = 0; i < n; i += 2)
		sum += (uint64_t)tmp[i] << 8 | tmp[i + 1];
	while (sum > 0xffff)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

struct fcase {
	const char *name, *hex;
	size_t pad;       /* zero bytes of link padding: never touched */
	int rc;
	size_t csum_at;   /* rc 1: offset of the checksum field */
	uint16_t csum;    /* rc 1: scapy's checksum */
};

/* The scapy packets of the parse table: their checksums are right; the
 * field is spoilt first, and the function must bring scapy's value back. */
static const struct fcase fcases[] = {
	{"v4 tcp", "450000280001000040068e98" A4 "303901bb00000000000000005002200071b70000",
	 0, 1, 20 + 16, 0x71b7},
	{"v4 udp", "450000210002000040118e93" A4 "11941194000daca268656c6c6f", 5, 1, 26, 0xaca2},
	{"v4 options (IHL 6), udp", "460000200005000040118b90" A4 "010101000035041d00080f55",
	 0, 1, 24 + 6, 0x0f55},
	{"v6 tcp", "6000000000140640" A6 "9c40001600000000000000005002200098160000",
	 0, 1, 40 + 16, 0x9816},
	{"v6 udp + link padding", "6b800000000d1140" A6 "01f401f4000d5ca468656c6c6f",
	 7, 1, 46, 0x5ca4},
	{"v6 icmpv6 echo", "6000000000083a40" A6 "8000244400010002", 0, 1, 42, 0x2444},
	{"v6 hop-by-hop, udp", "6000000000100040" A6 "1100010400000000000700090008a458",
	 0, 1, 48 + 6, 0xa458},
	{"v6 atomic fragment, udp", "6000000000102c40" A6 "1100000000000009000500060008a45d",
	 0, 1, 48 + 6, 0xa45d},
	/* Nothing to fix: left alone. */
	{"v4 icmp echo", "4500001c0003000040018ea7" A4 "0800f7f700070001", 0, 0, 0, 0},
	{"v4 sctp", "450000200004000040848e1f" A4 "1388960c00000000d80b830b", 0, 0, 0, 0},
	{"v4 esp", "4500002c0007000040328e62" A4 "000010010000000165656565656565656565656565656565",
	 0, 0, 0, 0},
	{"v4 udp, checksum 0 (none)", "450000210002000040118e93" A4 "11941194000d000068656c6c6f",
	 0, 0, 0, 0},
	{"v4 first fragment", "4500002c0006200040116e84" A4 "045708ae001842be7878787878787878"
	 "7878787878787878", 0, 0, 0, 0},
	{"v4 middle fragment", "450000240006200340116e89" A4 "79797979797979797979797979797979",
	 0, 0, 0, 0},
	{"v6 first fragment", "6000000000202c40" A6 "11000001000000090d05115c001852b4"
	 "66666666666666666666666666666666", 0, 0, 0, 0},
	{"v6 middle fragment", "6000000000182c40" A6 "110000190000000967676767676767676767676767676767",
	 0, 0, 0, 0},
	{"v6 no next header", "6000000000083b40" A6 "0000000000000000", 0, 0, 0, 0},
	/* Headers too short for their checksum, or lengths that lie. */
	{"v4 header only, tcp", "450000140003000040068ea7" A4, 0, KT_ERR_MALFORMED, 0, 0},
	{"v4 tcp, 19 bytes", "450000270001000040068e98" A4 "303901bb00000000000000005002200071b700",
	 0, KT_ERR_MALFORMED, 0, 0},
	{"v4 udp, 3 bytes", "450000170002000040118e93" A4 "119411", 0, KT_ERR_MALFORMED, 0, 0},
	{"v4 udp, length beyond packet", "450000210002000040118e93" A4 "11941194000eaca268656c6c6f",
	 0, KT_ERR_MALFORMED, 0, 0},
	{"v4 udp, length 7", "450000210002000040118e93" A4 "119411940007aca268656c6c6f",
	 0, KT_ERR_MALFORMED, 0, 0},
	{"v6 tcp, 3 bytes", "6000000000030640" A6 "9c4000", 0, KT_ERR_MALFORMED, 0, 0},
	{"v6 icmpv6, 3 bytes", "6000000000033a40" A6 "800024", 0, KT_ERR_MALFORMED, 0, 0},
	{"v6 udp, length 0", "6000000000081140" A6 "01f401f400005ca4", 0, KT_ERR_MALFORMED, 0, 0},
	{"v6 payload > len", "6000000000140640" A6 "9c4000160000000000000000500220009816",
	 0, KT_ERR_MALFORMED, 0, 0},
	{"not IP", "55", 0, KT_ERR_MALFORMED, 0, 0},
};

static void test_fix_l4_csum_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(fcases) / sizeof(fcases[0]); i++) {
		const struct fcase *c = &fcases[i];
		uint8_t buf[BUF_MAX] = {0}, want[BUF_MAX];
		size_t len = unhex(buf, sizeof(buf), c->hex) + c->pad;
		int rc;

		if (c->rc == 1) {
			buf[c->csum_at] ^= 0x5a; /* as a NAT leaves it */
			buf[c->csum_at + 1] ^= 0xa5;
		}
		memcpy(want, buf, sizeof(buf));
		if (c->rc == 1) {
			want[c->csum_at] = (uint8_t)(c->csum >> 8);
			want[c->csum_at + 1] = (uint8_t)c->csum;
		}
		rc = kt_ip_fix_l4_csum(buf, len);
		if (rc != c->rc)
			fail_msg("case %zu (%s): rc %d, want %d", i + 1, c->name, rc, c->rc);
		if (memcmp(buf, want, sizeof(buf)) != 0)
			fail_msg("case %zu (%s): bytes differ", i + 1, c->name);
	}
}

static size_t put_random_packet(uint8_t *p, uint8_t v, uint8_t proto, size_t l4_len,
				struct kt_addr *s, struct kt_addr *d)
{
	int h;

	memset(s, 0, sizeof(*s));
	memset(d, 0, sizeof(*d));
	s->version = d->version = v;
	for (size_t k = 0; k < (v == 6 ? 16u : 4u); k++) {
		s->bytes[k] = rnd8();
		d->bytes[k] = rnd8();
	}
	h = kt_ip_build(p, s, d, proto, l4_len, 0, 64, 1);
	assert_true(h > 0);
	for (size_t k = 0; k < l4_len; k++)
		p[h + k] = rnd8();
	if (proto == KT_IPPROTO_UDP) {
		p[h + 4] = (uint8_t)(l4_len >> 8);
		p[h + 5] = (uint8_t)l4_len;
	}
	return (size_t)h + l4_len;
}

/* Random TCP, UDP and ICMPv6 packets with random checksums: afterwards the
 * checksum verifies by the independent sum, and no other byte changed. */
static void test_fix_l4_csum_reference(void **state)
{
	static const uint8_t protos[] = {KT_IPPROTO_TCP, KT_IPPROTO_UDP, KT_IPPROTO_ICMPV6};
	static uint8_t pkt[BUF_MAX], before[BUF_MAX];
	(void)state;

	for (int i = 0; i < 3000; i++) {
		uint8_t proto = protos[i % 3], v = proto == KT_IPPROTO_ICMPV6 || i % 2 ? 6 : 4;
		size_t min = proto == KT_IPPROTO_TCP ? 20 : proto == KT_IPPROTO_UDP ? 8 : 4;
		size_t l4 = min + (size_t)(rnd8() * 5 % 1400), h = kt_ip_hdr_len(v);
		size_t at = h + (proto == KT_IPPROTO_TCP ? 16 : proto == KT_IPPROTO_UDP ? 6 : 2);
		struct kt_addr s, d;
		size_t len = put_random_packet(pkt, v, proto, l4, &s, &d);

		if (v == 4 && proto == KT_IPPROTO_UDP && pkt[at] == 0 && pkt[at + 1] == 0)
			pkt[at + 1] = 1; /* a zero would mean "no checksum" */
		memcpy(before, pkt, len);
		assert_int_equal(kt_ip_fix_l4_csum(pkt, len), 1);
		assert_true(naive_l4_ok(&s, &d, proto, pkt + h, l4));
		assert_memory_equal(pkt, before, at);
		assert_memory_equal(pkt + at + 2, before + at + 2, len - at - 2);
		if (proto == KT_IPPROTO_UDP)
			assert_false(pkt[at] == 0 && pkt[at + 1] == 0);
	}
}

/* UDP: the checksum covers the UDP length, not bytes after it; a computed
 * 0 goes out as 0xffff; IPv6 never leaves 0 (RFC 8200 §8.1). */
static void test_fix_l4_csum_udp_rules(void **state)
{
	uint8_t p[128];
	struct kt_addr s, d;
	size_t len, h = KT_IPV4_HDR_MIN;
	(void)state;

	/* 12 bytes of datagram in a 16-byte IP payload. */
	len = put_random_packet(p, 4, KT_IPPROTO_UDP, 16, &s, &d);
	p[h + 5] = 12;
	p[h + 6] = 0x12;
	assert_int_equal(kt_ip_fix_l4_csum(p, len), 1);
	assert_true(naive_l4_ok(&s, &d, KT_IPPROTO_UDP, p + h, 12));
	/* The last data word set to the complement of the rest sums to all
	 * ones: the computed value is 0, which is sent as 0xffff. */
	p[h + 10] = p[h + 11] = 0;
	assert_int_equal(kt_ip_fix_l4_csum(p, len), 1);
	p[h + 10] = p[h + 6], p[h + 11] = p[h + 7];
	p[h + 6] = 0x77; /* anything but 0 */
	assert_int_equal(kt_ip_fix_l4_csum(p, len), 1);
	assert_int_equal(p[h + 6], 0xff);
	assert_int_equal(p[h + 7], 0xff);
	assert_true(naive_l4_ok(&s, &d, KT_IPPROTO_UDP, p + h, 12));
	/* IPv6 with a zero checksum gets a real one. */
	h = KT_IPV6_HDR_LEN;
	len = put_random_packet(p, 6, KT_IPPROTO_UDP, 20, &s, &d);
	p[h + 6] = p[h + 7] = 0;
	assert_int_equal(kt_ip_fix_l4_csum(p, len), 1);
	assert_false(p[h + 6] == 0 && p[h + 7] == 0);
	assert_true(naive_l4_ok(&s, &d, KT_IPPROTO_UDP, p + h, 20));
}

/* Every cut of a packet, in a buffer of exactly that size (so ASan sees
 * any read past it), with the IP length saying the cut or the original. */
static void test_fix_l4_csum_truncated(void **state)
{
	static const uint8_t protos[] = {KT_IPPROTO_TCP, KT_IPPROTO_UDP, KT_IPPROTO_ICMPV6};
	uint8_t pkt[128];
	(void)state;

	for (size_t i = 0; i < 6; i++) {
		uint8_t proto = protos[i % 3], v = i < 3 ? 6 : 4;
		struct kt_addr s, d;
		size_t len = put_random_packet(pkt, v, proto, 40, &s, &d);

		for (size_t cut = 0; cut <= len; cut++) {
			for (int say_cut = 0; say_cut < 2; say_cut++) {
				uint8_t *b = malloc(cut ? cut : 1), *keep = malloc(cut ? cut : 1);
				int rc;

				memcpy(b, pkt, cut);
				if (say_cut && cut >= kt_ip_hdr_len(v))
					kt_ip_set_len(b, cut);
				memcpy(keep, b, cut);
				rc = kt_ip_fix_l4_csum(b, cut);
				assert_true(rc == 1 || rc == 0 || rc == KT_ERR_MALFORMED);
				if (rc != 1)
					assert_memory_equal(b, keep, cut);
				free(b);
				free(keep);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_addresses),
		cmocka_unit_test(test_padding_ignored),
		cmocka_unit_test(test_csum_known),
		cmocka_unit_test(test_set_csum_options),
		cmocka_unit_test(test_build_roundtrip),
		cmocka_unit_test(test_build_invalid),
		cmocka_unit_test(test_set_len),
		cmocka_unit_test(test_tos),
		cmocka_unit_test(test_udp_csum_known),
		cmocka_unit_test(test_udp_csum_reference),
		cmocka_unit_test(test_udp_csum_zero),
		cmocka_unit_test(test_fix_l4_csum_table),
		cmocka_unit_test(test_fix_l4_csum_reference),
		cmocka_unit_test(test_fix_l4_csum_udp_rules),
		cmocka_unit_test(test_fix_l4_csum_truncated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
