/* Tests for the packet pipeline (core/ipsec.c): two kt_ipsec instances wired
 * like two gateways (or two hosts) exchange packets over ESP, AH and AH+ESP;
 * then every way a packet is refused, with its counter; last, transport
 * mode through a NAT (checksums fixed only over ESP in UDP). */
#include "tests/unit/testutil.h"

#include "core/ah.h"
#include "core/err.h"
#include "core/esp.h"
#include "core/ipsec.h"

#define BUF_CAP 2048
#define PAYLOAD_LEN 32
#define COOKIE_A 0xa11ce
#define COOKIE_B 0xb0b

enum prot { P_ESP = 1, P_AH = 2, P_AH_ESP = 3 };

struct buf {
	uint8_t b[BUF_CAP];
	struct kt_pkt pkt;
};

static void buf_load(struct buf *x, const uint8_t *d, size_t len)
{
	memset(x->b, 0xee, sizeof(x->b));
	x->pkt = (struct kt_pkt){ x->b, sizeof(x->b), KT_PKT_HEADROOM, len };
	memcpy(x->b + KT_PKT_HEADROOM, d, len);
}

static uint8_t *data(struct buf *x) { return kt_pkt_data(&x->pkt); }

static struct kt_addr addr(const char *s)
{
	struct kt_addr a;
	assert_int_equal(kt_addr_parse(&a, s), 0);
	return a;
}

static struct kt_ts ts(const char *s)
{
	struct kt_ts t;
	assert_int_equal(kt_ts_parse(&t, s), 0);
	return t;
}

/* Gateway (or host) addresses of A (which 1) and B (2), and hosts in the
 * subnets behind them. */
static struct kt_addr gw(uint8_t v, int which)
{
	if (v == 4)
		return addr(which == 1 ? "192.0.2.1" : "192.0.2.2");
	return addr(which == 1 ? "2001:db8::1" : "2001:db8::2");
}

static struct kt_addr lan_host(uint8_t v, int which)
{
	if (v == 4)
		return addr(which == 1 ? "10.1.0.5" : "10.2.0.7");
	return addr(which == 1 ? "2001:db8:1::5" : "2001:db8:2::7");
}

static struct kt_ts lan(uint8_t v, int which)
{
	if (v == 4)
		return ts(which == 1 ? "10.1.0.0/24" : "10.2.0.0/24");
	return ts(which == 1 ? "2001:db8:1::/48" : "2001:db8:2::/48");
}

static struct kt_ts host_ts(uint8_t v, int which)
{
	struct kt_addr a = gw(v, which);
	struct kt_ts t;

	assert_int_equal(kt_ts_from_prefix(&t, &a, v == 4 ? 32 : 128), 0);
	return t;
}

/* A UDP datagram s:sport -> d:dport with payload bytes. */
static size_t make_udp(uint8_t *out, const struct kt_addr *s, const struct kt_addr *d,
		       uint16_t sport, uint16_t dport, const uint8_t *payload, size_t plen)
{
	size_t ulen = KT_UDP_HDR_LEN + plen;
	int h = kt_ip_build(out, s, d, KT_IPPROTO_UDP, ulen, 0, 64, 77);
	uint8_t *u = out + h;

	assert_true(h > 0);
	u[0] = (uint8_t)(sport >> 8), u[1] = (uint8_t)sport;
	u[2] = (uint8_t)(dport >> 8), u[3] = (uint8_t)dport;
	u[4] = (uint8_t)(ulen >> 8), u[5] = (uint8_t)ulen, u[6] = u[7] = 0;
	memcpy(u + KT_UDP_HDR_LEN, payload, plen);
	return (size_t)h + ulen;
}

static size_t make_data(uint8_t *out, const struct kt_addr *s, const struct kt_addr *d,
			uint16_t sport)
{
	uint8_t payload[PAYLOAD_LEN];

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	return make_udp(out, s, d, sport, 5001, payload, sizeof(payload));
}

/* ---- Two peers ---- */

struct side {
	struct kt_ipsec ips;
	struct kt_sa *out_esp, *out_ah, *in_esp, *in_ah;
	uint32_t rule;
};

struct net {
	struct side a, b;
};

struct scenario {
	const char *name;
	uint8_t mode, prot, inner_v, outer_v;
};

static uint32_t spi_for(int from, uint8_t proto)
{
	return (uint32_t)(0x10000 * from + proto);
}

struct sa_spec {
	uint8_t proto, mode, dir;
	uint32_t spi;
	struct kt_addr src, dst;
	struct kt_ts lts, rts;
	bool bundled;
};

static struct kt_sa *add_sa(struct side *s, const struct sa_spec *sp)
{
	static const uint8_t key[64] = { 0x5e, 0xc2, 0xe7, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07 };
	struct kt_sa_params p = { 0 };
	struct kt_sa *sa;

	p.spi = sp->spi;
	p.proto = sp->proto;
	p.mode = sp->mode;
	p.dir = sp->dir;
	p.src = sp->src;
	p.dst = sp->dst;
	p.local_ts[0] = sp->lts;
	p.remote_ts[0] = sp->rts;
	p.n_local_ts = p.n_remote_ts = 1;
	p.bundled = sp->bundled;
	if (sp->proto == KT_IPPROTO_ESP) {
		p.xf.encr = KT_ENCR_AES_GCM_16;
		p.xf.encr_key_bits = 256;
		p.xf.encr_key = key;
		p.xf.encr_key_len = (size_t)kt_encr_key_len(KT_ENCR_AES_GCM_16, 256);
	} else {
		p.xf.integ = KT_INTEG_HMAC_SHA2_256_128;
		p.xf.integ_key = key;
		p.xf.integ_key_len = 32;
	}
	assert_int_equal(kt_sad_add(s->ips.sad, &p, 0, &sa), 0);
	return sa;
}

