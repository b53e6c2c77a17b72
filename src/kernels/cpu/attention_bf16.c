// Attention with bf16 tile products (the CPU backend's bf16 mode):
// attention_forward_bf16 / attention_backward_bf16 compute what
// attention_forward / attention_backward compute (same arguments, kvalid,
// lse, strides, += into dq, dk, dv) with the same FlashAttention-2 tiling as
// attention.c, but every tile GEMM multiplies bf16 operands (rounded to
// nearest even) with fp32 accumulation through AVX512-BF16 vdpbf16ps. The
// softmax statistics (running max, sum, lse), exp, D = rowsum(dO * O) and
// every accumulator (O, dQ, dK, dV) stay fp32.
//
// vdpbf16ps: c[j] += a[2p] b[2p][j] + a[2p+1] b[2p+1][j] for 16 fp32 lanes j.
// So a product's A operand is read as 32-bit pairs (two bf16 neighbours along
// the reduction dim, broadcast), and its B operand is pair-interleaved along
// the reduction dim: B(p, j) = (b[2p][j], b[2p+1][j]) as one 32-bit word, 16
// columns in one zmm. Layouts (u32 = one bf16 pair; K/2 rounded up, zeros pad
// an odd reduction length):
//   row-major bf16      X[r][c], pairs along c          (A, reduction over c)
//   pair-transposed     T[c/2][r]: pairs of row r        (B, reduction over c)
//   pair-interleaved    I[r/2][c]: rows 2p, 2p+1 of col c (B, reduction over r;
//                       or A read with row stride 1)
// Forward, per key tile: K row-major, V pair-interleaved; per query tile Qt
// pair-transposed (scaled by scale*log2 e), St = K Qt, online softmax in fp32
// over the rows, P = 2^(St - m) converted once per tile into pair-interleaved
// rows (vcvtne2ps2bf16 of two rows + one vpermw), O += P V.
// Backward, per (b,h): Qt and dOt pair-transposed, Qs and dO pair-interleaved;
// per key tile K row-major and pair-interleaved, V row-major; per key tile x
// query tile: St = K Qt, dPt = V dOt (fp32), then one pass makes
// Pt = 2^(St - lse2) and dSt = Pt (dPt - D) in fp32 and stores them as bf16:
// Pt row-major (dV += Pt dO), dSt row-major (dK += dSt Qs) and
// pair-interleaved (dQ += dS K). Five tile products as in attention.c.
//
// Micro-kernel: 8 rows x 32 columns (16 zmm accumulators; 8x16 for a last
// 16 columns), A broadcast one pair at a time with arbitrary strides. M is a
// multiple of 8, N of 16 (zero padding). Threads, work items (forward: b, h,
// group of query tiles; backward: b, h, chunk of key tiles with the split dQ
// partials summed in a fixed order), scratch (cpu_scratch, grow-only; no
// allocation on the step path after the first call) as in attention.c.
//
// Without AVX512-BF16 (and AVX512F/BW) these are the fp32 functions.
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/error.h"
#include "kernels/cpu/attention_tiles.h"
#include "kernels/cpu/scratch.h"
#include "kernels/ops.h"

#if defined(__AVX512BF16__) && defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>

#ifndef ATB_BQ
#define ATB_BQ 96  // queries per tile (multiple of 16)
#endif
#ifndef ATB_BK
#define ATB_BK 128  // keys per tile (multiple of 8)
#endif
#ifndef ATB_GQ
#define ATB_GQ 4  // query tiles per forward item
#endif
enum { MR = 8, BQ = ATB_BQ, BK = ATB_BK, GQ = ATB_GQ };
_Static_assert(BQ % 16 == 0, "BQ must be a multiple of 16");
_Static_assert(BK % MR == 0, "BK must be a multiple of 8");
#define LDS (BQ + 16)     // fp32 score tiles [BK][LDS]
#define LDP (BQ + 16)     // pair-interleaved bf16 tiles [BK/2][LDP] (u32 pairs, one per query)
#define LDH (BQ / 2 + 8)  // row-major bf16 tiles [BK][LDH] (u32 = two queries)

