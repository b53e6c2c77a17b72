// corpus.h5 reader (layout in corpus.h, user documentation in datasets/README.md).
//
// corpus_open checks the whole layout before anything is read: format and
// version attributes, the tokenizer group and its attributes, and for every
// bucket its attributes, datasets, dtypes, shapes and checksum filters, every
// size against the limits of corpus.h and every declared extent against the
// chunks the file really stores (corpus_check.c). Any problem is one line
// returned in a TsrErr naming the file, the item and what was expected, with
// everything opened so far closed again.
// HDF5's own error stack printing is switched off around every call here, so
// a corrupt file gives that one line and nothing else.
//
// Dataset handles stay open for the life of the Corpus. Not thread-safe: this
// HDF5 build has no thread-safety, so one thread at a time may use a Corpus,
// and no other thread may call HDF5 meanwhile.
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/h5io.h"
#include "core/half.h"
#include "data/corpus.h"
#include "data/corpus_check.h"
#include "data/corpus_latent.h"
#include "data/tokenizer.h"

typedef struct {  // a string column: bytes uint8 [nbytes], offsets uint64 [n+1]
  hid_t bytes, offsets;
  uint64_t nbytes;
  char item[300];
} StrCol;

typedef struct {
  char name[64];
  int width;
  hid_t id;
} RMeta;

typedef struct {
  hid_t patches;
  StrCol text[3];      // caption, recaption, meta/source (bytes < 0: absent)
  hid_t tokens[2];     // 0 caption_tokens, 1 tokens
  hid_t ntokens[2];
  RMeta *meta;
  int nmeta;
} RBucket;

struct CorpusHandles {
  RBucket *b;
  uint8_t *scratch;
  size_t scratch_cap;
};

// Reads a hyperslab [start, start+count) of an n-d dataset into buf (memory
// type mt). Returns 0, -1 (unreadable) or -2 (checksum mismatch).
static int read_slab(hid_t ds, hid_t mt, int nd, const hsize_t *start, const hsize_t *count, void *buf) {
  hid_t fsp = H5Dget_space(ds);
  if (fsp < 0) return -1;
  // The memory space has the selection's shape: a flat one makes HDF5 map
  // element runs one row at a time (measured 100x slower for [1, N, P]).
  hid_t msp = H5Screate_simple(nd, count, NULL);
  int rc = -1;
  if (msp >= 0 && H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) >= 0) {
    if (H5Dread(ds, mt, msp, fsp, H5P_DEFAULT, buf) >= 0) rc = 0;
    else if (cc_checksum_failed()) rc = -2;  // before any other call clears the error stack
  }
  if (msp >= 0) H5Sclose(msp);
  H5Sclose(fsp);
  return rc;
}

// One line for a failed read of `what` index i (a clip or a vocabulary entry); returns -1.
static int read_failed(const char *file, const char *item, const char *what, int64_t i, int rc, TsrErr *err) {
  if (rc == -2)
    return tsr_err(err, "%s: %s: %s %lld: checksum mismatch (the file is corrupt)", file, item, what, (long long)i);
  return tsr_err(err, "%s: %s: cannot read %s %lld (corrupt file?)", file, item, what, (long long)i);
}

// ---------------------------------------------------------------- strings

static void close_strcol(StrCol *s) {
  if (s->bytes > 0) H5Dclose(s->bytes);
  if (s->offsets > 0) H5Dclose(s->offsets);
  s->bytes = s->offsets = 0;
}

