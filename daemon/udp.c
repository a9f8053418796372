/* IKE's UDP sockets: 500 and 4500, IPv4 and IPv6 (v6 sockets are
 * V6ONLY). Each datagram's local address comes from IP_PKTINFO /
 * IPV6_PKTINFO so a wildcard socket still tells the engine where a message
 * arrived, and replies leave from that address. Port 4500 also carries
 * ESP in UDP: the data plane reads those sockets (kd_dp_natt_ready; on the
 * inbound thread when there are workers) and hands IKE, behind the non-ESP
 * marker (RFC 3948 §2.2), back here. The outbound thread sends ESP in UDP
 * from them, so the socket list changes only under the write lock
 * (worker.h). Every socket carries the data plane's fwmark, so IKE never
 * enters the TUN. */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "daemon/dataplane.h"
#include "daemon/kotetsud.h"
#include "daemon/log.h"
#include "daemon/netaddr.h"
#include "daemon/worker.h"

#define NON_ESP_MARKER_LEN 4   /* RFC 3948 §2.2: four zero bytes before IKE */
#define CMSG_SPACE_PKTINFO KD_UDP_CMSG_SPACE /* room for one in6_pktinfo control message */
#define WANTED_MAX (2 * KT_CONF_MAX_PEERS + 4) /* both ports per address */

static const uint16_t ports[] = { KT_IKE_PORT, KT_IKE_NATT_PORT };

static bool is_zero(const struct kt_addr *a)
{
	static const uint8_t zero[16];
	return memcmp(a->bytes, zero, sizeof(zero)) == 0;
}

static bool same_sock(const struct kd_sock *a, const struct kd_sock *b)
{
	return a->port == b->port && a->wildcard == b->wildcard &&
	       kt_addr_equal(&a->addr, &b->addr);
}

static void add_wanted(struct kd_sock *w, size_t *n, const struct kt_addr *addr, bool wildcard)
{
	for (size_t p = 0; p < 2; p++) {
		struct kd_sock s = { .addr = *addr, .wildcard = wildcard, .port = ports[p] };
		bool dup = false;
		for (size_t i = 0; i < *n; i++)
			dup = dup || same_sock(&w[i], &s);
		if (!dup && *n < WANTED_MAX)
			w[(*n)++] = s;
	}
}

/* Wildcards unless every peer names its local address. */
static size_t wanted(const struct kt_conf *conf, struct kd_sock *w)
{
	bool all_local = conf->n_peers > 0;
	for (size_t i = 0; i < conf->n_peers; i++)
		all_local = all_local && conf->peers[i]->local.version != 0;
	size_t n = 0;
	if (!all_local) {
		add_wanted(w, &n, &(struct kt_addr){ .version = 4 }, true);
		add_wanted(w, &n, &(struct kt_addr){ .version = 6 }, true);
		return n;
	}
	for (size_t i = 0; i < conf->n_peers; i++)
		add_wanted(w, &n, &conf->peers[i]->local, false);
	return n;
}

static int set_opts(const struct kd *kd, int fd, int family)
{
	int one = 1;
	/* FREEBIND: a configured address may appear on an interface later. */
	if (setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)) < 0 ||
	    kd_dp_mark_socket(kd, fd) < 0)
		return -1;
	/* ESP in UDP shares these sockets: room for bursts of it. */
	int buf = KD_DP_SOCKBUF;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	if (family == AF_INET)
		return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -1;
	return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
}

static void sock_ready(struct kd *kd, struct kd_io *io, uint32_t events);

