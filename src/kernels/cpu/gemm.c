// GEMM: C[M,N] = alpha op(A) op(B) + beta C, row-major.
//  - gemm_ref: straight loops, double accumulation.
//  - gemm: oneDNN's dnnl_sgemm (row-major C API) when built with
//    TSR_HAVE_DNNL; otherwise a cache-blocked, packed OpenMP C GEMM
//    (6x16 register micro-kernel written with GCC vector extensions).
// BLAS semantics for beta == 0: C is not read (NaNs in C do not propagate).
#include <omp.h>
#include <stddef.h>

#include "core/error.h"
#include "kernels/ops.h"

#ifdef TSR_HAVE_DNNL
#include <dnnl.h>
#endif

#define TSR_STR_(x) #x
#define TSR_STR(x) TSR_STR_(x)

const char *gemm_library(void) {
#ifdef TSR_HAVE_DNNL
  return "oneDNN " TSR_STR(DNNL_VERSION_MAJOR) "." TSR_STR(DNNL_VERSION_MINOR);
#else
  return "reference";
#endif
}

void gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double acc = 0;
      for (int k = 0; k < K; k++) {
        double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
        double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
        acc += a * b;
      }
      float *c = &C[(size_t)i * ldc + j];
      *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
    }
}

// C = beta * C (beta == 0 writes zeros without reading C).
static void scale_c(int M, int N, float beta, float *C, int ldc) {
  if (beta == 1.0f) return;
#pragma omp parallel for schedule(static) if ((int64_t)M * N > 16384)
  for (int i = 0; i < M; i++) {
    float *c = C + (size_t)i * ldc;
    if (beta == 0.0f)
      for (int j = 0; j < N; j++) c[j] = 0.0f;
    else
      for (int j = 0; j < N; j++) c[j] *= beta;
  }
}

#ifndef TSR_HAVE_DNNL
// ---------------------------------------------------------------- blocked fallback
enum { MR = 6, NR = 16, KC = 256, NC = 256, MC = 72 };
typedef float v8f __attribute__((vector_size(32)));

// op(B)[pc..pc+kc, jc..jc+nc] -> panels of NR columns, each kc x NR, zero-padded.
static void pack_b(float *restrict Bp, const float *B, int ldb, int tb, int pc, int kc, int jc, int nc) {
  const int np = (nc + NR - 1) / NR;
  for (int p = 0; p < np; p++) {
    float *dst = Bp + (size_t)p * kc * NR;
    const int j0 = jc + p * NR, nr = nc - p * NR < NR ? nc - p * NR : NR;
    if (!tb) {
      for (int k = 0; k < kc; k++) {
        float *d = dst + (size_t)k * NR;
        const float *s = B + (size_t)(pc + k) * ldb + j0;
        for (int c = 0; c < nr; c++) d[c] = s[c];
        for (int c = nr; c < NR; c++) d[c] = 0.0f;
      }
    } else {
      for (int c = 0; c < nr; c++) {
        const float *s = B + (size_t)(j0 + c) * ldb + pc;
        for (int k = 0; k < kc; k++) dst[(size_t)k * NR + c] = s[k];
      }
      for (int k = 0; k < kc; k++)
        for (int c = nr; c < NR; c++) dst[(size_t)k * NR + c] = 0.0f;
    }
  }
}

// op(A)[ic..ic+mc, pc..pc+kc] -> panels of MR rows, each kc x MR, zero-padded.
static void pack_a(float *restrict Ap, const float *A, int lda, int ta, int ic, int mc, int pc, int kc) {
  const int np = (mc + MR - 1) / MR;
  for (int p = 0; p < np; p++) {
    float *dst = Ap + (size_t)p * kc * MR;
    const int i0 = ic + p * MR, mr = mc - p * MR < MR ? mc - p * MR : MR;
    if (!ta) {
      for (int r = 0; r < mr; r++) {
        const float *s = A + (size_t)(i0 + r) * lda + pc;
        for (int k = 0; k < kc; k++) dst[(size_t)k * MR + r] = s[k];
      }
    } else {
      for (int k = 0; k < kc; k++) {
        const float *s = A + (size_t)(pc + k) * lda + i0;
        for (int r = 0; r < mr; r++) dst[(size_t)k * MR + r] = s[r];
      }
    }
    for (int r = mr; r < MR; r++)
      for (int k = 0; k < kc; k++) dst[(size_t)k * MR + r] = 0.0f;
  }
}