// Opens the string column loc/name of n entries (n < 0: any number) into s;
// the number of entries, or -1 (s closed again).
static int64_t open_strcol(const char *file, hid_t loc, const char *item, const char *name, int64_t n, StrCol *s,
                           TsrErr *err) {
  snprintf(s->item, sizeof s->item, "%s", item);
  s->bytes = s->offsets = 0;
  hid_t g = cc_open(file, loc, item, name, H5I_GROUP, err);
  if (g < 0) return -1;
  char sub[340];
  snprintf(sub, sizeof sub, "%s/bytes", item);
  const int64_t any[1] = {-1}, want[1] = {n < 0 ? -1 : n + 1};
  hsize_t d[1];
  if ((s->bytes = cc_open(file, g, sub, "bytes", H5I_DATASET, err)) < 0 || cc_dtype(file, sub, s->bytes, DT_UINT8, err) ||
      cc_shape(file, sub, s->bytes, 1, any, "(B, the bytes of all entries)", d, err) ||
      cc_checksummed(file, sub, s->bytes, 0, err))
    goto fail;
  s->nbytes = d[0];
  snprintf(sub, sizeof sub, "%s/offsets", item);
  if ((s->offsets = cc_open(file, g, sub, "offsets", H5I_DATASET, err)) < 0 ||
      cc_dtype(file, sub, s->offsets, DT_UINT64, err) || cc_shape(file, sub, s->offsets, 1, want, "(n + 1)", d, err))
    goto fail;
  if (d[0] < 1) {
    tsr_err(err, "%s: %s: expected n + 1 >= 1 entries, found 0", file, sub);
    goto fail;
  }
  if (cc_checksummed(file, sub, s->offsets, 0, err)) goto fail;
  H5Gclose(g);
  return (int64_t)d[0] - 1;
fail:
  close_strcol(s);
  H5Gclose(g);
  return -1;
}

// Entries [start, start+count) of s as malloc'ed C strings in out[]; `what`
// names an entry in messages ("clip", "entry").
// On an error the strings made so far stay in out[] (the caller frees them).
static int read_strcol(const char *file, const StrCol *s, const char *what, int64_t start, int64_t count, char **out,
                       TsrErr *err) {
  if (count == 0) return 0;
  uint64_t *off = malloc((size_t)(count + 1) * sizeof *off);
  TSR_ASSERT(off, "out of memory");
  char *bytes = NULL;
  hsize_t st = (hsize_t)start, ct = (hsize_t)count + 1;
  int rc = read_slab(s->offsets, H5T_NATIVE_UINT64, 1, &st, &ct, off);
  if (rc < 0) {
    read_failed(file, s->item, what, start, rc, err);
    goto fail;
  }
  for (int64_t i = 0; i < count; i++)
    if (off[i] > off[i + 1] || off[i + 1] > s->nbytes || off[i + 1] - off[i] > (uint64_t)CORPUS_MAX_STRING) {
      tsr_err(err, "%s: %s/offsets: %s %lld: expected offsets in [0, %llu] (the bytes), increasing by at most %lld, "
              "found %llu and %llu", file, s->item, what, (long long)(start + i), (unsigned long long)s->nbytes,
              (long long)CORPUS_MAX_STRING, (unsigned long long)off[i], (unsigned long long)off[i + 1]);
      goto fail;
    }
  uint64_t total = off[count] - off[0];
  bytes = malloc(total ? total : 1);
  TSR_ASSERT(bytes, "out of memory (%llu bytes of strings)", (unsigned long long)total);
  if (total) {
    st = off[0], ct = total;
    rc = read_slab(s->bytes, H5T_NATIVE_UINT8, 1, &st, &ct, bytes);
    if (rc < 0) {
      read_failed(file, s->item, what, start, rc, err);
      goto fail;
    }
  }
  for (int64_t i = 0; i < count; i++) {
    size_t len = off[i + 1] - off[i];
    const char *src = bytes + (off[i] - off[0]);
    if (memchr(src, 0, len)) {
      tsr_err(err, "%s: %s: %s %lld: expected UTF-8 text, found a NUL byte", file, s->item, what, (long long)(start + i));
      goto fail;
    }
    out[i] = malloc(len + 1);
    TSR_ASSERT(out[i], "out of memory");
    memcpy(out[i], src, len);
    out[i][len] = 0;
  }
  free(bytes);
  free(off);
  return 0;
fail:
  free(bytes);
  free(off);
  return -1;
}

// ---------------------------------------------------------------- open

// "TxHxW", each a decimal in [1, CORPUS_MAX_DIM]; returns 0 if not.
static int parse_bucket_name(const char *name, int v[3]) {
  const char *p = name;
  for (int k = 0; k < 3; k++) {
    if (*p < '0' || *p > '9') return 0;
    long x = 0;
    while (*p >= '0' && *p <= '9') {
      x = 10 * x + (*p++ - '0');
      if (x > CORPUS_MAX_DIM) return 0;
    }
    if (x < 1 || *p != (k < 2 ? 'x' : 0)) return 0;
    if (k < 2) p++;
    v[k] = (int)x;
  }
  return 1;
}

