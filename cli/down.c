/* kotetsu down NAME: delete a peer's IKE SA (with its children) or one
 * CHILD_SA; returns once kotetsud has queued the Delete. */
#include <stdio.h>

#include "cli/cli.h"

#define REQUEST_TIMEOUT_MS 10000

static int opt(int c, const char *arg, void *ctx)
{
	(void)c;
	(void)arg;
	(void)ctx;
	return -1;
}

static int run(const struct cli *cli, int argc, char **argv)
{
	int i = cli_getopt(&cli_verb_down, argc, argv, "", NULL, opt, NULL);
	if (i <= 0)
		return i == 0 ? CLI_OK : CLI_USAGE;
	if (argc - i != 1)
		return cli_usage(&cli_verb_down, argc == i ? "NAME is missing" : "too many arguments");
	char buf[2 * 64 + 2];
	const char *peer, *child;
	if (cli_split_name(argv[i], buf, sizeof(buf), &peer, &child) < 0)
		return cli_usage(&cli_verb_down, "'%s' is not PEER or PEER/CHILD", argv[i]);
	json_t *resp = cli_call(cli, json_pack("{s:s, s:s, s:s?}", "cmd", "down", "peer", peer,
					       "child", child), REQUEST_TIMEOUT_MS, NULL);
	if (!resp)
		return CLI_FAIL;
	json_decref(resp);
	printf("%s: deleting\n", argv[i]);
	return CLI_OK;
}

const struct cli_verb cli_verb_down = {
	.name = "down",
	.run = run,
	.args = "NAME",
	.summary = "delete a peer's IKE SA (NAME) or one CHILD_SA (PEER/CHILD)",
	.help = "Ask kotetsud to delete the IKE SA of a peer with all its CHILD_SAs, or only\n"
		"the CHILD_SA PEER/CHILD, with an INFORMATIONAL Delete to the peer. Returns once\n"
		"the daemon has queued it. Fails when it is not up.\n",
};
