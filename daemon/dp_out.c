/* From the TUN to the wire. Packets are read into the outbound slots (a
 * TCP/UDP super-packet, with offloads, into the spare slot, from which
 * core/gso.c cuts its segments into the outbound slots),
 * checked against the path MTU of their SA (ICMP "too big" back when they
 * cannot pass), sealed in place by the core and queued; each run of queued
 * packets for one socket leaves with one sendmmsg. How each leaves:
 *   ESP in UDP       the UDP payload from the port-4500 socket of its
 *                    source address (the kernel writes IP and UDP headers)
 *   ESP over IPv4    raw IPPROTO_ESP socket; the kernel builds the IP
 *                    header (our TOS, TTL and source via control messages)
 *                    and fragments the packet if a link needs it
 *   AH over IPv4     IPPROTO_RAW with our header as it is: AH's ICV covers
 *                    the header's immutable fields, the ID among them
 *   ESP/AH over IPv6 raw IPPROTO_ESP/AH socket, header by the kernel
 *                    (every field AH covers is ours); a sealed packet with
 *                    extension headers before ESP/AH goes whole through
 *                    IPPROTO_RAW instead
 * Transport-mode IPv4 options are lost on the ESP path (ESP does not
 * protect them anyway). Runs on the outbound thread (worker.h) with
 * kd->ips_out and dp->out; a packet that needs IKE first is queued for the
 * main thread, which owns the traps. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/err.h"
#include "core/icmp.h"
#include "core/mtu.h"
#include "daemon/child.h"
#include "daemon/dataplane.h"
#include "daemon/log.h"
#include "daemon/netaddr.h"
#include "daemon/worker.h"

static bool pow2(uint64_t n) { return (n & (n - 1)) == 0; }

/* ---- the batch ---- */

uint8_t *kd_dp_out_slot(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	if (dp->out.n_tx == KD_DP_BATCH)
		kd_dp_tx_flush(kd);
	return dp->out.slot[dp->out.n_tx];
}

static void note_tx_error(struct kd_dp *dp, const struct kd_tx *t, int err)
{
	dp->out.st.tx_errors++;
	if (pow2(dp->out.st.tx_errors)) {
		struct kt_ike_endpoint ep;
		char b[KD_ENDPOINT_TEXT] = "?";
		if (kd_sockaddr_to_endpoint((const struct sockaddr *)&t->to, &ep) == 0)
			kd_endpoint_format(&ep, b, sizeof(b));
		kd_warn("cannot send a %zu-byte packet to %s: %s (%llu send errors so far)",
			t->iov.iov_len, b, strerror(err), (unsigned long long)dp->out.st.tx_errors);
	}
}

/* One sendmmsg per run; a message the kernel refuses is counted and
 * skipped, a full socket buffer drops the rest of the run. */
static void send_run(struct kd_dp *dp, const struct kd_tx *t, struct mmsghdr *mm, size_t n)
{
	size_t done = 0;
	while (done < n) {
		int k = sendmmsg(t[0].fd, mm + done, (unsigned)(n - done), MSG_DONTWAIT);
		if (k > 0) {
			done += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		int err = k < 0 ? errno : EIO;
		if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
			dp->out.st.tx_errors += n - done;
			return;
		}
		note_tx_error(dp, &t[done], err);
		done++;
	}
}

void kd_dp_tx_flush(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	struct mmsghdr *mm = dp->out.mm;
	size_t i = 0;
	while (i < dp->out.n_tx) {
		size_t j = i;
		for (; j < dp->out.n_tx && dp->out.tx[j].fd == dp->out.tx[i].fd; j++) {
			struct kd_tx *t = &dp->out.tx[j];
			mm[j - i].msg_hdr = (struct msghdr){
				.msg_name = &t->to, .msg_namelen = t->to_len, .msg_iov = &t->iov,
				.msg_iovlen = 1, .msg_control = t->clen ? t->cbuf : NULL,
				.msg_controllen = t->clen };
		}
		send_run(dp, &dp->out.tx[i], mm, j - i);
		i = j;
	}
	dp->out.n_tx = 0;
}

