// A small JSON reader that builds a tree (objects and arrays nest): for
// headers and configs of files tessera reads but does not write (the JSON
// header of a safetensors file, a Hugging Face config.json). Strict RFC 8259:
// one value, strings of valid UTF-8 without NUL, no duplicate keys, nesting
// at most JT_MAX_DEPTH deep.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define JT_MAX_DEPTH 32

typedef enum { JT_NULL, JT_FALSE, JT_TRUE, JT_NUMBER, JT_STRING, JT_ARRAY, JT_OBJECT } JtKind;

typedef struct JtValue {
  JtKind kind;
  char *text;             // STRING: the decoded UTF-8; NUMBER: the literal as written
  char *key;              // the member's key when the value sits in an object, else NULL
  struct JtValue *items;  // ARRAY: the elements; OBJECT: the members (each with its key)
  int n;
} JtValue;

// Parses text[0..len) as one JSON value. 0, or -1 with "<what> at byte <B>"
// in err (and *root left empty).
int jt_parse(const char *text, size_t len, JtValue *root, char *err, size_t errlen);
void jt_free(JtValue *v);
// The member `key` of an object (NULL when v is not an object or has none).
const JtValue *jt_member(const JtValue *v, const char *key);
// A NUMBER written as an integer (no fraction, no exponent) in int64 range: 0, else -1.
int jt_int64(const JtValue *v, int64_t *out);
// Any NUMBER as a double: 0, else -1.
int jt_double(const JtValue *v, double *out);
// "object", "array", "string", "number", "true", "false" or "null".
const char *jt_kind_name(JtKind k);
