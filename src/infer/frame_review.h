// Frame review: a per-video check on the decoded frames, after sampling and
// before encoding (docs/safety.md). The prompt gate (safety.h) judges what
// was asked for; a review judges what came out. A review *flags* a video for
// a person to look at; what a flag does (hold the file back, write it under
// another name, record it in the manifest) is the caller's choice.
//
// The interface is one function pointer; a deployment plugs in its own (an
// image classifier, a hash list) with a context of its own:
//
//   static int my_review(void *ctx, const uint8_t *rgb, int T, int H, int W, FrameVerdict *v, TsrErr *err);
//   FrameReviewer r = {"my-classifier", my_review, &my_state};
//   if (frame_review_run(&r, pixels, T, H, W, &v, &err)) ...   // the review itself failed
//   if (v.flagged) ... v.reason
//
// Built in, as the example: frame_review_stats, frame statistics only (no
// model): flags a video whose pixels are nearly all in one skin-tone range,
// or whose frames are all black (a failed render). It is a crude screen,
// not a nudity detector: faces in close-up, sand, wood and sunsets in the
// skin range trip it, and small or unusual skin tones pass it.
#pragma once
#include <stdint.h>

#include "core/error.h"

typedef struct {
  int flagged;          // 1: hold for review
  char reason[256];     // one line: what was measured against what limit
} FrameVerdict;

// frames: [T,H,W,3] RGB uint8 (what video_write_mp4 takes). ctx: the
// review's own state. 0 with *v set, or -1 with err when the review could
// not run (the caller decides whether that blocks the video).
typedef int (*FrameReview)(void *ctx, const uint8_t *frames, int T, int H, int W, FrameVerdict *v, TsrErr *err);

typedef struct {
  const char *name;     // in the verdict's reason and the manifest
  FrameReview fn;
  void *ctx;
} FrameReviewer;

// Runs r (checks the sizes first); the reason is prefixed with r->name.
int frame_review_run(const FrameReviewer *r, const uint8_t *frames, int T, int H, int W, FrameVerdict *v,
                     TsrErr *err);

// ---- the built-in review: frame statistics
typedef struct {
  float skin_limit;     // flag when the mean fraction of skin-tone pixels is >= this (0.6)
  float dark_luma;      // a frame is black when its mean luma (0-255) is below this (8)
} FrameStatsConfig;

typedef struct {
  double skin;          // mean over frames of the fraction of pixels in the skin range
  int black_frames;     // frames whose mean luma is below dark_luma
  double mean_luma;     // over the video
} FrameStats;

void frame_stats_defaults(FrameStatsConfig *c);
// A pixel is skin-toned when, in full-range BT.601 YCbCr, 77 <= Cb <= 127,
// 133 <= Cr <= 173 (Chai and Ngan's range) and Y >= 40 (not in shadow).
int frame_pixel_is_skin(uint8_t r, uint8_t g, uint8_t b);
void frame_stats_measure(const FrameStatsConfig *c, const uint8_t *frames, int T, int H, int W, FrameStats *s);
// The FrameReview of the built-in check: ctx is a FrameStatsConfig (NULL: the defaults).
int frame_review_stats(void *ctx, const uint8_t *frames, int T, int H, int W, FrameVerdict *v, TsrErr *err);
