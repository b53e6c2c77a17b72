// ZeRO-1 (src/train/zero.c) at any world size W (a singleton under tests/run.sh,
// mpirun -np 2 and 3 under tests/test_parallel_train.sh), against the plain
// single-process AdamW of src/train/optimizer.c as the independent answer:
//  1. dp = W: three steps with clipping on a table whose size does not split
//     evenly (padded shards); every rank's gradient differs and their sum is
//     exact in float, so the reference gets the same summed gradient. Weights,
//     the gathered m, v and EMA, and the norm match the reference;
//  2. tp = W: the global gradient norm over a TP-sharded fused tensor (3
//     parts, like qkv) and a replicated one equals the norm of the logical
//     tensors (each counted once), whatever W.
#include <math.h>
#include <string.h>

#include "comm/comm.h"
#include "core/config.h"
#include "core/error.h"
#include "core/params.h"
#include "kernels/ops.h"
#include "testlib.h"
#include "train/optimizer.h"
#include "train/zero.h"

static void declare(ParamTable *t, int ways, int index) {
  const int64_t a[2] = {37, 5}, b[1] = {19}, c[3] = {3, 7, 4}, qkv[2] = {36, 5};
  params_add(t, "a", 2, a, INIT_XAVIER);
  params_add(t, "b", 1, b, INIT_ZERO);
  params_add(t, "c", 3, c, INIT_NORMAL);
  params_add_sharded(t, "qkv", 2, qkv, INIT_XAVIER, 0, 3, ways, index);
  params_alloc(t);
}

// Rank r's gradient at step s: small multiples of 2^-12, so any sum over ranks is exact.
static float grad_of(size_t i, int r, int s) {
  int k = (int)((i * 2654435761u + (unsigned)s * 40503u) % 61u) - 30;
  return (float)(k * (r + 1)) * (1.0f / 4096.0f);
}

static void test_dp(void) {
  CommContext cc;
  const int W = comm_world_size();
  comm_layout(&cc, W, 1, 1, "test_zero");
  TrainConfig tc = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 0.05f};
  ParamTable ref = {0}, t = {0};
  declare(&ref, 1, 0);
  declare(&t, 1, 0);
  params_init(&ref, 3);
  params_init(&t, 3);
  AdamW opt;
  adamw_init(&opt, &ref);
  float *ema_ref = tsr_calloc(ref.total, sizeof(float));
  memcpy(ema_ref, ref.data, ref.total * sizeof(float));
  Zero z;
  zero_init(&z, &t, backend_cpu(), &cc.dpsp_group, &cc.world, 0);
  EXPECT(z.shard * (size_t)W == z.padded && z.padded >= t.total && z.padded - t.total < 16 * (size_t)W,
         "shard %zu x %d vs %zu floats", z.shard, W, t.total);
  double worst_norm = 0;
  for (int s = 0; s < 3; s++) {
    for (int p = 0; p < ref.count; p++)  // the model writes parameters only, never the alignment gaps
      for (size_t i = ref.items[p].offset; i < ref.items[p].offset + ref.items[p].numel; i++) {
        float sum = 0;
        for (int r = 0; r < W; r++) sum += grad_of(i, r, s);
        ref.grad[i] = sum;
        t.grad[i] = grad_of(i, cc.world_rank, s);
      }
    double norm_ref = grad_norm(&ref);
    adamw_step(&opt, &ref, &tc, tc.lr, norm_ref);
    ema_update_ref(ema_ref, ref.data, (int64_t)ref.total, 0.5f);
    zero_reduce_grads(&z, &t);
    double norm = zero_grad_norm(&z);
    zero_step(&z, &t, &tc, tc.lr, norm);
    zero_ema_update(&z, &t, 0.5f);
    worst_norm = fmax(worst_norm, fabs(norm - norm_ref) / norm_ref);
    EXPECT(norm_ref > tc.grad_clip, "step %d: norm %g does not exercise clipping", s, norm_ref);
  }
  EXPECT(worst_norm < 1e-12, "grad norm rel err %.3g", worst_norm);
  EXPECT_CLOSE(t.data, ref.data, (int64_t)ref.total, 1e-6, "dp: weights after 3 steps");
  float *full = tsr_calloc(z.padded, sizeof(float));
  zero_gather(&z, z.m, full);
  EXPECT_CLOSE(full, opt.m, (int64_t)ref.total, 1e-6, "dp: gathered AdamW m");
  zero_gather(&z, z.v, full);
  EXPECT_CLOSE(full, opt.v, (int64_t)ref.total, 1e-6, "dp: gathered AdamW v");
  zero_gather(&z, z.ema, full);
  EXPECT_CLOSE(full, ema_ref, (int64_t)ref.total, 1e-6, "dp: gathered EMA");
  // zero_take is the inverse of the gather: a resharded load keeps this rank's range.
  float *m2 = tsr_calloc(z.shard, sizeof(float));
  zero_take(&z, full, m2);
  EXPECT(memcmp(m2, z.ema, z.shard * sizeof(float)) == 0, "zero_take of the gathered EMA is not the shard");
  printf("  ok  dp=%d: shard %zu of %zu floats (padded %zu), norm rel err %.1e\n", W, z.shard, t.total, z.padded,
         worst_norm);
  tsr_free(m2);
  tsr_free(full);
  zero_free(&z);
  tsr_free(ema_ref);
  adamw_free(&opt);
  params_free(&ref);
  params_free(&t);
  comm_free(&cc);
}

