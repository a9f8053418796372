/* kotetsud, the IKE daemon: reads kotetsu.conf, runs the IKEv2 engine on
 * UDP 500/4500, installs the negotiated SAs, carries the traffic through
 * its TUN (the data plane, dataplane.h) and answers the control socket.
 * The main thread runs one epoll loop: the core gets the time and the bytes
 * from here and hands back datagrams, events and its next deadline. The
 * packets themselves may go to two worker threads ([daemon] workers,
 * worker.h). It stays in the foreground and runs as root (privilege
 * separation comes later). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "daemon/child.h"
#include "daemon/config.h"
#include "daemon/dataplane.h"
#include "daemon/jwipe.h"
#include "daemon/kotetsud.h"
#include "daemon/log.h"
#include "daemon/worker.h"

#define EPOLL_BATCH 32
#define MAX_WAIT_MS 60000   /* wake at least this often, whatever the timers say */

static const char usage_text[] =
	"usage: kotetsud [-c FILE] [-f] [-v]\n"
	"  -c FILE  configuration file (default " KT_CONF_DEFAULT_FILE ")\n"
	"  -f       log to stderr (default: syslog); kotetsud always stays in the foreground\n"
	"  -v       log at debug level, whatever log-level the configuration sets\n"
	"  -h       show this help\n";

kt_tstamp kd_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (kt_tstamp)ts.tv_sec * KT_SECONDS + (kt_tstamp)ts.tv_nsec;
}

/* ---- epoll ---- */

