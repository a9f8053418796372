/* Fuzz target for proposal strings: the first byte picks the protocol and
 * legacy flag, the rest is a comma list. Whatever parses must format, and
 * its keyword form must parse back to the same proposals. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ike/proposal.h"

/* Longer than the list limit, so over-long input is exercised too. */
#define FUZZ_TEXT_MAX (KT_PROPOSAL_LIST_TEXT_MAX + 64)
#define FORMAT_MAX 8192

static void round_trip(const struct kt_proposal *list, size_t n, uint8_t proto, bool legacy)
{
	static char buf[FORMAT_MAX], disp[FORMAT_MAX];
	static struct kt_proposal again[KT_PROPOSAL_MAX_LIST];
	size_t m;
	if (kt_proposal_format_list(list, n, buf, sizeof(buf)) <= 0)
		abort();
	for (size_t i = 0; i < n; i++)
		if (kt_proposal_display(&list[i], disp, sizeof(disp)) <= 0)
			abort();
	if (kt_proposal_parse_list(again, KT_PROPOSAL_MAX_LIST, &m, proto, buf, legacy, NULL, 0))
		abort();
	if (m != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!kt_proposal_equal(&list[i], &again[i]) ||
		    (kt_proposal_is_legacy(&list[i]) && !legacy))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t protos[] = { KT_IKE_PROTO_IKE, KT_IKE_PROTO_ESP, KT_IKE_PROTO_AH, 0 };
	static char text[FUZZ_TEXT_MAX + 1];
	static struct kt_proposal list[KT_PROPOSAL_MAX_LIST];
	if (size < 1)
		return 0;
	uint8_t proto = protos[data[0] & 3];
	bool legacy = data[0] & 4;
	size--, data++;
	if (size > FUZZ_TEXT_MAX)
		size = FUZZ_TEXT_MAX;
	memcpy(text, data, size);
	text[size] = '\0';

	char err[KT_PROPOSAL_ERR_LEN];
	size_t n = 0;
	int rc = kt_proposal_parse_list(list, KT_PROPOSAL_MAX_LIST, &n, proto, text, legacy, err,
					sizeof(err));
	if (rc == 0)
		round_trip(list, n, proto, legacy);
	else if (n || strnlen(err, sizeof(err)) == sizeof(err))
		abort();
	return 0;
}