/* ---- how a sealed packet leaves ---- */

static struct kd_tx *tx_take(struct kd_dp *dp, int fd, const struct kt_addr *dst, uint16_t port)
{
	struct kd_tx *t = &dp->out.tx[dp->out.n_tx++];
	struct kt_ike_endpoint ep = { .addr = *dst, .port = port };
	t->fd = fd;
	t->to_len = kd_endpoint_to_sockaddr(&ep, dst->version == 6 ? AF_INET6 : AF_INET, &t->to);
	t->clen = 0;
	return t;
}

/* Append one control message after *c (the first when *c is NULL);
 * returns the space it takes. mh spans the whole buffer while we walk it. */
static size_t add_cmsg(struct msghdr *mh, struct cmsghdr **c, int level, int type,
		       const void *data, size_t len)
{
	*c = *c ? CMSG_NXTHDR(mh, *c) : CMSG_FIRSTHDR(mh);
	(*c)->cmsg_level = level;
	(*c)->cmsg_type = type;
	(*c)->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(*c), data, len);
	return CMSG_SPACE(len);
}

/* Source address, TOS/traffic class and TTL/hop limit of the header we
 * built, for the header the kernel builds in its place. */
static void raw_cmsgs(struct kd_tx *t, const uint8_t *p, const struct kt_ip_info *ip)
{
	memset(t->cbuf, 0, sizeof(t->cbuf));
	struct msghdr mh = { .msg_control = t->cbuf, .msg_controllen = sizeof(t->cbuf) };
	struct cmsghdr *c = NULL;
	int tos = kt_ip_tos(p), ttl = ip->version == 6 ? p[7] : p[8];
	size_t used = 0;
	if (ip->version == 4) {
		struct in_pktinfo pi = { 0 };
		memcpy(&pi.ipi_spec_dst, ip->src.bytes, 4);
		used += add_cmsg(&mh, &c, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
		used += add_cmsg(&mh, &c, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
		used += add_cmsg(&mh, &c, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
	} else {
		struct in6_pktinfo pi6 = { 0 };
		memcpy(&pi6.ipi6_addr, ip->src.bytes, 16);
		used += add_cmsg(&mh, &c, IPPROTO_IPV6, IPV6_PKTINFO, &pi6, sizeof(pi6));
		used += add_cmsg(&mh, &c, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos));
		used += add_cmsg(&mh, &c, IPPROTO_IPV6, IPV6_HOPLIMIT, &ttl, sizeof(ttl));
	}
	t->clen = used;
}

static int raw_fd(const struct kd_dp *dp, uint8_t version, uint8_t proto)
{
	for (size_t i = 0; i < sizeof(dp->raw) / sizeof(dp->raw[0]); i++)
		if (dp->raw[i].version == version && dp->raw[i].proto == proto)
			return dp->raw[i].io.fd;
	return -1;
}

/* A whole packet, header included, through IPPROTO_RAW. */
static void queue_whole(struct kd_dp *dp, const struct kt_pkt *pkt, const struct kt_ip_info *ip)
{
	int fd = ip->version == 6 ? dp->hdrinc6 : dp->hdrinc4;
	if (fd < 0) {
		dp->out.st.tx_nosock++;
		return;
	}
	struct kd_tx *t = tx_take(dp, fd, &ip->dst, 0);
	t->iov = (struct iovec){ .iov_base = kt_pkt_data(pkt), .iov_len = pkt->len };
	dp->out.st.tx_raw++;
}

static void queue_raw(struct kd_dp *dp, const struct kt_pkt *pkt, const struct kt_ip_info *ip)
{
	uint8_t *p = kt_pkt_data(pkt);
	bool kernel_hdr = ip->version == 6 ? ip->proto_off == 6 : ip->proto == KT_IPPROTO_ESP;
	int fd = raw_fd(dp, ip->version, ip->proto);
	if (!kernel_hdr || fd < 0 || (ip->proto != KT_IPPROTO_ESP && ip->proto != KT_IPPROTO_AH)) {
		queue_whole(dp, pkt, ip);
		return;
	}
	struct kd_tx *t = tx_take(dp, fd, &ip->dst, 0);
	t->iov = (struct iovec){ .iov_base = p + ip->hdr_len, .iov_len = ip->tot_len - ip->hdr_len };
	raw_cmsgs(t, p, ip);
	dp->out.st.tx_raw++;
}

/* ESP in UDP: the payload after our UDP header, from the socket of the
 * SA's source address and port. */
static void queue_udp(struct kd *kd, const struct kt_pkt *pkt, const struct kt_ip_info *ip,
		      const struct kt_sa *sa)
{
	struct kd_dp *dp = kd->dp;
	struct kd_sock *s = kd_udp_find(kd, &sa->p.src, sa->p.encap_sport, sa->p.src.version);
	size_t off = ip->hdr_len + KT_UDP_HDR_LEN;
	if (!s || ip->tot_len < off) {
		dp->out.st.tx_nosock++;
		return;
	}
	struct kd_tx *t = tx_take(dp, s->io.fd, &sa->p.dst, sa->p.encap_dport);
	t->iov = (struct iovec){ .iov_base = kt_pkt_data(pkt) + off, .iov_len = ip->tot_len - off };
	if (s->wildcard) {
		struct msghdr mh = { 0 };
		t->clen = kd_udp_set_src(&mh, t->cbuf, &sa->p.src);
	}
	dp->out.st.tx_udp++;
}

static void queue_sealed(struct kd *kd, const struct kt_pkt *pkt, const struct kt_spd_rule *r)
{
	const struct kt_sa *outer = r->ah ? r->ah : r->esp;
	struct kt_ip_info ip;
	if (kt_ip_parse(kt_pkt_data(pkt), pkt->len, &ip) < 0) {
		kd->dp->out.st.out_dropped++;
		return;
	}
	if (!r->ah && outer->p.encap && ip.proto == KT_IPPROTO_UDP)
		queue_udp(kd, pkt, &ip, outer);
	else
		queue_raw(kd->dp, pkt, &ip);
}

/* ---- too big: ICMP back to the sender ---- */

static bool icmp_token(struct kd_dp *dp, kt_tstamp now)
{
	double add = (double)(now - dp->out.icmp_last) / KT_SECONDS * KD_DP_ICMP_RATE;
	dp->out.icmp_last = now;
	dp->out.icmp_tokens = dp->out.icmp_tokens + add > KD_DP_ICMP_BURST ? KD_DP_ICMP_BURST
								     : dp->out.icmp_tokens + add;
	if (dp->out.icmp_tokens < 1)
		return false;
	dp->out.icmp_tokens -= 1;
	return true;
}

/* From the gateway's address on the IKE SA (the SA's source), or one of
 * the host's inside the rule's local selector when the families differ. */
static void send_icmp(struct kd *kd, const struct kt_pkt *pkt, const struct kt_spd_rule *r,
		      size_t mtu)
{
	struct kd_dp *dp = kd->dp;
	uint8_t *out = dp->out.icmp;
	const uint8_t *p = kt_pkt_data(pkt);
	const struct kt_sa *sa = r->esp ? r->esp : r->ah;
	struct kt_addr src = sa->p.src;
	uint8_t v = p[0] >> 4;
	if (!icmp_token(dp, kd_now())) {
		dp->out.st.icmp_limited++;
		return;
	}
	if (src.version != v && !kd_dp_host_addr(kd, v, &r->local, &src) &&
	    !kd_dp_host_addr(kd, v, NULL, &src))
		return;
	int n = kt_icmp_too_big(out, sizeof(dp->out.icmp), p, pkt->len, &src, (uint32_t)mtu);
	if (n > 0) {
		kd_tun_write(kd, &dp->out.st, out, (size_t)n, NULL);
		dp->out.st.icmp_sent++;
	}
}

static const struct kd_child *child_by_cookie(struct kd *kd, uint64_t cookie)
{
	for (const struct kd_child *c = kd->children; c; c = c->next)
		if (c->cookie == cookie)
			return c;
	return NULL;
}

/* Larger than some SA can carry within its path MTU: find the rule and
 * answer with ICMP when the packet may not be fragmented. */
static bool too_big(struct kd *kd, const struct kt_pkt *pkt)
{
	struct kt_ip_info ip;
	const uint8_t *p = kt_pkt_data(pkt);
	if (kt_ip_parse(p, pkt->len, &ip) < 0)
		return false;
	const struct kt_spd_rule *r = kt_spd_lookup(kd->ips_out.spd, &ip, true);
	if (!r || r->action != KT_ACT_PROTECT || (!r->esp && !r->ah))
		return false;
	const struct kd_child *c = child_by_cookie(kd, r->cookie);
	size_t max = kt_mtu_inner_max(r->esp, r->ah, c ? c->path_mtu : KD_DP_PATH_MTU_DEFAULT);
	if (pkt->len <= max || !kt_icmp_df(p, pkt->len))
		return false;
	kd->dp->out.st.too_big++;
	send_icmp(kd, pkt, r, max);
	return true;
}

/* ---- one packet ---- */

static void note_drop(struct kd *kd, const struct kt_pkt *pkt, int rc)
{
	struct kd_dp *dp = kd->dp;
	dp->out.st.out_dropped++;
	if (!pow2(dp->out.st.out_dropped) || kd_log_level() < KT_CONF_LOG_DEBUG)
		return;
	struct kt_ip_info ip;
	char s[64] = "?", d[64] = "?";
	if (kt_ip_parse(kt_pkt_data(pkt), pkt->len, &ip) == 0) {
		kt_addr_format(&ip.src, s, sizeof(s));
		kt_addr_format(&ip.dst, d, sizeof(d));
	}
	kd_debug("dropped an outbound packet %s -> %s: %s (%llu so far)", s, d, kt_strerror(rc),
		 (unsigned long long)dp->out.st.out_dropped);
}

/* IPv6 link-local traffic (neighbour discovery, MLD) never leaves the
 * link, and the TUN is a link of its own: not the tunnel's business. */
static bool link_local(const struct kt_pkt *pkt)
{
	const uint8_t *p = kt_pkt_data(pkt);
	if (pkt->len < KT_IPV6_HDR_LEN || p[0] >> 4 != 6)
		return false;
	const uint8_t *dst = p + 24;
	return (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80) || (dst[0] == 0xff && (dst[1] & 0x0f) <= 2);
}

void kd_dp_output(struct kd *kd, struct kt_pkt *pkt)
{
	struct kd_dp *dp = kd->dp;
	if (link_local(pkt)) {
		dp->out.st.link_local++;
		return;
	}
	if (pkt->len > dp->safe_len && too_big(kd, pkt))
		return;
	const struct kt_spd_rule *rule = NULL;
	int rc = kt_ipsec_output(&kd->ips_out, pkt, &rule);
	if (rc == KT_SEALED) {
		queue_sealed(kd, pkt, rule);
	} else if (rc == KT_BYPASS) {
		struct kt_ip_info ip;
		if (kt_ip_parse(kt_pkt_data(pkt), pkt->len, &ip) == 0)
			queue_whole(dp, pkt, &ip);
	} else if (rc == KT_ERR_ACQUIRE && rule && kd_wk_is_worker()) {
		kd_wk_post_acquire(kd, rule->cookie, pkt); /* traps are main's */
	} else if (rc == KT_ERR_ACQUIRE && rule) {
		kd_dp_acquire(kd, rule->cookie, pkt);
	} else {
		note_drop(kd, pkt, rc);
	}
}

/* ---- reading the TUN ---- */

/* The packet at the head of its slot, through the SPD. */
static void output_slot(struct kd *kd, uint8_t *slot, size_t len)
{
	kd->dp->out.st.tun_rx++;
	struct kt_pkt pkt = { .head = slot, .cap = KD_DP_SLOT, .off = KD_DP_HEADROOM, .len = len };
	kd_dp_output(kd, &pkt);
}

static void bad_vnet(struct kd_dp *dp, const struct kt_vnet_hdr *h, size_t len, int rc)
{
	if (pow2(++dp->out.st.tun_bad_vnet))
		kd_warn("TUN %s: dropped a %zu-byte packet whose virtio header (gso type %u, size "
			"%u, csum %u+%u) does not fit it: %s (%llu so far)", dp->tun_name, len,
			h->gso_type, h->gso_size, h->csum_start, h->csum_offset, kt_strerror(rc),
			(unsigned long long)dp->out.st.tun_bad_vnet);
}

/* A super-packet in the current slot: it moves to the spare slot (a
 * pointer swap) and its segments go to the batch. The packets made. */
static size_t split(struct kd *kd, const struct kt_vnet_hdr *h, size_t len)
{
	struct kd_dp *dp = kd->dp;
	struct kd_dp_out *o = &dp->out;
	uint8_t *super = o->slot[o->n_tx];
	o->slot[o->n_tx] = o->spare;
	o->spare = super;
	int rc = kt_gso_init(&o->gso, h, super + KD_DP_HEADROOM, len, KD_DP_PKT_MAX);
	if (rc < 0) {
		bad_vnet(dp, h, len, rc);
		return 0;
	}
	o->st.tun_gso++;
	size_t made = 0;
	for (;;) {
		uint8_t *slot = kd_dp_out_slot(kd);
		int n = kt_gso_next(&o->gso, slot + KD_DP_HEADROOM, KD_DP_PKT_MAX);
		if (n <= 0)
			break;
		output_slot(kd, slot, (size_t)n);
		made++;
	}
	return made;
}

/* What one read of n bytes (virtio header included) yields; the packets made. */
static size_t offloaded(struct kd *kd, uint8_t *slot, const uint8_t *vh, size_t n)
{
	struct kd_dp *dp = kd->dp;
	struct kt_vnet_hdr h;
	if (n < KT_VNET_HDR_LEN) {
		dp->out.st.tun_bad_vnet++;
		return 0;
	}
	kt_vnet_hdr_get(vh, &h);
	n -= KT_VNET_HDR_LEN;
	if (h.gso_type != KT_VNET_GSO_NONE)
		return split(kd, &h, n);
	int rc = n > KD_DP_PKT_MAX ? KT_ERR_MALFORMED
				   : kt_gso_csum(slot + KD_DP_HEADROOM, n, &h);
	if (rc < 0) {
		bad_vnet(dp, &h, n, rc);
		return 0;
	}
	output_slot(kd, slot, n);
	return 1;
}

/* One read into slot (after the headroom; with offloads the virtio
 * header into vh and a super-packet on into the tailroom). */
static ssize_t tun_read(struct kd_dp *dp, uint8_t *slot, uint8_t *vh)
{
	if (!dp->vnet)
		return read(dp->tun.fd, slot + KD_DP_HEADROOM, KD_DP_PKT_MAX);
	struct iovec iov[2] = {
		{ .iov_base = vh, .iov_len = KT_VNET_HDR_LEN },
		{ .iov_base = slot + KD_DP_HEADROOM, .iov_len = KD_DP_SLOT - KD_DP_HEADROOM },
	};
	return readv(dp->tun.fd, iov, 2);
}

void kd_dp_tun_ready(struct kd *kd, struct kd_io *io, uint32_t events)
{
	(void)events;
	(void)io;
	struct kd_dp *dp = kd->dp;
	size_t made = 0;
	for (int i = 0; i < KD_DP_BATCH && made < KD_DP_TUN_BUDGET; i++) {
		uint8_t *slot = kd_dp_out_slot(kd), vh[KT_VNET_HDR_LEN];
		ssize_t n = tun_read(dp, slot, vh);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    pow2(++dp->out.st.tun_errors))
				kd_warn("TUN %s: read: %s", dp->tun_name, strerror(errno));
			break;
		}
		if (dp->vnet) {
			made += offloaded(kd, slot, vh, (size_t)n);
		} else {
			output_slot(kd, slot, (size_t)n);
			made++;
		}
	}
	kd_dp_tx_flush(kd);
}
