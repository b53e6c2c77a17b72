#include "infer/latent_codec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/h5io.h"
#include "core/sha256.h"
#include "kernels/backend.h"
#include "kernels/ops.h"
#include "latent/latent_space.h"
#include "vae/vae.h"
#include "vae/vae_ckpt.h"

// Inputs are encoded and the canvas decoded chunk by chunk (vae.h's causal
// cache), so memory does not grow with the video's length: chunks of this
// many latent frames (ct of them pixel frames each).
enum { LATENT_CHUNK = 2 };

struct LatentCodec {
  Vae v;
  LatentSpace ls;
  int H, W;  // the VAE's chunked arena is laid out for frames of H x W (0: none yet)
};

int latent_codec_open(LatentCodec **out, const ModelConfig *m, const char *latent_space, const char *ckpt, TsrErr *err) {
  *out = NULL;
  if (!m->vae[0]) return 0;
  LatentSpace ls;
  if (!latent_space || !latent_space[0])
    return tsr_err(err, "%s: model.vae is %s but the checkpoint has no attribute latent_space (the latent statistics it "
                   "was trained with): expected a checkpoint of a latent-corpus run", ckpt, m->vae);
  if (latent_space_parse(latent_space, ckpt, &ls, err)) return -1;
  VaeConfig cfg;
  h5_lock();
  int rc = vae_ckpt_read_config(m->vae, &cfg, err);
  h5_unlock();
  if (rc) return tsr_err_prefix(err, "%s: model.vae: ", ckpt);
  char sha[65];
  if (sha256_file(m->vae, sha, NULL)) return tsr_err(err, "%s: model.vae: %s: cannot read: %s", ckpt, m->vae, strerror(errno));
  if (strcmp(sha, ls.vae_sha256))
    return tsr_err(err, "%s: model.vae: %s has SHA-256 %.12s..., but the model was trained in the latent space of %.12s... "
                   "(another VAE)", ckpt, m->vae, sha, ls.vae_sha256);
  if (cfg.latent_channels != m->channels || ls.channels != m->channels || cfg.ct != ls.ct || cfg.cs != ls.cs ||
      cfg.in_channels != 3)
    return tsr_err(err, "%s: model.vae: %s has %d latent channels, compression %dx%d and %d pixel channels; expected %d, "
                   "%dx%d and 3 (the checkpoint's latent space)", ckpt, m->vae, cfg.latent_channels, cfg.ct, cfg.cs,
                   cfg.in_channels, m->channels, ls.ct, ls.cs);
  LatentCodec *lc = calloc(1, sizeof *lc);
  TSR_ASSERT(lc, "out of memory");
  lc->ls = ls;
  vae_build(&lc->v, &cfg, backend_cpu());
  h5_lock();
  rc = vae_ckpt_load(m->vae, &lc->v, NULL, NULL, err);
  h5_unlock();
  if (rc) {
    latent_codec_free(lc);
    return tsr_err_prefix(err, "%s: model.vae: ", ckpt);
  }
  *out = lc;
  return 0;
}

LatentCodec *latent_codec_new(const VaeConfig *cfg, const LatentSpace *ls, uint64_t seed) {
  LatentCodec *lc = calloc(1, sizeof *lc);
  TSR_ASSERT(lc, "out of memory");
  lc->ls = *ls;
  vae_build(&lc->v, cfg, backend_cpu());
  params_init(&lc->v.params, seed);
  return lc;
}

void latent_codec_free(LatentCodec *lc) {
  if (!lc) return;
  vae_free(&lc->v);
  free(lc);
}

const ModelConfig *latent_codec_pixels(const LatentCodec *lc, const ModelConfig *m, ModelConfig *pix) {
  if (!lc) return m;
  *pix = *m;
  pix->frames = 1 + (m->frames - 1) * lc->ls.ct;
  pix->height = m->height * lc->ls.cs, pix->width = m->width * lc->ls.cs, pix->channels = 3;
  return pix;
}

