/* TUN offload tests (core/gso.c): TCP and UDP super-packets split into
 * segments whose bytes, lengths, IDs, sequence numbers, flags and
 * checksums are checked against a naive reference written here (RFC 1071
 * word by word, pseudo-headers from RFC 9293 §3.1 and RFC 8200 §8.1);
 * checksum completion; and virtio headers that do not fit their packet,
 * each refused before a byte is read at the place it names (every packet
 * is a heap copy of its exact length, so the ASan build sees an over-read). */
#include "tests/unit/testutil.h"

#include "core/bytes.h"
#include "core/err.h"
#include "core/gso.h"
#include "core/ip.h"

#define BIG 70000
#define SEG_MAX 65535
#define FIN 0x01
#define PSH 0x08
#define ACK 0x10
#define CWR 0x80

/* ---- the reference ---- */

static uint32_t ref_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sum += i % 2 ? p[i] : (uint32_t)p[i] << 8;
	return sum;
}

static uint16_t ref_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The sum over pseudo-header and transport bytes: 0xffff when the
 * checksum in them is right. */
static uint16_t ref_l4_sum(const uint8_t *p, size_t len)
{
	struct kt_ip_info ip;
	assert_int_equal(kt_ip_parse(p, len, &ip), 0);
	size_t l4 = len - ip.hdr_len;
	uint32_t sum = ip.version == 4 ? ref_add(0, p + 12, 8) : ref_add(0, p + 8, 32);
	uint8_t tail[4] = { 0, ip.proto, (uint8_t)(l4 >> 8), (uint8_t)l4 };
	sum = ref_add(sum, tail, 4);
	return ref_fold(ref_add(sum, p + ip.hdr_len, l4));
}

/* ---- building super-packets ---- */

struct spec {
	uint8_t version, proto;
	size_t ext;          /* IPv6: bytes of hop-by-hop options header */
	size_t l4_hdr;       /* TCP header with options, or 8 */
	size_t payload;
	uint8_t flags;       /* TCP */
};

static uint8_t pay_byte(size_t i) { return (uint8_t)(i * 7 + 3); }

/* The packet into p; returns its length and fills h as the kernel would
 * (hdr_len left at a value we do not trust: 0). */
static size_t build(uint8_t *p, const struct spec *s, struct kt_vnet_hdr *h, uint16_t mss)
{
	size_t l3 = s->version == 4 ? 20 : 40 + s->ext, tot = l3 + s->l4_hdr + s->payload;
	memset(p, 0, l3 + s->l4_hdr);
	if (s->version == 4) {
		p[0] = 0x45;
		kt_put16(p + 2, tot);
		kt_put16(p + 4, 0xfffe); /* the ID wraps during the split */
		p[6] = 0x40;             /* DF */
		p[8] = 64;
		p[9] = s->proto;
		memcpy(p + 12, "\xc0\x00\x02\x01\xc6\x33\x64\x02", 8);
		kt_ip4_set_csum(p);
	} else {
		p[0] = 0x60;
		kt_put16(p + 4, tot - 40);
		p[6] = s->ext ? KT_IPPROTO_HOPOPTS : s->proto;
		p[7] = 64;
		for (int i = 0; i < 32; i++)
			p[8 + i] = (uint8_t)(0x20 + i);
		if (s->ext) {
			p[40] = s->proto;
			p[41] = (uint8_t)(s->ext / 8 - 1);
			p[42] = 1; /* PadN over the rest */
			p[43] = (uint8_t)(s->ext - 4);
		}
	}
	uint8_t *l4 = p + l3;
	kt_put16(l4, 40000);
	kt_put16(l4 + 2, 443);
	if (s->proto == KT_IPPROTO_TCP) {
		kt_put32(l4 + 4, 0xfffff000u); /* the sequence number wraps too */
		kt_put32(l4 + 8, 0x01020304);
		l4[12] = (uint8_t)(s->l4_hdr / 4 << 4);
		l4[13] = s->flags;
		kt_put16(l4 + 14, 512);
		for (size_t i = 20; i < s->l4_hdr; i++)
			l4[i] = 1; /* NOP options */
	} else {
		kt_put16(l4 + 4, s->l4_hdr + s->payload);
	}
	for (size_t i = 0; i < s->payload; i++)
		l4[s->l4_hdr + i] = pay_byte(i);
	/* What the kernel leaves in the field: garbage as far as we care. */
	kt_put16(l4 + (s->proto == KT_IPPROTO_TCP ? 16 : 6), 0x1234);
	*h = (struct kt_vnet_hdr){
		.flags = KT_VNET_F_NEEDS_CSUM, .gso_size = mss, .csum_start = (uint16_t)l3,
		.csum_offset = s->proto == KT_IPPROTO_TCP ? 16 : 6,
		.gso_type = s->proto == KT_IPPROTO_UDP ? KT_VNET_GSO_UDP_L4
			    : s->version == 4          ? KT_VNET_GSO_TCPV4
						       : KT_VNET_GSO_TCPV6 };
	return tot;
}

