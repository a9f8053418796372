/* Selector text for status: the inverse of kt_ts_parse's forms. */
#include <stdio.h>

#include "daemon/tsfmt.h"

#define PORT_ANY_END 0xffff

/* The prefix length if start..end is exactly one prefix, else -1. */
static int prefix_len(const struct kt_ts *ts)
{
	size_t n = ts->start.version == 6 ? 16 : 4;
	int len = 0;
	bool host = false; /* inside the host part: start 0 bits, end 1 bits */
	for (size_t i = 0; i < n; i++) {
		uint8_t s = ts->start.bytes[i], e = ts->end.bytes[i];
		for (int bit = 7; bit >= 0; bit--) {
			int sb = s >> bit & 1, eb = e >> bit & 1;
			if (!host && sb == eb) {
				len++;
				continue;
			}
			host = true;
			if (sb != 0 || eb != 1)
				return -1;
		}
	}
	return len;
}

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case KT_TS_PROTO_ANY: return "any";
	case KT_IPPROTO_TCP: return "tcp";
	case KT_IPPROTO_UDP: return "udp";
	case KT_IPPROTO_ICMP: return "icmp";
	case KT_IPPROTO_ICMPV6: return "ipv6-icmp";
	case KT_IPPROTO_SCTP: return "sctp";
	case KT_IPPROTO_ESP: return "esp";
	case KT_IPPROTO_AH: return "ah";
	default: return NULL;
	}
}

/* "[tcp]", "[tcp/80]", "[udp/1000-2000]", "[icmp/8]" (ICMP: types). */
static void format_protoport(const struct kt_ts *ts, char *buf, size_t size)
{
	char proto[8];
	const char *name = proto_name(ts->proto);
	if (!name) {
		snprintf(proto, sizeof(proto), "%u", ts->proto);
		name = proto;
	}
	unsigned from = ts->port_start, to = ts->port_end;
	bool icmp = ts->proto == KT_IPPROTO_ICMP || ts->proto == KT_IPPROTO_ICMPV6;
	if (icmp && (from & 0xff) == 0 && (to & 0xff) == 0xff) {
		from >>= 8;
		to >>= 8;
	}
	if (ts->port_start == 0 && ts->port_end == PORT_ANY_END)
		snprintf(buf, size, "[%s]", name);
	else if (from == to)
		snprintf(buf, size, "[%s/%u]", name, from);
	else
		snprintf(buf, size, "[%s/%u-%u]", name, from, to);
}

char *kd_ts_format(const struct kt_ts *ts, char *buf, size_t size)
{
	char a[48], b[48], pp[32] = "";
	kt_addr_format(&ts->start, a, sizeof(a));
	if (ts->proto != KT_TS_PROTO_ANY ||
	    !(ts->port_start == 0 && ts->port_end == PORT_ANY_END))
		format_protoport(ts, pp, sizeof(pp));
	int len = prefix_len(ts);
	if (len >= 0)
		snprintf(buf, size, "%s/%d%s", a, len, pp);
	else
		snprintf(buf, size, "%s-%s%s", a, kt_addr_format(&ts->end, b, sizeof(b)), pp);
	return buf;
}
