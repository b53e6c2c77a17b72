// The elementwise glue ops (ops.h "elementwise glue") through the backend
// table, against their plain references (bit for bit: no op reduces across
// threads) and the references against values worked out here directly.
// Outputs written with '=' start as NaN so an element an op forgets shows;
// copy2d's destination padding holds a sentinel that must survive.
// Sizes below and above the threshold where the fast versions go parallel.
#include <string.h>

#include "kernels/backend.h"
#include "kernels/ops.h"
#include "testlib.h"

static const Backend *be;

static float *host_rand(int64_t n, uint32_t stream) {
  float *x = malloc((size_t)(n ? n : 1) * sizeof(float));
  tl_fill(x, n, stream);
  return x;
}
static float *host_fill(int64_t n, float v) {
  float *x = malloc((size_t)(n ? n : 1) * sizeof(float));
  for (int64_t i = 0; i < n; i++) x[i] = v;
  return x;
}
// A device copy of a host array, and back.
static float *dev(const float *h, int64_t n) {
  float *d = be_floats(be, (size_t)n);
  be_upload(be, d, h, (size_t)n * sizeof(float));
  return d;
}
static void back(float *h, const float *d, int64_t n) { be_download(be, h, d, (size_t)n * sizeof(float)); }

static void expect_same(const float *got, const float *want, int64_t n, const char *what) {
  int64_t bad = 0;
  for (int64_t i = 0; i < n; i++) bad += memcmp(&got[i], &want[i], sizeof(float)) != 0;
  EXPECT(bad == 0, "%s: %lld of %lld elements differ from the reference", what, (long long)bad, (long long)n);
  if (!bad) printf("  ok  %-52s bit-identical (%lld)\n", what, (long long)n);
}

static void test_fill_axpy_scale(int64_t n) {
  printf("[fill, axpy, scale n=%lld on %s]\n", (long long)n, be->name);
  float *x = host_rand(n, 1), *y = host_rand(n, 2), *ref = malloc((size_t)n * sizeof(float));
  float *dx = dev(x, n), *dy = dev(y, n), *got = malloc((size_t)n * sizeof(float));
  const float values[] = {0.0f, -0.0f, 2.5f};
  for (int k = 0; k < 3; k++) {
    float *poison = host_fill(n, NAN), *d = dev(poison, n);
    free(poison);
    be_fill_f32(be, d, values[k], n);
    back(got, d, n);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += memcmp(&got[i], &values[k], sizeof(float)) != 0;
    EXPECT(bad == 0, "fill %g (sign %d): %d elements wrong", values[k], signbit(values[k]) != 0, bad);
    be_free(be, d);
  }
  // axpy: y += a x against the reference and against a direct product-sum
  memcpy(ref, y, (size_t)n * sizeof(float));
  axpy_ref(ref, -0.75f, x, n);
  be_axpy(be, dy, -0.75f, dx, n);
  back(got, dy, n);
  expect_same(got, ref, n, "axpy vs ref");
  int bad = 0;
  for (int64_t i = 0; i < n; i++) bad += fabs((double)ref[i] - ((double)y[i] - 0.75 * x[i])) > 1e-6;
  EXPECT(bad == 0, "axpy_ref: %d elements off y - 0.75 x", bad);
  // alpha = 1 is the exact sum x + y (the model's residual adds rely on it)
  be_upload(be, dy, y, (size_t)n * sizeof(float));
  be_axpy(be, dy, 1.0f, dx, n);
  back(got, dy, n);
  bad = 0;
  for (int64_t i = 0; i < n; i++) bad += got[i] != y[i] + x[i];
  EXPECT(bad == 0, "axpy alpha=1: %d elements differ from y + x", bad);
  // scale
  memcpy(ref, x, (size_t)n * sizeof(float));
  scale_f32_ref(ref, 0.3f, n);
  be_scale_f32(be, dx, 0.3f, n);
  back(got, dx, n);
  expect_same(got, ref, n, "scale vs ref");
  bad = 0;
  for (int64_t i = 0; i < n; i++) bad += ref[i] != x[i] * 0.3f;
  EXPECT(bad == 0, "scale_ref: %d elements differ from x * 0.3", bad);
  be_free(be, dx), be_free(be, dy);
  free(x), free(y), free(ref), free(got);
}

