/* The engine's negotiation rules without the network (core/ike/negotiate.c):
 * proposal selection (responder) and checking (initiator) as tables of
 * strongSwan proposal strings, selector narrowing checked against a naive
 * reference over a small address space, the subset rule, and the text of
 * selectors and identities in log lines. */
#include "tests/unit/testutil.h"

#include "core/err.h"
#include "core/ike/ike_int.h"

static size_t parse_list(struct kt_proposal *l, uint8_t proto, const char *text)
{
	size_t n = 0;
	char err[KT_PROPOSAL_ERR_LEN];
	if (kt_proposal_parse_list(l, KT_PROPOSAL_MAX_LIST, &n, proto, text, true, err, sizeof(err)))
		fail_msg("%s: %s", text, err);
	return n;
}

/* ---- Selection ---- */

struct sel_case {
	uint8_t proto;
	int dh_mode;
	const char *offered, *ours;
	uint16_t ke;         /* KE group sent (IKE/PFS), 0 none */
	bool ok;
	const char *display; /* of the choice */
	uint8_t num;
};

static const struct sel_case sel_cases[] = {
	/* the first offered proposal we accept wins, not our first */
	{ KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, "aes128gcm16-prfsha256-x25519, aes256gcm16-prfsha384-ecp384",
	  "aes256gcm16-prfsha384-ecp384, aes128gcm16-prfsha256-x25519", 31, true,
	  "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519", 1 },
	/* within a proposal the peer's order of algorithms counts */
	{ KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, "aes256gcm16-aes128gcm16-prfsha384-prfsha256-ecp256",
	  "aes128gcm16-aes256gcm16-prfsha256-prfsha384-ecp256", 19, true,
	  "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_256", 1 },
	/* the KE group is preferred when the proposal allows it */
	{ KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, "aes128gcm16-prfsha256-ecp256-x25519",
	  "aes128gcm16-prfsha256-ecp256-x25519", 31, true, "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519", 1 },
	/* else the first common group (the caller answers INVALID_KE_PAYLOAD) */
	{ KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, "aes128gcm16-prfsha256-x25519-ecp256", "aes128gcm16-prfsha256-ecp256",
	  31, true, "AES_GCM_16_128/PRF_HMAC_SHA2_256/ECP_256", 1 },
	/* key length is part of the algorithm */
	{ KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, "aes128-sha256-modp2048", "aes256-sha256-modp2048", 14, false, NULL, 0 },
	{ KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, "aes128-sha256-modp2048, aes256-sha256-modp2048",
	  "aes256-sha256-modp2048", 14, true, "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048", 2 },
	{ KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, "aes128gcm16-prfsha256-x25519", "aes128gcm16-prfsha384-x25519", 31,
	  false, NULL, 0 },
	/* ESP: ESN must agree; noesn is the default */
	{ KT_IKE_PROTO_ESP, NEGO_DH_IGNORE, "aes128gcm16-esn", "aes128gcm16", 0, false, NULL, 0 },
	{ KT_IKE_PROTO_ESP, NEGO_DH_IGNORE, "aes128gcm16-esn-noesn", "aes128gcm16", 0, true, "AES_GCM_16_128", 1 },
	{ KT_IKE_PROTO_ESP, NEGO_DH_IGNORE, "aes256-sha512-esn", "aes256-sha512-esn", 0, true,
	  "AES_CBC_256/HMAC_SHA2_512_256/EXT_SEQ", 1 },
	/* in IKE_AUTH key exchange groups are ignored on both sides */
	{ KT_IKE_PROTO_ESP, NEGO_DH_IGNORE, "aes128gcm16-ecp256", "aes128gcm16", 0, true, "AES_GCM_16_128", 1 },
	/* CREATE_CHILD_SA: PFS must agree, "none" makes it optional */
	{ KT_IKE_PROTO_ESP, NEGO_DH_PFS, "aes128gcm16-ecp256", "aes128gcm16", 19, false, NULL, 0 },
	{ KT_IKE_PROTO_ESP, NEGO_DH_PFS, "aes128gcm16", "aes128gcm16-ecp256", 0, false, NULL, 0 },
	{ KT_IKE_PROTO_ESP, NEGO_DH_PFS, "aes128gcm16", "aes128gcm16-ecp256-none", 0, true, "AES_GCM_16_128", 1 },
	{ KT_IKE_PROTO_ESP, NEGO_DH_PFS, "aes128gcm16-x25519-ecp256", "aes128gcm16-ecp256-x25519", 31, true,
	  "AES_GCM_16_128/CURVE_25519", 1 },
	/* AH against ESP proposals */
	{ KT_IKE_PROTO_AH, NEGO_DH_IGNORE, "sha256", "sha384, sha256", 0, true, "HMAC_SHA2_256_128", 1 },
};

