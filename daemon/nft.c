/* The nftables table that drops cleartext forged under a PROTECT policy
 * (RFC 4301 §5.2): the rules are written as nft's text language and handed
 * to libnftables in one buffer, which it commits as one transaction. */
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nftables/libnftables.h>

#include "core/ike/ike.h"
#include "daemon/nft.h"

#define TABLE_PREFIX "kotetsu_"
/* Ahead of filter-priority chains of other tables: an accept there must
 * not let forged cleartext by before we saw it. */
#define CHAIN_PRIORITY "filter - 10"
#define NFT_ERROR_PREFIX "Error: "
#define PORT_MAX 65535
#define ICMP_CODE_MAX 0xff

struct kd_nft {
	struct nft_ctx *ctx;
	bool created; /* the table exists: open succeeded */
	char tun[IFNAMSIZ];
	char table[sizeof TABLE_PREFIX + IFNAMSIZ];
	char err[KD_NFT_ERR_LEN];
};

static const char *const chains[] = { "input", "forward" };

static void set_err(struct kd_nft *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct kd_nft *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(n->err, sizeof n->err, fmt, ap);
	va_end(ap);
}

/* The name goes into nft's text unquoted (nft 1.0.6 takes no quoted table
 * names), so only characters of nft's identifier class are let through;
 * "lo" is loopback, which the drop rules leave alone. */