static void test_broadcast_groups(int G, int reps, int C) {
  const int R = G * reps;
  const int64_t n = (int64_t)R * C, ng = (int64_t)G * C;
  printf("[add_broadcast, sum_groups G=%d reps=%d C=%d on %s]\n", G, reps, C, be->name);
  float *a = host_rand(n, 3), *b = host_rand(ng, 4), *ref = host_fill(n, NAN), *got = malloc((size_t)n * sizeof(float));
  float *da = dev(a, n), *db = dev(b, ng), *dout = dev(ref, n);
  add_broadcast_ref(ref, a, b, R, reps, C);
  be_add_broadcast(be, dout, da, db, R, reps, C);
  back(got, dout, n);
  expect_same(got, ref, n, "add_broadcast vs ref");
  int bad = 0;
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) bad += ref[(size_t)r * C + c] != a[(size_t)r * C + c] + b[(size_t)(r / reps) * C + c];
  EXPECT(bad == 0, "add_broadcast_ref: %d elements differ from a[r] + b[r/reps]", bad);
  // in place with reps = R: a bias added to every row
  float *bias = host_rand(C, 5), *dbias = dev(bias, C);
  be_add_broadcast(be, da, da, dbias, R, R, C);
  back(got, da, n);
  bad = 0;
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) bad += got[(size_t)r * C + c] != a[(size_t)r * C + c] + bias[c];
  EXPECT(bad == 0, "add_broadcast in place (bias): %d elements wrong", bad);
  // sum_groups: rows g*reps .. g*reps+reps-1 summed in order
  float *sref = host_fill(ng, NAN), *sgot = malloc((size_t)ng * sizeof(float)), *ds = dev(sref, ng);
  be_upload(be, da, a, (size_t)n * sizeof(float));
  sum_groups_ref(sref, a, G, reps, C);
  be_sum_groups(be, ds, da, G, reps, C);
  back(sgot, ds, ng);
  expect_same(sgot, sref, ng, "sum_groups vs ref");
  double worst = 0;
  for (int g = 0; g < G; g++)
    for (int c = 0; c < C; c++) {
      double s = 0;
      for (int j = 0; j < reps; j++) s += a[((size_t)g * reps + j) * C + c];
      worst = fmax(worst, fabs(s - sref[(size_t)g * C + c]));
    }
  EXPECT(worst <= 1e-5 * reps, "sum_groups_ref: off the double sum by %.3g", worst);
  be_free(be, da), be_free(be, db), be_free(be, dout), be_free(be, dbias), be_free(be, ds);
  free(a), free(b), free(ref), free(got), free(bias), free(sref), free(sgot);
}

static void test_copy2d(int rows, int cols, int ld_src, int ld_dst) {
  printf("[copy2d %dx%d ld %d -> %d on %s]\n", rows, cols, ld_src, ld_dst, be->name);
  const int64_t ns = (int64_t)rows * ld_src, nd = (int64_t)rows * ld_dst;
  float *src = host_rand(ns, 6), *ref = host_fill(nd, -7.0f), *got = malloc((size_t)nd * sizeof(float));
  float *ds = dev(src, ns), *dd = dev(ref, nd);
  copy2d_ref(ref, ld_dst, src, ld_src, rows, cols);
  be_copy2d(be, dd, ld_dst, ds, ld_src, rows, cols);
  back(got, dd, nd);
  expect_same(got, ref, nd, "copy2d vs ref (padding kept)");
  int bad = 0;
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < ld_dst; c++) {
      const float want = c < cols ? src[(size_t)r * ld_src + c] : -7.0f;
      bad += ref[(size_t)r * ld_dst + c] != want;
    }
  EXPECT(bad == 0, "copy2d_ref: %d elements wrong (copied block or untouched padding)", bad);
  be_free(be, ds), be_free(be, dd);
  free(src), free(ref), free(got);
}

int main(void) {
  be = backend_cpu();
  test_fill_axpy_scale(1000);
  test_fill_axpy_scale(100003);  // above the parallel threshold, odd length
  test_broadcast_groups(3, 2, 17);
  test_broadcast_groups(64, 2, 384);  // the conditioning's shape at batch 64, D 384
  test_broadcast_groups(5, 1, 9);     // reps 1: a copy / an add
  test_copy2d(7, 5, 12, 9);
  test_copy2d(4096, 24, 96, 24);  // the Ulysses pack: one heads slice of every token
  test_copy2d(33, 40, 40, 40);    // contiguous: one block copy
  return tl_finish("test_elementwise");
}
