/* How much ESP and AH add to a packet: the worst case before the
 * algorithms are known, and the exact limit for installed SAs. */
#include "core/ah.h"
#include "core/esp.h"
#include "core/mtu.h"

/* ESP without the outer header: UDP, header, IV, padding, trailer, ICV. */
static size_t esp_worst(bool encap)
{
	return (encap ? KT_UDP_HDR_LEN : 0) + KT_ESP_HDR_LEN + KT_XFORM_MAX_IV +
	       (KT_MTU_MAX_BLOCK - 1) + KT_ESP_TRAILER_LEN + KT_XFORM_MAX_ICV;
}

/* AH without the outer header, padded to its alignment. */
static size_t ah_worst(void)
{
	size_t len = KT_AH_HDR_LEN + KT_XFORM_MAX_ICV;
	return (len + KT_MTU_AH_ALIGN_V6 - 1) / KT_MTU_AH_ALIGN_V6 * KT_MTU_AH_ALIGN_V6;
}

size_t kt_mtu_worst_overhead(bool esp, bool ah, uint8_t outer_version, bool encap)
{
	/* A bundle of two tunnel-mode SAs gets an outer header from each. */
	size_t hdr = kt_ip_hdr_len(outer_version == 4 ? 4 : 6), len = 0;
	if (esp)
		len += hdr + esp_worst(encap);
	if (ah)
		len += hdr + ah_worst();
	return len;
}

static size_t sealed_len(const struct kt_sa *esp, const struct kt_sa *ah, size_t n)
{
	size_t len = n;
	if (esp)
		len += kt_esp_overhead(esp, n);
	if (ah)
		len += kt_ah_overhead(ah);
	return len;
}

/* The sealed length never shrinks as the inner packet grows (padding only
 * rounds up), so the answer is found by bisection. */
size_t kt_mtu_inner_max(const struct kt_sa *esp, const struct kt_sa *ah, size_t path_mtu)
{
	size_t lo = 0, hi = path_mtu;
	if (sealed_len(esp, ah, 0) > path_mtu)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;
		if (sealed_len(esp, ah, mid) <= path_mtu)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}