// ---------------------------------------------------------------- vector helpers
static inline __mmask16 mask16(int n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// 2^x for x <= 127 (every caller's x is <= 0 up to rounding: scores minus
// their max or their lse), attention.c's polynomial on 16 lanes: x = n + f,
// f in [-0.5, 0.5], degree-6 Taylor of 2^f (rel. error < 2e-7), scaled by
// 2^n with vscalefps. x <= -127 (masked, -inf) gives 2^-127 p(f), a
// denormal: 0 in the flush-to-zero threads tessera computes in, and read as
// 0 by vcvtne2ps2bf16 in any case.
static inline __m512 exp2_16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-127.0f), x);
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(1.5403530393381606e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146428443e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291076284772e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504108664821580e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650695910071e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718055994531e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// vpermw index: word 2k <- k (first row), word 2k+1 <- 16 + k (second row)
static const uint16_t interleave_idx[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                            8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

// both rows rounded: bf16 x[0..15] = lo, x[16..31] = hi (nearest even)
static inline __m512i cvt2(__m512 lo, __m512 hi) { return (__m512i)_mm512_cvtne2ps_pbh(hi, lo); }
// 16 pairs: word k = (bf16(lo[k]), bf16(hi[k])), lo in the low half
static inline __m512i interleave(__m512i x) {
  return _mm512_permutexvar_epi16(_mm512_loadu_si512(interleave_idx), x);
}

// ---------------------------------------------------------------- packing (round to bf16 once)
// The source rows are strided (e.g. the model's packed qkv: 3 KiB apart) and
// mostly not in cache: fetch a few rows ahead.
enum { PF_ROWS = 6 };
static inline void prefetch_row(const float *s, int C) {
  for (int c = 0; c < C; c += 16) _mm_prefetch((const char *)(s + c), _MM_HINT_T0);
}

// Row-major: dst[r*ld + p] = (f src[r][2p], f src[r][2p+1]) for r < n, p < (C+1)/2
// (an odd C's last pair gets a zero); rows [n, np) zero.
static void pack_rows16(uint32_t *dst, int ld, const float *src, ptrdiff_t lds, int n, int np, int C, float f) {
  const int kp = (C + 1) / 2;
  const __m512 fv = _mm512_set1_ps(f);
  for (int r = 0; r < n; r++) {
    const float *s = src + r * lds;
    uint32_t *d = dst + (size_t)r * ld;
    if (r + PF_ROWS < n) prefetch_row(s + PF_ROWS * lds, C);
    for (int c = 0; c < C; c += 32) {
      const __m512 lo = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask16(C - c), s + c), fv);
      const __m512 hi = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask16(C - c - 16), s + c + 16), fv);
      _mm512_mask_storeu_epi32(d + c / 2, mask16(kp - c / 2), cvt2(lo, hi));
    }
  }
  for (int r = n; r < np; r++) memset(dst + (size_t)r * ld, 0, sizeof(uint32_t) * kp);
}

// Pair-transposed: dst[p*ld + r] = (f src[r][2p], f src[r][2p+1]) for r < n;
// zero for r in [n, np). np a multiple of 16 (>= n).
static void pack_trans16(uint32_t *dst, int ld, const float *src, ptrdiff_t lds, int n, int np, int C, float f) {
  const int kp = (C + 1) / 2;
  const __m512 fv = _mm512_set1_ps(f);
  uint32_t tmp[16 * 32] __attribute__((aligned(64)));  // 16 rows x 32 pairs
  const __m512i rows = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                          _mm512_set1_epi32(32));
  for (int i0 = 0; i0 < np; i0 += 16) {
    const int nr = imin(16, n - i0);  // may be <= 0: all padding
    for (int c0 = 0; c0 < C; c0 += 64) {
      for (int r = 0; r < 16; r++) {
        uint32_t *t = tmp + r * 32;
        if (r >= nr) {
          memset(t, 0, sizeof(uint32_t) * 32);
          continue;
        }
        const float *s = src + (ptrdiff_t)(i0 + r) * lds + c0;
        const int cl = C - c0;
        if (i0 + r + PF_ROWS < n) prefetch_row(s + PF_ROWS * lds, imin(cl, 64));
        for (int h = 0; h < 2; h++) {
          const __m512 lo = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask16(cl - 32 * h), s + 32 * h), fv);
          const __m512 hi = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask16(cl - 32 * h - 16), s + 32 * h + 16), fv);
          _mm512_store_si512(t + 16 * h, cvt2(lo, hi));
        }
      }
      const int pe = imin(32, kp - c0 / 2);
      for (int p = 0; p < pe; p++) {
        const __m512i v = _mm512_i32gather_epi32(_mm512_add_epi32(rows, _mm512_set1_epi32(p)), (const void *)tmp, 4);
        _mm512_storeu_si512(dst + (size_t)(c0 / 2 + p) * ld + i0, v);
      }
    }
  }
}

