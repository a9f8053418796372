/* NAT detection hashes (RFC 7296 §2.23). */
#include "core/crypto/hash.h"
#include "core/err.h"
#include "core/ike/natd.h"

#define SPI_LEN 8 /* RFC 7296 §3.1 */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = SPI_LEN - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

int kt_ike_natd_hash(uint64_t spi_i, uint64_t spi_r, const struct kt_addr *addr, uint16_t port,
		     uint8_t out[KT_IKE_NATD_LEN])
{
	uint8_t spis[2 * SPI_LEN], pbuf[2] = { (uint8_t)(port >> 8), (uint8_t)port };

	if (!addr || (addr->version != 4 && addr->version != 6))
		return KT_ERR_INVAL;
	put_be64(spis, spi_i);
	put_be64(spis + SPI_LEN, spi_r);
	struct kt_chunk c[] = {
		{ spis, sizeof(spis) },
		{ addr->bytes, addr->version == 4 ? 4 : 16 },
		{ pbuf, sizeof(pbuf) },
	};
	return kt_hash_sha1(c, sizeof(c) / sizeof(c[0]), out);
}
