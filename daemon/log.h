/* kotetsud's log: one line per message, filtered by level. With -f the
 * lines go to stderr as "kotetsud[PID]: text"; otherwise to syslog
 * (facility daemon, ident kotetsud). */
#ifndef KD_LOG_H
#define KD_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* Levels are the config's (enum kt_conf_log_level) and the engine's
 * (enum kt_ike_log_level): error 0, warn 1, info 2, debug 3. */
void kd_log_open(bool to_stderr, uint8_t level);
void kd_log_set_level(uint8_t level);
uint8_t kd_log_level(void);
void kd_log(uint8_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kd_log_close(void);

#define kd_err(...) kd_log(KT_CONF_LOG_ERROR, __VA_ARGS__)
#define kd_warn(...) kd_log(KT_CONF_LOG_WARN, __VA_ARGS__)
#define kd_info(...) kd_log(KT_CONF_LOG_INFO, __VA_ARGS__)
#define kd_debug(...) kd_log(KT_CONF_LOG_DEBUG, __VA_ARGS__)

#endif
