/* kotetsud's data-plane threads ([daemon] workers = 2): an outbound
 * thread (TUN read, seal, send) and an inbound thread (raw ESP/AH and
 * port-4500 sockets, open, TUN write) beside the main thread, which keeps
 * IKE, the control socket, the timers and every change to the SAD and SPD.
 *
 * The rules (dataplane.h lists what each thread owns):
 *  - The core is single-threaded: a worker calls it only on its own view
 *    (kd->ips_out or kd->ips_in: a SAD each, the shared SPD only read), and
 *    only while it holds the lock for reading, one batch at a time, never
 *    across a blocking call (epoll_wait).
 *  - The main thread takes the lock for writing (kd_wk_lock) around every
 *    change a worker could see (SAs, SPD rules, the children list, host
 *    addresses, the size check, UDP sockets, the log level) and around
 *    every read of what a worker writes (SA counters and lifetimes, SAD
 *    events, data-plane counters). Writers are preferred, so a busy data
 *    plane cannot starve it.
 *  - What only the main thread may do goes there through bounded queues
 *    (sized at start-up; a full queue drops and counts) and an eventfd in
 *    the main epoll set: IKE messages that came on port 4500, NAT mapping
 *    hints (kd_natt_seen), packets that hit a trap (kd_dp_acquire).
 * With workers = 0, kd->wk is NULL: packets are handled on the main thread
 * as they always were, the lock calls do nothing and nothing is queued. */
#ifndef KD_WORKER_H
#define KD_WORKER_H

#include "daemon/kotetsud.h"

/* Hand-off queue sizes (entries), each a power of two. */
#define KD_WK_IKE_QUEUE 16      /* IKE datagrams of up to KD_DGRAM_MAX */
#define KD_WK_NATT_QUEUE 64     /* (inbound SPI, new peer endpoint) */
#define KD_WK_ACQ_QUEUE 32      /* trapped packets of up to KD_DP_MTU_MAX */
/* Port-4500 sockets in the inbound thread: one per configured local
 * address, or the two wildcards. */
#define KD_WK_MAX_NATT (KT_CONF_MAX_PEERS + 2)

enum kd_wk_dir { KD_WK_OUT = 0, KD_WK_IN = 1 };

/* What the queues dropped because main was behind. */
struct kd_wk_stats {
	uint64_t ike_dropped, natt_dropped, acquire_dropped;
};

/* Choose the number of workers from [daemon] workers and the CPUs this
 * process may use, log the choice, and (for 2) allocate the lock, the
 * queues, the epoll sets and the eventfds; the threads start later.
 * Before the data plane opens its descriptors. Returns 0 or -1 (logged). */
int kd_wk_open(struct kd *kd);
/* Start the threads, once every descriptor is in place. 0 or -1 (logged). */
int kd_wk_start(struct kd *kd);
/* Stop and join the threads (a no-op if none run). */
void kd_wk_stop(struct kd *kd);
/* Free what kd_wk_open made; after kd_wk_stop and after the data plane
 * and the UDP sockets are closed. */
void kd_wk_close(struct kd *kd);
/* 0 or 2. */
unsigned kd_wk_count(const struct kd *kd);
void kd_wk_stats(const struct kd *kd, struct kd_wk_stats *st);

/* The main thread's write lock; nests (a count), does nothing without
 * workers. Never called from a worker. */
void kd_wk_lock(struct kd *kd);
void kd_wk_unlock(struct kd *kd);
/* Is the calling thread one of the workers? */
bool kd_wk_is_worker(void);

/* Watch io for input in the thread of direction d (the main epoll set
 * without workers). The io must outlive the threads. 0 or -1 (errno). */
int kd_wk_io_add(struct kd *kd, enum kd_wk_dir d, struct kd_io *io);
void kd_wk_io_del(struct kd *kd, enum kd_wk_dir d, struct kd_io *io);
/* A UDP socket (udp.c): port 4500 goes to the inbound thread, which reads
 * a copy of *s; everything else to the main epoll set. Main thread, under
 * kd_wk_lock. kd_wk_sock_del before the socket is closed. */
int kd_wk_sock_add(struct kd *kd, struct kd_sock *s);
void kd_wk_sock_del(struct kd *kd, struct kd_sock *s);

/* From a worker to the main thread (copied; dropped and counted when the
 * queue is full). */
void kd_wk_post_ike(struct kd *kd, const uint8_t *msg, size_t len,
		    const struct kt_ike_endpoint *local, const struct kt_ike_endpoint *remote);
void kd_wk_post_natt(struct kd *kd, uint32_t spi_in, const struct kt_ike_endpoint *from);
void kd_wk_post_acquire(struct kd *kd, uint64_t cookie, const struct kt_pkt *pkt);

#endif
