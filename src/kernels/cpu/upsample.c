// Nearest 3D upsampling, causal in time (kernels/ops.h): in [NC,D,H,W] ->
// out [NC, 1+(D-1)sd, H sh, W sw], out[t,y,x] = in[(t+sd-1)/sd, y/sh, x/sw].
// Backward sums dout over the sites that copy each input element.
// Reference: one output element at a time. Fast: (channel, output frame)
// rows in parallel; the backward gathers, per input element, the sh x sw
// block of each of its output frames (no races, fixed order).
#include <stddef.h>

#include "kernels/ops.h"

static inline int up_d(int D, int sd) { return 1 + (D - 1) * sd; }

void upsample3d_forward_ref(float *out, const float *in, int NC, int D, int H, int W, int sd, int sh, int sw) {
  const int OD = up_d(D, sd), OH = H * sh, OW = W * sw;
  for (int c = 0; c < NC; c++)
    for (int t = 0; t < OD; t++)
      for (int y = 0; y < OH; y++)
        for (int x = 0; x < OW; x++)
          out[(((size_t)c * OD + t) * OH + y) * OW + x] =
              in[(((size_t)c * D + (t + sd - 1) / sd) * H + y / sh) * W + x / sw];
}

void upsample3d_backward_ref(float *din, const float *dout, int NC, int D, int H, int W, int sd, int sh, int sw) {
  const int OD = up_d(D, sd), OH = H * sh, OW = W * sw;
  for (int c = 0; c < NC; c++)
    for (int t = 0; t < OD; t++)
      for (int y = 0; y < OH; y++)
        for (int x = 0; x < OW; x++)
          din[(((size_t)c * D + (t + sd - 1) / sd) * H + y / sh) * W + x / sw] +=
              dout[(((size_t)c * OD + t) * OH + y) * OW + x];
}

void upsample3d_forward(float *out, const float *in, int NC, int D, int H, int W, int sd, int sh, int sw) {
  const int OD = up_d(D, sd), OH = H * sh, OW = W * sw;
#pragma omp parallel for schedule(static) if ((int64_t)NC * OD * OH * OW > 32768)
  for (int ct = 0; ct < NC * OD; ct++) {
    const int c = ct / OD, t = ct % OD;
    const float *src = in + ((size_t)c * D + (t + sd - 1) / sd) * H * W;
    float *dst = out + (size_t)ct * OH * OW;
    for (int y = 0; y < OH; y++) {
      const float *row = src + (size_t)(y / sh) * W;
      float *o = dst + (size_t)y * OW;
      for (int x = 0; x < W; x++)
        for (int k = 0; k < sw; k++) o[x * sw + k] = row[x];
    }
  }
}

void upsample3d_backward(float *din, const float *dout, int NC, int D, int H, int W, int sd, int sh, int sw) {
  const int OD = up_d(D, sd), OH = H * sh, OW = W * sw;
#pragma omp parallel for schedule(static) if ((int64_t)NC * OD * OH * OW > 32768)
  for (int cd = 0; cd < NC * D; cd++) {
    const int c = cd / D, d = cd % D;
    // output frames of input frame d: t with (t+sd-1)/sd == d
    const int t0 = d == 0 ? 0 : (d - 1) * sd + 1, t1 = d * sd;
    float *dst = din + (size_t)cd * H * W;
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        float s = 0;
        for (int t = t0; t <= t1; t++)
          for (int a = 0; a < sh; a++) {
            const float *o = dout + (((size_t)c * OD + t) * OH + (size_t)y * sh + a) * OW + (size_t)x * sw;
            for (int k = 0; k < sw; k++) s += o[k];
          }
        dst[(size_t)y * W + x] += s;
      }
  }
}
