// JUMBF (ISO/IEC 19566-5) superboxes as C2PA uses them: a 'jumb' box holding
// a 'jumd' description (type UUID, toggles, label) and then content boxes
// ('cbor', 'json') or further superboxes.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "media/bytes.h"

// The C2PA type UUIDs: the four ASCII letters then 0011-0010-8000-00AA00389B71.
void jumbf_type(const char fourcc[4], uint8_t uuid[16]);

// Starts a superbox (header and description with the label); returns where
// it starts, for jumbf_end to patch its size.
size_t jumbf_begin(Bytes *b, const char type4[4], const char *label);
void jumbf_end(Bytes *b, size_t start);
void jumbf_content(Bytes *b, const char fourcc[4], const void *data, size_t n);

typedef struct {
  const uint8_t *box;   // the whole superbox
  size_t size;
  char type4[5];        // the first four bytes of its type UUID ("c2pa", "cbor"...)
  char label[256];
  const uint8_t *body;  // the boxes after the description
  size_t body_n;
} Jumbf;

// Parses the superbox at p[0..n): 0, or -1 when it is not one.
int jumbf_parse(const uint8_t *p, size_t n, Jumbf *out);
// The child superbox with this label: 0 or -1.
int jumbf_child(const Jumbf *s, const char *label, Jumbf *out);
// The i-th child superbox: 0 or -1 (past the end or malformed).
int jumbf_child_at(const Jumbf *s, int i, Jumbf *out);
// The first content box of type fourcc directly inside s: 0 or -1.
int jumbf_data(const Jumbf *s, const char fourcc[4], const uint8_t **data, size_t *n);
