// Frame review (src/infer/frame_review.h): the skin-tone test of single
// colours against their YCbCr values worked out by hand, the statistics of
// frames built with known fractions, the built-in review's flags, a custom
// hook through frame_review_run, and bad sizes.
#include <stdlib.h>
#include <string.h>

#include "infer/frame_review.h"
#include "testlib.h"

enum { T = 4, H = 16, W = 20 };

static void fill(uint8_t *f, int t0, int t1, int rows, const uint8_t rgb[3]) {  // rows 0..rows-1 of frames t0..t1-1
  for (int t = t0; t < t1; t++)
    for (int i = 0; i < rows * W; i++) memcpy(f + ((size_t)t * H * W + i) * 3, rgb, 3);
}

static int custom(void *ctx, const uint8_t *frames, int t, int h, int w, FrameVerdict *v, TsrErr *err) {
  int *calls = ctx;
  ++*calls;
  if (frames[0] == 1) return tsr_err(err, "model missing");
  v->flagged = frames[0] == 2;
  strcpy(v->reason, "first byte is 2");
  return 0;
}

int main(void) {
  // Colours whose YCbCr (BT.601 full range) was computed by hand:
  //   (224,172,140): Y 183.9, Cb 103.2, Cr 156.6 -> skin
  //   (255,0,0): Cr 255.5 -> not;  (0,0,255): Cb 255.5 -> not;  (128,128,128): Cb = Cr = 128 -> not
  //   (60,40,30): Y 44.8, Cb 119.6, Cr 138.8 -> skin;  (30,20,15): Cb 123.8, Cr 133.4 but Y 22.4 < 40 -> not (shadow)
  EXPECT(frame_pixel_is_skin(224, 172, 140), "light skin tone");
  EXPECT(frame_pixel_is_skin(60, 40, 30), "dark skin tone");
  EXPECT(!frame_pixel_is_skin(30, 20, 15), "too dark to judge");
  EXPECT(!frame_pixel_is_skin(255, 0, 0) && !frame_pixel_is_skin(0, 0, 255) && !frame_pixel_is_skin(128, 128, 128),
         "red, blue, grey are not skin");
  const uint8_t skin[3] = {224, 172, 140}, sky[3] = {90, 150, 230}, black[3] = {2, 2, 2};
  uint8_t *f = calloc((size_t)T * H * W * 3, 1);
  FrameStatsConfig c;
  frame_stats_defaults(&c);
  FrameStats s;
  FrameVerdict v;
  TsrErr err = {0};

  fill(f, 0, T, H, sky), fill(f, 0, T, 12, skin);  // 12 of 16 rows skin: 75%
  frame_stats_measure(&c, f, T, H, W, &s);
  EXPECT(fabs(s.skin - 0.75) < 1e-12 && s.black_frames == 0, "skin fraction %.4f, expected 0.75", s.skin);
  frame_review_stats(NULL, f, T, H, W, &v, &err);
  EXPECT(v.flagged && !strcmp(v.reason, "75% of the pixels are skin-toned (limit 60%): review for nudity"), "flag: %s",
         v.reason);

  fill(f, 0, T, H, sky), fill(f, 0, T, 8, skin);  // 50%: under the limit
  frame_stats_measure(&c, f, T, H, W, &s);
  frame_review_stats(&c, f, T, H, W, &v, &err);
  EXPECT(fabs(s.skin - 0.5) < 1e-12 && !v.flagged, "half skin: %.3f %d", s.skin, v.flagged);

  fill(f, 0, T, H, black);  // every frame black
  frame_review_stats(NULL, f, T, H, W, &v, &err);
  EXPECT(v.flagged && strstr(v.reason, "all 4 frames are black"), "black video: %s", v.reason);
  fill(f, 2, 3, H, sky);  // one frame not black: no flag
  frame_stats_measure(&c, f, T, H, W, &s);
  frame_review_stats(NULL, f, T, H, W, &v, &err);
  EXPECT(s.black_frames == 3 && !v.flagged, "one bright frame: %d black, flagged %d", s.black_frames, v.flagged);

  // a custom hook through the interface
  int calls = 0;
  FrameReviewer r = {"custom", custom, &calls};
  f[0] = 2;
  EXPECT(frame_review_run(&r, f, T, H, W, &v, &err) == 0 && v.flagged && !strcmp(v.reason, "custom: first byte is 2"),
         "custom flag: %s", v.reason);
  f[0] = 1;
  EXPECT(frame_review_run(&r, f, T, H, W, &v, &err) == -1 && !strcmp(err.msg, "frame review custom: model missing"),
         "custom failure: %s", err.msg);
  EXPECT(frame_review_run(&r, f, 0, H, W, &v, &err) == -1 && calls == 2 &&
             !strcmp(err.msg, "frame review custom: 0x16x20 frames, expected at least one frame of at least 1x1 pixels"),
         "no frames: %s", err.msg);
  FrameReviewer b = {"stats", frame_review_stats, NULL};
  fill(f, 0, T, H, skin);
  EXPECT(frame_review_run(&b, f, T, H, W, &v, &err) == 0 && v.flagged && !strncmp(v.reason, "stats: 100% of", 14),
         "built-in through the interface: %s", v.reason);
  free(f);
  return tl_finish("test_frame_review");
}
