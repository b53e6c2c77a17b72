// Spacetime patches (ops.h): video[B,T,H,W,C] <-> patches[B,N,P],
// N = (T/pt)(H/ph)(W/pw) tokens in (t,h,w) row-major order, P = pt*ph*pw*C
// with the patch vector in (pt,ph,pw,C) row-major order. Both are pure
// permutations; each copies runs of pw*C contiguous floats.
#include <stddef.h>
#include <string.h>

#include "core/error.h"
#include "kernels/ops.h"

static void check(int T, int H, int W, int pt, int ph, int pw) {
  TSR_ASSERT(pt >= 1 && ph >= 1 && pw >= 1 && T % pt == 0 && H % ph == 0 && W % pw == 0,
             "patch: video %dx%dx%d not divisible by patch %dx%dx%d", T, H, W, pt, ph, pw);
}

// to_patches = 1: video -> patches; 0: patches -> video.
static void permute(float *patches, float *video, int to_patches, int B, int T, int H, int W, int C, int pt,
                    int ph, int pw) {
  check(T, H, W, pt, ph, pw);
  const int gt = T / pt, gh = H / ph, gw = W / pw;
  const size_t run = (size_t)pw * C, P = (size_t)pt * ph * pw * C, N = (size_t)gt * gh * gw;
#pragma omp parallel for schedule(static) if ((size_t)B * N * P > 65536)
  for (long bn = 0; bn < (long)(B * N); bn++) {
    const size_t b = (size_t)bn / N, n = (size_t)bn % N;
    const size_t it = n / ((size_t)gh * gw), ih = n / gw % gh, iw = n % gw;
    float *pv = patches + (size_t)bn * P;
    for (int a = 0; a < pt; a++)
      for (int c = 0; c < ph; c++) {
        const size_t t = it * pt + a, y = ih * ph + c, x = iw * pw;
        float *vv = video + ((((b * T + t) * H + y) * W) + x) * C;
        float *pp = pv + ((size_t)a * ph + c) * run;
        if (to_patches)
          memcpy(pp, vv, run * sizeof(float));
        else
          memcpy(vv, pp, run * sizeof(float));
      }
  }
}

void patchify(float *patches, const float *video, int B, int T, int H, int W, int C, int pt, int ph, int pw) {
  permute(patches, (float *)video, 1, B, T, H, W, C, pt, ph, pw);
}

void unpatchify(float *video, const float *patches, int B, int T, int H, int W, int C, int pt, int ph, int pw) {
  permute((float *)patches, video, 0, B, T, H, W, C, pt, ph, pw);
}
