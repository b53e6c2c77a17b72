// 3D convolution, plain reference (kernels/ops.h, conv3d_geom.h): straight
// loops over every output site and kernel tap, sums in double, no threads.
#include <stddef.h>

#include "core/error.h"
#include "kernels/ops.h"

// Input coordinate of output index `o`, kernel tap `k`, or -1 when it falls
// in the zero padding.
static inline int src_at(int o, int k, int stride, int pad0, int len) {
  int i = o * stride + k - pad0;
  return i >= 0 && i < len ? i : -1;
}

typedef struct {
  int od, oh, ow;
  size_t in_s, out_s, w_o;  // input/output sites per channel, weight floats per output channel
} Sizes;

static Sizes sizes(const Conv3dGeom *g) {
  Sizes z = {conv3d_od(g), conv3d_oh(g), conv3d_ow(g), 0, 0, 0};
  z.in_s = (size_t)g->d * g->h * g->w;
  z.out_s = (size_t)z.od * z.oh * z.ow;
  z.w_o = (size_t)g->c * g->kd * g->kh * g->kw;
  return z;
}

// Runs BODY with oi, ii, wi (output, input, weight index) for every (output site, tap) pair of
// sample n and output channel o whose input is inside the volume.
#define CONV_FOR_EACH(g, z, n, o, BODY)                                                                  \
  for (int c = 0; c < (g)->c; c++)                                                                       \
    for (int t = 0; t < (z).od; t++)                                                                     \
      for (int y = 0; y < (z).oh; y++)                                                                   \
        for (int x = 0; x < (z).ow; x++) {                                                               \
          const size_t oi = (((size_t)(n) * (g)->o + (o)) * (z).od + t) * (z).oh * (z).ow + (size_t)y * (z).ow + x; \
          for (int a = 0; a < (g)->kd; a++) {                                                            \
            int it = src_at(t, a, (g)->sd, (g)->pd[0], (g)->d);                                          \
            if (it < 0) continue;                                                                        \
            for (int bb = 0; bb < (g)->kh; bb++) {                                                       \
              int iy = src_at(y, bb, (g)->sh, (g)->ph[0], (g)->h);                                       \
              if (iy < 0) continue;                                                                      \
              for (int cc = 0; cc < (g)->kw; cc++) {                                                     \
                int ix = src_at(x, cc, (g)->sw, (g)->pw[0], (g)->w);                                     \
                if (ix < 0) continue;                                                                    \
                const size_t ii = (((size_t)(n) * (g)->c + c) * (g)->d + it) * (g)->h * (g)->w +        \
                                  (size_t)iy * (g)->w + ix;                                              \
                const size_t wi = (size_t)(o) * (z).w_o + (((size_t)c * (g)->kd + a) * (g)->kh + bb) * (g)->kw + cc; \
                BODY;                                                                                    \
              }                                                                                          \
            }                                                                                            \
          }                                                                                              \
        }

void conv3d_forward_ref(float *out, const float *in, const float *w, const float *b, const Conv3dGeom *g) {
  const Sizes z = sizes(g);
  for (int n = 0; n < g->n; n++)
    for (int o = 0; o < g->o; o++) {
      float *dst = out + ((size_t)n * g->o + o) * z.out_s;
      // one output site at a time: sum its taps in double
      for (size_t s = 0; s < z.out_s; s++) {
        const int t = (int)(s / ((size_t)z.oh * z.ow)), y = (int)(s / z.ow % z.oh), x = (int)(s % z.ow);
        double sum = b ? b[o] : 0.0;
        for (int c = 0; c < g->c; c++)
          for (int a = 0; a < g->kd; a++) {
            int it = src_at(t, a, g->sd, g->pd[0], g->d);
            if (it < 0) continue;
            for (int bb = 0; bb < g->kh; bb++) {
              int iy = src_at(y, bb, g->sh, g->ph[0], g->h);
              if (iy < 0) continue;
              for (int cc = 0; cc < g->kw; cc++) {
                int ix = src_at(x, cc, g->sw, g->pw[0], g->w);
                if (ix < 0) continue;
                sum += (double)w[(size_t)o * z.w_o + (((size_t)c * g->kd + a) * g->kh + bb) * g->kw + cc] *
                       in[(((size_t)n * g->c + c) * g->d + it) * g->h * g->w + (size_t)iy * g->w + ix];
              }
            }
          }
        dst[s] = (float)sum;
      }
    }
}

void conv3d_backward_data_ref(float *din, const float *dout, const float *w, const Conv3dGeom *g) {
  if (!din) return;
  const Sizes z = sizes(g);
  const size_t nin = (size_t)g->n * g->c * z.in_s;
  // accumulate in double beside din, then add once
  double *acc = tsr_calloc(nin, sizeof(double));
  for (int n = 0; n < g->n; n++)
    for (int o = 0; o < g->o; o++) CONV_FOR_EACH(g, z, n, o, acc[ii] += (double)w[wi] * dout[oi]);
  for (size_t i = 0; i < nin; i++) din[i] += (float)acc[i];
  tsr_free(acc);
}

void conv3d_backward_weights_ref(float *dw, float *db, const float *dout, const float *in, const Conv3dGeom *g) {
  const Sizes z = sizes(g);
  if (dw) {
    const size_t nw = (size_t)g->o * z.w_o;
    double *acc = tsr_calloc(nw, sizeof(double));
    for (int n = 0; n < g->n; n++)
      for (int o = 0; o < g->o; o++) CONV_FOR_EACH(g, z, n, o, acc[wi] += (double)in[ii] * dout[oi]);
    for (size_t i = 0; i < nw; i++) dw[i] += (float)acc[i];
    tsr_free(acc);
  }
  if (db)
    for (int o = 0; o < g->o; o++) {
      double s = 0;
      for (int n = 0; n < g->n; n++)
        for (size_t i = 0; i < z.out_s; i++) s += dout[((size_t)n * g->o + o) * z.out_s + i];
      db[o] += (float)s;
    }
}
