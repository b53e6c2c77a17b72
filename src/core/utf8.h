// Code points to and from UTF-8 (validation lives in core/parse.h).
#pragma once
#include <stddef.h>
#include <stdint.h>

// Writes cp (at most U+10FFFF, no surrogate) as 1-4 bytes at out; returns the count.
int utf8_encode(uint32_t cp, char out[4]);
// The code point of the valid sequence of len bytes at s (len from utf8_seq_len).
uint32_t utf8_decode(const unsigned char *s, int len);
