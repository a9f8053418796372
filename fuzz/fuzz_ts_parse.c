/* Fuzz target for the traffic selector parser (kt_ts_parse): any string
 * either fails cleanly or yields a selector whose invariants hold and which
 * matches its own first point. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ts.h"

/* Longer than the parser's limit, so over-long input is exercised too. */
#define FUZZ_TEXT_MAX 512

static void check(const struct kt_ts *ts)
{
	size_t n = ts->start.version == 6 ? 16 : 4;
	if (ts->start.version != 4 && ts->start.version != 6)
		abort();
	if (ts->end.version != ts->start.version)
		abort();
	if (memcmp(ts->start.bytes, ts->end.bytes, n) > 0)
		abort();
	if (ts->port_start > ts->port_end)
		abort();
	/* Both corners of the selector lie inside it. */
	struct kt_ts_point lo = { .addr = &ts->start, .proto = ts->proto, .has_port = true,
				  .port = ts->port_start };
	struct kt_ts_point hi = { .addr = &ts->end, .proto = ts->proto, .has_port = true,
				  .port = ts->port_end };
	if (!kt_ts_match(ts, &lo) || !kt_ts_match(ts, &hi))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[FUZZ_TEXT_MAX + 1];
	if (size > FUZZ_TEXT_MAX)
		size = FUZZ_TEXT_MAX;
	memcpy(text, data, size);
	text[size] = '\0';

	struct kt_ts ts;
	if (kt_ts_parse(&ts, text) == 0)
		check(&ts);
	return 0;
}
