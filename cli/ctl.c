/* The control socket client: one JSON request line out, one response line
 * back. The response may carry keys: its buffer is wiped after parsing. */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "cli/cli.h"
#include "core/conf/conf.h"

#define RESPONSE_MAX (64u << 20) /* a sanity bound on one response line */

struct socket_key {
	char *buf;
	size_t len;
};

/* inih handler: [daemon] socket only; a trailing " # comment" removed. */
static int socket_key(void *ctx, const char *section, const char *name, const char *value)
{
	struct socket_key *k = ctx;
	if (strcmp(section, "daemon") != 0 || strcmp(name, "socket") != 0)
		return 1;
	snprintf(k->buf, k->len, "%s", value);
	for (char *h = strchr(k->buf, '#'); h; h = strchr(h + 1, '#'))
		if (h > k->buf && isspace((unsigned char)h[-1])) {
			*h = '\0';
			break;
		}
	size_t n = strlen(k->buf);
	while (n && isspace((unsigned char)k->buf[n - 1]))
		k->buf[--n] = '\0';
	return 1;
}

/* Only the [daemon] section is read, so that `kotetsu reload` still finds
 * the daemon when an edit broke another part of the file. */
const char *cli_socket_path(const struct cli *cli, char *buf, size_t len)
{
	if (cli->socket)
		return cli->socket;
	snprintf(buf, len, "%s", KT_CONF_DEFAULT_SOCKET);
	struct socket_key k = { buf, len };
	ini_parse(cli_conf_path(cli), socket_key, &k);
	if (!buf[0])
		snprintf(buf, len, "%s", KT_CONF_DEFAULT_SOCKET);
	return buf;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static const char *connect_hint(int err)
{
	switch (err) {
	case ENOENT:
	case ECONNREFUSED: return "; is kotetsud running? (-s picks another socket)";
	case EACCES: return "; the socket is root's";
	default: return "";
	}
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct buf {
	char *p;
	size_t len, cap;
};

static int grow(struct buf *b)
{
	size_t cap = b->cap ? b->cap * 2 : 65536;
	if (cap > RESPONSE_MAX)
		return -1;
	char *p = malloc(cap);
	if (!p)
		return -1;
	if (b->p) {
		memcpy(p, b->p, b->len);
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static int append(struct buf *b, const char *p, size_t n)
{
	while (b->len + n > b->cap)
		if (grow(b) < 0)
			return -1;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* json_dump_callback's sink (json_dumps would allocate through the
 * wiping allocator, whose blocks free() must not see). */
static int dump_cb(const char *p, size_t n, void *data)
{
	return append(data, p, n);
}

/* Read up to the first newline. Returns 0, or -1 with errno (ETIMEDOUT,
 * ECONNRESET for a close before the answer, EMSGSIZE). */
static int read_line(int fd, struct buf *b, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	while (!b->len || b->p[b->len - 1] != '\n') {
		if (b->len == b->cap && grow(b) < 0) {
			errno = EMSGSIZE;
			return -1;
		}
		long long left = deadline - now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		ssize_t n = r < 0 ? -1 : recv(fd, b->p + b->len, b->cap - b->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n == 0 ? ECONNRESET : errno;
			return -1;
		}
		b->len += (size_t)n;
	}
	return 0;
}

static json_t *exchange(const char *path, json_t *req, int timeout_ms)
{
	int fd = connect_to(path);
	if (fd < 0) {
		cli_fail("cannot reach kotetsud at %s: %s%s", path, strerror(errno),
			 connect_hint(errno));
		return NULL;
	}
	struct buf b = { 0 };
	int rc = json_dump_callback(req, dump_cb, &b, JSON_COMPACT) == 0 &&
		 append(&b, "\n", 1) == 0 ? send_all(fd, b.p, b.len) : -1;
	b.len = 0;
	if (rc < 0 || read_line(fd, &b, timeout_ms) < 0) {
		cli_fail("no answer from kotetsud at %s: %s", path, strerror(errno));
		close(fd);
		if (b.p)
			OPENSSL_cleanse(b.p, b.cap);
		free(b.p);
		return NULL;
	}
	close(fd);
	json_error_t jerr;
	json_t *resp = json_loadb(b.p, b.len, 0, &jerr);
	OPENSSL_cleanse(b.p, b.cap);
	free(b.p);
	if (!json_is_object(resp)) {
		json_decref(resp);
		cli_fail("kotetsud at %s sent something that is not a JSON object", path);
		return NULL;
	}
	return resp;
}

json_t *cli_call(const struct cli *cli, json_t *req, int timeout_ms, json_t **failed)
{
	char path[KT_CONF_MAX_SOCKET_PATH + 1];
	json_t *resp = req ? exchange(cli_socket_path(cli, path, sizeof(path)), req, timeout_ms) :
			     NULL;
	json_decref(req);
	if (!resp || json_is_true(json_object_get(resp, "ok")))
		return resp;
	if (failed) {
		*failed = resp;
		return NULL;
	}
	const char *err = json_string_value(json_object_get(resp, "error"));
	cli_fail("%s", err ? err : "kotetsud refused the request");
	json_decref(resp);
	return NULL;
}
