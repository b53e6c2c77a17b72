// corpus.h5 writer (layout in corpus.h, user documentation in datasets/README.md).
//
// Patches go to disk as clips arrive: one extendible uint8 dataset [n, N, P] per
// bucket, one clip per chunk, written in batches of clips to keep the HDF5
// per-call overhead small. Captions, sources, fps and meta rows stay in memory
// until close, where the tokenizer is built from every caption and recaption
// and the remaining datasets are written. Everything goes to PATH.tmp, which
// is renamed to PATH only after a successful close; any HDF5 failure on the
// way (a full disk) is one line returned in the TsrErr, the file closed and
// the .tmp removed.
//
// Version 2 (corpus.h): strings as bytes + offsets, every dataset chunked with
// the fletcher32 checksum, the HDF5 1.10 file format (checksummed metadata).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/h5io.h"
#include "core/half.h"
#include "core/log.h"
#include "data/corpus.h"
#include "data/corpus_latent.h"
#include "data/tokenizer.h"

enum { DEFAULT_MAX_VOCAB = 4096, DEFAULT_DEFLATE = 1, BATCH_BYTES = 4 << 20, CHUNK_BYTES = 64 << 10 };

typedef struct {
  char *name;
  int width;
  float *rows;
  int64_t nrows, cap;
} MetaCol;

typedef struct {
  int T, H, W, N, P;
  char name[40];
  int64_t count;  // clips added
  hid_t group, patches;
  int64_t written;  // clips in `patches`
  uint8_t *batch;   // patchified clips not yet written
  int nbatch, batch_cap;
  char **caption, **recaption, **source;
  float *fps;
  int64_t cap;
  MetaCol *meta;
  int nmeta;
} WBucket;

struct CorpusWriter {
  char *path, *tmp;
  hid_t file, buckets_group;
  H5Quiet quiet;  // HDF5's error printing is off while the writer is open
  int pt, ph, pw, C, L;
  int max_vocab, deflate;
  int warned_utf8;
  int failed;  // a write failed: the file is closed and the .tmp removed
  WBucket *b;
  int nb, capb;
  char **vocab;  // corpus_writer_set_vocab_words: kept instead of built
  int vocab_n;
  int latent, ct, cs;  // corpus_writer_set_latent: float16 patches
  hid_t f16;           // the float16 type (latent), in the file and in memory
  char sha256[65];
  float *mean, *std;  // [C]
};

// Closes the file and every object still open in it, removes the .tmp.
static void discard(CorpusWriter *w) {
  if (w->file > 0) h5_close_all(w->file);  // may fail again (a full disk); the file goes anyway
  w->file = -1;
  unlink(w->tmp);
  h5_quiet_end(w->quiet);
  w->failed = 1;
}

// An HDF5 call of the writer failed (a full disk, a write error): one line in
// err, the file closed and the temporary removed; returns -1. errno is what
// the file driver left.
static int write_failed(CorpusWriter *w, TsrErr *err) {
  int e = errno;
  discard(w);
  return tsr_err(err, "%s: cannot write %s: %s (%s removed)", w->path, w->tmp,
                 e == ENOSPC ? "no space left on device" : e ? strerror(e) : "HDF5 write failed", w->tmp);
}
// In a function that returns int and has w and err.
#define WCHECK(call)                                            \
  do {                                                          \
    errno = 0;                                                  \
    if ((long long)(call) < 0) return write_failed(w, err);     \
  } while (0)

static char *xstrdup(const char *s) {
  if (!s) s = "";
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  TSR_ASSERT(d, "out of memory");
  memcpy(d, s, n);
  return d;
}

static void *xrealloc(void *p, size_t bytes) {
  void *q = realloc(p, bytes ? bytes : 1);
  TSR_ASSERT(q, "out of memory (%zu bytes)", bytes);
  return q;
}

