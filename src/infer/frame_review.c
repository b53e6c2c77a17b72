#include "infer/frame_review.h"

#include <stdio.h>
#include <string.h>

int frame_review_run(const FrameReviewer *r, const uint8_t *frames, int T, int H, int W, FrameVerdict *v,
                     TsrErr *err) {
  memset(v, 0, sizeof *v);
  if (!frames || T < 1 || H < 1 || W < 1)
    return tsr_err(err, "frame review %s: %dx%dx%d frames, expected at least one frame of at least 1x1 pixels",
                   r->name, T, H, W);
  FrameVerdict got = {0};
  if (r->fn(r->ctx, frames, T, H, W, &got, err)) return tsr_err_prefix(err, "frame review %s: ", r->name);
  v->flagged = got.flagged;
  if (got.flagged) snprintf(v->reason, sizeof v->reason, "%s: %.200s", r->name, got.reason);
  return 0;
}

void frame_stats_defaults(FrameStatsConfig *c) {
  c->skin_limit = 0.6f;
  c->dark_luma = 8.0f;
}

int frame_pixel_is_skin(uint8_t r, uint8_t g, uint8_t b) {
  double y = 0.299 * r + 0.587 * g + 0.114 * b;
  double cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b;
  double cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b;
  return y >= 40 && cb >= 77 && cb <= 127 && cr >= 133 && cr <= 173;
}

void frame_stats_measure(const FrameStatsConfig *c, const uint8_t *frames, int T, int H, int W, FrameStats *s) {
  memset(s, 0, sizeof *s);
  const size_t n = (size_t)H * W;
  for (int t = 0; t < T; t++) {
    const uint8_t *f = frames + (size_t)t * n * 3;
    size_t skin = 0;
    double luma = 0;
    for (size_t i = 0; i < n; i++) {
      const uint8_t *p = f + 3 * i;
      skin += (size_t)frame_pixel_is_skin(p[0], p[1], p[2]);
      luma += 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    }
    luma /= (double)n;
    s->skin += (double)skin / (double)n / T;
    s->mean_luma += luma / T;
    s->black_frames += luma < c->dark_luma;
  }
}

int frame_review_stats(void *ctx, const uint8_t *frames, int T, int H, int W, FrameVerdict *v, TsrErr *err) {
  FrameStatsConfig def;
  frame_stats_defaults(&def);
  const FrameStatsConfig *c = ctx ? ctx : &def;
  FrameStats s;
  frame_stats_measure(c, frames, T, H, W, &s);
  memset(v, 0, sizeof *v);
  if (s.black_frames == T) {
    v->flagged = 1;
    snprintf(v->reason, sizeof v->reason, "all %d frames are black (mean luma %.1f < %.1f): a failed render?", T,
             s.mean_luma, c->dark_luma);
  } else if (s.skin >= c->skin_limit) {
    v->flagged = 1;
    snprintf(v->reason, sizeof v->reason, "%.0f%% of the pixels are skin-toned (limit %.0f%%): review for nudity",
             100 * s.skin, 100 * c->skin_limit);
  }
  return 0;
}
