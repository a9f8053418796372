/* Receive coalescing tests (core/gro.c): runs of TCP segments merged into
 * one super-packet whose header, virtio header and checksum are checked,
 * and which core/gso.c splits back into the very segments that went in;
 * a numbered table of segments that must not join (each one field away
 * from a good one); the classification of other packets. Every packet is
 * a heap copy of its exact length, so the ASan build sees an over-read. */
#include "tests/unit/testutil.h"

#include "core/bytes.h"
#include "core/gro.h"
#include "core/gso.h"
#include "core/ip.h"

#define PSH 0x08
#define ACK 0x10
#define MSS 1000
#define ROOM (KT_GRO_MAX + 256)

struct seg {
	uint8_t version;
	uint32_t seq;
	size_t payload;
	uint8_t flags;
	uint16_t id;
	size_t opts;         /* TCP option bytes (NOPs and a timestamp-like blob) */
};

static uint8_t pay_byte(uint32_t seq) { return (uint8_t)(seq * 13 + 5); }

/* A valid segment into p (checksums right); returns its length. */
static size_t build(uint8_t *p, const struct seg *s)
{
	size_t l3 = s->version == 4 ? 20 : 40, tcp_hl = 20 + s->opts, tot = l3 + tcp_hl + s->payload;
	memset(p, 0, l3 + tcp_hl);
	if (s->version == 4) {
		p[0] = 0x45;
		kt_put16(p + 2, tot);
		kt_put16(p + 4, s->id);
		p[6] = 0x40;
		p[8] = 64;
		p[9] = KT_IPPROTO_TCP;
		memcpy(p + 12, "\x0a\x01\x00\x02\x0a\x02\x00\x02", 8);
		kt_ip4_set_csum(p);
	} else {
		p[0] = 0x60;
		kt_put16(p + 4, tot - 40);
		p[6] = KT_IPPROTO_TCP;
		p[7] = 64;
		p[8] = 0xfd;
		p[24] = 0xfd;
		p[39] = 2;
		p[23] = 1;
	}
	uint8_t *t = p + l3;
	kt_put16(t, 40000);
	kt_put16(t + 2, 5201);
	kt_put32(t + 4, s->seq);
	kt_put32(t + 8, 777);
	t[12] = (uint8_t)((tcp_hl / 4) << 4);
	t[13] = s->flags;
	kt_put16(t + 14, 512);
	for (size_t i = 0; i < s->opts; i++)
		t[20 + i] = i < 2 ? 1 : (uint8_t)(0x40 + i);
	for (size_t i = 0; i < s->payload; i++)
		t[tcp_hl + i] = pay_byte(s->seq + (uint32_t)i);
	assert_int_equal(kt_ip_fix_l4_csum(p, tot), 1);
	return tot;
}

static uint8_t *copy(const uint8_t *p, size_t len)
{
	uint8_t *q = malloc(len);
	assert_non_null(q);
	memcpy(q, p, len);
	return q;
}

/* n segments of MSS (the last of last bytes, with last_flags) from seq 1000. */
static size_t make_run(uint8_t **pk, size_t *len, size_t n, uint8_t version, size_t last,
		       uint8_t last_flags, size_t opts)
{
	uint8_t tmp[ROOM];
	uint32_t seq = 1000;
	for (size_t i = 0; i < n; i++) {
		struct seg s = { version, seq, i + 1 < n ? MSS : last, i + 1 < n ? ACK : last_flags,
				 (uint16_t)(0xfffe + i), opts };
		len[i] = build(tmp, &s);
		pk[i] = copy(tmp, len[i]);
		seq += (uint32_t)s.payload;
	}
	return n;
}

/* Merge pk[0..n) (the first in a buffer of ROOM bytes); returns how many joined. */
static size_t merge(struct kt_gro *g, uint8_t *head, uint8_t **pk, const size_t *len, size_t n)
{
	struct kt_gro_seg s;
	memcpy(head, pk[0], len[0]);
	assert_int_equal(kt_gro_parse(head, len[0], &s), KT_GRO_SEG);
	kt_gro_start(g, head, ROOM, &s);
	size_t joined = 1;
	for (size_t i = 1; i < n; i++) {
		assert_int_equal(kt_gro_parse(pk[i], len[i], &s), KT_GRO_SEG);
		if (!kt_gro_append(g, pk[i], &s))
			break;
		joined++;
	}
	return joined;
}

