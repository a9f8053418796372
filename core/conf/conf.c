/* The configuration parser's driver: feeds the text to inih line by line
 * through our own reader (which counts lines, strips comments, and checks
 * the syntax inih would stop at), opens and finishes sections, dispatches
 * keys, and collects "FILE:LINE: message" diagnostics. */
#include <ini.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/conf_int.h"
#include "core/err.h"

#define UTF8_BOM "\xef\xbb\xbf"
_Static_assert(KT_CONF_MAX_LINE + 2 <= INI_MAX_LINE, "a line, its newline and NUL fit inih's buffer");
/* Suggest a key name at most this many edits away from an unknown one. */
#define HINT_MAX_DISTANCE 2

/* ---- Diagnostics -------------------------------------------------------- */

static void diag_add(struct kt_conf_parser *p, bool error, unsigned line, const char *fmt,
		     va_list ap)
{
	size_t *count = error ? &p->n_errors : &p->n_warnings;
	size_t i = (*count)++;
	if (!p->diag || i >= KT_CONF_DIAG_MAX)
		return;
	char *out = error ? p->diag->errors[i] : p->diag->warnings[i];
	int n = snprintf(out, KT_CONF_DIAG_LEN, "%s:%u: ", p->file, line);
	if (n > 0 && n < KT_CONF_DIAG_LEN)
		vsnprintf(out + n, KT_CONF_DIAG_LEN - (size_t)n, fmt, ap);
}

void conf_error(struct kt_conf_parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_add(p, true, line, fmt, ap);
	va_end(ap);
}

void conf_warn(struct kt_conf_parser *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_add(p, false, line, fmt, ap);
	va_end(ap);
}

unsigned conf_key_line(const struct kt_conf_parser *p, size_t key)
{
	return key < CONF_MAX_KEYS ? p->key_line[key] : 0;
}

/* ---- Sections ----------------------------------------------------------- */

static const struct conf_section *section_of(uint8_t sec)
{
	switch (sec) {
	case SEC_DAEMON: return &conf_daemon_section;
	case SEC_PEER: return &conf_peer_section;
	case SEC_CHILD: return &conf_child_section;
	default: return NULL;
	}
}

static void section_finish(struct kt_conf_parser *p)
{
	const struct conf_section *s = section_of(p->sec);
	if (s)
		s->finish(p);
	p->sec = SEC_NONE;
	p->peer = NULL;
	p->child = NULL;
	memset(p->key_line, 0, sizeof(p->key_line));
	OPENSSL_cleanse(p->pending, sizeof(p->pending));
	p->n_pending = 0;
}

static void open_daemon(struct kt_conf_parser *p, const char *rest)
{
	if (*rest) {
		conf_error(p, p->line, "[daemon] takes no name");
		return;
	}
	if (p->daemon_line) {
		conf_error(p, p->line, "second [daemon] section (the first is on line %u)",
			   p->daemon_line);
		return;
	}
	p->daemon_line = p->line;
	p->sec = SEC_DAEMON;
	snprintf(p->sec_label, sizeof(p->sec_label), "[daemon]");
}

static void open_child(struct kt_conf_parser *p, char *rest)
{
	char *slash = strchr(rest, '/');
	if (!slash) {
		conf_error(p, p->line, "child section needs PEER/NAME, as in [child site-b/lan]");
		return;
	}
	*slash = '\0';
	conf_child_open(p, rest, slash + 1);
}

/* "[kind rest]" with the brackets already checked. */
static void section_open(struct kt_conf_parser *p, char *inner)
{
	section_finish(p);
	p->sec = SEC_SKIP; /* until an opener succeeds */
	p->sec_line = p->line;
	inner += strspn(inner, " \t");
	size_t n = strlen(inner);
	while (n && (inner[n - 1] == ' ' || inner[n - 1] == '\t'))
		inner[--n] = '\0';
	char *rest = inner + strcspn(inner, " \t");
	if (*rest)
		*rest++ = '\0';
	rest += strspn(rest, " \t");

	if (strcmp(inner, "daemon") == 0)
		open_daemon(p, rest);
	else if (strcmp(inner, "peer") == 0 && *rest)
		conf_peer_open(p, rest);
	else if (strcmp(inner, "child") == 0 && *rest)
		open_child(p, rest);
	else if (strcmp(inner, "peer") == 0 || strcmp(inner, "child") == 0)
		conf_error(p, p->line, "[%s] needs a name", inner);
	else
		conf_error(p, p->line,
			   "unknown section [%s] (expected [daemon], [peer NAME] or [child PEER/NAME])",
			   inner);
}

/* ---- The line reader inih calls ------------------------------------------ */

