/* The data plane's worker threads, their lock and the queues that carry
 * what they cannot handle to the main thread. worker.h gives the rules;
 * the queues are single-producer (one worker), single-consumer (main)
 * rings of fixed slots, so neither side ever waits on the other. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon/dataplane.h"
#include "daemon/log.h"
#include "daemon/worker.h"

#define WK_THREADS 2
#define WK_EPOLL_BATCH 16

/* ---- the queues ---- */

struct wq {
	uint8_t *mem;
	size_t size;               /* bytes per slot, the length word included */
	size_t n;                  /* slots, a power of two */
	_Atomic size_t head, tail; /* advanced by main / by the producer */
	uint64_t dropped;          /* the producer's; read under the lock */
};

#define ROUND8(x) (((x) + 7) & ~(size_t)7)

static int wq_init(struct wq *q, size_t n, size_t payload)
{
	q->n = n;
	q->size = ROUND8(sizeof(size_t) + payload);
	q->mem = malloc(n * q->size);
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	return q->mem ? 0 : -1;
}

/* One entry made of two parts (a header and its bytes). */
static bool wq_push(struct wq *q, const void *a, size_t alen, const void *b, size_t blen)
{
	size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	size_t len = alen + blen;
	if (tail - head == q->n || sizeof(len) + len > q->size) {
		q->dropped++;
		return false;
	}
	uint8_t *slot = q->mem + (tail & (q->n - 1)) * q->size;
	memcpy(slot, &len, sizeof(len));
	memcpy(slot + sizeof(len), a, alen);
	if (blen)
		memcpy(slot + sizeof(len) + alen, b, blen);
	atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
	return true;
}

/* The oldest entry in place (valid until wq_pop), or NULL. */
static uint8_t *wq_peek(struct wq *q, size_t *len)
{
	size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	if (head == atomic_load_explicit(&q->tail, memory_order_acquire))
		return NULL;
	uint8_t *slot = q->mem + (head & (q->n - 1)) * q->size;
	memcpy(len, slot, sizeof(*len));
	return slot + sizeof(*len);
}

static void wq_pop(struct wq *q)
{
	size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	atomic_store_explicit(&q->head, head + 1, memory_order_release);
}

/* ---- state ---- */

struct wk_thread {
	struct kd *kd;
	const char *name;
	pthread_t tid;
	bool started;
	int epfd;
	bool posted;               /* queued something for main in this batch */
};

struct kd_wk {
	pthread_rwlock_t lock;
	bool lock_ok;
	unsigned depth;            /* main's write-lock nesting */
	struct wk_thread t[WK_THREADS];
	struct kd_io stop;         /* eventfd, readable once the threads must end */
	struct kd_io handoff;      /* eventfd in main's epoll set: queues to drain */
	struct wq ike, natt, acq;
	struct kd_sock natt_socks[KD_WK_MAX_NATT]; /* io.fd -1: free */
};

struct ike_hdr {
	struct kt_ike_endpoint local, remote;
};

struct natt_hint {
	uint32_t spi;
	struct kt_ike_endpoint from;
};

static _Thread_local struct wk_thread *self;

bool kd_wk_is_worker(void) { return self != NULL; }

unsigned kd_wk_count(const struct kd *kd) { return kd->wk ? WK_THREADS : 0; }

void kd_wk_stats(const struct kd *kd, struct kd_wk_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!kd->wk)
		return;
	st->ike_dropped = kd->wk->ike.dropped;
	st->natt_dropped = kd->wk->natt.dropped;
	st->acquire_dropped = kd->wk->acq.dropped;
}

/* ---- the lock ---- */

void kd_wk_lock(struct kd *kd)
{
	struct kd_wk *wk = kd->wk;
	if (wk && wk->depth++ == 0)
		pthread_rwlock_wrlock(&wk->lock);
}

void kd_wk_unlock(struct kd *kd)
{
	struct kd_wk *wk = kd->wk;
	if (wk && --wk->depth == 0)
		pthread_rwlock_unlock(&wk->lock);
}

/* ---- the threads ---- */

