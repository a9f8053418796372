/* Fuzz target for the inbound pipeline (kt_ipsec_input): a receiver with SPD
 * rules and inbound ESP and AH SAs (tunnel, transport, an AH+ESP bundle,
 * ESP in UDP in tunnel and transport mode, ESN). The first byte picks the
 * mode. 7 (mod 8): the rest is a raw packet. Otherwise the rest is a packet
 * body, tweaked into a parseable IP packet and sealed by the sender's
 * matching outbound SAs (one of the stacks below), so decapsulation,
 * nesting, bundle rules, the selector check and the transport checksum fix
 * see attacker-chosen inner packets. A packet that comes out KT_DECAPPED
 * must be the one that went in (with its TCP/UDP/ICMPv6 checksum
 * recomputed after transport ESP in UDP). Both ends are created per input
 * so that every run is reproducible. */
#include <stdlib.h>
#include <string.h>

#include "core/ah.h"
#include "core/err.h"
#include "core/esp.h"
#include "core/ipsec.h"

#define MAX_PKT 65535
#define KEY_LEN 64

struct sa_def {
	uint32_t spi;
	uint8_t proto, mode, v;
	uint16_t encr, encr_bits, integ;
	bool esn, bundled, encap, selectors;
};

static const struct sa_def DEFS[] = {
	/* 0 */ { 0x1001, KT_IPPROTO_ESP, KT_MODE_TUNNEL, 4, KT_ENCR_AES_GCM_16, 128, 0,
		  false, false, false, true },
	/* 1 */ { 0x1002, KT_IPPROTO_ESP, KT_MODE_TRANSPORT, 6, KT_ENCR_AES_CBC, 128,
		  KT_INTEG_HMAC_SHA2_256_128, false, false, false, false },
	/* 2 */ { 0x1003, KT_IPPROTO_ESP, KT_MODE_TUNNEL, 4, KT_ENCR_AES_GCM_16, 256, 0,
		  true, true, false, true },
	/* 3 */ { 0x2001, KT_IPPROTO_AH, KT_MODE_TRANSPORT, 4, KT_ENCR_NONE, 0,
		  KT_INTEG_HMAC_SHA2_256_128, true, true, false, true },
	/* 4 */ { 0x2002, KT_IPPROTO_AH, KT_MODE_TUNNEL, 6, KT_ENCR_NONE, 0,
		  KT_INTEG_HMAC_SHA2_384_192, true, false, false, true },
	/* 5 */ { 0x1004, KT_IPPROTO_ESP, KT_MODE_TUNNEL, 4, KT_ENCR_CHACHA20_POLY1305, 0, 0,
		  false, false, true, true },
	/* 6 */ { 0x2003, KT_IPPROTO_AH, KT_MODE_TRANSPORT, 6, KT_ENCR_NONE, 0,
		  KT_INTEG_HMAC_SHA2_512_256, false, false, false, false },
	/* 7 */ { 0x1005, KT_IPPROTO_ESP, KT_MODE_TRANSPORT, 4, KT_ENCR_AES_GCM_16, 128, 0,
		  false, false, true, false },
};
#define N_DEFS (sizeof(DEFS) / sizeof(DEFS[0]))

/* What the sender applies, innermost first; -1 ends a stack. */
static const int STACKS[7][3] = {
	{ 0, -1, -1 }, /* ESP tunnel */
	{ 1, -1, -1 }, /* ESP transport */
	{ 2, 3, -1 },  /* AH+ESP bundle */
	{ 4, -1, -1 }, /* AH tunnel, ESN */
	{ 5, -1, -1 }, /* ESP in UDP */
	{ 1, 6, -1 },  /* nested transport: ESP inside AH, not a bundle */
	{ 2, -1, -1 }, /* bundle member alone */
};
/* Stack 4 with bit 16 of the first byte: ESP in UDP, transport mode. */
static const int ENCAP_TRANSPORT[3] = { 7, -1, -1 };
#define ENCAP_TRANSPORT_BIT 16

static uint8_t buf[KT_PKT_HEADROOM + MAX_PKT + KT_PKT_TAILROOM];
static uint8_t orig[MAX_PKT], want[MAX_PKT];