// Pair-interleaved: dst[p*ld + c] = (f src[2p][c], f src[2p+1][c]) for
// p < np/2, c < Cp (Cp a multiple of 16 <= ld); rows >= n and columns >= C zero.
static void pack_pairs16(uint32_t *dst, int ld, const float *src, ptrdiff_t lds, int n, int np, int C, int Cp,
                         float f) {
  const __m512 fv = _mm512_set1_ps(f), z = _mm512_setzero_ps();
  for (int p = 0; p < np / 2; p++) {
    const int r0 = 2 * p, r1 = r0 + 1;
    uint32_t *d = dst + (size_t)p * ld;
    if (r1 + PF_ROWS < n) prefetch_row(src + (r0 + PF_ROWS) * lds, C), prefetch_row(src + (r1 + PF_ROWS) * lds, C);
    for (int c = 0; c < Cp; c += 16) {
      const __mmask16 m = mask16(C - c);
      const __m512 lo = r0 < n ? _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + r0 * lds + c), fv) : z;
      const __m512 hi = r1 < n ? _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + r1 * lds + c), fv) : z;
      _mm512_storeu_si512(d + c, interleave(cvt2(lo, hi)));
    }
  }
}

// ---------------------------------------------------------------- tile GEMM
// C[M,N] (= or +=) A B, bf16 pairs in, fp32 out: A(i,p) = A[i*sai + p*sap]
// (one u32 = two bf16 along the reduction), B(p,j) = B[p*ldb + j]
// (pair-interleaved), p < Kp. M a multiple of 8, N a multiple of 16.
#define DP_ROW2(r)                                                                 \
  do {                                                                             \
    const __m512bh x_ = (__m512bh)_mm512_set1_epi32((int)a[(r) * sai]);           \
    c##r##0 = _mm512_dpbf16_ps(c##r##0, x_, b0);                                   \
    c##r##1 = _mm512_dpbf16_ps(c##r##1, x_, b1);                                   \
  } while (0)
#define ST_ROW2(r)                                                                 \
  do {                                                                             \
    float *d_ = Cm + (r) * ldc;                                                    \
    if (acc) {                                                                     \
      c##r##0 = _mm512_add_ps(c##r##0, _mm512_loadu_ps(d_));                       \
      c##r##1 = _mm512_add_ps(c##r##1, _mm512_loadu_ps(d_ + 16));                  \
    }                                                                              \
    _mm512_storeu_ps(d_, c##r##0);                                                 \
    _mm512_storeu_ps(d_ + 16, c##r##1);                                            \
  } while (0)

static inline __attribute__((always_inline)) void mk_8x32(int Kp, const uint32_t *A, ptrdiff_t sai, ptrdiff_t sap,
                                                          const uint32_t *B, ptrdiff_t ldb, float *Cm, ptrdiff_t ldc,
                                                          int acc) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
  const uint32_t *a = A;
  for (int p = 0; p < Kp; p++, a += sap, B += ldb) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(B), b1 = (__m512bh)_mm512_loadu_si512(B + 16);
    DP_ROW2(0);
    DP_ROW2(1);
    DP_ROW2(2);
    DP_ROW2(3);
    DP_ROW2(4);
    DP_ROW2(5);
    DP_ROW2(6);
    DP_ROW2(7);
  }
  ST_ROW2(0);
  ST_ROW2(1);
  ST_ROW2(2);
  ST_ROW2(3);
  ST_ROW2(4);
  ST_ROW2(5);
  ST_ROW2(6);
  ST_ROW2(7);
}