int latent_codec_grid(const LatentCodec *lc, int T, int H, int W, int *t, int *h, int *w, TsrErr *err) {
  if (!lc) return *t = T, *h = H, *w = W, 0;
  const int ct = lc->ls.ct, cs = lc->ls.cs;
  if (T < 1 || (T - 1) % ct || H % cs || W % cs)
    return tsr_err(err, "a latent model makes 1 + a multiple of %d frames of sizes a multiple of %d (its VAE's "
                   "compression %dx%dx%d), not %d frames of %dx%d", ct, cs, ct, cs, cs, T, H, W);
  *t = 1 + (T - 1) / ct, *h = H / cs, *w = W / cs;
  return 0;
}

// The VAE laid out for chunks of frames of H x W (re-laid out when they change).
static void layout(LatentCodec *lc, int H, int W) {
  if (lc->H == H && lc->W == W) return;
  TsrErr err = {0};
  TSR_ASSERT(vae_alloc_chunked(&lc->v, 1, LATENT_CHUNK, H, W, VAE_CHUNK_ENCODE | VAE_CHUNK_DECODE, &err) == 0,
             "latent codec: %s", err.msg);
  lc->H = H, lc->W = W;
}

static uint8_t to_u8(float x) {  // as generate.c turns pixel-model samples into frames
  const float v = (x + 1.0f) * 127.5f;
  return (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v + 0.5f);
}

// Normalised latent frames [t, h, w, Z] -> the pixel frames they decode to,
// chunk by chunk; only pixel frames [from, from + n) are written to frames.
static void decode_frames(LatentCodec *lc, const float *z, int t, int h, int w, int from, int n, uint8_t *frames) {
  const int Z = lc->ls.channels, ct = lc->ls.ct, H = h * lc->ls.cs, W = w * lc->ls.cs;
  const size_t lat_f = (size_t)h * w * Z, px_f = (size_t)H * W * 3;
  float *zc = malloc((size_t)LATENT_CHUNK * lat_f * sizeof(float));
  float *y = malloc((size_t)LATENT_CHUNK * ct * px_f * sizeof(float));
  TSR_ASSERT(zc && y, "out of memory");
  layout(lc, H, W);
  vae_chunk_reset(&lc->v);
  for (int t0 = 0, f0 = 0; t0 < t && f0 < from + n;) {
    const int k = t0 == 0 ? 1 : (t - t0 < LATENT_CHUNK ? t - t0 : LATENT_CHUNK);
    for (size_t i = 0; i < (size_t)k * lat_f; i++)  // de-normalise
      zc[i] = z[(size_t)t0 * lat_f + i] * lc->ls.std[i % Z] + lc->ls.mean[i % Z];
    const int F = vae_decode_chunk(&lc->v, zc, t0, k, y);
    for (int f = 0; f < F; f++)
      if (f0 + f >= from && f0 + f < from + n)
        for (size_t i = 0; i < px_f; i++) frames[(size_t)(f0 + f - from) * px_f + i] = to_u8(y[(size_t)f * px_f + i]);
    t0 += k, f0 += F;
  }
  free(zc), free(y);
}

void latent_codec_decode(LatentCodec *lc, const ModelConfig *m, const float *patches, uint8_t *frames) {
  const size_t nz = (size_t)m->frames * m->height * m->width * m->channels;
  float *z = malloc(nz * sizeof(float));
  TSR_ASSERT(z, "out of memory");
  unpatchify(z, patches, 1, m->frames, m->height, m->width, m->channels, m->pt, m->ph, m->pw);
  decode_frames(lc, z, m->frames, m->height, m->width, 0, 1 + (m->frames - 1) * lc->ls.ct, frames);
  free(z);
}

