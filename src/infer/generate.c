#include "infer/generate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "kernels/ops.h"

// uint8 RGB frames [T,H,W,C] -> patches [N,P] in [-1,1].
static void pixels_to_patches(const ModelConfig *c, const uint8_t *px, float *video, float *patches) {
  const size_t n = (size_t)c->frames * c->height * c->width * c->channels;
  for (size_t i = 0; i < n; i++) video[i] = (float)px[i] / 127.5f - 1.0f;
  patchify(patches, video, 1, c->frames, c->height, c->width, c->channels, c->pt, c->ph, c->pw);
}

static void patches_to_pixels(const ModelConfig *c, const float *patches, float *video, uint8_t *px) {
  unpatchify(video, patches, 1, c->frames, c->height, c->width, c->channels, c->pt, c->ph, c->pw);
  const size_t n = (size_t)c->frames * c->height * c->width * c->channels;
  for (size_t i = 0; i < n; i++) {
    float v = (video[i] + 1.0f) * 127.5f;
    px[i] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v + 0.5f);
  }
}

// Copy k conditioning frames to window frames [at, at+k); an image (k = 1)
// fills its whole latent frame (pt video frames).
static int place(const ModelConfig *c, uint8_t *window, uint8_t *cond, const uint8_t *src, int k, int at) {
  const size_t frame = (size_t)c->height * c->width * c->channels;
  int n = k == 1 ? c->pt : k;
  for (int f = 0; f < n; f++) memcpy(window + (size_t)(at + f) * frame, src + (size_t)(k == 1 ? 0 : f) * frame, frame);
  for (int f = at / c->pt; f < (at + n) / c->pt; f++) cond[f] = 1;
  return n;
}

// the keyframe pass's second sampling draws noise apart from the first's and
// from the windows of a long video (seed + w)
enum { KEYFRAME_SEED_OFFSET = 1000003 };

static int default_overlap(const ModelConfig *c) { return (c->frames / 2) / c->pt * c->pt; }

int generate_frames_fit(const ModelConfig *c, int frames, int k, uint64_t mem, char *err, int errlen) {
  const int T = c->frames, step = T - default_overlap(c);
  const double per_frame = 3.0 * c->height * c->width * (1.0 + (double)k * k);  // frames + upscaled copy
  long max_windows = T + (long)(GENERATE_MAX_WINDOWS - 1) * step, fits = (long)((double)mem / per_frame);
  fits = fits < T ? 0 : T + (fits - T) / step * step;
  if (frames <= max_windows && frames <= fits) return 0;
  if (max_windows <= fits)
    snprintf(err, (size_t)errlen, "at most %ld frames (a long video is at most %d windows of %d frames, each %d after the last)",
             max_windows, GENERATE_MAX_WINDOWS, T, step);
  else
    snprintf(err, (size_t)errlen,
             "at most %ld frames here: the video and its x%d upscale for the MP4 take %.0f KB a frame, and %.2f GB is available",
             fits, k, per_frame / 1e3, (double)mem / 1e9);
  return -1;
}

int generate_video(Model *m, const int32_t *tokens, int ntokens, const GenerateRequest *r, uint8_t *out, char *err,
                   int errlen) {
  const ModelConfig *c = &m->cfg;
  const int T = c->frames, pt = c->pt;
  const size_t frame = (size_t)c->height * c->width * c->channels, NP = (size_t)c->tokens * c->patch_dim;
  const int overlap = r->overlap > 0 ? r->overlap : default_overlap(c);
  if (r->frames < T || (r->frames > T && (overlap <= 0 || overlap >= T || overlap % pt))) {
    snprintf(err, (size_t)errlen, "frames %d: expected at least the model window %d (overlap %d, a multiple of %d below %d)",
             r->frames, T, overlap, pt, T);
    return -1;
  }
  if ((r->frames - T) % (T - overlap)) {
    snprintf(err, (size_t)errlen, "frames %d: a long video is %d + k*%d frames (window %d, overlap %d)", r->frames, T,
             T - overlap, T, overlap);
    return -1;
  }
  if ((r->nfirst > 1 && r->nfirst % pt) || (r->nlast > 1 && r->nlast % pt) || r->nfirst >= T || r->nlast >= T) {
    snprintf(err, (size_t)errlen, "conditioning frames must be 1 (an image) or a multiple of the temporal patch %d below %d",
             pt, T);
    return -1;
  }
  if (r->nlast && r->frames != T) {
    snprintf(err, (size_t)errlen, "--last (interpolation) works within one window of %d frames", T);
    return -1;
  }
  if (r->keyframe && !r->nfirst && !r->nlast && !r->remix) {
    GenerateRequest pass1 = *r, pass2 = *r;
    pass1.frames = T;
    pass1.keyframe = pass2.keyframe = 0;
    uint8_t *clip = tsr_calloc((size_t)T * frame, 1);
    int rc = generate_video(m, tokens, ntokens, &pass1, clip, err, errlen);
    pass2.first = clip;  // its first frame, as an image
    pass2.nfirst = 1;
    pass2.sampler.seed = r->sampler.seed + KEYFRAME_SEED_OFFSET;
    if (rc == 0) rc = generate_video(m, tokens, ntokens, &pass2, out, err, errlen);
    tsr_free(clip);
    return rc;
  }
  uint8_t *window = tsr_calloc((size_t)T * frame, 1), cond[256];
  TSR_ASSERT(c->grid_t <= 256, "grid_t %d > 256", c->grid_t);
  float *video = tsr_calloc((size_t)T * frame, sizeof(float)), *x_src = tsr_calloc(NP, sizeof(float));
  float *x = tsr_calloc(NP, sizeof(float));
  int done = 0;
  for (int w = 0; done < r->frames; w++) {
    memset(cond, 0, sizeof cond);
    memset(window, 0, (size_t)T * frame);
    SamplerOptions so = r->sampler;
    so.t0 = 1.0f;
    so.seed = r->sampler.seed + (uint64_t)w;  // fresh noise per window
    if (w == 0) {
      if (r->nfirst) place(c, window, cond, r->first, r->nfirst, 0);
      if (r->nlast) place(c, window, cond, r->last, r->nlast, T - (r->nlast == 1 ? pt : r->nlast));
      if (r->remix) {
        memcpy(window, r->remix, (size_t)T * frame);
        so.t0 = r->remix_strength;
      }
    } else {
      place(c, window, cond, out + (size_t)(done - overlap) * frame, overlap, 0);
    }
    pixels_to_patches(c, window, video, x_src);
    int32_t ntok = ntokens;
    sample_flow(m, &so, 1, tokens, &ntok, cond, x_src, x);
    patches_to_pixels(c, x, video, window);
    int skip = w == 0 ? 0 : overlap, keep = T - skip;
    memcpy(out + (size_t)done * frame, window + (size_t)skip * frame, (size_t)keep * frame);
    done += keep;
  }
  tsr_free(window);
  tsr_free(video);
  tsr_free(x_src);
  tsr_free(x);
  return 0;
}
