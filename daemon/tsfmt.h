/* Traffic selectors as strongSwan prints them: "10.1.0.0/24",
 * "192.0.2.1/32[tcp/80]", "10.0.0.1-10.0.0.9[udp/1000-2000]" (a range
 * that is no prefix is written "a-b", as the config accepts it). */
#ifndef KD_TSFMT_H
#define KD_TSFMT_H

#include "core/ts.h"

#define KD_TS_TEXT 128

char *kd_ts_format(const struct kt_ts *ts, char *buf, size_t size);

#endif
