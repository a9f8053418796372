/* Test tool: kotetsu's IKEv2 SK payload protection, PSK AUTH and NAT-D
 * hash from the command line, hex in argv and hex out on stdout, so that
 * tests/py can check them against an independent implementation. Not
 * installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ike/authpsk.h"
#include "core/ike/crypt.h"
#include "core/ike/natd.h"

#define TOOL_NAME "ktike"
#include "tests/tools/toolutil.h"

static const char usage[] =
	"usage: ktike seal ROLE ENCR BITS INTEG SK_E SK_A COUNT [TYPE:BODY ...]\n"
	"       ktike open ROLE ENCR BITS INTEG SK_E SK_A MSG\n"
	"       ktike psk PRF PSK MSG NONCE SK_P ID_BODY [AUTH]\n"
	"       ktike natd SPI_I SPI_R ADDR PORT\n"
	"ROLE is i or r: the sender for seal, the receiver for open. SK_E and SK_A\n"
	"are the keys of the direction the message travels (SK_ei/SK_ai from the\n"
	"initiator). seal writes COUNT IKE_AUTH messages, one \"msg HEX\" line each,\n"
	"whose SK payload holds the given payloads; open prints \"next N\" and one\n"
	"\"pl TYPE BODY\" line per inner payload. psk prints the AUTH value, or with\n"
	"AUTH checks it. Values are hex (\"\" for empty); algorithms are IKEv2\n"
	"transform IDs; SPIs are 16 hex digits.\n";

#define MSG_CAP 8192

/* argv: ROLE ENCR BITS INTEG SK_E SK_A. The keys go where the sender of
 * the message keeps its outbound keys (initiator: SK_ei/SK_ai); the other
 * direction gets random keys of the same lengths. */
static void crypt_open(char **argv, bool receiver, struct kt_ike_crypt *c)
{
	struct buf e = hex(argv[4]), a = hex(argv[5]);
	bool we_are_i = strcmp(argv[0], "i") == 0;
	bool sender_is_i = receiver ? !we_are_i : we_are_i;
	struct kt_ike_keys k = { .encr_len = e.len, .integ_len = a.len };
	int rc;

	if (!we_are_i && strcmp(argv[0], "r") != 0)
		bad("role", argv[0]);
	if (e.len > KT_KDF_MAX_KEY || a.len > KT_KDF_MAX_KEY)
		die("keys", KT_ERR_INVAL);
	memcpy(sender_is_i ? k.sk_ei : k.sk_er, e.p, e.len);
	memcpy(sender_is_i ? k.sk_ai : k.sk_ar, a.p, a.len);
	if (kt_random(sender_is_i ? k.sk_er : k.sk_ei, e.len) < 0
	    || kt_random(sender_is_i ? k.sk_ar : k.sk_ai, a.len) < 0)
		die("kt_random", KT_ERR_CRYPTO);
	rc = kt_ike_crypt_init(c, (uint16_t)number(argv[1], 10), (uint16_t)number(argv[2], 10),
			       (uint16_t)number(argv[3], 10), &k, we_are_i, true);
	kt_ike_keys_wipe(&k);
	free(e.p);
	free(a.p);
	if (rc < 0)
		die("kt_ike_crypt_init", rc);
}

static void write_inner(struct kt_ike_writer *w, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		char *colon = strchr(argv[i], ':');
		struct buf body;

		if (!colon)
			bad("payload", argv[i]);
		*colon = '\0';
		body = hex(colon + 1);
		kt_ike_write_payload(w, (uint8_t)number(argv[i], 10), false, body.p, body.len);
		*colon = ':';
		free(body.p);
	}
}

