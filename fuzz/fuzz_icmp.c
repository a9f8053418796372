/* libFuzzer target for kt_icmp_too_big, which reads packets any host
 * behind the gateway can send into the TUN: every input fails cleanly, is
 * left unanswered, or yields an ICMP error that parses, goes back to the
 * sender, stays within the RFC size limit and quotes the packet's start. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/icmp.h"

#define CHECK(cond)             \
	do {                    \
		if (!(cond))    \
			abort(); \
	} while (0)

static void check_answer(const uint8_t *pkt, size_t len, const uint8_t *out, int n)
{
	struct kt_ip_info in, ans;
	CHECK(kt_ip_parse(pkt, len, &in) == 0);
	CHECK(kt_ip_parse(out, (size_t)n, &ans) == 0);
	CHECK((size_t)n <= (in.version == 4 ? KT_ICMP_V4_MAX : KT_ICMP_V6_MAX));
	CHECK(ans.version == in.version && kt_addr_equal(&ans.dst, &in.src));
	CHECK(ans.proto == (in.version == 4 ? KT_IPPROTO_ICMP : KT_IPPROTO_ICMPV6));
	size_t head = ans.hdr_len + KT_ICMP_HDR_LEN;
	CHECK((size_t)n > head && memcmp(out + head, pkt, (size_t)n - head) == 0);
	if (in.version == 4)
		CHECK(kt_ip_csum_fold(kt_ip_csum_add(0, out + ans.hdr_len, (size_t)n - ans.hdr_len)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[KT_ICMP_V6_MAX];
	if (size < 2)
		return 0;
	/* The first two bytes choose the MTU to report. */
	uint32_t mtu = (uint32_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	struct kt_addr src = { .version = size && data[0] >> 4 == 6 ? 6 : 4,
			       .bytes = { 10, 1, 0, 1 } };
	int n = kt_icmp_too_big(out, sizeof(out), data, size, &src, mtu);
	CHECK(n <= (int)sizeof(out));
	if (n > 0)
		check_answer(data, size, out, n);
	kt_icmp_df(data, size);
	return 0;
}
