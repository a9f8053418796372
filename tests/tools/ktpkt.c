/* ktpkt: seal or open IP packets with one ESP or AH SA, so that tests can
 * compare kotetsu with an implementation no one here wrote (tests/py uses
 * scapy). Reads one hex packet per line on stdin and writes one line per
 * packet: the hex result or "error NAME". One SA per run, so replay holds.
 *
 *   ktpkt seal|open --proto esp|ah --mode tunnel|transport --spi HEX
 *         --encr NAME --ekey HEX --integ NAME --ikey HEX [--esn] [--seq N]
 *         [--src ADDR --dst ADDR] [--encap SPORT:DPORT] [--legacy]
 *         [--window N] [--tfc N]
 *
 * --seq: outbound, the last sequence number already used; inbound, the
 * highest one already received (primes the window, for ESN inference).
 * --window 0 turns the replay check off. A refused SA prints "error NAME"
 * and exits 1; bad usage exits 2. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ah.h"
#include "core/err.h"
#include "core/esp.h"
#include "core/ip.h"

#define MAX_PKT 65535 /* largest IP packet (IPv4 total length field) */

struct opts {
	bool seal;
	bool have_proto, have_mode;
	uint64_t seq;
	struct kt_sa_params sa;
	uint8_t ekey[KT_XFORM_MAX_KEY + KT_XFORM_SALT_LEN];
	uint8_t ikey[KT_XFORM_MAX_KEY];
};

struct name_id {
	const char *name;
	uint16_t id, bits;
};

static const struct name_id encr_names[] = {
	{"aes128gcm16", KT_ENCR_AES_GCM_16, 128},
	{"aes256gcm16", KT_ENCR_AES_GCM_16, 256},
	{"chacha20poly1305", KT_ENCR_CHACHA20_POLY1305, 0},
	{"aes128", KT_ENCR_AES_CBC, 128},
	{"aes256", KT_ENCR_AES_CBC, 256},
	{"3des", KT_ENCR_3DES_CBC, 0},
	{"des", KT_ENCR_DES_CBC, 0},
	{"null", KT_ENCR_NULL, 0},
	{"none", KT_ENCR_NONE, 0},
};

static const struct name_id integ_names[] = {
	{"sha256", KT_INTEG_HMAC_SHA2_256_128, 0},
	{"sha384", KT_INTEG_HMAC_SHA2_384_192, 0},
	{"sha512", KT_INTEG_HMAC_SHA2_512_256, 0},
	{"sha1", KT_INTEG_HMAC_SHA1_96, 0},
	{"md5", KT_INTEG_HMAC_MD5_96, 0},
	{"none", KT_INTEG_NONE, 0},
};

/* Stable tokens for the tests, indexed by -KT_ERR_*. */
static const char *const err_names[] = {
	[-KT_ERR_INVAL] = "inval", [-KT_ERR_NOMEM] = "nomem", [-KT_ERR_NOSPACE] = "nospace",
	[-KT_ERR_MALFORMED] = "malformed", [-KT_ERR_NO_SA] = "no_sa", [-KT_ERR_REPLAY] = "replay",
	[-KT_ERR_TOO_OLD] = "too_old", [-KT_ERR_AUTH] = "auth", [-KT_ERR_PADDING] = "padding",
	[-KT_ERR_POLICY] = "policy", [-KT_ERR_EXHAUSTED] = "exhausted",
	[-KT_ERR_EXPIRED] = "expired", [-KT_ERR_DUMMY] = "dummy", [-KT_ERR_PROTO] = "proto",
	[-KT_ERR_LEGACY] = "legacy", [-KT_ERR_UNSUPPORTED] = "unsupported",
	[-KT_ERR_CRYPTO] = "crypto", [-KT_ERR_EXISTS] = "exists",
	[-KT_ERR_NOT_FOUND] = "not_found", [-KT_ERR_DISCARD] = "discard",
	[-KT_ERR_ACQUIRE] = "acquire", [-KT_ERR_FRAGMENT] = "fragment",
};

static const char *err_name(int err)
{
	size_t i = (size_t)-err;

	if (err >= 0 || i >= sizeof(err_names) / sizeof(err_names[0]) || err_names[i] == NULL)
		return "unknown";
	return err_names[i];
}