/* SAs and a PROTECT rule on side `me` (1 = A, 2 = B) toward the other.
 * `wide` widens our local selector in the SPD only (not in the SAs). */
static void wire_side(struct side *s, int me, const struct scenario *sc, bool wide)
{
	int peer = 3 - me;
	bool tunnel = sc->mode == KT_MODE_TUNNEL;
	struct kt_ts lts = tunnel ? lan(sc->inner_v, me) : host_ts(sc->inner_v, me);
	struct kt_ts rts = tunnel ? lan(sc->inner_v, peer) : host_ts(sc->inner_v, peer);
	struct sa_spec sp = { .lts = lts, .rts = rts, .bundled = sc->prot == P_AH_ESP };
	struct kt_spd_rule r = { .local = lts, .remote = rts, .action = KT_ACT_PROTECT,
				 .priority = 10, .cookie = me == 1 ? COOKIE_A : COOKIE_B };

	if (sc->prot & P_ESP) {
		sp.proto = KT_IPPROTO_ESP;
		sp.mode = sc->mode;
		sp.dir = KT_DIR_OUT, sp.spi = spi_for(me, sp.proto);
		sp.src = gw(sc->outer_v, me), sp.dst = gw(sc->outer_v, peer);
		s->out_esp = add_sa(s, &sp);
		sp.dir = KT_DIR_IN, sp.spi = spi_for(peer, sp.proto);
		sp.src = gw(sc->outer_v, peer), sp.dst = gw(sc->outer_v, me);
		s->in_esp = add_sa(s, &sp);
	}
	if (sc->prot & P_AH) {
		/* In a bundle AH is the outer layer, in transport mode over
		 * whatever ESP produced (RFC 4301 §4.5). */
		sp.proto = KT_IPPROTO_AH;
		sp.mode = sc->prot == P_AH_ESP ? KT_MODE_TRANSPORT : sc->mode;
		sp.dir = KT_DIR_OUT, sp.spi = spi_for(me, sp.proto);
		sp.src = gw(sc->outer_v, me), sp.dst = gw(sc->outer_v, peer);
		s->out_ah = add_sa(s, &sp);
		sp.dir = KT_DIR_IN, sp.spi = spi_for(peer, sp.proto);
		sp.src = gw(sc->outer_v, peer), sp.dst = gw(sc->outer_v, me);
		s->in_ah = add_sa(s, &sp);
	}
	if (wide)
		r.local = ts(sc->inner_v == 4 ? "10.0.0.0/8" : "2001:db8::/32");
	r.esp = s->out_esp;
	r.ah = s->out_ah;
	assert_int_equal(kt_spd_add(s->ips.spd, &r, &s->rule), 0);
}

static void net_init(struct net *n)
{
	memset(n, 0, sizeof(*n));
	assert_int_equal(kt_ipsec_init(&n->a.ips), 0);
	assert_int_equal(kt_ipsec_init(&n->b.ips), 0);
}

static void net_wire(struct net *n, const struct scenario *sc)
{
	net_init(n);
	wire_side(&n->a, 1, sc, false);
	wire_side(&n->b, 2, sc, false);
}

static void net_free(struct net *n)
{
	kt_ipsec_free(&n->a.ips);
	kt_ipsec_free(&n->b.ips);
}

static struct kt_sa *innermost_in(const struct side *s) { return s->in_esp ? s->in_esp : s->in_ah; }

static uint64_t drops_total(const struct kt_drops *d)
{
	const uint64_t *f = (const uint64_t *)d;
	uint64_t sum = 0;

	for (size_t i = 0; i < sizeof(*d) / sizeof(uint64_t); i++)
		sum += f[i];
	return sum;
}

/* Endpoints of a packet from side `from` in this scenario. */
static void endpoints(const struct scenario *sc, int from, struct kt_addr *s, struct kt_addr *d)
{
	if (sc->mode == KT_MODE_TUNNEL) {
		*s = lan_host(sc->inner_v, from);
		*d = lan_host(sc->inner_v, 3 - from);
	} else {
		*s = gw(sc->inner_v, from);
		*d = gw(sc->inner_v, 3 - from);
	}
}

/* One packet from -> to: sealed, checked on the wire, opened, equal. */
static void send_one(const struct scenario *sc, struct side *from, struct side *to, int from_id)
{
	struct kt_addr s, d;
	uint8_t orig[256];
	size_t len;
	struct buf x;
	const struct kt_spd_rule *rule = NULL;
	struct kt_sa *sa = NULL;
	struct kt_ip_info ip;
	uint64_t dropped = drops_total(&to->ips.drops);

	endpoints(sc, from_id, &s, &d);
	len = make_data(orig, &s, &d, 40000);
	buf_load(&x, orig, len);
	assert_int_equal(kt_ipsec_output(&from->ips, &x.pkt, &rule), KT_SEALED);
	assert_non_null(rule);
	assert_int_equal(rule->cookie, from_id == 1 ? COOKIE_A : COOKIE_B);
	assert_int_equal(kt_ip_parse(data(&x), x.pkt.len, &ip), 0);
	assert_int_equal(ip.proto, sc->prot & P_AH ? KT_IPPROTO_AH : KT_IPPROTO_ESP);
	if (sc->prot == P_AH_ESP)
		assert_int_equal(data(&x)[ip.hdr_len], KT_IPPROTO_ESP); /* AH's next header */
	assert_int_equal(ip.version, sc->outer_v);
	assert_int_equal(kt_ipsec_input(&to->ips, &x.pkt, &sa), KT_DECAPPED);
	assert_ptr_equal(sa, innermost_in(to));
	assert_int_equal(x.pkt.len, len);
	assert_memory_equal(data(&x), orig, len);
	assert_int_equal(drops_total(&to->ips.drops), dropped);
}