// C[mr,nr] = alpha * Ap(kc x MR)^T Bp(kc x NR) + beta * C   (beta == 0: C not read)
static void micro_kernel(int kc, const float *restrict a, const float *restrict b, float *C, int ldc,
                         int mr, int nr, float alpha, float beta) {
  v8f acc[MR][2];
  for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = (v8f){0};
  for (int k = 0; k < kc; k++) {
    const v8f b0 = *(const v8f *)(b + (size_t)k * NR);
    const v8f b1 = *(const v8f *)(b + (size_t)k * NR + 8);
    const float *ak = a + (size_t)k * MR;
    for (int r = 0; r < MR; r++) {
      const float x = ak[r];
      const v8f av = {x, x, x, x, x, x, x, x};  // vbroadcastss
      acc[r][0] += av * b0;
      acc[r][1] += av * b1;
    }
  }
  for (int r = 0; r < mr; r++) {
    float *c = C + (size_t)r * ldc;
    _Alignas(32) float tmp[NR];
    *(v8f *)tmp = acc[r][0];
    *(v8f *)(tmp + 8) = acc[r][1];
    if (beta == 0.0f)
      for (int j = 0; j < nr; j++) c[j] = alpha * tmp[j];
    else if (beta == 1.0f)
      for (int j = 0; j < nr; j++) c[j] += alpha * tmp[j];
    else
      for (int j = 0; j < nr; j++) c[j] = beta * c[j] + alpha * tmp[j];
  }
}

// Tasks are tiles of C: a column block of NC columns times a group of row
// blocks, shared out dynamically. A task packs its op(B) slice once per K
// block and reuses it over its row blocks; the groups are few (about four
// tasks per thread), so B is packed only a few times over, and threads never
// wait on one another inside a GEMM (robust on a busy machine).
static void gemm_blocked(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                         const float *B, int ldb, float beta, float *C, int ldc) {
  const int nth = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int nJ = (N + NC - 1) / NC;
  const int nI = (M + MC - 1) / MC;  // row blocks of MC rows
  int nG = nth > 1 ? (4 * nth + nJ - 1) / nJ : 1;  // row groups
  if (nG > nI) nG = nI;
#pragma omp parallel for schedule(dynamic, 1) if (nG * nJ > 1)
  for (int task = 0; task < nG * nJ; task++) {
    _Alignas(64) float Ap[MC * KC];
    _Alignas(64) float Bp[KC * NC];
    const int g = task / nJ, jc = (task % nJ) * NC;
    const int nc = N - jc < NC ? N - jc : NC;
    const int i0 = (int)((int64_t)nI * g / nG) * MC, i1 = (int)((int64_t)nI * (g + 1) / nG) * MC;
    for (int pc = 0; pc < K; pc += KC) {
      const int kc = K - pc < KC ? K - pc : KC;
      const float bk = pc == 0 ? beta : 1.0f;
      pack_b(Bp, B, ldb, tb, pc, kc, jc, nc);
      for (int ic = i0; ic < i1 && ic < M; ic += MC) {
        const int mcc = M - ic < MC ? M - ic : MC;
        pack_a(Ap, A, lda, ta, ic, mcc, pc, kc);
        for (int jr = 0; jr < nc; jr += NR) {
          const int nr = nc - jr < NR ? nc - jr : NR;
          for (int ir = 0; ir < mcc; ir += MR) {
            const int mr = mcc - ir < MR ? mcc - ir : MR;
            micro_kernel(kc, Ap + (size_t)ir * kc, Bp + (size_t)jr * kc, C + (size_t)(ic + ir) * ldc + jc + jr,
                         ldc, mr, nr, alpha, bk);
          }
        }
      }
    }
  }
}
#endif

void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
#ifdef TSR_HAVE_DNNL
  dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (st != dnnl_success)
    tsr_fatal(__FILE__, __LINE__, "oneDNN",
              "dnnl_sgemm(%c,%c,M=%d,N=%d,K=%d,lda=%d,ldb=%d,ldc=%d) failed: status %d", ta ? 'T' : 'N',
              tb ? 'T' : 'N', M, N, K, lda, ldb, ldc, (int)st);
#else
  gemm_blocked(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}
