// corpus.h5 reader (layout in corpus.h, user documentation in datasets/README.md).
//
// corpus_open checks the whole layout before anything is read: format and
// version attributes, the tokenizer group and its attributes, and for every
// bucket its attributes, datasets, dtypes and shapes. Any problem is one line
// (tsr_user_error, exit 2) naming the file, the item and what was expected.
// HDF5's own error stack printing is switched off around every call here, so
// a corrupt file gives that one line and nothing else.
//
// Dataset handles stay open for the life of the Corpus. Not thread-safe: this
// HDF5 build has no thread-safety, so one thread at a time may use a Corpus,
// and no other thread may call HDF5 meanwhile.
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/h5io.h"
#include "data/corpus.h"
#include "data/tokenizer.h"

typedef struct {
  hid_t id;
  int vlen;      // strings: variable length (else fixed, of `size` bytes)
  size_t size;
  H5T_cset_t cset;  // memory type must match: HDF5 does not convert ASCII <-> UTF-8
} StrDs;

typedef struct {
  hid_t patches;
  StrDs caption[2];    // 0 short caption, 1 recaption
  hid_t tokens[2];     // 0 caption_tokens, 1 tokens
  hid_t ntokens[2];
} RBucket;

struct CorpusHandles {
  RBucket *b;
  uint8_t *scratch;
  size_t scratch_cap;
};

// ---------------------------------------------------------------- HDF5 error printing off


static void reclaim(hid_t type, hid_t space, void *buf) {
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(type, space, H5P_DEFAULT, buf);
#else
  H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf);
#endif
}

// ---------------------------------------------------------------- descriptions for messages

