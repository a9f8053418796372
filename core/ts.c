/* Traffic selectors: build one from a prefix, parse strongSwan's text form
 * ("10.1.0.0/24[tcp/80]"), match a packet's end against one, and derive
 * those ends from a parsed IP header. */
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/ts.h"

/* Longest selector text accepted: a full IPv6 range plus "[proto/ports]"
 * fits easily; anything longer is garbage, not a selector. */
#define TS_TEXT_MAX 128
#define TS_PORT_MAX 0xffff
#define TS_ICMP_TYPE_MAX 0xff
#define TS_PROTO_MAX 0xff
/* Enough digits for 65535; more would only be leading zeros or overflow. */
#define TS_NUM_DIGITS_MAX 5

static size_t addr_len(uint8_t version) { return version == 6 ? 16 : 4; }

int kt_ts_from_prefix(struct kt_ts *ts, const struct kt_addr *addr, unsigned prefix_len)
{
	if (addr->version != 4 && addr->version != 6)
		return KT_ERR_INVAL;
	size_t n = addr_len(addr->version);
	if (prefix_len > n * 8)
		return KT_ERR_INVAL;

	struct kt_ts out;
	memset(&out, 0, sizeof(out));
	out.start.version = out.end.version = addr->version;
	for (size_t i = 0; i < n; i++) {
		unsigned bits = prefix_len > i * 8 ? prefix_len - (unsigned)i * 8 : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00u >> bits);
		out.start.bytes[i] = addr->bytes[i] & mask;
		out.end.bytes[i] = out.start.bytes[i] | (uint8_t)~mask;
	}
	out.proto = KT_TS_PROTO_ANY;
	out.port_start = 0;
	out.port_end = TS_PORT_MAX;
	*ts = out;
	return 0;
}

/* Decimal digits only (no sign, no hex, no spaces), at most `max`. Sets
 * *end after the last digit. */
static int parse_num(const char *s, const char **end, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i == TS_NUM_DIGITS_MAX)
			return KT_ERR_INVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (i == 0 || v > max)
		return KT_ERR_INVAL;
	*end = s + i;
	*out = v;
	return 0;
}

static const struct {
	const char *name;
	uint8_t proto;
} proto_names[] = {
	{ "any", KT_TS_PROTO_ANY },
	{ "tcp", KT_IPPROTO_TCP },
	{ "udp", KT_IPPROTO_UDP },
	{ "icmp", KT_IPPROTO_ICMP },
	{ "icmpv6", KT_IPPROTO_ICMPV6 },
	{ "ipv6-icmp", KT_IPPROTO_ICMPV6 }, /* the /etc/protocols spelling */
	{ "sctp", KT_IPPROTO_SCTP },
	{ "ah", KT_IPPROTO_AH },
	{ "esp", KT_IPPROTO_ESP },
	{ "gre", 47 },
};

/* A protocol name (any case, as /etc/protocols lists aliases) or number,
 * the whole of `s`. */
static int parse_proto(const char *s, uint8_t *proto)
{
	for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++) {
		if (strcasecmp(s, proto_names[i].name) == 0) {
			*proto = proto_names[i].proto;
			return 0;
		}
	}
	const char *end;
	unsigned v;
	if (parse_num(s, &end, TS_PROTO_MAX, &v) < 0 || *end)
		return KT_ERR_INVAL;
	*proto = (uint8_t)v;
	return 0;
}

static bool is_icmp(uint8_t proto)
{
	return proto == KT_IPPROTO_ICMP || proto == KT_IPPROTO_ICMPV6;
}

/* Only these protocols have something in the port field of a selector;
 * a port range on any other protocol could never match a packet. */
static bool has_ports(uint8_t proto)
{
	return proto == KT_IPPROTO_TCP || proto == KT_IPPROTO_UDP || proto == KT_IPPROTO_SCTP ||
	       is_icmp(proto);
}

/* "any", "80", "1024-2048"; for ICMP the numbers are types and each takes
 * every code (RFC 7296 §3.13.1 puts type<<8|code in the port field). */
static int parse_ports(struct kt_ts *ts, const char *s)
{
	if (strcasecmp(s, "any") == 0)
		return 0;
	if (!has_ports(ts->proto))
		return KT_ERR_INVAL;
	unsigned max = is_icmp(ts->proto) ? TS_ICMP_TYPE_MAX : TS_PORT_MAX;
	unsigned from, to;
	const char *end;
	if (parse_num(s, &end, max, &from) < 0)
		return KT_ERR_INVAL;
	to = from;
	if (*end == '-' && parse_num(end + 1, &end, max, &to) < 0)
		return KT_ERR_INVAL;
	if (*end || from > to)
		return KT_ERR_INVAL;
	if (is_icmp(ts->proto)) {
		from <<= 8;
		to = to << 8 | 0xff;
	}
	ts->port_start = (uint16_t)from;
	ts->port_end = (uint16_t)to;
	return 0;
}

/* The inside of "[...]": "proto" or "proto/ports". Modifies s. */
static int parse_protoport(struct kt_ts *ts, char *s)
{
	char *slash = strchr(s, '/');
	if (slash)
		*slash = '\0';
	if (parse_proto(s, &ts->proto) < 0)
		return KT_ERR_INVAL;
	return slash ? parse_ports(ts, slash + 1) : 0;
}

/* "a-b": an explicit inclusive range (strongSwan accepts these too). */
static int parse_range(struct kt_ts *ts, char *s, char *dash)
{
	*dash = '\0';
	if (kt_addr_parse(&ts->start, s) < 0 || kt_addr_parse(&ts->end, dash + 1) < 0)
		return KT_ERR_INVAL;
	if (ts->start.version != ts->end.version || kt_addr_cmp(&ts->start, &ts->end) > 0)
		return KT_ERR_INVAL;
	return 0;
}

