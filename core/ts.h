/* Traffic selectors (RFC 4301 §4.4.1.1, RFC 7296 §3.13.1): an address
 * range, an IP protocol and a port range. Used by SPD rules and by each SA
 * for the inbound check after decapsulation. */
#ifndef KT_TS_H
#define KT_TS_H

#include "core/ip.h"

#define KT_TS_PROTO_ANY 0

/* For ICMP/ICMPv6 the port range holds type<<8 | code (RFC 7296 §3.13.1).
 * A non-initial fragment has no ports: it matches only a full port range
 * (RFC 4301 §4.4.1.3, "OPAQUE"). */
struct kt_ts {
	struct kt_addr start, end; /* inclusive; same version */
	uint8_t proto;             /* KT_TS_PROTO_ANY or an IP protocol */
	uint16_t port_start, port_end;
};

/* One end of a packet as a selector sees it. */
struct kt_ts_point {
	const struct kt_addr *addr;
	uint8_t proto;
	bool has_port; /* false: opaque (fragment, ports unknown) */
	uint16_t port; /* port, or ICMP type<<8|code */
};

/* A selector for a prefix: "10.1.0.0/24", all protocols and ports. */
int kt_ts_from_prefix(struct kt_ts *ts, const struct kt_addr *addr, unsigned prefix_len);
/* Parse strongSwan's form "10.1.0.0/24", "2001:db8::/32[tcp/80]",
 * "0.0.0.0/0[udp]", "10.0.0.1[icmp/8]" (a bare address is a /32 or /128).
 * Returns 0 or KT_ERR_INVAL. */
int kt_ts_parse(struct kt_ts *ts, const char *text);
/* Does the point lie inside the selector? */
bool kt_ts_match(const struct kt_ts *ts, const struct kt_ts_point *pt);

/* The two ends of a packet: outbound the source is local, inbound the
 * destination is. ICMP type/code go into both points' port. */
void kt_ts_points(const struct kt_ip_info *ip, bool outbound,
		  struct kt_ts_point *local, struct kt_ts_point *remote);

/* A range needs at most 2 * (bits - 1) prefixes (IPv6: 254). */
#define KT_TS_MAX_PREFIXES 254

/* The fewest prefixes that together cover exactly ts's address range
 * (protocol and ports are ignored), in address order: routing tables hold
 * prefixes, selectors hold ranges. Writes at most max of them into
 * addrs/lens and returns how many the range needs (more than max: only the
 * first max were written); 0 when ts is not a valid range. */
size_t kt_ts_prefixes(const struct kt_ts *ts, struct kt_addr *addrs, uint8_t *lens, size_t max);

#endif