/* Split and check every segment against the super-packet. */
static void split_and_check(const struct spec *s, uint16_t mss)
{
	uint8_t *p = malloc(BIG), *out = malloc(SEG_MAX);
	struct kt_vnet_hdr h;
	size_t tot = build(p, s, &h, mss);
	size_t l3 = s->version == 4 ? 20 : 40 + s->ext, hl = l3 + s->l4_hdr;
	size_t want = (s->payload + mss - 1) / mss;
	struct kt_gso g;
	assert_int_equal(kt_gso_init(&g, &h, p, tot, SEG_MAX), (int)want);
	size_t pos = 0, k = 0;
	int n;
	while ((n = kt_gso_next(&g, out, SEG_MAX)) > 0) {
		size_t pay = s->payload - pos < mss ? s->payload - pos : mss;
		bool first = k == 0, last = pos + pay == s->payload;
		assert_int_equal(n, (int)(hl + pay));
		struct kt_ip_info ip;
		assert_int_equal(kt_ip_parse(out, (size_t)n, &ip), 0);
		assert_int_equal(ip.tot_len, n);
		if (s->version == 4) {
			assert_int_equal(ref_fold(ref_add(0, out, 20)), 0xffff);
			assert_int_equal(kt_get16(out + 4), (uint16_t)(0xfffe + k));
			assert_int_equal(out[6], 0x40);
		}
		/* The headers are the super-packet's but for the fields that change. */
		if (s->version == 4) {
			assert_memory_equal(out + 8, p + 8, 2); /* TTL, protocol */
			assert_memory_equal(out + 12, p + 12, 8);
		} else {
			assert_memory_equal(out + 6, p + 6, l3 - 6);
		}
		const uint8_t *l4 = out + l3;
		if (s->proto == KT_IPPROTO_TCP) {
			assert_int_equal(kt_get32(l4 + 4), (uint32_t)(0xfffff000u + pos));
			uint8_t f = s->flags;
			if (!last)
				f &= (uint8_t)~(FIN | PSH);
			if (!first)
				f &= (uint8_t)~CWR;
			assert_int_equal(l4[13], f);
			assert_memory_equal(l4 + 20, p + l3 + 20, s->l4_hdr - 20);
		} else {
			assert_int_equal(kt_get16(l4 + 4), s->l4_hdr + pay);
		}
		assert_int_equal(ref_l4_sum(out, (size_t)n), 0xffff);
		for (size_t i = 0; i < pay; i++)
			assert_int_equal(out[hl + i], pay_byte(pos + i));
		pos += pay;
		k++;
	}
	assert_int_equal(n, 0);
	assert_int_equal(k, want);
	assert_int_equal(pos, s->payload);
	assert_int_equal(kt_gso_next(&g, out, SEG_MAX), 0);
	free(p);
	free(out);
}

