// `tessera data recaption F [--out G]`: rewrites the descriptive captions of
// a corpus from measured attributes of its pixels (datasets/ingest.md).
//
// Pass 1 reads every clip (patches of all tokens -> uint8 pixels), measures
// it and composes the new recaption from the clip's short caption; nothing is
// written yet, so a damaged corpus fails before any file is created. Pass 2
// copies patches, short captions, meta/source, meta/fps and the other numeric
// meta/ datasets (as float32 [n, width]) with the new recaptions into a new
// corpus through the CorpusWriter (G.tmp, renamed to G; G defaults to F, so F
// is replaced atomically). The tokenizer is rebuilt from the new texts.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/h5io.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/commands.h"
#include "data/corpus.h"
#include "data/recaption.h"

enum { RECAPTION_MAX = 4096 };

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera data recaption FILE [--out OUT]\n"
          "Measures every clip of the corpus FILE (colours, brightness, motion, camera pan,\n"
          "scene cuts) and rewrites its descriptive recaption from the short caption and those\n"
          "attributes (datasets/ingest.md). Patches, captions, meta/source, meta/fps and the\n"
          "numeric meta/ datasets are kept; the tokenizer is rebuilt.\n"
          "  --out OUT   write the new corpus to OUT (default: replace FILE, via FILE.tmp + rename)\n");
}


// A whole 1-d string dataset of n entries (variable or fixed length) -> malloc'ed copies.
static char **read_all_strings(const Corpus *c, const char *item, int n) {
  char **out = calloc((size_t)(n ? n : 1), sizeof *out);
  TSR_ASSERT(out, "out of memory");
  if (n == 0) return out;
  H5Quiet q = h5_quiet_begin();
  hid_t ds = H5Dopen2(c->file, item, H5P_DEFAULT);
  if (ds < 0) tsr_user_error("%s: %s: cannot open (corrupt file?)", c->path, item);
  hid_t ft = H5Dget_type(ds), sp = H5Dget_space(ds);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  if (H5Tget_class(ft) != H5T_STRING || np != n)
    tsr_user_error("%s: %s: expected %d strings (one per clip)", c->path, item, n);
  hid_t mt = H5Tcopy(H5T_C_S1);
  H5Tset_cset(mt, H5Tget_cset(ft));
  if (H5Tis_variable_str(ft) > 0) {
    H5Tset_size(mt, H5T_VARIABLE);
    char **tmp = calloc((size_t)n, sizeof *tmp);
    TSR_ASSERT(tmp, "out of memory");
    if (H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0)
      tsr_user_error("%s: %s: unreadable (corrupt file?)", c->path, item);
    for (int i = 0; i < n; i++) out[i] = strdup(tmp[i] ? tmp[i] : "");
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(mt, sp, H5P_DEFAULT, tmp);
#else
    H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, tmp);
#endif
    free(tmp);
  } else {
    size_t size = H5Tget_size(ft);
    H5Tset_size(mt, size);
    H5Tset_strpad(mt, H5T_STR_NULLPAD);
    char *buf = calloc((size_t)n, size);
    TSR_ASSERT(buf, "out of memory");
    if (H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
      tsr_user_error("%s: %s: unreadable (corrupt file?)", c->path, item);
    for (int i = 0; i < n; i++) {
      out[i] = calloc(1, size + 1);
      TSR_ASSERT(out[i], "out of memory");
      memcpy(out[i], buf + (size_t)i * size, size);
    }
    free(buf);
  }
  for (int i = 0; i < n; i++) TSR_ASSERT(out[i], "out of memory");
  H5Tclose(mt);
  H5Tclose(ft);
  H5Sclose(sp);
  H5Dclose(ds);
  h5_quiet_end(q);
  return out;
}

typedef struct {
  char name[256];
  int width;
  float *rows;  // [n, width]
} Meta;

