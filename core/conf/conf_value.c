/* Value parsers of the configuration: words, numbers, durations, paths,
 * hosts, identities, pre-shared keys and traffic selector lists. Each one
 * reports its own error naming the key; none echoes a secret. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/conf/conf_int.h"
#include "core/err.h"
#include "core/text.h"

#define DNS_LABEL_MAX 63 /* RFC 1035 §2.3.4 */
#define UINT_DIGITS_MAX 10
#define ID_HEX_PREFIX "#"
/* A "dynamic[...]" selector borrows kt_ts_parse's bracket syntax. */
#define DYNAMIC_WORD "dynamic"
#define DYNAMIC_STANDIN "0.0.0.0/0"

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool conf_valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > KT_CONF_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

bool conf_word(struct kt_conf_parser *p, const char *key, const char *v,
	       const char *const *words, size_t n, uint8_t *out)
{
	char expect[128] = "";
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(v, words[i]) == 0) {
			*out = (uint8_t)(i + 1);
			return true;
		}
		size_t used = strlen(expect);
		snprintf(expect + used, sizeof(expect) - used, "%s%s", i ? " | " : "", words[i]);
	}
	conf_error(p, p->line, "bad %s '%s': expected %s", key, v, expect);
	return false;
}

bool conf_bool(struct kt_conf_parser *p, const char *key, const char *v, bool *out)
{
	static const char *const words[] = { "yes", "no", "true", "false" };
	uint8_t w;
	if (!conf_word(p, key, v, words, 4, &w))
		return false;
	*out = w == 1 || w == 3;
	return true;
}

/* Decimal digits into a 64-bit value; false if empty or too many digits. */
static bool digits(const char *v, size_t *used, uint64_t *out)
{
	size_t n = 0;
	*out = 0;
	while (is_digit(v[n]) && n <= UINT_DIGITS_MAX)
		*out = *out * 10 + (uint64_t)(v[n++] - '0');
	*used = n;
	return n > 0 && n <= UINT_DIGITS_MAX;
}

bool conf_uint(struct kt_conf_parser *p, const char *key, const char *v, uint32_t max,
	       uint32_t *out)
{
	size_t used;
	uint64_t x;
	if (!digits(v, &used, &x) || v[used] || x > max) {
		conf_error(p, p->line, "bad %s '%s': expected a number from 0 to %u", key, v, max);
		return false;
	}
	*out = (uint32_t)x;
	return true;
}

bool conf_duration(struct kt_conf_parser *p, const char *key, const char *v, uint32_t *out)
{
	static const struct {
		char suffix;
		uint32_t seconds;
	} units[] = { { '\0', 1 }, { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	size_t used;
	uint64_t x;
	if (digits(v, &used, &x) && (!v[used] || !v[used + 1]))
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (v[used] == units[i].suffix && x * units[i].seconds <= KT_CONF_MAX_DURATION) {
				*out = (uint32_t)(x * units[i].seconds);
				return true;
			}
	conf_error(p, p->line,
		   "bad %s '%s': expected seconds, or a number with s, m, h or d (at most 366d)",
		   key, v);
	return false;
}

bool conf_path(struct kt_conf_parser *p, const char *key, const char *v, char *out, size_t max)
{
	if (v[0] != '/') {
		conf_error(p, p->line, "%s must be an absolute path", key);
		return false;
	}
	if (strlen(v) > max) {
		conf_error(p, p->line, "%s is longer than %zu bytes", key, max);
		return false;
	}
	snprintf(out, max + 1, "%s", v);
	return true;
}

/* ---- Hosts ---------------------------------------------------------------- */

static bool valid_label(const char *s, size_t n)
{
	if (n == 0 || n > DNS_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* A DNS name (RFC 1123 §2.1 letters, digits and hyphens); a last label of
 * digits only would be a mistyped address, not a name. */
static bool valid_dns_name(const char *s)
{
	size_t n = strlen(s);
	if (n && s[n - 1] == '.')
		n--;
	if (n == 0 || n > KT_CONF_MAX_HOST)
		return false;
	size_t start = 0;
	bool all_digits = true;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			all_digits = all_digits && is_digit(s[i]);
			continue;
		}
		if (!valid_label(s + start, i - start))
			return false;
		if (i == n && all_digits)
			return false;
		start = i + 1;
		all_digits = true;
	}
	return true;
}

bool conf_host(struct kt_conf_parser *p, const char *key, const char *v,
	       struct kt_conf_peer *peer)
{
	if (strcmp(v, "any") == 0 || strcmp(v, "%any") == 0) {
		peer->remote_kind = KT_CONF_REMOTE_ANY;
	} else if (kt_addr_parse(&peer->remote, v) == 0) {
		peer->remote_kind = KT_CONF_REMOTE_ADDR;
	} else if (valid_dns_name(v)) {
		peer->remote_kind = KT_CONF_REMOTE_DNS;
	} else {
		conf_error(p, p->line, "bad %s '%s': expected an address, a DNS name or any", key, v);
		return false;
	}
	snprintf(peer->remote_host, sizeof(peer->remote_host), "%s", v);
	return true;
}

/* ---- Identities -------------------------------------------------------------- */

void conf_id_from_addr(struct kt_conf_id *id, const struct kt_addr *addr)
{
	memset(id, 0, sizeof(*id));
	id->type = addr->version == 6 ? KT_IKE_ID_IPV6_ADDR : KT_IKE_ID_IPV4_ADDR;
	id->addr = *addr;
	id->len = addr->version == 6 ? 16 : 4;
	memcpy(id->data, addr->bytes, id->len);
	kt_addr_format(addr, id->text, sizeof(id->text));
}

/* FQDN and RFC822 data: printable ASCII without spaces. */
static bool set_text_id(struct kt_conf_id *id, uint8_t type, const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > KT_CONF_MAX_ID)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	id->type = type;
	memcpy(id->data, s, n);
	id->len = n;
	return true;
}

static bool set_addr_id(struct kt_conf_id *id, const char *s, uint8_t version)
{
	struct kt_addr a;
	if (kt_addr_parse(&a, s) || (version && a.version != version))
		return false;
	char text[KT_CONF_MAX_ID + 1];
	memcpy(text, id->text, sizeof(text));
	conf_id_from_addr(id, &a);
	memcpy(id->text, text, sizeof(text)); /* keep the text as written */
	return true;
}

static bool set_key_id(struct kt_conf_id *id, const char *s)
{
	if (strncmp(s, ID_HEX_PREFIX, strlen(ID_HEX_PREFIX)) == 0) {
		int n = kt_text_unhex(s + strlen(ID_HEX_PREFIX), strlen(s + strlen(ID_HEX_PREFIX)), id->data, sizeof(id->data));
		if (n <= 0)
			return false;
		id->type = KT_IKE_ID_KEY_ID;
		id->len = (size_t)n;
		return true;
	}
	return set_text_id(id, KT_IKE_ID_KEY_ID, s);
}

static bool has_prefix(const char *s, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);
	if (strncasecmp(s, prefix, n) != 0)
		return false;
	*rest = s + n;
	return true;
}

