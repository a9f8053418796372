/* kotetsu's entry: global options, then the verb from the table. */
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/conf/conf.h"
#include "daemon/jwipe.h"

#define SHORTOPTS_MAX 32

static const struct cli_verb *const verbs[] = {
	&cli_verb_check, &cli_verb_up,     &cli_verb_down, &cli_verb_status,
	&cli_verb_reload, &cli_verb_genpsk, &cli_verb_keys,
};
#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

static const char global_usage[] = "usage: kotetsu [-s SOCKET] [-c FILE] VERB [ARGS]\n";

static void print_help(void)
{
	fputs(global_usage, stdout);
	fputs("Control kotetsud, the IKEv2 daemon, and check its configuration.\n\n"
	      "  -s SOCKET  kotetsud's control socket (default: the configuration's\n"
	      "             [daemon] socket, else " KT_CONF_DEFAULT_SOCKET ")\n"
	      "  -c FILE    configuration file (default " KT_CONF_DEFAULT_FILE ")\n"
	      "  -h, --help show this help\n\nverbs:\n", stdout);
	for (size_t i = 0; i < N_VERBS; i++)
		printf("  %-7s %s\n", verbs[i]->name, verbs[i]->summary);
	fputs("\n'kotetsu VERB --help' describes a verb. Exit status: 0 success, 1 failure,\n"
	      "2 bad usage.\n", stdout);
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("kotetsu: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return CLI_FAIL;
}

int cli_usage(const struct cli_verb *v, const char *fmt, ...)
{
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "kotetsu %s: ", v->name);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	fprintf(stderr, "usage: kotetsu %s%s%s\n", v->name, v->args[0] ? " " : "", v->args);
	return CLI_USAGE;
}

int cli_help(const struct cli_verb *v)
{
	printf("usage: kotetsu %s%s%s\n%s", v->name, v->args[0] ? " " : "", v->args, v->help);
	return CLI_OK;
}

int cli_getopt(const struct cli_verb *v, int argc, char **argv, const char *shortopts,
	       const struct option *longopts, int (*opt)(int c, const char *arg, void *ctx),
	       void *ctx)
{
	static const struct option none[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	char so[SHORTOPTS_MAX];
	snprintf(so, sizeof(so), ":h%s", shortopts);
	optind = 0; /* GNU: start afresh for this argv */
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, so, longopts ? longopts : none, NULL)) != -1) {
		if (c == 'h')
			return cli_help(v) == CLI_OK ? 0 : -1;
		if (c == '?') {
			cli_usage(v, "unknown option '%s'", argv[optind - 1]);
			return -1;
		}
		if (c == ':') {
			cli_usage(v, "option '%s' needs a value", argv[optind - 1]);
			return -1;
		}
		if (opt(c, optarg, ctx) < 0) {
			cli_usage(v, NULL);
			return -1;
		}
	}
	return optind;
}

void cli_print_warning(const char *w)
{
	/* Find ":LINE: " after the file name (which may itself hold colons). */
	for (const char *p = strchr(w, ':'); p; p = strchr(p + 1, ':')) {
		const char *d = p + 1;
		while (isdigit((unsigned char)*d))
			d++;
		if (d > p + 1 && d[0] == ':' && d[1] == ' ') {
			fprintf(stderr, "%.*s warning: %s\n", (int)(d + 1 - w), w, d + 2);
			return;
		}
	}
	fprintf(stderr, "warning: %s\n", w);
}

const char *cli_conf_path(const struct cli *cli)
{
	return cli->conf ? cli->conf : KT_CONF_DEFAULT_FILE;
}

static bool valid_name(const char *s, size_t n)
{
	if (n == 0 || n > KT_CONF_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]))
			return false;
	return true;
}

int cli_split_name(const char *name, char *buf, size_t len, const char **peer, const char **child)
{
	if (snprintf(buf, len, "%s", name) >= (int)len)
		return -1;
	char *slash = strchr(buf, '/');
	*peer = buf;
	*child = NULL;
	if (slash) {
		*slash = '\0';
		*child = slash + 1;
		if (!valid_name(*child, strlen(*child)))
			return -1;
	}
	return valid_name(buf, strlen(buf)) ? 0 : -1;
}

static const struct cli_verb *find_verb(const char *name)
{
	for (size_t i = 0; i < N_VERBS; i++)
		if (strcmp(verbs[i]->name, name) == 0)
			return verbs[i];
	return NULL;
}

static int parse_global(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+:s:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': cli->socket = optarg; break;
		case 'c': cli->conf = optarg; break;
		case 'h': print_help(); return 0;
		case ':':
			fprintf(stderr, "kotetsu: option '%s' needs a value\n%s", argv[optind - 1],
				global_usage);
			return -CLI_USAGE;
		default:
			fprintf(stderr, "kotetsu: unknown option '%s'\n%s", argv[optind - 1],
				global_usage);
			return -CLI_USAGE;
		}
	}
	return optind;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	kd_json_wipe_init();
	int i = parse_global(&cli, argc, argv);
	if (i <= 0)
		return -i;
	if (i == argc) {
		fprintf(stderr, "kotetsu: no verb given\n%s(kotetsu --help lists the verbs)\n",
			global_usage);
		return CLI_USAGE;
	}
	const struct cli_verb *v = find_verb(argv[i]);
	if (!v) {
		fprintf(stderr, "kotetsu: unknown verb '%s'\n%s(kotetsu --help lists the verbs)\n",
			argv[i], global_usage);
		return CLI_USAGE;
	}
	return v->run(&cli, argc - i, argv + i);
}