static bool is_space(char c) { return c == ' ' || c == '\t'; }

/* End of the line's content: a '#' or ';' at the start or after white
 * space, outside double quotes, starts a comment. */
static size_t content_end(const char *s, size_t n)
{
	bool quoted = false;
	for (size_t i = 0; i < n; i++) {
		if (quoted && s[i] == '\\' && i + 1 < n)
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && (s[i] == '#' || s[i] == ';') && (i == 0 || is_space(s[i - 1])))
			n = i;
	}
	while (n && is_space(s[n - 1]))
		n--;
	return n;
}

static void copy_protected(char *dst, const char *src, size_t n)
{
	bool quoted = false;
	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		if (quoted && c == '\\' && i + 1 < n) {
			dst[i++] = c;
			dst[i] = src[i] == ';' ? CONF_QUOTED_SEMICOLON : src[i];
			continue;
		}
		if (c == '"')
			quoted = !quoted;
		dst[i] = quoted && c == ';' ? CONF_QUOTED_SEMICOLON : c;
	}
	dst[n] = '\0';
}

static bool check_bytes(struct kt_conf_parser *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			conf_error(p, p->line, "control character 0x%02x in the line", c);
			return false;
		}
	}
	return true;
}

static void section_line(struct kt_conf_parser *p, char *s, size_t n)
{
	if (s[n - 1] != ']') {
		conf_error(p, p->line, strchr(s, ']') ? "text after ']' in a section header"
						      : "section header without ']'");
		section_finish(p);
		p->sec = SEC_SKIP; /* keys below belong to no valid section */
		p->sec_line = p->line;
		return;
	}
	s[n - 1] = '\0';
	section_open(p, s + 1);
}

/* Check one line and turn it into what inih should see: a clean
 * "key = value" or nothing. Section headers are handled here, so inih never
 * sees one (and never calls us for a key under a header it did not
 * understand). */
static void prepare(struct kt_conf_parser *p, const char *raw, size_t n, char *str, size_t num)
{
	str[0] = '\0';
	if (!check_bytes(p, raw, n))
		return;
	while (n && is_space(*raw))
		raw++, n--;
	n = content_end(raw, n);
	if (!n)
		return;
	if (n > KT_CONF_MAX_LINE || n + 2 > num) {
		conf_error(p, p->line,
			   "line too long (%zu characters; at most %d): split the list over "
			   "several lines with the same key", n, KT_CONF_MAX_LINE);
		return;
	}
	copy_protected(str, raw, n);
	if (str[0] == '[') {
		section_line(p, str, n);
		str[0] = '\0';
		return;
	}
	size_t key_len = strcspn(str, "=:");
	while (key_len && is_space(str[key_len - 1]))
		key_len--;
	if (!str[strcspn(str, "=:")] || !key_len) {
		conf_error(p, p->line, "expected 'key = value' or a [section]");
		str[0] = '\0';
		return;
	}
	str[n] = '\n';
	str[n + 1] = '\0';
}

static char *reader(char *str, int num, void *stream)
{
	struct kt_conf_parser *p = stream;
	if (p->pos >= p->len || num < 2) {
		if (num > 0) /* inih's one line buffer: the last psk line may be in it */
			OPENSSL_cleanse(str, (size_t)num);
		return NULL;
	}
	const char *start = p->text + p->pos;
	const char *nl = memchr(start, '\n', p->len - p->pos);
	size_t n = nl ? (size_t)(nl - start) : p->len - p->pos;
	p->pos += n + (nl != NULL);
	p->line++;
	if (n && start[n - 1] == '\r')
		n--;
	if (p->line == 1 && n >= 3 && memcmp(start, UTF8_BOM, 3) == 0)
		start += 3, n -= 3;
	prepare(p, start, n, str, (size_t)num);
	if (!str[0]) {
		str[0] = '\n';
		str[1] = '\0';
	}
	return str;
}

/* ---- Keys ----------------------------------------------------------------- */

/* Optimal string alignment distance (edits and swaps of neighbours),
 * capped: enough to catch "remtoe" for "remote". */
static size_t distance(const char *a, const char *b)
{
	enum { MAX = 32 };
	size_t la = strlen(a), lb = strlen(b);
	if (la >= MAX || lb >= MAX)
		return MAX;
	size_t d[MAX + 1][MAX + 1];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb];
}

