/* From the wire to the TUN. Raw IPPROTO_ESP and IPPROTO_AH sockets per
 * family and the port-4500 UDP sockets are read with recvmmsg into the
 * inbound slots; the core finds each packet's SA by SPI, opens it and
 * checks the inner packet against the SA's selectors; what comes out is
 * written to the TUN (tunnel mode: the inner packet; transport mode: the
 * packet with the outer addresses, which the kernel delivers locally).
 *
 * The core wants whole IP packets, so headers are rebuilt where the kernel
 * strips them: ESP in UDP gets an IP and UDP header from the datagram's
 * addresses and ports; IPv6 raw sockets deliver only what follows the
 * IPv6 header (and its extension headers), so a 40-byte header is rebuilt
 * from the source, the IPV6_PKTINFO destination and the length. AH zeroes
 * the mutable fields for its ICV anyway; AH over IPv6 after extension
 * headers (which the rebuilt header lacks) fails its ICV check and is
 * dropped. IPv4 raw sockets deliver the reassembled packet with its
 * header.
 *
 * With TUN offloads, the TCP segments of one flow opened from one receive
 * batch are merged in the slot of the first (core/gro.h) and written as
 * one super-packet when the batch ends; the kernel splits it again where
 * it must, and trusts its checksum, which core/gro.c checked per segment.
 *
 * Runs on the inbound thread (worker.h) with kd->ips_in and dp->in; what
 * only the main thread may do (IKE behind the marker, a peer seen at a new
 * address) is queued for it. */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/err.h"
#include "daemon/dataplane.h"
#include "daemon/log.h"
#include "daemon/netaddr.h"
#include "daemon/worker.h"

#define NON_ESP_MARKER_LEN 4    /* RFC 3948 §2.2 */
#define NATT_KEEPALIVE 0xff     /* RFC 3948 §2.3 */
#define REBUILT_TTL 64

static bool pow2(uint64_t n) { return (n & (n - 1)) == 0; }

static uint8_t *in_slot(struct kd_dp_in *in, size_t i)
{
	return in->buf + i * KD_DP_SLOT;
}

/* Each datagram lands after the headroom, where headers can be rebuilt. */
static int recv_batch(struct kd_dp_in *in, int fd)
{
	for (size_t i = 0; i < KD_DP_BATCH; i++) {
		in->iov[i] = (struct iovec){ .iov_base = in_slot(in, i) + KD_DP_HEADROOM,
					     .iov_len = KD_DP_PKT_MAX };
		in->mm[i].msg_hdr = (struct msghdr){
			.msg_name = &in->from[i], .msg_namelen = sizeof(in->from[i]),
			.msg_iov = &in->iov[i], .msg_iovlen = 1, .msg_control = in->cbuf[i],
			.msg_controllen = KD_DP_RX_CMSG };
	}
	int n = recvmmsg(fd, in->mm, KD_DP_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
	    pow2(++in->st.rx_errors))
		kd_warn("data plane: receive: %s", strerror(errno));
	return n;
}

/* Did an ESP-in-UDP packet of sa come from somewhere else than the peer's
 * address and port the SA knows? (for an inbound SA: src, encap_sport) */
static bool peer_elsewhere(const struct kt_sa *sa, const struct kt_ike_endpoint *from)
{
	return from && sa->p.encap &&
	       (from->port != sa->p.encap_sport || !kt_addr_equal(&from->addr, &sa->p.src));
}

/* What a packet written alone goes to the TUN with (offloads on): its ICV
 * vouched for every byte, checksums included, but Linux's TUN (6.18)
 * ignores DATA_VALID and verifies the checksums anyway. Merged packets
 * (below) go with NEEDS_CSUM instead, which the kernel trusts: core/gro.c
 * merges only segments whose own checksums it verified. */
static const struct kt_vnet_hdr authentic = { .flags = KT_VNET_F_DATA_VALID };

/* ---- coalescing (offloads): the batch's TCP segments per flow ---- */

