#include "train/vae_clips.h"

#include <stdlib.h>
#include <string.h>

#include "data/corpus.h"
#include "data/synth.h"

struct VaeClips {
  int T, H, W, C, batch, dp_rank, dp_size;
  uint64_t seed;
  Corpus corpus;  // file == 0: synthetic clips
  const CorpusBucket *bucket;
  Loader *loader;
  float *patches;     // [batch, N, P]
  int32_t *tokens, *ntokens;
  LoaderCursor synth_at;
};

static int is_synth(const char *path) { return !path || !path[0] || !strcmp(path, "synth"); }

VaeClips *vae_clips_open(const char *path, int *T, int *H, int *W, int batch, int dp_rank, int dp_size, uint64_t seed,
                         TsrErr *err) {
  VaeClips *c = calloc(1, sizeof *c);
  c->batch = batch, c->dp_rank = dp_rank, c->dp_size = dp_size, c->seed = seed, c->C = 3;
  if (is_synth(path)) {
    c->T = *T > 0 ? *T : 5, c->H = *H > 0 ? *H : 16, c->W = *W > 0 ? *W : 16;
  } else {
    if (corpus_open(&c->corpus, path, err)) goto fail;
    c->bucket = *T > 0 ? corpus_bucket(&c->corpus, *T, *H, *W) : &c->corpus.buckets[0];
    if (!c->bucket) {
      tsr_err(err, "%s: buckets: expected a bucket %dx%dx%d (clip.frames x clip.height x clip.width), found none", path, *T,
              *H, *W);
      goto fail;
    }
    c->T = c->bucket->T, c->H = c->bucket->H, c->W = c->bucket->W, c->C = c->corpus.channels;
    if (batch > 0) {
      LoaderOptions o = {.dp_rank = dp_rank, .dp_size = dp_size, .sp_rank = 0, .sp_size = 1, .batch = batch, .seed = seed,
                         .text_length = c->corpus.text_length, .T = c->T, .H = c->H, .W = c->W};
      if (!(c->loader = loader_open(path, &o, c->corpus.pt, c->corpus.ph, c->corpus.pw, c->C, err))) goto fail;
      c->patches = malloc((size_t)batch * c->bucket->N * c->bucket->P * sizeof(float));
      c->tokens = malloc((size_t)batch * c->corpus.text_length * sizeof(int32_t));
      c->ntokens = malloc((size_t)batch * sizeof(int32_t));
    }
  }
  *T = c->T, *H = c->H, *W = c->W;
  return c;
fail:
  vae_clips_close(c);
  return NULL;
}

int vae_clips_channels(const VaeClips *c) { return c->C; }
int vae_clips_count(const VaeClips *c) { return c->bucket ? c->bucket->count : -1; }

// Patches [N, P] of one clip (tokens in (t,h,w) order, a patch vector
// (pt,ph,pw,C)) back into frames [T,H,W,C].
static void unpatch(const VaeClips *c, const float *p, float *clip) {
  const int pt = c->corpus.pt, ph = c->corpus.ph, pw = c->corpus.pw, C = c->C;
  const int nh = c->H / ph, nw = c->W / pw;
  for (int t = 0; t < c->T; t++)
    for (int y = 0; y < c->H; y++)
      for (int x = 0; x < c->W; x++) {
        const size_t tok = ((size_t)(t / pt) * nh + y / ph) * nw + x / pw;
        const size_t in = (((size_t)(t % pt) * ph + y % ph) * pw + x % pw) * C;
        memcpy(clip + (((size_t)t * c->H + y) * c->W + x) * C, p + tok * c->bucket->P + in, C * sizeof(float));
      }
}

static void synth_clip(const VaeClips *c, uint64_t index, float *clip) {
  SynthScene s;
  const size_t n = (size_t)c->T * c->H * c->W * 3;
  uint8_t *px = malloc(n);
  synth_scene(&s, c->seed, index, c->T, c->H, c->W);
  synth_render(&s, c->T, c->H, c->W, px);
  for (size_t i = 0; i < n; i++) clip[i] = px[i] / 127.5f - 1.0f;
  free(px);
}

int vae_clips_next(VaeClips *c, float *clips, TsrErr *err) {
  const size_t clip_n = (size_t)c->T * c->H * c->W * c->C;
  if (!c->loader) {
    const uint64_t first = (c->synth_at.batches * (uint64_t)c->dp_size + (uint64_t)c->dp_rank) * (uint64_t)c->batch;
    for (int b = 0; b < c->batch; b++) synth_clip(c, first + (uint64_t)b, clips + b * clip_n);
    c->synth_at.batches++;
    return 0;
  }
  if (loader_next(c->loader, c->patches, c->tokens, c->ntokens, NULL, err)) return -1;
  for (int b = 0; b < c->batch; b++) unpatch(c, c->patches + (size_t)b * c->bucket->N * c->bucket->P, clips + b * clip_n);
  return 0;
}

int vae_clips_read(VaeClips *c, int i, float *clip, TsrErr *err) {
  if (!c->bucket) {
    synth_clip(c, (uint64_t)i, clip);
    return 0;
  }
  float *p = malloc((size_t)c->bucket->N * c->bucket->P * sizeof(float));
  int rc = corpus_read_patches(&c->corpus, c->bucket, i, 0, c->bucket->N, p, err);
  if (!rc) unpatch(c, p, clip);
  free(p);
  return rc;
}

LoaderCursor vae_clips_cursor(const VaeClips *c) {
  if (!c->loader) return c->synth_at;
  LoaderCursor at = loader_cursor(c->loader);
  at.position *= (uint64_t)c->dp_size;  // every rank has taken `position` clips of its shard
  return at;
}

void vae_clips_seek(VaeClips *c, LoaderCursor at) {
  if (!c->loader) {
    c->synth_at = at;
    return;
  }
  at.position /= (uint64_t)c->dp_size;
  loader_seek(c->loader, at);
}

void vae_clips_close(VaeClips *c) {
  if (!c) return;
  if (c->loader) loader_close(c->loader);
  corpus_close(&c->corpus);
  free(c->patches);
  free(c->tokens);
  free(c->ntokens);
  free(c);
}