// Dataset ds of a bucket: opened as loc/name and checked (dtype, shape, checksum); -1 on error.
static hid_t open_ds(const char *f, hid_t loc, const char *sub, const char *name, CorpusDtype dt, int ndim,
                     const int64_t *want, const char *legend, hsize_t chunk0, TsrErr *err) {
  hid_t ds = cc_open(f, loc, sub, name, H5I_DATASET, err);
  if (ds < 0) return -1;
  if (cc_dtype(f, sub, ds, dt, err) || cc_shape(f, sub, ds, ndim, want, legend, NULL, err) ||
      cc_checksummed(f, sub, ds, chunk0, err)) {
    H5Dclose(ds);
    return -1;
  }
  return ds;
}

// The numeric columns of meta/ (and meta/source); handles go to rb as they
// are opened, so corpus_close releases them after an error.
static int open_meta_group(Corpus *c, hid_t m, const char *sub, int64_t n, RBucket *rb, TsrErr *err) {
  const char *f = c->path;
  H5G_info_t info;
  if (H5Gget_info(m, &info) < 0) return tsr_err(err, "%s: %s: unreadable (corrupt file?)", f, sub);
  if (info.nlinks > 1024)
    return tsr_err(err, "%s: %s: expected at most 1024 columns, found %llu", f, sub, (unsigned long long)info.nlinks);
  rb->meta = calloc(info.nlinks ? info.nlinks : 1, sizeof *rb->meta);
  TSR_ASSERT(rb->meta, "out of memory");
  for (hsize_t i = 0; i < info.nlinks; i++) {
    char name[256], mitem[700];
    if (H5Lget_name_by_idx(m, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0)
      return tsr_err(err, "%s: %s: unreadable (corrupt file?)", f, sub);
    snprintf(mitem, sizeof mitem, "%s/%s", sub, name);
    if (!strcmp(name, "source")) {
      if (open_strcol(f, m, mitem, name, n, &rb->text[CORPUS_SOURCE], err) < 0) return -1;
      continue;
    }
    if (strlen(name) >= sizeof rb->meta->name) return tsr_err(err, "%s: %s: expected a name of at most 63 bytes", f, mitem);
    RMeta *e = &rb->meta[rb->nmeta];
    memcpy(e->name, name, strlen(name) + 1);  // length checked above
    e->id = cc_open(f, m, mitem, name, H5I_DATASET, err);
    if (e->id < 0) return -1;
    rb->nmeta++;
    if (cc_dtype(f, mitem, e->id, DT_NUMBER, err)) return -1;
    hid_t sp = H5Dget_space(e->id);
    int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    hsize_t d[H5S_MAX_RANK];
    int bad = nd < 1 || nd > H5S_MAX_RANK || H5Sget_simple_extent_dims(sp, d, NULL) < 0 || d[0] != (hsize_t)n;
    if (sp >= 0) H5Sclose(sp);
    if (bad) return tsr_err(err, "%s: %s: expected one row per clip (first dimension %lld)", f, mitem, (long long)n);
    uint64_t width = 1;
    for (int k = 1; k < nd; k++) width = d[k] > CORPUS_MAX_META_WIDTH ? UINT64_MAX : width * d[k];
    if (width < 1 || width > CORPUS_MAX_META_WIDTH)
      return tsr_err(err, "%s: %s: expected 1 to %d values per clip", f, mitem, CORPUS_MAX_META_WIDTH);
    e->width = (int)width;
    if (cc_checksummed(f, mitem, e->id, 0, err)) return -1;
  }
  return 0;
}

static int open_meta(Corpus *c, hid_t g, const char *item, int64_t n, RBucket *rb, TsrErr *err) {
  char sub[340];
  snprintf(sub, sizeof sub, "%s/meta", item);
  hid_t m = cc_open(c->path, g, sub, "meta", H5I_GROUP, err);
  if (m < 0) return -1;
  int rc = open_meta_group(c, m, sub, n, rb, err);
  H5Gclose(m);
  return rc;
}

// The bucket's attributes and datasets, its group open as g.
static int open_bucket_group(Corpus *c, hid_t g, const char *item, const int v[3], int64_t N, int64_t P,
                             CorpusBucket *b, RBucket *rb, TsrErr *err) {
  const char *f = c->path;
  char sub[400];
  const char *an[3] = {"frames", "height", "width"};
  for (int i = 0; i < 3; i++) {
    int64_t a;
    if (cc_attr_int(f, g, item, an[i], &a, err)) return -1;
    if (a != v[i])
      return tsr_err(err, "%s: %s: attribute '%s': expected %d (from the bucket name), found %lld", f, item, an[i], v[i],
                     (long long)a);
  }
  int64_t n;
  if (cc_attr_int(f, g, item, "count", &n, err)) return -1;
  if (n < 0 || n >= INT_MAX)
    return tsr_err(err, "%s: %s: attribute 'count': expected a clip count below 2^31 - 1, found %lld", f, item, (long long)n);
  b->count = (int)n;

  snprintf(sub, sizeof sub, "%s/patches", item);
  const int64_t wp[3] = {n, N, P};
  const CorpusDtype pt = c->latent ? DT_FLOAT16 : DT_UINT8;  // float16: a latent corpus (corpus_latent.h)
  if ((rb->patches = open_ds(f, g, sub, "patches", pt, 3, wp, "(n, N, P)", 1, err)) < 0) return -1;

  static const char *const cap_names[2] = {"caption", "recaption"};
  static const char *const tok_names[2] = {"caption_tokens", "tokens"};
  static const char *const ntok_names[2] = {"caption_ntokens", "ntokens"};
  const int64_t wt[2] = {n, c->text_length};
  for (int k = 0; k < 2; k++) {
    snprintf(sub, sizeof sub, "%s/%s", item, cap_names[k]);
    if (open_strcol(f, g, sub, cap_names[k], n, &rb->text[k], err) < 0) return -1;
    snprintf(sub, sizeof sub, "%s/%s", item, tok_names[k]);
    if ((rb->tokens[k] = open_ds(f, g, sub, tok_names[k], DT_INT32, 2, wt, "(n, text_length)", 0, err)) < 0) return -1;
    snprintf(sub, sizeof sub, "%s/%s", item, ntok_names[k]);
    if ((rb->ntokens[k] = open_ds(f, g, sub, ntok_names[k], DT_INT32, 1, wt, "(n)", 0, err)) < 0) return -1;
  }
  if (H5Lexists(g, "meta", H5P_DEFAULT) > 0) return open_meta(c, g, item, n, rb, err);  // optional
  return 0;
}

static int open_bucket(Corpus *c, hid_t gb, const char *name, CorpusBucket *b, RBucket *rb, TsrErr *err) {
  const char *f = c->path;
  char item[300];
  snprintf(item, sizeof item, "/buckets/%.200s", name);
  int v[3];
  if (strlen(name) >= sizeof b->name || !parse_bucket_name(name, v))
    return tsr_err(err, "%s: %s: expected a bucket group named TxHxW with sizes in [1, %d] (e.g. 16x32x32)", f, item,
                   CORPUS_MAX_DIM);
  const int T = v[0], H = v[1], W = v[2];
  if ((T % c->pt && T != 1) || H % c->ph || W % c->pw)
    return tsr_err(err, "%s: %s: bucket size not divisible by the patch %dx%dx%d (/tokenizer attribute 'patch')", f,
                   item, c->pt, c->ph, c->pw);
  // Each factor is at most 65536 (dims) or 4096 (patch, channels): no int64 overflow.
  const int64_t N = (int64_t)corpus_grid_t(T, c->pt) * (H / c->ph) * (W / c->pw), P = (int64_t)c->pt * c->ph * c->pw * c->channels;
  if (P > INT_MAX || N * P > CORPUS_MAX_CLIP_BYTES)
    return tsr_err(err, "%s: %s: a clip of N %lld tokens x P %lld values is more than the %lld bytes a clip may have", f,
                   item, (long long)N, (long long)P, (long long)CORPUS_MAX_CLIP_BYTES);
  hid_t g = cc_open(f, gb, item, name, H5I_GROUP, err);
  if (g < 0) return -1;
  memcpy(b->name, name, strlen(name) + 1);  // length checked above
  b->T = T, b->H = H, b->W = W;
  b->N = (int)N, b->P = (int)P;
  int rc = open_bucket_group(c, g, item, v, N, P, b, rb, err);
  H5Gclose(g);
  return rc;
}

// /format and /version: a version 2 tessera corpus (version 1 is refused with what to do).
static int check_format(const char *f, hid_t file, TsrErr *err) {
  char fmt[256];
  if (H5Aexists(file, "format") <= 0)
    return tsr_err(err, "%s: attribute /format missing: expected \"%s\" (not a tessera corpus)", f, CORPUS_FORMAT);
  int fixed = cc_attr_fixed_string(f, file, "/", "format", fmt, err);
  if (fixed < 0) return -1;
  int64_t version = -1;
  if (H5Aexists(file, "version") > 0 && cc_attr_int(f, file, "/", "version", &version, err)) return -1;
  if (version == 1)  // v1's strings are read only through the global heap, which crashes libhdf5 when corrupt
    return tsr_err(err, "%s: corpus format version 1 is no longer read (its strings live on the HDF5 heap and nothing "
                   "is checksummed): make the corpus again with this tessera (data synth / data ingest)", f);
  if (!fixed)
    return tsr_err(err, "%s: attribute /format: expected the fixed-length string \"%s\", found a variable-length string",
                   f, CORPUS_FORMAT);
  if (strcmp(fmt, CORPUS_FORMAT))
    return tsr_err(err, "%s: attribute /format: expected \"%s\", found \"%.64s\" (not a tessera corpus)", f,
                   CORPUS_FORMAT, fmt);
  if (version != CORPUS_VERSION)
    return tsr_err(err, "%s: attribute /version: expected %d (the version this tessera reads), found %lld", f,
                   CORPUS_VERSION, (long long)version);
  return 0;
}

// The /tokenizer group's attributes and vocabulary, the group open as tg.
static int read_tokenizer(Corpus *c, hid_t tg, TsrErr *err) {
  const char *f = c->path;
  int64_t patch[3], v;
  if (cc_attr_ints(f, tg, "/tokenizer", "patch", 3, patch, err)) return -1;
  for (int i = 0; i < 3; i++)
    if (patch[i] < 1 || patch[i] > 4096)
      return tsr_err(err, "%s: /tokenizer: attribute 'patch': expected 3 sizes in [1, 4096] (pt, ph, pw), found [%lld, "
                     "%lld, %lld]", f, (long long)patch[0], (long long)patch[1], (long long)patch[2]);
  c->pt = (int)patch[0], c->ph = (int)patch[1], c->pw = (int)patch[2];
  if (cc_attr_int(f, tg, "/tokenizer", "channels", &v, err)) return -1;
  if (v < 1 || v > 4096)
    return tsr_err(err, "%s: /tokenizer: attribute 'channels': expected a count in [1, 4096], found %lld", f, (long long)v);
  c->channels = (int)v;
  if (cc_attr_int(f, tg, "/tokenizer", "text_length", &v, err)) return -1;
  if (v < 1 || v > 1 << 20)
    return tsr_err(err, "%s: /tokenizer: attribute 'text_length': expected a length in [1, 2^20], found %lld", f,
                   (long long)v);
  c->text_length = (int)v;
  StrCol vocab;
  int64_t V = open_strcol(f, tg, "/tokenizer/vocab", "vocab", -1, &vocab, err);
  if (V < 0) return -1;
  int rc = 0;
  if (V < TOK_FIRST_WORD || V > CORPUS_MAX_VOCAB || vocab.nbytes > (uint64_t)1 << 28) {
    rc = tsr_err(err, "%s: /tokenizer/vocab: expected 4 to %d entries (the 4 specials first) of at most 256 MiB, found "
                 "%lld entries of %llu bytes", f, CORPUS_MAX_VOCAB, (long long)V, (unsigned long long)vocab.nbytes);
  } else {
    c->vocab_size = (int)V;
    c->vocab = calloc((size_t)V, sizeof *c->vocab);
    TSR_ASSERT(c->vocab, "out of memory");
    rc = read_strcol(f, &vocab, "entry", 0, V, c->vocab, err);
    static const char *const specials[TOK_FIRST_WORD] = {"<pad>", "<bos>", "<unk>", "<eos>"};
    for (int i = 0; rc == 0 && i < TOK_FIRST_WORD; i++)
      if (strcmp(c->vocab[i], specials[i]))
        rc = tsr_err(err, "%s: /tokenizer/vocab: entry %d: expected \"%s\", found \"%.40s\"", f, i, specials[i],
                     c->vocab[i]);
  }
  close_strcol(&vocab);
  return rc;
}

static int open_tokenizer(Corpus *c, TsrErr *err) {
  hid_t tg = cc_open(c->path, c->file, "/tokenizer", "tokenizer", H5I_GROUP, err);
  if (tg < 0) return -1;
  int rc = read_tokenizer(c, tg, err);
  H5Gclose(tg);
  return rc;
}

// /buckets/<T>x<H>x<W>, in name order, the group open as gb.
static int open_buckets(Corpus *c, hid_t gb, TsrErr *err) {
  const char *f = c->path;
  H5G_info_t info;
  if (H5Gget_info(gb, &info) < 0) return tsr_err(err, "%s: /buckets: unreadable (corrupt file?)", f);
  if (info.nlinks > CORPUS_MAX_BUCKETS)
    return tsr_err(err, "%s: /buckets: expected at most %d buckets, found %llu", f, CORPUS_MAX_BUCKETS,
                   (unsigned long long)info.nlinks);
  const int nb = (int)info.nlinks;
  c->buckets = calloc((size_t)(nb ? nb : 1), sizeof *c->buckets);
  c->priv->b = calloc((size_t)(nb ? nb : 1), sizeof *c->priv->b);
  TSR_ASSERT(c->buckets && c->priv->b, "out of memory");
  for (int i = 0; i < nb; i++) {
    char name[256];
    c->nbuckets = i + 1;  // so that corpus_close releases what bucket i opened
    if (H5Lget_name_by_idx(gb, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)i, name, sizeof name, H5P_DEFAULT) < 0)
      return tsr_err(err, "%s: /buckets: unreadable (corrupt file?)", f);
    if (open_bucket(c, gb, name, &c->buckets[i], &c->priv->b[i], err)) return -1;
  }
  return 0;
}

