/* kotetsud's data plane, in user space over a TUN device. Outbound, the
 * kernel routes traffic for the remote selectors into the TUN; each packet
 * goes through the SPD to its SAs and leaves as raw ESP/AH (IP protocol
 * 50/51) or as ESP in UDP from the IKE socket on port 4500. Inbound, raw
 * ESP/AH sockets and the port-4500 sockets hand packets to the core, which
 * opens them and checks them against their SA's selectors; what comes out
 * is written to the TUN.
 *
 * kotetsud's own packets never enter the TUN, even when a policy covers
 * the peer's address (transport mode): every socket it sends on carries
 * the fwmark KD_DP_MARK_BASE + TUN ifindex, our routes live in the table
 * of the same number, and the rule "not fwmark M lookup T" (one per
 * family, priority KD_DP_RULE_PRIORITY) sends only unmarked traffic there.
 *
 * The files: dataplane.c (start, stop, counters), tun.c (the device),
 * netlink.c (rtnetlink), dp_policy.c (SPD rules, routes, nftables, MTU),
 * dp_out.c (TUN to wire), dp_in.c (wire to TUN), acquire.c (start =
 * on-traffic), worker.c (the threads). Batches of up to KD_DP_BATCH
 * packets per system call where the kernel allows it (recvmmsg, sendmmsg;
 * on the TUN, offloads: a read returns a TCP/UDP super-packet of up to
 * 64 KB that core/gso.c splits into the outbound slots, and the TCP
 * segments opened from one receive batch are merged per flow into
 * super-packets for the TUN to split, core/gro.c); buffers are allocated
 * once, at start-up.
 *
 * Threads ([daemon] workers, worker.h has the lock rules): with 2, the
 * outbound thread runs dp_out.c on struct kd_dp_out and kd->ips_out (the
 * outbound SAD), the inbound thread runs dp_in.c on struct kd_dp_in and
 * kd->ips_in (the inbound SAD); both read the one SPD, the children list
 * (path MTU), dp->addrs, dp->safe_len and the UDP sockets, which only the
 * main thread changes, under the write lock. The main thread owns the rest
 * (traps, routes, nftables, dp->st) and runs acquire.c. With 0, the main
 * thread runs everything. */
#ifndef KD_DATAPLANE_H
#define KD_DATAPLANE_H

#include <net/if.h>
#include <sys/socket.h>

#include "core/gro.h"
#include "core/gso.h"
#include "core/icmp.h"
#include "daemon/kotetsud.h"

#define KD_DP_BATCH 64                  /* packets per recvmmsg/sendmmsg, TUN reads per wakeup */
/* Packets the TUN's reads may yield per wakeup (one super-packet is up to
 * ~45): bounds the time the outbound thread holds the read lock. */
#define KD_DP_TUN_BUDGET (4 * KD_DP_BATCH)
/* Room around a packet: a bundle of two tunnel-mode SAs adds two outer
 * headers in front, a UDP header is rebuilt in front of ESP in UDP. */
#define KD_DP_HEADROOM (2 * KT_PKT_HEADROOM)
#define KD_DP_TAILROOM (2 * KT_PKT_TAILROOM)
#define KD_DP_PKT_MAX 65535             /* largest IP packet (reassembled) */
#define KD_DP_SLOT (KD_DP_HEADROOM + KD_DP_PKT_MAX + KD_DP_TAILROOM)
#define KD_DP_MTU_MAX 9000              /* TUN MTU ceiling (jumbo frames) */
#define KD_DP_PATH_MTU_DEFAULT 1500     /* toward a peer whose route we cannot ask */
#define KD_DP_MARK_BASE 0x6b740000u     /* "kt": fwmark and table = base + ifindex */
#define KD_DP_RULE_PRIORITY 32000       /* before the main table's rule (32766) */
#define KD_DP_SOCKBUF (4 << 20)         /* socket buffers of the data path */
/* Packets the kernel may queue in the TUN for us to read: the default 500
 * overflows under a TCP burst while we seal the previous batch. */
#define KD_DP_TUN_TXQLEN 2048
/* SPD priorities: installed CHILD_SAs first, then the configured
 * children's rules without SAs, whose packets start IKE or are dropped. */
#define KD_DP_PRIO_SA 100
#define KD_DP_PRIO_TRAP 1000
/* start = on-traffic: packets held per child while IKE runs. */
#define KD_DP_ACQ_QUEUE 16
#define KD_DP_ACQ_RETRY (2 * KT_SECONDS)  /* between initiations for one child */
/* ICMP "too big" messages: a token bucket, so a flood of large packets
 * cannot make us a flood of ICMP. */
