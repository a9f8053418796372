/* kotetsu status [--json]: the daemon's IKE and CHILD SAs, either as the
 * JSON document DESIGN.md fixes or in the shape of swanctl --list-sas. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define REQUEST_TIMEOUT_MS 10000

static const char *str(json_t *o, const char *key)
{
	return cli_str_or(json_string_value(json_object_get(o, key)), "?");
}

static long long num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void upper(const char *s, char *buf, size_t len)
{
	size_t i = 0;
	for (; s[i] && i + 1 < len; i++)
		buf[i] = (char)toupper((unsigned char)s[i]);
	buf[i] = '\0';
}

static void print_ts(const char *label, json_t *list)
{
	size_t i;
	json_t *ts;
	printf("    %-6s", label);
	json_array_foreach(list, i, ts)
		printf("%s%s", i ? ", " : " ", cli_str_or(json_string_value(ts), "?"));
	putchar('\n');
}

static void print_child(json_t *c)
{
	char state[32], mode[32], proto[32];
	upper(str(c, "state"), state, sizeof(state));
	upper(str(c, "mode"), mode, sizeof(mode));
	upper(str(c, "protocol"), proto, sizeof(proto));
	printf("  %s: %s, %s, %s:%s%s\n", str(c, "name"), state, mode, proto, str(c, "proposal"),
	       strcmp(str(c, "encap"), "udp") == 0 ? ", UDP-encapsulated" : "");
	printf("    in  %s, %10lld bytes, %8lld packets\n", str(c, "spi_in"), num(c, "bytes_in"),
	       num(c, "packets_in"));
	printf("    out %s, %10lld bytes, %8lld packets\n", str(c, "spi_out"), num(c, "bytes_out"),
	       num(c, "packets_out"));
	print_ts("local", json_object_get(c, "local_ts"));
	print_ts("remote", json_object_get(c, "remote_ts"));
}

static void print_ike(json_t *peer, json_t *ike)
{
	char state[32];
	bool init = json_is_true(json_object_get(ike, "initiator"));
	upper(str(peer, "state"), state, sizeof(state));
	printf("%s: #%lld, %s, IKEv2, %s_i%s %s_r%s\n", str(peer, "name"), num(ike, "id"), state,
	       str(ike, "spi_i"), init ? "*" : "", str(ike, "spi_r"), init ? "" : "*");
	printf("  local  '%s' @ %s%s\n", str(ike, "local_id"), str(ike, "local"),
	       json_is_true(json_object_get(ike, "nat_local")) ? " [behind NAT]" : "");
	printf("  remote '%s' @ %s%s\n", str(ike, "remote_id"), str(ike, "remote"),
	       json_is_true(json_object_get(ike, "nat_remote")) ? " [behind NAT]" : "");
	printf("  %s\n", str(ike, "proposal"));
	if (json_object_get(ike, "established_seconds"))
		printf("  established %llds ago\n", num(ike, "established_seconds"));
}

static void print_peer(json_t *peer)
{
	json_t *ike = json_object_get(peer, "ike");
	if (!json_is_object(ike)) {
		printf("%s: down (start = %s)\n", str(peer, "name"), str(peer, "start"));
		if (json_object_get(peer, "down_reason"))
			printf("  reason: %s\n", str(peer, "down_reason"));
		return;
	}
	print_ike(peer, ike);
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(peer, "children"), i, c)
		print_child(c);
}

static void print_human(json_t *st)
{
	json_t *peers = json_object_get(st, "peers"), *d = json_object_get(st, "drops");
	size_t i;
	json_t *p;
	if (json_array_size(peers) == 0)
		printf("no peers configured\n");
	json_array_foreach(peers, i, p)
		print_peer(p);
	printf("drops: replay %lld, auth %lld, no_sa %lld, policy %lld, malformed %lld\n",
	       num(d, "replay"), num(d, "auth"), num(d, "no_sa"), num(d, "policy"),
	       num(d, "malformed"));
}

static int opt(int c, const char *arg, void *ctx)
{
	(void)arg;
	if (c != 'j')
		return -1;
	*(bool *)ctx = true;
	return 0;
}

static int run(const struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { 0 }
	};
	bool json = false;
	int i = cli_getopt(&cli_verb_status, argc, argv, "j", longopts, opt, &json);
	if (i <= 0)
		return i == 0 ? CLI_OK : CLI_USAGE;
	if (i < argc)
		return cli_usage(&cli_verb_status, "unexpected argument '%s'", argv[i]);
	json_t *st = cli_call(cli, json_pack("{s:s}", "cmd", "status"), REQUEST_TIMEOUT_MS, NULL);
	if (!st)
		return CLI_FAIL;
	json_object_del(st, "ok");
	int rc = CLI_OK;
	if (json)
		rc = json_dumpf(st, stdout, JSON_INDENT(2)) == 0 && putchar('\n') != EOF ? CLI_OK :
			CLI_FAIL;
	else
		print_human(st);
	json_decref(st);
	return rc;
}

const struct cli_verb cli_verb_status = {
	.name = "status",
	.run = run,
	.args = "[--json]",
	.summary = "show IKE SAs, CHILD_SAs, counters and drops",
	.help = "List every configured peer: its IKE SA (state, SPIs with * on our side,\n"
		"proposal, endpoints) and each CHILD_SA (SPIs in and out, proposal, selectors,\n"
		"byte and packet counters), or \"down\"; then the packet drop counters.\n\n"
		"  -j, --json  one JSON document instead (see kotetsu(8) for its fields)\n",
};
