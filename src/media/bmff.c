#include "media/bmff.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/bytes.h"

int bmff_boxes(const uint8_t *p, size_t n, uint64_t base, BmffBox *out, int max, int *count, const char *what,
               TsrErr *err) {
  size_t pos = 0;
  int k = 0;
  while (pos < n) {
    if (n - pos < 8) return tsr_err(err, "%s: truncated or malformed MP4: %zu stray bytes at offset %llu", what, n - pos,
                                    (unsigned long long)(base + pos));
    BmffBox b = {.off = base + pos, .hdr = 8};
    uint64_t size = be32_at(p + pos);
    memcpy(b.type, p + pos + 4, 4);
    if (size == 1) {
      if (n - pos < 16) return tsr_err(err, "%s: truncated MP4: box '%s' header cut off", what, b.type);
      size = be64_at(p + pos + 8);
      b.hdr = 16;
    } else if (size == 0) {
      size = n - pos;  // to the end of the file
    }
    if (!strcmp(b.type, "uuid")) {
      if (n - pos < b.hdr + 16u) return tsr_err(err, "%s: truncated MP4: uuid box header cut off", what);
      memcpy(b.uuid, p + pos + b.hdr, 16);
      b.hdr += 16;
    }
    if (size < b.hdr) return tsr_err(err, "%s: malformed MP4: box '%s' at offset %llu has size %llu", what, b.type,
                                     (unsigned long long)b.off, (unsigned long long)size);
    if (size > n - pos)
      return tsr_err(err, "%s: truncated MP4: box '%s' at offset %llu needs %llu bytes, %zu left", what, b.type,
                     (unsigned long long)b.off, (unsigned long long)size, n - pos);
    for (int i = 0; i < 4; i++)
      if (b.type[i] < 32 || b.type[i] > 126)
        return tsr_err(err, "%s: not an MP4 (no box type at offset %llu)", what, (unsigned long long)b.off);
    b.size = size;
    if (k >= max) return tsr_err(err, "%s: malformed MP4: more than %d boxes at one level", what, max);
    out[k++] = b;
    pos += (size_t)size;
  }
  *count = k;
  return 0;
}

// Walks containers down to stbl; patches stco/co64 in place.
static int shift_in(uint8_t *p, size_t n, uint64_t base, int64_t delta, int depth, const char *what, TsrErr *err) {
  BmffBox box[256];
  int nb;
  if (depth > 8 || bmff_boxes(p, n, base, box, 256, &nb, what, err) != 0) return depth > 8 ? tsr_err(err, "%s: malformed MP4: boxes nested too deep", what) : -1;
  for (int i = 0; i < nb; i++) {
    uint8_t *b = p + (box[i].off - base) + box[i].hdr;
    size_t bn = (size_t)(box[i].size - box[i].hdr);
    const char *t = box[i].type;
    if (!strcmp(t, "trak") || !strcmp(t, "mdia") || !strcmp(t, "minf") || !strcmp(t, "stbl")) {
      if (shift_in(b, bn, box[i].off + box[i].hdr, delta, depth + 1, what, err) != 0) return -1;
    } else if (!strcmp(t, "stco") || !strcmp(t, "co64")) {
      size_t w = t[1] == 't' ? 4 : 8;
      if (bn < 8) return tsr_err(err, "%s: malformed MP4: short %s box", what, t);
      uint32_t cnt = be32_at(b + 4);
      if ((bn - 8) / w < cnt) return tsr_err(err, "%s: malformed MP4: %s holds %u offsets in %zu bytes", what, t, cnt, bn);
      for (uint32_t j = 0; j < cnt; j++) {
        uint8_t *q = b + 8 + j * w;
        if (w == 4) {
          int64_t v = (int64_t)be32_at(q) + delta;
          if (v < 0 || v > 0xffffffffLL) return tsr_err(err, "%s: chunk offset out of 32-bit range after insertion", what);
          be32_put(q, (uint32_t)v);
        } else {
          be64_put(q, be64_at(q) + (uint64_t)delta);
        }
      }
    }
  }
  return 0;
}

int bmff_shift_chunk_offsets(uint8_t *moov, size_t n, int64_t delta, const char *what, TsrErr *err) {
  if (n < 8) return tsr_err(err, "%s: malformed MP4: short moov", what);
  return shift_in(moov + 8, n - 8, 8, delta, 0, what, err);
}

int file_read_all(const char *path, uint8_t **data, size_t *n, TsrErr *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return tsr_err(err, "%s: cannot read: %s", path, strerror(errno));
  Bytes b = {0};
  uint8_t buf[1 << 16];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
    bytes_put(&b, buf, k);
    if (b.n > (1u << 30)) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad || b.n > (1u << 30)) {
    bytes_free(&b);
    return tsr_err(err, "%s: cannot read: %s", path, bad ? "read error" : "larger than 1 GiB");
  }
  *data = b.p;
  *n = b.n;
  return 0;
}

int file_write_all(const char *path, const void *data, size_t n, TsrErr *err) {
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return tsr_err(err, "%s: cannot write: %s", tmp, strerror(errno));
  int e = 0;
  if (fwrite(data, 1, n, f) != n || fflush(f) != 0) e = errno ? errno : EIO;
  if (!e && fsync(fileno(f)) != 0 && errno != EINVAL) e = errno;
  if (fclose(f) != 0 && !e) e = errno;
  if (!e && rename(tmp, path) != 0) e = errno;
  if (!e) return 0;
  unlink(tmp);
  return tsr_err(err, "%s: cannot write: %s", path, strerror(e));
}