static void gro_write(struct kd *kd, struct kt_gro *g)
{
	struct kd_dp_in *in = &kd->dp->in;
	struct kt_vnet_hdr h;
	size_t len = kt_gro_finish(g, &h);
	if (g->n > 1)
		in->st.tun_gro++;
	kd_tun_write(kd, &in->st, g->p, len, g->n > 1 ? &h : &authentic);
}

/* Write held flow i and take it out of the table, keeping the order. */
static void gro_flush_one(struct kd *kd, size_t i)
{
	struct kd_dp_in *in = &kd->dp->in;
	gro_write(kd, &in->gro[i]);
	memmove(&in->gro[i], &in->gro[i + 1], (in->n_gro - i - 1) * sizeof(in->gro[0]));
	in->n_gro--;
}

/* At the end of a batch, before its slots are read into again. */
static void gro_flush(struct kd *kd)
{
	while (kd->dp->in.n_gro)
		gro_flush_one(kd, 0);
}

static size_t gro_find(const struct kd_dp_in *in, const struct kt_gro_key *k)
{
	size_t i = 0;
	while (i < in->n_gro && !kt_gro_same_flow(&in->gro[i].first.key, k))
		i++;
	return i;
}

/* An opened packet to the TUN. With offloads, a TCP segment joins its
 * flow's run or starts one; any other packet of a held flow first pushes
 * that flow out, so no flow's packets change order. */
static void deliver(struct kd *kd, struct kt_pkt *pkt)
{
	struct kd_dp_in *in = &kd->dp->in;
	uint8_t *p = kt_pkt_data(pkt);
	struct kt_gro_seg s;
	enum kt_gro_kind kind = kd->dp->vnet ? kt_gro_parse(p, pkt->len, &s) : KT_GRO_OTHER;
	size_t i = kind >= KT_GRO_FLOW ? gro_find(in, &s.key) : in->n_gro;
	if (kind == KT_GRO_SEG && i < in->n_gro && kt_gro_append(&in->gro[i], p, &s))
		return;
	if (kind == KT_GRO_ANY)
		gro_flush(kd);
	else if (i < in->n_gro)
		gro_flush_one(kd, i);
	if (kind != KT_GRO_SEG) {
		kd_tun_write(kd, &in->st, p, pkt->len, &authentic);
		return;
	}
	if (in->n_gro == KD_DP_GRO_FLOWS)
		gro_flush_one(kd, 0);
	kt_gro_start(&in->gro[in->n_gro++], p, pkt->head + pkt->cap - p, &s);
}

/* One inbound packet; from: where an ESP-in-UDP packet came from (NULL
 * for raw ESP/AH). */
static void input(struct kd *kd, struct kt_pkt *pkt, const struct kt_ike_endpoint *from)
{
	struct kd_dp_in *in = &kd->dp->in;
	struct kt_sa *sa = NULL;
	bool udp = from != NULL;
	int rc = kt_ipsec_input(&kd->ips_in, pkt, &sa);
	if (rc == KT_DECAPPED) {
		in->st.decapped++;
		bool moved = peer_elsewhere(sa, from);
		uint32_t spi = sa->p.spi;
		deliver(kd, pkt);
		if (moved && kd_wk_is_worker())
			kd_wk_post_natt(kd, spi, from);
		else if (moved) /* may change the SAD: sa is not used after this */
			kd_natt_seen(kd, spi, from);
		return;
	}
	in->st.in_dropped++;
	if (udp)
		kd->udp.esp_in_udp_dropped++;
	if (rc < 0 && pow2(in->st.in_dropped) && kd_log_level() >= KT_CONF_LOG_DEBUG)
		kd_debug("dropped an inbound %s packet%s: %s (%llu so far)", udp ? "ESP-in-UDP" : "raw",
			 sa ? " on a known SA" : "", kt_strerror(rc),
			 (unsigned long long)in->st.in_dropped);
}

/* ---- raw ESP and AH ---- */

static void ipv6_dst(struct msghdr *mh, struct kt_addr *dst)
{
	dst->version = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			dst->version = 6;
			memcpy(dst->bytes, &pi.ipi6_addr, 16);
		}
	}
}

