// The project's JSON is libjansson (docs/choices.md); these are the few
// things every reader and writer of tessera needs on top of it.
#pragma once
#include <jansson.h>
#include <stddef.h>

// A JSON string for any bytes: valid UTF-8 as it is, each byte that does not
// start a valid sequence (a file name is any bytes) as U+FFFD, so what tessera
// writes is always valid JSON. Never NULL.
json_t *jx_string(const char *s);
// A number rounded to `digits` significant digits (a float metric written as
// 0.333333, not 0.333333343); NaN and infinities become null.
json_t *jx_round(double v, int digits);
// The same with `decimals` digits after the point (as printf's %.Nf).
json_t *jx_fixed(double v, int decimals);
// Parses text[0..len) as one JSON value (a line of a JSON Lines file, a whole
// document). NULL with "line L, column C: <jansson's message>" in why.
json_t *jx_parse(const char *text, size_t len, char *why, size_t whylen);
// One line of compact JSON (no newline), malloc'ed: free() it.
char *jx_dump(const json_t *v);
// Writes v to path under a temporary name (path.tmp), fsynced, renamed; with a
// newline at the end. 0, or -1 with "PATH: cannot write: reason" in why.
int jx_write_file(const json_t *v, const char *path, char *why, size_t whylen);

// Typed reads of an object's member; each returns 0, or -1 when the member
// is missing or of another type (the caller names the key in its message).
int jx_int(const json_t *o, const char *key, long long *out);   // an integer (or a real with no fraction)
int jx_real(const json_t *o, const char *key, double *out);     // any number
const char *jx_str(const json_t *o, const char *key);           // a string, or NULL
// "object", "array", "string", "integer", "real", "true", "false" or "null".
const char *jx_kind(const json_t *v);
