/* kotetsu up NAME [--wait SECONDS]: ask kotetsud to initiate a peer (all
 * its children) or one child. Without --wait it returns once the daemon
 * has queued the request; with it, it polls status until the IKE SA and
 * the children are up, the attempt fails, or the time runs out. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

#define REQUEST_TIMEOUT_MS 30000   /* the daemon may resolve a DNS name first */
#define POLL_INTERVAL_MS 100
#define WAIT_MAX_SECONDS 3600

struct up_opts {
	double wait; /* seconds; 0: do not wait */
};

static int opt(int c, const char *arg, void *ctx)
{
	struct up_opts *o = ctx;
	char *end;
	errno = 0;
	o->wait = strtod(arg, &end);
	if (c != 'w' || errno || end == arg || *end || !(o->wait > 0) || o->wait > WAIT_MAX_SECONDS) {
		fprintf(stderr, "kotetsu up: --wait needs seconds, more than 0 and at most %d\n",
			WAIT_MAX_SECONDS);
		return -1;
	}
	return 0;
}

static const char *child_state(json_t *entry, const char *child)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(entry, "children"), i, c)
		if (strcmp(cli_str_or(json_string_value(json_object_get(c, "name")), ""), child) == 0)
			return json_string_value(json_object_get(c, "state"));
	return NULL;
}

static bool child_up(json_t *entry, const char *child)
{
	const char *s = child_state(entry, child);
	return s && strcmp(s, "installed") == 0;
}

static bool established(json_t *entry)
{
	const char *state = json_string_value(json_object_get(entry, "state"));
	return state && strcmp(state, "established") == 0;
}

/* Established, with the child asked for or every configured child. */
static bool entry_up(json_t *entry, const char *child)
{
	if (!established(entry))
		return false;
	if (child)
		return child_up(entry, child);
	size_t i;
	json_t *name;
	json_array_foreach(json_object_get(entry, "configured_children"), i, name)
		if (!child_up(entry, json_string_value(name)))
			return false;
	return true;
}

/* Established, but a child we wait for is not even being created: it was
 * refused or failed, and the daemon noted why. */
static const char *child_failed(json_t *entry, const char *child)
{
	const char *problem = json_string_value(json_object_get(entry, "last_problem"));
	if (!problem || !established(entry))
		return NULL;
	if (child)
		return child_state(entry, child) ? NULL : problem;
	size_t i;
	json_t *name;
	json_array_foreach(json_object_get(entry, "configured_children"), i, name)
		if (!child_state(entry, cli_str_or(json_string_value(name), "")))
			return problem;
	return NULL;
}

enum wait_result { WAIT_UP, WAIT_PENDING, WAIT_FAILED };

/* Looks at one status document; *why gets the peer's state or failure. */
static enum wait_result judge(json_t *status, const char *peer, const char *child, char *why,
			      size_t len)
{
	size_t i;
	json_t *e;
	bool any = false;
	snprintf(why, len, "no such peer in the daemon's configuration");
	json_array_foreach(json_object_get(status, "peers"), i, e) {
		if (strcmp(cli_str_or(json_string_value(json_object_get(e, "name")), ""), peer) != 0)
			continue;
		if (entry_up(e, child))
			return WAIT_UP;
		const char *failed = child_failed(e, child);
		if (failed) {
			snprintf(why, len, "%s", failed);
			return WAIT_FAILED;
		}
		const char *state = cli_str_or(json_string_value(json_object_get(e, "state")), "?");
		const char *reason = json_string_value(json_object_get(e, "down_reason"));
		if (!any || strcmp(state, "down") != 0)
			snprintf(why, len, "state %s", state);
		if (strcmp(state, "down") == 0 && reason) {
			snprintf(why, len, "%s", reason);
			return WAIT_FAILED;
		}
		any = true;
	}
	return any ? WAIT_PENDING : WAIT_FAILED;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int wait_up(const struct cli *cli, const char *name, const char *peer, const char *child,
		   double seconds)
{
	double deadline = now_s() + seconds;
	char why[512] = "";
	for (;;) {
		json_t *st = cli_call(cli, json_pack("{s:s}", "cmd", "status"), REQUEST_TIMEOUT_MS, NULL);
		if (!st)
			return CLI_FAIL;
		enum wait_result r = judge(st, peer, child, why, sizeof(why));
		json_decref(st);
		if (r == WAIT_UP) {
			printf("%s: established\n", name);
			return CLI_OK;
		}
		if (r == WAIT_FAILED)
			return cli_fail("%s: failed: %s", name, why);
		if (now_s() >= deadline)
			return cli_fail("%s: not established after %g s (%s)", name, seconds, why);
		nanosleep(&(struct timespec){ .tv_nsec = POLL_INTERVAL_MS * 1000000L }, NULL);
	}
}

static int run(const struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "wait", required_argument, NULL, 'w' }, { "help", no_argument, NULL, 'h' }, { 0 }
	};
	struct up_opts o = { 0 };
	int i = cli_getopt(&cli_verb_up, argc, argv, "w:", longopts, opt, &o);
	if (i <= 0)
		return i == 0 ? CLI_OK : CLI_USAGE;
	if (argc - i != 1)
		return cli_usage(&cli_verb_up, argc == i ? "NAME is missing" : "too many arguments");
	char buf[2 * 64 + 2];
	const char *peer, *child;
	if (cli_split_name(argv[i], buf, sizeof(buf), &peer, &child) < 0)
		return cli_usage(&cli_verb_up, "'%s' is not PEER or PEER/CHILD", argv[i]);
	json_t *resp = cli_call(cli, json_pack("{s:s, s:s, s:s?}", "cmd", "up", "peer", peer,
					       "child", child), REQUEST_TIMEOUT_MS, NULL);
	if (!resp)
		return CLI_FAIL;
	json_decref(resp);
	if (o.wait > 0)
		return wait_up(cli, argv[i], peer, child, o.wait);
	printf("%s: initiating\n", argv[i]);
	return CLI_OK;
}

const struct cli_verb cli_verb_up = {
	.name = "up",
	.run = run,
	.args = "NAME [--wait SECONDS]",
	.summary = "initiate a peer (NAME) or one of its children (PEER/CHILD)",
	.help = "Ask kotetsud to initiate the IKE SA of a peer and all of its children, or\n"
		"only the child PEER/CHILD. Returns once the daemon has queued the request.\n\n"
		"  -w, --wait SECONDS  then wait until the IKE SA is established and the child\n"
		"                      (or every configured child) installed; fail early when\n"
		"                      the attempt fails, or after SECONDS\n",
};