static _Noreturn void usage(const char *what, const char *arg)
{
	fprintf(stderr, "ktpkt: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
	exit(2);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode hex text (no separators) into out; the byte count, or -1. */
static long unhex(const char *text, size_t n, uint8_t *out, size_t cap)
{
	size_t i;

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n; i += 2) {
		int hi = hexval((unsigned char)text[i]);
		int lo = hexval((unsigned char)text[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

static uint64_t parse_num(const char *arg, int base, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, base);
	if (errno != 0 || end == arg || *end != '\0' || v > max || arg[0] == '-')
		usage("bad number", arg);
	return v;
}

static const struct name_id *lookup(const struct name_id *t, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	usage("unknown algorithm", name);
}

static void parse_encr(struct opts *o, const char *arg)
{
	const struct name_id *e = lookup(encr_names, sizeof(encr_names) / sizeof(encr_names[0]), arg);

	o->sa.xf.encr = e->id;
	o->sa.xf.encr_key_bits = e->bits;
}

static void parse_integ(struct opts *o, const char *arg)
{
	o->sa.xf.integ = lookup(integ_names, sizeof(integ_names) / sizeof(integ_names[0]), arg)->id;
}

static void parse_key(const char *arg, uint8_t *out, size_t cap, const uint8_t **key, size_t *len)
{
	long n = unhex(arg, strlen(arg), out, cap);

	if (n < 0)
		usage("bad hex key", arg);
	*key = out;
	*len = (size_t)n;
}

static void parse_addr(struct kt_addr *out, const char *arg)
{
	if (kt_addr_parse(out, arg) != 0)
		usage("bad address", arg);
}

static void parse_encap(struct opts *o, char *arg)
{
	char *colon = strchr(arg, ':');

	if (colon == NULL)
		usage("--encap wants SPORT:DPORT", arg);
	*colon = '\0';
	o->sa.encap = true;
	o->sa.encap_sport = (uint16_t)parse_num(arg, 10, UINT16_MAX);
	o->sa.encap_dport = (uint16_t)parse_num(colon + 1, 10, UINT16_MAX);
}

static void parse_proto(struct opts *o, const char *arg)
{
	if (strcmp(arg, "esp") == 0)
		o->sa.proto = KT_IPPROTO_ESP;
	else if (strcmp(arg, "ah") == 0)
		o->sa.proto = KT_IPPROTO_AH;
	else
		usage("--proto wants esp or ah", arg);
	o->have_proto = true;
}

static void parse_mode(struct opts *o, const char *arg)
{
	if (strcmp(arg, "tunnel") == 0)
		o->sa.mode = KT_MODE_TUNNEL;
	else if (strcmp(arg, "transport") == 0)
		o->sa.mode = KT_MODE_TRANSPORT;
	else
		usage("--mode wants tunnel or transport", arg);
	o->have_mode = true;
}

static void parse_window(struct opts *o, const char *arg)
{
	o->sa.replay_window = (uint32_t)parse_num(arg, 0, UINT32_MAX);
	o->sa.no_replay = o->sa.replay_window == 0;
}

enum { OPT_PROTO = 256, OPT_MODE, OPT_SPI, OPT_ENCR, OPT_EKEY, OPT_INTEG, OPT_IKEY,
       OPT_ESN, OPT_SEQ, OPT_SRC, OPT_DST, OPT_ENCAP, OPT_LEGACY, OPT_WINDOW, OPT_TFC };

static const struct option long_opts[] = {
	{"proto", required_argument, NULL, OPT_PROTO},
	{"mode", required_argument, NULL, OPT_MODE},
	{"spi", required_argument, NULL, OPT_SPI},
	{"encr", required_argument, NULL, OPT_ENCR},
	{"ekey", required_argument, NULL, OPT_EKEY},
	{"integ", required_argument, NULL, OPT_INTEG},
	{"ikey", required_argument, NULL, OPT_IKEY},
	{"esn", no_argument, NULL, OPT_ESN},
	{"seq", required_argument, NULL, OPT_SEQ},
	{"src", required_argument, NULL, OPT_SRC},
	{"dst", required_argument, NULL, OPT_DST},
	{"encap", required_argument, NULL, OPT_ENCAP},
	{"legacy", no_argument, NULL, OPT_LEGACY},
	{"window", required_argument, NULL, OPT_WINDOW},
	{"tfc", required_argument, NULL, OPT_TFC},
	{NULL, 0, NULL, 0},
};

static void apply_option(struct opts *o, int opt, char *arg)
{
	struct kt_xform_params *xf = &o->sa.xf;

	switch (opt) {
	case OPT_PROTO: parse_proto(o, arg); break;
	case OPT_MODE: parse_mode(o, arg); break;
	case OPT_SPI: o->sa.spi = (uint32_t)parse_num(arg, 16, UINT32_MAX); break;
	case OPT_ENCR: parse_encr(o, arg); break;
	case OPT_EKEY: parse_key(arg, o->ekey, sizeof(o->ekey), &xf->encr_key, &xf->encr_key_len); break;
	case OPT_INTEG: parse_integ(o, arg); break;
	case OPT_IKEY: parse_key(arg, o->ikey, sizeof(o->ikey), &xf->integ_key, &xf->integ_key_len); break;
	case OPT_ESN: o->sa.esn = true; break;
	case OPT_SEQ: o->seq = parse_num(arg, 0, UINT64_MAX); break;
	case OPT_SRC: parse_addr(&o->sa.src, arg); break;
	case OPT_DST: parse_addr(&o->sa.dst, arg); break;
	case OPT_ENCAP: parse_encap(o, arg); break;
	case OPT_LEGACY: xf->allow_legacy = true; break;
	case OPT_WINDOW: parse_window(o, arg); break;
	case OPT_TFC: o->sa.tfc_pad = (uint16_t)parse_num(arg, 0, UINT16_MAX); break;
	default: usage("unknown option", NULL);
	}
}

static void parse_args(struct opts *o, int argc, char **argv)
{
	int opt;

	if (argc < 2 || (strcmp(argv[1], "seal") != 0 && strcmp(argv[1], "open") != 0))
		usage("first argument must be seal or open", NULL);
	o->seal = strcmp(argv[1], "seal") == 0;
	o->sa.dir = o->seal ? KT_DIR_OUT : KT_DIR_IN;
	optind = 2;
	opterr = 0; /* one line of our own instead of getopt's */
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (opt == '?')
			usage("unknown option or missing value", argv[optind - 1]);
		apply_option(o, opt, optarg);
	}
	if (optind != argc)
		usage("unexpected argument", argv[optind]);
	if (!o->have_proto || !o->have_mode)
		usage("--proto and --mode are required", NULL);
	if (o->seal)
		o->sa.seq_start = o->seq;
}

/* Open one packet: parse its IP header, then hand it to ESP or AH. */
static int open_pkt(struct kt_sad *sad, uint8_t proto, struct kt_pkt *pkt)
{
	struct kt_ip_info ip;
	struct kt_sa *sa;
	int err = kt_ip_parse(kt_pkt_data(pkt), pkt->len, &ip);

	if (err < 0)
		return err;
	if (proto == KT_IPPROTO_AH)
		return ip.proto == KT_IPPROTO_AH ? kt_ah_open(sad, pkt, &ip, &sa) : KT_ERR_PROTO;
	if (ip.proto != KT_IPPROTO_ESP && ip.proto != KT_IPPROTO_UDP)
		return KT_ERR_PROTO;
	return kt_esp_open(sad, pkt, &ip, ip.proto == KT_IPPROTO_UDP, &sa);
}

static int process(struct kt_sad *sad, struct kt_sa *sa, const struct opts *o, struct kt_pkt *pkt)
{
	if (!o->seal)
		return open_pkt(sad, o->sa.proto, pkt);
	if (o->sa.proto == KT_IPPROTO_AH)
		return kt_ah_seal(sad, sa, pkt);
	return kt_esp_seal(sad, sa, pkt);
}

static void print_result(int err, const struct kt_pkt *pkt)
{
	size_t i;

	if (err < 0) {
		printf("error %s\n", err_name(err));
		return;
	}
	for (i = 0; i < pkt->len; i++)
		printf("%02x", kt_pkt_data(pkt)[i]);
	putchar('\n');
}

/* One input line: hex packet in, one output line out. */
static void handle_line(struct kt_sad *sad, struct kt_sa *sa, const struct opts *o,
			struct kt_pkt *pkt, const char *line, size_t n)
{
	long len;

	pkt->off = KT_PKT_HEADROOM;
	len = unhex(line, n, pkt->head + pkt->off, MAX_PKT);
	if (len < 0) {
		printf("error hex\n");
		return;
	}
	pkt->len = (size_t)len;
	print_result(process(sad, sa, o, pkt), pkt);
}

static void run(struct kt_sad *sad, struct kt_sa *sa, const struct opts *o)
{
	struct kt_pkt pkt = {0};
	char *line = NULL;
	size_t line_cap = 0;
	ssize_t n;

	pkt.cap = KT_PKT_HEADROOM + MAX_PKT + KT_PKT_TAILROOM + o->sa.tfc_pad;
	pkt.head = malloc(pkt.cap);
	if (pkt.head == NULL) {
		fprintf(stderr, "ktpkt: out of memory\n");
		exit(1);
	}
	while ((n = getline(&line, &line_cap, stdin)) != -1) {
		while (n > 0 && isspace((unsigned char)line[n - 1]))
			n--;
		if (n > 0)
			handle_line(sad, sa, o, &pkt, line, (size_t)n);
		fflush(stdout);
	}
	free(line);
	free(pkt.head);
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct kt_sad *sad;
	struct kt_sa *sa;
	int err;

	parse_args(&o, argc, argv);
	sad = kt_sad_new();
	if (sad == NULL) {
		fprintf(stderr, "ktpkt: out of memory\n");
		return 1;
	}
	err = kt_sad_add(sad, &o.sa, 0, &sa);
	explicit_bzero(o.ekey, sizeof(o.ekey));
	explicit_bzero(o.ikey, sizeof(o.ikey));
	if (err < 0) {
		printf("error %s\n", err_name(err));
		fprintf(stderr, "ktpkt: SA refused: %s\n", kt_strerror(err));
		kt_sad_del(sad);
		return 1;
	}
	/* Inbound --seq: the peer has already sent up to N, so the ESN
	 * inference starts with those high bits (RFC 4303 Appendix A2). */
	if (!o.seal && o.seq > 0)
		kt_replay_advance(&sa->replay, o.seq);
	run(sad, sa, &o);
	kt_sad_del(sad);
	return 0;
}
