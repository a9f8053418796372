/* jansson's memory through a wiping allocator (see jwipe.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "daemon/jwipe.h"

/* Each block carries its size in front, so free can wipe it. */
#define HDR sizeof(max_align_t)

static void *wipe_malloc(size_t n)
{
	if (n > SIZE_MAX - HDR)
		return NULL;
	unsigned char *p = malloc(HDR + n);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static void wipe_free(void *ptr)
{
	if (!ptr)
		return;
	unsigned char *p = (unsigned char *)ptr - HDR;
	size_t n;
	memcpy(&n, p, sizeof(n));
	OPENSSL_cleanse(ptr, n);
	free(p);
}

void kd_json_wipe_init(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}