static void unknown_key(struct kt_conf_parser *p, const struct conf_section *s, const char *name)
{
	const char *best = NULL;
	size_t best_d = HINT_MAX_DISTANCE + 1;
	for (size_t i = 0; i < s->n_keys; i++) {
		size_t d = distance(name, s->keys[i].name);
		if (d < best_d)
			best = s->keys[i].name, best_d = d;
	}
	if (best)
		conf_error(p, p->line, "unknown key '%s' in %s (did you mean '%s'?)", name,
			   p->sec_label, best);
	else
		conf_error(p, p->line, "unknown key '%s' in %s", name, p->sec_label);
}

static void dispatch(struct kt_conf_parser *p, const char *name, const char *value)
{
	if (p->sec == SEC_NONE) {
		conf_error(p, p->line, "'%s' is outside any section (put [daemon], [peer NAME] "
				       "or [child PEER/NAME] above it)", name);
		return;
	}
	const struct conf_section *s = section_of(p->sec);
	if (!s)
		return; /* a section already reported as broken */
	size_t k = 0;
	while (k < s->n_keys && strcmp(s->keys[k].name, name) != 0)
		k++;
	if (k == s->n_keys) {
		unknown_key(p, s, name);
		return;
	}
	if (p->key_line[k] && !s->keys[k].repeat) {
		conf_error(p, p->line, "'%s' is given twice in %s (first on line %u)", name,
			   p->sec_label, p->key_line[k]);
		return;
	}
	if (!p->key_line[k])
		p->key_line[k] = p->line;
	if (!*value) {
		conf_error(p, p->line, "'%s' needs a value", name);
		return;
	}
	s->keys[k].set(p, s->keys[k].name, value);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct kt_conf_parser *p = user;
	char v[KT_CONF_MAX_LINE + 2];
	(void)section;
	size_t n = strnlen(value, sizeof(v) - 1);
	for (size_t i = 0; i < n; i++)
		v[i] = value[i] == CONF_QUOTED_SEMICOLON ? ';' : value[i];
	v[n] = '\0';
	dispatch(p, name, v);
	OPENSSL_cleanse(v, sizeof(v)); /* it may have held a psk */
	return 1;
}

/* ---- Proposals and lifetimes shared by peers and children ------------------ */

void conf_pend_proposal(struct kt_conf_parser *p, const char *key, uint8_t proto, const char *v)
{
	if (p->n_pending == CONF_MAX_PENDING) {
		conf_error(p, p->line, "too many '%s' lines", key);
		return;
	}
	struct conf_pending *e = &p->pending[p->n_pending++];
	e->proto = proto;
	e->line = p->line;
	snprintf(e->text, sizeof(e->text), "%s", v);
}

bool conf_has_pending(const struct kt_conf_parser *p, uint8_t proto, unsigned *line)
{
	for (size_t i = 0; i < p->n_pending; i++)
		if (p->pending[i].proto == proto) {
			if (line)
				*line = p->pending[i].line;
			return true;
		}
	return false;
}

static const char *proto_key(uint8_t proto)
{
	return proto == KT_IKE_PROTO_IKE ? "ike" : proto == KT_IKE_PROTO_ESP ? "esp" : "ah";
}

static void take_one(struct kt_conf_parser *p, const struct conf_pending *e, bool legacy,
		     struct kt_proposal *list, size_t *n)
{
	char err[KT_PROPOSAL_ERR_LEN + 80];
	size_t got;
	if (kt_proposal_parse_list(list + *n, KT_PROPOSAL_MAX_LIST - *n, &got, e->proto, e->text,
				   legacy, err, sizeof(err))) {
		conf_error(p, e->line, err[0] == '\'' ? "bad %s proposal %s" : "bad %s proposals: %s",
			   proto_key(e->proto), err);
		return;
	}
	for (size_t i = *n; i < *n + got; i++)
		if (kt_proposal_is_legacy(&list[i])) {
			char text[KT_PROPOSAL_TEXT_MAX];
			kt_proposal_format(&list[i], text, sizeof(text));
			conf_warn(p, e->line, "%s proposal %s uses legacy algorithms",
				  proto_key(e->proto), text);
		}
	*n += got;
}

void conf_take_proposals(struct kt_conf_parser *p, uint8_t proto, bool legacy,
			 struct kt_proposal *list, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < p->n_pending; i++)
		if (p->pending[i].proto == proto)
			take_one(p, &p->pending[i], legacy, list, n);
	if (!conf_has_pending(p, proto, NULL))
		kt_proposal_defaults(list, KT_PROPOSAL_MAX_LIST, n, proto);
}

void conf_lifetimes(struct kt_conf_parser *p, size_t rekey_key, size_t life_key,
		    uint32_t rekey_default, uint32_t *rekey, uint32_t *life)
{
	if (!conf_key_line(p, rekey_key))
		*rekey = rekey_default;
	if (!conf_key_line(p, life_key)) {
		*life = *rekey + (uint32_t)((uint64_t)*rekey * KT_CONF_LIFE_MARGIN_PERCENT / 100);
		return;
	}
	if (*rekey && *life && *life <= *rekey)
		conf_error(p, conf_key_line(p, life_key),
			   "life-time (%us) must be longer than rekey-time (%us)", *life, *rekey);
}

