/* Reading a PSK file named by "psk = file:/path". Shared by kotetsud and
 * `kotetsu check` so that both judge a file the same way. */
#ifndef KD_PSKFILE_H
#define KD_PSKFILE_H

#include <stddef.h>
#include <stdint.h>

/* Longest file accepted: the hex form of a 256-byte secret and a newline. */
#define KD_PSK_FILE_MAX (2 + 2 * 256 + 2)

/* Read the secret in path. The file must be a regular file owned by root
 * or by us, neither readable nor writable by group or others. Its content
 * less one trailing "\n" (or "\r\n") is the secret; if that is "0x"
 * followed by pairs of hex digits (what `kotetsu genpsk` prints), the
 * secret is those bytes. Returns 0 with *secret (malloc'd; the caller
 * wipes and frees it) and *len, or -1 with a one-line reason in err
 * ("PATH: readable by others (mode 0644); chmod 600 it"). */
int kd_psk_read(const char *path, uint8_t **secret, size_t *len, char *err, size_t err_len);

#endif
