/* kotetsud's log sink: stderr in the foreground (-f), syslog otherwise.
 * The level filter applies to both; messages are single lines. */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <unistd.h>

#include "core/conf/conf.h"
#include "daemon/log.h"

#define LOG_LINE_MAX 1024

static bool use_stderr = true;
static uint8_t max_level = KT_CONF_LOG_INFO;

static int syslog_priority(uint8_t level)
{
	switch (level) {
	case KT_CONF_LOG_ERROR: return LOG_ERR;
	case KT_CONF_LOG_WARN: return LOG_WARNING;
	case KT_CONF_LOG_INFO: return LOG_INFO;
	default: return LOG_DEBUG;
	}
}

void kd_log_open(bool to_stderr, uint8_t level)
{
	use_stderr = to_stderr;
	max_level = level;
	if (!use_stderr)
		openlog("kotetsud", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void kd_log_set_level(uint8_t level) { max_level = level; }

uint8_t kd_log_level(void) { return max_level; }

void kd_log(uint8_t level, const char *fmt, ...)
{
	if (level > max_level)
		return;
	char line[LOG_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One line per message: a peer-supplied string must not forge others. */
	for (char *c = line; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	/* Errors also reach a terminal, so that a failed start is seen. */
	if (use_stderr || (level == KT_CONF_LOG_ERROR && isatty(STDERR_FILENO)))
		fprintf(stderr, "kotetsud[%ld]: %s\n", (long)getpid(), line);
	if (!use_stderr)
		syslog(syslog_priority(level), "%s", line);
}

void kd_log_close(void)
{
	if (!use_stderr)
		closelog();
}