// Numeric meta/ datasets of a bucket other than source and fps; others are dropped (with a note).
static Meta *read_meta(const Corpus *c, const CorpusBucket *b, int *count) {
  *count = 0;
  char group[300];
  snprintf(group, sizeof group, "/buckets/%s/meta", b->name);
  H5Quiet q = h5_quiet_begin();
  Meta *m = NULL;
  if (H5Lexists(c->file, "/buckets", H5P_DEFAULT) <= 0 || H5Lexists(c->file, group, H5P_DEFAULT) <= 0) {
    h5_quiet_end(q);
    return NULL;
  }
  hid_t g = H5Gopen2(c->file, group, H5P_DEFAULT);
  H5G_info_t info;
  if (g < 0 || H5Gget_info(g, &info) < 0) tsr_user_error("%s: %s: unreadable (corrupt file?)", c->path, group);
  m = calloc(info.nlinks ? info.nlinks : 1, sizeof *m);
  TSR_ASSERT(m, "out of memory");
  for (hsize_t i = 0; i < info.nlinks; i++) {
    char name[256];
    if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0)
      tsr_user_error("%s: %s: unreadable (corrupt file?)", c->path, group);
    if (!strcmp(name, "source") || !strcmp(name, "fps")) continue;
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
    if (ds < 0) {
      log_info("  note: %s/%s is not a dataset; not copied", group, name);
      continue;
    }
    hid_t t = H5Dget_type(ds), sp = H5Dget_space(ds);
    H5T_class_t cls = H5Tget_class(t);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t d[H5S_MAX_RANK];
    if (nd > 0) H5Sget_simple_extent_dims(sp, d, NULL);
    if ((cls != H5T_FLOAT && cls != H5T_INTEGER) || nd < 1 || d[0] != (hsize_t)b->count) {
      log_info("  note: %s/%s is not numeric with one row per clip; not copied", group, name);
    } else {
      hsize_t width = 1;
      for (int k = 1; k < nd; k++) width *= d[k];
      Meta *e = &m[*count];
      snprintf(e->name, sizeof e->name, "%s", name);
      e->width = (int)(width ? width : 1);
      e->rows = malloc(sizeof(float) * (size_t)b->count * e->width + 1);
      TSR_ASSERT(e->rows, "out of memory");
      if (width && b->count && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, e->rows) < 0)
        tsr_user_error("%s: %s/%s: unreadable (corrupt file?)", c->path, group, name);
      if (width) (*count)++;
      else free(e->rows);
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(ds);
  }
  H5Gclose(g);
  h5_quiet_end(q);
  return m;
}

// Pixels of clip i: patches [N, P] in [-1,1] -> uint8 [T,H,W,C] (v = round((x+1)*127.5)).
static void clip_pixels(const Corpus *c, const CorpusBucket *b, int i, float *patches, uint8_t *px) {
  corpus_read_patches(c, b, i, 0, b->N, patches);
  const int C = c->channels, nh = b->H / c->ph, nw = b->W / c->pw;
  for (int n = 0; n < b->N; n++) {
    const int tt = n / (nh * nw), hh = (n / nw) % nh, ww = n % nw;
    const float *p = patches + (size_t)n * b->P;
    for (int a = 0; a < c->pt; a++)
      for (int y = 0; y < c->ph; y++)
        for (int x = 0; x < c->pw; x++)
          for (int ch = 0; ch < C; ch++) {
            float v = (*p++ + 1.0f) * 127.5f + 0.5f;
            int q = (int)v;
            q = q < 0 ? 0 : q > 255 ? 255 : q;
            int t = tt * c->pt + a, yy = hh * c->ph + y, xx = ww * c->pw + x;
            px[(((size_t)t * b->H + yy) * b->W + xx) * C + ch] = (uint8_t)q;
          }
  }
}

