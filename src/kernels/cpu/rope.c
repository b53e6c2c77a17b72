// 3D rotary position embedding (ops.h): head dim C split into (rope[0],
// rope[1], rope[2]) segments for the (t, h, w) token coordinates; pair i of
// axis a's segment (elements 2i, 2i+1 within the segment) rotates by
// pos_a * 10000^(-2i/rope[a]):  (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos).
// Backward applies the transposed (inverse) rotation to the gradient.
//
// The fast path reads a cos/sin table [N, C/2] built once per shape (angles
// in double, rounded once); the reference recomputes every angle in double.
#include <math.h>
#include <stddef.h>

#include "core/error.h"
#include "kernels/ops.h"

static void check_split(const int rope[3]) {
  for (int a = 0; a < 3; a++)
    TSR_ASSERT(rope[a] >= 0 && rope[a] % 2 == 0, "rope3d: rope[%d] = %d must be even and >= 0", a, rope[a]);
}

// Coordinates of global token g on the (gt, gh, gw) grid.
static void coords(int g, int gh, int gw, int pos[3]) {
  pos[0] = g / (gh * gw);
  pos[1] = (g / gw) % gh;
  pos[2] = g % gw;
}

// Angle of pair p (0 <= p < C/2) for a token at `pos`.
static double pair_angle(int p, const int pos[3], const int rope[3]) {
  int a = 0;
  while (a < 2 && p >= rope[a] / 2) p -= rope[a++] / 2;
  return (double)pos[a] * pow(10000.0, -2.0 * p / (double)rope[a]);
}

void rope3d_table(float *cos_tab, float *sin_tab, int n0, int N, int gh, int gw, const int rope[3]) {
  check_split(rope);
  const int half = (rope[0] + rope[1] + rope[2]) / 2;
  // inverse frequencies of each pair, then angles per token
  double invf[half > 0 ? half : 1];
  int axis[half > 0 ? half : 1];
  for (int p = 0, a = 0, i = 0; p < half; p++, i++) {
    while (i >= rope[a] / 2) {
      i = 0;
      a++;
    }
    axis[p] = a;
    invf[p] = pow(10000.0, -2.0 * i / (double)rope[a]);
  }
#pragma omp parallel for schedule(static) if ((long)N * half > 32768)
  for (int n = 0; n < N; n++) {
    int pos[3];
    coords(n0 + n, gh, gw, pos);
    for (int p = 0; p < half; p++) {
      const double ang = pos[axis[p]] * invf[p];
      cos_tab[(size_t)n * half + p] = (float)cos(ang);
      sin_tab[(size_t)n * half + p] = (float)sin(ang);
    }
  }
}

// dir = +1 forward rotation, -1 inverse.
static void rotate_tab(float *x, int ld, const float *cos_tab, const float *sin_tab, int B, int N, int H, int C,
                       float dir) {
  const int half = C / 2;
#pragma omp parallel for schedule(static) if ((long)B * N * H * C > 65536)
  for (long r = 0; r < (long)B * N; r++) {
    const int n = (int)(r % N);
    const float *cs = cos_tab + (size_t)n * half, *sn = sin_tab + (size_t)n * half;
    for (int h = 0; h < H; h++) {
      float *xh = x + (size_t)r * ld + (size_t)h * C;
      for (int p = 0; p < half; p++) {
        const float x0 = xh[2 * p], x1 = xh[2 * p + 1], c = cs[p], s = dir * sn[p];
        xh[2 * p] = x0 * c - x1 * s;
        xh[2 * p + 1] = x0 * s + x1 * c;
      }
    }
  }
}

void rope3d_forward(float *x, int ld, const float *cos_tab, const float *sin_tab, int B, int N, int H, int C) {
  rotate_tab(x, ld, cos_tab, sin_tab, B, N, H, C, 1.0f);
}

void rope3d_backward(float *dx, int ld, const float *cos_tab, const float *sin_tab, int B, int N, int H, int C) {
  rotate_tab(dx, ld, cos_tab, sin_tab, B, N, H, C, -1.0f);
}

static void rotate_ref(float *x, int ld, int n0, int gh, int gw, const int rope[3], int B, int N, int H, int C,
                       double dir) {
  check_split(rope);
  TSR_ASSERT(rope[0] + rope[1] + rope[2] == C, "rope3d: split %d+%d+%d != head dim %d", rope[0], rope[1],
             rope[2], C);
  for (int b = 0; b < B; b++)
    for (int n = 0; n < N; n++) {
      int pos[3];
      coords(n0 + n, gh, gw, pos);
      for (int h = 0; h < H; h++) {
        float *xh = x + ((size_t)b * N + n) * ld + (size_t)h * C;
        for (int p = 0; p < C / 2; p++) {
          const double ang = pair_angle(p, pos, rope), c = cos(ang), s = dir * sin(ang);
          const double x0 = xh[2 * p], x1 = xh[2 * p + 1];
          xh[2 * p] = (float)(x0 * c - x1 * s);
          xh[2 * p + 1] = (float)(x0 * s + x1 * c);
        }
      }
    }
}

void rope3d_forward_ref(float *x, int ld, int n0, int gh, int gw, const int rope[3], int B, int N, int H, int C) {
  rotate_ref(x, ld, n0, gh, gw, rope, B, N, H, C, 1.0);
}

void rope3d_backward_ref(float *dx, int ld, int n0, int gh, int gw, const int rope[3], int B, int N, int H,
                         int C) {
  rotate_ref(dx, ld, n0, gh, gw, rope, B, N, H, C, -1.0);
}
