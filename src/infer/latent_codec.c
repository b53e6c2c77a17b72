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

struct LatentCodec {
  Vae v;
  LatentSpace ls;
  int T, H, W;  // the VAE's arena is laid out for one clip of T x H x W (0: none yet)
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

// The VAE laid out for one clip of T x H x W pixels (re-laid out when it changes).
static void layout(LatentCodec *lc, int T, int H, int W) {
  if (lc->T == T && lc->H == H && lc->W == W) return;
  TsrErr err = {0};
  TSR_ASSERT(vae_alloc(&lc->v, 1, T, H, W, VAE_INFER, &err) == 0, "latent codec: %s", err.msg);
  lc->T = T, lc->H = H, lc->W = W;
}

void latent_codec_decode(LatentCodec *lc, const ModelConfig *m, const float *patches, uint8_t *frames) {
  const int Z = m->channels, T = 1 + (m->frames - 1) * lc->ls.ct, H = m->height * lc->ls.cs, W = m->width * lc->ls.cs;
  const size_t nz = (size_t)m->frames * m->height * m->width * Z, nx = (size_t)T * H * W * 3;
  float *z = malloc(nz * sizeof(float)), *x = malloc(nx * sizeof(float));
  TSR_ASSERT(z && x, "out of memory");
  unpatchify(z, patches, 1, m->frames, m->height, m->width, Z, m->pt, m->ph, m->pw);
  for (size_t i = 0; i < nz; i++) z[i] = z[i] * lc->ls.std[i % Z] + lc->ls.mean[i % Z];  // de-normalise
  layout(lc, T, H, W);
  vae_decode(&lc->v, z, x);
  for (size_t i = 0; i < nx; i++) {  // as generate.c turns pixel-model samples into frames
    const float v = (x[i] + 1.0f) * 127.5f;
    frames[i] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v + 0.5f);
  }
  free(z), free(x);
}

int latent_codec_encode_frames(LatentCodec *lc, const uint8_t *frames, int n, int H, int W, float *latent) {
  const int cs = lc->ls.cs, ct = lc->ls.ct, Z = lc->ls.channels;
  const int T = 1 + (n - 1) / ct * ct, t = 1 + (T - 1) / ct;  // the causal VAE's whole latent frames
  const size_t nx = (size_t)T * H * W * 3, nz = (size_t)t * (H / cs) * (W / cs) * Z;
  float *x = malloc(nx * sizeof(float));
  TSR_ASSERT(x, "out of memory");
  for (size_t i = 0; i < nx; i++) x[i] = (float)frames[i] / 127.5f - 1.0f;
  layout(lc, T, H, W);  // an image is a one-frame video: the first latent frame
  vae_encode(&lc->v, x, latent);
  for (size_t i = 0; i < nz; i++) latent[i] = (latent[i] - lc->ls.mean[i % Z]) / lc->ls.std[i % Z];
  free(x);
  return t;
}

int latent_generate_video(Model *m, LatentCodec *lc, const int32_t *tokens, int ntokens, const GenerateRequest *r,
                          uint8_t *out, char *err, int errlen) {
  const ModelConfig *c = &m->cfg;
  ModelConfig pixels;
  const ModelConfig *pix = latent_codec_pixels(lc, c, &pixels);
  // One window from text or an image: the output the edit plan (generate.h)
  // gives the request must be that window.
  int nout = -1;
  if (generate_output_frames(pix, r, &nout, err, errlen)) return -1;
  if (nout != pix->frames || r->nfirst > 1 || r->nlast || r->remix || r->keyframe || r->loop) {
    snprintf(err, (size_t)errlen, "a latent model makes one window of %d frames, from text or an image (extension, "
             "interpolation, loops, remix, keyframes and long videos are not yet in latent space)", pix->frames);
    return -1;
  }
  if (r->nfirst && c->pt != 1) {
    snprintf(err, (size_t)errlen, "conditioning frames in latent space need the model's patch t = 1 (an image is one "
             "latent frame), got %d", c->pt);
    return -1;
  }
  const size_t NP = (size_t)c->tokens * c->patch_dim, nz = (size_t)c->frames * c->height * c->width * c->channels;
  float *x_src = calloc(NP, sizeof(float)), *x = calloc(NP, sizeof(float)), *z = calloc(nz, sizeof(float));
  TSR_ASSERT(x_src && x && z, "out of memory");
  uint8_t cond[256] = {0};
  TSR_ASSERT(c->grid_t <= 256, "grid_t %d > 256", c->grid_t);
  if (r->nfirst) {
    // the leading latent frames the given frames make on their own (causal), held clean; the rest is sampled
    const int t = latent_codec_encode_frames(lc, r->first, r->nfirst, pix->height, pix->width, z);
    patchify(x_src, z, 1, c->frames, c->height, c->width, c->channels, c->pt, c->ph, c->pw);
    memset(cond, 1, (size_t)t);
  }
  SamplerOptions so = r->sampler;
  so.t0 = 1.0f;
  int32_t ntok = ntokens;
  sample_flow(m, &so, 1, tokens, &ntok, r->nfirst ? cond : NULL, x_src, x);
  latent_codec_decode(lc, c, x, out);
  free(x_src), free(x), free(z);
  return 0;
}
