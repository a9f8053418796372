/* PSK files: permissions first (a secret others can read is no secret, one
 * others can write is theirs), then the content: raw bytes, or 0x-hex as
 * `kotetsu genpsk` writes it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/conf/conf.h"
#include "core/text.h"
#include "daemon/pskfile.h"

static const char *mode_problem(mode_t mode)
{
	if (mode & S_IROTH)
		return "readable by others";
	if (mode & S_IWOTH)
		return "writable by others";
	if (mode & S_IRGRP)
		return "readable by group";
	if (mode & S_IWGRP)
		return "writable by group";
	return NULL;
}

static int check_file(int fd, const char *path, char *err, size_t err_len)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, err_len, "%s: owned by uid %u, not by root; chown root it", path,
			 (unsigned)st.st_uid);
		return -1;
	}
	const char *why = mode_problem(st.st_mode);
	if (why) {
		snprintf(err, err_len, "%s: %s (mode %04o); chmod 600 it", path, why,
			 (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* The whole file into buf; -2 if it fills cap (longer than any secret). */
static ssize_t read_all(int fd, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return (ssize_t)n;
		n += (size_t)r;
		if (n == cap)
			return -2;
	}
}

/* Decode "0x..." in place; returns the byte count or -1. */
static ssize_t unhex_inplace(uint8_t *buf, size_t n)
{
	return kt_text_unhex((const char *)buf + 2, n - 2, buf, n);
}

static bool is_hex_form(const uint8_t *buf, size_t n)
{
	return n >= 2 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X');
}

/* Strip the newline, decode hex; returns the secret's length or -1. */
static ssize_t decode(uint8_t *buf, size_t n, const char *path, char *err, size_t err_len)
{
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0) {
		snprintf(err, err_len, "%s: empty (kotetsu genpsk makes a strong secret)", path);
		return -1;
	}
	ssize_t len = (ssize_t)n;
	if (is_hex_form(buf, n) && (len = unhex_inplace(buf, n)) < 0) {
		snprintf(err, err_len, "%s: starts with 0x but is not pairs of hex digits", path);
		return -1;
	}
	if (len > KT_CONF_MAX_PSK_LEN) {
		snprintf(err, err_len, "%s: secret longer than %d bytes", path, KT_CONF_MAX_PSK_LEN);
		return -1;
	}
	return len;
}

static int read_secret(int fd, const char *path, uint8_t *buf, char *err, size_t err_len)
{
	if (check_file(fd, path, err, err_len) < 0)
		return -1;
	ssize_t n = read_all(fd, buf, KD_PSK_FILE_MAX + 1);
	if (n == -2) {
		snprintf(err, err_len, "%s: secret longer than %d bytes", path, KT_CONF_MAX_PSK_LEN);
		return -1;
	}
	if (n < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	return (int)decode(buf, (size_t)n, path, err, err_len);
}

int kd_psk_read(const char *path, uint8_t **secret, size_t *len, char *err, size_t err_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	uint8_t *buf = malloc(KD_PSK_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		snprintf(err, err_len, "%s: out of memory", path);
		return -1;
	}
	int n = read_secret(fd, path, buf, err, err_len);
	close(fd);
	if (n < 0) {
		OPENSSL_cleanse(buf, KD_PSK_FILE_MAX + 1);
		free(buf);
		return -1;
	}
	OPENSSL_cleanse(buf + n, KD_PSK_FILE_MAX + 1 - (size_t)n);
	*secret = buf;
	*len = (size_t)n;
	return 0;
}