/* The packet of datagram i as the core wants it; false to drop it. */
static bool raw_packet(struct kd_dp_in *in, struct kd_raw *r, size_t i, struct kt_pkt *pkt)
{
	uint8_t *slot = in_slot(in, i);
	size_t len = in->mm[i].msg_len;
	*pkt = (struct kt_pkt){ .head = slot, .cap = KD_DP_SLOT, .off = KD_DP_HEADROOM, .len = len };
	if (r->version == 4)
		return true;
	struct kt_ike_endpoint from;
	struct kt_addr dst;
	ipv6_dst(&in->mm[i].msg_hdr, &dst);
	if (kd_sockaddr_to_endpoint((struct sockaddr *)&in->from[i], &from) < 0 || !dst.version)
		return false;
	pkt->off -= KT_IPV6_HDR_LEN;
	pkt->len += KT_IPV6_HDR_LEN;
	return kt_ip_build(kt_pkt_data(pkt), &from.addr, &dst, r->proto, len, 0, REBUILT_TTL, 0) > 0;
}

static void raw_ready(struct kd *kd, struct kd_io *io, uint32_t events)
{
	(void)events;
	struct kd_dp_in *in = &kd->dp->in;
	struct kd_raw *r = (struct kd_raw *)((char *)io - offsetof(struct kd_raw, io));
	int n = recv_batch(in, io->fd);
	for (int i = 0; i < n; i++) {
		struct kt_pkt pkt;
		in->st.rx_raw++;
		if (in->mm[i].msg_hdr.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
			in->st.rx_truncated++;
			continue;
		}
		if (raw_packet(in, r, (size_t)i, &pkt))
			input(kd, &pkt, NULL);
		else
			in->st.in_dropped++;
	}
	gro_flush(kd);
}

static const struct { uint8_t version, proto; } raw_kinds[4] = {
	{ 4, KT_IPPROTO_ESP }, { 4, KT_IPPROTO_AH }, { 6, KT_IPPROTO_ESP }, { 6, KT_IPPROTO_AH },
};

static int raw_socket(struct kd *kd, int family, int proto)
{
	int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return -1;
	int buf = KD_DP_SOCKBUF, one = 1, dont = IP_PMTUDISC_DONT;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	bool ok = kd_dp_mark_socket(kd, fd) == 0;
	/* Outer IPv4 headers go without DF, as the core builds them: a
	 * router on a smaller link fragments rather than drops. */
	if (ok && family == AF_INET && proto != IPPROTO_RAW)
		ok = setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof(dont)) == 0;
	if (ok && family == AF_INET6 && proto != IPPROTO_RAW)
		ok = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) == 0;
	if (!ok) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* IPv4 must work; IPv6 may be off on this host (a warning). */