// A copy of s that is valid UTF-8: invalid bytes become U+FFFD (the file's
// strings are declared UTF-8; readers such as h5py would fail on them).
static char *utf8_clean(const char *s, const char *what, const char *path, int *warned) {
  if (!s) s = "";
  size_t n = strlen(s);
  char *out = malloc(3 * n + 1);
  TSR_ASSERT(out, "out of memory");
  size_t o = 0;
  const unsigned char *u = (const unsigned char *)s;
  int bad = 0;
  for (size_t i = 0; i < n;) {
    unsigned c = u[i];
    int len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    int ok = len > 0 && i + (size_t)len <= n;
    for (int k = 1; ok && k < len; k++) ok = (u[i + k] & 0xC0) == 0x80;
    if (ok && len == 3) {
      unsigned v = ((c & 0x0F) << 12) | ((u[i + 1] & 0x3F) << 6);
      ok = v >= 0x800 && !(v >= 0xD800 && v <= 0xDFFF);
    }
    if (ok && len == 4) {
      unsigned v = ((c & 0x07) << 18) | ((u[i + 1] & 0x3F) << 12);
      ok = v >= 0x10000 && v <= 0x10FFFF;
    }
    if (ok) {
      memcpy(out + o, u + i, (size_t)len);
      o += (size_t)len;
      i += (size_t)len;
    } else {
      memcpy(out + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
      bad = 1;
    }
  }
  out[o] = 0;
  if (bad && !*warned) {
    log_warn("%s: a %s is not valid UTF-8; invalid bytes replaced by U+FFFD", path, what);
    *warned = 1;
  }
  return out;
}

int corpus_writer_check_path(const char *path, TsrErr *err) {
  struct stat st;
  if (!path || !*path) return tsr_err(err, "corpus: expected an output file name, found an empty one");
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return tsr_err(err, "%s: cannot write the corpus: is a directory (expected a file name)", path);
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
    return tsr_err(err, "%s: cannot write the corpus: not a regular file (expected a file name)", path);
  size_t n = strlen(path);
  char *dir = xstrdup(path);
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, n + 1, ".");
  else if (slash == dir) slash[1] = 0;
  else *slash = 0;
  int rc = 0;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    rc = tsr_err(err, "%s: cannot write the corpus: directory '%s' does not exist", path, dir);
  else if (access(dir, W_OK) != 0)
    rc = tsr_err(err, "%s: cannot write the corpus: directory '%s' is not writable", path, dir);
  free(dir);
  return rc;
}

static void writer_free(CorpusWriter *w);

CorpusWriter *corpus_writer_open(const char *path, int pt, int ph, int pw, int channels, int text_length, TsrErr *err) {
  TSR_ASSERT(pt > 0 && ph > 0 && pw > 0 && channels > 0 && text_length > 0, "corpus_writer_open: bad sizes");
  if (corpus_writer_check_path(path, err)) return NULL;
  CorpusWriter *w = calloc(1, sizeof *w);
  TSR_ASSERT(w, "out of memory");
  w->path = xstrdup(path);
  w->tmp = xrealloc(NULL, strlen(path) + 5);
  sprintf(w->tmp, "%s.tmp", path);
  w->pt = pt, w->ph = ph, w->pw = pw, w->C = channels, w->L = text_length;
  w->max_vocab = DEFAULT_MAX_VOCAB;
  w->deflate = DEFAULT_DEFLATE;
  w->quiet = h5_quiet_begin();
  // The HDF5 1.10 file format: its object headers and chunk indexes carry
  // checksums (the 1.8 format's chunk B-trees do not). Readable by HDF5 1.10+.
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0 || H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0)
    tsr_fatal(__FILE__, __LINE__, "HDF5", "cannot set the file format bounds");
  w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (w->file < 0) {
    tsr_err(err, "%s: cannot create (does the directory exist and is it writable?)", w->tmp);
    h5_quiet_end(w->quiet);
    writer_free(w);
    return NULL;
  }
  errno = 0;
  w->buckets_group = H5Gcreate2(w->file, "buckets", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (w->buckets_group < 0) {
    write_failed(w, err);
    writer_free(w);
    return NULL;
  }
  return w;
}

void corpus_writer_set_vocab(CorpusWriter *w, int max_vocab) {
  w->max_vocab = max_vocab < TOK_FIRST_WORD ? TOK_FIRST_WORD : max_vocab;
}

void corpus_writer_set_deflate(CorpusWriter *w, int level) { w->deflate = level < 0 ? 0 : level > 9 ? 9 : level; }

void corpus_writer_set_vocab_words(CorpusWriter *w, char *const *words, int V) {
  TSR_ASSERT(!w->vocab && V >= TOK_FIRST_WORD, "corpus_writer_set_vocab_words: twice, or %d words", V);
  w->vocab = xrealloc(NULL, (size_t)V * sizeof *w->vocab);
  for (int i = 0; i < V; i++) w->vocab[i] = xstrdup(words[i]);
  w->vocab_n = V;
}

