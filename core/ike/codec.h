/* Private to the IKE codec's files (not part of the msg.h contract):
 * big-endian field access and the value rules that both the parsers and
 * the writers apply, so that the writer never emits what the parser
 * refuses. */
#ifndef KT_IKE_CODEC_H
#define KT_IKE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/ike/msg.h"

/* RFC 7296 §3.1 header layout. */
#define IKE_HDR_NEXT_OFF 16
#define IKE_HDR_VERSION_OFF 17
#define IKE_HDR_EXCHANGE_OFF 18
#define IKE_HDR_FLAGS_OFF 19
#define IKE_HDR_MSGID_OFF 20
#define IKE_HDR_LENGTH_OFF 24
#define IKE_PL_CRITICAL 0x80 /* §3.2: high bit of the generic header's second byte */

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) << 16 | rd16(p + 2); }

/* A big-endian number of n <= 8 bytes (SPIs of any size). */
static inline uint64_t rdn(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wrn(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = n; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

/* Each returns 0 or KT_ERR_IKE_SYNTAX (payload.c, payload_sa.c). */
int kt_ike_check_proposal_spi(uint8_t proto, size_t spi_size);
int kt_ike_check_notify_spi(uint8_t proto, size_t spi_size);
int kt_ike_check_delete(uint8_t proto, size_t spi_size, size_t n);
int kt_ike_check_id(uint8_t type, size_t len);
int kt_ike_check_ts(const struct kt_ts *ts);
int kt_ike_check_cp_attr(uint16_t type, size_t len);
/* 0, KT_ERR_MALFORMED (EAP Length != len, too short) or KT_ERR_IKE_SYNTAX. */
int kt_ike_check_eap(const uint8_t *msg, size_t len);

/* Writer primitives shared by msg_encode.c and payload_sa.c. Each honours
 * and sets the sticky error. */
int kt_ike_w_fail(struct kt_ike_writer *w, int err);
/* Reserve n > 0 bytes; NULL (error set) if they do not fit. */
uint8_t *kt_ike_w_put(struct kt_ike_writer *w, size_t n);
int kt_ike_w_bytes(struct kt_ike_writer *w, const uint8_t *p, size_t n);
/* Open a payload (generic header, next-payload chaining) / set its length. */
int kt_ike_w_begin(struct kt_ike_writer *w, uint8_t type, bool critical, size_t *start);
int kt_ike_w_end(struct kt_ike_writer *w, size_t start);

#endif