/* ---- Entry points ------------------------------------------------------------ */

static void daemon_defaults(struct kt_conf_daemon *d)
{
	snprintf(d->socket, sizeof(d->socket), "%s", KT_CONF_DEFAULT_SOCKET);
	snprintf(d->pidfile, sizeof(d->pidfile), "%s", KT_CONF_DEFAULT_PIDFILE);
	snprintf(d->tun, sizeof(d->tun), "%s", KT_CONF_DEFAULT_TUN);
	d->log_level = KT_CONF_LOG_INFO;
}

static void finish_parse(struct kt_conf_parser *p, int rc)
{
	section_finish(p);
	if (rc == -2)
		p->nomem = true;
	else if (rc > 0 && !p->n_errors) /* inih refused a line we passed: a bug, not silence */
		conf_error(p, (unsigned)rc, "cannot parse this line");
}

int kt_conf_parse(const char *text, size_t len, const char *filename, struct kt_conf **out,
		  struct kt_conf_diag *diag)
{
	*out = NULL;
	if (diag)
		memset(diag, 0, sizeof(*diag));
	struct kt_conf_parser *p = calloc(1, sizeof(*p));
	struct kt_conf *conf = calloc(1, sizeof(*conf));
	if (!p || !conf) {
		free(p);
		free(conf);
		return KT_ERR_NOMEM;
	}
	*p = (struct kt_conf_parser){ .text = text ? text : "", .len = text ? len : 0,
				      .file = filename ? filename : "(config)",
				      .conf = conf, .diag = diag };
	daemon_defaults(&conf->daemon);
	finish_parse(p, ini_parse_stream(reader, p, handler, p));

	int rc = p->nomem ? KT_ERR_NOMEM : p->n_errors ? KT_ERR_INVAL : 0;
	if (diag) {
		diag->n_errors = p->n_errors;
		diag->n_warnings = p->n_warnings;
	}
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
	if (rc)
		kt_conf_free(conf);
	else
		*out = conf;
	return rc;
}

static void free_peer(struct kt_conf_peer *peer)
{
	for (size_t i = 0; i < peer->n_psk && i < KT_CONF_MAX_PSKS; i++) {
		if (peer->psk[i].secret)
			OPENSSL_cleanse(peer->psk[i].secret, peer->psk[i].len);
		free(peer->psk[i].secret);
		free(peer->psk[i].path);
	}
	OPENSSL_cleanse(peer, sizeof(*peer));
	free(peer);
}

void kt_conf_free(struct kt_conf *conf)
{
	if (!conf)
		return;
	for (size_t i = 0; i < conf->n_peers; i++)
		free_peer(conf->peers[i]);
	for (size_t i = 0; i < conf->n_children; i++)
		free(conf->children[i]);
	free(conf);
}

const struct kt_conf_peer *kt_conf_peer(const struct kt_conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->n_peers; i++)
		if (strcmp(conf->peers[i]->name, name) == 0)
			return conf->peers[i];
	return NULL;
}

const struct kt_conf_child *kt_conf_child(const struct kt_conf *conf, const char *peer,
					  const char *name)
{
	const struct kt_conf_peer *pe = kt_conf_peer(conf, peer);
	for (size_t i = 0; pe && i < pe->n_children; i++)
		if (strcmp(pe->children[i]->name, name) == 0)
			return pe->children[i];
	return NULL;
}

static const char *name_of(const char *const *names, size_t n, uint8_t v)
{
	return v >= 1 && v <= n ? names[v - 1] : "?";
}

const char *kt_conf_auth_name(uint8_t auth)
{
	static const char *const names[] = { "psk", "pubkey" };
	return name_of(names, 2, auth);
}

const char *kt_conf_start_name(uint8_t start)
{
	static const char *const names[] = { "now", "on-traffic", "listen" };
	return name_of(names, 3, start);
}

const char *kt_conf_nat_t_name(uint8_t nat_t)
{
	static const char *const names[] = { "auto", "force", "off" };
	return name_of(names, 3, nat_t);
}

const char *kt_conf_protocol_name(uint8_t protocol)
{
	static const char *const names[] = { "esp", "ah", "ah+esp" };
	return name_of(names, 3, protocol);
}

const char *kt_conf_log_level_name(uint8_t level)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	return level < 4 ? names[level] : "?";
}
