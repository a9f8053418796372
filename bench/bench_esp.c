/* ESP seal+open throughput on one core, beside the same AEAD or
 * cipher+HMAC done directly through OpenSSL EVP in the same run. Rounds of
 * the two alternate so that noise from the machine hits both alike; the
 * table shows the median of each and their ratio. */
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/esp.h"
#include "core/ip.h"

#define ROUNDS 7
#define ROUND_NS 80000000ULL /* 80 ms per measurement */
#define MAX_PAYLOAD 1500

struct alg {
	const char *name;
	uint16_t encr, key_bits, integ;
	const char *evp_cipher, *evp_digest; /* raw baseline */
};

static const struct alg algs[] = {
	{"aes128gcm16", KT_ENCR_AES_GCM_16, 128, KT_INTEG_NONE, "AES-128-GCM", NULL},
	{"aes256gcm16", KT_ENCR_AES_GCM_16, 256, KT_INTEG_NONE, "AES-256-GCM", NULL},
	{"chacha20poly1305", KT_ENCR_CHACHA20_POLY1305, 0, KT_INTEG_NONE, "ChaCha20-Poly1305", NULL},
	{"aes128-sha256", KT_ENCR_AES_CBC, 128, KT_INTEG_HMAC_SHA2_256_128, "AES-128-CBC", "SHA256"},
	{"aes256-sha256", KT_ENCR_AES_CBC, 256, KT_INTEG_HMAC_SHA2_256_128, "AES-256-CBC", "SHA256"},
	{"aes256-sha384", KT_ENCR_AES_CBC, 256, KT_INTEG_HMAC_SHA2_384_192, "AES-256-CBC", "SHA384"},
	{"aes256-sha512", KT_ENCR_AES_CBC, 256, KT_INTEG_HMAC_SHA2_512_256, "AES-256-CBC", "SHA512"},
	{"null-sha256", KT_ENCR_NULL, 0, KT_INTEG_HMAC_SHA2_256_128, NULL, "SHA256"},
};
static const size_t sizes[] = {64, 512, 1400};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_esp: %s\n", what);
	exit(1);
}

/* ---- kotetsu: tunnel-mode SA pair, seal then open in place ---- */

struct kt_side {
	struct kt_sad *sad;
	struct kt_sa *out, *in;
	uint8_t buf[KT_PKT_HEADROOM + MAX_PAYLOAD + KT_PKT_TAILROOM];
	size_t len;
};

static void kt_setup(struct kt_side *s, const struct alg *a, size_t payload)
{
	static const uint8_t key[KT_XFORM_MAX_KEY] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	struct kt_sa_params p = {0};
	p.spi = 0x1000;
	p.proto = KT_IPPROTO_ESP;
	p.mode = KT_MODE_TUNNEL;
	kt_addr_parse(&p.src, "192.0.2.1");
	kt_addr_parse(&p.dst, "192.0.2.2");
	p.xf.encr = a->encr;
	p.xf.encr_key_bits = a->key_bits;
	p.xf.encr_key = key;
	p.xf.encr_key_len = (size_t)kt_encr_key_len(a->encr, a->key_bits);
	p.xf.integ = a->integ;
	p.xf.integ_key = key;
	p.xf.integ_key_len = a->integ ? (size_t)kt_integ_key_len(a->integ) : 0;
	s->sad = kt_sad_new();
	if (!s->sad)
		die("out of memory");
	p.dir = KT_DIR_OUT;
	if (kt_sad_add(s->sad, &p, 0, &s->out))
		die("cannot add outbound SA");
	p.dir = KT_DIR_IN;
	if (kt_sad_add(s->sad, &p, 0, &s->in))
		die("cannot add inbound SA");
	struct kt_addr a1, a2;
	kt_addr_parse(&a1, "10.1.0.1");
	kt_addr_parse(&a2, "10.2.0.1");
	uint8_t *pkt = s->buf + KT_PKT_HEADROOM;
	memset(pkt, 0xab, payload);
	kt_ip_build(pkt, &a1, &a2, KT_IPPROTO_UDP, payload - KT_IPV4_HDR_MIN, 0, 64, 1);
	s->len = payload;
}

