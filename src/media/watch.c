#include "media/watch.h"

#include <string.h>

#include "core/error.h"
#include "media/image_io.h"

int watch_upscale_factor(int H, int upscale) { return upscale > 0 ? upscale : (256 + H - 1) / H; }

uint8_t *watch_upscale(const uint8_t *video, int frames, int H, int W, int k) {
  const int UH = H * k, UW = W * k;
  uint8_t *big = tsr_calloc((size_t)frames * UH * UW * 3, 1);
  for (int f = 0; f < frames; f++)
    for (int y = 0; y < UH; y++)
      for (int x = 0; x < UW; x++)
        memcpy(big + (((size_t)f * UH + y) * UW + x) * 3, video + (((size_t)f * H + y / k) * W + x / k) * 3, 3);
  return big;
}

int watch_contact_sheet(const char *path, const uint8_t *video, int frames, int H, int W, char *err, int errlen) {
  const int cols = frames < 8 ? frames : 8, step = frames / cols, s = H >= 32 ? 2 : (64 + H - 1) / H;
  uint8_t *sheet = tsr_calloc((size_t)H * s * W * s * cols * 3, 1);
  for (int i = 0; i < cols; i++)
    for (int y = 0; y < s * H; y++)
      for (int x = 0; x < s * W; x++)
        memcpy(sheet + ((size_t)y * s * W * cols + i * s * W + x) * 3,
               video + (((size_t)(i * step) * H + y / s) * W + x / s) * 3, 3);
  int rc = png_write_rgb(path, sheet, s * H, s * W * cols, err, errlen);
  tsr_free(sheet);
  return rc;
}
