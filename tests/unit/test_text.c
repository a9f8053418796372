/* Tests for core/text: trimming and hex decoding as the parsers use them. */
#include "tests/unit/testutil.h"

#include "core/text.h"

static void test_trim(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "", "" }, { "  ", "" }, { "a", "a" }, { " \ta b\t ", "a b" },
		{ "x  ", "x" }, { "\t\ty", "y" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];
		strcpy(buf, cases[i].in);
		assert_string_equal(kt_text_trim(buf), cases[i].out);
	}
}

static void test_unhex(void **state)
{
	static const struct { const char *in; size_t cap; int want; const char *bytes; } cases[] = {
		{ "00ff", 8, 2, "\x00\xff" }, { "DeAdBeEf", 4, 4, "\xde\xad\xbe\xef" },
		{ "", 8, -1, NULL }, { "abc", 8, -1, NULL }, { "zz", 8, -1, NULL },
		{ "0g", 8, -1, NULL }, { "aabbcc", 2, -1, NULL },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t out[8];
		int n = kt_text_unhex(cases[i].in, strlen(cases[i].in), out, cases[i].cap);
		assert_int_equal(n, cases[i].want);
		if (n > 0)
			assert_memory_equal(out, cases[i].bytes, (size_t)n);
	}
}

/* The daemon decodes key files in place. */
static void test_unhex_in_place(void **state)
{
	char buf[] = "0102a0ff";
	(void)state;
	assert_int_equal(kt_text_unhex(buf, 8, (uint8_t *)buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "\x01\x02\xa0\xff", 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_unhex),
		cmocka_unit_test(test_unhex_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
