/* kotetsu reload: kotetsud re-reads its configuration; with errors it
 * keeps the running one and the errors are listed here. */
#include <stdio.h>

#include "cli/cli.h"

#define REQUEST_TIMEOUT_MS 30000

static int opt(int c, const char *arg, void *ctx)
{
	(void)c;
	(void)arg;
	(void)ctx;
	return -1;
}

static void print_list(json_t *resp, const char *key, bool warning)
{
	size_t i;
	json_t *line;
	json_array_foreach(json_object_get(resp, key), i, line) {
		const char *s = json_string_value(line);
		if (!s)
			continue;
		if (warning)
			cli_print_warning(s);
		else
			fprintf(stderr, "%s\n", s);
	}
}

static int run(const struct cli *cli, int argc, char **argv)
{
	int i = cli_getopt(&cli_verb_reload, argc, argv, "", NULL, opt, NULL);
	if (i <= 0)
		return i == 0 ? CLI_OK : CLI_USAGE;
	if (i < argc)
		return cli_usage(&cli_verb_reload, "unexpected argument '%s'", argv[i]);
	json_t *failed = NULL;
	json_t *resp = cli_call(cli, json_pack("{s:s}", "cmd", "reload"), REQUEST_TIMEOUT_MS, &failed);
	if (!resp && !failed)
		return CLI_FAIL;
	json_t *r = resp ? resp : failed;
	print_list(r, "errors", false);
	print_list(r, "warnings", true);
	if (failed) {
		const char *err = json_string_value(json_object_get(failed, "error"));
		cli_fail("%s", err ? err : "reload refused");
		json_decref(failed);
		return CLI_FAIL;
	}
	json_decref(resp);
	printf("reloaded\n");
	return CLI_OK;
}

const struct cli_verb cli_verb_reload = {
	.name = "reload",
	.run = run,
	.args = "",
	.summary = "make kotetsud re-read its configuration",
	.help = "kotetsud re-reads its configuration file (as on SIGHUP). With errors it keeps\n"
		"the running configuration and they are listed here as FILE:LINE: message.\n"
		"IKE SAs of peers and children that are gone are deleted; new start = now\n"
		"peers are initiated. [daemon] socket and pidfile change only on restart.\n",
};
