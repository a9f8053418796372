/* Fuzz target for AH verification and removal (kt_ah_open). The first byte
 * picks the mode. Even: the rest is a raw packet, parsed and opened against
 * fixed inbound AH SAs (IPv4/IPv6, tunnel/transport, ESN). Odd: the rest is
 * a packet body, tweaked into a parseable IP packet and sealed (kt_ah_seal)
 * with an outbound SA sharing the keys of an inbound one, of the same or the
 * other mode, so the code after the ICV check sees attacker-chosen content.
 * A matching pair must give the packet back unchanged. SAs are created per
 * input so that every run is reproducible. */
#include <stdlib.h>
#include <string.h>

#include "core/ah.h"
#include "core/err.h"
#include "core/ip.h"

#define MAX_PKT 65535
#define KEY_LEN 64

struct sa_def {
	uint32_t spi;
	uint8_t mode, v;
	uint16_t integ;
	bool esn;
};

static const struct sa_def DEFS[] = {
	{ 0x100, KT_MODE_TRANSPORT, 4, KT_INTEG_HMAC_SHA2_256_128, false },
	{ 0x200, KT_MODE_TUNNEL, 4, KT_INTEG_HMAC_SHA1_96, false },
	{ 0x300, KT_MODE_TRANSPORT, 6, KT_INTEG_HMAC_SHA2_384_192, true },
	{ 0x400, KT_MODE_TUNNEL, 6, KT_INTEG_HMAC_SHA2_512_256, true },
};
#define N_DEFS (sizeof(DEFS) / sizeof(DEFS[0]))

static uint8_t buf[KT_PKT_HEADROOM + MAX_PKT + KT_PKT_TAILROOM];
static uint8_t orig[MAX_PKT];

static struct kt_addr gw(uint8_t v, int which)
{
	struct kt_addr a = { .version = v };

	if (v == 4) {
		a.bytes[0] = 192, a.bytes[1] = 0, a.bytes[2] = 2, a.bytes[3] = (uint8_t)which;
	} else {
		a.bytes[0] = 0x20, a.bytes[1] = 0x01, a.bytes[2] = 0x0d, a.bytes[3] = 0xb8;
		a.bytes[15] = (uint8_t)which;
	}
	return a;
}

static void sa_params(struct kt_sa_params *p, const struct sa_def *d, uint8_t dir, uint8_t mode,
		      const uint8_t *key)
{
	memset(p, 0, sizeof(*p));
	p->spi = d->spi;
	p->proto = KT_IPPROTO_AH;
	p->mode = mode;
	p->dir = dir;
	p->esn = d->esn;
	p->xf.integ = d->integ;
	p->xf.integ_key = key;
	p->xf.integ_key_len = (size_t)kt_integ_key_len(d->integ);
	p->xf.allow_legacy = true;
	p->src = gw(d->v, 1);
	if (dir == KT_DIR_OUT)
		p->dst = gw(d->v, 2); /* inbound: any destination */
}

static void key_for(uint8_t *key, uint32_t spi)
{
	for (size_t i = 0; i < KEY_LEN; i++)
		key[i] = (uint8_t)(spi * 31 + i * 7);
}

static struct kt_sad *inbound_sad(void)
{
	struct kt_sad *sad = kt_sad_new();
	uint8_t key[KEY_LEN];
	struct kt_sa_params p;

	if (!sad)
		abort();
	for (size_t i = 0; i < N_DEFS; i++) {
		key_for(key, DEFS[i].spi);
		sa_params(&p, &DEFS[i], KT_DIR_IN, DEFS[i].mode, key);
		if (kt_sad_add(sad, &p, 0, NULL) != 0)
			abort();
	}
	return sad;
}

static void check_bounds(const struct kt_pkt *pkt)
{
	if (pkt->off > pkt->cap || pkt->len > pkt->cap - pkt->off)
		abort();
}

static void run_raw(struct kt_sad *sad, const uint8_t *d, size_t n)
{
	struct kt_pkt pkt = { buf, sizeof(buf), KT_PKT_HEADROOM, n };
	struct kt_ip_info ip;
	struct kt_sa *sa;

	memcpy(buf + KT_PKT_HEADROOM, d, n);
	if (kt_ip_parse(kt_pkt_data(&pkt), pkt.len, &ip))
		return;
	if (kt_ah_open(sad, &pkt, &ip, &sa) == 0)
		check_bounds(&pkt);
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

/* sel: bits 0-1 the inbound SA, bit 2 seal in the other mode, bit 3 IPv6
 * body. */
static void run_sealed(struct kt_sad *sad_in, const uint8_t *d, size_t n)
{
	const struct sa_def *def = &DEFS[d[0] & 3];
	bool swap = d[0] & 4;
	uint8_t v = d[0] & 8 ? 6 : 4, key[KEY_LEN];
	uint8_t mode = swap ? (uint8_t)(KT_MODE_TRANSPORT + KT_MODE_TUNNEL - def->mode) : def->mode;
	struct kt_pkt pkt = { buf, sizeof(buf), KT_PKT_HEADROOM, n - 1 };
	struct kt_sad *sad_out = kt_sad_new();
	struct kt_sa_params p;
	struct kt_sa *out, *sa;
	struct kt_ip_info ip;
	int rc;

	if (!sad_out)
		abort();
	key_for(key, def->spi);
	sa_params(&p, def, KT_DIR_OUT, mode, key);
	if (kt_sad_add(sad_out, &p, 0, &out) != 0)
		abort();
	memcpy(orig, d + 1, n - 1);
	if (!tweak(orig, n - 1, v) || kt_ip_parse(orig, n - 1, &ip))
		goto done;
	memcpy(buf + KT_PKT_HEADROOM, orig, n - 1);
	if (kt_ah_seal(sad_out, out, &pkt) != 0)
		goto done;
	if (kt_ip_parse(kt_pkt_data(&pkt), pkt.len, &ip))
		abort(); /* we sealed it: it must parse */
	rc = kt_ah_open(sad_in, &pkt, &ip, &sa);
	check_bounds(&pkt);
	if (!swap && (rc != 0 || pkt.len != n - 1 || memcmp(kt_pkt_data(&pkt), orig, n - 1) != 0))
		abort(); /* a matching SA pair must give the packet back */
done:
	kt_sad_del(sad_out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_sad *sad;

	if (size < 2 || size - 1 > MAX_PKT)
		return 0;
	sad = inbound_sad();
	if (data[0] & 1)
		run_sealed(sad, data + 1, size - 1);
	else
		run_raw(sad, data + 1, size - 1);
	kt_sad_del(sad);
	return 0;
}
