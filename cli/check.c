/* kotetsu check: parse the configuration offline and read its PSK files
 * as kotetsud would; list every error and warning with its file and line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "daemon/config.h"

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static void print_diag(const char *path, const struct kt_conf_diag *d)
{
	for (size_t i = 0; i < d->n_errors && i < KT_CONF_DIAG_MAX; i++)
		fprintf(stderr, "%s\n", d->errors[i]);
	if (d->n_errors > KT_CONF_DIAG_MAX)
		fprintf(stderr, "%s: ... and %zu more errors\n", path,
			d->n_errors - KT_CONF_DIAG_MAX);
	for (size_t i = 0; i < d->n_warnings && i < KT_CONF_DIAG_MAX; i++)
		cli_print_warning(d->warnings[i]);
	if (d->n_warnings > KT_CONF_DIAG_MAX)
		fprintf(stderr, "%s: ... and %zu more warnings\n", path,
			d->n_warnings - KT_CONF_DIAG_MAX);
}

static int opt(int c, const char *arg, void *ctx)
{
	if (c != 'c')
		return -1;
	*(const char **)ctx = arg;
	return 0;
}

static int run(const struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' }, { 0 }
	};
	const char *path = cli_conf_path(cli);
	int i = cli_getopt(&cli_verb_check, argc, argv, "c:", longopts, opt, &path);
	if (i <= 0)
		return i == 0 ? CLI_OK : CLI_USAGE;
	if (i < argc)
		return cli_usage(&cli_verb_check, "unexpected argument '%s'", argv[i]);
	struct kt_conf_diag *diag = calloc(1, sizeof(*diag));
	if (!diag)
		return cli_fail("out of memory");
	struct kt_conf *conf = NULL;
	int rc = kd_config_load(path, &conf, diag);
	print_diag(path, diag);
	if (rc < 0) {
		fprintf(stderr, "kotetsu: %s: %zu %s\n", path, diag->n_errors,
			plural(diag->n_errors, "error", "errors"));
		free(diag);
		return CLI_FAIL;
	}
	printf("%s: %zu %s, %zu %s, OK", path, conf->n_peers,
	       plural(conf->n_peers, "peer", "peers"), conf->n_children,
	       plural(conf->n_children, "child", "children"));
	if (diag->n_warnings)
		printf(" (%zu %s)", diag->n_warnings, plural(diag->n_warnings, "warning", "warnings"));
	putchar('\n');
	kt_conf_free(conf);
	free(diag);
	return CLI_OK;
}

const struct cli_verb cli_verb_check = {
	.name = "check",
	.run = run,
	.args = "[-c FILE]",
	.summary = "check the configuration offline (syntax, values, PSK files)",
	.help = "Parse the configuration as kotetsud would, read every psk = file: secret and\n"
		"check that only its owner (root) can read or write it. Every error is listed\n"
		"as FILE:LINE: message, every warning as FILE:LINE: warning: message (on stderr).\n"
		"On success one summary line goes to stdout. PSK files are checked once the\n"
		"rest of the file parses.\n\n"
		"  -c, --config FILE  the file to check (default: kotetsu's -c, else\n"
		"                     /etc/kotetsu/kotetsu.conf)\n"
		"Exit status: 0 no errors (warnings allowed), 1 errors, 2 bad usage.\n",
};
