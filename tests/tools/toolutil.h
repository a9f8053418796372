/* Shared pieces of the hex-in, hex-out test tools (ktike, ktkdf): argument
 * decoding that exits 2 on bad input, hex output, and a subcommand table.
 * Each tool defines TOOL_NAME before including this. */
#ifndef KT_TOOLUTIL_H
#define KT_TOOLUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/text.h"

struct buf {
	uint8_t *p;
	size_t len;
};

struct tool_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
};

static inline void die(const char *what, int rc)
{
	fprintf(stderr, TOOL_NAME ": %s: %s (%d)\n", what, kt_strerror(rc), rc);
	exit(1);
}

static inline void bad(const char *what, const char *s)
{
	fprintf(stderr, TOOL_NAME ": bad %s \"%s\"\n", what, s);
	exit(2);
}

/* Hex argument into a new buffer ("" is empty). */
static inline struct buf hex(const char *s)
{
	size_t n = strlen(s);
	struct buf b = { malloc(n / 2 + 1), n / 2 };

	if (!b.p || (n && kt_text_unhex(s, n, b.p, b.len) < 0))
		bad("hex", s);
	return b;
}

static inline unsigned long long number(const char *s, int base)
{
	char *end;
	unsigned long long v = strtoull(s, &end, base);

	if (!*s || *end)
		bad("number", s);
	return v;
}

static inline void put(const char *label, const uint8_t *p, size_t len)
{
	if (label)
		printf("%s ", label);
	for (size_t i = 0; i < len; i++)
		printf("%02x", p[i]);
	printf("\n");
}

/* Run the subcommand argv[1]; usage and exit status 2 when it is unknown
 * or says the arguments were wrong. */
static inline int tool_main(const struct tool_cmd *cmds, size_t n, const char *usage, int argc,
			    char **argv)
{
	for (size_t i = 0; argc >= 2 && i < n; i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			int rc = cmds[i].run(argc - 2, argv + 2);

			if (rc == 2)
				fputs(usage, stderr);
			return rc;
		}
	}
	fputs(usage, stderr);
	return 2;
}

#endif
