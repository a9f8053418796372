/* kotetsu genpsk: a strong random PSK, in a form the configuration and a
 * psk = file: secret both accept (0x and 64 hex digits). */
#include <stdio.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cli/cli.h"

#define GENPSK_BYTES 32 /* 256 bits: beyond any guessing, as WireGuard's keys */

static int opt(int c, const char *arg, void *ctx)
{
	(void)c;
	(void)arg;
	(void)ctx;
	return -1;
}

static int run(const struct cli *cli, int argc, char **argv)
{
	(void)cli;
	int i = cli_getopt(&cli_verb_genpsk, argc, argv, "", NULL, opt, NULL);
	if (i <= 0)
		return i == 0 ? CLI_OK : CLI_USAGE;
	if (i < argc)
		return cli_usage(&cli_verb_genpsk, "unexpected argument '%s'", argv[i]);
	unsigned char key[GENPSK_BYTES];
	char text[2 + 2 * GENPSK_BYTES + 2];
	if (RAND_bytes(key, sizeof(key)) != 1)
		return cli_fail("libcrypto's random generator failed");
	int n = snprintf(text, sizeof(text), "0x");
	for (size_t j = 0; j < sizeof(key); j++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "%02x", key[j]);
	text[n++] = '\n';
	OPENSSL_cleanse(key, sizeof(key));
	int rc = fwrite(text, 1, (size_t)n, stdout) == (size_t)n && fflush(stdout) == 0;
	OPENSSL_cleanse(text, sizeof(text));
	if (!rc)
		return cli_fail("cannot write the PSK to stdout");
	if (isatty(STDOUT_FILENO))
		fputs("kotetsu: keep it in a file only root can read: (umask 077; kotetsu genpsk > "
		      "FILE), then psk = file:FILE\n", stderr);
	return CLI_OK;
}

const struct cli_verb cli_verb_genpsk = {
	.name = "genpsk",
	.run = run,
	.args = "",
	.summary = "print a new random pre-shared key (32 bytes, 0x + hex)",
	.help = "Print 32 random bytes from libcrypto's CSPRNG as 0x followed by 64 hex digits:\n"
		"a value for psk = in kotetsu.conf, or the content of a psk = file: secret\n"
		"(kotetsud decodes 0x-hex in PSK files). Give the same value to the peer\n"
		"(strongSwan: secret = 0x...). Only the key goes to stdout.\n",
};