static void test_tcp4(void **state)
{
	(void)state;
	struct spec s = { 4, KT_IPPROTO_TCP, 0, 32, 5000, ACK | PSH | FIN | CWR };
	split_and_check(&s, 1448);
	s.payload = 3 * 1448; /* an exact multiple: the last segment is full */
	split_and_check(&s, 1448);
	s.payload = 100; /* less than one segment */
	split_and_check(&s, 1448);
	s.payload = 65535 - 20 - 32; /* the largest */
	split_and_check(&s, 1448);
	s.l4_hdr = 60;
	s.payload = 1001;
	split_and_check(&s, 1);
}

static void test_tcp6(void **state)
{
	(void)state;
	struct spec s = { 6, KT_IPPROTO_TCP, 0, 20, 10000, ACK | PSH | CWR };
	split_and_check(&s, 1428);
	s.ext = 8; /* a hop-by-hop header: the payload length covers it */
	s.l4_hdr = 32;
	split_and_check(&s, 1208);
	s.ext = 0;
	s.l4_hdr = 20;
	s.payload = 65535 - 20; /* the IPv6 packet one byte past 64 KiB */
	split_and_check(&s, 1440);
}

static void test_udp(void **state)
{
	(void)state;
	struct spec s4 = { 4, KT_IPPROTO_UDP, 0, 8, 4000, 0 };
	split_and_check(&s4, 1200);
	struct spec s6 = { 6, KT_IPPROTO_UDP, 0, 8, 2401, 0 };
	split_and_check(&s6, 1200);
}

/* ECN flows arrive with the ECN bit in gso_type: CWR on the first only. */
static void test_ecn(void **state)
{
	(void)state;
	uint8_t *p = malloc(BIG), out[2048];
	struct spec s = { 4, KT_IPPROTO_TCP, 0, 20, 3000, ACK | CWR };
	struct kt_vnet_hdr h;
	size_t tot = build(p, &s, &h, 1000);
	h.gso_type |= KT_VNET_GSO_ECN;
	struct kt_gso g;
	assert_int_equal(kt_gso_init(&g, &h, p, tot, SEG_MAX), 3);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(kt_gso_next(&g, out, sizeof(out)), 1040);
		assert_int_equal(out[20 + 13], k == 0 ? (ACK | CWR) : ACK);
	}
	free(p);
}

/* The kernel leaves the pseudo-header sum (not complemented) in the
 * field; completion makes the checksum right. Also through kt_gso_next. */
static void test_csum_complete(void **state)
{
	(void)state;
	uint8_t *p = malloc(BIG), out[2048];
	for (int proto = 0; proto < 2; proto++) {
		struct spec s = { 4, proto ? KT_IPPROTO_UDP : KT_IPPROTO_TCP, 0, proto ? 8 : 20, 999, ACK };
		struct kt_vnet_hdr h;
		size_t tot = build(p, &s, &h, 0), off = h.csum_start + h.csum_offset;
		h.gso_type = KT_VNET_GSO_NONE;
		kt_put16(p + off, 0);
		uint8_t tail[4] = { 0, s.proto, (uint8_t)((tot - 20) >> 8), (uint8_t)(tot - 20) };
		kt_put16(p + off, ref_fold(ref_add(ref_add(0, p + 12, 8), tail, 4)));
		struct kt_gso g;
		assert_int_equal(kt_gso_init(&g, &h, p, tot, SEG_MAX), 1);
		assert_int_equal(kt_gso_next(&g, out, sizeof(out)), (int)tot);
		assert_int_equal(kt_gso_next(&g, out, sizeof(out)), 0);
		assert_int_equal(ref_l4_sum(out, tot), 0xffff);
		assert_int_equal(kt_gso_csum(p, tot, &h), 0);
		assert_memory_equal(p, out, tot);
		/* Without NEEDS_CSUM: nothing to do, the bytes stay. */
		h.flags = 0;
		kt_put16(p + off, 0x4242);
		assert_int_equal(kt_gso_csum(p, tot, &h), 0);
		assert_int_equal(kt_get16(p + off), 0x4242);
	}
	free(p);
}