/* gso.c splits the super-packet back into exactly pk[0..n). */
static void check_resplit(uint8_t *sp, size_t len, const struct kt_vnet_hdr *h, uint8_t **pk,
			  const size_t *plen, size_t n)
{
	struct kt_gso gs;
	static uint8_t out[ROOM];
	assert_int_equal(kt_gso_init(&gs, h, sp, len, KT_GRO_MAX), (int)n);
	for (size_t i = 0; i < n; i++) {
		int k = kt_gso_next(&gs, out, sizeof(out));
		assert_int_equal(k, (int)plen[i]);
		assert_memory_equal(out, pk[i], plen[i]);
	}
	assert_int_equal(kt_gso_next(&gs, out, sizeof(out)), 0);
	/* The checksum the kernel completes over the whole verifies. */
	assert_int_equal(kt_gso_csum(sp, len, h), 0);
	uint8_t version = sp[0] >> 4;
	size_t l3 = version == 4 ? 20 : 40, l4 = len - l3;
	uint32_t sum = version == 4 ? kt_ip_csum_add(0, sp + 12, 8) : kt_ip_csum_add(0, sp + 8, 32);
	sum += KT_IPPROTO_TCP + (uint32_t)l4;
	assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(sum, sp + l3, l4)), 0);
	if (version == 4)
		assert_int_equal(kt_ip_csum_fold(kt_ip_csum_add(0, sp, 20)), 0);
}

static void free_all(uint8_t **pk, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(pk[i]);
}

static void run_case(uint8_t version, size_t opts)
{
	uint8_t *pk[6], *head = malloc(ROOM);
	size_t len[6];
	make_run(pk, len, 6, version, 321, ACK | PSH, opts);
	struct kt_gro g;
	assert_int_equal(merge(&g, head, pk, len, 6), 6);
	struct kt_vnet_hdr h;
	size_t n = kt_gro_finish(&g, &h);
	size_t l3 = version == 4 ? 20 : 40;
	assert_int_equal(n, l3 + 20 + opts + 5 * MSS + 321);
	assert_int_equal(h.flags, KT_VNET_F_NEEDS_CSUM);
	assert_int_equal(h.gso_type, version == 4 ? KT_VNET_GSO_TCPV4 : KT_VNET_GSO_TCPV6);
	assert_int_equal(h.gso_size, MSS);
	assert_int_equal(h.hdr_len, l3 + 20 + opts);
	assert_int_equal(h.csum_start, l3);
	assert_int_equal(h.csum_offset, 16);
	check_resplit(head, n, &h, pk, len, 6);
	free_all(pk, 6);
	free(head);
}

static void test_merge_v4(void **state) { (void)state; run_case(4, 0); }
static void test_merge_v6(void **state) { (void)state; run_case(6, 0); }
static void test_merge_v4_timestamps(void **state) { (void)state; run_case(4, 12); }
static void test_merge_v6_timestamps(void **state) { (void)state; run_case(6, 12); }

/* One segment alone goes out as it came, with no offload asked. */
static void test_single_unchanged(void **state)
{
	(void)state;
	uint8_t *pk[1], *head = malloc(ROOM);
	size_t len[1];
	make_run(pk, len, 1, 4, 500, ACK, 0);
	struct kt_gro g;
	merge(&g, head, pk, len, 1);
	struct kt_vnet_hdr h;
	assert_int_equal(kt_gro_finish(&g, &h), len[0]);
	assert_memory_equal(head, pk[0], len[0]);
	assert_int_equal(h.flags | h.gso_type | h.gso_size, 0);
	free_all(pk, 1);
	free(head);
}

/* IPv4 IDs all zero (DF) merge too; the split numbers them from 0. */
static void test_zero_ids(void **state)
{
	(void)state;
	uint8_t tmp[ROOM], *head = malloc(ROOM), *pk[3];
	size_t len[3];
	for (size_t i = 0; i < 3; i++) {
		struct seg s = { 4, 1000 + (uint32_t)(i * MSS), MSS, ACK, 0, 0 };
		len[i] = build(tmp, &s);
		pk[i] = copy(tmp, len[i]);
	}
	struct kt_gro g;
	assert_int_equal(merge(&g, head, pk, len, 3), 3);
	struct kt_vnet_hdr h;
	assert_int_equal(kt_gro_finish(&g, &h), 40 + 3 * MSS);
	assert_int_equal(kt_get16(head + 4), 0);
	free_all(pk, 3);
	free(head);
}

/* ---- what must not join: the second segment one field off ---- */