static void test_tp_norm(void) {
  CommContext cc;
  const int W = comm_world_size();
  comm_layout(&cc, 1, 1, W, "test_zero");
  ParamTable full = {0}, t = {0};
  declare(&full, 1, 0);
  declare(&t, W, cc.tp_rank);
  // params_init_uniform draws by logical element: the shard holds the logical tensor's values.
  params_init_uniform(&full, 5, 1.0f);
  params_init_uniform(&t, 5, 1.0f);
  memcpy(t.grad, t.data, t.total * sizeof(float));
  memcpy(full.grad, full.data, full.total * sizeof(float));
  Zero z;
  zero_init(&z, &t, backend_cpu(), &cc.dpsp_group, &cc.world, cc.tp_rank);
  double norm = zero_grad_norm(&z), want = grad_norm(&full);
  EXPECT(fabs(norm - want) <= 1e-12 * want, "tp=%d: norm %.17g, logical tensors %.17g", W, norm, want);
  printf("  ok  tp=%d: norm over sharded + replicated tensors %.12g = logical %.12g\n", W, norm, want);
  zero_free(&z);
  params_free(&full);
  params_free(&t);
  comm_free(&cc);
}

static void test_frozen(void) {
  CommContext cc;
  comm_layout(&cc, comm_world_size(), 1, 1, "test_zero");
  TrainConfig tc = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 0};
  ParamTable t = {0}, ref = {0};
  declare(&t, 1, 0);
  declare(&ref, 1, 0);
  const ParamInfo *c = &t.items[2];
  t.items[2].frozen = ref.items[2].frozen = 1;  // "c", a decayed 3-d tensor
  params_init(&t, 3);
  params_init(&ref, 3);
  float *init = tsr_calloc(t.total, sizeof(float));
  memcpy(init, t.data, t.total * sizeof(float));
  Zero z;
  zero_init(&z, &t, backend_cpu(), &cc.dpsp_group, &cc.world, 0);
  AdamW opt;
  adamw_init(&opt, &ref);
  for (int s = 0; s < 2; s++) {
    for (size_t i = 0; i < t.total; i++) t.grad[i] = ref.grad[i] = grad_of(i, 0, s);
    zero_reduce_grads(&z, &t);
    zero_step(&z, &t, &tc, tc.lr, zero_grad_norm(&z));
    adamw_step(&opt, &ref, &tc, tc.lr, grad_norm(&ref));
  }
  int moved_frozen = 0, moved_other = 0, moved_ref = 0;
  for (size_t i = 0; i < t.total; i++) {
    const int in_c = i >= c->offset && i < c->offset + c->numel;
    if (in_c) moved_frozen += t.data[i] != init[i], moved_ref += ref.data[i] != init[i];
    else moved_other += t.data[i] != init[i];
  }
  EXPECT(moved_frozen == 0 && moved_ref == 0, "frozen tensor moved: %d elements (ZeRO), %d (AdamW)", moved_frozen,
         moved_ref);
  EXPECT(moved_other > (int)(t.total - c->numel) / 2, "only %d of the other elements moved", moved_other);
  printf("  ok  frozen: %zu floats unchanged after 2 steps with weight decay, %d others moved\n", c->numel,
         moved_other);
  tsr_free(init);
  zero_free(&z);
  adamw_free(&opt);
  params_free(&t);
  params_free(&ref);
  comm_free(&cc);
}

int main(int argc, char **argv) {
  comm_init(&argc, &argv);
  test_dp();
  test_tp_norm();
  test_frozen();
  int rc = tl_finish("test_zero");
  comm_finalize();
  return rc;
}