static int open_sock(struct kd *kd, struct kd_sock *s)
{
	int family = s->addr.version == 6 ? AF_INET6 : AF_INET;
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -1;
	struct sockaddr_storage ss;
	struct kt_ike_endpoint ep = { .addr = s->addr, .port = s->port };
	if (s->wildcard)
		ep.addr.version = 0;
	socklen_t sl = kd_endpoint_to_sockaddr(&ep, family, &ss);
	s->io.fd = fd;
	s->io.ready = sock_ready;
	if (set_opts(kd, fd, family) < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
	    kd_wk_sock_add(kd, s) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return 0;
}

static void close_sock(struct kd *kd, struct kd_sock *s)
{
	kd_wk_sock_del(kd, s);
	close(s->io.fd);
	s->io.fd = -1;
	s->next = kd->dead_socks;
	kd->dead_socks = s;
}

void kd_udp_reap(struct kd *kd)
{
	while (kd->dead_socks) {
		struct kd_sock *s = kd->dead_socks;
		kd->dead_socks = s->next;
		free(s);
	}
}

static void sock_name(const struct kd_sock *s, char *buf, size_t len)
{
	struct kt_ike_endpoint ep = { .addr = s->addr, .port = s->port };
	if (s->wildcard)
		snprintf(buf, len, "%s:%u", s->addr.version == 6 ? "[::]" : "0.0.0.0", s->port);
	else
		kd_endpoint_format(&ep, buf, len);
}

/* Close sockets no longer wanted first, so a wildcard can replace
 * specific ones on the same port. */
static void close_unwanted(struct kd *kd, const struct kd_sock *w, size_t n)
{
	for (struct kd_sock **pp = &kd->socks; *pp;) {
		bool keep = false;
		for (size_t i = 0; i < n; i++)
			keep = keep || same_sock(*pp, &w[i]);
		if (keep) {
			pp = &(*pp)->next;
			continue;
		}
		struct kd_sock *s = *pp;
		*pp = s->next;
		close_sock(kd, s);
	}
}

static bool have_sock(const struct kd *kd, const struct kd_sock *w)
{
	for (const struct kd_sock *s = kd->socks; s; s = s->next)
		if (same_sock(s, w))
			return true;
	return false;
}

/* A wildcard IPv6 socket may fail where IPv6 is off: warn, go on. */
static int open_wanted(struct kd *kd, const struct kd_sock *w)
{
	char name[KD_ENDPOINT_TEXT];
	sock_name(w, name, sizeof(name));
	struct kd_sock *s = malloc(sizeof(*s));
	if (!s || (*s = *w, open_sock(kd, s) < 0)) {
		bool optional = w->wildcard && w->addr.version == 6;
		kd_log(optional ? KT_CONF_LOG_WARN : KT_CONF_LOG_ERROR, "cannot listen on UDP %s: %s%s",
		       name, strerror(s ? errno : ENOMEM), optional ? " (IPv6 off?)" : "");
		free(s);
		return optional ? 0 : -1;
	}
	s->next = kd->socks;
	kd->socks = s;
	kd_debug("listening on UDP %s", name);
	return 0;
}

int kd_udp_sync(struct kd *kd)
{
	static struct kd_sock w[WANTED_MAX];
	size_t n = wanted(kd->conf, w);
	kd_wk_lock(kd);
	close_unwanted(kd, w, n);
	int rc = 0;
	for (size_t i = 0; i < n; i++)
		if (!have_sock(kd, &w[i]) && open_wanted(kd, &w[i]) < 0)
			rc = -1;
	kd_wk_unlock(kd);
	return rc;
}

void kd_udp_close(struct kd *kd)
{
	kd_wk_lock(kd);
	while (kd->socks) {
		struct kd_sock *s = kd->socks;
		kd->socks = s->next;
		close_sock(kd, s);
	}
	kd_wk_unlock(kd);
}

/* ---- receive ---- */

void kd_udp_pktinfo_local(struct msghdr *mh, const struct kd_sock *s,
			  struct kt_ike_endpoint *local)
{
	local->addr = s->wildcard ? (struct kt_addr){ .version = s->addr.version } : s->addr;
	local->port = s->port;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memcpy(local->addr.bytes, &pi.ipi_addr, 4);
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memcpy(local->addr.bytes, &pi.ipi6_addr, 16);
		}
	}
}

/* One datagram into kd->buf; its length, or -1 (EAGAIN or error). */
static ssize_t recv_one(struct kd *kd, const struct kd_sock *s, struct kt_ike_endpoint *local,
			struct kt_ike_endpoint *remote)
{
	struct sockaddr_storage from;
	char cbuf[CMSG_SPACE_PKTINFO] __attribute__((aligned(sizeof(size_t))));
	struct iovec iov = { .iov_base = kd->buf, .iov_len = sizeof(kd->buf) };
	struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
			     .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(s->io.fd, &mh, MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			kd->udp.rx_errors++;
			kd_debug("UDP receive on port %u: %s", s->port, strerror(errno));
		}
		return -1;
	}
	if (kd_sockaddr_to_endpoint((struct sockaddr *)&from, remote) < 0)
		return 0;
	kd_udp_pktinfo_local(&mh, s, local);
	return n;
}

