/* Offloads between a TUN device and user space: the virtio-net header the
 * kernel puts in front of each packet on a TUN opened with IFF_VNET_HDR,
 * the splitting of the TCP and UDP super-packets it then hands us (TSO,
 * USO) into packets of gso_size payload bytes, and the checksums it leaves
 * for us to complete. Pure packet logic (the daemon reads and writes):
 * every field of the header is checked against the packet before a byte
 * is read at the place it names. */
#ifndef KT_GSO_H
#define KT_GSO_H

#include "core/types.h"

/* struct virtio_net_hdr (virtio 1.2 §5.1.6, without num_buffers): the
 * TUN default header size. Its 16-bit fields are in the host's byte order
 * (legacy virtio; TUNSETVNETLE/BE are left alone). */
#define KT_VNET_HDR_LEN 10
#define KT_VNET_F_NEEDS_CSUM 0x01   /* checksum at csum_start+csum_offset left to us */
#define KT_VNET_F_DATA_VALID 0x02
#define KT_VNET_GSO_NONE 0
#define KT_VNET_GSO_TCPV4 1
#define KT_VNET_GSO_UDP 3           /* UFO (IP fragments): never offered, refused */
#define KT_VNET_GSO_TCPV6 4
#define KT_VNET_GSO_UDP_L4 5        /* USO (Linux 6.2) */
#define KT_VNET_GSO_ECN 0x80        /* the flow uses ECN: CWR on the first segment only */

#define KT_TCP_HDR_MIN 20           /* RFC 9293 §3.1 */
#define KT_TCP_CSUM_OFF 16
#define KT_UDP_CSUM_OFF 6

struct kt_vnet_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
};

void kt_vnet_hdr_get(const uint8_t *p, struct kt_vnet_hdr *h);
void kt_vnet_hdr_put(uint8_t *p, const struct kt_vnet_hdr *h);

/* Complete, in place, the checksum a NEEDS_CSUM header leaves to us: the
 * one's-complement sum of p[csum_start..len) (whose checksum field holds
 * the pseudo-header sum) stored at csum_start + csum_offset; a computed 0
 * is stored as 0xffff, as Linux does. Returns 0 (also without NEEDS_CSUM:
 * nothing to do) or KT_ERR_MALFORMED (the field is not inside p[0..len)),
 * the packet then untouched. */
int kt_gso_csum(uint8_t *p, size_t len, const struct kt_vnet_hdr *h);

/* One super-packet being split (fields private). */
struct kt_gso {
	const uint8_t *p;
	size_t tot;              /* the packet's IP length */
	size_t l4;               /* offset of the TCP/UDP header (csum_start) */
	size_t hl;               /* IP + TCP/UDP header bytes copied before each payload */
	size_t off;              /* next payload byte */
	size_t mss;
	struct kt_vnet_hdr h;
	uint32_t seq;
	uint16_t id;
	uint8_t version, proto;
	bool gso;
};

/* Check h against the IP packet p[0..len) that followed it and prepare
 * kt_gso_next. Without GSO the packet comes out once, its checksum
 * completed. With TCPV4/TCPV6/UDP_L4 it must be an unfragmented IP packet
 * of that family and protocol whose transport header starts at csum_start
 * and lies whole within it, with a payload; hdr_len from the kernel is not
 * trusted (the header length is read from the packet); no segment may
 * exceed seg_max bytes. p must not change until the last kt_gso_next.
 * Returns the number of packets it yields, or KT_ERR_MALFORMED (lengths,
 * offsets, family or protocol that do not match the packet, gso_size 0)
 * or KT_ERR_UNSUPPORTED (UFO, unknown GSO types). */
int kt_gso_init(struct kt_gso *g, const struct kt_vnet_hdr *h, const uint8_t *p, size_t len,
		size_t seg_max);

/* The next packet into out[0..cap): a copy of the IP and transport header
 * with the lengths, IPv4 ID (+1 a segment), TCP sequence number, flags
 * (FIN and PSH on the last segment only, CWR on the first only) and both
 * checksums made right for its slice of the payload. Returns its length,
 * 0 after the last one, or KT_ERR_NOSPACE (cap too small). */
int kt_gso_next(struct kt_gso *g, uint8_t *out, size_t cap);

#endif