#define KD_DP_ICMP_RATE 100             /* per second */
#define KD_DP_ICMP_BURST 100
#define KD_DP_MAX_ROUTES 4096
#define KD_DP_MAX_ADDRS 256             /* host addresses remembered */
#define KD_DP_MAX_PAIRS (KT_CONF_MAX_TS * KT_CONF_MAX_TS)
#define KD_DP_RX_CMSG 64                /* control room per datagram: one in6_pktinfo */
/* TCP flows whose segments one receive batch merges at once (offloads):
 * a bulk transfer needs one; a flow that finds the table full pushes the
 * oldest out. */
#define KD_DP_GRO_FLOWS 8

struct kd_nl;
struct kd_nft;
struct kd_child;

/* A configured child as the SPD sees it before (and while) it has SAs:
 * its resolved selectors, its PROTECT rules without SAs, and the packets
 * waiting for its CHILD_SA. */
struct kd_trap {
	char peer[KT_CONF_MAX_NAME + 1];
	char child[KT_CONF_MAX_NAME + 1];
	uint64_t cookie;              /* in its rules: finds the trap on acquire */
	bool on_traffic, transport, seen;
	struct kt_ts local[KT_CONF_MAX_TS], remote[KT_CONF_MAX_TS];
	size_t n_local, n_remote;
	uint32_t rules[KD_DP_MAX_PAIRS];
	size_t n_rules;
	uint8_t *queue;               /* KD_DP_ACQ_QUEUE packets of KD_DP_MTU_MAX, while needed */
	uint16_t q_len[KD_DP_ACQ_QUEUE];
	size_t q_head, q_n;
	kt_tstamp last_initiate;
	uint64_t queued, dropped;
};

struct kd_route {
	struct kt_addr dst, src;
	uint8_t plen;
};

/* A raw IP socket for one protocol and family (receives; sends ESP, and
 * AH over IPv6, with a header the kernel builds). */
struct kd_raw {
	struct kd_io io;
	uint8_t version, proto;
};

/* Counters, each written by one thread (struct kd_dp_out, kd_dp_in,
 * kd_dp.st); uint64_t only (kd_dp_stats_sum adds them as an array). */
struct kd_dp_stats {
	uint64_t tun_rx, tun_tx, tun_errors;
	uint64_t tun_gso, tun_bad_vnet;    /* super-packets read; virtio headers refused */
	uint64_t tun_gro;                  /* super-packets written (merged segments) */
	uint64_t tx_raw, tx_udp, tx_errors, tx_nosock;
	uint64_t rx_raw, rx_udp, rx_errors, rx_truncated, decapped;
	uint64_t out_dropped, in_dropped, link_local, too_big, icmp_sent, icmp_limited;
	uint64_t acquires, queued, queue_dropped, flushed, no_trap;
};

/* What sendmmsg needs for one outgoing packet. */
struct kd_tx {
	int fd;
	struct iovec iov;
	struct sockaddr_storage to;
	socklen_t to_len;
	size_t clen;
	char cbuf[128] __attribute__((aligned(sizeof(size_t))));
};

/* The outbound path (dp_out.c): the outbound thread's, or main's without
 * workers (and main's under the write lock when it flushes an acquire
 * queue). */
struct kd_dp_out {
	uint8_t *buf;                 /* KD_DP_BATCH + 1 slots */
	uint8_t *slot[KD_DP_BATCH];   /* slot i holds the packet of tx[i] */
	uint8_t *spare;               /* a super-packet while it is split */
	struct kt_gso gso;
	struct kd_tx tx[KD_DP_BATCH];
	size_t n_tx;
	struct mmsghdr mm[KD_DP_BATCH];
	double icmp_tokens;
	kt_tstamp icmp_last;
	uint8_t icmp[KT_ICMP_V6_MAX];
	struct kd_dp_stats st;
};

/* The inbound path (dp_in.c): the inbound thread's, or main's. */
struct kd_dp_in {
	uint8_t *buf;                 /* KD_DP_BATCH slots */
	struct mmsghdr mm[KD_DP_BATCH];
	struct iovec iov[KD_DP_BATCH];
	struct sockaddr_storage from[KD_DP_BATCH];
	char cbuf[KD_DP_BATCH][KD_DP_RX_CMSG] __attribute__((aligned(sizeof(size_t))));
	/* Offloads: TCP segments opened from this batch, merged in the slot
	 * of each flow's first one and written when the batch ends (or
	 * sooner, when the flow's next packet cannot join). Oldest first. */
	struct kt_gro gro[KD_DP_GRO_FLOWS];
	size_t n_gro;
	struct kd_dp_stats st;
};