static bool valid_tun(const char *tun)
{
	size_t len = tun ? strlen(tun) : 0;
	if (len == 0 || len >= IFNAMSIZ || strcmp(tun, "lo") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = tun[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

/* nft's error text is "Error: what\n<command>\n^^^^\n": keep what and the
 * command, on one line. */
static void take_nft_error(struct kd_nft *n)
{
	const char *e = nft_ctx_get_error_buffer(n->ctx);
	if (!e || !*e) {
		set_err(n, "nftables refused the transaction");
		return;
	}
	if (strncmp(e, NFT_ERROR_PREFIX, strlen(NFT_ERROR_PREFIX)) == 0)
		e += strlen(NFT_ERROR_PREFIX);
	int what = (int)strcspn(e, "\n");
	const char *cmd = e[what] ? e + what + 1 : "";
	int cmd_len = (int)strcspn(cmd, "\n");
	if (cmd_len)
		set_err(n, "nftables: %.*s (in \"%.*s\")", what, e, cmd_len, cmd);
	else
		set_err(n, "nftables: %.*s", what, e);
}

/* Run one buffer of commands: one transaction. Returns 0 or -EIO. */
static int run(struct kd_nft *n, const char *text)
{
	int rc = nft_run_cmd_from_buffer(n->ctx, text);
	if (rc != 0)
		take_nft_error(n);
	/* Reading the buffers empties them for the next run. */
	nft_ctx_get_output_buffer(n->ctx);
	nft_ctx_get_error_buffer(n->ctx);
	return rc ? -EIO : 0;
}

/* ---- text of the transaction ---- */

/* "add" is idempotent: a sync re-creates a table someone deleted. */
static void put_table(FILE *f, const struct kd_nft *n)
{
	fprintf(f, "add table inet %s\n", n->table);
	for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++)
		fprintf(f, "add chain inet %s %s { type filter hook %s priority "
			CHAIN_PRIORITY "; policy accept; }\n", n->table, chains[i], chains[i]);
}

static size_t addr_len(uint8_t version)
{
	return version == 4 ? 4 : 16;
}

/* The prefix length if [start, end] is one CIDR block, else -1. */
static int prefix_len(const struct kt_addr *start, const struct kt_addr *end)
{
	int bits = (int)addr_len(start->version) * 8, p = 0;
	while (p < bits && ((start->bytes[p / 8] ^ end->bytes[p / 8]) & (0x80 >> (p % 8))) == 0)
		p++;
	for (int i = p; i < bits; i++) {
		uint8_t mask = (uint8_t)(0x80 >> (i % 8));
		if ((start->bytes[i / 8] & mask) || !(end->bytes[i / 8] & mask))
			return -1;
	}
	return p;
}

/* " ip saddr 10.2.0.0/24"; nothing for the whole address space. */
static void put_addr(FILE *f, const char *field, const struct kt_ts *ts)
{
	int bits = (int)addr_len(ts->start.version) * 8;
	int p = prefix_len(&ts->start, &ts->end);
	char a[64], b[64];
	if (p == 0)
		return;
	fprintf(f, " %s %s %s", ts->start.version == 4 ? "ip" : "ip6", field,
		kt_addr_format(&ts->start, a, sizeof a));
	if (p < 0)
		fprintf(f, "-%s", kt_addr_format(&ts->end, b, sizeof b));
	else if (p < bits)
		fprintf(f, "/%d", p);
}

static bool full_ports(const struct kt_ts *ts)
{
	return ts->port_start == 0 && ts->port_end == PORT_MAX;
}

static void put_range(FILE *f, const char *what, unsigned from, unsigned to)
{
	if (from == to)
		fprintf(f, " %s %u", what, from);
	else
		fprintf(f, " %s %u-%u", what, from, to);
}

static bool is_port_proto(uint8_t proto)
{
	return proto == KT_IPPROTO_TCP || proto == KT_IPPROTO_UDP || proto == KT_IPPROTO_SCTP;
}

static uint8_t icmp_proto(uint8_t version)
{
	return version == 4 ? KT_IPPROTO_ICMP : KT_IPPROTO_ICMPV6;
}

/* ICMP type<<8|code in [from, to] (RFC 7296 §3.13.1), readable when the
 * range is one type or whole types; else a raw match on those 16 bits. */
static void put_icmp(FILE *f, uint8_t version, unsigned from, unsigned to)
{
	const char *type = version == 4 ? "icmp type" : "icmpv6 type";
	const char *code = version == 4 ? "icmp code" : "icmpv6 code";
	unsigned t1 = from >> 8, t2 = to >> 8, c1 = from & 0xff, c2 = to & 0xff;
	if (t1 == t2) {
		put_range(f, type, t1, t1);
		if (c1 != 0 || c2 != ICMP_CODE_MAX)
			put_range(f, code, c1, c2);
	} else if (c1 == 0 && c2 == ICMP_CODE_MAX) {
		put_range(f, type, t1, t2);
	} else {
		put_range(f, "@th,0,16", from, to);
	}
}


/* Selectors whose ranges run backwards match no packet (kt_ts_match). */
static bool ordered(const struct kt_ts *ts)
{
	return ts->port_start <= ts->port_end && kt_addr_cmp(&ts->start, &ts->end) <= 0;
}

/* The ICMP type<<8|code values both selectors admit: kt_ts_points puts
 * the same value in both ends. Empty when *from > *to. */
static void icmp_range(const struct kd_nft_pair *p, unsigned *from, unsigned *to)
{
	const struct kt_ts *l = &p->local, *r = &p->remote;
	*from = l->port_start > r->port_start ? l->port_start : r->port_start;
	*to = l->port_end < r->port_end ? l->port_end : r->port_end;
}

/* Can a packet of protocol proto (KT_TS_PROTO_ANY: of any protocol) lie
 * in both selectors? Ports exist only for TCP, UDP and SCTP, and ICMP's
 * type and code stand in for them. */
static bool can_match(const struct kd_nft_pair *p, uint8_t proto)
{
	unsigned from, to;
	if (full_ports(&p->local) && full_ports(&p->remote))
		return true;
	if (proto == KT_TS_PROTO_ANY)
		return false;
	if (is_port_proto(proto))
		return true;
	if (proto != icmp_proto(p->local.start.version))
		return false;
	icmp_range(p, &from, &to);
	return from <= to;
}

#define MAX_DROP_PROTOS 4

/* The protocols that need a drop rule of their own; none when the pair
 * matches no packet at all. */
static size_t drop_protos(const struct kd_nft_pair *p, uint8_t out[MAX_DROP_PROTOS])
{
	uint8_t lp = p->local.proto, rp = p->remote.proto;
	size_t k = 0;
	if (!ordered(&p->local) || !ordered(&p->remote) || (lp && rp && lp != rp))
		return 0;
	if (lp || rp) {
		uint8_t proto = lp ? lp : rp;
		if (can_match(p, proto))
			out[k++] = proto;
		return k;
	}
	if (can_match(p, KT_TS_PROTO_ANY)) {
		out[k++] = KT_TS_PROTO_ANY;
		return k;
	}
	/* Any protocol but some ports: those protocols with ports. */
	const uint8_t with_ports[MAX_DROP_PROTOS] = { KT_IPPROTO_TCP, KT_IPPROTO_UDP,
		KT_IPPROTO_SCTP, icmp_proto(p->local.start.version) };
	for (size_t i = 0; i < MAX_DROP_PROTOS; i++)
		if (can_match(p, with_ports[i]))
			out[k++] = with_ports[i];
	return k;
}

static void put_proto(FILE *f, const struct kd_nft_pair *p, uint8_t proto)
{
	const struct kt_ts *l = &p->local, *r = &p->remote;
	unsigned from, to;
	if (proto == KT_TS_PROTO_ANY)
		return;
	fprintf(f, " meta l4proto %u", proto);
	if (full_ports(l) && full_ports(r))
		return;
	if (is_port_proto(proto)) {
		/* Inbound, the remote end is the source. */
		if (!full_ports(r))
			put_range(f, "th sport", r->port_start, r->port_end);
		if (!full_ports(l))
			put_range(f, "th dport", l->port_start, l->port_end);
		return;
	}
	icmp_range(p, &from, &to);
	put_icmp(f, l->start.version, from, to);
}

/* The start of every rule of a pair: family, then remote -> local. */
static void put_head(FILE *f, const struct kd_nft *n, const char *chain,
		     const struct kd_nft_pair *p, bool drop)
{
	fprintf(f, "add rule inet %s %s meta nfproto ipv%u", n->table, chain,
		(unsigned)p->local.start.version);
	/* Loopback packets were made on this host and never crossed the
	 * boundary RFC 4301 guards; a 0.0.0.0/0 policy must not cut them. */
	if (drop)
		fprintf(f, " iifname != \"%s\" iifname != \"lo\"", n->tun);
	put_addr(f, "saddr", &p->remote);
	put_addr(f, "daddr", &p->local);
}

/* IPsec between the two gateways of a transport pair: ESP, AH, and IKE
 * (and ESP in UDP) to our ports. Only the destination port is ours to
 * choose: a source port proves nothing (a forged packet from port 500 or
 * 88 is just as easy to send). */
static void put_ipsec(FILE *f, const struct kd_nft *n, const struct kd_nft_pair *p, size_t i)
{
	for (size_t c = 0; c < sizeof chains / sizeof chains[0]; c++) {
		put_head(f, n, chains[c], p, false);
		fprintf(f, " meta l4proto { %u, %u } counter accept comment \"ipsec %zu\"\n",
			KT_IPPROTO_ESP, KT_IPPROTO_AH, i);
		put_head(f, n, chains[c], p, false);
		fprintf(f, " meta l4proto %u th dport { %u, %u } counter accept comment \"ipsec %zu\"\n",
			KT_IPPROTO_UDP, KT_IKE_PORT, KT_IKE_NATT_PORT, i);
	}
}

/* IPv6 neighbour discovery between addresses a pair covers is link
 * control, as ARP is for IPv4 (which nftables' ip family never sees):
 * without it the peers cannot even resolve each other. RFC 4861 §7.1.1
 * makes receivers require hop limit 255, which only an on-link sender can
 * produce, so nothing from beyond the link passes here. */
static void put_nd(FILE *f, const struct kd_nft *n, const struct kd_nft_pair *p, size_t i)
{
	if (p->local.start.version != 6)
		return;
	for (size_t c = 0; c < sizeof chains / sizeof chains[0]; c++) {
		put_head(f, n, chains[c], p, false);
		fprintf(f, " icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit,"
			   " nd-neighbor-advert } ip6 hoplimit 255 counter accept comment \"nd %zu\"\n",
			i);
	}
}

static void put_drop(FILE *f, const struct kd_nft *n, const struct kd_nft_pair *p, size_t i)
{
	uint8_t protos[MAX_DROP_PROTOS];
	size_t k = drop_protos(p, protos);
	for (size_t c = 0; c < sizeof chains / sizeof chains[0]; c++) {
		for (size_t j = 0; j < k; j++) {
			put_head(f, n, chains[c], p, true);
			put_proto(f, p, protos[j]);
			fprintf(f, " counter drop comment \"drop %zu\"\n", i);
		}
	}
}

static int check_pair(struct kd_nft *n, const struct kd_nft_pair *p, size_t i)
{
	uint8_t v = p->local.start.version;
	if ((v != 4 && v != 6) || p->local.end.version != v || p->remote.start.version != v ||
	    p->remote.end.version != v) {
		set_err(n, "pair %zu: selectors must hold addresses of one IP version", i);
		return -EINVAL;
	}
	return 0;
}

/* ---- the text, then the transaction ---- */

static int nomem(struct kd_nft *n)
{
	set_err(n, "out of memory");
	return -ENOMEM;
}

/* Finish the text in f (opened by open_memstream on *text) and run it. */
static int commit(struct kd_nft *n, FILE *f, char **text)
{
	bool bad = ferror(f);
	int rc;
	if (fclose(f) != 0 || bad)
		rc = nomem(n);
	else
		rc = run(n, *text);
	free(*text);
	return rc;
}

int kd_nft_open(const char *tun, struct kd_nft **out)
{
	struct kd_nft *n = calloc(1, sizeof *n);
	char *text = NULL;
	size_t len = 0;
	*out = n;
	if (!n)
		return -ENOMEM;
	if (!valid_tun(tun)) {
		set_err(n, "TUN name must be 1 to %d letters, digits, '.', '_' or '-'",
			IFNAMSIZ - 1);
		return -EINVAL;
	}
	strcpy(n->tun, tun);
	snprintf(n->table, sizeof n->table, TABLE_PREFIX "%s", tun);
	n->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!n->ctx || nft_ctx_buffer_output(n->ctx) || nft_ctx_buffer_error(n->ctx))
		return nomem(n);
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return nomem(n);
	/* A table left by a daemon that died goes, whatever it held. */
	fprintf(f, "add table inet %s\ndelete table inet %s\n", n->table, n->table);
	put_table(f, n);
	int rc = commit(n, f, &text);
	n->created = rc == 0;
	return rc;
}

int kd_nft_sync(struct kd_nft *n, const struct kd_nft_pair *pairs, size_t n_pairs)
{
	char *text = NULL;
	size_t len = 0;
	if (!n)
		return -EINVAL;
	n->err[0] = '\0';
	if (!n->created) {
		set_err(n, "the table %s was never created", n->table);
		return -EINVAL;
	}
	for (size_t i = 0; i < n_pairs; i++) {
		int rc = check_pair(n, &pairs[i], i);
		if (rc)
			return rc;
	}
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return nomem(n);
	put_table(f, n);
	for (size_t c = 0; c < sizeof chains / sizeof chains[0]; c++)
		fprintf(f, "flush chain inet %s %s\n", n->table, chains[c]);
	/* Every pair's IPsec exemption first: another pair's drop must not
	 * catch the ESP that carries this one. */
	for (size_t i = 0; i < n_pairs; i++) {
		if (pairs[i].transport)
			put_ipsec(f, n, &pairs[i], i);
		put_nd(f, n, &pairs[i], i);
	}
	for (size_t i = 0; i < n_pairs; i++)
		put_drop(f, n, &pairs[i], i);
	return commit(n, f, &text);
}

const char *kd_nft_error(const struct kd_nft *n)
{
	return n ? n->err : "out of memory";
}

void kd_nft_close(struct kd_nft *n)
{
	char text[sizeof n->table + 32];
	if (!n)
		return;
	if (n->created) {
		snprintf(text, sizeof text, "delete table inet %s\n", n->table);
		run(n, text);
	}
	if (n->ctx)
		nft_ctx_free(n->ctx);
	free(n);
}
