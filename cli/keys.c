/* kotetsu keys --wireshark DIR: the keys of every installed SA in the two
 * files Wireshark (4.0) reads from its profile directory: esp_sa (ESP and
 * AH SAs; AH with encryption "NULL") and ikev2_decryption_table (IKE SAs).
 * The algorithm names are the exact strings of Wireshark's UAT value lists
 * (packet-ipsec.c, packet-isakmp.c). Files are created mode 0600. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli/cli.h"
#include "core/crypto/xform.h"

#define REQUEST_TIMEOUT_MS 10000
#define OUT_MAX (1u << 20)

struct name {
	int id, bits;
	const char *ws;
};

/* esp_sa "Encryption" values; AH SAs (no encryption) use "NULL". */
static const struct name esp_encr[] = {
	{ KT_ENCR_NONE, 0, "NULL" },
	{ KT_ENCR_NULL, 0, "NULL" },
	{ KT_ENCR_DES_CBC, 0, "DES-CBC [RFC2405]" },
	{ KT_ENCR_3DES_CBC, 0, "TripleDES-CBC [RFC2451]" },
	{ KT_ENCR_AES_CBC, 0, "AES-CBC [RFC3602]" },
	{ KT_ENCR_AES_GCM_16, 0, "AES-GCM with 16 octet ICV [RFC4106]" },
};

/* esp_sa "Authentication" values. */
static const struct name esp_integ[] = {
	{ KT_INTEG_NONE, 0, "NULL" },
	{ KT_INTEG_HMAC_MD5_96, 0, "HMAC-MD5-96 [RFC2403]" },
	{ KT_INTEG_HMAC_SHA1_96, 0, "HMAC-SHA-1-96 [RFC2404]" },
	{ KT_INTEG_HMAC_SHA2_256_128, 0, "HMAC-SHA-256-128 [RFC4868]" },
	{ KT_INTEG_HMAC_SHA2_384_192, 0, "HMAC-SHA-384-192 [RFC4868]" },
	{ KT_INTEG_HMAC_SHA2_512_256, 0, "HMAC-SHA-512-256 [RFC4868]" },
};

/* ikev2_decryption_table "Encryption algorithm" values (key sizes apart). */
static const struct name ike_encr[] = {
	{ KT_ENCR_NULL, 0, "NULL [RFC2410]" },
	{ KT_ENCR_3DES_CBC, 0, "3DES [RFC2451]" },
	{ KT_ENCR_AES_CBC, 128, "AES-CBC-128 [RFC3602]" },
	{ KT_ENCR_AES_CBC, 192, "AES-CBC-192 [RFC3602]" },
	{ KT_ENCR_AES_CBC, 256, "AES-CBC-256 [RFC3602]" },
	{ KT_ENCR_AES_GCM_16, 128, "AES-GCM-128 with 16 octet ICV [RFC5282]" },
	{ KT_ENCR_AES_GCM_16, 192, "AES-GCM-192 with 16 octet ICV [RFC5282]" },
	{ KT_ENCR_AES_GCM_16, 256, "AES-GCM-256 with 16 octet ICV [RFC5282]" },
};

/* ikev2_decryption_table "Integrity algorithm" values. */
static const struct name ike_integ[] = {
	{ KT_INTEG_NONE, 0, "NONE [RFC4306]" },
	{ KT_INTEG_HMAC_MD5_96, 0, "HMAC_MD5_96 [RFC2403]" },
	{ KT_INTEG_HMAC_SHA1_96, 0, "HMAC_SHA1_96 [RFC2404]" },
	{ KT_INTEG_HMAC_SHA2_256_128, 0, "HMAC_SHA2_256_128 [RFC4868]" },
	{ KT_INTEG_HMAC_SHA2_384_192, 0, "HMAC_SHA2_384_192 [RFC4868]" },
	{ KT_INTEG_HMAC_SHA2_512_256, 0, "HMAC_SHA2_512_256 [RFC4868]" },
};

#define LOOKUP(table, id, bits) lookup(table, sizeof(table) / sizeof(table[0]), id, bits)

