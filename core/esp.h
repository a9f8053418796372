/* ESP, RFC 4303: seal and open in place, transport and tunnel mode, IPv4
 * and IPv6, ESP in UDP (RFC 3948). Sealing takes a whole IP packet and
 * leaves the whole outer packet in its place; opening does the reverse. */
#ifndef KT_ESP_H
#define KT_ESP_H

#include "core/sad.h"

#define KT_ESP_HDR_LEN 8     /* SPI + sequence number */
#define KT_ESP_TRAILER_LEN 2 /* pad length + next header */
#define KT_ESP_MAX_PAD 255

/* Seal pkt (an IP packet) with the outbound ESP SA. Tunnel mode puts the
 * packet inside a new outer header (sa->p.src -> sa->p.dst); transport mode
 * inserts ESP after the IP header (after IPv6 extension headers). With
 * sa->p.encap a UDP header goes before ESP. Returns 0, KT_ERR_NOSPACE (also
 * when the result would not fit the IP length field), KT_ERR_FRAGMENT
 * (transport mode on a fragment),
 * KT_ERR_EXHAUSTED, KT_ERR_EXPIRED, KT_ERR_MALFORMED (pkt not IP),
 * KT_ERR_INVAL (not an outbound ESP SA), KT_ERR_CRYPTO. */
int kt_esp_seal(struct kt_sad *sad, struct kt_sa *sa, struct kt_pkt *pkt);

/* Open the ESP packet described by ip (ip->proto ESP, or UDP carrying ESP
 * when udp is true). In fixed order: find the SA, check replay, verify the
 * ICV and decrypt, advance the window (the packet is authentic), then check
 * padding and next header and count the bytes.
 * On success pkt holds the inner packet (tunnel) or the packet with ESP
 * removed (transport), and *sa the SA used. On failure *sa is the SA when
 * one was found (so per-SA counters can be kept), else NULL; the packet
 * content is then unspecified. Returns 0, KT_ERR_MALFORMED, KT_ERR_NO_SA,
 * KT_ERR_EXPIRED, KT_ERR_REPLAY, KT_ERR_TOO_OLD, KT_ERR_AUTH,
 * KT_ERR_PADDING, KT_ERR_PROTO, KT_ERR_DUMMY. */
int kt_esp_open(struct kt_sad *sad, struct kt_pkt *pkt, const struct kt_ip_info *ip, bool udp,
		struct kt_sa **sa);

/* Bytes ESP adds to a packet of inner_len bytes on this SA (outer header,
 * UDP, ESP header, IV, padding, trailer, ICV): for MTU computation. */
size_t kt_esp_overhead(const struct kt_sa *sa, size_t inner_len);

#endif