int kd_io_add(struct kd *kd, struct kd_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };
	return epoll_ctl(kd->epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

int kd_io_mod(struct kd *kd, struct kd_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };
	return epoll_ctl(kd->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

void kd_io_del(struct kd *kd, struct kd_io *io)
{
	epoll_ctl(kd->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

/* ---- configuration ---- */

static void print_diag(const struct kt_conf_diag *d)
{
	for (size_t i = 0; i < d->n_errors && i < KT_CONF_DIAG_MAX; i++)
		fprintf(stderr, "%s\n", d->errors[i]);
	if (d->n_errors > KT_CONF_DIAG_MAX)
		fprintf(stderr, "... and %zu more errors\n", d->n_errors - KT_CONF_DIAG_MAX);
}

static void log_warnings(const struct kt_conf_diag *d)
{
	for (size_t i = 0; i < d->n_warnings && i < KT_CONF_DIAG_MAX; i++)
		kd_warn("%s", d->warnings[i]);
}

static void note_daemon_changes(const struct kd *kd, const struct kt_conf *conf)
{
	if (strcmp(conf->daemon.socket, kd->ctl_path) != 0)
		kd_warn("[daemon] socket changed to %s: takes effect on restart (still %s)",
			conf->daemon.socket, kd->ctl_path);
	if (strcmp(conf->daemon.pidfile, kd->pidfile) != 0)
		kd_warn("[daemon] pidfile changed to %s: takes effect on restart (still %s)",
			conf->daemon.pidfile, kd->pidfile);
	if (kd->dp && strcmp(conf->daemon.tun, kd->dp->tun_name) != 0)
		kd_warn("[daemon] tun changed to %s: takes effect on restart (still %s)",
			conf->daemon.tun, kd->dp->tun_name);
	if (conf->daemon.workers != kd->conf->daemon.workers)
		kd_warn("[daemon] workers changed: takes effect on restart (%u worker threads now)",
			kd_wk_count(kd));
}

int kd_reload(struct kd *kd, struct kt_conf_diag *diag)
{
	struct kt_conf *conf;
	if (kd_config_load(kd->conf_path, &conf, diag) < 0) {
		for (size_t i = 0; i < diag->n_errors && i < KT_CONF_DIAG_MAX; i++)
			kd_err("reload refused: %s", diag->errors[i]);
		return -1;
	}
	if (kd->verbose) /* -v wins over the file, for the engine's log too */
		conf->daemon.log_level = KT_CONF_LOG_DEBUG;
	log_warnings(diag);
	int rc = kt_ike_set_conf(kd->ike, kd_now(), conf);
	if (rc < 0) {
		kd_diag_add(diag, true, "%s: the IKE engine refused it: %s", kd->conf_path,
			    kt_strerror(rc));
		kd_err("reload refused: %s", diag->errors[0]);
		kt_conf_free(conf);
		return -1;
	}
	struct kt_conf *old = kd->conf;
	note_daemon_changes(kd, conf);
	kd->conf = conf;
	kd_wk_lock(kd); /* the workers read the level */
	kd_log_set_level(conf->daemon.log_level);
	kd_wk_unlock(kd);
	kd_udp_sync(kd);
	kd_dp_sync(kd);
	kd_ike_start_peers(kd, old);
	kt_conf_free(old);
	kd_info("reloaded %s: %zu peers, %zu children", kd->conf_path, conf->n_peers,
		conf->n_children);
	return 0;
}

/* ---- shutdown and signals ---- */

struct peer_names {
	char (*names)[KT_CONF_MAX_NAME + 1];
	size_t n, cap;
};

static void collect_peer(const struct kt_ike_sa_info *info, void *arg)
{
	struct peer_names *pn = arg;
	if (pn->n < pn->cap)
		snprintf(pn->names[pn->n++], sizeof(pn->names[0]), "%s", info->peer);
}

void kd_shutdown(struct kd *kd)
{
	if (kd->stopping) { /* asked twice: go now */
		kd->quit = true;
		return;
	}
	kd->stopping = true;
	kd->stop_deadline = kd_now() + KD_SHUTDOWN_GRACE;
	/* Names first: the engine's list must not change while it is walked. */
	struct peer_names pn = { .cap = kd_ike_count(kd) };
	pn.names = calloc(pn.cap ? pn.cap : 1, sizeof(pn.names[0]));
	if (!pn.names) {
		kd->quit = true;
		return;
	}
	kt_ike_foreach(kd->ike, collect_peer, &pn);
	kd_info("shutting down: deleting %zu IKE SA%s", pn.n, pn.n == 1 ? "" : "s");
	for (size_t i = 0; i < pn.n; i++)
		kt_ike_terminate(kd->ike, kd_now(), pn.names[i], NULL);
	free(pn.names);
}

static void signal_ready(struct kd *kd, struct kd_io *io, uint32_t events)
{
	(void)events;
	struct signalfd_siginfo si;
	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			kd_info("SIGHUP: reloading %s", kd->conf_path);
			struct kt_conf_diag *diag = calloc(1, sizeof(*diag));
			if (diag)
				kd_reload(kd, diag);
			free(diag);
		} else {
			kd_shutdown(kd);
		}
	}
}

static int block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	return sigprocmask(SIG_BLOCK, set, NULL);
}

/* ---- pid file ---- */

/* Locked while we run, so a second daemon with the same config refuses. */
static int pidfile_open(struct kd *kd, const char *path)
{
	snprintf(kd->pidfile, sizeof(kd->pidfile), "%s", path);
	if (kd_mkdir_parents(path) < 0)
		goto fail;
	kd->pid_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (kd->pid_fd < 0)
		goto fail;
	if (flock(kd->pid_fd, LOCK_EX | LOCK_NB) < 0) {
		char buf[32] = "";
		ssize_t n = read(kd->pid_fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		kd_err("another kotetsud (pid %s) holds %s", buf[0] ? buf : "?", path);
		close(kd->pid_fd);
		kd->pid_fd = -1;
		return -1;
	}
	if (ftruncate(kd->pid_fd, 0) < 0 || dprintf(kd->pid_fd, "%ld\n", (long)getpid()) < 0)
		goto fail;
	return 0;
fail:
	kd_err("cannot write pid file %s: %s", path, strerror(errno));
	return -1;
}

static void pidfile_close(struct kd *kd)
{
	if (kd->pid_fd < 0)
		return;
	unlink(kd->pidfile);
	close(kd->pid_fd);
	kd->pid_fd = -1;
}

/* ---- the loop ---- */

/* sad_next: the SADs' next deadline, kept for handle_timers. */
static int next_timeout_ms(struct kd *kd, kt_tstamp now, kt_tstamp *sad_next)
{
	kt_tstamp t = kt_ike_next_expiry(kd->ike);
	kt_tstamp s = *sad_next = kd_sad_next_expiry(kd);
	if (s < t)
		t = s;
	if (kd->stopping && kd->stop_deadline < t)
		t = kd->stop_deadline;
	if (t == KT_TSTAMP_NEVER)
		return MAX_WAIT_MS;
	if (t <= now)
		return 0;
	kt_tstamp ms = (t - now + KT_MILLISECONDS - 1) / KT_MILLISECONDS;
	return ms > MAX_WAIT_MS ? MAX_WAIT_MS : (int)ms;
}

/* SAs installed since sad_next was taken expire later than now. */
static void handle_timers(struct kd *kd, kt_tstamp now, kt_tstamp sad_next)
{
	if (kt_ike_next_expiry(kd->ike) <= now)
		kt_ike_handle_expiry(kd->ike, now);
	if (sad_next <= now)
		kd_sad_handle_expiry(kd, now);
}

static int run(struct kd *kd)
{
	struct epoll_event evs[EPOLL_BATCH];
	kt_tstamp sad_next;
	while (!kd->quit) {
		int timeout = next_timeout_ms(kd, kd_now(), &sad_next);
		int n = epoll_wait(kd->epfd, evs, EPOLL_BATCH, timeout);
		if (n < 0 && errno != EINTR) {
			kd_err("epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (int i = 0; i < n; i++) {
			struct kd_io *io = evs[i].data.ptr;
			if (io->fd >= 0) /* closed earlier in this batch (reload) */
				io->ready(kd, io, evs[i].events);
		}
		kd_udp_reap(kd);
		kt_tstamp now = kd_now();
		handle_timers(kd, now, sad_next);
		kd_ike_flush(kd);
		kd_dp_tick(kd);
		if (kd->stopping && (kd_ike_count(kd) == 0 || now >= kd->stop_deadline))
			kd->quit = true;
	}
	return 0;
}

/* ---- start and stop ---- */

/* One SPD, a SAD per direction (worker.h). */
static int start_ipsec(struct kd *kd)
{
	int rc = kt_ipsec_init(&kd->ips_out);
	if (rc < 0)
		return rc;
	kd->ips_in.spd = kd->ips_out.spd;
	kd->ips_in.sad = kt_sad_new();
	return kd->ips_in.sad ? 0 : KT_ERR_NOMEM;
}

static void stop_ipsec(struct kd *kd)
{
	if (kd->ips_out.sad || kd->ips_out.spd)
		kt_ipsec_free(&kd->ips_out); /* the SPD with it */
	kt_sad_del(kd->ips_in.sad);
	kd->ips_in.sad = NULL;
	kd->ips_in.spd = NULL;
}

static int start_engine(struct kd *kd)
{
	int rc = start_ipsec(kd);
	if (rc == 0) {
		struct kt_ike_settings s = { .conf = kd->conf };
		rc = kt_ike_new(&s, kd_now(), &kd->ike);
	}
	if (rc < 0)
		kd_err("cannot start the IKE engine: %s", kt_strerror(rc));
	return rc;
}

static int start_signals(struct kd *kd, const sigset_t *set)
{
	kd->sig.fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
	kd->sig.ready = signal_ready;
	if (kd->sig.fd < 0 || kd_io_add(kd, &kd->sig, EPOLLIN) < 0) {
		kd_err("cannot set up signal handling: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int start(struct kd *kd, const sigset_t *set)
{
	kd->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (kd->epfd < 0) {
		kd_err("epoll_create1: %s", strerror(errno));
		return -1;
	}
	/* The data plane before the UDP sockets: they carry its fwmark. The
	 * worker state before both: their descriptors go to its epoll sets. */
	if (pidfile_open(kd, kd->conf->daemon.pidfile) < 0 ||
	    kd_ctl_open(kd, kd->conf->daemon.socket) < 0 || start_engine(kd) < 0 ||
	    kd_wk_open(kd) < 0 || kd_dp_open(kd) < 0 || kd_udp_sync(kd) < 0 ||
	    start_signals(kd, set) < 0)
		return -1;
	kd_dp_sync(kd);
	if (kd_wk_start(kd) < 0)
		return -1;
	kd_info("started: %s, %zu peers, %zu children, control socket %s", kd->conf_path,
		kd->conf->n_peers, kd->conf->n_children, kd->ctl_path);
	kd_ike_start_peers(kd, NULL);
	kd_ike_flush(kd);
	return 0;
}

static void stop(struct kd *kd)
{
	kd_wk_stop(kd);
	kd_ctl_close(kd);
	kd_udp_close(kd);
	kd_udp_reap(kd);
	if (kd->ike)
		kt_ike_del(kd->ike);
	kd_child_remove_all(kd);
	kd_dp_close(kd);
	kd_wk_close(kd);
	stop_ipsec(kd);
	kd_notes_free(kd);
	pidfile_close(kd);
	if (kd->sig.fd >= 0)
		close(kd->sig.fd);
	if (kd->epfd >= 0)
		close(kd->epfd);
	kt_conf_free(kd->conf);
	kd->conf = NULL;
}

static int parse_args(struct kd *kd, int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "c:fvh")) != -1) {
		switch (c) {
		case 'c': kd->conf_path = optarg; break;
		case 'f': kd->foreground = true; break;
		case 'v': kd->verbose = true; break;
		case 'h': fputs(usage_text, stdout); exit(0);
		default: fputs(usage_text, stderr); return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kotetsud: unexpected argument '%s'\n%s", argv[optind], usage_text);
		return -1;
	}
	return 0;
}

static int load_config(struct kd *kd)
{
	struct kt_conf_diag *diag = calloc(1, sizeof(*diag));
	if (!diag)
		return -1;
	int rc = kd_config_load(kd->conf_path, &kd->conf, diag);
	if (rc == 0 && kd->verbose) /* -v wins over the file, for the engine's log too */
		kd->conf->daemon.log_level = KT_CONF_LOG_DEBUG;
	if (rc < 0) {
		print_diag(diag);
		fprintf(stderr, "kotetsud: %zu error%s in %s; not started\n", diag->n_errors,
			diag->n_errors == 1 ? "" : "s", kd->conf_path);
	} else {
		kd_log_open(kd->foreground, kd->conf->daemon.log_level);
		log_warnings(diag);
	}
	free(diag);
	return rc;
}

int main(int argc, char **argv)
{
	static struct kd kd = { .conf_path = KT_CONF_DEFAULT_FILE, .epfd = -1, .pid_fd = -1,
				.ctl.fd = -1, .sig.fd = -1 };
	if (parse_args(&kd, argc, argv) < 0)
		return 2;
	sigset_t set;
	if (block_signals(&set) < 0) {
		perror("kotetsud: sigprocmask");
		return 1;
	}
	kd_json_wipe_init();
	if (load_config(&kd) < 0)
		return 1;
	int rc = start(&kd, &set) < 0 || run(&kd) < 0 ? 1 : 0;
	if (rc == 0)
		kd_info("stopped");
	stop(&kd);
	kd_log_close();
	return rc;
}
