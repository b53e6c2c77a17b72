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
} ClipAttributes;

// pixels [T,H,W,3] RGB.
void recaption_measure(const uint8_t *pixels, int T, int H, int W, ClipAttributes *a);
// "<caption>. <sentences from a>" into out (always NUL-terminated).
void recaption_compose(const char *caption, const ClipAttributes *a, char *out, int outlen);
