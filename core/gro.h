/* Receive coalescing toward a TUN opened with offloads (the inverse of
 * gso.h): consecutive TCP segments of one flow merged in place into one
 * super-packet the kernel takes with a virtio-net header (gso_type TCPV4 or
 * TCPV6, NEEDS_CSUM), as Linux's GRO does. Pure packet logic: the caller
 * owns the buffers, keeps the table of flows and writes. */
#ifndef KT_GRO_H
#define KT_GRO_H

#include "core/gso.h"
#include "core/types.h"

/* Largest super-packet (its IP length): the 16-bit IPv4 total length. */
#define KT_GRO_MAX 65535

/* What a packet is to coalescing (kt_gro_parse). */
enum kt_gro_kind {
	KT_GRO_OTHER,  /* no TCP flow (not TCP, not IP): no held segment is affected */
	KT_GRO_ANY,    /* TCP whose ports cannot be read (a fragment): may be any flow */
	KT_GRO_FLOW,   /* a TCP packet of flow s->key that cannot merge */
	KT_GRO_SEG,    /* a TCP segment that may merge with its flow's */
};

struct kt_gro_key {
	struct kt_addr src, dst;
	uint16_t sport, dport;
};

/* One parsed packet (kt_gro_parse). */
struct kt_gro_seg {
	struct kt_gro_key key;
	uint16_t ip_hl;          /* IP header bytes (20 or 40: no options, no extensions) */
	uint16_t hl;             /* IP + TCP header bytes */
	uint16_t len;            /* the packet's IP length */
	uint32_t seq;
	uint8_t flags;           /* TCP flags byte */
};

/* One flow's segments being merged into the first one's buffer (fields
 * private). */
struct kt_gro {
	uint8_t *p;              /* the first segment, grown in place */
	size_t cap;              /* room from p on */
	struct kt_gro_seg first;
	size_t len;              /* bytes so far */
	uint32_t next_seq;
	uint16_t mss;            /* the first segment's payload size */
	uint16_t n;              /* segments merged */
	uint8_t id_step;         /* IPv4 IDs: +1 a segment, or 0 (all zero) */
	bool psh, closed;        /* a short or PSH segment ended the run */
};

/* Classify the IP packet p[0..len) and, for FLOW and SEG, fill s. SEG: an
 * unfragmented IPv4 packet with DF and no options or an IPv6 packet without
 * extension headers, exactly len bytes, carrying a TCP segment with a
 * payload, only ACK (and PSH) set, and a checksum that verifies (merging
 * makes the kernel trust the checksum, so a corrupt segment stays alone for
 * the kernel to drop). */
enum kt_gro_kind kt_gro_parse(const uint8_t *p, size_t len, struct kt_gro_seg *s);

/* Are a and b of one flow (addresses and ports)? */
bool kt_gro_same_flow(const struct kt_gro_key *a, const struct kt_gro_key *b);

/* Begin a run with segment p (parsed as SEG into s); cap: the bytes
 * writable from p on (the super-packet grows there, up to KT_GRO_MAX). */
void kt_gro_start(struct kt_gro *g, uint8_t *p, size_t cap, const struct kt_gro_seg *s);

/* Append segment q (parsed as SEG into s) if it continues g: same flow,
 * addresses, TTL / hop limit, TOS / traffic class and flow label, TCP
 * acknowledgment, window and options; IPv4 IDs consecutive (or all 0);
 * sequence number where g ends; no longer than the first segment; g not
 * ended by a shorter or PSH segment; the result within KT_GRO_MAX and cap.
 * Returns true (its payload copied, q no longer needed) or false (g
 * unchanged: finish g, then start a new run with q). */
bool kt_gro_append(struct kt_gro *g, const uint8_t *q, const struct kt_gro_seg *s);

/* Finish g: for one segment, the packet as it was and h all zero; for
 * more, the IP length (and IPv4 header checksum), PSH if the last segment
 * had it, and the TCP checksum field set to the pseudo-header sum, with h
 * the virtio-net header that asks the kernel to segment and complete it.
 * Returns the packet's length at g->p. */
size_t kt_gro_finish(struct kt_gro *g, struct kt_vnet_hdr *h);

#endif
