// The caption sidecar of `data ingest --captions` (datasets/ingest.md): JSONL,
// one object {"path": ..., "caption": ...} per line (other keys ignored, blank
// lines skipped, a UTF-8 byte order mark allowed). Each line is parsed by
// libjansson (strict RFC 8259, valid UTF-8, no NUL, no duplicate keys); a bad
// line is one error "FILE:LINE: ... at column C" with the parser's position.
#pragma once

#include "core/error.h"

typedef struct {
  char *path;     // as given, "./" stripped
  char *caption;  // valid UTF-8, control characters as spaces; "" means none
  int line;
  int used;       // set by the caller (ingest) when a video matched it
} Caption;

typedef struct {
  Caption *v;
  int n, cap;
} Captions;

// Reads FILE into cs (emptied first): 0, or -1 with the message in err and cs empty.
int captions_load(const char *file, Captions *cs, TsrErr *err);
void captions_free(Captions *cs);
// The entry for file `name` of the video directory: the same relative name,
// else the same base name; NULL if none.
Caption *captions_find(Captions *cs, const char *name);