static inline __attribute__((always_inline)) void mk_8x16(int Kp, const uint32_t *A, ptrdiff_t sai, ptrdiff_t sap,
                                                          const uint32_t *B, ptrdiff_t ldb, float *Cm, ptrdiff_t ldc,
                                                          int acc) {
  __m512 c[MR];
  for (int r = 0; r < MR; r++) c[r] = _mm512_setzero_ps();
  const uint32_t *a = A;
  for (int p = 0; p < Kp; p++, a += sap, B += ldb) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(B);
    for (int r = 0; r < MR; r++) c[r] = _mm512_dpbf16_ps(c[r], (__m512bh)_mm512_set1_epi32((int)a[r * sai]), b0);
  }
  for (int r = 0; r < MR; r++) {
    float *d = Cm + r * ldc;
    if (acc) c[r] = _mm512_add_ps(c[r], _mm512_loadu_ps(d));
    _mm512_storeu_ps(d, c[r]);
  }
}

static void bgemm(int M, int N, int Kp, const uint32_t *A, ptrdiff_t sai, ptrdiff_t sap, const uint32_t *B,
                  ptrdiff_t ldb, float *Cm, ptrdiff_t ldc, int acc) {
  for (int i = 0; i < M; i += MR) {
    const uint32_t *Ai = A + i * sai;
    float *Ci = Cm + i * ldc;
    int j = 0;
    for (; j + 32 <= N; j += 32) mk_8x32(Kp, Ai, sai, sap, B + j, ldb, Ci + j, ldc, acc);
    if (j < N) mk_8x16(Kp, Ai, sai, sap, B + j, ldb, Ci + j, ldc, acc);
  }
}

// ---------------------------------------------------------------- forward
typedef struct {
  uint32_t *Qt, *K, *V, *P;  // bf16 pairs: Qt [GQ][KP][BQ], K [BK][KP], V [BK/2][Cp], P [BK/2][LDP]
  float *O, *m, *l, *St, *alpha;
} FwdBufs;

static size_t fwd_carve(FwdBufs *w, float *base, int KP, int Cp) {
  Carve c = {base, 0};
  w->Qt = carve(&c, (size_t)GQ * KP * BQ);
  w->O = carve(&c, (size_t)GQ * BQ * Cp);
  w->m = carve(&c, (size_t)GQ * BQ);
  w->l = carve(&c, (size_t)GQ * BQ);
  w->K = carve(&c, (size_t)BK * KP);
  w->V = carve(&c, (size_t)BK / 2 * Cp);
  w->St = carve(&c, (size_t)BK * LDS);
  w->P = carve(&c, (size_t)BK / 2 * LDP);
  w->alpha = carve(&c, BQ);
  return c.used;
}

typedef struct {
  float *out, *lse;
  const float *q, *k, *v;
  int ldo, ldq, ldk, ldv, Nq, Nk, H, C, Cp, KP;
  float qscale;
} FwdArgs;