static int open_file(Corpus *c, const char *path, TsrErr *err) {
  const char *f = c->path;
  if (H5Fis_hdf5(path) <= 0) return tsr_err(err, "%s: not an HDF5 file (truncated or corrupt?)", f);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 12, 1) || (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7)
  H5Pset_file_locking(fapl, 1, 1);  // read-only: go on where the file system has no locks
#endif
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  if (file < 0) return tsr_err(err, "%s: not an HDF5 file (truncated or corrupt?)", f);
  c->file = file;
  if (check_format(f, c->file, err) || open_tokenizer(c, err) || corpus_latent_open(c, err)) return -1;
  c->priv = calloc(1, sizeof *c->priv);
  TSR_ASSERT(c->priv, "out of memory");
  hid_t gb = cc_open(f, c->file, "/buckets", "buckets", H5I_GROUP, err);
  if (gb < 0) return -1;
  int rc = open_buckets(c, gb, err);
  H5Gclose(gb);
  return rc;
}

int corpus_open(Corpus *c, const char *path, TsrErr *err) {
  memset(c, 0, sizeof *c);
  snprintf(c->path, sizeof c->path, "%s", path);
  const char *f = c->path;
  struct stat st;
  if (stat(path, &st) != 0) return tsr_err(err, "%s: cannot open: %s", f, strerror(errno));
  if (S_ISDIR(st.st_mode)) return tsr_err(err, "%s: cannot open: is a directory (expected a corpus .h5 file)", f);
  // A FIFO or device would block the opens below (or never end).
  if (!S_ISREG(st.st_mode)) return tsr_err(err, "%s: cannot open: not a regular file (expected a corpus .h5 file)", f);
  FILE *probe = fopen(path, "rb");
  if (!probe) return tsr_err(err, "%s: cannot open: %s", f, strerror(errno));
  fclose(probe);

  H5Quiet q = h5_quiet_begin();
  int rc = open_file(c, path, err);
  h5_quiet_end(q);
  if (rc) corpus_close(c);  // everything opened so far
  return rc;
}