void corpus_writer_set_latent(CorpusWriter *w, const char *vae_sha256, int ct, int cs) {
  TSR_ASSERT(w->nb == 0 && strlen(vae_sha256) == 64 && ct > 0 && cs > 0, "corpus_writer_set_latent: after an add, or bad");
  w->latent = 1, w->ct = ct, w->cs = cs;
  w->f16 = corpus_f16_type();
  memcpy(w->sha256, vae_sha256, 65);
}

void corpus_writer_set_latent_stats(CorpusWriter *w, const float *mean, const float *std) {
  TSR_ASSERT(w->latent, "corpus_writer_set_latent_stats: not a latent corpus");
  if (!w->mean) w->mean = xrealloc(NULL, sizeof(float) * (size_t)w->C), w->std = xrealloc(NULL, sizeof(float) * (size_t)w->C);
  memcpy(w->mean, mean, sizeof(float) * (size_t)w->C);
  memcpy(w->std, std, sizeof(float) * (size_t)w->C);
}

// Bytes of one stored patch value.
static size_t value_bytes(const CorpusWriter *w) { return w->latent ? 2 : 1; }

static WBucket *find_bucket(CorpusWriter *w, int T, int H, int W) {
  for (int i = 0; i < w->nb; i++)
    if (w->b[i].T == T && w->b[i].H == H && w->b[i].W == W) return &w->b[i];
  return NULL;
}