static const struct scenario SCENARIOS[] = {
	{ "tunnel ESP v4", KT_MODE_TUNNEL, P_ESP, 4, 4 },
	{ "tunnel ESP v6", KT_MODE_TUNNEL, P_ESP, 6, 6 },
	{ "tunnel ESP v4 in v6", KT_MODE_TUNNEL, P_ESP, 4, 6 },
	{ "tunnel AH v4", KT_MODE_TUNNEL, P_AH, 4, 4 },
	{ "tunnel AH v6", KT_MODE_TUNNEL, P_AH, 6, 6 },
	{ "tunnel AH+ESP v4", KT_MODE_TUNNEL, P_AH_ESP, 4, 4 },
	{ "tunnel AH+ESP v6", KT_MODE_TUNNEL, P_AH_ESP, 6, 6 },
	{ "tunnel AH+ESP v6 in v4", KT_MODE_TUNNEL, P_AH_ESP, 6, 4 },
	{ "transport ESP v4", KT_MODE_TRANSPORT, P_ESP, 4, 4 },
	{ "transport ESP v6", KT_MODE_TRANSPORT, P_ESP, 6, 6 },
	{ "transport AH v4", KT_MODE_TRANSPORT, P_AH, 4, 4 },
	{ "transport AH v6", KT_MODE_TRANSPORT, P_AH, 6, 6 },
	{ "transport AH+ESP v4", KT_MODE_TRANSPORT, P_AH_ESP, 4, 4 },
	{ "transport AH+ESP v6", KT_MODE_TRANSPORT, P_AH_ESP, 6, 6 },
};

static void test_roundtrips(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(SCENARIOS) / sizeof(SCENARIOS[0]); i++) {
		const struct scenario *sc = &SCENARIOS[i];
		struct net n;

		print_message("%s\n", sc->name);
		net_wire(&n, sc);
		for (int k = 0; k < 3; k++) {
			send_one(sc, &n.a, &n.b, 1);
			send_one(sc, &n.b, &n.a, 2);
		}
		assert_int_equal(innermost_in(&n.b)->stats.packets, 3);
		if (sc->prot == P_AH_ESP)
			assert_int_equal(n.a.in_ah->stats.packets, 3);
		net_free(&n);
	}
}

/* ---- Outbound refusals ---- */

static void test_no_rules_discard(void **state)
{
	struct kt_addr s = lan_host(4, 1), d = lan_host(4, 2);
	struct kt_ipsec ips;
	uint8_t pkt[256];
	struct buf x;
	const struct kt_spd_rule *rule = (const struct kt_spd_rule *)&x;
	size_t len;
	(void)state;

	assert_int_equal(kt_ipsec_init(&ips), 0);
	len = make_data(pkt, &s, &d, 40000);
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_output(&ips, &x.pkt, &rule), KT_ERR_DISCARD);
	assert_null(rule);
	/* Kerberos (88), IKE (500): nothing is exempt unless a rule says so. */
	len = make_data(pkt, &s, &d, 88);
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_output(&ips, &x.pkt, &rule), KT_ERR_DISCARD);
	len = make_data(pkt, &s, &d, 500);
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_output(&ips, &x.pkt, NULL), KT_ERR_DISCARD);
	assert_memory_equal(data(&x), pkt, len);
	assert_int_equal(ips.drops.discard, 3);
	assert_int_equal(drops_total(&ips.drops), 3);
	kt_ipsec_free(&ips);
}

static void test_acquire_and_discard_rules(void **state)
{
	struct kt_addr s = lan_host(4, 1), d = lan_host(4, 2), other = addr("10.9.9.9");
	struct kt_spd_rule r = { .local = lan(4, 1), .remote = lan(4, 2), .action = KT_ACT_PROTECT,
				 .cookie = 0xc0ffee };
	struct kt_spd_rule deny = { .local = lan(4, 1), .remote = ts("10.9.0.0/16"),
				    .action = KT_ACT_DISCARD };
	const struct kt_spd_rule *rule = NULL;
	struct kt_ipsec ips;
	uint8_t pkt[256];
	struct buf x;
	uint32_t id;
	size_t len;
	(void)state;

	assert_int_equal(kt_ipsec_init(&ips), 0);
	assert_int_equal(kt_spd_add(ips.spd, &r, &id), 0);
	assert_int_equal(kt_spd_add(ips.spd, &deny, &id), 0);
	len = make_data(pkt, &s, &d, 40000);
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_output(&ips, &x.pkt, &rule), KT_ERR_ACQUIRE);
	assert_non_null(rule);
	assert_int_equal(rule->cookie, 0xc0ffee);
	assert_memory_equal(data(&x), pkt, len);
	len = make_data(pkt, &s, &other, 40000);
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_output(&ips, &x.pkt, &rule), KT_ERR_DISCARD);
	assert_int_equal(ips.drops.acquire, 1);
	assert_int_equal(ips.drops.discard, 1);
	assert_int_equal(drops_total(&ips.drops), 2);
	kt_ipsec_free(&ips);
}

