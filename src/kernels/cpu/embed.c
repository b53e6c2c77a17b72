// Embeddings (ops.h): sinusoidal timestep embedding, token + learned
// position embedding, masked mean over valid rows.
#include <math.h>
#include <stddef.h>

#include "core/error.h"
#include "kernels/ops.h"

// out[b, i] = cos(1000 t_b f_i), out[b, F/2 + i] = sin(1000 t_b f_i),
// f_i = exp(-ln(10000) i / (F/2)). Computed in double, rounded once. (A
// float32 peer that forms the argument 1000 t f_i in float32 differs by up
// to ~1e-4 absolute near t = 1; compute the argument in float64 to match.)
// An odd F leaves the last column 0.
void timestep_embedding(float *out, const float *t, int B, int F) {
  const int half = F / 2;
  for (int b = 0; b < B; b++) {
    const double s = 1000.0 * (double)t[b];
    float *o = out + (size_t)b * F;
    for (int i = 0; i < half; i++) {
      const double arg = s * exp(-log(10000.0) * i / half);
      o[i] = (float)cos(arg);
      o[half + i] = (float)sin(arg);
    }
    if (F % 2) o[F - 1] = 0;
  }
}

void embedding_forward(float *out, const int32_t *tokens, const float *table, const float *pos, int B, int L,
                       int D) {
#pragma omp parallel for schedule(static) if ((long)B * L * D > 65536)
  for (long r = 0; r < (long)B * L; r++) {
    const int32_t tok = tokens[r];
    TSR_ASSERT(tok >= 0, "embedding: negative token %d at row %ld", (int)tok, r);
    const float *e = table + (size_t)tok * D, *p = pos ? pos + (size_t)(r % L) * D : NULL;
    float *o = out + (size_t)r * D;
    if (p)
      for (int d = 0; d < D; d++) o[d] = e[d] + p[d];
    else
      for (int d = 0; d < D; d++) o[d] = e[d];
  }
}

// dtable[tokens[b,l]] += dout[b,l];  dpos[l] += sum_b dout[b,l].
// Repeated tokens add up. Threads split the D columns, each thread walks all
// rows in order, so there are no races and the sum order is the serial one.
void embedding_backward(float *dtable, float *dpos, const float *dout, const int32_t *tokens, int B, int L,
                        int D) {
  enum { CHUNK = 64 };
  const int nchunk = (D + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if ((long)B * L * D > 65536 && nchunk > 1)
  for (int ch = 0; ch < nchunk; ch++) {
    const int d0 = ch * CHUNK, d1 = d0 + CHUNK < D ? d0 + CHUNK : D;
    for (long r = 0; r < (long)B * L; r++) {
      const float *g = dout + (size_t)r * D;
      if (dtable) {
        float *e = dtable + (size_t)tokens[r] * D;
        for (int d = d0; d < d1; d++) e[d] += g[d];
      }
      if (dpos) {
        float *p = dpos + (size_t)(r % L) * D;
        for (int d = d0; d < d1; d++) p[d] += g[d];
      }
    }
  }
}

static int rows_of(const int *nvalid, int b, int L) {
  const int nv = nvalid ? nvalid[b] : L;
  TSR_ASSERT(nv >= 1 && nv <= L, "masked_mean: nvalid[%d] = %d outside [1, %d]", b, nv, L);
  return nv;
}

void masked_mean_forward(float *out, const float *in, const int *nvalid, int B, int L, int D) {
  for (int b = 0; b < B; b++) {
    const int nv = rows_of(nvalid, b, L);
    float *o = out + (size_t)b * D;
    for (int d = 0; d < D; d++) o[d] = 0;
    for (int l = 0; l < nv; l++) {
      const float *x = in + ((size_t)b * L + l) * D;
      for (int d = 0; d < D; d++) o[d] += x[d];
    }
    const float inv = 1.0f / (float)nv;
    for (int d = 0; d < D; d++) o[d] *= inv;
  }
}

// din[b,l,:] += dout[b,:] / nvalid[b] for l < nvalid[b]; padded rows untouched.
void masked_mean_backward(float *din, const float *dout, const int *nvalid, int B, int L, int D) {
  for (int b = 0; b < B; b++) {
    const int nv = rows_of(nvalid, b, L);
    const float inv = 1.0f / (float)nv;
    const float *g = dout + (size_t)b * D;
    for (int l = 0; l < nv; l++) {
      float *x = din + ((size_t)b * L + l) * D;
      for (int d = 0; d < D; d++) x[d] += g[d] * inv;
    }
  }
}
