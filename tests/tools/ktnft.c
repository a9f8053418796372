/* Test tool: drives daemon/nft.c from the command line so that tests/py
 * can check the nftables table it makes. Commands run in order in one
 * process; the table outlives it unless "close" ran. Not installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/nft.h"

#define MAX_PAIRS 64

static const char usage[] =
	"usage: ktnft TUN COMMAND...\n"
	"  open                  create the table (replacing a stale one)\n"
	"  sync [PAIR...]        replace the rules; PAIR is LOCAL_TS,REMOTE_TS[,transport]\n"
	"  close                 delete the table\n"
	"  wait                  go on after a line on stdin (the test changes things)\n"
	"Selectors as the config writes them: 10.1.0.0/24, 192.0.2.1[udp/500].\n";

static int fail(const char *what, struct kd_nft *n, int rc)
{
	fprintf(stderr, "ktnft: %s: %s (%d)\n", what, kd_nft_error(n), rc);
	return 1;
}

/* "LOCAL,REMOTE[,transport]" into p. Returns 0 or -1. */
static int parse_pair(char *arg, struct kd_nft_pair *p)
{
	char *remote = strchr(arg, ',');
	if (!remote)
		return -1;
	*remote++ = '\0';
	char *flag = strchr(remote, ',');
	if (flag) {
		*flag++ = '\0';
		if (strcmp(flag, "transport") != 0)
			return -1;
	}
	memset(p, 0, sizeof *p);
	p->transport = flag != NULL;
	if (kt_ts_parse(&p->local, arg) < 0 || kt_ts_parse(&p->remote, remote) < 0)
		return -1;
	return 0;
}

static bool is_command(const char *s)
{
	return !strcmp(s, "open") || !strcmp(s, "sync") || !strcmp(s, "close") ||
	       !strcmp(s, "wait");
}

/* "sync" and the pairs after it; *i is left at the last one. */
static int do_sync(struct kd_nft *n, int argc, char **argv, int *i)
{
	static struct kd_nft_pair pairs[MAX_PAIRS];
	size_t k = 0;
	if (!n) {
		fprintf(stderr, "ktnft: sync before a successful open\n");
		return 2;
	}
	while (*i + 1 < argc && !is_command(argv[*i + 1])) {
		char *arg = argv[++*i];
		if (k == MAX_PAIRS || parse_pair(arg, &pairs[k]) < 0) {
			fprintf(stderr, "ktnft: bad pair \"%s\"\n%s", arg, usage);
			return 2;
		}
		k++;
	}
	int rc = kd_nft_sync(n, pairs, k);
	if (rc)
		return fail("sync", n, rc);
	printf("sync %zu\n", k);
	return 0;
}

int main(int argc, char **argv)
{
	struct kd_nft *n = NULL;
	int status = 0;
	if (argc < 3) {
		fputs(usage, stderr);
		return 2;
	}
	for (int i = 2; i < argc && status == 0; i++) {
		if (!strcmp(argv[i], "open")) {
			kd_nft_close(n);
			n = NULL;
			int rc = kd_nft_open(argv[1], &n);
			if (rc) {
				status = fail("open", n, rc);
				kd_nft_close(n); /* no table was made: this only frees */
				n = NULL;
			} else {
				puts("open");
			}
		} else if (!strcmp(argv[i], "sync")) {
			status = do_sync(n, argc, argv, &i);
		} else if (!strcmp(argv[i], "wait")) {
			char line[16];
			fflush(stdout);
			status = fgets(line, sizeof line, stdin) ? 0 : 1;
		} else if (!strcmp(argv[i], "close")) {
			kd_nft_close(n);
			n = NULL;
			puts("close");
		} else {
			fprintf(stderr, "ktnft: unknown command \"%s\"\n%s", argv[i], usage);
			status = 2;
		}
	}
	/* Without "close" the handle is left to exit and the table stays for
	 * the test to probe. */
	return status;
}