static void test_bypass_both_ways(void **state)
{
	static const struct scenario sc = { "tunnel ESP v4", KT_MODE_TUNNEL, P_ESP, 4, 4 };
	struct kt_spd_rule by = { .local = ts("10.2.0.0/24[icmp]"), .remote = ts("0.0.0.0/0"),
				  .action = KT_ACT_BYPASS, .priority = 0 };
	struct kt_addr s = lan_host(4, 1), d = lan_host(4, 2);
	struct kt_sa *sa = (struct kt_sa *)&by;
	struct net n;
	uint8_t pkt[64] = { 0 };
	struct buf x;
	uint32_t id;
	int h;
	(void)state;

	net_wire(&n, &sc);
	assert_int_equal(kt_spd_add(n.b.ips.spd, &by, &id), 0);
	/* An echo request arriving in clear passes; so does B's reply. */
	h = kt_ip_build(pkt, &s, &d, KT_IPPROTO_ICMP, 8, 0, 64, 1);
	pkt[h] = 8;
	buf_load(&x, pkt, (size_t)h + 8);
	assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_BYPASS);
	assert_null(sa);
	assert_int_equal(x.pkt.len, (size_t)h + 8);
	h = kt_ip_build(pkt, &d, &s, KT_IPPROTO_ICMP, 8, 0, 64, 1);
	pkt[h] = 0;
	buf_load(&x, pkt, (size_t)h + 8);
	assert_int_equal(kt_ipsec_output(&n.b.ips, &x.pkt, NULL), KT_BYPASS);
	assert_memory_equal(data(&x), pkt, (size_t)h + 8);
	assert_int_equal(drops_total(&n.b.ips.drops), 0);
	net_free(&n);
}

/* ---- Inbound refusals ---- */

static void test_cleartext_on_protect_rule(void **state)
{
	static const struct scenario sc = { "tunnel ESP v4", KT_MODE_TUNNEL, P_ESP, 4, 4 };
	struct kt_addr s = lan_host(4, 1), d = lan_host(4, 2);
	struct net n;
	uint8_t pkt[256];
	struct buf x;
	struct kt_sa *sa;
	size_t len;
	(void)state;

	net_wire(&n, &sc);
	/* Forged from the protected subnet, from the Kerberos port. */
	len = make_data(pkt, &s, &d, 88);
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_ERR_POLICY);
	/* And from anywhere else: no rule, no entry. */
	s = addr("203.0.113.9");
	len = make_data(pkt, &s, &d, 40000);
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_ERR_POLICY);
	assert_int_equal(n.b.ips.drops.policy, 2);
	assert_int_equal(drops_total(&n.b.ips.drops), 2);
	net_free(&n);
}

/* A's SPD protects all of 10/8 with the SA negotiated for 10.1.0.0/24: B
 * must refuse what the SA's selectors do not cover (RFC 4301 §5.2). */
static void test_inner_outside_selectors(void **state)
{
	static const struct scenario SC[] = {
		{ "tunnel ESP v4", KT_MODE_TUNNEL, P_ESP, 4, 4 },
		{ "tunnel AH v6", KT_MODE_TUNNEL, P_AH, 6, 6 },
		{ "tunnel AH+ESP v4", KT_MODE_TUNNEL, P_AH_ESP, 4, 4 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(SC) / sizeof(SC[0]); i++) {
		struct kt_addr s = addr(SC[i].inner_v == 4 ? "10.1.5.5" : "2001:db8:5::5");
		struct kt_addr d = lan_host(SC[i].inner_v, 2);
		struct net n;
		uint8_t pkt[256];
		struct buf x;
		struct kt_sa *sa = NULL;
		size_t len;

		print_message("%s\n", SC[i].name);
		net_init(&n);
		wire_side(&n.a, 1, &SC[i], true);
		wire_side(&n.b, 2, &SC[i], false);
		len = make_data(pkt, &s, &d, 40000);
		buf_load(&x, pkt, len);
		assert_int_equal(kt_ipsec_output(&n.a.ips, &x.pkt, NULL), KT_SEALED);
		assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_ERR_POLICY);
		assert_non_null(sa);
		assert_int_equal(sa->stats.policy, 1);
		assert_int_equal(n.b.ips.drops.policy, 1);
		assert_int_equal(drops_total(&n.b.ips.drops), 1);
		/* Traffic inside the selectors still flows. */
		send_one(&SC[i], &n.a, &n.b, 1);
		net_free(&n);
	}
}

/* Members of an AH+ESP bundle alone are refused. */
static void test_bundle_members_alone(void **state)
{
	static const struct scenario sc = { "transport AH+ESP v4", KT_MODE_TRANSPORT, P_AH_ESP, 4, 4 };
	struct kt_addr s = gw(4, 1), d = gw(4, 2);
	struct net n;
	uint8_t pkt[256];
	struct buf x;
	struct kt_sa *sa;
	size_t len;
	(void)state;

	net_wire(&n, &sc);
	len = make_data(pkt, &s, &d, 40000);
	/* ESP without AH around it. */
	buf_load(&x, pkt, len);
	assert_int_equal(kt_esp_seal(n.a.ips.sad, n.a.out_esp, &x.pkt), 0);
	assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_ERR_POLICY);
	assert_ptr_equal(sa, n.b.in_esp);
	assert_int_equal(n.b.in_esp->stats.policy, 1);
	/* AH carrying no ESP. */
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ah_seal(n.a.ips.sad, n.a.out_ah, &x.pkt), 0);
	assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_ERR_POLICY);
	assert_ptr_equal(sa, n.b.in_ah);
	assert_int_equal(n.b.in_ah->stats.policy, 1);
	assert_int_equal(n.b.ips.drops.policy, 2);
	/* The bundle itself passes. */
	send_one(&sc, &n.a, &n.b, 1);
	net_free(&n);
}