static void put_addr(struct kt_addr *a, uint8_t v, uint8_t net, uint8_t host)
{
	memset(a, 0, sizeof(*a));
	a->version = v;
	if (v == 4) {
		a->bytes[0] = net == 0 ? 192 : 10;
		a->bytes[1] = net == 0 ? 0 : net;
		a->bytes[2] = net == 0 ? 2 : 0;
		a->bytes[3] = host;
	} else {
		a->bytes[0] = 0x20, a->bytes[1] = 0x01, a->bytes[2] = 0x0d, a->bytes[3] = 0xb8;
		a->bytes[5] = net;
		a->bytes[15] = host;
	}
}

/* Subnet `net` (1: sender's, 2: receiver's) as a selector. */
static struct kt_ts subnet(uint8_t v, uint8_t net)
{
	struct kt_addr a;
	struct kt_ts t;

	put_addr(&a, v, net, 0);
	if (kt_ts_from_prefix(&t, &a, v == 4 ? 16 : 48) != 0)
		abort();
	return t;
}

static void sa_params(struct kt_sa_params *p, const struct sa_def *d, uint8_t dir,
		      const uint8_t *key)
{
	memset(p, 0, sizeof(*p));
	p->spi = d->spi;
	p->proto = d->proto;
	p->mode = d->mode;
	p->dir = dir;
	p->esn = d->esn;
	p->bundled = d->bundled && dir == KT_DIR_IN;
	p->encap = d->encap;
	p->encap_sport = p->encap_dport = KT_NAT_T_PORT;
	p->xf.encr = d->encr;
	p->xf.encr_key_bits = d->encr_bits;
	p->xf.integ = d->integ;
	if (d->encr != KT_ENCR_NONE) {
		p->xf.encr_key = key;
		p->xf.encr_key_len = (size_t)kt_encr_key_len(d->encr, d->encr_bits);
	}
	if (d->integ != KT_INTEG_NONE) {
		p->xf.integ_key = key + 16;
		p->xf.integ_key_len = (size_t)kt_integ_key_len(d->integ);
	}
	/* Outer addresses: sender .1, receiver .2 (192.0.2.0/24, 2001:db8::/48).
	 * Inbound transport SAs take any destination, so bodies of either
	 * family reach them. */
	put_addr(&p->src, d->v, 0, 1);
	put_addr(&p->dst, d->v, 0, 2);
	if (dir == KT_DIR_IN && d->mode == KT_MODE_TRANSPORT)
		memset(&p->dst, 0, sizeof(p->dst));
	if (d->selectors) {
		/* Receiver's view: local is its subnet. */
		for (uint8_t v = 4, i = 0; v <= 6; v += 2, i++) {
			p->local_ts[i] = subnet(v, dir == KT_DIR_IN ? 2 : 1);
			p->remote_ts[i] = subnet(v, dir == KT_DIR_IN ? 1 : 2);
		}
		p->n_local_ts = p->n_remote_ts = 2;
	}
}

static void key_for(uint8_t *key, uint32_t spi)
{
	for (size_t i = 0; i < KEY_LEN + 16; i++)
		key[i] = (uint8_t)(spi * 13 + i * 5);
}

/* Receiver: all inbound SAs, PROTECT between the subnets, BYPASS for
 * ICMPv6, nothing else. Sender: the outbound twins. */
static void setup(struct kt_ipsec *rx, struct kt_sad **tx, struct kt_sa **out)
{
	uint8_t key[KEY_LEN + 16];
	struct kt_sa_params p;
	struct kt_spd_rule r = { .action = KT_ACT_PROTECT };
	uint32_t id;

	*tx = kt_sad_new();
	if (!*tx || kt_ipsec_init(rx) != 0)
		abort();
	for (size_t i = 0; i < N_DEFS; i++) {
		key_for(key, DEFS[i].spi);
		sa_params(&p, &DEFS[i], KT_DIR_IN, key);
		if (kt_sad_add(rx->sad, &p, 0, NULL) != 0)
			abort();
		sa_params(&p, &DEFS[i], KT_DIR_OUT, key);
		if (kt_sad_add(*tx, &p, 0, &out[i]) != 0)
			abort();
	}
	for (uint8_t v = 4; v <= 6; v += 2) {
		r.local = subnet(v, 2);
		r.remote = subnet(v, 1);
		if (kt_spd_add(rx->spd, &r, &id) != 0)
			abort();
	}
	r.action = KT_ACT_BYPASS;
	if (kt_ts_parse(&r.local, "::/0[ipv6-icmp]") != 0 || kt_ts_parse(&r.remote, "::/0") != 0 ||
	    kt_spd_add(rx->spd, &r, &id) != 0)
		abort();
}

