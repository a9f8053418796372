/* libFuzzer target for kt_esp_open. A static SAD (fixed keys, built once)
 * holds four inbound SAs. The first input byte picks the mode:
 *   even: the rest is a raw IP packet, opened as ESP or ESP in UDP;
 *   odd:  byte 1 picks an SA, bytes 2..5 the sequence number, and the rest
 *         is an arbitrary plaintext (payload + trailer) that this target
 *         authenticates with the matching outbound SA's transform, so the
 *         code after the ICV check sees attacker-chosen plaintext.
 * SA state (replay window, counters) is reset before each input so that
 * every input behaves the same when replayed alone. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/esp.h"
#include "core/ip.h"

#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

#define N_SA 4
#define MAX_PLAIN 4096

static const uint8_t ekey[36] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
	0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0xca, 0xfe, 0xba, 0xbe,
};
static const uint8_t ikey[32] = {
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
	0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
	0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
};

static struct kt_sad *in_sad, *out_sad;
static struct kt_sa *sa_in[N_SA], *sa_out[N_SA];

static struct kt_addr mkaddr(const char *s)
{
	struct kt_addr a;
	CHECK(kt_addr_parse(&a, s) == 0);
	return a;
}

/* 0: AES-128-GCM tunnel over IPv4, bound to its destination.
 * 1: AES-128-CBC + HMAC-SHA-256 transport over IPv6 with ESN.
 * 2: NULL + HMAC-SHA-256 tunnel over IPv6, bound to its destination.
 * 3: ChaCha20-Poly1305 tunnel over IPv4 in UDP (RFC 3948). */
static struct kt_sa_params sa_params(int i)
{
	bool v6 = i == 1 || i == 2;
	struct kt_sa_params p = {
		.spi = 0x1001 + (uint32_t)i, .proto = KT_IPPROTO_ESP,
		.mode = i == 1 ? KT_MODE_TRANSPORT : KT_MODE_TUNNEL, .dir = KT_DIR_OUT,
		.src = mkaddr(v6 ? "2001:db8::1" : "192.0.2.1"),
		.dst = mkaddr(v6 ? "2001:db8::2" : "192.0.2.2"),
		.esn = i == 1, .encap = i == 3,
		.encap_sport = KT_NAT_T_PORT, .encap_dport = KT_NAT_T_PORT,
	};
	struct kt_xform_params *x = &p.xf;
	switch (i) {
	case 0:
		*x = (struct kt_xform_params){ .encr = KT_ENCR_AES_GCM_16, .encr_key_bits = 128,
					       .encr_key = ekey, .encr_key_len = 20 };
		break;
	case 1:
		*x = (struct kt_xform_params){ .encr = KT_ENCR_AES_CBC, .encr_key_bits = 128,
					       .encr_key = ekey, .encr_key_len = 16 };
		break;
	case 2:
		*x = (struct kt_xform_params){ .encr = KT_ENCR_NULL };
		break;
	default:
		*x = (struct kt_xform_params){ .encr = KT_ENCR_CHACHA20_POLY1305,
					       .encr_key = ekey, .encr_key_len = 36 };
	}
	if (i == 1 || i == 2) {
		x->integ = KT_INTEG_HMAC_SHA2_256_128;
		x->integ_key = ikey;
		x->integ_key_len = sizeof(ikey);
	}
	return p;
}

static void setup(void)
{
	in_sad = kt_sad_new();
	out_sad = kt_sad_new();
	CHECK(in_sad && out_sad);
	for (int i = 0; i < N_SA; i++) {
		struct kt_sa_params p = sa_params(i);
		CHECK(kt_sad_add(out_sad, &p, 0, &sa_out[i]) == 0);
		p.dir = KT_DIR_IN;
		if (i == 1 || i == 3) /* these accept any destination */
			p.dst = (struct kt_addr){ 0 };
		CHECK(kt_sad_add(in_sad, &p, 0, &sa_in[i]) == 0);
	}
}

static void reset_sa(struct kt_sa *sa)
{
	memset(sa->replay.bitmap, 0, sa->replay.words * sizeof(*sa->replay.bitmap));
	sa->replay.top = 0;
	memset(&sa->stats, 0, sizeof(sa->stats));
	sa->soft_fired = sa->hard_fired = false;
}

static bool known_sa(const struct kt_sa *sa)
{
	for (int i = 0; i < N_SA; i++)
		if (sa == sa_in[i])
			return true;
	return false;
}

