/* Small text helpers shared by the parsers (config, proposals) and the
 * daemon's key files: trimming and hex decoding, written once. */
#ifndef KT_TEXT_H
#define KT_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Skip leading and cut trailing spaces and tabs (in place); returns the
 * first non-blank character of s. */
char *kt_text_trim(char *s);

/* Decode the n hex digits at s (n even and > 0) into out (at most cap
 * bytes). out may be s itself: each byte is written after the two digits
 * it comes from were read. Returns the byte count, or -1 for an odd or zero
 * count, a non-hex digit, or too little room. */
int kt_text_unhex(const char *s, size_t n, uint8_t *out, size_t cap);

#endif
