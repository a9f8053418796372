/* The TUN device: created by name ([daemon] tun) without packet info
 * (IFF_NO_PI: each read or write is one IP packet), with offloads where the
 * kernel has them (IFF_VNET_HDR: a virtio-net header before each packet,
 * and reads of TCP/UDP super-packets up to 64 KB, core/gso.h; otherwise a
 * plain TUN, each read and write one bare packet), non-blocking, read
 * by the outbound thread (the main one without workers), written by the
 * inbound one and by ICMP "too big" replies; its MTU set and the link
 * brought up over netlink; and the two per-device sysctls decapsulated
 * packets need. It disappears with the daemon (not persistent), and its
 * routes with it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/gso.h"
#include "core/mtu.h"
#include "daemon/dataplane.h"
#include "daemon/log.h"
#include "daemon/netlink.h"
#include "daemon/worker.h"

#define TUN_DEV "/dev/net/tun"
/* UDP segmentation offload (Linux 6.2); Debian 12's headers lack it. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

/* Write one value to a sysctl under /proc/sys; 0 or -1 (errno). */
static int sysctl_set(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, value, strlen(value));
	int e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

bool kd_sysctl_on(const char *path)
{
	char c = '0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &c, 1) != 1)
			c = '0';
		close(fd);
	}
	return c != '0';
}

/* Decapsulated packets arrive on the TUN with their real sources, and our
 * own ICMP "too big" errors with a source address of this host:
 * rp_filter = 0 and accept_local = 1 let both in. The kernel applies the
 * larger of "all" and the device's rp_filter, hence the warning. IPv6: no
 * link-local address on the TUN, so the kernel sends no neighbour or
 * router discovery into the tunnel. */
static void set_sysctls(const char *tun)
{
	static const char *const keys[][3] = {
		{ "ipv4", "rp_filter", "0" }, { "ipv4", "accept_local", "1" },
		{ "ipv6", "addr_gen_mode", "1" }, { "ipv6", "accept_ra", "0" },
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char path[96];
		snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/%s", keys[i][0], tun,
			 keys[i][1]);
		if (sysctl_set(path, keys[i][2]) < 0 && (keys[i][0][3] == '4' || errno != ENOENT))
			kd_warn("TUN %s: cannot set %s to %s: %s", tun, path, keys[i][2],
				strerror(errno));
	}
	if (kd_sysctl_on("/proc/sys/net/ipv4/conf/all/rp_filter"))
		kd_warn("net.ipv4.conf.all.rp_filter is on: the ICMP \"fragmentation needed\" "
			"kotetsud writes to %s from this host's address will be dropped; set it to 0",
			tun);
}

static int create(struct kd_dp *dp, const char *name, bool vnet)
{
	int fd = open(TUN_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		kd_err("cannot open %s: %s", TUN_DEV, strerror(errno));
		return -1;
	}
	struct ifreq ifr = { 0 };
	ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		kd_err("cannot create TUN %s: %s%s", name, strerror(errno),
		       errno == EBUSY ? " (another program holds it)" : "");
		close(fd);
		return -1;
	}
	snprintf(dp->tun_name, sizeof(dp->tun_name), "%s", ifr.ifr_name);
	dp->tun.fd = fd;
	dp->ifindex = (int)if_nametoindex(dp->tun_name);
	if (dp->ifindex <= 0) {
		kd_err("TUN %s has no interface index: %s", dp->tun_name, strerror(errno));
		return -1;
	}
	return 0;
}

/* The header size we parse, then the offloads: checksums and TCP
 * segmentation, UDP segmentation where the kernel has it. 0, or -1 with
 * errno when the kernel refuses (the caller falls back to a plain TUN). */
static int set_offloads(struct kd_dp *dp)
{
	int sz = KT_VNET_HDR_LEN;
	unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
	if (ioctl(dp->tun.fd, TUNSETVNETHDRSZ, &sz) < 0)
		return -1;
	if (ioctl(dp->tun.fd, TUNSETOFFLOAD, base | TUN_F_USO4 | TUN_F_USO6) == 0)
		return 0;
	return ioctl(dp->tun.fd, TUNSETOFFLOAD, base);
}

/* With offloads unless the configuration says offload = off or the
 * kernel refuses them; a refusal is no error: the TUN is made again
 * without them. */
static int create_offloaded(struct kd_dp *dp, const char *name, bool off)
{
	if (off) {
		kd_info("TUN %s: offloads off (offload = off)", name);
		return create(dp, name, false);
	}
	if (create(dp, name, true) < 0)
		return -1;
	if (set_offloads(dp) == 0) {
		dp->vnet = true;
		return 0;
	}
	kd_info("TUN %s: the kernel refuses offloads (%s): one packet per read and write",
		dp->tun_name, strerror(errno));
	close(dp->tun.fd);
	dp->tun.fd = -1;
	return create(dp, name, false);
}

int kd_tun_open(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	if (create_offloaded(dp, kd->conf->daemon.tun, kd->conf->daemon.offload_off) < 0)
		return -1;
	dp->mark = KD_DP_MARK_BASE + ((uint32_t)dp->ifindex & 0xffff);
	set_sysctls(dp->tun_name);
	/* The least MTU IPv6 allows, until kd_dp_sync knows the paths. */
	if (kd_tun_set_mtu(kd, KT_MTU_IPV6_MIN) < 0)
		return -1;
	dp->tun.ready = kd_dp_tun_ready;
	if (kd_wk_io_add(kd, KD_WK_OUT, &dp->tun) < 0) {
		kd_err("TUN %s: epoll: %s", dp->tun_name, strerror(errno));
		return -1;
	}
	kd_info("TUN %s up (index %d%s), fwmark and routing table %#x", dp->tun_name, dp->ifindex,
		dp->vnet ? ", offloads" : "", dp->mark);
	return 0;
}

void kd_tun_close(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	if (dp->tun.fd < 0)
		return;
	kd_wk_io_del(kd, KD_WK_OUT, &dp->tun);
	close(dp->tun.fd);
	dp->tun.fd = -1;
}

int kd_tun_set_mtu(struct kd *kd, unsigned mtu)
{
	struct kd_dp *dp = kd->dp;
	int rc = kd_nl_link_up(dp->nl, dp->ifindex, mtu, KD_DP_TUN_TXQLEN);
	if (rc < 0) {
		kd_err("TUN %s: cannot set MTU %u and bring it up: %s", dp->tun_name, mtu,
		       strerror(-rc));
		return -1;
	}
	dp->mtu = mtu;
	return 0;
}

void kd_tun_write(struct kd *kd, struct kd_dp_stats *st, const uint8_t *p, size_t len,
		  const struct kt_vnet_hdr *h)
{
	struct kd_dp *dp = kd->dp;
	static const struct kt_vnet_hdr none;
	uint8_t vh[KT_VNET_HDR_LEN];
	struct iovec iov[2] = { { .iov_base = vh, .iov_len = sizeof(vh) },
				{ .iov_base = (void *)p, .iov_len = len } };
	ssize_t want = (ssize_t)len;
	ssize_t n;
	if (dp->vnet) {
		kt_vnet_hdr_put(vh, h ? h : &none);
		want += KT_VNET_HDR_LEN;
		n = writev(dp->tun.fd, iov, 2);
	} else {
		n = write(dp->tun.fd, p, len);
	}
	if (n == want) {
		st->tun_tx++;
		return;
	}
	if (st->tun_errors++ == 0)
		kd_warn("TUN %s: write of %zu bytes failed: %s", dp->tun_name, len, strerror(errno));
}