static void wire_from(const char *text, uint8_t proto, bool with_dh, struct kt_ike_proposals *w)
{
	struct kt_proposal l[KT_PROPOSAL_MAX_LIST];
	size_t n = parse_list(l, proto, text);
	uint8_t spi_size = proto == KT_IKE_PROTO_IKE ? 0 : 4;
	w->n = (uint8_t)kt_ike_nego_to_wire(l, n, with_dh, 0x1234, spi_size, w->prop);
}

static void test_select(void **state)
{
	(void)state;
	static struct kt_ike_proposals w;
	for (size_t i = 0; i < sizeof(sel_cases) / sizeof(sel_cases[0]); i++) {
		const struct sel_case *c = &sel_cases[i];
		struct kt_proposal ours[KT_PROPOSAL_MAX_LIST];
		size_t n = parse_list(ours, c->proto, c->ours);
		wire_from(c->offered, c->proto, true, &w);
		struct kt_ike_choice ch;
		int rc = kt_ike_nego_select(&w, ours, n, c->proto, c->dh_mode, c->ke, &ch);
		if ((rc == 0) != c->ok)
			fail_msg("case %zu: %s vs %s gave %d", i, c->offered, c->ours, rc);
		if (!c->ok)
			continue;
		char disp[128];
		kt_ike_nego_display(&ch, disp, sizeof(disp));
		if (strcmp(disp, c->display))
			fail_msg("case %zu: chose %s, want %s", i, disp, c->display);
		assert_int_equal(ch.num, c->num);
		if (c->proto != KT_IKE_PROTO_IKE)
			assert_int_equal(ch.spi, 0x1234);
	}
}

/* The initiator accepts only a single-transform answer from its offer. */
static void test_check(void **state)
{
	(void)state;
	static struct kt_ike_proposals w;
	struct kt_proposal ours[KT_PROPOSAL_MAX_LIST];
	size_t n = parse_list(ours, KT_IKE_PROTO_IKE, "aes128gcm16-prfsha256-x25519, aes256-sha384-ecp384");
	struct kt_ike_choice ch = { .num = 2, .proto = KT_IKE_PROTO_IKE, .encr = KT_ENCR_AES_CBC, .encr_bits = 256,
				    .integ = KT_INTEG_HMAC_SHA2_384_192, .prf = KT_PRF_HMAC_SHA2_384,
				    .dh = KT_DH_ECP_384 };
	w.n = 1;
	kt_ike_nego_choice_wire(&ch, 0, &w.prop[0]);
	struct kt_ike_choice got;
	assert_int_equal(kt_ike_nego_check(&w, ours, n, KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, 20, &got), 0);
	assert_int_equal(got.encr_bits, 256);
	/* wrong number: the transforms are not those of proposal 1 */
	w.prop[0].num = 1;
	assert_int_equal(kt_ike_nego_check(&w, ours, n, KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, 20, &got),
			 KT_ERR_NOT_FOUND);
	w.prop[0].num = 3;
	assert_int_equal(kt_ike_nego_check(&w, ours, n, KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, 20, &got),
			 KT_ERR_NOT_FOUND);
	/* two of one type is no choice */
	wire_from("aes256-sha384-ecp384-ecp256", KT_IKE_PROTO_IKE, true, &w);
	w.prop[0].num = 2;
	assert_int_equal(kt_ike_nego_check(&w, ours, n, KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, 20, &got),
			 KT_ERR_NOT_FOUND);
	/* two proposals in an answer */
	wire_from("aes128gcm16-prfsha256-x25519, aes256-sha384-ecp384", KT_IKE_PROTO_IKE, true, &w);
	assert_int_equal(kt_ike_nego_check(&w, ours, n, KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, 31, &got),
			 KT_ERR_IKE_SYNTAX);
	/* an unknown transform type makes a proposal unacceptable */
	wire_from("aes128gcm16-prfsha256-x25519", KT_IKE_PROTO_IKE, true, &w);
	w.prop[0].xf[w.prop[0].n_xf++] = (struct kt_ike_transform){ .type = 6, .id = 1 };
	assert_int_equal(kt_ike_nego_select(&w, ours, n, KT_IKE_PROTO_IKE, NEGO_DH_REQUIRED, 31, &got),
			 KT_ERR_NOT_FOUND);
}