static void test_natt_classified(void **state)
{
	static const uint8_t keepalive[] = { 0xff };
	static const uint8_t ike[] = { 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
				       0, 0, 0, 0, 0, 0, 0, 0, 0x21, 0x20, 0x22, 0x08 };
	static const uint8_t two_ff[] = { 0xff, 0xff };
	struct kt_addr s = addr("198.51.100.1"), d = gw(4, 2);
	struct kt_ipsec ips;
	uint8_t pkt[256];
	struct buf x;
	struct kt_sa *sa;
	size_t len;
	(void)state;

	assert_int_equal(kt_ipsec_init(&ips), 0);
	len = make_udp(pkt, &s, &d, 4500, KT_NAT_T_PORT, keepalive, sizeof(keepalive));
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_input(&ips, &x.pkt, &sa), KT_KEEPALIVE);
	len = make_udp(pkt, &s, &d, 61000, KT_NAT_T_PORT, ike, sizeof(ike));
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_input(&ips, &x.pkt, &sa), KT_IKE);
	assert_memory_equal(data(&x), pkt, len);
	assert_int_equal(drops_total(&ips.drops), 0);
	/* Neither: ESP in UDP, and too short for ESP. Not on 4500: cleartext. */
	len = make_udp(pkt, &s, &d, 4500, KT_NAT_T_PORT, two_ff, sizeof(two_ff));
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_input(&ips, &x.pkt, &sa), KT_ERR_MALFORMED);
	len = make_udp(pkt, &s, &d, 4500, 4501, keepalive, sizeof(keepalive));
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_input(&ips, &x.pkt, &sa), KT_ERR_POLICY);
	/* A UDP length that lies. */
	len = make_udp(pkt, &s, &d, 4500, KT_NAT_T_PORT, keepalive, sizeof(keepalive));
	pkt[20 + 5] = 200;
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_input(&ips, &x.pkt, &sa), KT_ERR_MALFORMED);
	assert_int_equal(ips.drops.malformed, 2);
	assert_int_equal(ips.drops.policy, 1);
	kt_ipsec_free(&ips);
}

static void test_esp_in_udp(void **state)
{
	static const struct scenario sc = { "tunnel ESP v4", KT_MODE_TUNNEL, P_ESP, 4, 4 };
	struct kt_addr s, d;
	struct net n;
	uint8_t pkt[256];
	struct buf x;
	struct kt_sa *sa;
	struct kt_ip_info ip;
	size_t len;
	(void)state;

	net_wire(&n, &sc);
	n.a.out_esp->p.encap = true;
	n.a.out_esp->p.encap_sport = KT_NAT_T_PORT;
	n.a.out_esp->p.encap_dport = KT_NAT_T_PORT;
	endpoints(&sc, 1, &s, &d);
	len = make_data(pkt, &s, &d, 40000);
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_output(&n.a.ips, &x.pkt, NULL), KT_SEALED);
	assert_int_equal(kt_ip_parse(data(&x), x.pkt.len, &ip), 0);
	assert_int_equal(ip.proto, KT_IPPROTO_UDP);
	assert_int_equal(ip.dport, KT_NAT_T_PORT);
	assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_DECAPPED);
	assert_ptr_equal(sa, n.b.in_esp);
	assert_memory_equal(data(&x), pkt, len);
	net_free(&n);
}

static void test_replay_auth_nosa_fragment_counted(void **state)
{
	static const struct scenario sc = { "tunnel AH+ESP v6", KT_MODE_TUNNEL, P_AH_ESP, 6, 6 };
	struct kt_addr s, d;
	struct net n;
	uint8_t pkt[256], wire[512];
	struct buf x;
	struct kt_sa *sa;
	size_t len, wlen;
	(void)state;

	net_wire(&n, &sc);
	endpoints(&sc, 1, &s, &d);
	len = make_data(pkt, &s, &d, 40000);
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_output(&n.a.ips, &x.pkt, NULL), KT_SEALED);
	wlen = x.pkt.len;
	memcpy(wire, data(&x), wlen);
	assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_DECAPPED);
	/* Replayed. */
	buf_load(&x, wire, wlen);
	assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_ERR_REPLAY);
	assert_ptr_equal(sa, n.b.in_ah);
	/* Changed in transit: the outer AH sees it. */
	buf_load(&x, wire, wlen);
	data(&x)[wlen - 1] ^= 1;
	data(&x)[40 + 10] ^= 1; /* fresh AH sequence number */
	assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_ERR_AUTH);
	/* Unknown SPI. */
	buf_load(&x, wire, wlen);
	data(&x)[40 + 4] ^= 0x80;
	assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_ERR_NO_SA);
	assert_null(sa);
	/* Outer fragment header (offset 8): reassembly comes first. */
	{
		uint8_t frag[600];
		memcpy(frag, wire, 40);
		frag[6] = KT_IPPROTO_FRAGMENT;
		frag[40] = KT_IPPROTO_AH, frag[41] = 0, frag[42] = 0, frag[43] = 8 << 3;
		memset(frag + 44, 0, 4);
		memcpy(frag + 48, wire + 40, wlen - 40);
		kt_ip_set_len(frag, wlen + 8);
		buf_load(&x, frag, wlen + 8);
		assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_ERR_FRAGMENT);
	}
	assert_int_equal(n.b.ips.drops.replay, 1);
	assert_int_equal(n.b.ips.drops.auth, 1);
	assert_int_equal(n.b.ips.drops.no_sa, 1);
	assert_int_equal(n.b.ips.drops.fragment, 1);
	assert_int_equal(drops_total(&n.b.ips.drops), 4);
	assert_int_equal(n.b.in_ah->stats.replay, 1);
	assert_int_equal(n.b.in_ah->stats.auth, 1);
	net_free(&n);
}

