#include "media/watermark.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define NCHIP (WM_PERIOD * WM_GRID * WM_GRID)
#define NCROP 5  // per side: 0, 2.5, 5, 7.5, 10 % removed
static const float CROP_STEP = 0.025f;

void wm_key_from_string(WmKey *k, const char *pass) {
  TSR_ASSERT(EVP_Digest(pass, strlen(pass), k->key, NULL, EVP_sha256(), NULL) == 1, "sha256");
}

void wm_key_from_env(WmKey *k) {
  const char *s = getenv("TSR_WATERMARK_KEY");
  wm_key_from_string(k, s && *s ? s : "tessera public watermark key v1");
}

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The key's chips: bit[c] in 0..31 (each bit NCHIP/32 chips), sign[c] = +-1.
static void chips(const WmKey *k, uint8_t bit[NCHIP], int8_t sign[NCHIP]) {
  uint64_t x = 0;
  for (int i = 0; i < 8; i++) x = x << 8 | k->key[i];
  for (int c = 0; c < NCHIP; c++) bit[c] = (uint8_t)(c % WM_BITS);
  for (int c = NCHIP - 1; c > 0; c--) {  // Fisher-Yates
    int j = (int)(splitmix(&x) % (uint64_t)(c + 1));
    uint8_t t = bit[c];
    bit[c] = bit[j];
    bit[j] = t;
  }
  for (int c = 0; c < NCHIP; c++) sign[c] = (splitmix(&x) >> 63) ? 1 : -1;
}

// Sum of luma over the observed pixel rectangle [x0,x1) x [y0,y1) of one
// frame's integral image I [(H+1) x (W+1)].
static double rect(const double *I, int W, int x0, int y0, int x1, int y1) {
  size_t s = (size_t)W + 1;
  return I[y1 * s + x1] - I[y0 * s + x1] - I[y1 * s + x0] + I[y0 * s + x0];
}

// The cell means of one hypothesis: cells that fall outside the observed
// frame (cropped away) are NAN.
static void cells(const double *I, int H, int W, const float crop[4], double m[WM_GRID][WM_GRID]) {
  double sx = (double)W / (1.0 - crop[0] - crop[1]), sy = (double)H / (1.0 - crop[2] - crop[3]);
  for (int i = 0; i < WM_GRID; i++)
    for (int j = 0; j < WM_GRID; j++) {
      // the cell's interior (a quarter in from each edge: scaling and the
      // codec blur the edges)
      double u0 = (j + 0.2) / WM_GRID - crop[0], u1 = (j + 0.8) / WM_GRID - crop[0];
      double v0 = (i + 0.2) / WM_GRID - crop[2], v1 = (i + 0.8) / WM_GRID - crop[2];
      int x0 = (int)lround(u0 * sx), x1 = (int)lround(u1 * sx), y0 = (int)lround(v0 * sy), y1 = (int)lround(v1 * sy);
      if (u0 < 0 || v0 < 0 || x1 > W || y1 > H || x1 <= x0 || y1 <= y0) {
        m[i][j] = NAN;
        continue;
      }
      m[i][j] = rect(I, W, x0, y0, x1, y1) / ((double)(x1 - x0) * (y1 - y0));
    }
}

// Luma integral images of every frame: [T][(H+1)(W+1)].
static double *integrals(const uint8_t *rgb, int T, int H, int W) {
  size_t fs = (size_t)(H + 1) * (W + 1);
  double *I = calloc((size_t)T * fs, sizeof *I);
  TSR_ASSERT(I, "out of memory");
  for (int t = 0; t < T; t++) {
    double *It = I + t * fs;
    for (int y = 0; y < H; y++) {
      double row = 0;
      for (int x = 0; x < W; x++) {
        const uint8_t *p = rgb + (((size_t)t * H + y) * W + x) * 3;
        row += 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
        It[(y + 1) * (W + 1) + x + 1] = It[y * (W + 1) + x + 1] + row;
      }
    }
  }
  return I;
}