static const char *lookup(const struct name *t, size_t n, json_int_t id, json_int_t bits)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].id == id && (t[i].bits == 0 || t[i].bits == bits))
			return t[i].ws;
	return NULL;
}

/* ---- output buffer (wiped) ---- */

struct out {
	char *p;
	size_t len;
	bool full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = o->full ? -1 : vsnprintf(o->p + o->len, OUT_MAX - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= OUT_MAX - o->len)
		o->full = true;
	else
		o->len += (size_t)n;
}

static const char *s(json_t *o, const char *key)
{
	return cli_str_or(json_string_value(json_object_get(o, key)), "");
}

static json_int_t n(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* ---- esp_sa ---- */

static const char *hexkey(const char *hex, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", hex[0] ? "0x" : "", hex);
	return buf;
}

static bool esp_row(struct out *o, json_t *sa)
{
	const char *encr = LOOKUP(esp_encr, n(sa, "encr"), n(sa, "encr_key_bits"));
	const char *integ = LOOKUP(esp_integ, n(sa, "integ"), 0);
	bool ah = strcmp(s(sa, "protocol"), "ah") == 0;
	if (!encr || !integ) {
		put(o, "# %s/%s %s SPI 0x%s: %s, which Wireshark 4.0 cannot decrypt\n",
		    s(sa, "peer"), s(sa, "child"), s(sa, "dir"), s(sa, "spi"),
		    !encr ? "encryption algorithm not in esp_sa" : "integrity not in esp_sa");
		return false;
	}
	char ek[2 * KT_XFORM_MAX_KEY + 3], ik[2 * KT_XFORM_MAX_KEY + 3];
	put(o, "\"%s\",\"%s\",\"%s\",\"0x%s\",\"%s\",\"%s\",\"%s\",\"%s\"\n", s(sa, "family"),
	    s(sa, "src"), s(sa, "dst"), s(sa, "spi"), ah ? "NULL" : encr,
	    ah ? "" : hexkey(s(sa, "encr_key"), ek, sizeof(ek)), integ,
	    hexkey(s(sa, "integ_key"), ik, sizeof(ik)));
	OPENSSL_cleanse(ek, sizeof(ek));
	OPENSSL_cleanse(ik, sizeof(ik));
	return true;
}

static size_t esp_file(struct out *o, json_t *sas)
{
	put(o, "# Wireshark ESP SAs (Preferences > Protocols > ESP), written by kotetsu keys.\n"
	       "# Protocol, Src IP, Dest IP, SPI, Encryption, Key, Authentication, Key\n");
	size_t i, rows = 0;
	json_t *sa;
	json_array_foreach(sas, i, sa)
		rows += esp_row(o, sa);
	return rows;
}

/* ---- ikev2_decryption_table ---- */

static bool ike_row(struct out *o, json_t *k)
{
	const char *encr = LOOKUP(ike_encr, n(k, "encr"), n(k, "encr_key_bits"));
	const char *integ = LOOKUP(ike_integ, n(k, "integ"), 0);
	if (!encr || !integ) {
		put(o, "# IKE SA %s_i %s_r: %s, which Wireshark 4.0 cannot decrypt\n",
		    s(k, "spi_i"), s(k, "spi_r"), !encr ? "encryption" : "integrity");
		return false;
	}
	put(o, "%s,%s,%s,%s,\"%s\",%s,%s,\"%s\"\n", s(k, "spi_i"), s(k, "spi_r"), s(k, "sk_ei"),
	    s(k, "sk_er"), encr, s(k, "sk_ai"), s(k, "sk_ar"), integ);
	return true;
}

static size_t ike_file(struct out *o, json_t *ikes)
{
	put(o, "# Wireshark IKEv2 decryption table (Protocols > ISAKMP), written by kotetsu keys.\n"
	       "# Initiator SPI, Responder SPI, SK_ei, SK_er, Encryption, SK_ai, SK_ar, Integrity\n");
	size_t i, rows = 0;
	json_t *k;
	json_array_foreach(ikes, i, k)
		rows += ike_row(o, k);
	return rows;
}

/* ---- files ---- */

static int write_file(const char *dir, const char *name, const struct out *o)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return cli_fail("cannot write %s: %s", path, strerror(e));
	}
	size_t off = 0;
	while (off < o->len) {
		ssize_t w = write(fd, o->p + off, o->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;
			close(fd);
			return cli_fail("cannot write %s: %s", path, strerror(e));
		}
		off += (size_t)w;
	}
	if (close(fd) < 0)
		return cli_fail("cannot write %s: %s", path, strerror(errno));
	return CLI_OK;
}