static void test_output_errors_counted(void **state)
{
	static const struct scenario sc = { "tunnel ESP v4", KT_MODE_TUNNEL, P_ESP, 4, 4 };
	struct kt_addr s, d;
	struct net n;
	uint8_t pkt[256];
	struct buf x;
	size_t len;
	(void)state;

	net_wire(&n, &sc);
	endpoints(&sc, 1, &s, &d);
	len = make_data(pkt, &s, &d, 40000);
	buf_load(&x, pkt, len);
	x.pkt.off = 8; /* no headroom for the outer header */
	memmove(data(&x), pkt, len);
	assert_int_equal(kt_ipsec_output(&n.a.ips, &x.pkt, NULL), KT_ERR_NOSPACE);
	buf_load(&x, pkt, len);
	x.pkt.len = 10; /* not a packet */
	assert_int_equal(kt_ipsec_output(&n.a.ips, &x.pkt, NULL), KT_ERR_MALFORMED);
	n.a.out_esp->seq = 0xffffffffULL;
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_output(&n.a.ips, &x.pkt, NULL), KT_ERR_EXHAUSTED);
	assert_int_equal(n.a.ips.drops.nospace, 1);
	assert_int_equal(n.a.ips.drops.malformed, 1);
	assert_int_equal(n.a.ips.drops.exhausted, 1);
	assert_int_equal(drops_total(&n.a.ips.drops), 3);
	net_free(&n);
}

/* Deterministic garbage: never a crash, every refusal counted. */
static uint32_t rng_state = 0x2545f491;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void test_garbage(void **state)
{
	static const struct scenario sc = { "tunnel AH+ESP v4", KT_MODE_TUNNEL, P_AH_ESP, 4, 4 };
	struct kt_addr s, d;
	struct net n;
	uint8_t pkt[256], wire[512];
	struct buf x;
	struct kt_sa *sa;
	size_t len, wlen, refused = 0;
	(void)state;

	net_wire(&n, &sc);
	endpoints(&sc, 1, &s, &d);
	len = make_data(pkt, &s, &d, 40000);
	buf_load(&x, pkt, len);
	assert_int_equal(kt_ipsec_output(&n.a.ips, &x.pkt, NULL), KT_SEALED);
	wlen = x.pkt.len;
	memcpy(wire, data(&x), wlen);
	/* Every truncation of a sealed packet: the IP length lies. */
	for (size_t cut = 0; cut < wlen; cut++) {
		buf_load(&x, wire, cut);
		assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_ERR_MALFORMED);
	}
	assert_int_equal(n.b.ips.drops.malformed, wlen);
	/* Random bytes, some dressed as IPv4/IPv6 AH or ESP. */
	for (int i = 0; i < 3000; i++) {
		uint8_t junk[300];
		size_t jl = rnd() % sizeof(junk);
		int rc;

		for (size_t k = 0; k < jl; k++)
			junk[k] = (uint8_t)rnd();
		if (i % 3 == 0 && jl >= 40) {
			memcpy(junk, wire, 20 + 12); /* a real header, garbage after */
			kt_ip_set_len(junk, jl);
		}
		buf_load(&x, junk, jl);
		rc = kt_ipsec_input(&n.b.ips, &x.pkt, &sa);
		assert_true(rc < 0 || rc == KT_IKE || rc == KT_KEEPALIVE);
		refused += rc < 0;
	}
	assert_int_equal(drops_total(&n.b.ips.drops), wlen + refused);
	/* The real packet still opens. */
	buf_load(&x, wire, wlen);
	assert_int_equal(kt_ipsec_input(&n.b.ips, &x.pkt, &sa), KT_DECAPPED);
	net_free(&n);
}

static void test_drops_count_table(void **state)
{
#define F(name) offsetof(struct kt_drops, name)
	static const struct {
		int err;
		size_t off;
	} MAP[] = {
		{ KT_ERR_MALFORMED, F(malformed) }, { KT_ERR_FRAGMENT, F(fragment) },
		{ KT_ERR_NO_SA, F(no_sa) },         { KT_ERR_REPLAY, F(replay) },
		{ KT_ERR_TOO_OLD, F(too_old) },     { KT_ERR_AUTH, F(auth) },
		{ KT_ERR_PADDING, F(padding) },     { KT_ERR_POLICY, F(policy) },
		{ KT_ERR_PROTO, F(proto) },         { KT_ERR_EXHAUSTED, F(exhausted) },
		{ KT_ERR_EXPIRED, F(expired) },     { KT_ERR_DUMMY, F(dummy) },
		{ KT_ERR_NOSPACE, F(nospace) },     { KT_ERR_DISCARD, F(discard) },
		{ KT_ERR_ACQUIRE, F(acquire) },     { KT_ERR_CRYPTO, F(crypto) },
	};
#undef F
	(void)state;
	for (size_t i = 0; i < sizeof(MAP) / sizeof(MAP[0]); i++) {
		struct kt_drops d = { 0 };
		uint64_t v;

		kt_drops_count(&d, MAP[i].err);
		kt_drops_count(&d, MAP[i].err);
		memcpy(&v, (const uint8_t *)&d + MAP[i].off, sizeof(v));
		assert_int_equal(v, 2);
		assert_int_equal(drops_total(&d), 2);
	}
	{
		struct kt_drops d = { 0 };
		kt_drops_count(&d, 0);
		kt_drops_count(&d, KT_SEALED);
		kt_drops_count(&d, KT_DECAPPED);
		assert_int_equal(drops_total(&d), 0);
	}
}

/* ---- Transport mode behind a NAT (RFC 3948 §3.1.2) ---- */

