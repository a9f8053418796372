/* NAT detection (RFC 7296 §2.23): the hash carried in the
 * NAT_DETECTION_SOURCE_IP and NAT_DETECTION_DESTINATION_IP notifications.
 * A NAT is present when the hash of the address and port a message arrived
 * from differs from the one its sender announced. */
#ifndef KT_IKE_NATD_H
#define KT_IKE_NATD_H

#include "core/types.h"

#define KT_IKE_NATD_LEN 20 /* SHA-1 output, RFC 7296 §2.23 */

/* out = SHA-1(SPIi | SPIr | IP | Port): SPIs as 8 big-endian bytes each
 * (SPIr is 0 in IKE_SA_INIT), the address in network order (4 or 16 bytes),
 * the port as 2 big-endian bytes. Returns 0, KT_ERR_INVAL (address version
 * not 4 or 6), KT_ERR_NOMEM, KT_ERR_CRYPTO. */
int kt_ike_natd_hash(uint64_t spi_i, uint64_t spi_r, const struct kt_addr *addr, uint16_t port,
		     uint8_t out[KT_IKE_NATD_LEN]);

#endif
