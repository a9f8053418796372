/* Big-endian (network order) loads and stores for the packet core: one
 * place for the byte arithmetic every header reader and writer needs. */
#ifndef KT_BYTES_H
#define KT_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t kt_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static inline uint32_t kt_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t kt_get64(const uint8_t *p)
{
	return (uint64_t)kt_get32(p) << 32 | kt_get32(p + 4);
}

/* Stores take size_t or wider values and keep the low bits, so lengths can
 * be written without casts at every call. */
static inline void kt_put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void kt_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void kt_put64(uint8_t *p, uint64_t v)
{
	kt_put32(p, (uint32_t)(v >> 32));
	kt_put32(p + 4, (uint32_t)v);
}

#endif