void corpus_close(Corpus *c) {
  if (c->file <= 0) {
    memset(c, 0, sizeof *c);
    return;
  }
  H5Quiet q = h5_quiet_begin();
  if (c->priv) {
    for (int i = 0; i < c->nbuckets && c->priv->b; i++) {
      RBucket *rb = &c->priv->b[i];
      if (rb->patches > 0) H5Dclose(rb->patches);
      for (int k = 0; k < 3; k++) close_strcol(&rb->text[k]);
      for (int k = 0; k < 2; k++) {
        if (rb->tokens[k] > 0) H5Dclose(rb->tokens[k]);
        if (rb->ntokens[k] > 0) H5Dclose(rb->ntokens[k]);
      }
      for (int k = 0; k < rb->nmeta; k++) H5Dclose(rb->meta[k].id);
      free(rb->meta);
    }
    free(c->priv->b);
    free(c->priv->scratch);
    free(c->priv);
  }
  H5Fclose(c->file);
  h5_quiet_end(q);
  for (int i = 0; i < c->vocab_size; i++) free(c->vocab[i]);
  free(c->vocab);
  free(c->latent_mean);
  free(c->latent_std);
  free(c->buckets);
  memset(c, 0, sizeof *c);
}

const CorpusBucket *corpus_bucket(const Corpus *c, int T, int H, int W) {
  for (int i = 0; i < c->nbuckets; i++)
    if (c->buckets[i].T == T && c->buckets[i].H == H && c->buckets[i].W == W) return &c->buckets[i];
  return NULL;
}