#define NAT_PORT 61000
#define TCP_LEN 40

/* Independent check: the pseudo-header laid out in memory beside the
 * segment, all summed; a correct checksum makes the sum all ones. */
static bool l4_csum_ok(const struct kt_addr *s, const struct kt_addr *d, uint8_t proto,
		       const uint8_t *seg, size_t len)
{
	uint8_t tmp[40 + 512 + 1] = { 0 };
	size_t al = s->version == 6 ? 16 : 4, n = 2 * al;
	uint64_t sum = 0;

	assert_true(len <= 512);
	memcpy(tmp, s->bytes, al);
	memcpy(tmp + al, d->bytes, al);
	if (s->version == 6) {
		tmp[n + 2] = (uint8_t)(len >> 8), tmp[n + 3] = (uint8_t)len, tmp[n + 7] = proto;
		n += 8;
	} else {
		tmp[n + 1] = proto, tmp[n + 2] = (uint8_t)(len >> 8), tmp[n + 3] = (uint8_t)len;
		n += 4;
	}
	memcpy(tmp + n, seg, len);
	for (size_t i = 0; i < n + len; i += 2)
		sum += (uint64_t)tmp[i] << 8 | tmp[i + 1];
	while (sum > 0xffff)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/* A TCP segment s:40000 -> d:22 with a correct checksum (or a wrong one). */
static size_t make_tcp(uint8_t *out, const struct kt_addr *s, const struct kt_addr *d, bool good)
{
	int h = kt_ip_build(out, s, d, KT_IPPROTO_TCP, TCP_LEN, 0, 64, 78);
	uint8_t *t = out + h;

	assert_true(h > 0);
	for (size_t i = 0; i < TCP_LEN; i++)
		t[i] = (uint8_t)(i * 13 + 5);
	t[0] = 0x9c, t[1] = 0x40, t[2] = 0, t[3] = 22;
	t[12] = 0x50, t[13] = 0x18; /* 20-byte header, PSH ACK */
	t[16] = t[17] = 0;
	for (unsigned c = 0; c <= 0xffff && !l4_csum_ok(s, d, KT_IPPROTO_TCP, t, TCP_LEN); c++)
		t[16] = (uint8_t)(c >> 8), t[17] = (uint8_t)c; /* found by search, not by kt_ip */
	assert_true(l4_csum_ok(s, d, KT_IPPROTO_TCP, t, TCP_LEN));
	if (!good)
		t[17] ^= 0x40;
	return (size_t)h + TCP_LEN;
}

/* A UDP datagram s:40000 -> d:5001 with a correct checksum (or 0 over IPv4). */
static size_t make_udp_csum(uint8_t *out, const struct kt_addr *s, const struct kt_addr *d,
			    bool zero)
{
	size_t len = make_data(out, s, d, 40000), h = kt_ip_hdr_len(s->version);
	uint8_t *u = out + h;

	if (!zero) {
		uint16_t c = kt_udp_csum(s, d, u, len - h);
		u[6] = (uint8_t)(c >> 8), u[7] = (uint8_t)c;
		assert_true(l4_csum_ok(s, d, KT_IPPROTO_UDP, u, len - h));
	}
	return len;
}

static struct kt_addr nat_addr(uint8_t v) { return addr(v == 4 ? "198.51.100.77" : "2001:db8:77::1"); }

/* A transport ESP pair A -> B; with encap, ESP in UDP 4500 -> 4500. B's
 * inbound SA takes any remote address: behind a NAT A's is not its own. */
static void nat_wire(struct net *n, uint8_t v, bool encap)
{
	const struct scenario sc = { "transport ESP", KT_MODE_TRANSPORT, P_ESP, v, v };

	net_wire(n, &sc);
	n->a.out_esp->p.encap = n->b.in_esp->p.encap = encap;
	n->a.out_esp->p.encap_sport = n->a.out_esp->p.encap_dport = KT_NAT_T_PORT;
	n->b.in_esp->p.encap_sport = n->b.in_esp->p.encap_dport = KT_NAT_T_PORT;
	n->b.in_esp->p.n_remote_ts = 0;
}

/* What a NAT in front of A does to the sealed packet: a new source address
 * (and UDP source port), with the outer checksums it knows about fixed. */
static void rewrite_src(uint8_t *p, const struct kt_addr *to)
{
	if (to->version == 4) {
		memcpy(p + 12, to->bytes, 4);
		kt_ip4_set_csum(p);
	} else {
		memcpy(p + 8, to->bytes, 16);
	}
}

static void nat_rewrite(uint8_t *p, size_t len, const struct kt_addr *to)
{
	struct kt_ip_info ip;

	assert_int_equal(kt_ip_parse(p, len, &ip), 0);
	rewrite_src(p, to);
	if (ip.proto != KT_IPPROTO_UDP)
		return;
	uint8_t *u = p + ip.hdr_len;
	u[0] = NAT_PORT >> 8, u[1] = NAT_PORT & 0xff;
	if (ip.version == 6) {
		u[6] = u[7] = 0;
		uint16_t c = kt_udp_csum(to, &ip.dst, u, ip.tot_len - ip.hdr_len);
		u[6] = (uint8_t)(c >> 8), u[7] = (uint8_t)c;
	}
}

/* Seal on A, pass the NAT, open on B; the packet B delivers. */
static void through_nat(struct net *n, const uint8_t *pkt, size_t len, struct buf *x)
{
	struct kt_addr nat = nat_addr(pkt[0] >> 4 == 4 ? 4 : 6);
	struct kt_sa *sa = NULL;

	buf_load(x, pkt, len);
	assert_int_equal(kt_ipsec_output(&n->a.ips, &x->pkt, NULL), KT_SEALED);
	nat_rewrite(data(x), x->pkt.len, &nat);
	assert_int_equal(kt_ipsec_input(&n->b.ips, &x->pkt, &sa), KT_DECAPPED);
	assert_ptr_equal(sa, n->b.in_esp);
	assert_int_equal(x->pkt.len, len);
	assert_int_equal(drops_total(&n->b.ips.drops), 0);
}

/* RFC 3948 §3.1.2: B recomputes the TCP/UDP checksum over the addresses
 * it received, so its stack accepts what A's computed over A's own. */
static void test_nat_transport_encap_fixes_csum(void **state)
{
	(void)state;
	for (uint8_t v = 4; v <= 6; v += 2) {
		for (int proto = 0; proto < 2; proto++) {
			uint8_t l4p = proto ? KT_IPPROTO_UDP : KT_IPPROTO_TCP;
			struct kt_addr s = gw(v, 1), d = gw(v, 2), nat = nat_addr(v);
			size_t h = kt_ip_hdr_len(v), at = h + (proto ? 6 : 16), len;
			uint8_t pkt[256];
			struct net n;
			struct buf x;
			struct kt_ip_info ip;

			print_message("v%u %s\n", v, proto ? "udp" : "tcp");
			nat_wire(&n, v, true);
			len = proto ? make_udp_csum(pkt, &s, &d, false) : make_tcp(pkt, &s, &d, true);
			/* Without the fix the stack would drop it. */
			assert_false(l4_csum_ok(&nat, &d, l4p, pkt + h, len - h));
			through_nat(&n, pkt, len, &x);
			assert_int_equal(kt_ip_parse(data(&x), x.pkt.len, &ip), 0);
			assert_true(kt_addr_equal(&ip.src, &nat));
			assert_true(kt_addr_equal(&ip.dst, &d));
			assert_int_equal(ip.proto, l4p);
			assert_true(l4_csum_ok(&nat, &d, l4p, data(&x) + h, len - h));
			/* Only the checksum changed in the transport header. */
			assert_memory_equal(data(&x) + h, pkt + h, at - h);
			assert_memory_equal(data(&x) + at + 2, pkt + at + 2, len - at - 2);
			net_free(&n);
		}
	}
}

/* IPv4 UDP with checksum 0 ("none") stays 0. */
static void test_nat_transport_encap_udp_zero(void **state)
{
	struct kt_addr s = gw(4, 1), d = gw(4, 2), nat = nat_addr(4);
	uint8_t pkt[256];
	struct net n;
	struct buf x;
	size_t len;
	(void)state;

	nat_wire(&n, 4, true);
	len = make_udp_csum(pkt, &s, &d, true);
	through_nat(&n, pkt, len, &x);
	rewrite_src(pkt, &nat);
	assert_memory_equal(data(&x), pkt, len);
	net_free(&n);
}

/* Without ESP in UDP the packet is delivered as the peer sent it (a 1:1
 * NAT rewrote the address; nothing in the transport header is touched). */
static void test_nat_transport_no_encap_untouched(void **state)
{
	(void)state;
	for (uint8_t v = 4; v <= 6; v += 2) {
		for (int proto = 0; proto < 2; proto++) {
			struct kt_addr s = gw(v, 1), d = gw(v, 2), nat = nat_addr(v);
			uint8_t pkt[256];
			struct net n;
			struct buf x;
			size_t len;

			nat_wire(&n, v, false);
			len = proto ? make_udp_csum(pkt, &s, &d, false) : make_tcp(pkt, &s, &d, true);
			through_nat(&n, pkt, len, &x);
			rewrite_src(pkt, &nat); /* the IP header as received */
			assert_memory_equal(data(&x), pkt, len);
			net_free(&n);
		}
	}
}

/* Tunnel mode over ESP in UDP: the inner packet is the peer's, byte for
 * byte, even a TCP checksum that is wrong. */
static void test_nat_tunnel_encap_untouched(void **state)
{
	static const struct scenario sc = { "tunnel ESP v4", KT_MODE_TUNNEL, P_ESP, 4, 4 };
	struct kt_addr s = lan_host(4, 1), d = lan_host(4, 2);
	uint8_t pkt[256];
	struct net n;
	struct buf x;
	size_t len;
	(void)state;

	net_wire(&n, &sc);
	n.a.out_esp->p.encap = n.b.in_esp->p.encap = true;
	n.a.out_esp->p.encap_sport = n.a.out_esp->p.encap_dport = KT_NAT_T_PORT;
	len = make_tcp(pkt, &s, &d, false);
	through_nat(&n, pkt, len, &x);
	assert_memory_equal(data(&x), pkt, len);
	net_free(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrips),
		cmocka_unit_test(test_no_rules_discard),
		cmocka_unit_test(test_acquire_and_discard_rules),
		cmocka_unit_test(test_bypass_both_ways),
		cmocka_unit_test(test_cleartext_on_protect_rule),
		cmocka_unit_test(test_inner_outside_selectors),
		cmocka_unit_test(test_bundle_members_alone),
		cmocka_unit_test(test_natt_classified),
		cmocka_unit_test(test_esp_in_udp),
		cmocka_unit_test(test_replay_auth_nosa_fragment_counted),
		cmocka_unit_test(test_output_errors_counted),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_drops_count_table),
		cmocka_unit_test(test_nat_transport_encap_fixes_csum),
		cmocka_unit_test(test_nat_transport_encap_udp_zero),
		cmocka_unit_test(test_nat_transport_no_encap_untouched),
		cmocka_unit_test(test_nat_tunnel_encap_untouched),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
