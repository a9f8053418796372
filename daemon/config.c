/* kotetsu.conf from disk to a struct kt_conf whose PSKs are all secrets.
 * The file's text is wiped after parsing: it may hold inline secrets. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/err.h"
#include "daemon/config.h"
#include "daemon/pskfile.h"

void kd_diag_add(struct kt_conf_diag *diag, bool error, const char *fmt, ...)
{
	size_t *count = error ? &diag->n_errors : &diag->n_warnings;
	size_t i = (*count)++;
	if (i >= KT_CONF_DIAG_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(error ? diag->errors[i] : diag->warnings[i], KT_CONF_DIAG_LEN, fmt, ap);
	va_end(ap);
}

/* The file's bytes into a malloc'd buffer; NULL and errno on failure. */
static char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return NULL;
	struct stat st;
	char *buf = NULL;
	if (fstat(fd, &st) < 0)
		goto out;
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > KD_CONF_MAX_SIZE) {
		errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto out;
	size_t n = 0;
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	*len = n;
out:
	close(fd);
	return buf;
}

/* Replace one file PSK by its secret (kt_conf_free wipes and frees it). */
static int load_psk(const char *conf_path, struct kt_conf_psk *psk, struct kt_conf_diag *diag)
{
	char why[KT_CONF_DIAG_LEN];
	uint8_t *secret;
	size_t len;
	if (kd_psk_read(psk->path, &secret, &len, why, sizeof(why)) < 0) {
		kd_diag_add(diag, true, "%s:%u: %s", conf_path, psk->line, why);
		return -1;
	}
	if (len < KT_CONF_PSK_WARN_BYTES)
		kd_diag_add(diag, false, "%s:%u: %s: secret has only %zu bytes; use at least %d "
			    "(kotetsu genpsk makes a strong one)", conf_path, psk->line, psk->path,
			    len, KT_CONF_PSK_WARN_BYTES);
	psk->kind = KT_CONF_PSK_SECRET;
	psk->secret = secret;
	psk->len = len;
	return 0;
}

static int load_psks(const char *conf_path, struct kt_conf *conf, struct kt_conf_diag *diag)
{
	int rc = 0;
	for (size_t i = 0; i < conf->n_peers; i++) {
		struct kt_conf_peer *peer = conf->peers[i];
		for (size_t j = 0; j < peer->n_psk; j++)
			if (peer->psk[j].kind == KT_CONF_PSK_FILE &&
			    load_psk(conf_path, &peer->psk[j], diag) < 0)
				rc = -1;
	}
	return rc;
}

int kd_config_load(const char *path, struct kt_conf **out, struct kt_conf_diag *diag)
{
	memset(diag, 0, sizeof(*diag));
	*out = NULL;
	size_t len = 0;
	char *text = read_file(path, &len);
	if (!text) {
		kd_diag_add(diag, true, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct kt_conf *conf = NULL;
	int rc = kt_conf_parse(text, len, path, &conf, diag);
	OPENSSL_cleanse(text, len);
	free(text);
	if (rc == KT_ERR_NOMEM)
		kd_diag_add(diag, true, "%s: out of memory", path);
	if (rc < 0)
		return -1;
	if (load_psks(path, conf, diag) < 0) {
		kt_conf_free(conf);
		return -1;
	}
	*out = conf;
	return 0;
}