// Online softmax of one query tile over key tile St (nk rows, nqx columns),
// P to bf16 pairs, O += P V.
static void fwd_tile(const FwdBufs *w, float *O, float *m, float *l, int nk, int nqx, int Cp) {
  const int nkp = (nk + 1) / 2;
  const float *St = w->St;
  for (int i0 = 0; i0 < nqx; i0 += 16) {
    const __m512 mo = _mm512_loadu_ps(m + i0);
    __m512 mx = mo;
    for (int j = 0; j < nk; j++) mx = _mm512_max_ps(mx, _mm512_loadu_ps(St + (size_t)j * LDS + i0));
    const __m512 al = exp2_16(_mm512_sub_ps(mo, mx));  // 0 on the first tile (m = -inf)
    _mm512_storeu_ps(w->alpha + i0, al);
    _mm512_storeu_ps(m + i0, mx);
    __m512 lv = _mm512_mul_ps(_mm512_loadu_ps(l + i0), al);
    for (int jp = 0; jp < nkp; jp++) {
      const float *s = St + (size_t)(2 * jp) * LDS + i0;
      const __m512 p0 = exp2_16(_mm512_sub_ps(_mm512_loadu_ps(s), mx));
      const __m512 p1 = 2 * jp + 1 < nk ? exp2_16(_mm512_sub_ps(_mm512_loadu_ps(s + LDS), mx)) : _mm512_setzero_ps();
      lv = _mm512_add_ps(_mm512_add_ps(lv, p0), p1);
      _mm512_storeu_si512(w->P + (size_t)jp * LDP + i0, interleave(cvt2(p0, p1)));
    }
    _mm512_storeu_ps(l + i0, lv);
  }
  for (int i = 0; i < nqx; i++) {
    const float a = w->alpha[i];
    if (a != 1.0f) {
      float *o = O + (size_t)i * Cp;
      const __m512 av = _mm512_set1_ps(a);
      for (int c = 0; c < Cp; c += 16) _mm512_storeu_ps(o + c, _mm512_mul_ps(_mm512_loadu_ps(o + c), av));
    }
  }
  bgemm(nqx, Cp, nkp, w->P, 1, LDP, w->V, Cp, O, Cp, 1);  // O += P V
}

static void fwd_item(const FwdBufs *w, const FwdArgs *a, int b, int h, int qt0, int qt1, int nv) {
  const int Nq = a->Nq, C = a->C, Cp = a->Cp, KP = a->KP;
  const size_t col = (size_t)h * C;
  for (int g = 0; g < qt1 - qt0; g++) {
    const int i0 = (qt0 + g) * BQ, nq = imin(BQ, Nq - i0), nqx = rup(nq, 16);
    pack_trans16(w->Qt + (size_t)g * KP * BQ, BQ, a->q + ((size_t)b * Nq + i0) * a->ldq + col, a->ldq, nq, nqx, C,
                 a->qscale);
    memset(w->O + (size_t)g * BQ * Cp, 0, sizeof(float) * (size_t)nqx * Cp);
    for (int i = 0; i < nqx; i++) w->m[g * BQ + i] = -INFINITY, w->l[g * BQ + i] = 0;
  }
  for (int j0 = 0; j0 < nv; j0 += BK) {
    const int nk = imin(BK, nv - j0), nkr = rup(nk, MR);
    const size_t rk = (size_t)b * a->Nk + j0;
    pack_rows16(w->K, KP, a->k + rk * a->ldk + col, a->ldk, nk, nkr, C, 1.0f);
    pack_pairs16(w->V, Cp, a->v + rk * a->ldv + col, a->ldv, nk, rup(nk, 2), C, Cp, 1.0f);
    for (int g = 0; g < qt1 - qt0; g++) {
      const int nqx = rup(imin(BQ, Nq - (qt0 + g) * BQ), 16);
      bgemm(nkr, nqx, KP, w->K, KP, 1, w->Qt + (size_t)g * KP * BQ, BQ, w->St, LDS, 0);  // St = K Qt (base 2)
      fwd_tile(w, w->O + (size_t)g * BQ * Cp, w->m + g * BQ, w->l + g * BQ, nk, nqx, Cp);
    }
  }
  for (int g = 0; g < qt1 - qt0; g++) {
    const int i0 = (qt0 + g) * BQ;
    attention_out_write(a->out, a->ldo, a->lse, w->O + (size_t)g * BQ * Cp, Cp, w->m + g * BQ, w->l + g * BQ, b, h,
                        a->H, Nq, i0, imin(BQ, Nq - i0), C);
  }
}