// ---------------------------------------------------------------- reads

static RBucket *rbucket(const Corpus *c, const CorpusBucket *b) {
  ptrdiff_t i = b - c->buckets;
  if (i >= 0 && i < c->nbuckets) return &c->priv->b[i];
  const CorpusBucket *same = corpus_bucket(c, b->T, b->H, b->W);  // a copy of one of ours
  TSR_ASSERT(same, "bucket %s is not in %s", b->name, c->path);
  return &c->priv->b[same - c->buckets];
}

int corpus_read_patches(const Corpus *c, const CorpusBucket *b, int clip, int n0, int n, float *out, TsrErr *err) {
  TSR_ASSERT(clip >= 0 && clip < b->count && n0 >= 0 && n >= 0 && n0 + n <= b->N,
             "corpus_read_patches: clip %d tokens [%d, %d) outside bucket %s (%d clips, N %d)", clip, n0, n0 + n,
             b->name, b->count, b->N);
  if (n == 0) return 0;
  RBucket *rb = rbucket(c, b);
  const size_t m = (size_t)n * (size_t)b->P;  // at most CORPUS_MAX_CLIP_BYTES (checked at open)
  const size_t bytes = c->latent ? 2 * m : m;  // float16 or uint8
  struct CorpusHandles *h = c->priv;
  if (bytes > h->scratch_cap) {
    free(h->scratch);
    h->scratch = malloc(bytes);
    TSR_ASSERT(h->scratch, "out of memory (%zu bytes for a clip)", bytes);
    h->scratch_cap = bytes;
  }
  uint8_t *buf = h->scratch;
  hsize_t start[3] = {(hsize_t)clip, (hsize_t)n0, 0}, count[3] = {1, (hsize_t)n, (hsize_t)b->P};
  H5Quiet q = h5_quiet_begin();
  char item[64];
  snprintf(item, sizeof item, "/buckets/%s/patches", b->name);
  hid_t mt = c->latent ? corpus_f16_type() : H5T_NATIVE_UINT8;
  int rc = read_slab(rb->patches, mt, 3, start, count, buf);
  if (rc < 0) read_failed(c->path, item, "clip", clip, rc, err);
  if (c->latent) H5Tclose(mt);
  h5_quiet_end(q);
  if (rc < 0) return -1;
  if (c->latent) {
    int64_t bad = corpus_latent_decode(c, (const uint16_t *)(const void *)buf, m, out);
    if (bad >= 0)
      return tsr_err(err, "%s: %s: clip %d: token %lld value %lld: expected a finite latent, found %g", c->path, item,
                     clip, (long long)(n0 + bad / b->P), (long long)(bad % b->P), (double)f16_to_f32(((uint16_t *)(void *)buf)[bad]));
    return 0;
  }
  for (size_t i = 0; i < m; i++) out[i] = (float)buf[i] / 127.5f - 1.0f;  // exact at 0 -> -1 and 255 -> 1; vectorises
  return 0;
}

