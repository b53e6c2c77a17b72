// Fast multi-head scaled-dot-product attention, FlashAttention-2 style.
//
// Scores are kept transposed: a tile St[j][i] = k_j . q_i holds keys in rows
// and queries in columns, so the softmax statistics of BQ queries (running
// max m, running sum l, lse, D) are vectors along a row and everything
// vectorises across queries; K and V tiles are plain row copies and only Q
// (and dO) are transposed, once per tile or per (b,h).
//
// Forward: one work item = (b, h, tile of BQ queries). Qt = (q * scale *
// log2 e)^T is packed once (the softmax runs in base 2); for each tile of BK
// keys: St = K Qt, online softmax over the rows (m_new = max(m, colmax),
// O *= 2^(m - m_new), Pt = 2^(St - m_new), l = l 2^(m - m_new) + colsum),
// O += P V. Only a BK x BQ score tile exists at any time. Keys j >= kvalid[b]
// are never visited. lse = (m + log2 l) ln 2.
//
// Backward: one work item = (b, h, chunk of key tiles); Q, Q^T, dO, dO^T, lse
// and D_i = rowsum(dO_i * O_i) of the pair are packed once. Per key tile and
// query tile: recompute Pt = exp(St - lse); dV += Pt dO; dPt = V dO^T;
// dSt = Pt (dPt - D); dK += scale dSt Q; dQ += scale dS K. dK, dV of a key
// tile are accumulated in thread tile buffers and added to dk, dv once. When
// B*H >= threads each (b,h) is one item and its dQ goes straight to dq
// (different (b,h) write disjoint memory). With fewer pairs than threads the
// key tiles of a pair are split over several items; each writes its dQ
// partial into its own slot and a second pass sums the slots in a fixed
// order (no atomics, no races).
//
// Tile GEMMs are a 6x16 AVX2/FMA register-blocked micro-kernel on packed,
// zero-padded tiles (rows padded to 6, columns to 8); without AVX2 a plain
// loop nest computes the same thing.
//
// Scratch: each thread keeps grow-only thread-local buffers (allocated on the
// first call that needs more, reused afterwards; never freed: OpenMP threads
// live as long as the process). So after the first step there is no
// allocation on the step path. Backward needs about 5*Nq*C + 6*BK*C floats
// per thread (Nq=2048, C=64: ~2.7 MiB); forward about 40k floats.
#include <math.h>
#include <stddef.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/error.h"
#include "kernels/cpu/attention_tiles.h"
#include "kernels/cpu/scratch.h"
#include "kernels/ops.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define ATT_AVX2 1
#else
#define ATT_AVX2 0
#endif

#ifndef ATT_BQ
#define ATT_BQ 96  // queries per tile (multiple of 24: rows of 6, columns of 8)
#endif
#ifndef ATT_BK
#define ATT_BK 132  // keys per tile (multiple of 6)
#endif
enum { MR = 6, QX = 24, BQ = ATT_BQ, BK = ATT_BK };
_Static_assert(BQ % QX == 0, "BQ must be a multiple of 24");
_Static_assert(BK % MR == 0, "BK must be a multiple of 6");
#define LDS (BQ + 8)  // score tiles [BK][LDS]; +8 keeps rows off a power of two

// ---------------------------------------------------------------- vector math
#if ATT_AVX2
// 2^x for x <= 128; x <= -127 gives exactly 0 (masked scores, -inf).
// Range reduction x = n + f, f in [-0.5, 0.5]; degree-6 Taylor of 2^f
// (relative error < 2e-7).
static inline __m256 exp2_ps(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-127.0f), x);
  x = _mm256_min_ps(_mm256_set1_ps(127.0f), x);
  const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(x, n);
  __m256 p = _mm256_set1_ps(1.5403530393381606e-4f);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3333558146428443e-3f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.6181291076284772e-3f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.5504108664821580e-2f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4022650695910071e-1f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.9314718055994531e-1f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
#endif

// s[i] = 2^(s[i] - m[i]) for i < n (n a multiple of 8 with AVX2).
static inline void exp2_sub(float *s, const float *m, int n) {
  int i = 0;
#if ATT_AVX2
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(s + i, exp2_ps(_mm256_sub_ps(_mm256_loadu_ps(s + i), _mm256_loadu_ps(m + i))));
#endif
  for (; i < n; i++) s[i] = exp2f(s[i] - m[i]);
}