/* strongSwan's inference (identification_create_from_string). */
static bool parse_id(struct kt_conf_id *id, const char *v)
{
	const char *r;
	if (has_prefix(v, "ipv4:", &r))
		return set_addr_id(id, r, 4);
	if (has_prefix(v, "ipv6:", &r))
		return set_addr_id(id, r, 6);
	if (has_prefix(v, "fqdn:", &r))
		return set_text_id(id, KT_IKE_ID_FQDN, r);
	if (has_prefix(v, "email:", &r) || has_prefix(v, "rfc822:", &r))
		return set_text_id(id, KT_IKE_ID_RFC822_ADDR, r);
	if (has_prefix(v, "keyid:", &r))
		return set_key_id(id, r);
	if (has_prefix(v, "@#", &r))
		return set_key_id(id, v + 1);
	if (v[0] == '@')
		return set_text_id(id, KT_IKE_ID_FQDN, v + 1);
	if (set_addr_id(id, v, 0))
		return true;
	if (strchr(v, '@'))
		return set_text_id(id, KT_IKE_ID_RFC822_ADDR, v);
	return set_text_id(id, KT_IKE_ID_FQDN, v);
}

bool conf_id(struct kt_conf_parser *p, const char *key, const char *v, bool allow_any,
	     struct kt_conf_id *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->text, sizeof(out->text), "%s", v);
	if (strcmp(v, "%any") == 0) {
		if (allow_any) {
			out->any = true;
			return true;
		}
		conf_error(p, p->line, "%s cannot be %%any", key);
		return false;
	}
	if (strchr(v, '=') && !strchr(v, ':') && !strchr(v, '@')) {
		conf_error(p, p->line, "%s '%s': distinguished names come with certificates, "
				       "which kotetsu does not support yet", key, v);
		return false;
	}
	if (!parse_id(out, v)) {
		memset(out, 0, sizeof(*out));
		conf_error(p, p->line, "bad %s '%s': expected an address, @fqdn, user@domain "
				       "or keyid:#hex", key, v);
		return false;
	}
	return true;
}

/* ---- Pre-shared keys ------------------------------------------------------------ */

/* Decode a quoted string (\" and \\ escapes) into out (at least strlen(v)
 * bytes); its length, or a negative value with *why set. */
static int unquote(const char *v, uint8_t *out, const char **why)
{
	size_t n = 0;
	for (const char *s = v + 1;; s++) {
		if (*s == '\0') {
			*why = "psk has no closing quote";
			return -1;
		}
		if (*s == '"') {
			if (s[1]) {
				*why = "psk has text after its closing quote";
				return -1;
			}
			return (int)n;
		}
		if (*s == '\\') {
			if (s[1] != '"' && s[1] != '\\') {
				*why = "psk has an unknown escape (only \\\" and \\\\ are known)";
				return -1;
			}
			s++;
		}
		out[n++] = (uint8_t)*s;
	}
}