enum change {
	C_SPORT, C_TTL, C_TOS, C_ACKNO, C_WINDOW, C_OPTION, C_SEQ_GAP, C_SEQ_OVERLAP, C_LONGER,
	C_ID_SKIP, C_FLOWLABEL, C_HOPLIMIT, C_ID_ZERO_THEN_ONE,
};

static const struct { enum change c; uint8_t version; } refuse[] = {
	{ C_SPORT, 4 },     { C_TTL, 4 },          { C_TOS, 4 },      { C_ACKNO, 4 },
	{ C_WINDOW, 4 },    { C_OPTION, 4 },       { C_SEQ_GAP, 4 },  { C_SEQ_OVERLAP, 4 },
	{ C_LONGER, 4 },    { C_ID_SKIP, 4 },      { C_FLOWLABEL, 6 }, { C_HOPLIMIT, 6 },
	{ C_SPORT, 6 },     { C_ACKNO, 6 },        { C_ID_ZERO_THEN_ONE, 4 },
};

/* Apply c to the segment at p (of len bytes) and fix its checksums. */
static void change(uint8_t *p, size_t len, enum change c)
{
	size_t l3 = (p[0] >> 4) == 4 ? 20 : 40;
	uint8_t *t = p + l3;
	switch (c) {
	case C_SPORT: kt_put16(t, 40001); break;
	case C_TTL: p[8] = 63; break;
	case C_TOS: p[1] = 0x02; break;
	case C_ACKNO: kt_put32(t + 8, 778); break;
	case C_WINDOW: kt_put16(t + 14, 513); break;
	case C_OPTION: t[31] ^= 1; break;
	case C_SEQ_GAP: kt_put32(t + 4, kt_get32(t + 4) + 1); break;
	case C_SEQ_OVERLAP: kt_put32(t + 4, kt_get32(t + 4) - 1); break;
	case C_LONGER: break; /* built longer */
	case C_ID_SKIP: kt_put16(p + 4, kt_get16(p + 4) + 1); break;
	case C_FLOWLABEL: p[3] = 7; break;
	case C_HOPLIMIT: p[7] = 63; break;
	case C_ID_ZERO_THEN_ONE: break; /* built with IDs 0, 1 after a 0 */
	}
	if (l3 == 20)
		kt_ip4_set_csum(p);
	assert_int_equal(kt_ip_fix_l4_csum(p, len), 1);
}

static void test_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(refuse) / sizeof(refuse[0]); i++) {
		uint8_t tmp[ROOM], *head = malloc(ROOM);
		enum change c = refuse[i].c;
		bool zero = c == C_ID_ZERO_THEN_ONE;
		struct seg a = { refuse[i].version, 1000, MSS, ACK, zero ? 0 : 5, 12 };
		struct seg b = { refuse[i].version, 1000 + MSS, c == C_LONGER ? MSS + 1 : MSS, ACK,
				 zero ? 1 : 6, 12 };
		size_t la = build(head, &a), lb = build(tmp, &b);
		if (zero) { /* 0, 0 is a run of zeros: a 1 after it is not */
			struct seg z = { 4, 1000 + MSS, MSS, ACK, 0, 12 };
			lb = build(tmp, &z);
		}
		if (!zero)
			change(tmp, lb, c);
		uint8_t *q = copy(tmp, lb);
		struct kt_gro_seg sa, sb;
		struct kt_gro g;
		assert_int_equal(kt_gro_parse(head, la, &sa), KT_GRO_SEG);
		assert_int_equal(kt_gro_parse(q, lb, &sb), KT_GRO_SEG);
		kt_gro_start(&g, head, ROOM, &sa);
		if (zero) {
			assert_true(kt_gro_append(&g, q, &sb));
			struct seg one = { 4, 1000 + 2 * MSS, MSS, ACK, 1, 12 };
			free(q);
			lb = build(tmp, &one);
			q = copy(tmp, lb);
			assert_int_equal(kt_gro_parse(q, lb, &sb), KT_GRO_SEG);
		}
		uint8_t before[ROOM];
		memcpy(before, head, ROOM);
		size_t n_before = g.n;
		if (kt_gro_append(&g, q, &sb))
			fail_msg("case %zu joined", i);
		assert_int_equal(g.n, n_before);
		assert_memory_equal(before, head, ROOM);
		free(q);
		free(head);
	}
}

/* A short segment or one with PSH ends the run; after a full one, PSH
 * may come on the last. */