void attention_forward_bf16(float *out, int ldo, float *lse, const float *q, int ldq, const float *k, int ldk,
                            const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C) {
  if (B <= 0 || Nq <= 0 || H <= 0 || C <= 0) return;
  TSR_ASSERT(Nk >= 1, "attention: Nk = %d", Nk);
  const FwdArgs a = {out, lse, q, k, v, ldo, ldq, ldk, ldv, Nq, Nk, H, C, rup(C, 16), (C + 1) / 2,
                     LOG2E / sqrtf((float)C)};
  const int nqt = (Nq + BQ - 1) / BQ, BH = B * H, gq = attention_fwd_group(BH, nqt, GQ);
  const int ngr = (nqt + gq - 1) / gq;
  const size_t need = fwd_carve(&(FwdBufs){0}, NULL, a.KP, a.Cp);
  const long items = (long)BH * ngr;
#pragma omp parallel if (items > 1)
  {
    FwdBufs w;
    fwd_carve(&w, cpu_scratch(SCRATCH_ATTN_WORK, need), a.KP, a.Cp);
#pragma omp for schedule(dynamic, 1)
    for (long it = 0; it < items; it++) {
      const int bh = (int)(it / ngr), g = (int)(it % ngr), b = bh / H, h = bh % H;
      fwd_item(&w, &a, b, h, g * gq, imin((g + 1) * gq, nqt), keys_of(kvalid, b, Nk));
    }
  }
}

// ---------------------------------------------------------------- backward
typedef struct {
  uint32_t *Qt, *dOt, *Qs, *dO;  // per pair: Qt, dOt [KP][Nqx+16]; Qs, dO [Nqx/2][Cp]
  uint32_t *K, *Ki, *V;          // per key tile: K, V [BK][KP]; Ki [BK/2][Cp]
  uint32_t *P, *dS, *dSi;        // per tile: P, dS [BK][LDH]; dSi [BK/2][LDP]
  float *lse2, *D, *dQ, *St, *dPt, *dK, *dV;
} BwdBufs;

static size_t bwd_carve(BwdBufs *w, float *base, int Nqx, int KP, int Cp, int own_dq) {
  Carve c = {base, 0};
  w->Qt = carve(&c, (size_t)KP * (Nqx + 16));
  w->dOt = carve(&c, (size_t)KP * (Nqx + 16));
  w->Qs = carve(&c, (size_t)Nqx / 2 * Cp);
  w->dO = carve(&c, (size_t)Nqx / 2 * Cp);
  w->lse2 = carve(&c, Nqx);
  w->D = carve(&c, Nqx);
  w->dQ = own_dq ? carve(&c, (size_t)Nqx * Cp) : NULL;
  w->K = carve(&c, (size_t)BK * KP);
  w->Ki = carve(&c, (size_t)BK / 2 * Cp);
  w->V = carve(&c, (size_t)BK * KP);
  w->St = carve(&c, (size_t)BK * LDS);
  w->dPt = carve(&c, (size_t)BK * LDS);
  w->P = carve(&c, (size_t)BK * LDH);
  w->dS = carve(&c, (size_t)BK * LDH);
  w->dSi = carve(&c, (size_t)BK / 2 * LDP);
  w->dK = carve(&c, (size_t)BK * Cp);
  w->dV = carve(&c, (size_t)BK * Cp);
  return c.used;
}

typedef struct {
  float *dq, *dk, *dv;
  const float *dout, *out, *lse, *q, *k, *v;
  int ldo, ldq, ldk, ldv, Nq, Nk, H, C, Cp, KP, Nqx;
  float qscale, scale;
} BwdArgs;