// ---------------------------------------------------------------- tile GEMM
// C[M,N] (= or +=) A B with A(i,p) = A[i*sai + p*sap] (i < M, p < K) and
// B(p,j) = B[p*ldb + j]. M a multiple of MR, N a multiple of 8.
#if ATT_AVX2
#define FMA_ROW(r)                                          \
  do {                                                      \
    const __m256 x_ = _mm256_broadcast_ss(a + (r) * sai);   \
    c##r##0 = _mm256_fmadd_ps(x_, b0, c##r##0);             \
    c##r##1 = _mm256_fmadd_ps(x_, b1, c##r##1);             \
  } while (0)
#define STORE_ROW(r)                                                                         \
  do {                                                                                       \
    float *d_ = Cm + (r) * ldc;                                                              \
    if (acc) {                                                                               \
      c##r##0 = _mm256_add_ps(c##r##0, _mm256_loadu_ps(d_));                                 \
      c##r##1 = _mm256_add_ps(c##r##1, _mm256_loadu_ps(d_ + 8));                             \
    }                                                                                        \
    _mm256_storeu_ps(d_, c##r##0);                                                           \
    _mm256_storeu_ps(d_ + 8, c##r##1);                                                       \
  } while (0)

static inline __attribute__((always_inline)) void mk_6x16(int K, const float *A, ptrdiff_t sai, ptrdiff_t sap,
                                                          const float *B, ptrdiff_t ldb, float *Cm,
                                                          ptrdiff_t ldc, int acc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float *a = A;
  for (int p = 0; p < K; p++, a += sap, B += ldb) {
    const __m256 b0 = _mm256_loadu_ps(B), b1 = _mm256_loadu_ps(B + 8);
    FMA_ROW(0);
    FMA_ROW(1);
    FMA_ROW(2);
    FMA_ROW(3);
    FMA_ROW(4);
    FMA_ROW(5);
  }
  STORE_ROW(0);
  STORE_ROW(1);
  STORE_ROW(2);
  STORE_ROW(3);
  STORE_ROW(4);
  STORE_ROW(5);
}

static inline __attribute__((always_inline)) void mk_6x8(int K, const float *A, ptrdiff_t sai, ptrdiff_t sap,
                                                         const float *B, ptrdiff_t ldb, float *Cm,
                                                         ptrdiff_t ldc, int acc) {
  __m256 c[MR];
  for (int r = 0; r < MR; r++) c[r] = _mm256_setzero_ps();
  const float *a = A;
  for (int p = 0; p < K; p++, a += sap, B += ldb) {
    const __m256 b0 = _mm256_loadu_ps(B);
    for (int r = 0; r < MR; r++) c[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r * sai), b0, c[r]);
  }
  for (int r = 0; r < MR; r++) {
    float *d = Cm + r * ldc;
    if (acc) c[r] = _mm256_add_ps(c[r], _mm256_loadu_ps(d));
    _mm256_storeu_ps(d, c[r]);
  }
}
#endif

static void tgemm(int M, int N, int K, const float *A, ptrdiff_t sai, ptrdiff_t sap, const float *B,
                  ptrdiff_t ldb, float *Cm, ptrdiff_t ldc, int acc) {
#if ATT_AVX2
  for (int i = 0; i < M; i += MR) {
    const float *Ai = A + i * sai;
    float *Ci = Cm + i * ldc;
    int j = 0;
    for (; j + 16 <= N; j += 16) mk_6x16(K, Ai, sai, sap, B + j, ldb, Ci + j, ldc, acc);
    if (j < N) mk_6x8(K, Ai, sai, sap, B + j, ldb, Ci + j, ldc, acc);
  }
#elif defined(__GNUC__)
  // Portable 6x8 register tile with GCC vector extensions (SSE, NEON, ...).
  typedef float v4 __attribute__((vector_size(16), aligned(4), may_alias));
  for (int i = 0; i < M; i += MR)
    for (int j = 0; j < N; j += 8) {
      v4 c[MR][2];
      for (int r = 0; r < MR; r++) c[r][0] = c[r][1] = (v4){0, 0, 0, 0};
      const float *a = A + i * sai, *b = B + j;
      for (int p = 0; p < K; p++, a += sap, b += ldb) {
        const v4 b0 = *(const v4 *)b, b1 = *(const v4 *)(b + 4);
        for (int r = 0; r < MR; r++) {
          const float x = a[r * sai];
          c[r][0] += x * b0;
          c[r][1] += x * b1;
        }
      }
      for (int r = 0; r < MR; r++) {
        v4 *d = (v4 *)(Cm + (i + r) * ldc + j);
        if (acc) c[r][0] += d[0], c[r][1] += d[1];
        d[0] = c[r][0], d[1] = c[r][1];
      }
    }
#else
  for (int i = 0; i < M; i++) {
    float *Ci = Cm + i * ldc;
    if (!acc)
      for (int j = 0; j < N; j++) Ci[j] = 0;
    for (int p = 0; p < K; p++) {
      const float a = A[i * sai + p * sap];
      const float *Bp = B + p * ldb;
      for (int j = 0; j < N; j++) Ci[j] += a * Bp[j];
    }
  }
#endif
}

// ---------------------------------------------------------------- packing
// dst[r*ld + c] = f * src[r*lds + c] for r < n, c < C; zero for c in [C,ld)
// and rows in [n, np).
static void pack_rows(float *dst, int ld, const float *src, ptrdiff_t lds, int n, int np, int C, float f) {
  for (int r = 0; r < n; r++) {
    const float *s = src + r * lds;
    float *d = dst + (size_t)r * ld;
    for (int c = 0; c < C; c++) d[c] = f * s[c];
    for (int c = C; c < ld; c++) d[c] = 0;
  }
  if (np > n) memset(dst + (size_t)n * ld, 0, sizeof(float) * (size_t)(np - n) * ld);
}

// dst[c*ld + j] = f * src[j*lds + c] for j < n, c < C; zero for j in [n, np).
// Blocks of 8 source rows keep the writes on few cache lines.
static void pack_trans(float *dst, int ld, const float *src, ptrdiff_t lds, int n, int np, int C, float f) {
  int j0 = 0;
  for (; j0 + 8 <= n; j0 += 8)
    for (int c = 0; c < C; c++) {
      float *d = dst + (size_t)c * ld + j0;
      for (int j = 0; j < 8; j++) d[j] = f * src[(j0 + j) * lds + c];
    }
  for (int j = j0; j < n; j++)
    for (int c = 0; c < C; c++) dst[(size_t)c * ld + j] = f * src[j * lds + c];
  for (int c = 0; c < C; c++)
    for (int j = n; j < np; j++) dst[(size_t)c * ld + j] = 0;
}

// ---------------------------------------------------------------- forward
// One item = (b, h, group of up to GQ query tiles): each K/V tile is packed
// once per group and used by all its query tiles.
#ifndef ATT_GQ
#define ATT_GQ 4
#endif
enum { GQ = ATT_GQ };

typedef struct {
  float *Qt, *O, *m, *l;  // per query tile of the group: [GQ][...]
  float *K, *V, *St, *mx, *alpha;
} FwdBufs;

static size_t fwd_carve(FwdBufs *w, float *base, int C, int Cp) {
  Carve c = {base, 0};
  w->Qt = carve(&c, (size_t)GQ * C * BQ);
  w->O = carve(&c, (size_t)GQ * BQ * Cp);
  w->m = carve(&c, (size_t)GQ * BQ);
  w->l = carve(&c, (size_t)GQ * BQ);
  w->K = carve(&c, (size_t)BK * Cp);
  w->V = carve(&c, (size_t)BK * Cp);
  w->St = carve(&c, (size_t)BK * LDS);
  w->mx = carve(&c, BQ);
  w->alpha = carve(&c, BQ);
  return c.used;
}

typedef struct {
  float *out, *lse;
  const float *q, *k, *v;
  int ldo, ldq, ldk, ldv, Nq, Nk, H, C, Cp;
  float qscale;
} FwdArgs;

// Online-softmax update of one query tile with key tile St (nk rows, nqx
// columns), then O += P V.
static void fwd_tile(const FwdBufs *w, float *O, float *m, float *l, int nk, int nqx, int Cp) {
  float *mx = w->mx, *alpha = w->alpha;
  for (int i = 0; i < nqx; i++) mx[i] = m[i];
  for (int j = 0; j < nk; j++) {
    const float *s = w->St + (size_t)j * LDS;
    for (int i = 0; i < nqx; i++) mx[i] = s[i] > mx[i] ? s[i] : mx[i];
  }
  for (int i = 0; i < nqx; i++) alpha[i] = m[i];
  exp2_sub(alpha, mx, nqx);  // 2^(m_old - m_new); 0 on the first tile (m_old = -inf)
  for (int i = 0; i < nqx; i++) m[i] = mx[i], l[i] *= alpha[i];
  for (int j = 0; j < nk; j++) {
    float *s = w->St + (size_t)j * LDS;
    exp2_sub(s, m, nqx);
    for (int i = 0; i < nqx; i++) l[i] += s[i];
  }
  for (int i = 0; i < nqx; i++)
    if (alpha[i] != 1.0f) {
      float *o = O + (size_t)i * Cp;
      for (int c = 0; c < Cp; c++) o[c] *= alpha[i];
    }
  tgemm(nqx, Cp, nk, w->St, 1, LDS, w->V, Cp, O, Cp, 1);  // O += P V
}

// Query tiles [qt0, qt1) of pair (b, h) against its nv valid keys.
static void fwd_item(const FwdBufs *w, const FwdArgs *a, int b, int h, int qt0, int qt1, int nv) {
  const int Nq = a->Nq, C = a->C, Cp = a->Cp;
  const size_t col = (size_t)h * C;
  for (int g = 0; g < qt1 - qt0; g++) {
    const int i0 = (qt0 + g) * BQ, nq = imin(BQ, Nq - i0), nqx = rup(nq, QX);
    pack_trans(w->Qt + (size_t)g * C * BQ, BQ, a->q + ((size_t)b * Nq + i0) * a->ldq + col, a->ldq, nq, nqx, C,
               a->qscale);
    memset(w->O + (size_t)g * BQ * Cp, 0, sizeof(float) * (size_t)nqx * Cp);
    for (int i = 0; i < nqx; i++) w->m[g * BQ + i] = -INFINITY, w->l[g * BQ + i] = 0;
  }
  for (int j0 = 0; j0 < nv; j0 += BK) {
    const int nk = imin(BK, nv - j0), nkr = rup(nk, MR);
    const size_t rk = (size_t)b * a->Nk + j0;
    pack_rows(w->K, Cp, a->k + rk * a->ldk + col, a->ldk, nk, nkr, C, 1.0f);
    pack_rows(w->V, Cp, a->v + rk * a->ldv + col, a->ldv, nk, nk, C, 1.0f);
    for (int g = 0; g < qt1 - qt0; g++) {
      const int nqx = rup(imin(BQ, Nq - (qt0 + g) * BQ), QX);
      tgemm(nkr, nqx, C, w->K, Cp, 1, w->Qt + (size_t)g * C * BQ, BQ, w->St, LDS, 0);  // St = K Qt (base 2)
      fwd_tile(w, w->O + (size_t)g * BQ * Cp, w->m + g * BQ, w->l + g * BQ, nk, nqx, Cp);
    }
  }
  for (int g = 0; g < qt1 - qt0; g++) {
    const int i0 = (qt0 + g) * BQ;
    attention_out_write(a->out, a->ldo, a->lse, w->O + (size_t)g * BQ * Cp, Cp, w->m + g * BQ, w->l + g * BQ, b, h,
                        a->H, Nq, i0, imin(BQ, Nq - i0), C);
  }
}

void attention_forward(float *out, int ldo, float *lse, const float *q, int ldq, const float *k, int ldk,
                       const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C) {
  if (B <= 0 || Nq <= 0 || H <= 0 || C <= 0) return;
  TSR_ASSERT(Nk >= 1, "attention: Nk = %d", Nk);
  const FwdArgs a = {out, lse, q, k, v, ldo, ldq, ldk, ldv, Nq, Nk, H, C, rup(C, 8), LOG2E / sqrtf((float)C)};
  const int nqt = (Nq + BQ - 1) / BQ, BH = B * H, gq = attention_fwd_group(BH, nqt, GQ);
  const int ngr = (nqt + gq - 1) / gq;
  const size_t need = fwd_carve(&(FwdBufs){0}, NULL, C, a.Cp);
  const long items = (long)BH * ngr;
#pragma omp parallel if (items > 1)
  {
    FwdBufs w;
    fwd_carve(&w, cpu_scratch(SCRATCH_ATTN_WORK, need), C, a.Cp);
#pragma omp for schedule(dynamic, 1)
    for (long it = 0; it < items; it++) {
      const int bh = (int)(it / ngr), g = (int)(it % ngr), b = bh / H, h = bh % H;
      fwd_item(&w, &a, b, h, g * gq, imin((g + 1) * gq, nqt), keys_of(kvalid, b, Nk));
    }
  }
}

// ---------------------------------------------------------------- backward
typedef struct {
  float *Qs, *Qt, *dO, *dOt, *lse2, *D, *dQ, *K, *V, *St, *dPt, *dK, *dV;
} BwdBufs;

// Pair-wide packs have Nqx = rup(Nq, 24) rows; transposed ones ld = Nqx + 8.
// dQ is carved here only when `own_dq` (one item per (b,h)).
static size_t bwd_carve(BwdBufs *w, float *base, int Nqx, int C, int Cp, int own_dq) {
  Carve c = {base, 0};
  w->Qs = carve(&c, (size_t)Nqx * Cp);
  w->Qt = carve(&c, (size_t)C * (Nqx + 8));
  w->dO = carve(&c, (size_t)Nqx * Cp);
  w->dOt = carve(&c, (size_t)C * (Nqx + 8));
  w->lse2 = carve(&c, Nqx);
  w->D = carve(&c, Nqx);
  w->dQ = own_dq ? carve(&c, (size_t)Nqx * Cp) : NULL;
  w->K = carve(&c, (size_t)BK * Cp);
  w->V = carve(&c, (size_t)BK * Cp);
  w->St = carve(&c, (size_t)BK * LDS);
  w->dPt = carve(&c, (size_t)BK * LDS);
  w->dK = carve(&c, (size_t)BK * Cp);
  w->dV = carve(&c, (size_t)BK * Cp);
  return c.used;
}

typedef struct {
  float *dq, *dk, *dv;
  const float *dout, *out, *lse, *q, *k, *v;
  int ldo, ldq, ldk, ldv, Nq, Nk, H, C, Cp, Nqx;
  float qscale, scale;
} BwdArgs;

// Key tiles [t0, t1) of pair (b, h); dQ (Nqx x Cp, zeroed here, may be NULL)
// receives sum_j dS K for those tiles, unscaled.
static void bwd_item(const BwdBufs *w, const BwdArgs *a, float *dQ, int b, int h, int nv, int t0, int t1) {
  const int Nq = a->Nq, C = a->C, Cp = a->Cp, Nqx = a->Nqx, ldt = Nqx + 8;
  const size_t col = (size_t)h * C;
  const float *qb = a->q + (size_t)b * Nq * a->ldq + col;
  const float *dob = a->dout + (size_t)b * Nq * a->ldo + col;
  const float *ob = a->out + (size_t)b * Nq * a->ldo + col;
  const float *lseb = a->lse + ((size_t)b * a->H + h) * Nq;
  pack_rows(w->Qs, Cp, qb, a->ldq, Nq, Nqx, C, a->qscale);
  pack_trans(w->Qt, ldt, qb, a->ldq, Nq, Nqx, C, a->qscale);
  pack_rows(w->dO, Cp, dob, a->ldo, Nq, Nqx, C, 1.0f);
  pack_trans(w->dOt, ldt, dob, a->ldo, Nq, Nqx, C, 1.0f);
  for (int i = 0; i < Nq; i++) {
    const float *o = ob + (size_t)i * a->ldo, *d = w->dO + (size_t)i * Cp;
    float s = 0;
    for (int c = 0; c < C; c++) s += d[c] * o[c];
    w->D[i] = s;
    w->lse2[i] = lseb[i] * LOG2E;
  }
  for (int i = Nq; i < Nqx; i++) w->D[i] = 0, w->lse2[i] = INFINITY;  // padded queries: P = 0
  if (dQ) memset(dQ, 0, sizeof(float) * (size_t)Nqx * Cp);
  const int want_ds = dQ || a->dk;

  for (int t = t0; t < t1; t++) {
    const int j0 = t * BK, nk = imin(BK, nv - j0), nkr = rup(nk, MR);
    const size_t rk = (size_t)a->Nk * b + j0;
    pack_rows(w->K, Cp, a->k + rk * a->ldk + col, a->ldk, nk, nkr, C, 1.0f);
    pack_rows(w->V, Cp, a->v + rk * a->ldv + col, a->ldv, nk, nkr, C, 1.0f);
    if (a->dk) memset(w->dK, 0, sizeof(float) * (size_t)nkr * Cp);
    if (a->dv) memset(w->dV, 0, sizeof(float) * (size_t)nkr * Cp);

    for (int i0 = 0; i0 < Nqx; i0 += BQ) {
      const int nqx = imin(BQ, Nqx - i0);
      const float *Qs = w->Qs + (size_t)i0 * Cp, *dO = w->dO + (size_t)i0 * Cp;
      tgemm(nkr, nqx, C, w->K, Cp, 1, w->Qt + i0, ldt, w->St, LDS, 0);  // St = K Qt (base 2)
      for (int j = 0; j < nk; j++) exp2_sub(w->St + (size_t)j * LDS, w->lse2 + i0, nqx);  // Pt
      for (int j = nk; j < nkr; j++) memset(w->St + (size_t)j * LDS, 0, sizeof(float) * nqx);
      if (a->dv) tgemm(nkr, Cp, nqx, w->St, LDS, 1, dO, Cp, w->dV, Cp, 1);  // dV += Pt dO
      if (!want_ds) continue;
      tgemm(nkr, nqx, C, w->V, Cp, 1, w->dOt + i0, ldt, w->dPt, LDS, 0);  // dPt = V dO^T
      const float *D = w->D + i0;
      for (int j = 0; j < nkr; j++) {  // dSt = Pt (dPt - D), in St
        float *p = w->St + (size_t)j * LDS;
        const float *dp = w->dPt + (size_t)j * LDS;
        for (int i = 0; i < nqx; i++) p[i] = p[i] * (dp[i] - D[i]);
      }
      if (a->dk) tgemm(nkr, Cp, nqx, w->St, LDS, 1, Qs, Cp, w->dK, Cp, 1);                     // dK += dSt Qs
      if (dQ) tgemm(nqx, Cp, nk, w->St, 1, LDS, w->K, Cp, dQ + (size_t)i0 * Cp, Cp, 1);  // dQ += dS K
    }
    // Qs = q * scale * log2(e), so dK = dS^T q * scale = dS^T Qs / log2(e).
    attention_dkv_add(a->dk, a->ldk, a->dv, a->ldv, w->dK, w->dV, Cp, rk, col, nk, C);
  }
}

void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out, int ldo,
                        const float *lse, const float *q, int ldq, const float *k, int ldk,
                        const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C) {
  if (B <= 0 || Nq <= 0 || H <= 0 || C <= 0 || (!dq && !dk && !dv)) return;
  TSR_ASSERT(Nk >= 1, "attention: Nk = %d", Nk);
  BwdArgs a = {dq, dk, dv, dout, out, lse, q, k, v, ldo, ldq, ldk, ldv, Nq, Nk, H, C,
               rup(C, 8), rup(Nq, QX), LOG2E / sqrtf((float)C), 1.0f / sqrtf((float)C)};
  const int Cp = a.Cp, Nqx = a.Nqx, BH = B * H;
  const int nsplit = attention_bwd_splits(BH, Nk, BK);
  const long items = (long)BH * nsplit;
  const int own_dq = dq && nsplit == 1;
  float *part = NULL;  // [items][Nqx][Cp] dQ partials when split
  if (dq && nsplit > 1) part = cpu_scratch(SCRATCH_ATTN_SHARED, (size_t)items * Nqx * Cp);
  const size_t need = bwd_carve(&(BwdBufs){0}, NULL, Nqx, C, Cp, own_dq);

#pragma omp parallel if (items > 1)
  {
    BwdBufs w;
    bwd_carve(&w, cpu_scratch(SCRATCH_ATTN_WORK, need), Nqx, C, Cp, own_dq);
#pragma omp for schedule(dynamic, 1)
    for (long it = 0; it < items; it++) {
      const int bh = (int)(it / nsplit), s = (int)(it % nsplit), b = bh / H, h = bh % H;
      const int nv = keys_of(kvalid, b, Nk), ntk = (nv + BK - 1) / BK;
      const int t0 = (int)((long)ntk * s / nsplit), t1 = (int)((long)ntk * (s + 1) / nsplit);
      float *dQ = own_dq ? w.dQ : part ? part + (size_t)it * Nqx * Cp : NULL;
      bwd_item(&w, &a, dQ, b, h, nv, t0, t1);
      if (own_dq) attention_dq_add(dq, ldq, w.dQ, Cp, b, h, Nq, C, a.scale);
    }
    if (part) attention_dq_sum_splits(dq, ldq, part, nsplit, Nqx, Cp, BH, H, Nq, C, a.scale);
  }
}