static void wake_main(struct kd_wk *wk)
{
	uint64_t one = 1;
	if (write(wk->handoff.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		kd_warn("data plane: cannot wake the main thread: %s", strerror(errno));
}

/* One epoll batch under the read lock; false once told to stop. */
static bool batch(struct wk_thread *t, const struct epoll_event *evs, int n)
{
	struct kd *kd = t->kd;
	struct kd_wk *wk = kd->wk;
	bool go_on = true;
	pthread_rwlock_rdlock(&wk->lock);
	for (int i = 0; i < n; i++) {
		struct kd_io *io = evs[i].data.ptr;
		if (io == &wk->stop)
			go_on = false;
		else if (io->fd >= 0) /* a socket main closed since epoll_wait returned */
			io->ready(kd, io, evs[i].events);
	}
	pthread_rwlock_unlock(&wk->lock);
	if (t->posted) {
		t->posted = false;
		wake_main(wk);
	}
	return go_on;
}

static void *run(void *arg)
{
	struct wk_thread *t = arg;
	struct epoll_event evs[WK_EPOLL_BATCH];
	self = t;
	for (;;) {
		int n = epoll_wait(t->epfd, evs, WK_EPOLL_BATCH, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kd_err("data plane %s thread: epoll_wait: %s; the thread stops", t->name,
			       strerror(errno));
			break;
		}
		if (!batch(t, evs, n))
			break;
	}
	return NULL;
}

int kd_wk_start(struct kd *kd)
{
	struct kd_wk *wk = kd->wk;
	if (!wk)
		return 0;
	for (size_t i = 0; i < WK_THREADS; i++) {
		struct wk_thread *t = &wk->t[i];
		int rc = pthread_create(&t->tid, NULL, run, t);
		if (rc != 0) {
			kd_err("cannot start the data plane's %s thread: %s", t->name, strerror(rc));
			return -1;
		}
		t->started = true;
		char name[16];
		snprintf(name, sizeof(name), "kotetsud-%s", t->name);
		pthread_setname_np(t->tid, name);
	}
	return 0;
}

void kd_wk_stop(struct kd *kd)
{
	struct kd_wk *wk = kd->wk;
	if (!wk)
		return;
	uint64_t one = 1;
	if (write(wk->stop.fd, &one, sizeof(one)) < 0)
		kd_err("cannot tell the data plane threads to stop: %s", strerror(errno));
	for (size_t i = 0; i < WK_THREADS; i++) {
		if (wk->t[i].started)
			pthread_join(wk->t[i].tid, NULL);
		wk->t[i].started = false;
	}
}

/* ---- descriptors ---- */

int kd_wk_io_add(struct kd *kd, enum kd_wk_dir d, struct kd_io *io)
{
	if (!kd->wk)
		return kd_io_add(kd, io, EPOLLIN);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = io };
	return epoll_ctl(kd->wk->t[d].epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

void kd_wk_io_del(struct kd *kd, enum kd_wk_dir d, struct kd_io *io)
{
	if (!kd->wk) {
		kd_io_del(kd, io);
		return;
	}
	epoll_ctl(kd->wk->t[d].epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

static void natt_sock_ready(struct kd *kd, struct kd_io *io, uint32_t events)
{
	(void)events;
	kd_dp_natt_ready(kd, (struct kd_sock *)((char *)io - offsetof(struct kd_sock, io)));
}

/* The inbound thread reads a copy in a slot that lives as long as the
 * threads: an event still pending for a socket closed since finds the slot
 * free (fd -1) or holding another socket, which it then reads for nothing. */
int kd_wk_sock_add(struct kd *kd, struct kd_sock *s)
{
	struct kd_wk *wk = kd->wk;
	if (!wk || s->port != KT_IKE_NATT_PORT)
		return kd_io_add(kd, &s->io, EPOLLIN);
	for (size_t i = 0; i < KD_WK_MAX_NATT; i++) {
		struct kd_sock *slot = &wk->natt_socks[i];
		if (slot->io.fd >= 0)
			continue;
		kd_wk_lock(kd);
		*slot = *s;
		slot->next = NULL;
		slot->io.ready = natt_sock_ready;
		int rc = kd_wk_io_add(kd, KD_WK_IN, &slot->io);
		if (rc < 0)
			slot->io.fd = -1;
		kd_wk_unlock(kd);
		return rc;
	}
	errno = ENOSPC;
	return -1;
}

void kd_wk_sock_del(struct kd *kd, struct kd_sock *s)
{
	struct kd_wk *wk = kd->wk;
	if (!wk || s->port != KT_IKE_NATT_PORT) {
		kd_io_del(kd, &s->io);
		return;
	}
	kd_wk_lock(kd);
	for (size_t i = 0; i < KD_WK_MAX_NATT; i++) {
		struct kd_sock *slot = &wk->natt_socks[i];
		if (slot->io.fd == s->io.fd) {
			kd_wk_io_del(kd, KD_WK_IN, &slot->io);
			slot->io.fd = -1;
		}
	}
	kd_wk_unlock(kd);
}

/* ---- hand-offs ---- */

void kd_wk_post_ike(struct kd *kd, const uint8_t *msg, size_t len,
		    const struct kt_ike_endpoint *local, const struct kt_ike_endpoint *remote)
{
	struct ike_hdr h = { .local = *local, .remote = *remote };
	if (wq_push(&kd->wk->ike, &h, sizeof(h), msg, len))
		self->posted = true;
}

/* A hint already waiting for main is not queued again: every packet from
 * the new endpoint brings one until main has acted. */
static bool natt_pending(struct wq *q, const struct natt_hint *h)
{
	size_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	for (size_t i = head; i != tail; i++) {
		const uint8_t *slot = q->mem + (i & (q->n - 1)) * q->size + sizeof(size_t);
		struct natt_hint w;
		memcpy(&w, slot, sizeof(w));
		if (w.spi == h->spi && w.from.port == h->from.port &&
		    kt_addr_equal(&w.from.addr, &h->from.addr))
			return true;
	}
	return false;
}

void kd_wk_post_natt(struct kd *kd, uint32_t spi_in, const struct kt_ike_endpoint *from)
{
	struct natt_hint h = { .spi = spi_in, .from = *from };
	if (!natt_pending(&kd->wk->natt, &h) && wq_push(&kd->wk->natt, &h, sizeof(h), NULL, 0))
		self->posted = true;
}

void kd_wk_post_acquire(struct kd *kd, uint64_t cookie, const struct kt_pkt *pkt)
{
	if (wq_push(&kd->wk->acq, &cookie, sizeof(cookie), kt_pkt_data(pkt), pkt->len))
		self->posted = true;
}

/* Main's side: at most one queue's worth of each per wakeup, so that a
 * flood cannot hold the loop; whatever is left wakes it again at once. */
static bool drain_ike(struct kd *kd, struct wq *q)
{
	size_t len;
	uint8_t *p;
	for (size_t i = 0; i < q->n && (p = wq_peek(q, &len)); i++) {
		struct ike_hdr h;
		memcpy(&h, p, sizeof(h));
		kd_udp_ike_in(kd, p + sizeof(h), len - sizeof(h), &h.local, &h.remote);
		wq_pop(q);
	}
	return wq_peek(q, &len) != NULL;
}

static bool drain_natt(struct kd *kd, struct wq *q)
{
	size_t len;
	uint8_t *p;
	for (size_t i = 0; i < q->n && (p = wq_peek(q, &len)); i++) {
		struct natt_hint h;
		memcpy(&h, p, sizeof(h));
		wq_pop(q);
		kd_natt_seen(kd, h.spi, &h.from);
	}
	return wq_peek(q, &len) != NULL;
}

static bool drain_acquire(struct kd *kd, struct wq *q)
{
	size_t len;
	uint8_t *p;
	for (size_t i = 0; i < q->n && (p = wq_peek(q, &len)); i++) {
		uint64_t cookie;
		memcpy(&cookie, p, sizeof(cookie));
		struct kt_pkt pkt = { .head = p + sizeof(cookie), .cap = len - sizeof(cookie),
				      .len = len - sizeof(cookie) };
		kd_dp_acquire(kd, cookie, &pkt);
		wq_pop(q);
	}
	return wq_peek(q, &len) != NULL;
}

static void handoff_ready(struct kd *kd, struct kd_io *io, uint32_t events)
{
	(void)events;
	struct kd_wk *wk = kd->wk;
	uint64_t n;
	if (read(io->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		kd_warn("data plane: eventfd read: %s", strerror(errno));
	bool more = drain_ike(kd, &wk->ike);
	more = drain_natt(kd, &wk->natt) || more;
	more = drain_acquire(kd, &wk->acq) || more;
	if (more)
		wake_main(wk);
}

/* ---- start and end ---- */

/* The CPUs this process may run on (its affinity mask: a container's
 * cpuset counts), else the ones online. */
static long usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return CPU_COUNT(&set);
	return sysconf(_SC_NPROCESSORS_ONLN);
}

static unsigned choose(const struct kt_conf *conf, long cpus)
{
	switch (conf->daemon.workers) {
	case KT_CONF_WORKERS_NONE: return 0;
	case KT_CONF_WORKERS_TWO: return WK_THREADS;
	default: return cpus >= 2 ? WK_THREADS : 0;
	}
}

static int lock_init(struct kd_wk *wk)
{
	pthread_rwlockattr_t a;
	if (pthread_rwlockattr_init(&a) != 0)
		return -1;
	/* glibc prefers readers by default: two busy workers would keep
	 * main's writer waiting for as long as traffic flows. */
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	int rc = pthread_rwlock_init(&wk->lock, &a);
	pthread_rwlockattr_destroy(&a);
	wk->lock_ok = rc == 0;
	return rc == 0 ? 0 : -1;
}

static int fds_init(struct kd *kd, struct kd_wk *wk)
{
	static const char *const names[WK_THREADS] = { "out", "in" };
	wk->stop.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	wk->handoff.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	wk->handoff.ready = handoff_ready;
	if (wk->stop.fd < 0 || wk->handoff.fd < 0 || kd_io_add(kd, &wk->handoff, EPOLLIN) < 0)
		return -1;
	for (size_t i = 0; i < WK_THREADS; i++) {
		struct wk_thread *t = &wk->t[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &wk->stop };
		t->kd = kd;
		t->name = names[i];
		t->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (t->epfd < 0 || epoll_ctl(t->epfd, EPOLL_CTL_ADD, wk->stop.fd, &ev) < 0)
			return -1;
	}
	return 0;
}

static struct kd_wk *wk_new(void)
{
	struct kd_wk *wk = calloc(1, sizeof(*wk));
	if (!wk)
		return NULL;
	wk->stop.fd = wk->handoff.fd = -1;
	for (size_t i = 0; i < WK_THREADS; i++)
		wk->t[i].epfd = -1;
	for (size_t i = 0; i < KD_WK_MAX_NATT; i++)
		wk->natt_socks[i].io.fd = -1;
	return wk;
}

int kd_wk_open(struct kd *kd)
{
	long cpus = usable_cpus();
	unsigned n = choose(kd->conf, cpus);
	const char *how = kd->conf->daemon.workers == KT_CONF_WORKERS_AUTO ? "auto" :
			  n ? "2" : "0";
	if (n == 0) {
		kd_info("data plane: packets on the main thread (workers = %s, %ld CPU%s)", how,
			cpus, cpus == 1 ? "" : "s");
		return 0;
	}
	struct kd_wk *wk = wk_new();
	kd->wk = wk;
	if (!wk || lock_init(wk) < 0 ||
	    wq_init(&wk->ike, KD_WK_IKE_QUEUE, sizeof(struct ike_hdr) + KD_DGRAM_MAX) < 0 ||
	    wq_init(&wk->natt, KD_WK_NATT_QUEUE, sizeof(struct natt_hint)) < 0 ||
	    wq_init(&wk->acq, KD_WK_ACQ_QUEUE, sizeof(uint64_t) + KD_DP_MTU_MAX) < 0 ||
	    fds_init(kd, wk) < 0) {
		kd_err("cannot set up the data plane threads: %s", strerror(errno ? errno : ENOMEM));
		return -1;
	}
	kd_info("data plane: an outbound and an inbound thread beside the main one "
		"(workers = %s, %ld CPU%s)", how, cpus, cpus == 1 ? "" : "s");
	return 0;
}

void kd_wk_close(struct kd *kd)
{
	struct kd_wk *wk = kd->wk;
	if (!wk)
		return;
	kd_wk_stop(kd);
	for (size_t i = 0; i < WK_THREADS; i++)
		if (wk->t[i].epfd >= 0)
			close(wk->t[i].epfd);
	if (wk->handoff.fd >= 0) {
		kd_io_del(kd, &wk->handoff);
		close(wk->handoff.fd);
	}
	if (wk->stop.fd >= 0)
		close(wk->stop.fd);
	free(wk->ike.mem);
	free(wk->natt.mem);
	free(wk->acq.mem);
	if (wk->lock_ok)
		pthread_rwlock_destroy(&wk->lock);
	free(wk);
	kd->wk = NULL;
}