static void kt_round_trip(struct kt_side *s)
{
	struct kt_pkt pkt = {s->buf, sizeof(s->buf), KT_PKT_HEADROOM, s->len};
	struct kt_ip_info ip;
	struct kt_sa *sa;
	if (kt_esp_seal(s->sad, s->out, &pkt))
		die("seal failed");
	if (kt_ip_parse(kt_pkt_data(&pkt), pkt.len, &ip) || kt_esp_open(s->sad, &pkt, &ip, false, &sa))
		die("open failed");
}

/* ---- raw EVP: the same construction with no ESP framing ---- */

struct raw_side {
	EVP_CIPHER_CTX *enc, *dec;
	EVP_MAC_CTX *mac;
	size_t icv_len, iv_len;
	bool aead;
	uint8_t buf[MAX_PAYLOAD + 64];
	size_t len;
	uint64_t seq;
};

static void raw_setup(struct raw_side *r, const struct alg *a, size_t payload)
{
	static const uint8_t key[64] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	memset(r, 0, sizeof(*r));
	r->aead = a->integ == KT_INTEG_NONE;
	if (a->evp_cipher) {
		EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, a->evp_cipher, NULL);
		r->enc = EVP_CIPHER_CTX_new();
		r->dec = EVP_CIPHER_CTX_new();
		if (!c || !r->enc || !r->dec)
			die("EVP cipher");
		EVP_EncryptInit_ex2(r->enc, c, key, NULL, NULL);
		EVP_DecryptInit_ex2(r->dec, c, key, NULL, NULL);
		EVP_CIPHER_CTX_set_padding(r->enc, 0);
		EVP_CIPHER_CTX_set_padding(r->dec, 0);
		r->iv_len = r->aead ? 12 : 16;
		EVP_CIPHER_free(c);
	}
	if (a->evp_digest) {
		EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
		OSSL_PARAM prm[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
								     (char *)a->evp_digest, 0),
				    OSSL_PARAM_construct_end()};
		r->mac = EVP_MAC_CTX_new(m);
		if (!r->mac || !EVP_MAC_init(r->mac, key, (size_t)kt_integ_key_len(a->integ), prm))
			die("EVP MAC");
		r->icv_len = EVP_MAC_CTX_get_mac_size(r->mac) / 2;
		EVP_MAC_free(m);
	} else {
		r->icv_len = 16;
	}
	/* The same bytes ESP encrypts: payload + pad + trailer, aligned. */
	size_t block = a->evp_cipher && !r->aead ? 16 : 4;
	r->len = (payload + 2 + block - 1) / block * block;
	memset(r->buf, 0xab, sizeof(r->buf));
}

static void raw_aead(struct raw_side *r)
{
	uint8_t nonce[12] = {0}, aad[8] = {0}, tag[16];
	int n;
	memcpy(nonce + 4, &r->seq, 8);
	memcpy(aad + 4, &r->seq, 4);
	r->seq++;
	if (!EVP_EncryptInit_ex(r->enc, NULL, NULL, NULL, nonce) ||
	    !EVP_EncryptUpdate(r->enc, NULL, &n, aad, 8) ||
	    !EVP_EncryptUpdate(r->enc, r->buf, &n, r->buf, (int)r->len) ||
	    !EVP_EncryptFinal_ex(r->enc, r->buf + r->len, &n) ||
	    !EVP_CIPHER_CTX_ctrl(r->enc, EVP_CTRL_AEAD_GET_TAG, 16, tag))
		die("raw seal");
	if (!EVP_DecryptInit_ex(r->dec, NULL, NULL, NULL, nonce) ||
	    !EVP_DecryptUpdate(r->dec, NULL, &n, aad, 8) ||
	    !EVP_DecryptUpdate(r->dec, r->buf, &n, r->buf, (int)r->len) ||
	    !EVP_CIPHER_CTX_ctrl(r->dec, EVP_CTRL_AEAD_SET_TAG, 16, tag) ||
	    EVP_DecryptFinal_ex(r->dec, r->buf + r->len, &n) <= 0)
		die("raw open");
}