int data_cmd_recaption(int argc, char **argv) {
  const char *in = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--out")) {
      if (i + 1 >= argc || !argv[i + 1][0]) tsr_user_error("data recaption: --out: expected a file name after it");
      out = argv[++i];
    } else if (!strncmp(a, "--out=", 6)) {
      if (!a[6]) tsr_user_error("data recaption: --out: expected a file name");
      out = a + 6;
    } else if (!strncmp(a, "--", 2)) {
      tsr_user_error("data recaption: unknown option '%s' (see tessera data recaption --help)", a);
    } else if (in) {
      tsr_user_error("data recaption: unexpected argument '%s' (one corpus at a time)", a);
    } else {
      in = a;
    }
  }
  if (!in) {
    usage(stderr);
    return 2;
  }
  if (!out) out = in;
  const double t0 = timer_now();
  Corpus c;
  corpus_open(&c, in);
  if (c.channels != 3 && c.channels != 1)
    tsr_user_error("%s: /tokenizer attribute 'channels' is %d: recaption measures RGB (3) or gray (1) clips", in,
                   c.channels);

  // pass 1: measure everything, compose the recaptions
  char ***recaps = calloc((size_t)(c.nbuckets ? c.nbuckets : 1), sizeof *recaps);
  TSR_ASSERT(recaps, "out of memory");
  size_t max_px = 0, max_p = 0;
  for (int bi = 0; bi < c.nbuckets; bi++) {
    const CorpusBucket *b = &c.buckets[bi];
    size_t px = (size_t)b->T * b->H * b->W * 3, pp = (size_t)b->N * b->P;
    if (px > max_px) max_px = px;
    if (pp > max_p) max_p = pp;
  }
  float *patches = malloc(sizeof(float) * (max_p ? max_p : 1));
  uint8_t *pixels = malloc(max_px ? max_px : 1), *rgb = malloc(max_px ? max_px : 1);
  char *buf = malloc(RECAPTION_MAX);
  TSR_ASSERT(patches && pixels && rgb && buf, "out of memory");
  long total = 0;
  for (int bi = 0; bi < c.nbuckets; bi++) {
    const CorpusBucket *b = &c.buckets[bi];
    recaps[bi] = calloc((size_t)(b->count ? b->count : 1), sizeof(char *));
    TSR_ASSERT(recaps[bi], "out of memory");
    const size_t npx = (size_t)b->T * b->H * b->W;
    for (int i = 0; i < b->count; i++) {
      clip_pixels(&c, b, i, patches, pixels);
      const uint8_t *m = pixels;
      if (c.channels == 1) {  // gray: replicate to RGB for the measurement
        for (size_t k = 0; k < npx; k++) rgb[3 * k] = rgb[3 * k + 1] = rgb[3 * k + 2] = pixels[k];
        m = rgb;
      }
      ClipAttributes a;
      recaption_measure(m, b->T, b->H, b->W, &a);
      char *caption = corpus_read_caption(&c, b, i, 0);
      recaption_compose(caption, &a, buf, RECAPTION_MAX);
      free(caption);
      recaps[bi][i] = strdup(buf);
      TSR_ASSERT(recaps[bi][i], "out of memory");
      total++;
    }
  }
  free(rgb);
  free(buf);

  // pass 2: copy into the new corpus
  CorpusWriter *w = corpus_writer_open(out, c.pt, c.ph, c.pw, c.channels, c.text_length);
  if (c.vocab_size > 4096) corpus_writer_set_vocab(w, c.vocab_size);
  int dropped_empty = 0;
  for (int bi = 0; bi < c.nbuckets; bi++) {
    const CorpusBucket *b = &c.buckets[bi];
    if (b->count == 0) {
      dropped_empty++;
      continue;
    }
    char item[300];
    snprintf(item, sizeof item, "/buckets/%s/meta/source", b->name);
    char **source = NULL;
    H5Quiet q = h5_quiet_begin();
    int has_source = H5Lexists(c.file, "/buckets", H5P_DEFAULT) > 0 && H5Lexists(c.file, item, H5P_DEFAULT) > 0;
    h5_quiet_end(q);
    if (has_source) source = read_all_strings(&c, item, b->count);
    float *fps = calloc((size_t)b->count, sizeof *fps);
    TSR_ASSERT(fps, "out of memory");
    snprintf(item, sizeof item, "/buckets/%s/meta/fps", b->name);
    q = h5_quiet_begin();
    int has_fps = H5Lexists(c.file, item, H5P_DEFAULT) > 0;
    if (has_fps) {
      hid_t ds = H5Dopen2(c.file, item, H5P_DEFAULT);
      hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
      if (ds < 0 || sp < 0 || H5Sget_simple_extent_npoints(sp) != b->count ||
          H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, fps) < 0)
        tsr_user_error("%s: %s: expected %d numbers (one per clip)", in, item, b->count);
      H5Sclose(sp);
      H5Dclose(ds);
    }
    h5_quiet_end(q);
    int nmeta = 0;
    Meta *meta = read_meta(&c, b, &nmeta);
    for (int i = 0; i < b->count; i++) {
      clip_pixels(&c, b, i, patches, pixels);
      char *caption = corpus_read_caption(&c, b, i, 0);
      CorpusClip cc = {.pixels = pixels, .caption = caption, .recaption = recaps[bi][i],
                       .source = source ? source[i] : "", .fps = fps[i]};
      corpus_writer_add(w, b->T, b->H, b->W, &cc);
      for (int k = 0; k < nmeta; k++)
        corpus_writer_meta(w, b->T, b->H, b->W, meta[k].name, meta[k].rows + (size_t)i * meta[k].width, meta[k].width);
      free(caption);
      free(recaps[bi][i]);
    }
    for (int k = 0; k < nmeta; k++) free(meta[k].rows);
    free(meta);
    if (source)
      for (int i = 0; i < b->count; i++) free(source[i]);
    free(source);
    free(fps);
    free(recaps[bi]);
  }
  free(recaps);
  free(patches);
  free(pixels);
  const int nb = c.nbuckets;
  corpus_close(&c);  // before the rename: `out` may be `in`
  corpus_writer_close(w);
  if (dropped_empty) log_info("  note: %d empty bucket%s not copied", dropped_empty, dropped_empty == 1 ? "" : "s");
  log_info("recaptioned %ld clip%s in %d bucket%s -> %s (%.2f s)", total, total == 1 ? "" : "s", nb - dropped_empty,
           nb - dropped_empty == 1 ? "" : "s", out, timer_now() - t0);
  return 0;
}