static void type_name(hid_t t, char *out, size_t n) {
  H5T_class_t cls = H5Tget_class(t);
  size_t size = H5Tget_size(t);
  switch (cls) {
    case H5T_INTEGER:
      snprintf(out, n, "%s%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "uint" : "int", 8 * size);
      break;
    case H5T_FLOAT: snprintf(out, n, "float%zu", 8 * size); break;
    case H5T_STRING:
      snprintf(out, n, "%s", H5Tis_variable_str(t) > 0 ? "variable-length string" : "fixed-length string");
      break;
    case H5T_COMPOUND: snprintf(out, n, "compound"); break;
    case H5T_ENUM: snprintf(out, n, "enum"); break;
    case H5T_ARRAY: snprintf(out, n, "array"); break;
    case H5T_VLEN: snprintf(out, n, "vlen sequence"); break;
    case H5T_OPAQUE: snprintf(out, n, "opaque"); break;
    case H5T_BITFIELD: snprintf(out, n, "bitfield"); break;
    case H5T_REFERENCE: snprintf(out, n, "reference"); break;
    default: snprintf(out, n, "unknown type"); break;
  }
}

static void dims_name(int ndim, const hsize_t *d, char *out, size_t n) {
  size_t o = (size_t)snprintf(out, n, "[");
  for (int i = 0; i < ndim && o < n; i++) o += (size_t)snprintf(out + o, n - o, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
  if (o < n) snprintf(out + o, n - o, "]");
}

// ---------------------------------------------------------------- objects

// Opens loc/name as an object of `want` type (H5I_GROUP or H5I_DATASET).
static hid_t open_obj(const char *file, hid_t loc, const char *item, const char *name, H5I_type_t want) {
  const char *what = want == H5I_GROUP ? "group" : "dataset";
  htri_t e = H5Lexists(loc, name, H5P_DEFAULT);
  if (e <= 0) tsr_user_error("%s: %s: missing (expected a %s)", file, item, what);
  hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
  if (o < 0) tsr_user_error("%s: %s: cannot open (corrupt file?)", file, item);
  if (H5Iget_type(o) != want)
    tsr_user_error("%s: %s: expected a %s, found a %s", file, item, what, want == H5I_GROUP ? "dataset" : "group");
  return o;
}

// Checks a dataset's rank and shape (dims[i] < 0: any) and returns it in got.
static void check_shape(const char *file, const char *item, hid_t ds, int ndim, const int64_t *want, const char *legend,
                        hsize_t *got) {
  hid_t sp = H5Dget_space(ds);
  if (sp < 0) tsr_user_error("%s: %s: cannot read its shape (corrupt file?)", file, item);
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t d[H5S_MAX_RANK];
  if (nd < 0 || nd > H5S_MAX_RANK) tsr_user_error("%s: %s: cannot read its shape (corrupt file?)", file, item);
  H5Sget_simple_extent_dims(sp, d, NULL);
  H5Sclose(sp);
  int ok = nd == ndim;
  for (int i = 0; ok && i < nd; i++) ok = want[i] < 0 || (hsize_t)want[i] == d[i];
  if (!ok) {
    char exp[128], found[128];
    size_t o = (size_t)snprintf(exp, sizeof exp, "[");
    for (int i = 0; i < ndim; i++) {
      if (want[i] < 0) o += (size_t)snprintf(exp + o, sizeof exp - o, "%s*", i ? ", " : "");
      else o += (size_t)snprintf(exp + o, sizeof exp - o, "%s%lld", i ? ", " : "", (long long)want[i]);
    }
    snprintf(exp + o, sizeof exp - o, "]");
    dims_name(nd, d, found, sizeof found);
    tsr_user_error("%s: %s: expected shape %s %s, found %s", file, item, exp, legend, found);
  }
  if (got)
    for (int i = 0; i < nd; i++) got[i] = d[i];
}

typedef enum { DT_UINT8, DT_INT32, DT_FLOAT, DT_STRING } Dtype;

static void check_dtype(const char *file, const char *item, hid_t ds, Dtype want) {
  hid_t t = H5Dget_type(ds);
  if (t < 0) tsr_user_error("%s: %s: cannot read its type (corrupt file?)", file, item);
  H5T_class_t cls = H5Tget_class(t);
  size_t size = H5Tget_size(t);
  int ok = 0;
  const char *exp = "";
  switch (want) {
    case DT_UINT8: ok = cls == H5T_INTEGER && size == 1 && H5Tget_sign(t) == H5T_SGN_NONE; exp = "uint8"; break;
    case DT_INT32: ok = cls == H5T_INTEGER && size == 4 && H5Tget_sign(t) == H5T_SGN_2; exp = "int32"; break;
    case DT_FLOAT: ok = cls == H5T_FLOAT || cls == H5T_INTEGER; exp = "a number type (float32)"; break;
    case DT_STRING: ok = cls == H5T_STRING; exp = "UTF-8 strings"; break;
  }
  if (!ok) {
    char found[64];
    type_name(t, found, sizeof found);
    tsr_user_error("%s: %s: expected %s, found %s", file, item, exp, found);
  }
  H5Tclose(t);
}

static StrDs open_strings(const char *file, hid_t loc, const char *item, const char *name, int64_t n) {
  StrDs s;
  s.id = open_obj(file, loc, item, name, H5I_DATASET);
  check_dtype(file, item, s.id, DT_STRING);
  int64_t want[1] = {n};
  check_shape(file, item, s.id, 1, want, "(n)", NULL);
  hid_t t = H5Dget_type(s.id);
  s.vlen = H5Tis_variable_str(t) > 0;
  s.size = H5Tget_size(t);
  s.cset = H5Tget_cset(t);
  H5Tclose(t);
  return s;
}

// Reads strings [start, start+count) of s into out[] (malloc'ed copies). Returns 0 or -1.
static int read_strings(const StrDs *s, int64_t start, int64_t count, char **out) {
  if (count == 0) return 0;
  hid_t fsp = H5Dget_space(s->id);
  hsize_t st = (hsize_t)start, ct = (hsize_t)count;
  hid_t msp = H5Screate_simple(1, &ct, NULL);
  hid_t mt = H5Tcopy(H5T_C_S1);
  int rc = -1;
  if (fsp < 0 || msp < 0 || mt < 0 || H5Sselect_hyperslab(fsp, H5S_SELECT_SET, &st, NULL, &ct, NULL) < 0) goto done;
  H5Tset_cset(mt, s->cset);
  if (s->vlen) {
    H5Tset_size(mt, H5T_VARIABLE);
    char **tmp = calloc((size_t)count, sizeof *tmp);
    TSR_ASSERT(tmp, "out of memory");
    if (H5Dread(s->id, mt, msp, fsp, H5P_DEFAULT, tmp) >= 0) {
      for (int64_t i = 0; i < count; i++) {
        const char *v = tmp[i] ? tmp[i] : "";
        out[i] = malloc(strlen(v) + 1);
        TSR_ASSERT(out[i], "out of memory");
        strcpy(out[i], v);
      }
      reclaim(mt, msp, tmp);
      rc = 0;
    }
    free(tmp);
  } else {
    H5Tset_size(mt, s->size);
    H5Tset_strpad(mt, H5T_STR_NULLPAD);
    char *buf = calloc((size_t)count, s->size);
    TSR_ASSERT(buf, "out of memory");
    if (H5Dread(s->id, mt, msp, fsp, H5P_DEFAULT, buf) >= 0) {
      for (int64_t i = 0; i < count; i++) {
        out[i] = calloc(1, s->size + 1);
        TSR_ASSERT(out[i], "out of memory");
        memcpy(out[i], buf + (size_t)i * s->size, s->size);
        // a fixed-length string may be space padded
        for (size_t k = strlen(out[i]); k > 0 && out[i][k - 1] == ' '; k--) out[i][k - 1] = 0;
      }
      rc = 0;
    }
    free(buf);
  }
done:
  if (mt >= 0) H5Tclose(mt);
  if (msp >= 0) H5Sclose(msp);
  if (fsp >= 0) H5Sclose(fsp);
  return rc;
}

// ---------------------------------------------------------------- attributes

// Integer attribute of n values (n = 0: scalar or one value).
static void attr_ints(const char *file, hid_t loc, const char *item, const char *name, int n, int64_t *out) {
  if (H5Aexists(loc, name) <= 0) tsr_user_error("%s: %s: attribute '%s' missing", file, item, name);
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) tsr_user_error("%s: %s: attribute '%s' unreadable (corrupt file?)", file, item, name);
  hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  int want = n ? n : 1;
  if (H5Tget_class(t) != H5T_INTEGER || np != want) {
    char found[64];
    type_name(t, found, sizeof found);
    tsr_user_error("%s: %s: attribute '%s': expected %d integer%s, found %lld value%s of %s", file, item, name, want,
                   want > 1 ? "s" : "", (long long)np, np == 1 ? "" : "s", found);
  }
  if (H5Aread(a, H5T_NATIVE_INT64, out) < 0) tsr_user_error("%s: %s: attribute '%s' unreadable", file, item, name);
  H5Tclose(t);
  H5Sclose(sp);
  H5Aclose(a);
}

static int64_t attr_int(const char *file, hid_t loc, const char *item, const char *name) {
  int64_t v;
  attr_ints(file, loc, item, name, 0, &v);
  return v;
}

// String attribute into out (truncated to n-1 bytes).
static void attr_string(const char *file, hid_t loc, const char *item, const char *name, char *out, size_t n) {
  if (H5Aexists(loc, name) <= 0) tsr_user_error("%s: %s: attribute '%s' missing", file, item, name);
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) tsr_user_error("%s: %s: attribute '%s' unreadable (corrupt file?)", file, item, name);
  hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  if (H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1) {
    char found[64];
    type_name(t, found, sizeof found);
    tsr_user_error("%s: %s: attribute '%s': expected a string, found %s", file, item, name, found);
  }
  hid_t mt = H5Tcopy(H5T_C_S1);
  H5Tset_cset(mt, H5Tget_cset(t));
  int rc;
  if (H5Tis_variable_str(t) > 0) {
    H5Tset_size(mt, H5T_VARIABLE);
    char *v = NULL;
    rc = H5Aread(a, mt, &v);
    snprintf(out, n, "%s", rc >= 0 && v ? v : "");
    if (rc >= 0) reclaim(mt, sp, &v);
  } else {
    size_t sz = H5Tget_size(t);
    char *buf = calloc(1, sz + 1);
    TSR_ASSERT(buf, "out of memory");
    H5Tset_size(mt, sz);
    rc = H5Aread(a, mt, buf);
    snprintf(out, n, "%s", buf);
    free(buf);
  }
  if (rc < 0) tsr_user_error("%s: %s: attribute '%s' unreadable", file, item, name);
  H5Tclose(mt);
  H5Tclose(t);
  H5Sclose(sp);
  H5Aclose(a);
}