/* A computed 0 goes out as 0xffff (UDP: 0 would mean "no checksum"). */
static void test_csum_zero(void **state)
{
	(void)state;
	uint8_t p[16] = { 0 };
	struct kt_vnet_hdr h = { .flags = KT_VNET_F_NEEDS_CSUM, .csum_start = 4, .csum_offset = 2 };
	kt_put16(p + 4, 0xffff); /* the rest zero: the sum is 0xffff, its complement 0 */
	kt_put16(p + 6, 0);
	assert_int_equal(kt_gso_csum(p, sizeof(p), &h), 0);
	assert_int_equal(kt_get16(p + 6), 0xffff);
}

/* ---- what is refused ---- */

struct bad {
	const char *name;
	struct spec s;
	void (*spoil)(uint8_t *p, size_t *len, struct kt_vnet_hdr *h);
	int rc;
	size_t seg_max;
};

static void mss0(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)p, (void)len; h->gso_size = 0; }
static void start_in_ip(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)p, (void)len; h->csum_start = 12; }
static void start_far(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)p, (void)len; h->csum_start = 60000; }
static void off_wrong(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)p, (void)len; h->csum_offset = 6; }
static void doff_small(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)len, (void)h; p[20 + 12] = 4 << 4; }
static void doff_past(uint8_t *p, size_t *len, struct kt_vnet_hdr *h)
{
	(void)h;
	p[20 + 12] = 15 << 4;
	*len = 20 + 40;
	kt_put16(p + 2, *len);
	kt_ip4_set_csum(p);
}
static void no_payload(uint8_t *p, size_t *len, struct kt_vnet_hdr *h)
{
	(void)h;
	*len = 40;
	kt_put16(p + 2, *len);
	kt_ip4_set_csum(p);
}
static void tcp6_on_v4(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)p, (void)len; h->gso_type = KT_VNET_GSO_TCPV6; }
static void tcp4_on_v6(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)p, (void)len; h->gso_type = KT_VNET_GSO_TCPV4; }
static void tcp_on_udp(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)p, (void)len; h->gso_type = KT_VNET_GSO_TCPV4; h->csum_offset = 16; }
static void fragment(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)len, (void)h; p[6] = 0x20; kt_ip4_set_csum(p); }
static void ufo(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)p, (void)len; h->gso_type = KT_VNET_GSO_UDP; }
static void unknown(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)p, (void)len; h->gso_type = 2; }
static void truncated(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)p, (void)h; *len -= 1; }
static void not_ip(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)len, (void)h; p[0] = 0x55; }
static void tiny(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)p, (void)h; *len = 30; }
static void none_off_past(uint8_t *p, size_t *len, struct kt_vnet_hdr *h)
{
	(void)p;
	h->gso_type = KT_VNET_GSO_NONE;
	h->csum_start = (uint16_t)(*len - 1);
	h->csum_offset = 0;
}
static void none_empty(uint8_t *p, size_t *len, struct kt_vnet_hdr *h) { (void)p; h->gso_type = 0; *len = 0; }

