/* The control socket: a unix stream socket (mode 0600), one JSON request
 * per line in, one JSON response per line out (cmd.h lists them). Clients
 * are non-blocking; a response that does not fit the socket buffer waits
 * for EPOLLOUT. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "daemon/cmd.h"
#include "daemon/kotetsud.h"
#include "daemon/log.h"

#define CTL_MAX_CLIENTS 16     /* more connections wait in the backlog */
#define CTL_MAX_LINE 4096      /* longest request */
#define CTL_BACKLOG 16

struct kd_client {
	struct kd_io io;
	char in[CTL_MAX_LINE];
	size_t in_len;
	char *out;                 /* pending response bytes (wiped when freed) */
	size_t out_len, out_off, out_cap;
	bool closing;              /* close once out is written */
	struct kd_client *next;
};

static void listen_ready(struct kd *kd, struct kd_io *io, uint32_t events);
static void client_ready(struct kd *kd, struct kd_io *io, uint32_t events);

static struct kd_client *client_of(struct kd_io *io)
{
	return (struct kd_client *)((char *)io - offsetof(struct kd_client, io));
}

/* ---- set-up ---- */

int kd_mkdir_parents(const char *path)
{
	char dir[KT_CONF_MAX_PATH + 1];
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *s = dir + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return 0;
}

static socklen_t make_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sun->sun_path) + 1);
}

/* Another daemon answering on path is fatal; a dead socket is removed. */
static int clear_old(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		kd_err("%s exists and is not a socket; remove it or choose another [daemon] socket",
		       path);
		return -1;
	}
	struct sockaddr_un sun;
	socklen_t len = make_addr(&sun, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int rc = connect(fd, (struct sockaddr *)&sun, len);
	close(fd);
	if (rc == 0) {
		kd_err("another kotetsud answers on %s; stop it first or give this one another "
		       "[daemon] socket", path);
		return -1;
	}
	kd_info("removing stale control socket %s", path);
	return unlink(path);
}

static int bind_listen(const char *path)
{
	struct sockaddr_un sun;
	socklen_t len = make_addr(&sun, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Created 0600 from the start: no moment where others may connect. */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sun, len);
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, CTL_BACKLOG) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int kd_ctl_open(struct kd *kd, const char *path)
{
	snprintf(kd->ctl_path, sizeof(kd->ctl_path), "%s", path);
	if (kd_mkdir_parents(path) < 0) {
		kd_err("cannot create the directory of %s: %s", path, strerror(errno));
		return -1;
	}
	if (clear_old(path) < 0)
		return -1;
	int fd = bind_listen(path);
	if (fd < 0) {
		kd_err("cannot listen on %s: %s", path, strerror(errno));
		return -1;
	}
	kd->ctl.fd = fd;
	kd->ctl.ready = listen_ready;
	if (kd_io_add(kd, &kd->ctl, EPOLLIN) < 0) {
		close(fd);
		kd->ctl.fd = -1;
		return -1;
	}
	return 0;
}

/* ---- clients ---- */

static void client_close(struct kd *kd, struct kd_client *c)
{
	for (struct kd_client **pp = &kd->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	kd->n_clients--;
	kd_io_del(kd, &c->io);
	close(c->io.fd);
	if (c->out) {
		OPENSSL_cleanse(c->out, c->out_cap);
		free(c->out);
	}
	OPENSSL_cleanse(c->in, sizeof(c->in));
	free(c);
}

void kd_ctl_close(struct kd *kd)
{
	while (kd->clients)
		client_close(kd, kd->clients);
	if (kd->ctl.fd >= 0) {
		kd_io_del(kd, &kd->ctl);
		close(kd->ctl.fd);
		kd->ctl.fd = -1;
		unlink(kd->ctl_path);
	}
}

static void listen_ready(struct kd *kd, struct kd_io *io, uint32_t events)
{
	(void)events;
	while (kd->n_clients < CTL_MAX_CLIENTS) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct kd_client *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->io.fd = fd;
		c->io.ready = client_ready;
		if (kd_io_add(kd, &c->io, EPOLLIN) < 0) {
			close(fd);
			free(c);
			return;
		}
		c->next = kd->clients;
		kd->clients = c;
		kd->n_clients++;
	}
}

/* Append to the pending output, growing the buffer (old copies wiped). */
static int out_append(struct kd_client *c, const char *p, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + n)
			cap *= 2;
		char *b = malloc(cap);
		if (!b)
			return -1;
		if (c->out) {
			memcpy(b, c->out, c->out_len);
			OPENSSL_cleanse(c->out, c->out_cap);
			free(c->out);
		}
		c->out = b;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

static int dump_cb(const char *buf, size_t size, void *data)
{
	return out_append(data, buf, size);
}

/* Write what is pending; returns -1 when the client is gone. */
static int flush_out(struct kd *kd, struct kd_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->io.fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return kd_io_mod(kd, &c->io, c->closing ? EPOLLOUT : EPOLLIN | EPOLLOUT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		c->out_off += (size_t)n;
	}
	if (c->out)
		OPENSSL_cleanse(c->out, c->out_len);
	c->out_len = c->out_off = 0;
	if (c->closing)
		return -1;
	return kd_io_mod(kd, &c->io, EPOLLIN);
}

static void respond(struct kd_client *c, json_t *resp)
{
	if (!resp || json_dump_callback(resp, dump_cb, c, JSON_COMPACT) < 0 ||
	    out_append(c, "\n", 1) < 0) {
		static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}\n";
		c->closing = true;
		out_append(c, oom, sizeof(oom) - 1);
	}
	json_decref(resp);
}

static void handle_line(struct kd *kd, struct kd_client *c, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req = json_loadb(line, len, 0, &jerr);
	json_t *resp;
	if (!req || !json_is_object(req))
		resp = json_pack("{s:b, s:s}", "ok", 0, "error",
				 "a request is one JSON object per line");
	else
		resp = kd_cmd(kd, req);
	json_decref(req);
	respond(c, resp);
}

/* Handle every complete line in c->in; keep the rest. */
static void handle_lines(struct kd *kd, struct kd_client *c)
{
	size_t start = 0;
	for (size_t i = 0; i < c->in_len; i++) {
		if (c->in[i] != '\n')
			continue;
		if (i > start)
			handle_line(kd, c, c->in + start, i - start);
		start = i + 1;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	if (c->in_len == sizeof(c->in)) {
		respond(c, json_pack("{s:b, s:s}", "ok", 0, "error", "request line too long"));
		c->closing = true;
		c->in_len = 0;
	}
}

static int read_in(struct kd *kd, struct kd_client *c)
{
	for (;;) {
		ssize_t n = recv(c->io.fd, c->in + c->in_len, sizeof(c->in) - c->in_len,
				 MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		if (n == 0) { /* answer what was asked, then close */
			c->closing = true;
			return 0;
		}
		c->in_len += (size_t)n;
		handle_lines(kd, c);
		if (c->closing)
			return 0;
	}
}

static void client_ready(struct kd *kd, struct kd_io *io, uint32_t events)
{
	struct kd_client *c = client_of(io);
	int rc = 0;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		rc = c->closing ? 0 : read_in(kd, c);
	if (rc == 0 && (c->out_len || c->closing))
		rc = flush_out(kd, c);
	if (rc < 0)
		client_close(kd, c);
}