static void raw_mac(struct raw_side *r, const uint8_t *iv, uint8_t *out)
{
	uint8_t full[64], hdr[8] = {0};
	size_t n;
	if (!EVP_MAC_init(r->mac, NULL, 0, NULL) || !EVP_MAC_update(r->mac, hdr, 8) ||
	    !EVP_MAC_update(r->mac, iv, r->iv_len) || !EVP_MAC_update(r->mac, r->buf, r->len) ||
	    !EVP_MAC_final(r->mac, full, &n, sizeof(full)))
		die("raw mac");
	memcpy(out, full, r->icv_len);
}

static void raw_cbc_hmac(struct raw_side *r)
{
	uint8_t iv[16], icv[32], check[32];
	int n;
	/* CBC needs an unpredictable IV (RFC 3602 §2): both sides pay for it. */
	if (r->enc && RAND_bytes(iv, (int)r->iv_len) != 1)
		die("RAND_bytes");
	if (r->enc && (!EVP_EncryptInit_ex(r->enc, NULL, NULL, NULL, iv) ||
		       !EVP_EncryptUpdate(r->enc, r->buf, &n, r->buf, (int)r->len)))
		die("raw encrypt");
	raw_mac(r, iv, icv);
	raw_mac(r, iv, check);
	if (CRYPTO_memcmp(icv, check, r->icv_len))
		die("raw verify");
	if (r->dec && (!EVP_DecryptInit_ex(r->dec, NULL, NULL, NULL, iv) ||
		       !EVP_DecryptUpdate(r->dec, r->buf, &n, r->buf, (int)r->len)))
		die("raw decrypt");
}

/* ---- measurement ---- */

static double measure(void (*fn)(void *), void *arg, size_t payload)
{
	uint64_t start = now_ns(), n = 0, t;
	do {
		for (int i = 0; i < 64; i++)
			fn(arg);
		n += 64;
		t = now_ns() - start;
	} while (t < ROUND_NS);
	return (double)n * (double)payload / ((double)t / 1e9) / 1e6; /* MB/s */
}

static void kt_fn(void *arg) { kt_round_trip(arg); }
static void raw_fn(void *arg)
{
	struct raw_side *r = arg;
	if (r->aead)
		raw_aead(r);
	else
		raw_cbc_hmac(r);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static void bench_one(const struct alg *a, size_t payload)
{
	static struct kt_side k;
	static struct raw_side r;
	double kv[ROUNDS], rv[ROUNDS];
	kt_setup(&k, a, payload);
	raw_setup(&r, a, payload);
	for (int i = 0; i < ROUNDS; i++) {
		kv[i] = measure(kt_fn, &k, payload);
		rv[i] = measure(raw_fn, &r, payload);
	}
	double km = median(kv, ROUNDS), rm = median(rv, ROUNDS);
	printf("%-18s %6zu %12.1f %12.1f %8.2f\n", a->name, payload, km, rm, km / rm);
	kt_sad_del(k.sad);
	EVP_CIPHER_CTX_free(r.enc);
	EVP_CIPHER_CTX_free(r.dec);
	EVP_MAC_CTX_free(r.mac);
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	printf("ESP seal+open, one core, tunnel mode IPv4; MB/s of inner packet bytes\n");
	printf("%-18s %6s %12s %12s %8s\n", "algorithm", "bytes", "kotetsu", "raw EVP", "ratio");
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (only && strcmp(only, algs[i].name))
			continue;
		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++)
			bench_one(&algs[i], sizes[j]);
	}
	return 0;
}
