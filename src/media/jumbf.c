#include "media/jumbf.h"

#include <string.h>

static const uint8_t C2PA_TAIL[12] = {0x00, 0x11, 0x00, 0x10, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

void jumbf_type(const char fourcc[4], uint8_t uuid[16]) {
  memcpy(uuid, fourcc, 4);
  memcpy(uuid + 4, C2PA_TAIL, 12);
}

size_t jumbf_begin(Bytes *b, const char type4[4], const char *label) {
  size_t start = b->n;
  bytes_be32(b, 0);
  bytes_put(b, "jumb", 4);
  uint8_t uuid[16];
  jumbf_type(type4, uuid);
  size_t ll = strlen(label) + 1;
  bytes_be32(b, (uint32_t)(8 + 16 + 1 + ll));
  bytes_put(b, "jumd", 4);
  bytes_put(b, uuid, 16);
  bytes_u8(b, 0x03);  // requestable, label present
  bytes_put(b, label, ll);
  return start;
}

void jumbf_end(Bytes *b, size_t start) { be32_put(b->p + start, (uint32_t)(b->n - start)); }

void jumbf_content(Bytes *b, const char fourcc[4], const void *data, size_t n) {
  bytes_be32(b, (uint32_t)(8 + n));
  bytes_put(b, fourcc, 4);
  bytes_put(b, data, n);
}

// One plain box at p[0..n): its size (>= 8, <= n) or 0.
static size_t box_at(const uint8_t *p, size_t n, char type[5]) {
  if (n < 8) return 0;
  size_t s = be32_at(p);
  if (s < 8 || s > n) return 0;
  memcpy(type, p + 4, 4);
  type[4] = 0;
  return s;
}

int jumbf_parse(const uint8_t *p, size_t n, Jumbf *out) {
  char t[5];
  size_t s = box_at(p, n, t);
  if (!s || strcmp(t, "jumb")) return -1;
  size_t d = box_at(p + 8, s - 8, t);
  if (!d || strcmp(t, "jumd") || d < 8 + 16 + 1) return -1;
  const uint8_t *desc = p + 16;
  memset(out, 0, sizeof *out);
  out->box = p;
  out->size = s;
  memcpy(out->type4, desc, 4);
  if (memcmp(desc + 4, C2PA_TAIL, 12)) memcpy(out->type4, "????", 4);
  uint8_t toggles = desc[16];
  if (toggles & 0x02) {
    const uint8_t *l = desc + 17, *end = p + 8 + d;
    size_t k = 0;
    while (l + k < end && l[k]) k++;
    if (l + k >= end || k >= sizeof out->label) return -1;
    memcpy(out->label, l, k);
  }
  out->body = p + 8 + d;
  out->body_n = s - 8 - d;
  return 0;
}

int jumbf_child_at(const Jumbf *s, int i, Jumbf *out) {
  size_t pos = 0;
  char t[5];
  for (int k = 0; pos < s->body_n;) {
    size_t bs = box_at(s->body + pos, s->body_n - pos, t);
    if (!bs) return -1;
    if (!strcmp(t, "jumb")) {
      if (k == i) return jumbf_parse(s->body + pos, bs, out);
      k++;
    }
    pos += bs;
  }
  return -1;
}

int jumbf_child(const Jumbf *s, const char *label, Jumbf *out) {
  for (int i = 0; jumbf_child_at(s, i, out) == 0; i++)
    if (!strcmp(out->label, label)) return 0;
  return -1;
}

int jumbf_data(const Jumbf *s, const char fourcc[4], const uint8_t **data, size_t *n) {
  size_t pos = 0;
  char t[5];
  while (pos < s->body_n) {
    size_t bs = box_at(s->body + pos, s->body_n - pos, t);
    if (!bs) return -1;
    if (!memcmp(t, fourcc, 4)) {
      *data = s->body + pos + 8;
      *n = bs - 8;
      return 0;
    }
    pos += bs;
  }
  return -1;
}
