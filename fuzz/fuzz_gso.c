/* libFuzzer target for TUN offloads (core/gso.c) over a virtio-net header
 * and the bytes read after it: any input is refused cleanly or splits into
 * segments that are well-formed IP packets no larger than allowed, whose
 * payloads add up to the super-packet's and whose checksums verify;
 * checksum completion stays inside the packet. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/gso.h"
#include "core/ip.h"

#define CHECK(cond)             \
	do {                    \
		if (!(cond))    \
			abort(); \
	} while (0)

#define SEG_MAX 65535

static uint8_t out[SEG_MAX];

/* A TCP/UDP segment's checksum over its pseudo-header verifies. */
static void check_segment(const struct kt_gso *g, int n)
{
	struct kt_ip_info ip;
	CHECK(n > 0 && (size_t)n <= SEG_MAX && (size_t)n > g->hl);
	CHECK(kt_ip_parse(out, (size_t)n, &ip) == 0);
	CHECK(ip.tot_len == (uint32_t)n && ip.hdr_len == g->l4);
	size_t l4 = (size_t)n - ip.hdr_len;
	uint32_t sum = ip.version == 4 ? kt_ip_csum_add(0, out + 12, 8) : kt_ip_csum_add(0, out + 8, 32);
	sum += ip.proto + (uint32_t)l4;
	CHECK(kt_ip_csum_fold(kt_ip_csum_add(sum, out + ip.hdr_len, l4)) == 0);
	if (ip.version == 4)
		CHECK(kt_ip_csum_fold(kt_ip_csum_add(0, out, ip.hdr_len)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < KT_VNET_HDR_LEN)
		return 0;
	struct kt_vnet_hdr h;
	kt_vnet_hdr_get(data, &h);
	size_t len = size - KT_VNET_HDR_LEN;
	uint8_t *p = malloc(len ? len : 1); /* exact size: ASan sees an over-read */
	memcpy(p, data + KT_VNET_HDR_LEN, len);
	struct kt_gso g;
	int k = kt_gso_init(&g, &h, p, len, SEG_MAX);
	if (k > 0) {
		size_t made = 0, payload = 0;
		int n;
		while ((n = kt_gso_next(&g, out, sizeof(out))) > 0) {
			if (g.gso) {
				check_segment(&g, n);
				payload += (size_t)n - g.hl;
			}
			made++;
		}
		CHECK(n == 0 && made == (size_t)k);
		if (g.gso)
			CHECK(payload == g.tot - g.hl);
	}
	uint8_t before[16];
	size_t keep = len < sizeof(before) ? len : sizeof(before);
	memcpy(before, p, keep);
	if (kt_gso_csum(p, len, &h) < 0)
		CHECK(memcmp(before, p, keep) == 0);
	free(p);
	return 0;
}