struct kd_dp {
	struct kd_io tun;
	bool vnet;                    /* TUN offloads on: a virtio-net header before each packet */
	char tun_name[IF_NAMESIZE];
	int ifindex;
	uint32_t mark;                /* also our routing table's number */
	unsigned mtu;
	size_t safe_len;              /* no installed SA pair needs a size check below this */
	struct kd_nl *nl;
	struct kd_nft *nft;
	struct kd_raw raw[4];         /* ESP v4, AH v4, ESP v6, AH v6 */
	int hdrinc4, hdrinc6;         /* IPPROTO_RAW: whole packets (AH over IPv4, bypass) */
	bool rule4, rule6;            /* our ip rules are in place */
	struct kd_trap *traps;
	size_t n_traps;
	uint64_t next_cookie;
	struct kd_route routes[KD_DP_MAX_ROUTES];
	size_t n_routes;
	struct kt_addr addrs[KD_DP_MAX_ADDRS];
	size_t n_addrs;
	bool dirty;                   /* children changed: routes, nftables, sizes */
	bool warned_forwarding;
	struct kd_dp_out out;
	struct kd_dp_in in;
	struct kd_dp_stats st;        /* the main thread's (acquire.c) */
};

/* ---- for the rest of the daemon ---- */

/* Create the TUN, bring it up, install the ip rules, open the raw sockets
 * and the nftables table. Returns 0 or -1 (logged). */
int kd_dp_open(struct kd *kd);
/* Remove our routes, rules and nftables table; close everything. */
void kd_dp_close(struct kd *kd);
/* The fwmark for every socket kotetsud sends on (0 before kd_dp_open). */
uint32_t kd_dp_mark(const struct kd *kd);
/* Set SO_MARK on fd; 0 or -1 (errno). */
int kd_dp_mark_socket(const struct kd *kd, int fd);
/* The configuration changed (start, reload): trap rules, routes, nftables
 * and the TUN MTU follow it. */
void kd_dp_sync(struct kd *kd);
/* A CHILD_SA's SAs are in the SAD: add its SPD rules, flush the packets
 * that waited for it. Returns 0 or a KT_ERR_*. */
int kd_dp_child_up(struct kd *kd, struct kd_child *c);
/* Before a CHILD_SA's SAs leave the SAD: remove its rules. */
void kd_dp_child_down(struct kd *kd, struct kd_child *c);
/* After each loop turn: the deferred route and nftables work. */
void kd_dp_tick(struct kd *kd);
/* The sum of the three paths' counters (main, under the write lock). */
void kd_dp_stats_sum(const struct kd_dp *dp, struct kd_dp_stats *sum);
/* A port-4500 socket is readable: IKE, NAT keepalives and ESP in UDP. */
void kd_dp_natt_ready(struct kd *kd, struct kd_sock *s);

/* ---- between the data plane's files ---- */

/* tun.c */
int kd_tun_open(struct kd *kd);
void kd_tun_close(struct kd *kd);
int kd_tun_set_mtu(struct kd *kd, unsigned mtu);
/* One packet into the TUN (atomic per packet: either thread may write),
 * counted in st, the calling path's counters. With offloads, after the
 * virtio-net header h (NULL: all zero, nothing offloaded). */
void kd_tun_write(struct kd *kd, struct kd_dp_stats *st, const uint8_t *p, size_t len,
		  const struct kt_vnet_hdr *h);
/* Is the sysctl at path (under /proc/sys) set to something but 0? */
bool kd_sysctl_on(const char *path);

/* dp_out.c: the next free outbound slot (flushing a full batch), one
 * packet in it through the SPD, and the batch onto the wire. */
uint8_t *kd_dp_out_slot(struct kd *kd);
void kd_dp_output(struct kd *kd, struct kt_pkt *pkt);
void kd_dp_tx_flush(struct kd *kd);
void kd_dp_tun_ready(struct kd *kd, struct kd_io *io, uint32_t events);

/* dp_in.c */
int kd_dp_raw_open(struct kd *kd);
void kd_dp_raw_close(struct kd *kd);

/* dp_policy.c */
struct kd_trap *kd_dp_trap_by_cookie(struct kd *kd, uint64_t cookie);
struct kd_trap *kd_dp_trap_find(struct kd *kd, const char *peer, const char *child);
/* The path MTU toward dst and the source address the host would use
 * (either pointer may be NULL), asked with our mark. 0 or -1. */
int kd_dp_probe(const struct kd *kd, const struct kt_addr *dst, struct kt_addr *src,
		unsigned *mtu);
/* A host address of this version inside ts (or any, ts NULL); false if none. */
bool kd_dp_host_addr(const struct kd *kd, uint8_t version, const struct kt_ts *ts,
		     struct kt_addr *out);
void kd_dp_policy_close(struct kd *kd);

/* acquire.c */
void kd_dp_acquire(struct kd *kd, uint64_t cookie, const struct kt_pkt *pkt);
void kd_dp_acquire_flush(struct kd *kd, struct kd_trap *t);
void kd_dp_trap_drop_queue(struct kd_trap *t);

#endif