int corpus_read_tokens(const Corpus *c, const CorpusBucket *b, int clip, int which, int32_t *tokens, int32_t *ntokens,
                       TsrErr *err) {
  TSR_ASSERT(clip >= 0 && clip < b->count && (which == 0 || which == 1), "corpus_read_tokens: clip %d which %d", clip, which);
  RBucket *rb = rbucket(c, b);
  const int L = c->text_length;
  static const char *const names[2] = {"caption_tokens", "tokens"}, *const nnames[2] = {"caption_ntokens", "ntokens"};
  char item[2][80];
  snprintf(item[0], sizeof item[0], "/buckets/%s/%s", b->name, names[which]);
  snprintf(item[1], sizeof item[1], "/buckets/%s/%s", b->name, nnames[which]);
  hsize_t start[2] = {(hsize_t)clip, 0}, count[2] = {1, (hsize_t)L};
  H5Quiet q = h5_quiet_begin();
  int32_t nt = 0;
  int rc = read_slab(rb->tokens[which], H5T_NATIVE_INT32, 2, start, count, tokens);
  if (rc < 0) read_failed(c->path, item[0], "clip", clip, rc, err);
  if (rc == 0 && (rc = read_slab(rb->ntokens[which], H5T_NATIVE_INT32, 1, start, count, &nt)) < 0)
    read_failed(c->path, item[1], "clip", clip, rc, err);
  h5_quiet_end(q);
  if (rc < 0) return -1;
  if (nt < 1 || nt > L)
    return tsr_err(err, "%s: %s: clip %d: expected a length in [1, %d], found %d", c->path, item[1], clip, L, nt);
  for (int i = 0; i < L; i++)
    if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
      return tsr_err(err, "%s: %s: clip %d: token %d is id %d, expected an id in [0, %d) (the vocabulary)", c->path,
                     item[0], clip, i, tokens[i], c->vocab_size);
  *ntokens = nt;
  return 0;
}

