/* IPv4/IPv6 address values: compare, parse and format. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/types.h"

static size_t addr_len(uint8_t version) { return version == 6 ? 16 : 4; }

bool kt_addr_equal(const struct kt_addr *a, const struct kt_addr *b)
{
	return a->version == b->version && memcmp(a->bytes, b->bytes, addr_len(a->version)) == 0;
}

int kt_addr_cmp(const struct kt_addr *a, const struct kt_addr *b)
{
	return memcmp(a->bytes, b->bytes, addr_len(a->version));
}

int kt_addr_parse(struct kt_addr *out, const char *text)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, out->bytes) == 1) {
		out->version = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, text, out->bytes) == 1) {
		out->version = 6;
		return 0;
	}
	memset(out, 0, sizeof(*out));
	return KT_ERR_INVAL;
}

char *kt_addr_format(const struct kt_addr *a, char *buf, size_t size)
{
	int af = a->version == 6 ? AF_INET6 : AF_INET;
	if (a->version == 0 || !inet_ntop(af, a->bytes, buf, (socklen_t)size))
		snprintf(buf, size, "any");
	return buf;
}