int latent_codec_encode_frames(LatentCodec *lc, const uint8_t *frames, int n, int H, int W, float *latent) {
  const int cs = lc->ls.cs, ct = lc->ls.ct, Z = lc->ls.channels;
  const int T = 1 + (n - 1) / ct * ct;  // the causal VAE's whole latent frames
  const size_t px_f = (size_t)H * W * 3, lat_f = (size_t)(H / cs) * (W / cs) * Z;
  float *x = malloc((size_t)LATENT_CHUNK * ct * px_f * sizeof(float));
  TSR_ASSERT(x, "out of memory");
  layout(lc, H, W);  // an image is a one-frame video: the first latent frame
  vae_chunk_reset(&lc->v);
  int t = 0;
  for (int f0 = 0; f0 < T;) {
    const int k = f0 == 0 ? 1 : (T - f0 < LATENT_CHUNK * ct ? T - f0 : LATENT_CHUNK * ct);
    for (size_t i = 0; i < (size_t)k * px_f; i++) x[i] = (float)frames[(size_t)f0 * px_f + i] / 127.5f - 1.0f;
    float *z = latent + (size_t)t * lat_f;
    const int dt = vae_encode_chunk(&lc->v, x, f0, k, z);
    for (size_t i = 0; i < (size_t)dt * lat_f; i++) z[i] = (z[i] - lc->ls.mean[i % Z]) / lc->ls.std[i % Z];
    t += dt, f0 += k;
  }
  free(x);
  return t;
}

// ---- Edits and long videos in latent space (docs/vae.md "Edits and long
// videos in latent space"): the pixel request as one over latent frames, run
// on generate.c's canvas, decoded once, the given pixel frames copied back.

static void latents_to_patches(const ModelConfig *c, const uint8_t *frames, float *video, float *patches) {
  (void)video;
  patchify(patches, (const float *)(const void *)frames, 1, c->frames, c->height, c->width, c->channels, c->pt, c->ph,
           c->pw);
}
static void patches_to_latents(const ModelConfig *c, const float *patches, float *video, uint8_t *frames) {
  (void)video;
  unpatchify((float *)(void *)frames, patches, 1, c->frames, c->height, c->width, c->channels, c->pt, c->ph, c->pw);
}

// Where the pixel output lies: the latent canvas's frames [0, t) decode to
// 1 + (t-1) ct pixel frames; `head` of them at the start and `tail` at the end
// are the given inputs (copied back exactly), the rest made.
typedef struct {
  GenerateRequest lr;  // the request in latent frames (inputs not yet encoded)
  int head, tail;      // given pixel frames at the output's start / end (remix: none)
  int t;               // latent frames decoded (after generate_canvas)
  int from, n;         // the output: decoded pixel frames [from, from + n)
} LatentPlan;

#define FAIL(...) (snprintf(err, (size_t)errlen, __VA_ARGS__), -1)

static int video_frames_ok(int n, int ct, const char *what, char *err, int errlen) {
  if (n > 1 && (n - 1) % ct)
    return FAIL("%s of %d frames: a latent model's inputs are 1 + a multiple of %d frames (its VAE's temporal "
                "compression)", what, n, ct);
  return 0;
}

static int latent_plan(const LatentCodec *lc, const ModelConfig *c, const GenerateRequest *r, LatentPlan *p, char *err,
                       int errlen) {
  const int ct = lc->ls.ct;
  memset(p, 0, sizeof *p);
  GenerateRequest *lr = &p->lr;
  *lr = *r;
  lr->new_only = 0;  // (first, last, remix still point at pixels: latent_generate_video puts their latents there)
  if ((r->nfirst || r->nlast || r->remix) && c->pt != 1)
    return FAIL("conditioning frames in latent space need the model's patch t = 1 (an image is one latent frame), "
                "got %d", c->pt);
  if (video_frames_ok(r->nfirst, ct, "the first video", err, errlen) ||
      video_frames_ok(r->nlast, ct, "the last video", err, errlen) ||
      video_frames_ok(r->nremix, ct, "the remix source", err, errlen))
    return -1;
  lr->nfirst = r->nfirst ? 1 + (r->nfirst - 1) / ct : 0;  // a video's latent frames (an image: one)
  lr->nlast = r->nlast ? 1 + (r->nlast - 1) / ct : 0;
  lr->nremix = r->remix ? 1 + (r->nremix - 1) / ct : 0;
  lr->context = r->context ? (r->context + ct - 1) / ct : 0;
  lr->overlap = r->overlap ? r->overlap / ct : 0;
  if (r->overlap && (r->overlap % ct || !lr->overlap))
    return FAIL("overlap %d: a latent model's windows share whole latent frames (multiples of %d)", r->overlap, ct);
  p->head = r->remix ? 0 : r->nfirst, p->tail = r->remix ? 0 : r->nlast;
  if (r->frames) {  // pixel frames -> latent frames (the pixel count the latent frames decode to must match)
    const int images = (r->nfirst == 1) + (r->nlast == 1), video_in = r->nfirst > 1 || r->nlast > 1;
    const int made = r->remix || !video_in ? r->frames - images : r->frames;  // the new pixel frames
    const int both = r->nfirst && r->nlast, none = !r->nfirst && !r->nlast;
    // t latent frames decode to 1 + (t-1) ct pixel frames; a given tail's first latent frame stands for
    // one pixel frame of its own but decodes to ct: its first ct - 1 are made (a transition)
    const int num = none ? made - 1 : both ? made + 1 : made, m = none ? 1 + num / ct : both ? num / ct - 1 : num / ct;
    if (num % ct || m < 0)
      return FAIL("frames %d: a latent model (temporal compression %d) makes %s", r->frames, ct,
                  none ? "1 + a multiple of it" : both ? "one less than a multiple of it between two inputs"
                                                       : "a multiple of it beside an input");
    lr->frames = r->remix || !video_in ? m + (r->remix ? 0 : images) : m;
  }
  int tout;
  char why[256];
  if (generate_output_frames(c, lr, &tout, why, sizeof why))  // its counts are latent frames
    return FAIL("in latent frames (each %d pixel frames after the first): %s", ct, why);
  p->t = tout;
  const int P = 1 + (tout - 1) * ct;
  p->from = r->new_only ? p->head : 0;
  p->n = P - p->from - (r->new_only ? p->tail : 0);
  return 0;
}