// ---------------------------------------------------------------- open

static void open_bucket(Corpus *c, hid_t gb, const char *name, CorpusBucket *b, RBucket *rb) {
  const char *f = c->path;
  char item[300], sub[400];
  snprintf(item, sizeof item, "/buckets/%s", name);
  int T, H, W, end = 0;
  if (strlen(name) >= sizeof b->name || sscanf(name, "%dx%dx%d%n", &T, &H, &W, &end) != 3 || name[end] || T <= 0 ||
      H <= 0 || W <= 0)
    tsr_user_error("%s: %s: expected a bucket group named TxHxW (e.g. 16x32x32)", f, item);
  if (T % c->pt || H % c->ph || W % c->pw)
    tsr_user_error("%s: %s: bucket size not divisible by the patch %dx%dx%d (/tokenizer attribute 'patch')", f, item,
                   c->pt, c->ph, c->pw);
  hid_t g = open_obj(f, gb, item, name, H5I_GROUP);
  memcpy(b->name, name, strlen(name) + 1);  // length checked above
  b->T = T, b->H = H, b->W = W;
  b->N = (T / c->pt) * (H / c->ph) * (W / c->pw);
  b->P = c->pt * c->ph * c->pw * c->channels;
  const char *an[3] = {"frames", "height", "width"};
  const int av[3] = {T, H, W};
  for (int i = 0; i < 3; i++) {
    int64_t v = attr_int(f, g, item, an[i]);
    if (v != av[i]) tsr_user_error("%s: %s: attribute '%s': expected %d (from the bucket name), found %lld", f, item, an[i], av[i], (long long)v);
  }
  int64_t n = attr_int(f, g, item, "count");
  if (n < 0 || n > 0x7fffffff) tsr_user_error("%s: %s: attribute 'count': expected a clip count, found %lld", f, item, (long long)n);
  b->count = (int)n;

  snprintf(sub, sizeof sub, "%s/patches", item);
  rb->patches = open_obj(f, g, sub, "patches", H5I_DATASET);
  check_dtype(f, sub, rb->patches, DT_UINT8);
  int64_t wp[3] = {n, b->N, b->P};
  check_shape(f, sub, rb->patches, 3, wp, "(n, N, P)", NULL);

  static const char *const cap_names[2] = {"caption", "recaption"};
  static const char *const tok_names[2] = {"caption_tokens", "tokens"};
  static const char *const ntok_names[2] = {"caption_ntokens", "ntokens"};
  for (int k = 0; k < 2; k++) {
    snprintf(sub, sizeof sub, "%s/%s", item, cap_names[k]);
    rb->caption[k] = open_strings(f, g, sub, cap_names[k], n);
    snprintf(sub, sizeof sub, "%s/%s", item, tok_names[k]);
    rb->tokens[k] = open_obj(f, g, sub, tok_names[k], H5I_DATASET);
    check_dtype(f, sub, rb->tokens[k], DT_INT32);
    int64_t wt[2] = {n, c->text_length};
    check_shape(f, sub, rb->tokens[k], 2, wt, "(n, text_length)", NULL);
    snprintf(sub, sizeof sub, "%s/%s", item, ntok_names[k]);
    rb->ntokens[k] = open_obj(f, g, sub, ntok_names[k], H5I_DATASET);
    check_dtype(f, sub, rb->ntokens[k], DT_INT32);
    check_shape(f, sub, rb->ntokens[k], 1, wt, "(n)", NULL);
  }

  // meta/ is optional; what is there must have one row per clip.
  if (H5Lexists(g, "meta", H5P_DEFAULT) > 0) {
    snprintf(sub, sizeof sub, "%s/meta", item);
    hid_t m = open_obj(f, g, sub, "meta", H5I_GROUP);
    H5G_info_t info;
    if (H5Gget_info(m, &info) < 0) tsr_user_error("%s: %s: unreadable (corrupt file?)", f, sub);
    for (hsize_t i = 0; i < info.nlinks; i++) {
      char mname[256];
      if (H5Lget_name_by_idx(m, ".", H5_INDEX_NAME, H5_ITER_INC, i, mname, sizeof mname, H5P_DEFAULT) < 0)
        tsr_user_error("%s: %s: unreadable (corrupt file?)", f, sub);
      char mitem[700];
      snprintf(mitem, sizeof mitem, "%s/%s", sub, mname);
      hid_t o = H5Oopen(m, mname, H5P_DEFAULT);
      if (o < 0) tsr_user_error("%s: %s: cannot open (corrupt file?)", f, mitem);
      if (H5Iget_type(o) == H5I_DATASET) {
        hid_t sp = H5Dget_space(o);
        int nd = H5Sget_simple_extent_ndims(sp);
        hsize_t d[H5S_MAX_RANK];
        if (nd > 0) H5Sget_simple_extent_dims(sp, d, NULL);
        if (nd < 1 || nd > H5S_MAX_RANK || d[0] != (hsize_t)n)
          tsr_user_error("%s: %s: expected one row per clip (first dimension %lld), found %s", f, mitem, (long long)n,
                         nd < 1 ? "a scalar" : "a different first dimension");
        H5Sclose(sp);
      }
      H5Oclose(o);
    }
    H5Gclose(m);
  }
  H5Gclose(g);
}