static int make_dir(const char *dir)
{
	struct stat st;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return cli_fail("cannot create %s: %s", dir, strerror(errno));
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return cli_fail("%s is not a directory", dir);
	return CLI_OK;
}

static int write_both(const char *dir, json_t *keys, struct out *o)
{
	size_t n_sa = esp_file(o, json_object_get(keys, "sas"));
	if (o->full || write_file(dir, "esp_sa", o) != CLI_OK)
		return o->full ? cli_fail("too many SAs") : CLI_FAIL;
	OPENSSL_cleanse(o->p, o->len);
	o->len = 0;
	size_t n_ike = ike_file(o, json_object_get(keys, "ike"));
	if (o->full || write_file(dir, "ikev2_decryption_table", o) != CLI_OK)
		return o->full ? cli_fail("too many IKE SAs") : CLI_FAIL;
	printf("%s/esp_sa: %zu SA%s; %s/ikev2_decryption_table: %zu IKE SA%s\n", dir, n_sa,
	       n_sa == 1 ? "" : "s", dir, n_ike, n_ike == 1 ? "" : "s");
	size_t skipped = json_array_size(json_object_get(keys, "sas")) - n_sa +
			 json_array_size(json_object_get(keys, "ike")) - n_ike;
	if (skipped)
		fprintf(stderr, "kotetsu: %zu SA%s use algorithms Wireshark 4.0 cannot decrypt "
			"(left as comments)\n", skipped, skipped == 1 ? "" : "s");
	return CLI_OK;
}

static int opt(int c, const char *arg, void *ctx)
{
	if (c != 'w')
		return -1;
	*(const char **)ctx = arg;
	return 0;
}

static int run(const struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "wireshark", required_argument, NULL, 'w' }, { "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *dir = NULL;
	int i = cli_getopt(&cli_verb_keys, argc, argv, "w:", longopts, opt, &dir);
	if (i <= 0)
		return i == 0 ? CLI_OK : CLI_USAGE;
	if (i < argc)
		return cli_usage(&cli_verb_keys, "unexpected argument '%s'", argv[i]);
	if (!dir)
		return cli_usage(&cli_verb_keys, "--wireshark DIR is required");
	if (make_dir(dir) != CLI_OK)
		return CLI_FAIL;
	json_t *keys = cli_call(cli, json_pack("{s:s}", "cmd", "keys"), REQUEST_TIMEOUT_MS, NULL);
	if (!keys)
		return CLI_FAIL;
	struct out o = { .p = malloc(OUT_MAX) };
	int rc = o.p ? write_both(dir, keys, &o) : cli_fail("out of memory");
	if (o.p)
		OPENSSL_cleanse(o.p, OUT_MAX);
	free(o.p);
	json_decref(keys);
	return rc;
}

const struct cli_verb cli_verb_keys = {
	.name = "keys",
	.run = run,
	.args = "--wireshark DIR",
	.summary = "write the SAs' keys for Wireshark (esp_sa, ikev2_decryption_table)",
	.help = "Write the keys of every installed SA into DIR/esp_sa and IKE SAs into\n"
		"DIR/ikev2_decryption_table, in Wireshark 4.0's formats (mode 0600; DIR is\n"
		"created 0700 if missing). Use DIR = a Wireshark profile directory, e.g.\n"
		"~/.config/wireshark, then enable ESP decryption (esp.enable_encryption_decode).\n"
		"ESP-in-UDP SAs are listed like the others; AH SAs appear in esp_sa with\n"
		"encryption NULL. SAs whose algorithms Wireshark 4.0 lacks (ChaCha20-Poly1305)\n"
		"are left as comment lines. The keys are secrets: delete the files after use.\n\n"
		"  -w, --wireshark DIR  the directory to write\n",
};