static void test_format(void **state)
{
	(void)state;
	static struct kt_ike_proposals w;
	wire_from("aes128gcm16-prfsha256-x25519-ecp256, aes256-sha256-modp2048", KT_IKE_PROTO_IKE, true, &w);
	char buf[IKE_PROP_TEXT];
	kt_ike_nego_format_wire(&w, buf, sizeof(buf));
	assert_string_equal(buf, "aes128gcm16-prfsha256-x25519-ecp256, aes256-sha256-prfsha256-modp2048");
	w.n = 0;
	kt_ike_nego_format_wire(&w, buf, sizeof(buf));
	assert_string_equal(buf, "(none)");
	/* what is offered in IKE_AUTH leaves the groups out */
	wire_from("aes128gcm16-ecp256", KT_IKE_PROTO_ESP, false, &w);
	kt_ike_nego_format_wire(&w, buf, sizeof(buf));
	assert_string_equal(buf, "aes128gcm16");
}

/* ---- Traffic selectors ---- */

static struct kt_ts ts(const char *text)
{
	struct kt_ts t;
	if (kt_ts_parse(&t, text))
		fail_msg("bad selector %s", text);
	return t;
}

static void test_ts_format(void **state)
{
	(void)state;
	struct {
		const char *in, *out;
	} cases[] = {
		{ "10.1.0.0/24", "10.1.0.0/24" },
		{ "10.1.0.7", "10.1.0.7/32" },
		{ "0.0.0.0/0", "0.0.0.0/0" },
		{ "2001:db8::/32[tcp/443]", "2001:db8::/32[tcp/443]" },
		{ "10.0.0.0/8[udp]", "10.0.0.0/8[udp]" },
		{ "10.0.0.1[icmp/8]", "10.0.0.1/32[icmp/8]" },
	};
	char buf[IKE_TS_TEXT];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_ts t = ts(cases[i].in);
		kt_ike_ts_format(&t, 1, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].out);
	}
	struct kt_ts two[2] = { ts("10.1.0.0/24"), ts("10.1.0.0/24") };
	two[1].end.bytes[3] = 0x7f;
	two[1].start.bytes[3] = 5;
	kt_ike_ts_format(two, 2, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.0.0/24, 10.1.0.5..10.1.0.127");
	char tiny[8];
	kt_ike_ts_format(two, 2, tiny, sizeof(tiny));
	assert_true(strlen(tiny) < sizeof(tiny));
}

/* Naive reference: a selector over addresses 10.0.0.x, protocols {0, 6, 17}
 * and ports 0..7 as a set of points. */
#define R_ADDRS 16
#define R_PORTS 8
static bool ref_in(const struct kt_ts *t, unsigned a, unsigned proto, unsigned port)
{
	unsigned lo = t->start.bytes[3], hi = t->end.bytes[3];
	bool pm = t->proto == 0 || t->proto == proto;
	return a >= lo && a <= hi && pm && port >= t->port_start && port <= t->port_end;
}

static struct kt_ts rand_ts(uint32_t *r)
{
	static const uint8_t protos[3] = { 0, 6, 17 };
	*r = *r * 1103515245u + 12345u;
	unsigned a = (*r >> 8) % R_ADDRS, b = (*r >> 16) % R_ADDRS;
	*r = *r * 1103515245u + 12345u;
	unsigned p = (*r >> 8) % R_PORTS, q = (*r >> 16) % R_PORTS;
	struct kt_ts t = ts("10.0.0.0/32");
	t.start.bytes[3] = (uint8_t)(a < b ? a : b);
	t.end.bytes[3] = (uint8_t)(a < b ? b : a);
	t.proto = protos[(*r >> 24) % 3];
	t.port_start = (uint16_t)(p < q ? p : q);
	t.port_end = (uint16_t)(p < q ? q : p);
	return t;
}

static void test_ts_narrow_reference(void **state)
{
	(void)state;
	uint32_t r = 7;
	for (int round = 0; round < 2000; round++) {
		struct kt_ts off[2] = { rand_ts(&r), rand_ts(&r) }, ours[2] = { rand_ts(&r), rand_ts(&r) };
		struct kt_ts out[8];
		size_t n = kt_ike_ts_narrow(off, 2, ours, 2, out, 8);
		for (unsigned a = 0; a < R_ADDRS; a++)
			for (unsigned pi = 0; pi < 3; pi++)
				for (unsigned port = 0; port < R_PORTS; port++) {
					static const unsigned protos[3] = { 0, 6, 17 };
					unsigned p = protos[pi];
					/* a concrete packet (protocol p != 0) is in the result iff
					 * it is in some offered and some of ours */
					if (p == 0)
						continue;
					bool want = (ref_in(&off[0], a, p, port) || ref_in(&off[1], a, p, port)) &&
						    (ref_in(&ours[0], a, p, port) || ref_in(&ours[1], a, p, port));
					bool got = false;
					for (size_t k = 0; k < n; k++)
						got |= ref_in(&out[k], a, p, port);
					if (want != got)
						fail_msg("round %d: point %u/%u/%u want %d", round, a, p, port, want);
				}
		/* narrowing never widens: the result is within the offer */
		if (n)
			assert_true(kt_ike_ts_subset(out, n, off, 2));
	}
}

