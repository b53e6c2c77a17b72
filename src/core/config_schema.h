// Internal to config.c and config_schema.c: the table of every config key
// (dotted path, type, place in Config, allowed range) and the per-value
// parsing, checking and printing that the loader applies to it.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/config.h"

enum FieldType {
  FT_INT,    // int, range [lo, hi]
  FT_U64,    // uint64_t (seeds), any non-negative integer
  FT_FLOAT,  // float, range [lo, hi] (FF_*_OPEN makes an end exclusive)
  FT_STR,    // char[size]; lo = minimum length
  FT_ENUM,   // char[size], one of `choices` ("euler|heun")
  FT_INT3,   // int[3], written as a YAML sequence; range applies to each element
};

enum {
  FF_REQUIRED = 1,  // must be given (model keys); others have defaults
  FF_LO_OPEN = 2,
  FF_HI_OPEN = 4,
};

typedef struct {
  const char *key;  // "train.lr", "model.video.frames"
  enum FieldType type;
  size_t off, size;  // byte offset into Config; array size for strings
  double lo, hi;
  unsigned flags;
  const char *choices;
} Field;

extern const Field cfg_fields[];
extern const int cfg_nfields;

// The field named exactly `key`, or NULL.
const Field *cfg_field(const char *key);
// True when `key` is a section or sub-mapping ("train", "model.video").
bool cfg_is_group(const char *key);
// "did you mean 'lr'? valid keys: steps, batch, ..." for an unknown `name`
// inside `group` ("" for the top level).
void cfg_unknown_hint(const char *group, const char *name, char *buf, size_t n);
// "an integer >= 1", "a number in [0, 1)", "one of euler|heun", ...
void cfg_expected(const Field *f, char *buf, size_t n);
// Parse one scalar (element `elem` of an FT_INT3) into c and range-check it.
// `quoted`: the YAML scalar was quoted, so it is a string, never a number.
// On failure writes "expected ..., got ..." to err and returns false.
bool cfg_parse(const Field *f, Config *c, int elem, const char *text, bool quoted, char *err, size_t n);
// Range check of the value already in c (used for hand-built model configs).
bool cfg_check(const Field *f, const Config *c, char *err, size_t n);
// The value as YAML ("3e-04", "[2, 4, 4]", "\"runs/tiny\"").
void cfg_print_value(const Field *f, const Config *c, FILE *out);