int latent_output_frames(const LatentCodec *lc, const ModelConfig *c, const GenerateRequest *r, int *n, char *err,
                         int errlen) {
  LatentPlan p;
  if (latent_plan(lc, c, r, &p, err, errlen)) return -1;
  *n = p.n;
  return 0;
}

int latent_generate_video(Model *m, LatentCodec *lc, const int32_t *tokens, int ntokens, const GenerateRequest *r,
                          uint8_t *out, char *err, int errlen) {
  const ModelConfig *c = &m->cfg;
  const int H = c->height * lc->ls.cs, W = c->width * lc->ls.cs, ct = lc->ls.ct;
  LatentPlan p;
  if (latent_plan(lc, c, r, &p, err, errlen)) return -1;
  const size_t lat_f = (size_t)c->height * c->width * c->channels * sizeof(float), px_f = (size_t)H * W * 3;
  // the inputs, each encoded on its own: a video's first frame is its first latent frame (causal), so a
  // given tail's latent frames hold it alone, as a first frame, whatever precedes it on the canvas
  float *first = r->nfirst ? tsr_calloc((size_t)p.lr.nfirst * lat_f, 1) : NULL;
  float *last = r->nlast ? tsr_calloc((size_t)p.lr.nlast * lat_f, 1) : NULL;
  float *remix = r->remix ? tsr_calloc((size_t)p.lr.nremix * lat_f, 1) : NULL;
  if (first) latent_codec_encode_frames(lc, r->first, r->nfirst, H, W, first);
  if (last) latent_codec_encode_frames(lc, r->last, r->nlast, H, W, last);
  if (remix) latent_codec_encode_frames(lc, r->remix, r->nremix, H, W, remix);
  p.lr.first = (const uint8_t *)first, p.lr.last = (const uint8_t *)last, p.lr.remix = (const uint8_t *)remix;
  const FrameSpace space = {lat_f, latents_to_patches, patches_to_latents};
  float *z = tsr_calloc((size_t)p.t * lat_f, 1);
  int rc = generate_canvas(m, &space, tokens, ntokens, &p.lr, (uint8_t *)z, err, errlen);
  if (rc == 0) {
    decode_frames(lc, z, p.t, c->height, c->width, p.from, p.n, out);
    const int P = 1 + (p.t - 1) * ct;  // the given pixel frames where the output keeps them, bit-exact
    if (!r->new_only && p.head) memcpy(out, r->first, (size_t)p.head * px_f);
    if (!r->new_only && p.tail) memcpy(out + (size_t)(P - p.tail) * px_f, r->last, (size_t)p.tail * px_f);
  }
  tsr_free(first), tsr_free(last), tsr_free(remix), tsr_free(z);
  return rc;
}