void kd_udp_ike_in(struct kd *kd, const uint8_t *msg, size_t len,
		   const struct kt_ike_endpoint *local, const struct kt_ike_endpoint *remote)
{
	int rc = kt_ike_recv(kd->ike, kd_now(), local, remote, msg, len);
	if (rc < 0 && kd_log_level() >= KT_CONF_LOG_DEBUG) {
		char from[KD_ENDPOINT_TEXT];
		kd_debug("dropped %zu-byte IKE datagram from %s: %s", len,
			 kd_endpoint_format(remote, from, sizeof(from)), kt_strerror(rc));
	}
}

static void sock_ready(struct kd *kd, struct kd_io *io, uint32_t events)
{
	(void)events;
	struct kd_sock *s = (struct kd_sock *)((char *)io - offsetof(struct kd_sock, io));
	if (s->port == KT_IKE_NATT_PORT) {
		kd_dp_natt_ready(kd, s);
		return;
	}
	for (int i = 0; i < KD_RECV_BATCH; i++) {
		struct kt_ike_endpoint local, remote;
		ssize_t n = recv_one(kd, s, &local, &remote);
		if (n < 0)
			break;
		if (n > 0)
			kd_udp_ike_in(kd, kd->buf, (size_t)n, &local, &remote);
	}
}

/* ---- send ---- */

struct kd_sock *kd_udp_find(struct kd *kd, const struct kt_addr *local, uint16_t port,
			    uint8_t version)
{
	struct kd_sock *wild = NULL;
	for (struct kd_sock *s = kd->socks; s; s = s->next) {
		if (s->port != port || s->addr.version != version)
			continue;
		if (!s->wildcard && kt_addr_equal(&s->addr, local))
			return s;
		if (s->wildcard)
			wild = s;
	}
	return wild;
}

size_t kd_udp_set_src(struct msghdr *mh, char *cbuf, const struct kt_addr *src)
{
	if (src->version == 0 || is_zero(src))
		return 0;
	mh->msg_control = cbuf;
	mh->msg_controllen = CMSG_SPACE_PKTINFO;
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	if (src->version == 4) {
		struct in_pktinfo pi = { 0 };
		memcpy(&pi.ipi_spec_dst, src->bytes, 4);
		*c = (struct cmsghdr){ .cmsg_level = IPPROTO_IP, .cmsg_type = IP_PKTINFO,
				       .cmsg_len = CMSG_LEN(sizeof(pi)) };
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	struct in6_pktinfo pi6 = { 0 };
	memcpy(&pi6.ipi6_addr, src->bytes, 16);
	*c = (struct cmsghdr){ .cmsg_level = IPPROTO_IPV6, .cmsg_type = IPV6_PKTINFO,
			       .cmsg_len = CMSG_LEN(sizeof(pi6)) };
	memcpy(CMSG_DATA(c), &pi6, sizeof(pi6));
	return CMSG_SPACE(sizeof(pi6));
}

void kd_udp_send(struct kd *kd, const struct kt_ike_dgram *d)
{
	char to_text[KD_ENDPOINT_TEXT];
	struct kd_sock *s = kd_udp_find(kd, &d->local.addr, d->local.port, d->remote.addr.version);
	if (!s) {
		kd->udp.tx_nosock++;
		kd_warn("no UDP socket on port %u for a datagram to %s", d->local.port,
			kd_endpoint_format(&d->remote, to_text, sizeof(to_text)));
		return;
	}
	/* The marker goes in the 4 bytes before the message (kd->buf). */
	size_t off = d->marker ? 0 : NON_ESP_MARKER_LEN;
	memset(kd->buf, 0, NON_ESP_MARKER_LEN);
	struct sockaddr_storage to;
	socklen_t tl = kd_endpoint_to_sockaddr(&d->remote, d->remote.addr.version == 6 ?
					      AF_INET6 : AF_INET, &to);
	char cbuf[CMSG_SPACE_PKTINFO] __attribute__((aligned(sizeof(size_t)))) = { 0 };
	struct iovec iov = { .iov_base = kd->buf + off, .iov_len = d->len + NON_ESP_MARKER_LEN - off };
	struct msghdr mh = { .msg_name = &to, .msg_namelen = tl, .msg_iov = &iov, .msg_iovlen = 1 };
	if (s->wildcard)
		mh.msg_controllen = kd_udp_set_src(&mh, cbuf, &d->local.addr);
	if (sendmsg(s->io.fd, &mh, MSG_DONTWAIT) < 0) {
		kd->udp.tx_errors++;
		kd_warn("cannot send %zu bytes to %s: %s", d->len,
			kd_endpoint_format(&d->remote, to_text, sizeof(to_text)), strerror(errno));
	}
}
