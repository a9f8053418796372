/* libFuzzer target for receive coalescing (core/gro.c). The input is a
 * list of packets, each [flags][length: 2 bytes][bytes]; flags bit 0 asks
 * for the IPv4 header and TCP checksums to be made right first (else the
 * fuzzer would almost never reach a merge). Packets are merged as the
 * daemon does, one run at a time; every super-packet must split again
 * (core/gso.c) into exactly the payload bytes and sequence numbers that
 * went in, in order, with a checksum that completes right; a packet left
 * alone must come out unchanged. Each packet is a heap copy of its exact
 * length, so ASan sees an over-read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/gro.h"
#include "core/gso.h"
#include "core/ip.h"

#define CHECK(cond)             \
	do {                    \
		if (!(cond))    \
			abort(); \
	} while (0)

#define ROOM (KT_GRO_MAX + 64)
#define MAX_PKTS 1024

static uint8_t seg[ROOM];

struct run {
	struct kt_gro g;
	uint8_t *head;               /* ROOM bytes */
	const uint8_t *in[MAX_PKTS]; /* the packets that went in */
	size_t in_len[MAX_PKTS];
	size_t n;
};

/* The split of the super-packet gives back each input's payload and seq. */
static void check_split(struct run *r, size_t len, const struct kt_vnet_hdr *h)
{
	uint8_t *sp = malloc(len);
	memcpy(sp, r->head, len);
	struct kt_gso gs;
	CHECK(kt_gso_init(&gs, h, sp, len, KT_GRO_MAX) == (int)r->n);
	size_t hl = h->hdr_len, l3 = h->csum_start;
	for (size_t i = 0; i < r->n; i++) {
		int k = kt_gso_next(&gs, seg, sizeof(seg));
		CHECK(k > 0 && (size_t)k == r->in_len[i]);
		CHECK(memcmp(seg + hl, r->in[i] + hl, (size_t)k - hl) == 0);
		CHECK(kt_get32(seg + l3 + 4) == kt_get32(r->in[i] + l3 + 4));
	}
	CHECK(kt_gso_next(&gs, seg, sizeof(seg)) == 0);
	CHECK(kt_gso_csum(sp, len, h) == 0);
	uint32_t sum = h->gso_type == KT_VNET_GSO_TCPV4 ? kt_ip_csum_add(0, sp + 12, 8)
							 : kt_ip_csum_add(0, sp + 8, 32);
	sum += KT_IPPROTO_TCP + (uint32_t)(len - l3);
	CHECK(kt_ip_csum_fold(kt_ip_csum_add(sum, sp + l3, len - l3)) == 0);
	free(sp);
}

static void finish(struct run *r)
{
	if (!r->n)
		return;
	struct kt_vnet_hdr h;
	size_t len = kt_gro_finish(&r->g, &h);
	CHECK(len <= KT_GRO_MAX);
	if (r->n == 1)
		CHECK(len == r->in_len[0] && memcmp(r->head, r->in[0], len) == 0 && !h.flags);
	else
		check_split(r, len, &h);
	r->n = 0;
}

static void one(struct run *r, const uint8_t *q, size_t len)
{
	struct kt_gro_seg s;
	if (kt_gro_parse(q, len, &s) != KT_GRO_SEG) {
		finish(r);
		return;
	}
	if (r->n && r->n < MAX_PKTS && kt_gro_append(&r->g, q, &s)) {
		CHECK(kt_gro_same_flow(&s.key, &r->g.first.key));
	} else {
		finish(r);
		memcpy(r->head, q, len);
		kt_gro_start(&r->g, r->head, ROOM, &s);
	}
	r->in[r->n] = q;
	r->in_len[r->n++] = len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r;
	uint8_t *pkts[MAX_PKTS];
	size_t np = 0;
	r.head = malloc(ROOM);
	r.n = 0;
	while (size >= 3 && np < MAX_PKTS) {
		size_t len = kt_get16(data + 1);
		uint8_t flags = data[0];
		data += 3, size -= 3;
		if (len > size)
			len = size;
		uint8_t *q = malloc(len ? len : 1);
		memcpy(q, data, len);
		data += len, size -= len;
		if ((flags & 1) && len >= 20 && (q[0] >> 4) == 4 && (size_t)(q[0] & 15) * 4 <= len)
			kt_ip4_set_csum(q);
		if (flags & 1)
			kt_ip_fix_l4_csum(q, len);
		pkts[np++] = q;
		one(&r, q, len);
	}
	finish(&r);
	for (size_t i = 0; i < np; i++)
		free(pkts[i]);
	free(r.head);
	return 0;
}
