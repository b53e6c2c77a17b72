// CBOR (RFC 8949), the subset C2PA uses: integers, byte and text strings,
// arrays, maps, tags, null, booleans and floats (read only). Writers emit the
// shortest head (deterministic encoding); the reader walks items without
// allocating and converts a whole item to a jansson tree for display.
#pragma once
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "media/bytes.h"

enum { CBOR_UINT, CBOR_NINT, CBOR_BSTR, CBOR_TSTR, CBOR_ARRAY, CBOR_MAP, CBOR_TAG, CBOR_SIMPLE };

void cbor_uint(Bytes *b, uint64_t v);
void cbor_int(Bytes *b, int64_t v);
void cbor_bstr(Bytes *b, const void *p, size_t n);
void cbor_tstr(Bytes *b, const char *s);
void cbor_array(Bytes *b, size_t n);
void cbor_map(Bytes *b, size_t n);
void cbor_tag(Bytes *b, uint64_t tag);
void cbor_null(Bytes *b);

// One item's head. For strings, p/len are the bytes; for arrays and maps len
// is the count; for tags len is the tag number; for simple values len is the
// value (20 false, 21 true, 22 null) or, for floats, `f` holds it.
typedef struct {
  int major;
  uint64_t len;
  const uint8_t *p;
  double f;
} CborItem;

typedef struct {
  const uint8_t *p;
  size_t n, pos;
} CborReader;

// Reads the next head (and a string's bytes): 0, or -1 when the data ends
// early or uses what the subset lacks (indefinite lengths).
int cbor_next(CborReader *r, CborItem *it);
// Skips one whole item (nested up to 32 deep): 0 or -1.
int cbor_skip(CborReader *r);
// In the map item that starts at r's position, finds text key `key`: leaves r
// at its value and returns 0, or -1 (r unchanged) when absent or malformed.
int cbor_map_find(CborReader *r, const char *key);
// The item at r's position as JSON (byte strings as lower-case hex, tags
// dropped): NULL when malformed. Advances r past it.
json_t *cbor_to_json(CborReader *r);