static int cmd_seal(int argc, char **argv)
{
	struct kt_ike_crypt c;
	unsigned long long count;
	static uint8_t msg[MSG_CAP];

	if (argc < 7)
		return 2;
	crypt_open(argv, false, &c);
	count = number(argv[6], 10);
	for (unsigned long long n = 0; n < count; n++) {
		struct kt_ike_writer w;
		struct kt_ike_sk sk;
		int len, rc;

		kt_ike_writer_init(&w, msg, sizeof(msg));
		kt_ike_write_hdr(&w, &(struct kt_ike_hdr){
			.spi_i = 0x0123456789abcdefull, .spi_r = 0xfedcba9876543210ull,
			.exchange = KT_IKE_EXCH_IKE_AUTH, .msg_id = (uint32_t)(n + 1),
			.flags = strcmp(argv[0], "i") == 0 ? KT_IKE_FLAG_I : KT_IKE_FLAG_R });
		kt_ike_write_sk_begin(&w, c.iv_len);
		write_inner(&w, argc - 7, argv + 7);
		kt_ike_write_sk_end(&w, c.block_size, c.icv_len, &sk);
		len = kt_ike_writer_finish(&w);
		if (len < 0)
			die("writing the message", len);
		rc = kt_ike_crypt_seal(&c, msg, (size_t)len, &sk);
		if (rc < 0)
			die("kt_ike_crypt_seal", rc);
		put("msg", msg, (size_t)len);
	}
	kt_ike_crypt_free(&c);
	return 0;
}

static int cmd_open(int argc, char **argv)
{
	static struct kt_ike_msg dm;
	struct kt_ike_crypt c;
	struct kt_ike_sk sk;
	struct buf m;
	size_t outer;
	int rc, n;

	if (argc != 7)
		return 2;
	crypt_open(argv, true, &c);
	m = hex(argv[6]);
	rc = kt_ike_decode(m.p, m.len, &dm);
	if (rc < 0)
		die("kt_ike_decode", rc);
	rc = kt_ike_sk_locate(&dm, c.iv_len, c.icv_len, c.block_size, &sk);
	if (rc < 0)
		die("kt_ike_sk_locate", rc);
	n = kt_ike_crypt_open(&c, m.p, m.len, &sk);
	if (n < 0)
		die("kt_ike_crypt_open", n);
	outer = dm.n_pl;
	rc = kt_ike_decode_chain(sk.next, m.p + sk.ct_off, (size_t)n, &dm);
	if (rc < 0)
		die("kt_ike_decode_chain", rc);
	printf("next %u\n", sk.next);
	for (size_t i = outer; i < dm.n_pl; i++) {
		printf("pl %u ", dm.pl[i].type);
		put(NULL, dm.pl[i].body, dm.pl[i].len);
	}
	kt_ike_crypt_free(&c);
	free(m.p);
	return 0;
}

static int cmd_psk(int argc, char **argv)
{
	struct buf in[6];
	uint8_t out[KT_PRF_MAX_LEN];
	struct kt_prf prf;
	int rc;

	if (argc != 6 && argc != 7)
		return 2;
	rc = kt_prf_init(&prf, (uint16_t)number(argv[0], 10), true);
	if (rc < 0)
		die("kt_prf_init", rc);
	for (int i = 1; i < argc; i++)
		in[i - 1] = hex(argv[i]);
	if (argc == 7)
		rc = kt_ike_psk_verify(&prf, in[0].p, in[0].len, in[1].p, in[1].len, in[2].p,
				       in[2].len, in[3].p, in[3].len, in[4].p, in[4].len, in[5].p,
				       in[5].len);
	else
		rc = kt_ike_psk_auth(&prf, in[0].p, in[0].len, in[1].p, in[1].len, in[2].p,
				     in[2].len, in[3].p, in[3].len, in[4].p, in[4].len, out);
	if (rc < 0)
		die(argc == 7 ? "kt_ike_psk_verify" : "kt_ike_psk_auth", rc);
	if (argc == 6)
		put(NULL, out, (size_t)rc);
	for (int i = 1; i < argc; i++)
		free(in[i - 1].p);
	kt_prf_free(&prf);
	return 0;
}

static int cmd_natd(int argc, char **argv)
{
	uint8_t out[KT_IKE_NATD_LEN];
	struct kt_addr a;
	int rc;

	if (argc != 4)
		return 2;
	if (kt_addr_parse(&a, argv[2]) < 0)
		bad("address", argv[2]);
	rc = kt_ike_natd_hash(number(argv[0], 16), number(argv[1], 16), &a,
			      (uint16_t)number(argv[3], 10), out);
	if (rc < 0)
		die("kt_ike_natd_hash", rc);
	put(NULL, out, sizeof(out));
	return 0;
}

static const struct tool_cmd cmds[] = {
	{ "seal", cmd_seal },
	{ "open", cmd_open },
	{ "psk", cmd_psk },
	{ "natd", cmd_natd },
};

int main(int argc, char **argv)
{
	return tool_main(cmds, sizeof(cmds) / sizeof(cmds[0]), usage, argc, argv);
}