// One pass over a key tile x query tile: Pt = 2^(St - lse2) (rows >= nk: 0),
// dSt = Pt (dPt - D) in fp32; stored as bf16: Pt row-major (for dV), dSt
// row-major (dK) and pair-interleaved (dQ), each only when wanted.
static void bwd_probs(const BwdBufs *w, int nk, int nkr, int nqx, const float *lse2, const float *D, int want_p,
                      int want_dk, int want_dq) {
  const __m512 z = _mm512_setzero_ps();
  for (int i0 = 0; i0 < nqx; i0 += 16) {
    const __m512 L = _mm512_loadu_ps(lse2 + i0), Dv = _mm512_loadu_ps(D + i0);
    for (int j0 = 0; j0 < nkr; j0 += 2) {
      const float *s = w->St + (size_t)j0 * LDS + i0;
      const __m512 p0 = j0 < nk ? exp2_16(_mm512_sub_ps(_mm512_loadu_ps(s), L)) : z;
      const __m512 p1 = j0 + 1 < nk ? exp2_16(_mm512_sub_ps(_mm512_loadu_ps(s + LDS), L)) : z;
      if (want_p) {
        const __m512i x = cvt2(p0, p1);
        _mm256_storeu_si256((__m256i *)(w->P + (size_t)j0 * LDH + i0 / 2), _mm512_castsi512_si256(x));
        _mm256_storeu_si256((__m256i *)(w->P + (size_t)(j0 + 1) * LDH + i0 / 2), _mm512_extracti64x4_epi64(x, 1));
      }
      if (want_dk || want_dq) {
        const float *dp = w->dPt + (size_t)j0 * LDS + i0;
        const __m512 d0 = _mm512_mul_ps(p0, _mm512_sub_ps(_mm512_loadu_ps(dp), Dv));
        const __m512 d1 = _mm512_mul_ps(p1, _mm512_sub_ps(_mm512_loadu_ps(dp + LDS), Dv));
        const __m512i x = cvt2(d0, d1);
        if (want_dk) {
          _mm256_storeu_si256((__m256i *)(w->dS + (size_t)j0 * LDH + i0 / 2), _mm512_castsi512_si256(x));
          _mm256_storeu_si256((__m256i *)(w->dS + (size_t)(j0 + 1) * LDH + i0 / 2), _mm512_extracti64x4_epi64(x, 1));
        }
        if (want_dq) _mm512_storeu_si512(w->dSi + (size_t)(j0 / 2) * LDP + i0, interleave(x));
      }
    }
  }
}

// Key tiles [t0, t1) of pair (b, h); dQ (Nqx x Cp, zeroed here, may be NULL)
// receives sum_j dS K for those tiles, unscaled.
static void bwd_item(const BwdBufs *w, const BwdArgs *a, float *dQ, int b, int h, int nv, int t0, int t1) {
  const int Nq = a->Nq, C = a->C, Cp = a->Cp, KP = a->KP, Nqx = a->Nqx, ldt = Nqx + 16;
  const size_t col = (size_t)h * C;
  const float *qb = a->q + (size_t)b * Nq * a->ldq + col;
  const float *dob = a->dout + (size_t)b * Nq * a->ldo + col;
  const float *ob = a->out + (size_t)b * Nq * a->ldo + col;
  const float *lseb = a->lse + ((size_t)b * a->H + h) * Nq;
  const int want_dk = a->dk != NULL, want_dq = dQ != NULL, want_ds = want_dk || want_dq;
  pack_trans16(w->Qt, ldt, qb, a->ldq, Nq, Nqx, C, a->qscale);
  if (want_dk) pack_pairs16(w->Qs, Cp, qb, a->ldq, Nq, Nqx, C, Cp, a->qscale);
  if (a->dv) pack_pairs16(w->dO, Cp, dob, a->ldo, Nq, Nqx, C, Cp, 1.0f);
  if (want_ds) pack_trans16(w->dOt, ldt, dob, a->ldo, Nq, Nqx, C, 1.0f);
  for (int i = 0; i < Nq; i++) {  // D = rowsum(dO * O) in fp32
    const float *o = ob + (size_t)i * a->ldo, *d = dob + (size_t)i * a->ldo;
    __m512 s = _mm512_setzero_ps();
    for (int c = 0; c < C; c += 16) {
      const __mmask16 m = mask16(C - c);
      s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, d + c), _mm512_maskz_loadu_ps(m, o + c), s);
    }
    w->D[i] = _mm512_reduce_add_ps(s);
    w->lse2[i] = lseb[i] * LOG2E;
  }
  for (int i = Nq; i < Nqx; i++) w->D[i] = 0, w->lse2[i] = INFINITY;  // padded queries: P = 0
  if (dQ) memset(dQ, 0, sizeof(float) * (size_t)Nqx * Cp);

  for (int t = t0; t < t1; t++) {
    const int j0 = t * BK, nk = imin(BK, nv - j0), nkr = rup(nk, MR), nkp = (nk + 1) / 2;
    const size_t rk = (size_t)a->Nk * b + j0;
    const float *kt = a->k + rk * a->ldk + col;
    pack_rows16(w->K, KP, kt, a->ldk, nk, nkr, C, 1.0f);
    if (want_dq) pack_pairs16(w->Ki, Cp, kt, a->ldk, nk, rup(nk, 2), C, Cp, 1.0f);
    if (want_ds) pack_rows16(w->V, KP, a->v + rk * a->ldv + col, a->ldv, nk, nkr, C, 1.0f);
    if (a->dk) memset(w->dK, 0, sizeof(float) * (size_t)nkr * Cp);
    if (a->dv) memset(w->dV, 0, sizeof(float) * (size_t)nkr * Cp);

    for (int i0 = 0; i0 < Nqx; i0 += BQ) {
      const int nqx = imin(BQ, Nqx - i0);
      bgemm(nkr, nqx, KP, w->K, KP, 1, w->Qt + i0, ldt, w->St, LDS, 0);  // St = K Qt (base 2)
      if (want_ds) bgemm(nkr, nqx, KP, w->V, KP, 1, w->dOt + i0, ldt, w->dPt, LDS, 0);  // dPt = V dO^T
      bwd_probs(w, nk, nkr, nqx, w->lse2 + i0, w->D + i0, a->dv != NULL, want_dk, want_dq);
      const size_t qp = (size_t)(i0 / 2) * Cp;  // query pair row i0/2 of Qs, dO
      if (a->dv) bgemm(nkr, Cp, nqx / 2, w->P, LDH, 1, w->dO + qp, Cp, w->dV, Cp, 1);           // dV += Pt dO
      if (want_dk) bgemm(nkr, Cp, nqx / 2, w->dS, LDH, 1, w->Qs + qp, Cp, w->dK, Cp, 1);        // dK += dSt Qs
      if (want_dq) bgemm(nqx, Cp, nkp, w->dSi, 1, LDP, w->Ki, Cp, dQ + (size_t)i0 * Cp, Cp, 1);  // dQ += dS K
    }
    // Qs = q * scale * log2(e), so dK = dS^T q * scale = dS^T Qs / log2(e).
    attention_dkv_add(a->dk, a->ldk, a->dv, a->ldv, w->dK, w->dV, Cp, rk, col, nk, C);
  }
}

