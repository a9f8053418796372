/* kotetsud's state, shared by its parts: the loop (main.c), UDP sockets
 * (udp.c), the engine's output (ike_io.c), installed CHILD_SAs (child.c),
 * the data plane (dataplane.h) and the control socket (ctl.c, cmd.c,
 * status.c). Everything here belongs to the main thread, except what the
 * data plane's worker threads use (worker.h: what they read and write,
 * and the lock the main thread takes before it changes that). The IKE
 * engine is called only from the main thread. */
#ifndef KD_KOTETSUD_H
#define KD_KOTETSUD_H

#include <stdint.h>

#include "core/conf/conf.h"
#include "core/ike/ike.h"
#include "core/ipsec.h"

/* A clean shutdown waits this long for the peers' answers to our Deletes. */
#define KD_SHUTDOWN_GRACE (2 * KT_SECONDS)
/* Largest datagram read: a UDP payload, whatever the peer sends. */
#define KD_DGRAM_MAX 65535
/* Datagrams read from one socket before the loop looks at others. */
#define KD_RECV_BATCH 64

struct kd;

/* Something in the epoll set: ready() runs when fd is ready. */
struct kd_io {
	int fd;
	void (*ready)(struct kd *kd, struct kd_io *io, uint32_t events);
};

/* One UDP socket: wildcard (addr.bytes all zero, wildcard set) or bound
 * to one local address; port 500 or 4500. */
struct kd_sock {
	struct kd_io io;
	struct kt_addr addr;
	bool wildcard;
	uint16_t port;
	struct kd_sock *next;
};

/* The first three are the inbound data path's (its thread's, with
 * workers), the others the main thread's. */
struct kd_udp_stats {
	uint64_t esp_in_udp_dropped; /* ESP in UDP the data plane could not open */
	uint64_t keepalives, runts;
	uint64_t rx_errors, tx_errors, tx_nosock;
};

struct kd_client;

/* Why a peer's last IKE SA went down, for status and `up --wait`: the
 * last warning or error the engine logged for it, else the IKE_DOWN text. */
struct kd_note {
	char peer[KT_CONF_MAX_NAME + 1];
	char text[KT_IKE_LOG_LEN];    /* set when the IKE SA went down */
	char problem[KT_IKE_LOG_LEN]; /* the last warning or error since it started */
	bool problem_before_up;       /* problem came before the IKE SA was up:
	                                 not the reason it later went down */
	struct kd_note *next;
};

struct kd_child;
struct kd_dp;
struct kd_wk;
struct msghdr;

struct kd {
	const char *conf_path;
	bool foreground, verbose;
	struct kt_conf *conf;
	struct kt_ike *ike;
	/* The packet core, one view per direction so that each worker changes
	 * only its own: the outbound SAD, the inbound SAD, one SPD in both,
	 * each with its own drop counters. */
	struct kt_ipsec ips_out, ips_in;
	struct kd_wk *wk;             /* worker threads (worker.h); NULL: none */
	int epfd;
	struct kd_io sig;
	struct kd_sock *socks;
	struct kd_sock *dead_socks;   /* closed during this epoll batch */
	struct kd_udp_stats udp;
	struct kd_io ctl;             /* listening control socket */
	struct kd_client *clients;
	size_t n_clients;
	char ctl_path[KT_CONF_MAX_SOCKET_PATH + 1];  /* as bound at start-up */
	char pidfile[KT_CONF_MAX_PATH + 1];
	int pid_fd;
	struct kd_child *children;    /* installed CHILD_SAs */
	struct kd_dp *dp;             /* TUN, raw sockets, routes (dataplane.h) */
	struct kd_note *notes;
	bool stopping, quit;
	kt_tstamp stop_deadline;
	uint8_t buf[4 + KD_DGRAM_MAX]; /* one datagram in or out (marker room) */
};

/* CLOCK_MONOTONIC in nanoseconds: the time every core call gets. */
kt_tstamp kd_now(void);

/* epoll registration (main.c). Returns 0 or -1 (errno). */
int kd_io_add(struct kd *kd, struct kd_io *io, uint32_t events);
int kd_io_mod(struct kd *kd, struct kd_io *io, uint32_t events);
void kd_io_del(struct kd *kd, struct kd_io *io);

