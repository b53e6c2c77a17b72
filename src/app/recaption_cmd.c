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

#include "app/app_error.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "app/commands.h"
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


// Pixels of clip i: patches [N, P] in [-1,1] -> uint8 [T,H,W,C] (v = round((x+1)*127.5)).
static int clip_pixels(const Corpus *c, const CorpusBucket *b, int i, float *patches, uint8_t *px, TsrErr *err) {
  if (corpus_read_patches(c, b, i, 0, b->N, patches, err)) return -1;
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
            if (t >= b->T) continue;  // an image's still patch: its first frame is the image
            px[(((size_t)t * b->H + yy) * b->W + xx) * C + ch] = (uint8_t)q;
          }
  }
  return 0;
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
      if (i + 1 >= argc || !argv[i + 1][0]) app_user_error("data recaption: --out: expected a file name after it");
      out = argv[++i];
    } else if (!strncmp(a, "--out=", 6)) {
      if (!a[6]) app_user_error("data recaption: --out: expected a file name");
      out = a + 6;
    } else if (!strncmp(a, "--", 2)) {
      app_user_error("data recaption: unknown option '%s' (see tessera data recaption --help)", a);
    } else if (in) {
      app_user_error("data recaption: unexpected argument '%s' (one corpus at a time)", a);
    } else {
      in = a;
    }
  }
  if (!in) {
    usage(stderr);
    return 2;
  }
  if (!out) out = in;
  TsrErr err;
  APP_TRY(corpus_writer_check_path(out, &err), &err);
  const double t0 = timer_now();
  Corpus c;
  APP_TRY(corpus_open(&c, in, &err), &err);
  if (c.channels != 3 && c.channels != 1) {
    tsr_err(&err, "%s: /tokenizer attribute 'channels' is %d: recaption measures RGB (3) or gray (1) clips", in,
            c.channels);
    app_fail(&err);
  }

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
      APP_TRY(clip_pixels(&c, b, i, patches, pixels, &err), &err);
      const uint8_t *m = pixels;
      if (c.channels == 1) {  // gray: replicate to RGB for the measurement
        for (size_t k = 0; k < npx; k++) rgb[3 * k] = rgb[3 * k + 1] = rgb[3 * k + 2] = pixels[k];
        m = rgb;
      }
      ClipAttributes a;
      recaption_measure(m, b->T, b->H, b->W, &a);
      char *caption = corpus_read_caption(&c, b, i, 0, &err);
      if (!caption) app_fail(&err);
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
  CorpusWriter *w = corpus_writer_open(out, c.pt, c.ph, c.pw, c.channels, c.text_length, &err);
  if (!w) app_fail(&err);
  if (c.vocab_size > 4096) corpus_writer_set_vocab(w, c.vocab_size);
  int dropped_empty = 0;
  for (int bi = 0; bi < c.nbuckets; bi++) {
    const CorpusBucket *b = &c.buckets[bi];
    if (b->count == 0) {
      dropped_empty++;
      continue;
    }
    // meta/fps goes into each clip's fps; the other numeric meta/ columns are copied as they are.
    const int nmeta = corpus_meta_count(&c, b);
    float **meta = calloc((size_t)(nmeta ? nmeta : 1), sizeof *meta), *fps = NULL;
    TSR_ASSERT(meta, "out of memory");
    for (int k = 0; k < nmeta; k++) {
      int width;
      const char *name = corpus_meta_name(&c, b, k, &width);
      meta[k] = malloc(sizeof(float) * (size_t)b->count * (size_t)width);
      TSR_ASSERT(meta[k], "out of memory");
      if (corpus_read_meta(&c, b, k, meta[k], &err)) goto fail;
      if (!strcmp(name, "fps") && width == 1) fps = meta[k];
    }
    for (int i = 0; i < b->count; i++) {
      if (clip_pixels(&c, b, i, patches, pixels, &err)) goto fail;
      char *caption = corpus_read_caption(&c, b, i, CORPUS_CAPTION, &err), *source = NULL;
      if (!caption || !(source = corpus_read_caption(&c, b, i, CORPUS_SOURCE, &err))) goto fail;
      CorpusClip cc = {.pixels = pixels, .caption = caption, .recaption = recaps[bi][i],
                       .source = source, .fps = fps ? fps[i] : 0.0f};
      if (corpus_writer_add(w, b->T, b->H, b->W, &cc, &err)) goto fail;
      for (int k = 0; k < nmeta; k++) {
        int width;
        const char *name = corpus_meta_name(&c, b, k, &width);
        if (meta[k] != fps) corpus_writer_meta(w, b->T, b->H, b->W, name, meta[k] + (size_t)i * width, width);
      }
      free(caption);
      free(source);
      free(recaps[bi][i]);
    }
    for (int k = 0; k < nmeta; k++) free(meta[k]);
    free(meta);
    free(recaps[bi]);
  }
  free(recaps);
  free(patches);
  free(pixels);
  const int nb = c.nbuckets;
  corpus_close(&c);  // before the rename: `out` may be `in`
  APP_TRY(corpus_writer_close(w, &err), &err);
  if (dropped_empty) log_info("  note: %d empty bucket%s not copied", dropped_empty, dropped_empty == 1 ? "" : "s");
  log_info("recaptioned %ld clip%s in %d bucket%s -> %s (%.2f s)", total, total == 1 ? "" : "s", nb - dropped_empty,
           nb - dropped_empty == 1 ? "" : "s", out, timer_now() - t0);
  return 0;
fail:  // the corpus is left as it was: the new one's .tmp is removed
  corpus_writer_abort(w);
  corpus_close(&c);
  app_fail(&err);
}