#define T4 { 4, KT_IPPROTO_TCP, 0, 20, 3000, ACK }
#define T6 { 6, KT_IPPROTO_TCP, 0, 20, 3000, ACK }
#define U4 { 4, KT_IPPROTO_UDP, 0, 8, 3000, 0 }
#define MAL KT_ERR_MALFORMED
static const struct bad bads[] = {
	{ "gso_size 0", T4, mss0, MAL, SEG_MAX },
	{ "csum_start inside the IP header", T4, start_in_ip, MAL, SEG_MAX },
	{ "csum_start past the packet", T4, start_far, MAL, SEG_MAX },
	{ "csum_offset not TCP's", T4, off_wrong, MAL, SEG_MAX },
	{ "TCP data offset below 5", T4, doff_small, MAL, SEG_MAX },
	{ "TCP header past the packet", T4, doff_past, MAL, SEG_MAX },
	{ "no payload", T4, no_payload, MAL, SEG_MAX },
	{ "TCPV6 on IPv4", T4, tcp6_on_v4, MAL, SEG_MAX },
	{ "TCPV4 on IPv6", T6, tcp4_on_v6, MAL, SEG_MAX },
	{ "TCPV4 on UDP", U4, tcp_on_udp, MAL, SEG_MAX },
	{ "IPv4 fragment", T4, fragment, MAL, SEG_MAX },
	{ "UFO", U4, ufo, KT_ERR_UNSUPPORTED, SEG_MAX },
	{ "unknown gso type", T4, unknown, KT_ERR_UNSUPPORTED, SEG_MAX },
	{ "shorter than its IP length", T4, truncated, MAL, SEG_MAX },
	{ "not IP", T4, not_ip, MAL, SEG_MAX },
	{ "shorter than its headers", T4, tiny, MAL, SEG_MAX },
	{ "segment above seg_max", T4, NULL, MAL, 1000 },
	{ "no GSO, checksum field past the end", T4, none_off_past, MAL, SEG_MAX },
	{ "no GSO, empty", T4, none_empty, MAL, SEG_MAX },
};

static void test_refused(void **state)
{
	(void)state;
	uint8_t *buf = malloc(BIG);
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct kt_vnet_hdr h;
		size_t len = build(buf, &bads[i].s, &h, 1000);
		if (bads[i].spoil)
			bads[i].spoil(buf, &len, &h);
		uint8_t *p = malloc(len ? len : 1); /* exact: ASan sees any over-read */
		memcpy(p, buf, len);
		struct kt_gso g;
		int rc = kt_gso_init(&g, &h, p, len, bads[i].seg_max);
		if (rc != bads[i].rc)
			fail_msg("%s: got %d, want %d", bads[i].name, rc, bads[i].rc);
		if (h.gso_type == KT_VNET_GSO_NONE && len)
			assert_int_equal(kt_gso_csum(p, len, &h), KT_ERR_MALFORMED);
		free(p);
	}
	free(buf);
}

static void test_nospace(void **state)
{
	(void)state;
	uint8_t *p = malloc(BIG), out[2048];
	struct spec s = T4;
	struct kt_vnet_hdr h;
	size_t tot = build(p, &s, &h, 1000);
	struct kt_gso g;
	assert_int_equal(kt_gso_init(&g, &h, p, tot, SEG_MAX), 3);
	assert_int_equal(kt_gso_next(&g, out, 1039), KT_ERR_NOSPACE);
	assert_int_equal(kt_gso_next(&g, out, sizeof(out)), 1040); /* nothing was consumed */
	free(p);
}

static void test_vnet_hdr(void **state)
{
	(void)state;
	struct kt_vnet_hdr h = { 1, 4, 0x1122, 0x3344, 0x5566, 0x7788 }, back;
	uint8_t b[KT_VNET_HDR_LEN];
	kt_vnet_hdr_put(b, &h);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[1], 4);
	uint16_t v;
	memcpy(&v, b + 4, 2); /* host order, as struct virtio_net_hdr */
	assert_int_equal(v, 0x3344);
	kt_vnet_hdr_get(b, &back);
	assert_memory_equal(&h, &back, sizeof(h));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp4),
		cmocka_unit_test(test_tcp6),
		cmocka_unit_test(test_udp),
		cmocka_unit_test(test_ecn),
		cmocka_unit_test(test_csum_complete),
		cmocka_unit_test(test_csum_zero),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_nospace),
		cmocka_unit_test(test_vnet_hdr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