/* Open p (n bytes, in an exactly sized heap buffer so that any stray read
 * or write is caught) and check what comes back. */
static void open_checked(uint8_t *p, size_t n)
{
	struct kt_pkt pkt = { .head = p, .cap = n, .off = 0, .len = n };
	struct kt_ip_info ip, out;
	struct kt_sa *sa = (struct kt_sa *)&pkt;

	if (kt_ip_parse(p, n, &ip) < 0)
		return;
	if (ip.proto != KT_IPPROTO_ESP && ip.proto != KT_IPPROTO_UDP)
		return;
	int err = kt_esp_open(in_sad, &pkt, &ip, ip.proto == KT_IPPROTO_UDP, &sa);
	CHECK(sa == NULL || known_sa(sa));
	/* The SA is reported whenever it was found: only a missing SA and
	 * framing errors before the lookup leave it NULL. */
	if (err == KT_ERR_NO_SA)
		CHECK(sa == NULL);
	else if (err != KT_ERR_MALFORMED)
		CHECK(sa != NULL);
	if (err != 0)
		return;
	CHECK(pkt.off <= n && pkt.len <= n - pkt.off);
	CHECK(sa->stats.packets == 1 && sa->stats.bytes == pkt.len);
	if (sa->p.mode == KT_MODE_TUNNEL) {
		CHECK(kt_ip_parse(kt_pkt_data(&pkt), pkt.len, &out) == 0);
		CHECK(out.tot_len == pkt.len);
	} else {
		CHECK(kt_pkt_data(&pkt)[0] >> 4 == ip.version);
		CHECK(pkt.len >= ip.hdr_len);
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Frame and authenticate plain[0..len) as an ESP packet of SA i. */
static void seal_and_open(int i, uint32_t seq, const uint8_t *plain, size_t len)
{
	struct kt_sa *sa = sa_out[i];
	const struct kt_xform *x = &sa->xf;
	size_t udp = sa->p.encap ? KT_UDP_HDR_LEN : 0;
	size_t hl = kt_ip_hdr_len(sa->p.dst.version);
	size_t esp_len = KT_ESP_HDR_LEN + x->iv_len + len + x->icv_len;
	size_t n = hl + udp + esp_len;
	uint8_t *p = malloc(n);

	CHECK(p);
	CHECK(kt_ip_build(p, &sa->p.src, &sa->p.dst, udp ? KT_IPPROTO_UDP : KT_IPPROTO_ESP,
			  udp + esp_len, 0, 64, 0) == (int)hl);
	if (udp) {
		memset(p + hl, 0, udp);
		p[hl + 4] = (uint8_t)((udp + esp_len) >> 8);
		p[hl + 5] = (uint8_t)(udp + esp_len);
	}
	uint8_t *e = p + hl + udp;
	put32(e, sa->p.spi);
	put32(e + 4, seq);
	memcpy(e + KT_ESP_HDR_LEN + x->iv_len, plain, len);
	struct kt_xform_io io = {
		.hdr = e, .seq = seq, .esn = sa->p.esn, .iv = e + KT_ESP_HDR_LEN,
		.data = e + KT_ESP_HDR_LEN + x->iv_len, .len = len,
	};
	io.icv = io.data + len;
	CHECK(kt_xform_seal(&sa_out[i]->xf, &io) == 0);
	open_checked(p, n);
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!in_sad)
		setup();
	for (int i = 0; i < N_SA; i++)
		reset_sa(sa_in[i]);
	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		uint8_t *p = malloc(size - 1 ? size - 1 : 1);
		CHECK(p);
		memcpy(p, data + 1, size - 1);
		open_checked(p, size - 1);
		free(p);
		return 0;
	}
	if (size < 6)
		return 0;
	int i = data[1] % N_SA;
	/* Sequence number 0 is never sent (RFC 4303 §3.3.3); anything else is
	 * fresh after the reset. */
	uint32_t seq = (uint32_t)data[2] << 24 | (uint32_t)data[3] << 16 |
		       (uint32_t)data[4] << 8 | data[5];
	size_t len = size - 6, bs = sa_out[i]->xf.block_size;
	if (len > MAX_PLAIN)
		len = MAX_PLAIN;
	len -= len % bs;
	if (len < KT_ESP_TRAILER_LEN)
		return 0;
	seal_and_open(i, seq ? seq : 1, data + 6, len);
	return 0;
}
