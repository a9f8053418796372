/* libFuzzer target for kt_ip_parse: any input either fails cleanly or
 * yields offsets that stay inside the packet; the checksum helpers run over
 * what the parser accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ip.h"

#define CHECK(cond)             \
	do {                    \
		if (!(cond))    \
			abort(); \
	} while (0)

static void check_info(const uint8_t *data, size_t size, const struct kt_ip_info *ip)
{
	CHECK(ip->version == 4 || ip->version == 6);
	CHECK(ip->hdr_len <= ip->tot_len && ip->tot_len <= size);
	CHECK(ip->proto_off < ip->hdr_len);
	CHECK(data[ip->proto_off] == ip->proto);
	CHECK(ip->src.version == ip->version && ip->dst.version == ip->version);
	if (ip->version == 4) {
		CHECK(ip->hdr_len >= KT_IPV4_HDR_MIN && ip->hdr_len <= KT_IPV4_HDR_MAX);
		CHECK(ip->proto_off == 9);
	} else {
		CHECK(ip->hdr_len >= KT_IPV6_HDR_LEN && ip->tot_len > KT_IPV6_HDR_LEN);
	}
	CHECK(ip->fragment || ip->first_fragment_or_whole);
	CHECK(!(ip->has_ports && ip->has_icmp));
	if (ip->has_ports || ip->has_icmp)
		CHECK(ip->first_fragment_or_whole);
	if (ip->has_ports)
		CHECK(ip->tot_len - ip->hdr_len >= 4);
	if (ip->has_icmp)
		CHECK(ip->tot_len - ip->hdr_len >= 2);
}

/* Recomputing an IPv4 header checksum on a copy must make it verify. */
static void exercise_csum(const uint8_t *data, const struct kt_ip_info *ip)
{
	uint8_t hdr[KT_IPV4_HDR_MAX];

	(void)kt_ip_csum_fold(kt_ip_csum_add(0, data, ip->hdr_len));
	(void)kt_ip_tos(data);
	if (ip->version == 4) {
		memcpy(hdr, data, ip->hdr_len);
		kt_ip4_set_csum(hdr);
		CHECK(kt_ip_csum_fold(kt_ip_csum_add(0, hdr, ip->hdr_len)) == 0);
	}
	if (ip->proto == KT_IPPROTO_UDP && ip->first_fragment_or_whole)
		(void)kt_udp_csum(&ip->src, &ip->dst, data + ip->hdr_len, ip->tot_len - ip->hdr_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_ip_info ip;

	if (kt_ip_parse(data, size, &ip) != 0)
		return 0;
	check_info(data, size, &ip);
	exercise_csum(data, &ip);
	return 0;
}
