#include "latent/latent_patch.h"

#include <stddef.h>
#include <string.h>

void latent_unpatchify(const float *patches, int T, int H, int W, int C, int pt, int ph, int pw, float *clip) {
  const int nh = H / ph, nw = W / pw;
  const size_t P = (size_t)pt * ph * pw * C;
  for (int t = 0; t < T; t++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        const size_t tok = ((size_t)(t / pt) * nh + y / ph) * nw + x / pw;
        const size_t in = (((size_t)(t % pt) * ph + y % ph) * pw + x % pw) * C;
        memcpy(clip + (((size_t)t * H + y) * W + x) * C, patches + tok * P + in, (size_t)C * sizeof(float));
      }
}