static void test_run_ends(void **state)
{
	(void)state;
	uint8_t *pk[3], *head = malloc(ROOM);
	size_t len[3];
	make_run(pk, len, 3, 4, MSS, ACK, 0);
	struct seg s = { 4, 1000 + MSS, 10, ACK, 0xffff, 0 }; /* a short second */
	uint8_t tmp[ROOM];
	free(pk[1]);
	len[1] = build(tmp, &s);
	pk[1] = copy(tmp, len[1]);
	free(pk[2]);
	struct seg t = { 4, 1000 + MSS + 10, 10, ACK, 0, 0 };
	len[2] = build(tmp, &t);
	pk[2] = copy(tmp, len[2]);
	struct kt_gro g;
	assert_int_equal(merge(&g, head, pk, len, 3), 2);
	free_all(pk, 3);
	/* PSH on the first: nothing joins it. */
	make_run(pk, len, 2, 6, MSS, ACK, 0);
	free(pk[0]);
	struct seg f = { 6, 1000, MSS, ACK | PSH, 0, 0 };
	len[0] = build(tmp, &f);
	pk[0] = copy(tmp, len[0]);
	assert_int_equal(merge(&g, head, pk, len, 2), 1);
	free_all(pk, 2);
	free(head);
}

/* The super-packet stays within 64 KB and within the caller's room. */
static void test_limits(void **state)
{
	(void)state;
	enum { N = 70 };
	uint8_t *pk[N], *head = malloc(ROOM);
	size_t len[N];
	make_run(pk, len, N, 4, MSS, ACK, 0);
	struct kt_gro g;
	size_t joined = merge(&g, head, pk, len, N);
	assert_int_equal(joined, (KT_GRO_MAX - 40) / MSS);
	struct kt_gro_seg s;
	memcpy(head, pk[0], len[0]);
	kt_gro_parse(head, len[0], &s);
	kt_gro_start(&g, head, len[0] + MSS - 1, &s);
	kt_gro_parse(pk[1], len[1], &s);
	assert_false(kt_gro_append(&g, pk[1], &s));
	free_all(pk, N);
	free(head);
}

/* Packets that are not segments to merge, and what they mean to a run. */
static void test_classify(void **state)
{
	(void)state;
	uint8_t tmp[ROOM];
	struct kt_gro_seg s;
	struct seg base = { 4, 1, 100, ACK, 1, 0 };
	size_t n = build(tmp, &base);
	static const struct { size_t off; uint8_t xor; enum kt_gro_kind want; } cases[] = {
		{ 6, 0x40, KT_GRO_FLOW },      /* DF clear */
		{ 33, 0x02, KT_GRO_FLOW },     /* SYN */
		{ 33, 0x01, KT_GRO_FLOW },     /* FIN */
		{ 33, 0x80, KT_GRO_FLOW },     /* CWR */
		{ 40, 0x01, KT_GRO_FLOW },     /* payload changed: checksum wrong */
		{ 32, 0x01, KT_GRO_FLOW },     /* reserved bit (AE) */
		{ 9, KT_IPPROTO_TCP ^ KT_IPPROTO_UDP, KT_GRO_OTHER },
		{ 6, 0x20, KT_GRO_ANY },       /* MF: a fragment */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t p[ROOM];
		memcpy(p, tmp, n);
		p[cases[i].off] ^= cases[i].xor;
		if (cases[i].off < 20)
			kt_ip4_set_csum(p);
		else if (cases[i].off != 40)
			kt_ip_fix_l4_csum(p, n);
		uint8_t *q = copy(p, n);
		if (kt_gro_parse(q, n, &s) != cases[i].want)
			fail_msg("case %zu", i);
		free(q);
	}
	struct seg empty = { 4, 1, 0, ACK, 1, 0 };
	n = build(tmp, &empty);
	assert_int_equal(kt_gro_parse(tmp, n, &s), KT_GRO_FLOW);
	assert_int_equal(s.key.sport, 40000);
	assert_int_equal(kt_gro_parse(tmp, 3, &s), KT_GRO_OTHER);
	n = build(tmp, &base);
	assert_int_equal(kt_gro_parse(tmp, n + 1, &s), KT_GRO_FLOW); /* trailing byte */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_v4),
		cmocka_unit_test(test_merge_v6),
		cmocka_unit_test(test_merge_v4_timestamps),
		cmocka_unit_test(test_merge_v6_timestamps),
		cmocka_unit_test(test_single_unchanged),
		cmocka_unit_test(test_zero_ids),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_run_ends),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_classify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
