// Strict parsing of command-line values: the whole string must be the value.
#pragma once
#include <stddef.h>
// A decimal integer in [lo, hi] (no sign prefix '+', no spaces). 0 or -1.
int parse_long(const char *s, long lo, long hi, long *out);
// n positive integers separated by 'x': "32x48", "2x4x4". 0 or -1.
int parse_dims(const char *s, int n, int *out);
// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF):
// the byte offset of the first invalid sequence in s[0..n), or -1 when valid.
long utf8_invalid_at(const char *s, size_t n);
// The length of the valid UTF-8 sequence at s[0..n), or 0 when s starts an
// invalid one (a writer that must emit valid text replaces that byte).
int utf8_seq_len(const unsigned char *s, size_t n);
// Text that must be UTF-8 without NUL bytes (a prompt, a prompt list): 0, or
// -1 with the 1-based line of the first problem in *line and "a NUL byte at
// column C" or "invalid UTF-8 (byte 0xNN) at column C" in why.
int text_check(const char *s, size_t n, int *line, char *why, int whylen);