// Each chip's weighted residual, summed over the frames that repeat it: the
// cell mean minus the mean of its neighbours, divided by the local activity
// (the variance of the 3x3 cell means, plus a floor), so flat areas, where the
// mark stands out, count more than busy ones. The weights depend on the
// picture only, so without the mark each z below stays a sum of independent
// random signs (variance 1).
static void chip_residuals(double (*m)[WM_GRID][WM_GRID], int T, int sh, double *acc) {
  memset(acc, 0, NCHIP * sizeof *acc);
  for (int t = 0; t < T; t++)
    for (int i = 0; i < WM_GRID; i++)
      for (int j = 0; j < WM_GRID; j++) {
        if (isnan(m[t][i][j])) continue;
        double s = 0, s2 = 0;
        int n = 0;
        for (int di = -1; di <= 1; di++)
          for (int dj = -1; dj <= 1; dj++) {
            int a = i + di, b = j + dj;
            if ((di || dj) && a >= 0 && a < WM_GRID && b >= 0 && b < WM_GRID && !isnan(m[t][a][b])) {
              s += m[t][a][b];
              s2 += m[t][a][b] * m[t][a][b];
              n++;
            }
          }
        if (n < 3) continue;
        double mean = s / n, var = fmax(0, s2 / n - mean * mean);
        acc[(((t + sh) % WM_PERIOD) * WM_GRID + i) * WM_GRID + j] += (m[t][i][j] - mean) / (var + 16.0);
      }
}

// z per bit from chip residuals; returns S = sum z^2.
static double bit_scores(const uint8_t *bit, const int8_t *sign, const double *acc, double z[WM_BITS]) {
  double num[WM_BITS] = {0}, den[WM_BITS] = {0}, S = 0;
  for (int c = 0; c < NCHIP; c++) {
    num[bit[c]] += sign[c] * acc[c];
    den[bit[c]] += acc[c] * acc[c];
  }
  for (int b = 0; b < WM_BITS; b++) {
    z[b] = den[b] > 0 ? num[b] / sqrt(den[b]) : 0;
    S += z[b] * z[b];
  }
  return S;
}

// Adds min(amp[b] + extra, WM_AMP_MAX) * sign * (+-1 for the bit) to every
// cell's luma, from src into dst; extra [T][GRID][GRID] is what the picture
// hides there beyond the base amplitude.
static void add_mark(const uint8_t *bit, const int8_t *sign, uint32_t payload, const float *amp, const float *cap,
                     const uint8_t *src, uint8_t *dst, int T, int H, int W) {
  for (int t = 0; t < T; t++)
    for (int y = 0; y < H; y++) {
      int gy = y * WM_GRID / H;
      for (int x = 0; x < W; x++) {
        int gx = x * WM_GRID / W, c = ((t % WM_PERIOD) * WM_GRID + gy) * WM_GRID + gx;
        float a = fminf(amp[bit[c]] + cap[((size_t)t * WM_GRID + gy) * WM_GRID + gx], WM_AMP_MAX);
        float d = a * sign[c] * ((payload >> bit[c] & 1) ? 1.0f : -1.0f);
        size_t o = (((size_t)t * H + y) * W + x) * 3;
        for (int ch = 0; ch < 3; ch++) {  // the same offset on R, G, B: luma only
          float v = src[o + ch] + d;
          dst[o + ch] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lrintf(v));
        }
      }
    }
}