void corpus_open(Corpus *c, const char *path) {
  memset(c, 0, sizeof *c);
  snprintf(c->path, sizeof c->path, "%s", path);
  const char *f = c->path;
  struct stat st;
  if (stat(path, &st) != 0) tsr_user_error("%s: cannot open: %s", f, strerror(errno));
  if (S_ISDIR(st.st_mode)) tsr_user_error("%s: cannot open: is a directory (expected a corpus .h5 file)", f);
  FILE *probe = fopen(path, "rb");
  if (!probe) tsr_user_error("%s: cannot open: %s", f, strerror(errno));
  fclose(probe);

  H5Quiet q = h5_quiet_begin();
  if (H5Fis_hdf5(path) <= 0) tsr_user_error("%s: not an HDF5 file (truncated or corrupt?)", f);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 12, 1) || (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7)
  H5Pset_file_locking(fapl, 1, 1);  // read-only: go on where the file system has no locks
#endif
  c->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  if (c->file < 0) tsr_user_error("%s: not an HDF5 file (truncated or corrupt?)", f);

  char fmt[64];
  if (H5Aexists(c->file, "format") <= 0)
    tsr_user_error("%s: attribute /format missing: expected \"%s\" (not a tessera corpus)", f, CORPUS_FORMAT);
  attr_string(f, c->file, "/", "format", fmt, sizeof fmt);
  if (strcmp(fmt, CORPUS_FORMAT))
    tsr_user_error("%s: attribute /format: expected \"%s\", found \"%s\" (not a tessera corpus)", f, CORPUS_FORMAT, fmt);
  int64_t version = attr_int(f, c->file, "/", "version");
  if (version < 1 || version > CORPUS_VERSION)
    tsr_user_error("%s: attribute /version: expected %d (the version this tessera reads), found %lld", f, CORPUS_VERSION,
                   (long long)version);

  // /tokenizer: attributes and vocabulary.
  hid_t tg = open_obj(f, c->file, "/tokenizer", "tokenizer", H5I_GROUP);
  int64_t patch[3], v;
  attr_ints(f, tg, "/tokenizer", "patch", 3, patch);
  for (int i = 0; i < 3; i++)
    if (patch[i] < 1 || patch[i] > 4096)
      tsr_user_error("%s: /tokenizer: attribute 'patch': expected 3 positive sizes (pt, ph, pw), found [%lld, %lld, %lld]",
                     f, (long long)patch[0], (long long)patch[1], (long long)patch[2]);
  c->pt = (int)patch[0], c->ph = (int)patch[1], c->pw = (int)patch[2];
  v = attr_int(f, tg, "/tokenizer", "channels");
  if (v < 1 || v > 4096) tsr_user_error("%s: /tokenizer: attribute 'channels': expected a positive count, found %lld", f, (long long)v);
  c->channels = (int)v;
  v = attr_int(f, tg, "/tokenizer", "text_length");
  if (v < 1 || v > 1 << 20) tsr_user_error("%s: /tokenizer: attribute 'text_length': expected a positive length, found %lld", f, (long long)v);
  c->text_length = (int)v;
  StrDs vocab = open_strings(f, tg, "/tokenizer/vocab", "vocab", -1);
  hsize_t vd[1];
  int64_t any[1] = {-1};
  check_shape(f, "/tokenizer/vocab", vocab.id, 1, any, "(V)", vd);
  if (vd[0] < TOK_FIRST_WORD || vd[0] > 1 << 24)
    tsr_user_error("%s: /tokenizer/vocab: expected at least the 4 special entries, found %llu entries", f, (unsigned long long)vd[0]);
  c->vocab_size = (int)vd[0];
  c->vocab = calloc((size_t)c->vocab_size, sizeof *c->vocab);
  TSR_ASSERT(c->vocab, "out of memory");
  if (read_strings(&vocab, 0, c->vocab_size, c->vocab) < 0) tsr_user_error("%s: /tokenizer/vocab: unreadable (corrupt file?)", f);
  static const char *const specials[TOK_FIRST_WORD] = {"<pad>", "<bos>", "<unk>", "<eos>"};
  for (int i = 0; i < TOK_FIRST_WORD; i++)
    if (strcmp(c->vocab[i], specials[i]))
      tsr_user_error("%s: /tokenizer/vocab: entry %d: expected \"%s\", found \"%.40s\"", f, i, specials[i], c->vocab[i]);
  H5Dclose(vocab.id);
  H5Gclose(tg);

  // /buckets/<T>x<H>x<W>, in name order.
  hid_t gb = open_obj(f, c->file, "/buckets", "buckets", H5I_GROUP);
  H5G_info_t info;
  if (H5Gget_info(gb, &info) < 0) tsr_user_error("%s: /buckets: unreadable (corrupt file?)", f);
  c->nbuckets = (int)info.nlinks;
  c->buckets = calloc((size_t)(c->nbuckets ? c->nbuckets : 1), sizeof *c->buckets);
  c->priv = calloc(1, sizeof *c->priv);
  TSR_ASSERT(c->buckets && c->priv, "out of memory");
  c->priv->b = calloc((size_t)(c->nbuckets ? c->nbuckets : 1), sizeof *c->priv->b);
  TSR_ASSERT(c->priv->b, "out of memory");
  size_t scratch = 0;
  for (int i = 0; i < c->nbuckets; i++) {
    char name[256];
    if (H5Lget_name_by_idx(gb, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)i, name, sizeof name, H5P_DEFAULT) < 0)
      tsr_user_error("%s: /buckets: unreadable (corrupt file?)", f);
    open_bucket(c, gb, name, &c->buckets[i], &c->priv->b[i]);
    size_t clip = (size_t)c->buckets[i].N * (size_t)c->buckets[i].P;
    if (clip > scratch) scratch = clip;
  }
  H5Gclose(gb);
  h5_quiet_end(q);

  c->priv->scratch_cap = scratch;
  c->priv->scratch = malloc(scratch ? scratch : 1);
  TSR_ASSERT(c->priv->scratch, "out of memory");
}

