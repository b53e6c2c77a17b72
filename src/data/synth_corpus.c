// Shapes-world corpus writer (synth_corpus.h).
#include "data/synth_corpus.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/timer.h"
#include "data/corpus.h"
#include "data/synth.h"
#include "data/synth_wording.h"

#define CAPTION_MAX 256
#define RECAPTION_MAX 4096
#define OBJ_FIELDS 8  // meta/objects per slot: present, shape, colour, size, motion, depth, vx, vy
#define CHUNK_BYTES (64u << 20)

// One chunk of rendered clips and their ground truth.
typedef struct {
  long n;  // clips a chunk holds
  uint8_t *pixels;
  char *captions, *recaptions;
  float *objects, *positions, *background, *occlusion;
} Chunk;

// Ground truth of one clip as the meta rows of corpus.h5 (datasets/shapes.md).
static void meta_rows(const SynthScene *s, int T, int H, int W, float *objects, float *positions, float *background,
                      float *occlusion) {
  int behind[SYNTH_MAX_OBJECTS];
  synth_occlusions(s, T, H, W, behind);
  for (int i = 0; i < SYNTH_MAX_OBJECTS; i++) {
    float *r = objects + i * OBJ_FIELDS;
    if (i < s->nobjects) {
      const SynthObject *o = &s->obj[i];
      r[0] = 1;
      r[1] = (float)o->shape;
      r[2] = (float)o->colour;
      r[3] = (float)o->size;
      r[4] = (float)o->motion;
      r[5] = (float)o->depth;
      r[6] = o->vx;
      r[7] = o->vy;
    } else {
      r[0] = 0;
      r[1] = r[2] = r[3] = r[4] = r[5] = -1;
      r[6] = r[7] = 0;
    }
    occlusion[i] = (float)behind[i];
  }
  for (int f = 0; f < T; f++)
    for (int i = 0; i < SYNTH_MAX_OBJECTS; i++) {
      float *p = positions + ((size_t)f * SYNTH_MAX_OBJECTS + i) * 2;
      if (i < s->nobjects)
        synth_position(&s->obj[i], f, H, W, &p[0], &p[1]);
      else
        p[0] = p[1] = -1;
    }
  background[0] = (float)s->background;
}

// The chunk's clips [start, start + n) of a T x H x W bucket rendered, then
// added to w in order. Clip c's scene is keyed by (seed, start + c): `start`
// counts on across buckets, so no two buckets share a scene.
static int write_chunk(const SynthOptions *o, int T, int H, int W, CorpusWriter *w, Chunk *k, long start, long n,
                       double *render_s, TsrErr *err) {
  const size_t clip_bytes = (size_t)T * H * W * 3, pos_width = (size_t)T * SYNTH_MAX_OBJECTS * 2;
  double r0 = timer_now();
#pragma omp parallel for schedule(dynamic, 8)
  for (long c = 0; c < n; c++) {
    SynthScene s;
    synth_scene_range(&s, o->seed, (uint64_t)(start + c), T, H, W, o->min_objects, o->max_objects);
    synth_render(&s, T, H, W, k->pixels + (size_t)c * clip_bytes);
    synth_caption_varied(&s, o->seed, (uint64_t)(start + c), o->caption_variety, k->captions + (size_t)c * CAPTION_MAX,
                         CAPTION_MAX);
    synth_recaption(&s, T, H, W, k->recaptions + (size_t)c * RECAPTION_MAX, RECAPTION_MAX);
    meta_rows(&s, T, H, W, k->objects + (size_t)c * SYNTH_MAX_OBJECTS * OBJ_FIELDS, k->positions + (size_t)c * pos_width,
              k->background + c, k->occlusion + (size_t)c * SYNTH_MAX_OBJECTS);
  }
  *render_s += timer_now() - r0;
  for (long c = 0; c < n; c++) {
    CorpusClip clip = {k->pixels + (size_t)c * clip_bytes, k->captions + (size_t)c * CAPTION_MAX,
                       k->recaptions + (size_t)c * RECAPTION_MAX, "synth", o->fps};
    if (corpus_writer_add(w, T, H, W, &clip, err)) return -1;
    corpus_writer_meta(w, T, H, W, "objects", k->objects + (size_t)c * SYNTH_MAX_OBJECTS * OBJ_FIELDS,
                       SYNTH_MAX_OBJECTS * OBJ_FIELDS);
    corpus_writer_meta(w, T, H, W, "positions", k->positions + (size_t)c * pos_width, (int)pos_width);
    corpus_writer_meta(w, T, H, W, "background", k->background + c, 1);
    corpus_writer_meta(w, T, H, W, "occlusion", k->occlusion + (size_t)c * SYNTH_MAX_OBJECTS, SYNTH_MAX_OBJECTS);
  }
  return 0;
}

int synth_write_corpus(const SynthOptions *o, double *render_s, TsrErr *err) {
  double rs = 0;
  if (!render_s) render_s = &rs;
  *render_s = 0;
  const int nb = synth_bucket_count(o);
  size_t clip_bytes = 0, pos_width = 0;  // the largest bucket's
  long most = 0;                         // the most clips of a bucket
  for (int b = 0; b < nb; b++) {
    int T, H, W;
    long n;
    synth_bucket(o, b, &T, &H, &W, &n);
    if ((size_t)T * H * W * 3 > clip_bytes) clip_bytes = (size_t)T * H * W * 3;
    if ((size_t)T * SYNTH_MAX_OBJECTS * 2 > pos_width) pos_width = (size_t)T * SYNTH_MAX_OBJECTS * 2;
    if (n > most) most = n;
  }
  Chunk k;
  k.n = (long)(CHUNK_BYTES / clip_bytes);
  if (k.n < 1) k.n = 1;
  if (k.n > 512) k.n = 512;
  if (k.n > most) k.n = most;
  CorpusWriter *w = corpus_writer_open(o->out, o->pt, o->ph, o->pw, 3, o->text_length, err);
  if (!w) return -1;
  k.pixels = tsr_calloc((size_t)k.n, clip_bytes);
  k.captions = tsr_calloc((size_t)k.n, CAPTION_MAX);
  k.recaptions = tsr_calloc((size_t)k.n, RECAPTION_MAX);
  k.objects = tsr_calloc((size_t)k.n * SYNTH_MAX_OBJECTS * OBJ_FIELDS, sizeof(float));
  k.positions = tsr_calloc((size_t)k.n * pos_width, sizeof(float));
  k.background = tsr_calloc((size_t)k.n, sizeof(float));
  k.occlusion = tsr_calloc((size_t)k.n * SYNTH_MAX_OBJECTS, sizeof(float));
  int rc = 0;
  long base = 0;  // clips of the buckets before this one
  for (int b = 0; b < nb && rc == 0; b++) {
    int T, H, W;
    long n;
    synth_bucket(o, b, &T, &H, &W, &n);
    for (long start = 0; start < n && rc == 0; start += k.n)
      rc = write_chunk(o, T, H, W, w, &k, base + start, n - start < k.n ? n - start : k.n, render_s, err);
    base += n;
  }
  if (rc) corpus_writer_abort(w);
  else rc = corpus_writer_close(w, err);
  tsr_free(k.pixels);
  tsr_free(k.captions);
  tsr_free(k.recaptions);
  tsr_free(k.objects);
  tsr_free(k.positions);
  tsr_free(k.background);
  tsr_free(k.occlusion);
  return rc;
}