int kd_dp_raw_open(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	for (size_t i = 0; i < 4; i++) {
		struct kd_raw *r = &dp->raw[i];
		r->version = raw_kinds[i].version;
		r->proto = raw_kinds[i].proto;
		r->io.ready = raw_ready;
		r->io.fd = raw_socket(kd, r->version == 6 ? AF_INET6 : AF_INET, r->proto);
		if (r->io.fd < 0 || kd_wk_io_add(kd, KD_WK_IN, &r->io) < 0) {
			kd_log(r->version == 4 ? KT_CONF_LOG_ERROR : KT_CONF_LOG_WARN,
			       "cannot open a raw IPv%u %s socket: %s", r->version,
			       r->proto == KT_IPPROTO_ESP ? "ESP" : "AH", strerror(errno));
			if (r->version == 4)
				return -1;
		}
	}
	dp->hdrinc4 = raw_socket(kd, AF_INET, IPPROTO_RAW);
	dp->hdrinc6 = raw_socket(kd, AF_INET6, IPPROTO_RAW);
	if (dp->hdrinc4 < 0) {
		kd_err("cannot open a raw IPv4 socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void kd_dp_raw_close(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	for (size_t i = 0; i < 4; i++) {
		if (dp->raw[i].io.fd < 0)
			continue;
		kd_wk_io_del(kd, KD_WK_IN, &dp->raw[i].io);
		close(dp->raw[i].io.fd);
		dp->raw[i].io.fd = -1;
	}
	if (dp->hdrinc4 >= 0)
		close(dp->hdrinc4);
	if (dp->hdrinc6 >= 0)
		close(dp->hdrinc6);
	dp->hdrinc4 = dp->hdrinc6 = -1;
}

/* ---- port 4500: IKE, keepalives, ESP in UDP ---- */

/* An IP and UDP header in front of the datagram at pkt, as it was on
 * the wire (the checksum left 0: the kernel checked it). */
static bool rebuild_udp(struct kt_pkt *pkt, const struct kt_ike_endpoint *remote,
			const struct kt_ike_endpoint *local)
{
	size_t hl = kt_ip_hdr_len(remote->addr.version), len = pkt->len;
	if (local->addr.version != remote->addr.version)
		return false;
	pkt->off -= hl + KT_UDP_HDR_LEN;
	pkt->len += hl + KT_UDP_HDR_LEN;
	uint8_t *p = kt_pkt_data(pkt), *udp = p + hl;
	if (kt_ip_build(p, &remote->addr, &local->addr, KT_IPPROTO_UDP, KT_UDP_HDR_LEN + len, 0,
			REBUILT_TTL, 0) < 0)
		return false;
	kt_put16(udp, remote->port);
	kt_put16(udp + 2, local->port);
	kt_put16(udp + 4, KT_UDP_HDR_LEN + len);
	kt_put16(udp + 6, 0);
	return true;
}

/* IKE behind the marker goes to the engine, which only the main thread
 * may call: from the inbound thread, through its queue. */
static void ike_in(struct kd *kd, const uint8_t *msg, size_t len,
		   const struct kt_ike_endpoint *local, const struct kt_ike_endpoint *remote)
{
	if (kd_wk_is_worker())
		kd_wk_post_ike(kd, msg, len, local, remote);
	else
		kd_udp_ike_in(kd, msg, len, local, remote);
}

static void natt_one(struct kd *kd, const struct kd_sock *s, size_t i)
{
	struct kd_dp_in *in = &kd->dp->in;
	uint8_t *slot = in_slot(in, i), *data = slot + KD_DP_HEADROOM;
	size_t len = in->mm[i].msg_len;
	static const uint8_t marker[NON_ESP_MARKER_LEN];
	struct kt_ike_endpoint local, remote;
	if (kd_sockaddr_to_endpoint((struct sockaddr *)&in->from[i], &remote) < 0)
		return;
	kd_udp_pktinfo_local(&in->mm[i].msg_hdr, s, &local);
	if (len == 1 && data[0] == NATT_KEEPALIVE) {
		kd->udp.keepalives++;
	} else if (len < NON_ESP_MARKER_LEN) {
		kd->udp.runts++;
	} else if (memcmp(data, marker, NON_ESP_MARKER_LEN) == 0) {
		ike_in(kd, data + NON_ESP_MARKER_LEN, len - NON_ESP_MARKER_LEN, &local, &remote);
	} else {
		struct kt_pkt pkt = { .head = slot, .cap = KD_DP_SLOT, .off = KD_DP_HEADROOM, .len = len };
		in->st.rx_udp++;
		if (rebuild_udp(&pkt, &remote, &local))
			input(kd, &pkt, &remote);
		else
			kd->udp.esp_in_udp_dropped++;
	}
}

void kd_dp_natt_ready(struct kd *kd, struct kd_sock *s)
{
	struct kd_dp_in *in = &kd->dp->in;
	int n = recv_batch(in, s->io.fd);
	for (int i = 0; i < n; i++) {
		if (in->mm[i].msg_hdr.msg_flags & MSG_TRUNC) {
			in->st.rx_truncated++;
			continue;
		}
		natt_one(kd, s, (size_t)i);
	}
	gro_flush(kd);
}
