/* Basic value types shared by the packet core: time, addresses and the
 * caller-owned packet buffer. The core never reads a clock: every call that
 * needs the time takes a kt_tstamp from the caller. */
#ifndef KT_TYPES_H
#define KT_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nanoseconds on a monotonic clock chosen by the caller. */
typedef uint64_t kt_tstamp;
#define KT_NANOSECONDS ((kt_tstamp)1)
#define KT_MILLISECONDS ((kt_tstamp)1000000)
#define KT_SECONDS ((kt_tstamp)1000000000)
#define KT_TSTAMP_NEVER UINT64_MAX

/* An IPv4 or IPv6 address; v4 uses bytes[0..3], the rest is zero. */
struct kt_addr {
	uint8_t version; /* 4 or 6; 0 means "unset / any" */
	uint8_t bytes[16];
};

/* A packet in a caller-owned buffer. The packet occupies
 * head[off .. off+len); head[0 .. off) is headroom and
 * head[off+len .. cap) tailroom. Transforms grow and shrink the packet in
 * place inside those bounds and never allocate. */
struct kt_pkt {
	uint8_t *head;
	size_t cap;
	size_t off;
	size_t len;
};

/* Room a caller should leave so that any SA can seal a packet in place:
 * outer IPv6 + UDP + ESP header + IV + AH on the front; padding, trailer,
 * ICV and ESN bytes at the back. TFC padding needs extra tailroom. */
#define KT_PKT_HEADROOM 128
#define KT_PKT_TAILROOM 320

static inline uint8_t *kt_pkt_data(const struct kt_pkt *p) { return p->head + p->off; }
static inline size_t kt_pkt_headroom(const struct kt_pkt *p) { return p->off; }
static inline size_t kt_pkt_tailroom(const struct kt_pkt *p) { return p->cap - p->off - p->len; }

/* Address helpers (addr.c). */
bool kt_addr_equal(const struct kt_addr *a, const struct kt_addr *b);
/* memcmp-style order; both must have the same version. */
int kt_addr_cmp(const struct kt_addr *a, const struct kt_addr *b);
/* Parse "192.0.2.1" or "2001:db8::1"; 0 or KT_ERR_INVAL. */
int kt_addr_parse(struct kt_addr *out, const char *text);
/* Format into buf (at least 46 bytes); returns buf. */
char *kt_addr_format(const struct kt_addr *a, char *buf, size_t size);

#endif
