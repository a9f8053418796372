/* Private to the configuration parser's files (conf.c drives inih and the
 * sections, conf_value.c parses values, conf_peer.c and conf_child.c hold
 * the sections' keys): the parser state and the helpers they share. */
#ifndef KT_CONF_CONF_INT_H
#define KT_CONF_CONF_INT_H

#include "core/conf/conf.h"

/* Most keys a section has (for the per-key bookkeeping below). */
#define CONF_MAX_KEYS 24
/* Proposal values waiting for the end of their section, where the peer's
 * legacy flag is known whatever the key order. */
#define CONF_MAX_PENDING (2 * KT_PROPOSAL_MAX_LIST)
/* Inside double quotes ';' would end the value for inih: the reader hands
 * it over as this byte (control bytes are refused in the file) and the
 * handler turns it back. */
#define CONF_QUOTED_SEMICOLON '\x1f'

enum conf_sec { SEC_NONE, SEC_DAEMON, SEC_PEER, SEC_CHILD, SEC_SKIP };

struct kt_conf_parser;

struct conf_key {
	const char *name;
	void (*set)(struct kt_conf_parser *p, const char *key, const char *value);
	bool repeat; /* a list: each occurrence adds entries */
};

struct conf_section {
	const struct conf_key *keys;
	size_t n_keys;
	void (*finish)(struct kt_conf_parser *p); /* defaults and cross-key checks */
};

struct conf_pending {
	uint8_t proto; /* KT_IKE_PROTO_* */
	unsigned line;
	char text[KT_CONF_MAX_LINE + 1];
};

struct kt_conf_parser {
	const char *text, *file;
	size_t len, pos;
	unsigned line;                 /* line last handed to inih */
	struct kt_conf *conf;
	struct kt_conf_diag *diag;     /* may be NULL */
	size_t n_errors, n_warnings;
	bool nomem;

	uint8_t sec;                   /* enum conf_sec */
	unsigned sec_line;
	char sec_label[2 * KT_CONF_MAX_NAME + 16]; /* "[peer site-b]" */
	unsigned daemon_line;          /* first [daemon] section, 0: none yet */
	struct kt_conf_peer *peer;     /* SEC_PEER, or the peer of SEC_CHILD */
	struct kt_conf_child *child;   /* SEC_CHILD */
	unsigned key_line[CONF_MAX_KEYS]; /* first line of each key; 0: absent */
	struct conf_pending pending[CONF_MAX_PENDING];
	size_t n_pending;
};

extern const struct conf_section conf_daemon_section, conf_peer_section, conf_child_section;

void conf_error(struct kt_conf_parser *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void conf_warn(struct kt_conf_parser *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Line of a key of the current section (0 if absent), by its table index. */
unsigned conf_key_line(const struct kt_conf_parser *p, size_t key);

/* Section openers (conf_peer.c, conf_child.c); on failure they report and
 * leave p->sec = SEC_SKIP. */
void conf_peer_open(struct kt_conf_parser *p, const char *name);
void conf_child_open(struct kt_conf_parser *p, const char *peer, const char *name);

/* Value parsers (conf_value.c). Each reports its own error at p->line,
 * naming the key, and returns false. */
bool conf_valid_name(const char *s);
bool conf_word(struct kt_conf_parser *p, const char *key, const char *v,
	       const char *const *words, size_t n, uint8_t *out); /* words[i] -> i + 1 */
bool conf_bool(struct kt_conf_parser *p, const char *key, const char *v, bool *out);
bool conf_uint(struct kt_conf_parser *p, const char *key, const char *v, uint32_t max,
	       uint32_t *out);
bool conf_duration(struct kt_conf_parser *p, const char *key, const char *v, uint32_t *out);
bool conf_path(struct kt_conf_parser *p, const char *key, const char *v, char *out,
	       size_t max);
bool conf_host(struct kt_conf_parser *p, const char *key, const char *v,
	       struct kt_conf_peer *peer);
bool conf_id(struct kt_conf_parser *p, const char *key, const char *v, bool allow_any,
	     struct kt_conf_id *out);
void conf_id_from_addr(struct kt_conf_id *id, const struct kt_addr *addr);
bool conf_psk(struct kt_conf_parser *p, const char *v, struct kt_conf_psk *out);
bool conf_ts_list(struct kt_conf_parser *p, const char *key, const char *v,
		  struct kt_conf_ts *list, size_t *n);

/* Proposals: remember a value now, parse the pending ones at the end of
 * the section (conf.c). */
void conf_pend_proposal(struct kt_conf_parser *p, const char *key, uint8_t proto,
			const char *v);
void conf_take_proposals(struct kt_conf_parser *p, uint8_t proto, bool legacy,
			 struct kt_proposal *list, size_t *n);
bool conf_has_pending(const struct kt_conf_parser *p, uint8_t proto, unsigned *line);
/* Lifetimes: default life-time, and life above rekey (conf.c). */
void conf_lifetimes(struct kt_conf_parser *p, size_t rekey_key, size_t life_key,
		    uint32_t rekey_default, uint32_t *rekey, uint32_t *life);

#endif