static void test_ts_subset(void **state)
{
	(void)state;
	struct kt_ts sent[2] = { ts("10.1.0.0/24"), ts("10.9.0.0/16[tcp]") };
	struct {
		const char *got;
		bool ok;
	} cases[] = {
		{ "10.1.0.0/24", true },       { "10.1.0.128/25", true },       { "10.1.0.0/23", false },
		{ "10.9.3.0/24[tcp/80]", true }, { "10.9.3.0/24", false },       { "10.9.3.0/24[udp]", false },
		{ "2001:db8::/64", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_ts g = ts(cases[i].got);
		assert_int_equal(kt_ike_ts_subset(&g, 1, sent, 2), cases[i].ok);
	}
	assert_false(kt_ike_ts_subset(NULL, 0, sent, 2));
	/* OPAQUE ports meet only the full range or OPAQUE */
	struct kt_ts op = ts("10.1.0.0/24[udp]"), full = ts("10.1.0.0/24[udp]"), some = ts("10.1.0.0/24[udp/53]");
	op.port_start = KT_IKE_TS_OPAQUE_START;
	op.port_end = KT_IKE_TS_OPAQUE_END;
	struct kt_ts out[2];
	assert_int_equal(kt_ike_ts_narrow(&op, 1, &full, 1, out, 2), 1);
	assert_int_equal(out[0].port_start, KT_IKE_TS_OPAQUE_START);
	assert_int_equal(kt_ike_ts_narrow(&op, 1, &some, 1, out, 2), 0);
}

static void test_ts_resolve(void **state)
{
	(void)state;
	struct kt_conf_ts c[2] = { { .dynamic = true, .ts = ts("0.0.0.0/0[udp/53]") }, { .ts = ts("10.0.0.0/8") } };
	struct kt_addr me;
	kt_addr_parse(&me, "192.0.2.9");
	struct kt_ts out[4];
	assert_int_equal(kt_ike_ts_resolve(c, 2, &me, out, 4), 2);
	char buf[IKE_TS_TEXT];
	kt_ike_ts_format(out, 2, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.9/32[udp/53], 10.0.0.0/8");
	struct kt_addr none = { 0 };
	assert_int_equal(kt_ike_ts_resolve(c, 2, &none, out, 4), 1);
}

/* ---- Identities ---- */

static void test_ids(void **state)
{
	(void)state;
	struct kt_conf_id fq = { .type = KT_IKE_ID_FQDN, .len = 9 }, any = { .type = KT_IKE_ID_FQDN, .any = true },
			  unset = { 0 };
	memcpy(fq.data, "b.example", 9);
	struct kt_ike_id got = { .type = KT_IKE_ID_FQDN, .data = { (const uint8_t *)"b.example", 9 } };
	assert_true(kt_ike_id_matches(&fq, &got));
	got.data.len = 8;
	assert_false(kt_ike_id_matches(&fq, &got));
	got.type = KT_IKE_ID_RFC822_ADDR;
	got.data.len = 9;
	assert_false(kt_ike_id_matches(&fq, &got));
	assert_true(kt_ike_id_matches(&any, &got));
	assert_true(kt_ike_id_matches(&unset, &got));
	assert_false(kt_ike_id_checked(&any));
	/* our ID without local-id: the address in use */
	struct kt_addr a;
	kt_addr_parse(&a, "192.0.2.1");
	struct kt_ike_id ours;
	kt_ike_id_ours(&unset, &a, &ours);
	assert_int_equal(ours.type, KT_IKE_ID_IPV4_ADDR);
	char buf[IKE_ID_TEXT];
	kt_ike_id_format(&ours, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.1");
	struct kt_ike_id key = { .type = KT_IKE_ID_KEY_ID, .data = { (const uint8_t *)"\x01\xab", 2 } };
	kt_ike_id_format(&key, buf, sizeof(buf));
	assert_string_equal(buf, "@#01ab");
	struct kt_ike_id odd = { .type = KT_IKE_ID_FQDN, .data = { (const uint8_t *)"a\nb", 3 } };
	kt_ike_id_format(&odd, buf, sizeof(buf));
	assert_string_equal(buf, "a?b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_ts_format),
		cmocka_unit_test(test_ts_narrow_reference),
		cmocka_unit_test(test_ts_subset),
		cmocka_unit_test(test_ts_resolve),
		cmocka_unit_test(test_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