static bool psk_secret(struct kt_conf_parser *p, const char *v, struct kt_conf_psk *out)
{
	bool hex = v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
	uint8_t *buf = malloc(strlen(v) + 1);
	if (!buf) {
		p->nomem = true;
		return false;
	}
	const char *why = "psk is not valid hex (0x followed by pairs of hex digits)";
	int n = hex ? kt_text_unhex(v + 2, strlen(v + 2), buf, strlen(v)) : unquote(v, buf, &why);
	if (n == 0)
		why = "psk is empty";
	else if (n > KT_CONF_MAX_PSK_LEN)
		why = "psk is longer than 256 bytes";
	if (n <= 0 || n > KT_CONF_MAX_PSK_LEN) {
		OPENSSL_cleanse(buf, strlen(v) + 1);
		free(buf);
		conf_error(p, p->line, "%s", why);
		return false;
	}
	if (!hex && n < KT_CONF_PSK_WARN_CHARS)
		conf_warn(p, p->line, "psk has only %d characters; use at least %d "
				      "(kotetsu genpsk makes a strong one)", n, KT_CONF_PSK_WARN_CHARS);
	if (hex && n < KT_CONF_PSK_WARN_BYTES)
		conf_warn(p, p->line, "psk has only %d bytes; use at least %d", n,
			  KT_CONF_PSK_WARN_BYTES);
	*out = (struct kt_conf_psk){ .kind = KT_CONF_PSK_SECRET, .secret = buf, .len = (size_t)n,
				     .line = p->line };
	return true;
}

bool conf_psk(struct kt_conf_parser *p, const char *v, struct kt_conf_psk *out)
{
	const char *path;
	if (has_prefix(v, "file:", &path)) {
		if (path[0] != '/' || strlen(path) > KT_CONF_MAX_PATH) {
			conf_error(p, p->line, "psk file: needs an absolute path of at most %d bytes",
				   KT_CONF_MAX_PATH);
			return false;
		}
		char *copy = strdup(path);
		if (!copy) {
			p->nomem = true;
			return false;
		}
		*out = (struct kt_conf_psk){ .kind = KT_CONF_PSK_FILE, .path = copy, .line = p->line };
		return true;
	}
	if (v[0] == '"' || (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')))
		return psk_secret(p, v, out);
	conf_error(p, p->line, "psk must be a \"quoted string\", 0x followed by hex digits, "
			       "or file:/path");
	return false;
}

/* ---- Traffic selectors ------------------------------------------------------------ */

static bool parse_dynamic(const char *item, struct kt_conf_ts *out)
{
	const char *rest = item + strlen(DYNAMIC_WORD);
	memset(out, 0, sizeof(*out));
	out->dynamic = true;
	if (!*rest) {
		out->ts.port_end = UINT16_MAX;
		return true;
	}
	char buf[KT_CONF_MAX_LINE + sizeof(DYNAMIC_STANDIN)];
	if (rest[0] != '[')
		return false;
	snprintf(buf, sizeof(buf), "%s%s", DYNAMIC_STANDIN, rest);
	if (kt_ts_parse(&out->ts, buf))
		return false;
	memset(&out->ts.start, 0, sizeof(out->ts.start)); /* the address comes later */
	memset(&out->ts.end, 0, sizeof(out->ts.end));
	return true;
}

static bool parse_ts_item(const char *item, struct kt_conf_ts *out)
{
	if (strncmp(item, DYNAMIC_WORD, strlen(DYNAMIC_WORD)) == 0)
		return parse_dynamic(item, out);
	memset(out, 0, sizeof(*out));
	return kt_ts_parse(&out->ts, item) == 0;
}

bool conf_ts_list(struct kt_conf_parser *p, const char *key, const char *v,
		  struct kt_conf_ts *list, size_t *n)
{
	char buf[KT_CONF_MAX_LINE + 1];
	snprintf(buf, sizeof(buf), "%s", v);
	for (char *rest = buf, *comma; rest; rest = comma ? comma + 1 : NULL) {
		comma = strchr(rest, ',');
		if (comma)
			*comma = '\0';
		char *item = kt_text_trim(rest);
		if (!*item) {
			conf_error(p, p->line, "empty entry in %s", key);
			return false;
		}
		if (*n == KT_CONF_MAX_TS) {
			conf_error(p, p->line, "more than %d %s entries", KT_CONF_MAX_TS, key);
			return false;
		}
		if (!parse_ts_item(item, &list[*n])) {
			conf_error(p, p->line, "bad %s entry '%s': expected a subnet or address with "
					       "optional [proto/port], or dynamic", key, item);
			return false;
		}
		(*n)++;
	}
	return true;
}
