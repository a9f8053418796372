/* kotetsu, the control client and offline tools: a table of verbs, one
 * file each (as wireguard-tools' wg). Exit status: 0 success, 1 failure
 * (one line on stderr says why), 2 bad usage (with a usage line). */
#ifndef KT_CLI_H
#define KT_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* Options given before the verb. */
struct cli {
	const char *socket; /* -s: kotetsud's control socket, or NULL */
	const char *conf;   /* -c: configuration file, or NULL (the default) */
};

struct cli_verb {
	const char *name;
	int (*run)(const struct cli *cli, int argc, char **argv);
	const char *args;    /* after the verb: "NAME [--wait SECONDS]" */
	const char *summary; /* one line for `kotetsu --help` */
	const char *help;    /* the verb's --help text after its usage line */
};

extern const struct cli_verb cli_verb_check, cli_verb_up, cli_verb_down, cli_verb_status,
	cli_verb_reload, cli_verb_genpsk, cli_verb_keys;

/* "kotetsu: <message>" on stderr; returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "kotetsu VERB: <message>" and the verb's usage line on stderr; returns
 * CLI_USAGE. fmt may be NULL (usage line only). */
int cli_usage(const struct cli_verb *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The verb's --help on stdout; returns CLI_OK. */
int cli_help(const struct cli_verb *v);
/* Parse a verb's options. Returns the index of the first operand, or
 * -CLI_OK after --help, -CLI_USAGE after a bad option (reported). */
struct option;
int cli_getopt(const struct cli_verb *v, int argc, char **argv, const char *shortopts,
	       const struct option *longopts, int (*opt)(int c, const char *arg, void *ctx),
	       void *ctx);

/* A diagnostic "FILE:LINE: text" as "FILE:LINE: warning: text" on stderr. */
void cli_print_warning(const char *w);
/* s, or `or` when s is NULL. */
static inline const char *cli_str_or(const char *s, const char *or) { return s ? s : or; }

/* The configuration file to use (-c or the default). */
const char *cli_conf_path(const struct cli *cli);

/* ---- ctl.c: talking to kotetsud ---- */

/* The socket: -s, else the configuration's [daemon] socket when the file
 * can be read and parsed, else the default. */
const char *cli_socket_path(const struct cli *cli, char *buf, size_t len);
/* Send one request, wait for its response (at most timeout_ms). Returns
 * the response when the daemon answered {"ok":true,...}. Otherwise prints
 * the reason on stderr ("kotetsu: ...") and returns NULL; if the daemon's
 * answer was {"ok":false} and *failed is not NULL, *failed gets it instead
 * of the message being printed. Takes the reference to req. */
json_t *cli_call(const struct cli *cli, json_t *req, int timeout_ms, json_t **failed);

/* "peer" or "peer/child" into its parts (pointers into buf); -1 if
 * malformed. */
int cli_split_name(const char *name, char *buf, size_t len, const char **peer,
		   const char **child);

#endif
