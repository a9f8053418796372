/* Loading kotetsu.conf: read the file, parse it, then replace every
 * "psk = file:PATH" by the file's secret, so that what the engine sees
 * holds secrets only. Shared by kotetsud (start-up, reload) and `kotetsu
 * check`; it logs nothing: every problem lands in the diagnostics. */
#ifndef KD_CONFIG_H
#define KD_CONFIG_H

#include "core/conf/conf.h"

/* Largest configuration file read (a sanity bound, far above real use). */
#define KD_CONF_MAX_SIZE (4u << 20)

/* Returns 0 with *out (free with kt_conf_free), or -1 with at least one
 * error in diag ("FILE:LINE: message", or "FILE: reason" when the file
 * cannot be read). Errors and warnings of the parser and of PSK files
 * ("FILE:LINE: PATH: readable by others (mode 0644); chmod 600 it") are
 * all collected. */
int kd_config_load(const char *path, struct kt_conf **out, struct kt_conf_diag *diag);

/* Append a message to diag (printf-style), counting it as kt_conf_parse
 * does: the first KT_CONF_DIAG_MAX are kept, all are counted. */
void kd_diag_add(struct kt_conf_diag *diag, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