/* Reload the configuration file (SIGHUP, `kotetsu reload`). On failure the
 * running configuration stays and diag holds the reasons. Returns 0 or -1. */
int kd_reload(struct kd *kd, struct kt_conf_diag *diag);
/* Begin a clean shutdown: delete every IKE SA, exit once they are gone or
 * after KD_SHUTDOWN_GRACE. */
void kd_shutdown(struct kd *kd);

/* ---- UDP (udp.c) ---- */
/* Open the sockets the configuration needs, close those it no longer
 * does: wildcards on 500 and 4500 for IPv4 and IPv6, or, when every peer
 * names its local address, sockets bound to those addresses. Returns 0, or
 * -1 when a needed socket could not be opened (logged). */
int kd_udp_sync(struct kd *kd);
void kd_udp_close(struct kd *kd);
/* Free the sockets closed since the last call (after an epoll batch, whose
 * events may still point at them). */
void kd_udp_reap(struct kd *kd);
/* Send one datagram the engine produced (len bytes at kd->buf + 4). */
void kd_udp_send(struct kd *kd, const struct kt_ike_dgram *d);
/* The socket to send from local:port (version when local is unset): the
 * one bound to that address, else a wildcard; NULL if none. */
struct kd_sock *kd_udp_find(struct kd *kd, const struct kt_addr *local, uint16_t port,
			    uint8_t version);
/* On a wildcard socket: a PKTINFO control message in cbuf (cap bytes, at
 * least KD_UDP_CMSG_SPACE) that makes a datagram leave from src; returns
 * its length (0: none needed, src unset). */
#define KD_UDP_CMSG_SPACE 64
size_t kd_udp_set_src(struct msghdr *mh, char *cbuf, const struct kt_addr *src);
/* The address and port a datagram arrived on (PKTINFO of a received mh). */
void kd_udp_pktinfo_local(struct msghdr *mh, const struct kd_sock *s,
			  struct kt_ike_endpoint *local);
/* One received IKE message (marker removed) to the engine. */
void kd_udp_ike_in(struct kd *kd, const uint8_t *msg, size_t len,
		   const struct kt_ike_endpoint *local, const struct kt_ike_endpoint *remote);

/* ---- the engine's output (ike_io.c) ---- */
/* Send every queued datagram, handle every event (engine and SAD). */
void kd_ike_flush(struct kd *kd);
/* Initiate peer (and child, or all of its children when NULL); resolves a
 * DNS remote. Returns 0, or -1 with a one-line reason in err. */
int kd_ike_initiate(struct kd *kd, const char *peer, const char *child, char *err,
		    size_t err_len);
/* Initiate the start = now peers of kd->conf that `old` lacks (all when
 * old is NULL). */
void kd_ike_start_peers(struct kd *kd, const struct kt_conf *old);
/* Number of IKE SAs the engine holds. */
size_t kd_ike_count(const struct kd *kd);
/* The note for peer, or NULL; its text may be empty (not down yet). */
const struct kd_note *kd_note_get(const struct kd *kd, const char *peer);
void kd_notes_free(struct kd *kd);

/* ---- NAT traversal (natt.c) ---- */
/* An authenticated ESP-in-UDP packet for the inbound SA spi_in came from
 * `from`, which is not where that SA's peer was: the NAT mapping may have
 * changed. Main thread only (the inbound worker queues it: worker.h). */
void kd_natt_seen(struct kd *kd, uint32_t spi_in, const struct kt_ike_endpoint *from);
/* PEER_MOVED: every CHILD_SA of the event's IKE SA follows the peer. */
void kd_natt_moved(struct kd *kd, const struct kt_ike_event *ev);

/* ---- control socket (ctl.c) ---- */
/* Refuse if another daemon answers on path, remove a stale socket, create
 * the directory (0755), bind (0600) and listen. Returns 0 or -1 (logged). */
int kd_ctl_open(struct kd *kd, const char *path);
/* Close every client and the listener; remove the socket file. */
void kd_ctl_close(struct kd *kd);
/* Create the directories leading to path (mode 0755). Returns 0 or -1. */
int kd_mkdir_parents(const char *path);

#endif