void attention_backward_bf16(float *dq, float *dk, float *dv, const float *dout, const float *out, int ldo,
                             const float *lse, const float *q, int ldq, const float *k, int ldk, const float *v,
                             int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C) {
  if (B <= 0 || Nq <= 0 || H <= 0 || C <= 0 || (!dq && !dk && !dv)) return;
  TSR_ASSERT(Nk >= 1, "attention: Nk = %d", Nk);
  BwdArgs a = {dq, dk, dv, dout, out, lse, q, k, v, ldo, ldq, ldk, ldv, Nq, Nk, H, C, rup(C, 16), (C + 1) / 2,
               rup(Nq, 16), LOG2E / sqrtf((float)C), 1.0f / sqrtf((float)C)};
  const int Cp = a.Cp, Nqx = a.Nqx, BH = B * H;
  const int nsplit = attention_bwd_splits(BH, Nk, BK);
  const long items = (long)BH * nsplit;
  const int own_dq = dq && nsplit == 1;
  float *part = NULL;  // [items][Nqx][Cp] dQ partials when split
  if (dq && nsplit > 1) part = cpu_scratch(SCRATCH_ATTN_SHARED, (size_t)items * Nqx * Cp);
  const size_t need = bwd_carve(&(BwdBufs){0}, NULL, Nqx, a.KP, Cp, own_dq);

#pragma omp parallel if (items > 1)
  {
    BwdBufs w;
    bwd_carve(&w, cpu_scratch(SCRATCH_ATTN_WORK, need), Nqx, a.KP, Cp, own_dq);
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

#else  // no AVX512-BF16: the fp32 kernels (the bf16 backend is refused on such CPUs anyway)

void attention_forward_bf16(float *out, int ldo, float *lse, const float *q, int ldq, const float *k, int ldk,
                            const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C) {
  attention_forward(out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
}
void attention_backward_bf16(float *dq, float *dk, float *dv, const float *dout, const float *out, int ldo,
                             const float *lse, const float *q, int ldq, const float *k, int ldk, const float *v,
                             int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C) {
  attention_backward(dq, dk, dv, dout, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
}
#endif