// The new bucket's group and extendible patches dataset.
static int create_bucket(CorpusWriter *w, WBucket *b, TsrErr *err) {
  b->group = H5Gcreate2(w->buckets_group, b->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  WCHECK(b->group);
  hsize_t dims[3] = {0, (hsize_t)b->N, (hsize_t)b->P}, maxd[3] = {H5S_UNLIMITED, (hsize_t)b->N, (hsize_t)b->P};
  hsize_t chunk[3] = {1, (hsize_t)b->N, (hsize_t)b->P};
  hid_t space = H5Screate_simple(3, dims, maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  WCHECK(space);
  WCHECK(dcpl);
  WCHECK(H5Pset_chunk(dcpl, 3, chunk));
  WCHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
  if (w->deflate > 0) WCHECK(H5Pset_deflate(dcpl, (unsigned)w->deflate));
  WCHECK(H5Pset_fletcher32(dcpl));  // after deflate: the checksum covers the stored bytes, one per clip
  b->patches = H5Dcreate2(b->group, "patches", w->latent ? w->f16 : H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  WCHECK(b->patches);
  WCHECK(H5Pclose(dcpl));
  WCHECK(H5Sclose(space));
  return 0;
}

static WBucket *get_bucket(CorpusWriter *w, int T, int H, int W, TsrErr *err) {
  WBucket *b = find_bucket(w, T, H, W);
  if (b) return b;
  if (T <= 0 || H <= 0 || W <= 0 || (T % w->pt && T != 1) || H % w->ph || W % w->pw) {
    tsr_err(err, "%s: clip size %dx%dx%d (TxHxW): expected positive sizes divisible by the patch %dx%dx%d (or T = 1)", w->path, T,
            H, W, w->pt, w->ph, w->pw);
    return NULL;
  }
  if (w->nb == w->capb) {
    w->capb = w->capb ? 2 * w->capb : 4;
    w->b = xrealloc(w->b, (size_t)w->capb * sizeof *w->b);
  }
  b = &w->b[w->nb++];
  memset(b, 0, sizeof *b);
  b->T = T, b->H = H, b->W = W;
  b->N = corpus_grid_t(T, w->pt) * (H / w->ph) * (W / w->pw);
  b->P = w->pt * w->ph * w->pw * w->C;
  snprintf(b->name, sizeof b->name, "%dx%dx%d", T, H, W);
  if (create_bucket(w, b, err)) return NULL;
  int64_t clip_bytes = (int64_t)b->N * b->P * (int64_t)value_bytes(w);
  b->batch_cap = (int)(BATCH_BYTES / clip_bytes);
  if (b->batch_cap < 1) b->batch_cap = 1;
  if (b->batch_cap > 256) b->batch_cap = 256;
  b->batch = xrealloc(NULL, (size_t)(b->batch_cap * clip_bytes));
  return b;
}

static int flush_batch(CorpusWriter *w, WBucket *b, TsrErr *err) {
  if (!b->nbatch) return 0;
  hsize_t dims[3] = {(hsize_t)(b->written + b->nbatch), (hsize_t)b->N, (hsize_t)b->P};
  WCHECK(H5Dset_extent(b->patches, dims));
  hid_t fspace = H5Dget_space(b->patches);
  WCHECK(fspace);
  hsize_t start[3] = {(hsize_t)b->written, 0, 0}, count[3] = {(hsize_t)b->nbatch, (hsize_t)b->N, (hsize_t)b->P};
  WCHECK(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL));
  hid_t mspace = H5Screate_simple(3, count, NULL);
  WCHECK(mspace);
  WCHECK(H5Dwrite(b->patches, w->latent ? w->f16 : H5T_NATIVE_UINT8, mspace, fspace, H5P_DEFAULT, b->batch));
  WCHECK(H5Sclose(mspace));
  WCHECK(H5Sclose(fspace));
  b->written += b->nbatch;
  b->nbatch = 0;
  return 0;
}

// pixels [T,H,W,C] -> patches [N,P]: token (t,h,w), vector (pt,ph,pw,C), row-major;
// values of `es` bytes (uint8 pixels, float16 latents).
static void patchify(uint8_t *out, const uint8_t *px, int T, int H, int W, int C, int pt, int ph, int pw, size_t es) {
  const int nh = H / ph, nw = W / pw;
  const size_t run = (size_t)pw * C * es;  // one patch row is contiguous in the frame (bytes)
  for (int t = 0; t < T; t++)
    for (int h = 0; h < H; h++) {
      const uint8_t *row = px + ((size_t)t * H + h) * W * C * es;
      const int tt = t / pt, a = t % pt, hh = h / ph, bb = h % ph;
      for (int ww = 0; ww < nw; ww++) {
        size_t n = ((size_t)tt * nh + hh) * nw + ww;
        size_t p = ((size_t)a * ph + bb) * run;
        memcpy(out + n * (size_t)pt * ph * run + p, row + (size_t)ww * run, run);
      }
    }
}

static int add_clip(CorpusWriter *w, int T, int H, int W, const CorpusClip *clip, const float *latent, TsrErr *err) {
  TSR_ASSERT(!w->failed, "corpus_writer_add after a failed write");
  TSR_ASSERT(!w->latent == !latent, "corpus_writer_add%s on a %s corpus", latent ? "_latent" : "", w->latent ? "latent" : "pixel");
  WBucket *b = get_bucket(w, T, H, W, err);
  if (!b) return -1;
  if (b->count == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 256;
    b->caption = xrealloc(b->caption, (size_t)b->cap * sizeof(char *));
    b->recaption = xrealloc(b->recaption, (size_t)b->cap * sizeof(char *));
    b->source = xrealloc(b->source, (size_t)b->cap * sizeof(char *));
    b->fps = xrealloc(b->fps, (size_t)b->cap * sizeof(float));
  }
  b->caption[b->count] = utf8_clean(clip->caption, "caption", w->path, &w->warned_utf8);
  b->recaption[b->count] = utf8_clean(clip->recaption, "recaption", w->path, &w->warned_utf8);
  b->source[b->count] = utf8_clean(clip->source, "source name", w->path, &w->warned_utf8);
  b->fps[b->count] = clip->fps;
  b->count++;
  uint8_t *dst = b->batch + (size_t)b->nbatch * b->N * b->P * value_bytes(w);
  if (w->latent) {  // float -> float16, then the same byte patchify
    const size_t m = (size_t)T * H * W * w->C;
    uint16_t *h = xrealloc(NULL, m * sizeof *h);
    for (size_t i = 0; i < m; i++) h[i] = f32_to_f16(latent[i]);
    patchify(dst, (const uint8_t *)h, T, H, W, w->C, w->pt, w->ph, w->pw, 2);
    free(h);
  } else if (T == 1 && w->pt > 1) {  // an image: one still temporal patch, the frame pt times
    const size_t frame = (size_t)H * W * w->C;
    uint8_t *still = xrealloc(NULL, frame * (size_t)w->pt);
    for (int f = 0; f < w->pt; f++) memcpy(still + f * frame, clip->pixels, frame);
    patchify(dst, still, w->pt, H, W, w->C, w->pt, w->ph, w->pw, 1);
    free(still);
  } else {
    patchify(dst, clip->pixels, T, H, W, w->C, w->pt, w->ph, w->pw, 1);
  }
  if (++b->nbatch == b->batch_cap) return flush_batch(w, b, err);
  return 0;
}

int corpus_writer_add(CorpusWriter *w, int T, int H, int W, const CorpusClip *clip, TsrErr *err) {
  return add_clip(w, T, H, W, clip, NULL, err);
}

int corpus_writer_add_latent(CorpusWriter *w, int T, int H, int W, const CorpusClip *clip, const float *latent,
                             TsrErr *err) {
  return add_clip(w, T, H, W, clip, latent, err);
}

void corpus_writer_meta(CorpusWriter *w, int T, int H, int W, const char *name, const float *values, int width) {
  WBucket *b = find_bucket(w, T, H, W);
  TSR_ASSERT(b, "corpus_writer_meta(%s): no clip in bucket %dx%dx%d yet", name, T, H, W);
  TSR_ASSERT(width > 0 && name && *name && strcmp(name, "source") && strcmp(name, "fps"),
             "corpus_writer_meta: bad name or width");
  MetaCol *m = NULL;
  for (int i = 0; i < b->nmeta; i++)
    if (!strcmp(b->meta[i].name, name)) m = &b->meta[i];
  if (!m) {
    b->meta = xrealloc(b->meta, (size_t)(b->nmeta + 1) * sizeof *b->meta);
    m = &b->meta[b->nmeta++];
    memset(m, 0, sizeof *m);
    m->name = xstrdup(name);
    m->width = width;
  }
  TSR_ASSERT(m->width == width, "meta/%s: width %d, was %d", name, width, m->width);
  if (m->nrows == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 256;
    m->rows = xrealloc(m->rows, (size_t)(m->cap * width) * sizeof(float));
  }
  memcpy(m->rows + m->nrows * width, values, (size_t)width * sizeof(float));
  m->nrows++;
}

// ---------------------------------------------------------------- close

// A chunked dataset with the fletcher32 checksum, extendible in dimension 0
// (a chunked dataset of 0 rows needs it), chunks of about CHUNK_BYTES.
static int write_ds(CorpusWriter *w, hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndim, const hsize_t *dims,
                    const void *data, TsrErr *err) {
  hsize_t maxd[3], chunk[3], row = H5Tget_size(ftype);
  TSR_ASSERT(ndim >= 1 && ndim <= 3, "write_ds: rank %d", ndim);
  for (int i = 1; i < ndim; i++) row *= dims[i];
  for (int i = 0; i < ndim; i++) maxd[i] = i ? dims[i] : H5S_UNLIMITED, chunk[i] = dims[i] ? dims[i] : 1;
  chunk[0] = CHUNK_BYTES / (row ? row : 1);
  if (chunk[0] > dims[0]) chunk[0] = dims[0];
  if (chunk[0] < 1) chunk[0] = 1;
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  WCHECK(lcpl);
  WCHECK(dcpl);
  WCHECK(H5Pset_create_intermediate_group(lcpl, 1));
  WCHECK(H5Pset_chunk(dcpl, ndim, chunk));
  WCHECK(H5Pset_fletcher32(dcpl));
  hid_t space = H5Screate_simple(ndim, dims, maxd);
  WCHECK(space);
  hid_t ds = H5Dcreate2(loc, name, ftype, space, lcpl, dcpl, H5P_DEFAULT);
  WCHECK(ds);
  hsize_t n = 1;
  for (int i = 0; i < ndim; i++) n *= dims[i];
  if (n > 0) WCHECK(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  WCHECK(H5Dclose(ds));
  WCHECK(H5Sclose(space));
  WCHECK(H5Pclose(dcpl));
  WCHECK(H5Pclose(lcpl));
  return 0;
}

// A string column (corpus.h): NAME/bytes uint8 [B], NAME/offsets uint64 [n+1],
// the layout checkpoints use for their vocabulary too (core/h5io.h).
static int write_strings(CorpusWriter *w, hid_t loc, const char *name, char **s, int64_t n, TsrErr *err) {
  WCHECK(h5_strings_write(loc, name, s, n));
  return 0;
}

static int attr(CorpusWriter *w, hid_t loc, const char *name, hid_t ftype, hid_t mtype, int n, const void *v, TsrErr *err) {
  hsize_t d = (hsize_t)n;
  hid_t space = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL);
  WCHECK(space);
  hid_t a = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
  WCHECK(a);
  WCHECK(H5Awrite(a, mtype, v));
  WCHECK(H5Aclose(a));
  WCHECK(H5Sclose(space));
  return 0;
}
static int attr_i64(CorpusWriter *w, hid_t loc, const char *name, int64_t v, TsrErr *err) {
  return attr(w, loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, &v, err);
}

// A fixed-length ASCII string attribute: stored in the object header, read without the heap.
static int attr_str(CorpusWriter *w, hid_t loc, const char *name, const char *v, TsrErr *err) {
  hid_t t = H5Tcopy(H5T_C_S1);
  WCHECK(t);
  WCHECK(H5Tset_size(t, strlen(v)));
  WCHECK(H5Tset_strpad(t, H5T_STR_NULLPAD));
  if (attr(w, loc, name, t, t, 0, v, err)) return -1;
  WCHECK(H5Tclose(t));
  return 0;
}

// Encode n texts into tokens [n, L] and lengths [n]; returns how many were truncated.
static int64_t encode_all(const Tokenizer *tok, char **texts, int64_t n, int L, int32_t *tokens, int32_t *ntokens) {
  int64_t truncated = 0;
#pragma omp parallel for schedule(dynamic, 64) reduction(+ : truncated)
  for (int64_t i = 0; i < n; i++) {
    int tr = 0;
    ntokens[i] = tokenizer_encode(tok, texts[i], tokens + i * L, L, &tr);
    truncated += tr;
  }
  return truncated;
}

// Token ids of the n texts written as NAME [n, L] and NNAME [n]; adds the truncated count to *trunc.
static int write_tokens(CorpusWriter *w, WBucket *b, const Tokenizer *tok, char **texts, const char *name,
                        const char *nname, int64_t *trunc, TsrErr *err) {
  const int L = w->L;
  const int64_t n = b->count;
  int32_t *tokens = xrealloc(NULL, (size_t)(n * L) * sizeof(int32_t));
  int32_t *ntokens = xrealloc(NULL, (size_t)n * sizeof(int32_t));
  hsize_t d2[2] = {(hsize_t)n, (hsize_t)L}, d1 = (hsize_t)n;
  *trunc += encode_all(tok, texts, n, L, tokens, ntokens);
  int rc = write_ds(w, b->group, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 2, d2, tokens, err) ||
           write_ds(w, b->group, nname, H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &d1, ntokens, err);
  free(tokens);
  free(ntokens);
  return rc ? -1 : 0;
}

static int close_bucket(CorpusWriter *w, WBucket *b, const Tokenizer *tok, int64_t *trunc_short, int64_t *trunc_long,
                        TsrErr *err) {
  const int64_t n = b->count;
  hsize_t d1 = (hsize_t)n;
  if (flush_batch(w, b, err) || write_tokens(w, b, tok, b->recaption, "tokens", "ntokens", trunc_long, err) ||
      write_tokens(w, b, tok, b->caption, "caption_tokens", "caption_ntokens", trunc_short, err) ||
      write_strings(w, b->group, "caption", b->caption, n, err) ||
      write_strings(w, b->group, "recaption", b->recaption, n, err) ||
      write_strings(w, b->group, "meta/source", b->source, n, err) ||
      write_ds(w, b->group, "meta/fps", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &d1, b->fps, err))
    return -1;
  for (int i = 0; i < b->nmeta; i++) {
    MetaCol *m = &b->meta[i];
    TSR_ASSERT(m->nrows == n, "%s: bucket %s: meta/%s has %lld rows for %lld clips", w->path, b->name, m->name,
               (long long)m->nrows, (long long)n);
    char name[512];
    snprintf(name, sizeof name, "meta/%s", m->name);
    hsize_t dm[2] = {(hsize_t)n, (hsize_t)m->width};
    if (write_ds(w, b->group, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dm, m->rows, err)) return -1;
  }
  if (attr_i64(w, b->group, "frames", b->T, err) || attr_i64(w, b->group, "height", b->H, err) ||
      attr_i64(w, b->group, "width", b->W, err) || attr_i64(w, b->group, "count", n, err))
    return -1;
  WCHECK(H5Dclose(b->patches));
  b->patches = 0;
  WCHECK(H5Gclose(b->group));
  b->group = 0;
  return 0;
}

static void free_bucket(WBucket *b) {
  for (int64_t i = 0; i < b->count; i++) {
    free(b->caption[i]);
    free(b->recaption[i]);
    free(b->source[i]);
  }
  free(b->caption);
  free(b->recaption);
  free(b->source);
  free(b->fps);
  free(b->batch);
  for (int i = 0; i < b->nmeta; i++) {
    free(b->meta[i].name);
    free(b->meta[i].rows);
  }
  free(b->meta);
}

static void writer_free(CorpusWriter *w) {
  for (int i = 0; i < w->nb; i++) free_bucket(&w->b[i]);
  free(w->b);
  for (int i = 0; i < w->vocab_n; i++) free(w->vocab[i]);
  free(w->vocab);
  free(w->mean);
  free(w->std);
  if (w->f16 > 0) H5Tclose(w->f16);
  free(w->path);
  free(w->tmp);
  free(w);
}

// The tokenizer, every bucket's remaining datasets, the root attributes.
static int write_rest(CorpusWriter *w, const Tokenizer *tok, int64_t *trunc_short, int64_t *trunc_long, TsrErr *err) {
  for (int i = 0; i < w->nb; i++)
    if (close_bucket(w, &w->b[i], tok, trunc_short, trunc_long, err)) return -1;
  WCHECK(H5Gclose(w->buckets_group));
  hid_t g = H5Gcreate2(w->file, "tokenizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  WCHECK(g);
  int64_t patch[3] = {w->pt, w->ph, w->pw};
  float range[2] = {-1.0f, 1.0f};
  if (write_strings(w, g, "vocab", tok->words, tok->size, err) ||
      attr(w, g, "patch", H5T_STD_I64LE, H5T_NATIVE_INT64, 3, patch, err) ||
      attr_i64(w, g, "channels", w->C, err) || attr_i64(w, g, "text_length", w->L, err) ||
      attr(w, g, "value_range", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, range, err))
    return -1;
  WCHECK(H5Gclose(g));
  if (attr_str(w, w->file, "format", CORPUS_FORMAT, err) || attr_i64(w, w->file, "version", CORPUS_VERSION, err))
    return -1;
  if (w->latent) {
    TSR_ASSERT(w->mean, "%s: a latent corpus closed without its statistics", w->path);
    WCHECK(corpus_latent_write(w->file, w->sha256, w->ct, w->cs, w->mean, w->std, w->C));
  }
  WCHECK(H5Fflush(w->file, H5F_SCOPE_GLOBAL));
  WCHECK(H5Fclose(w->file));
  w->file = -1;
  h5_quiet_end(w->quiet);
  return 0;
}

int corpus_writer_close(CorpusWriter *w, TsrErr *err) {
  TSR_ASSERT(!w->failed, "corpus_writer_close after a failed write (use corpus_writer_abort)");
  // Tokenizer from every short caption and recaption, in bucket then clip order.
  int64_t total = 0;
  for (int i = 0; i < w->nb; i++) total += w->b[i].count;
  TSR_ASSERT(2 * total < (int64_t)1 << 31, "corpus too large for the tokenizer builder (%lld clips)", (long long)total);
  const char **texts = xrealloc(NULL, (size_t)(2 * total) * sizeof(char *));
  int64_t k = 0;
  for (int i = 0; i < w->nb; i++)
    for (int64_t j = 0; j < w->b[i].count; j++) {
      texts[k++] = w->b[i].caption[j];
      texts[k++] = w->b[i].recaption[j];
    }
  Tokenizer tok;
  if (w->vocab) tokenizer_from_vocab(&tok, w->vocab, w->vocab_n);
  else tokenizer_build(&tok, texts, (int)k, w->max_vocab);
  free(texts);

  int64_t trunc_short = 0, trunc_long = 0;
  int rc = write_rest(w, &tok, &trunc_short, &trunc_long, err);
  tokenizer_free(&tok);
  if (rc == 0 && rename(w->tmp, w->path) != 0) {
    int e = errno;
    unlink(w->tmp);
    rc = tsr_err(err, "%s: cannot rename %s into place: %s (%s removed)", w->path, w->tmp, strerror(e), w->tmp);
  }
  if (rc == 0 && (trunc_long || trunc_short))
    log_warn("%s: %lld recaptions and %lld short captions are longer than text_length %d and were truncated", w->path,
             (long long)trunc_long, (long long)trunc_short, w->L);
  writer_free(w);
  return rc;
}

void corpus_writer_abort(CorpusWriter *w) {
  if (!w) return;
  if (!w->failed) discard(w);
  writer_free(w);
}