/* Make p[0..n) an IP packet of version v whose length fields say n. */
static bool tweak(uint8_t *p, size_t n, uint8_t v)
{
	if (v == 4) {
		size_t ihl = (p[0] & 0x0f) < 5 ? 5 : p[0] & 0x0f;

		if (n < ihl * 4)
			return false;
		p[0] = (uint8_t)(0x40 | ihl);
		p[2] = (uint8_t)(n >> 8), p[3] = (uint8_t)n;
		kt_ip4_set_csum(p);
		return true;
	}
	if (n <= KT_IPV6_HDR_LEN)
		return false;
	p[0] = (uint8_t)(0x60 | (p[0] & 0x0f));
	p[4] = (uint8_t)((n - KT_IPV6_HDR_LEN) >> 8), p[5] = (uint8_t)(n - KT_IPV6_HDR_LEN);
	return true;
}

/* Seal with the stack's SAs, innermost first; false if any refuses. */
static bool seal_stack(struct kt_sad *tx, struct kt_sa **out, const int *stack, struct kt_pkt *pkt)
{
	for (int i = 0; i < 3 && stack[i] >= 0; i++) {
		struct kt_sa *sa = out[stack[i]];
		int rc = sa->p.proto == KT_IPPROTO_ESP ? kt_esp_seal(tx, sa, pkt)
						       : kt_ah_seal(tx, sa, pkt);
		if (rc != 0)
			return false;
	}
	return true;
}

static void check(const struct kt_pkt *pkt, int rc, const uint8_t *want, size_t want_len)
{
	if (pkt->off > pkt->cap || pkt->len > pkt->cap - pkt->off)
		abort();
	if (want && rc == KT_DECAPPED &&
	    (pkt->len != want_len || memcmp(kt_pkt_data(pkt), want, want_len) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_ipsec rx;
	struct kt_sad *tx;
	struct kt_sa *out[N_DEFS], *sa;
	struct kt_pkt pkt = { buf, sizeof(buf), KT_PKT_HEADROOM, 0 };
	struct kt_ip_info ip;
	size_t n;

	if (size < 1 || size - 1 > MAX_PKT)
		return 0;
	n = size - 1;
	setup(&rx, &tx, out);
	memcpy(orig, data + 1, n);
	if (data[0] % 8 == 7) {
		memcpy(buf + KT_PKT_HEADROOM, orig, n);
		pkt.len = n;
		check(&pkt, kt_ipsec_input(&rx, &pkt, &sa), NULL, 0);
	} else if (tweak(orig, n, data[0] & 8 ? 6 : 4) && kt_ip_parse(orig, n, &ip) == 0) {
		const int *stack = STACKS[data[0] % 8];

		memcpy(buf + KT_PKT_HEADROOM, orig, n);
		memcpy(want, orig, n);
		pkt.len = n;
		if (data[0] % 8 == 4 && data[0] & ENCAP_TRANSPORT_BIT) {
			stack = ENCAP_TRANSPORT;
			(void)kt_ip_fix_l4_csum(want, n);
		}
		/* A body that is itself ESP or AH (a sealed seed, mutated) may be
		 * opened too after a transport-mode layer: then the result is
		 * not the body, and only the bounds are checked. */
		bool nested = ip.proto == KT_IPPROTO_ESP || ip.proto == KT_IPPROTO_AH;
		if (seal_stack(tx, out, stack, &pkt))
			check(&pkt, kt_ipsec_input(&rx, &pkt, &sa), nested ? NULL : want, n);
	}
	kt_ipsec_free(&rx);
	kt_sad_del(tx);
	return 0;
}