void corpus_close(Corpus *c) {
  if (!c->file) return;
  H5Quiet q = h5_quiet_begin();
  if (c->priv) {
    for (int i = 0; i < c->nbuckets; i++) {
      RBucket *rb = &c->priv->b[i];
      H5Dclose(rb->patches);
      for (int k = 0; k < 2; k++) {
        H5Dclose(rb->caption[k].id);
        H5Dclose(rb->tokens[k]);
        H5Dclose(rb->ntokens[k]);
      }
    }
    free(c->priv->b);
    free(c->priv->scratch);
    free(c->priv);
  }
  H5Fclose(c->file);
  h5_quiet_end(q);
  for (int i = 0; i < c->vocab_size; i++) free(c->vocab[i]);
  free(c->vocab);
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

// Reads a hyperslab [start, start+count) of an n-d dataset into buf (memory type mt).
static int read_slab(hid_t ds, hid_t mt, int nd, const hsize_t *start, const hsize_t *count, void *buf) {
  hid_t fsp = H5Dget_space(ds);
  if (fsp < 0) return -1;
  // The memory space has the selection's shape: a flat one makes HDF5 map
  // element runs one row at a time (measured 100x slower for [1, N, P]).
  hid_t msp = H5Screate_simple(nd, count, NULL);
  int rc = -1;
  if (msp >= 0 && H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
      H5Dread(ds, mt, msp, fsp, H5P_DEFAULT, buf) >= 0)
    rc = 0;
  if (msp >= 0) H5Sclose(msp);
  H5Sclose(fsp);
  return rc;
}

void corpus_read_patches(const Corpus *c, const CorpusBucket *b, int clip, int n0, int n, float *out) {
  TSR_ASSERT(clip >= 0 && clip < b->count && n0 >= 0 && n >= 0 && n0 + n <= b->N,
             "corpus_read_patches: clip %d tokens [%d, %d) outside bucket %s (%d clips, N %d)", clip, n0, n0 + n,
             b->name, b->count, b->N);
  if (n == 0) return;
  RBucket *rb = rbucket(c, b);
  uint8_t *buf = c->priv->scratch;
  hsize_t start[3] = {(hsize_t)clip, (hsize_t)n0, 0}, count[3] = {1, (hsize_t)n, (hsize_t)b->P};
  H5Quiet q = h5_quiet_begin();
  if (read_slab(rb->patches, H5T_NATIVE_UINT8, 3, start, count, buf) < 0)
    tsr_user_error("%s: /buckets/%s/patches: cannot read clip %d (corrupt file?)", c->path, b->name, clip);
  h5_quiet_end(q);
  const size_t m = (size_t)n * (size_t)b->P;
  for (size_t i = 0; i < m; i++) out[i] = (float)buf[i] / 127.5f - 1.0f;  // exact at 0 -> -1 and 255 -> 1; vectorises
}

void corpus_read_tokens(const Corpus *c, const CorpusBucket *b, int clip, int which, int32_t *tokens, int32_t *ntokens) {
  TSR_ASSERT(clip >= 0 && clip < b->count && (which == 0 || which == 1), "corpus_read_tokens: clip %d which %d", clip, which);
  RBucket *rb = rbucket(c, b);
  const int L = c->text_length;
  static const char *const names[2] = {"caption_tokens", "tokens"};
  hsize_t start[2] = {(hsize_t)clip, 0}, count[2] = {1, (hsize_t)L};
  H5Quiet q = h5_quiet_begin();
  int32_t nt = 0;
  if (read_slab(rb->tokens[which], H5T_NATIVE_INT32, 2, start, count, tokens) < 0)
    tsr_user_error("%s: /buckets/%s/%s: cannot read clip %d (corrupt file?)", c->path, b->name, names[which], clip);
  if (read_slab(rb->ntokens[which], H5T_NATIVE_INT32, 1, start, count, &nt) < 0)
    tsr_user_error("%s: /buckets/%s/%s: cannot read clip %d (corrupt file?)", c->path, b->name,
                   which ? "ntokens" : "caption_ntokens", clip);
  h5_quiet_end(q);
  if (nt < 1 || nt > L)
    tsr_user_error("%s: /buckets/%s/%s: clip %d: expected a length in [1, %d], found %d", c->path, b->name,
                   which ? "ntokens" : "caption_ntokens", clip, L, nt);
  for (int i = 0; i < L; i++)
    if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
      tsr_user_error("%s: /buckets/%s/%s: clip %d: token %d is id %d, expected an id in [0, %d) (the vocabulary)",
                     c->path, b->name, names[which], clip, i, tokens[i], c->vocab_size);
  *ntokens = nt;
}

char *corpus_read_caption(const Corpus *c, const CorpusBucket *b, int clip, int which) {
  TSR_ASSERT(clip >= 0 && clip < b->count && (which == 0 || which == 1), "corpus_read_caption: clip %d which %d", clip, which);
  RBucket *rb = rbucket(c, b);
  char *s = NULL;
  H5Quiet q = h5_quiet_begin();
  if (read_strings(&rb->caption[which], clip, 1, &s) < 0)
    tsr_user_error("%s: /buckets/%s/%s: cannot read clip %d (corrupt file?)", c->path, b->name,
                   which ? "recaption" : "caption", clip);
  h5_quiet_end(q);
  return s;
}
