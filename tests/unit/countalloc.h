/* A counting allocator for libcrypto, for the tests that prove a packet
 * path allocates nothing: call countalloc_install() first thing in main()
 * (before libcrypto allocates), then compare n_allocs around the code. */
#ifndef KT_COUNTALLOC_H
#define KT_COUNTALLOC_H

#include <stdbool.h>
#include <stdlib.h>
#include <openssl/crypto.h>

static long n_allocs;
static bool counting_ok; /* false: libcrypto had allocated already */

static void *count_malloc(size_t n, const char *file, int line)
{
	(void)file; (void)line;
	n_allocs++;
	return malloc(n);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file; (void)line;
	n_allocs++;
	return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
	(void)file; (void)line;
	free(p);
}

static inline void countalloc_install(void)
{
	counting_ok = CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free);
}

#endif