void wm_embed(const WmKey *k, uint32_t payload, uint8_t *rgb, int T, int H, int W, float amp0) {
  uint8_t bit[NCHIP];
  int8_t sign[NCHIP];
  chips(k, bit, sign);
  float amp[WM_BITS];
  for (int b = 0; b < WM_BITS; b++) amp[b] = amp0;
  size_t n = (size_t)T * H * W * 3, fs = (size_t)(H + 1) * (W + 1);
  uint8_t *host = malloc(n);
  double (*m)[WM_GRID][WM_GRID] = malloc((size_t)T * sizeof *m);
  double *acc = malloc(NCHIP * sizeof *acc);
  TSR_ASSERT(host && m && acc, "out of memory");
  memcpy(host, rgb, n);
  // Perceptual extra per cell: a tenth of the local spread of the cell means
  // (3x3 cells): flat areas get the bit's amplitude, busy ones more.
  float *cap = malloc((size_t)T * WM_GRID * WM_GRID * sizeof *cap);
  TSR_ASSERT(cap, "out of memory");
  {
    const float c0[4] = {0, 0, 0, 0};
    double *I = integrals(host, T, H, W);
    for (int t = 0; t < T; t++) {
      if (H >= WM_GRID && W >= WM_GRID) cells(I + t * fs, H, W, c0, m[t]);
      for (int i = 0; i < WM_GRID; i++)
        for (int j = 0; j < WM_GRID; j++) {
          double s = 0, s2 = 0;
          int k = 0;
          for (int a = i - 1; a <= i + 1; a++)
            for (int b = j - 1; b <= j + 1; b++)
              if (H >= WM_GRID && W >= WM_GRID && a >= 0 && a < WM_GRID && b >= 0 && b < WM_GRID && !isnan(m[t][a][b])) {
                s += m[t][a][b];
                s2 += m[t][a][b] * m[t][a][b];
                k++;
              }
          double sd = k > 1 ? sqrt(fmax(0, s2 / k - (s / k) * (s / k))) : 0;
          cap[((size_t)t * WM_GRID + i) * WM_GRID + j] = (float)(0.1 * sd);
        }
    }
    free(I);
  }
  // Informed embedding: the embedder knows the picture, so it measures what
  // the detector will see (no crop, no shift) and raises the amplitude of
  // the bits whose margin is short (busy, noisy pictures), up to WM_AMP_MAX.
  const float crop0[4] = {0, 0, 0, 0};
  for (int it = 0; it < 8; it++) {
    add_mark(bit, sign, payload, amp, cap, host, rgb, T, H, W);
    if (H < WM_GRID || W < WM_GRID) break;  // too small to measure: the base amplitude
    double *I = integrals(rgb, T, H, W), z[WM_BITS];
    for (int t = 0; t < T; t++) cells(I + t * fs, H, W, crop0, m[t]);
    free(I);
    chip_residuals(m, T, 0, acc);
    bit_scores(bit, sign, acc, z);
    int raised = 0;
    for (int b = 0; b < WM_BITS; b++) {
      double margin = (payload >> b & 1) ? z[b] : -z[b];
      if (margin < WM_TARGET_Z && amp[b] < WM_AMP_MAX) {
        amp[b] = fminf(WM_AMP_MAX, amp[b] * 1.5f);
        raised = 1;
      }
    }
    if (!raised) break;
  }
  free(host);
  free(cap);
  free(m);
  free(acc);
}

double wm_threshold(double fa, int n) {
  // Chernoff: P(chi2_k > t) <= (t/k)^(k/2) exp((k - t)/2); times n hypotheses.
  double k = WM_BITS, lo = k, hi = 2000;
  for (int it = 0; it < 200; it++) {
    double t = 0.5 * (lo + hi);
    double logp = log((double)n) + 0.5 * k * log(t / k) + 0.5 * (k - t);
    if (logp > log(fa)) lo = t;
    else hi = t;
  }
  return hi;
}

static double fa_bound(double t, int n) {
  double k = WM_BITS;
  if (t <= k) return 1;
  double lp = log((double)n) + 0.5 * k * log(t / k) + 0.5 * (k - t);
  return lp > 0 ? 1 : exp(lp);
}

void wm_detect(const WmKey *k, const uint8_t *rgb, int T, int H, int W, WmResult *out) {
  memset(out, 0, sizeof *out);
  int nshift = T < WM_PERIOD ? 1 : WM_PERIOD;
  out->hypotheses = NCROP * NCROP * NCROP * NCROP * nshift;
  out->threshold = wm_threshold(1e-6, out->hypotheses);
  if (H < 2 * WM_GRID || W < 2 * WM_GRID || T < 1) return;
  uint8_t bit[NCHIP];
  int8_t sign[NCHIP];
  chips(k, bit, sign);
  size_t fs = (size_t)(H + 1) * (W + 1);
  double *I = integrals(rgb, T, H, W);
  double (*m)[WM_GRID][WM_GRID] = malloc((size_t)T * sizeof *m);
  double *acc = malloc(NCHIP * sizeof *acc);
  TSR_ASSERT(m && acc, "out of memory");
  out->score = -1;
  for (int h = 0; h < NCROP * NCROP * NCROP * NCROP; h++) {
    float crop[4] = {CROP_STEP * (h % 5), CROP_STEP * (h / 5 % 5), CROP_STEP * (h / 25 % 5), CROP_STEP * (h / 125)};
    for (int t = 0; t < T; t++) cells(I + t * fs, H, W, crop, m[t]);
    for (int sh = 0; sh < nshift; sh++) {
      double z[WM_BITS];
      chip_residuals(m, T, sh, acc);
      double S = bit_scores(bit, sign, acc, z);
      if (S > out->score) {
        out->score = S;
        memcpy(out->z, z, sizeof z);
        memcpy(out->crop, crop, sizeof crop);
        out->shift = sh;
      }
    }
  }
  out->payload = 0;
  for (int b = 0; b < WM_BITS; b++)
    if (out->z[b] > 0) out->payload |= 1u << b;
  out->detected = out->score > out->threshold;
  out->fa_bound = fa_bound(out->score, out->hypotheses);
  free(I);
  free(m);
  free(acc);
}
