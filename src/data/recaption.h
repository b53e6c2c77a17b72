// Measured-attribute recaptioner: describes a clip from its pixels (dominant
// colours, brightness, main motion direction and speed, camera pan vs static,
// scene cuts) and merges that with the original caption.
#pragma once
#include <stdint.h>

typedef struct {
  char colours[3][16];   // dominant colour names, most covered first ("" if fewer)
  float brightness;      // mean luma in [0,1]
  float motion_dx, motion_dy;  // main motion, pixels per frame (+x right, +y down)
  float motion_speed;    // pixels per frame
  int camera_pan;        // 1 if the whole frame moves together (global shift)
  int scene_cuts;        // abrupt changes between consecutive frames
  int frames, height, width;  // the measured clip's T, H, W (speed words are relative to them)
} ClipAttributes;

// pixels [T,H,W,3] RGB.
void recaption_measure(const uint8_t *pixels, int T, int H, int W, ClipAttributes *a);
// "<caption>. <sentences from a>" into out (always NUL-terminated).
// Grammar: datasets/ingest.md. With camera_pan set, motion_dx/dy is the
// image content's motion (the camera pans the opposite way).
void recaption_compose(const char *caption, const ClipAttributes *a, char *out, int outlen);
// A short caption for a video that has none: "a bright video, mostly green and white".
void recaption_short(const ClipAttributes *a, char *out, int outlen);