/* "addr/len", "addr" or "a-b". Host bits below the prefix are masked off,
 * as strongSwan does. Modifies s. */
static int parse_addrs(struct kt_ts *ts, char *s)
{
	char *dash = strchr(s, '-');
	if (dash)
		return parse_range(ts, s, dash);

	struct kt_addr a;
	char *slash = strchr(s, '/');
	if (slash)
		*slash = '\0';
	if (kt_addr_parse(&a, s) < 0)
		return KT_ERR_INVAL;
	unsigned len = (unsigned)addr_len(a.version) * 8;
	const char *end;
	if (slash && (parse_num(slash + 1, &end, len, &len) < 0 || *end))
		return KT_ERR_INVAL;
	return kt_ts_from_prefix(ts, &a, len);
}

int kt_ts_parse(struct kt_ts *ts, const char *text)
{
	char buf[TS_TEXT_MAX + 1];
	size_t n = strnlen(text, TS_TEXT_MAX + 1);
	if (n == 0 || n > TS_TEXT_MAX)
		return KT_ERR_INVAL;
	memcpy(buf, text, n + 1);

	struct kt_ts out;
	memset(&out, 0, sizeof(out));
	char *bracket = strchr(buf, '[');
	if (bracket) {
		if (buf[n - 1] != ']')
			return KT_ERR_INVAL;
		buf[n - 1] = '\0';
		*bracket = '\0';
	}
	if (parse_addrs(&out, buf) < 0)
		return KT_ERR_INVAL;
	out.proto = KT_TS_PROTO_ANY;
	out.port_start = 0;
	out.port_end = TS_PORT_MAX;
	if (bracket && parse_protoport(&out, bracket + 1) < 0)
		return KT_ERR_INVAL;
	/* ICMP in the wrong IP version can never match: a typo, not a policy. */
	if ((out.proto == KT_IPPROTO_ICMP && out.start.version != 4) ||
	    (out.proto == KT_IPPROTO_ICMPV6 && out.start.version != 6))
		return KT_ERR_INVAL;
	*ts = out;
	return 0;
}

static bool full_port_range(const struct kt_ts *ts)
{
	return ts->port_start == 0 && ts->port_end == TS_PORT_MAX;
}

bool kt_ts_match(const struct kt_ts *ts, const struct kt_ts_point *pt)
{
	const struct kt_addr *a = pt->addr;
	if (a->version != ts->start.version || (a->version != 4 && a->version != 6))
		return false;
	if (ts->proto != KT_TS_PROTO_ANY && ts->proto != pt->proto)
		return false;
	/* RFC 4301 §4.4.1.3: a packet without ports (non-initial fragment)
	 * matches only a selector that takes any port. */
	if (!full_port_range(ts) &&
	    (!pt->has_port || pt->port < ts->port_start || pt->port > ts->port_end))
		return false;
	size_t n = addr_len(a->version);
	return memcmp(ts->start.bytes, a->bytes, n) <= 0 && memcmp(a->bytes, ts->end.bytes, n) <= 0;
}

void kt_ts_points(const struct kt_ip_info *ip, bool outbound,
		  struct kt_ts_point *local, struct kt_ts_point *remote)
{
	struct kt_ts_point src = { .addr = &ip->src, .proto = ip->proto };
	struct kt_ts_point dst = { .addr = &ip->dst, .proto = ip->proto };
	if (ip->has_icmp) {
		src.has_port = dst.has_port = true;
		src.port = dst.port = (uint16_t)(ip->icmp_type << 8 | ip->icmp_code);
	} else if (ip->has_ports) {
		src.has_port = dst.has_port = true;
		src.port = ip->sport;
		dst.port = ip->dport;
	}
	*local = outbound ? src : dst;
	*remote = outbound ? dst : src;
}

/* ---- ranges as prefixes ---- */

/* Addresses as 128-bit integers, IPv4 in the low 32 bits. */
__extension__ typedef unsigned __int128 u128;

static u128 addr_int(const struct kt_addr *a)
{
	u128 v = 0;
	for (size_t i = 0; i < addr_len(a->version); i++)
		v = v << 8 | a->bytes[i];
	return v;
}

static void int_addr(u128 v, uint8_t version, struct kt_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->version = version;
	for (size_t i = addr_len(version); i-- > 0; v >>= 8)
		a->bytes[i] = (uint8_t)v;
}

static u128 low_mask(unsigned k) { return k >= 128 ? ~(u128)0 : ((u128)1 << k) - 1; }

/* Host bits of the largest prefix that starts at cur and ends by end:
 * cur aligned to it, and cur + 2^k - 1 <= end (written without overflow). */
static unsigned block_bits(u128 cur, u128 end, unsigned bits)
{
	unsigned k = 0;
	while (k < bits && !(cur >> k & 1))
		k++;
	while (k > 0 && end - cur < low_mask(k))
		k--;
	return k;
}

size_t kt_ts_prefixes(const struct kt_ts *ts, struct kt_addr *addrs, uint8_t *lens, size_t max)
{
	uint8_t v = ts->start.version;
	if ((v != 4 && v != 6) || ts->end.version != v || kt_addr_cmp(&ts->start, &ts->end) > 0)
		return 0;
	unsigned bits = (unsigned)addr_len(v) * 8;
	u128 cur = addr_int(&ts->start), end = addr_int(&ts->end);
	size_t n = 0;
	for (;;) {
		unsigned k = block_bits(cur, end, bits);
		if (n < max) {
			int_addr(cur, v, &addrs[n]);
			lens[n] = (uint8_t)(bits - k);
		}
		n++;
		u128 last = cur + low_mask(k);
		if (last >= end)
			return n;
		cur = last + 1;
	}
}