char *corpus_read_caption(const Corpus *c, const CorpusBucket *b, int clip, int which, TsrErr *err) {
  TSR_ASSERT(clip >= 0 && clip < b->count && which >= 0 && which <= CORPUS_SOURCE, "corpus_read_caption: clip %d which %d",
             clip, which);
  const StrCol *s = &rbucket(c, b)->text[which];
  char *out = NULL;
  if (s->bytes <= 0) {  // no meta/source
    out = calloc(1, 1);
    TSR_ASSERT(out, "out of memory");
    return out;
  }
  H5Quiet q = h5_quiet_begin();
  int rc = read_strcol(c->path, s, "clip", clip, 1, &out, err);
  h5_quiet_end(q);
  if (rc) {
    free(out);
    return NULL;
  }
  return out;
}

int corpus_meta_count(const Corpus *c, const CorpusBucket *b) { return rbucket(c, b)->nmeta; }

const char *corpus_meta_name(const Corpus *c, const CorpusBucket *b, int k, int *width) {
  const RBucket *rb = rbucket(c, b);
  TSR_ASSERT(k >= 0 && k < rb->nmeta, "corpus_meta_name: column %d of %d", k, rb->nmeta);
  if (width) *width = rb->meta[k].width;
  return rb->meta[k].name;
}

int corpus_read_meta(const Corpus *c, const CorpusBucket *b, int k, float *out, TsrErr *err) {
  const RBucket *rb = rbucket(c, b);
  TSR_ASSERT(k >= 0 && k < rb->nmeta, "corpus_read_meta: column %d of %d", k, rb->nmeta);
  if (b->count == 0) return 0;
  H5Quiet q = h5_quiet_begin();
  int rc = 0;
  if (H5Dread(rb->meta[k].id, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
    int sum = cc_checksum_failed();
    rc = tsr_err(err, "%s: /buckets/%s/meta/%s: %s", c->path, b->name, rb->meta[k].name,
                 sum ? "checksum mismatch (the file is corrupt)" : "unreadable (corrupt file?)");
  }
  h5_quiet_end(q);
  return rc;
}
