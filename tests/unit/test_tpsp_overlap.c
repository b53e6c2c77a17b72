// The tensor- and sequence-parallel backward with its collectives overlapped
// (the default: col_linear_backward starts the input gradient's tp sum with
// comm_iallreduce and computes the weight gradient while it travels;
// model_backward sums dctx and the per-head norm gradients over tp while
// x_embed's gradient is computed; under Ulysses, datt's all-to-all travels
// while proj's weight gradient is computed and dv's while q and k go through
// the RoPE and norm backward) against the blocking path (layout.comm_blocking
// = 1: fused linear backward, comm_allreduce, comm_alltoall), run under
// mpirun by tests/test_tpsp_overlap.sh at 2 ranks (tp2, sp2), 4 ranks (tp2
// x dp2, sp2 x dp2, tp2 x sp2, tp2 x ring2, sp4, Ulysses 2 x ring 2, tp4) and
// 8 ranks with --tp4 (tp4 x dp2, tp4 x ring2). Both
// models start from the same weights and take STEPS plain SGD steps (the
// gradient summed over dp x sp, the trainer's job) on changing batches; at
// every step, on every rank:
//  - the forward's output, the loss and EVERY parameter gradient are
//    bit-identical (memcmp); the forward overlaps v's Ulysses all-to-all with
//    q/k's norm and RoPE (forward.c self_attention_forward);
//  - the tp and sp groups sent the same bytes in the same number of calls.
// Both paths sum over tp with the comm layer's ring all-reduce (one summation
// order per element for a given count and group size, comm.h), and an
// all-to-all only moves data, so the bits must agree exactly at any tp.
// Without mpirun (one rank) there is nothing to compare: it says so, exit 0.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "core/config.h"
#include "core/params.h"
#include "model/model.h"
#include "testlib.h"

enum { B = 4, STEPS = 4 };
static const int32_t TOKENS[B * 6] = {1, 5, 9, 13, 0, 0, 1, 7, 0, 0, 0, 0, 1, 3, 4, 5, 6, 2, 1, 0, 0, 0, 0, 0};
static const int32_t NTOKENS[B] = {4, 2, 6, 1};
static const uint8_t COND[B * 4] = {1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

static ModelConfig config(void) {
  ModelConfig c = {0};
  strcpy(c.name, "tpsp_overlap");
  c.frames = 4, c.height = 8, c.width = 8, c.channels = 3;
  c.pt = 1, c.ph = 4, c.pw = 4;  // 16 tokens
  c.dim = 48, c.depth = 2, c.heads = 4, c.mlp_ratio = 2;
  c.text_length = 6, c.text_layers = 1, c.vocab = 30, c.freq_dim = 32;
  MUST(model_config_finalize(&c, "test_tpsp_overlap", &tl_err));
  return c;
}

static void build(Model *m, const ModelConfig *c, CommContext *cc, int ring, int blocking, int Bl) {
  model_build(m, c,
              (ModelLayout){.tp = cc->tp, .sp = cc->sp, .tp_rank = cc->tp_rank, .sp_rank = cc->sp_rank,
                            .tp_group = &cc->tp_group, .sp_group = &cc->sp_group, .ring = ring,
                            .comm_blocking = blocking},
              backend_cpu());
  params_init_uniform(&m->params, 7, 0.3f);
  model_alloc_acts(m, Bl);
}

// One step: forward + backward on this rank's share of the step's batch, then
// SGD with the gradient summed over dp x sp. Returns the loss.
static float step(Model *m, CommContext *cc, const ModelConfig *c, int s, float *gsum, float *out) {
  const int sp = cc->sp, N = c->tokens / sp, Nf = c->tokens, P = c->patch_dim, Bl = B / cc->dp, s0 = cc->dp_rank * Bl;
  float *x = calloc((size_t)B * Nf * P, sizeof(float)), *target = calloc((size_t)B * Nf * P, sizeof(float));
  tl_fill(x, (int64_t)B * Nf * P, 10 + 2 * (uint32_t)s);
  tl_fill(target, (int64_t)B * Nf * P, 11 + 2 * (uint32_t)s);
  for (int k = 0; k < Bl; k++) {  // sample s0+k's token slice sp_rank, packed at the front
    memmove(x + (size_t)k * N * P, x + ((size_t)(s0 + k) * Nf + (size_t)cc->sp_rank * N) * P, (size_t)N * P * 4);
    memmove(target + (size_t)k * N * P, target + ((size_t)(s0 + k) * Nf + (size_t)cc->sp_rank * N) * P,
            (size_t)N * P * 4);
  }
  double loss_tokens = 0.0;
  for (int k = 0; k < B; k++)
    for (int f = 0; f < c->grid_t; f++) loss_tokens += COND[k * c->grid_t + f] ? 0.0 : (double)Nf / c->grid_t;
  float t[B];
  for (int k = 0; k < B; k++) t[k] = 0.1f + 0.2f * (float)k + 0.05f * (float)s;
  Batch b = {.B = Bl, .x = x, .t = t + s0, .tokens = (int32_t *)TOKENS + s0 * c->text_length,
             .ntokens = (int32_t *)NTOKENS + s0, .cond = (uint8_t *)COND + s0 * c->grid_t, .target = target,
             .loss_tokens = cc->dp > 1 ? loss_tokens : 0.0};
  params_zero_grad(&m->params);
  float loss = model_forward(m, &b);
  model_read_output(m, out, Bl);  // the forward's prediction for this rank's tokens
  model_backward(m, &b);
  memcpy(gsum, m->params.grad, m->params.total * sizeof(float));
  comm_allreduce(&cc->dpsp_group, gsum, m->params.total, COMM_F32, COMM_SUM);
  for (size_t e = 0; e < m->params.total; e++) m->params.data[e] -= 0.05f * gsum[e];
  free(x);
  free(target);
  return loss;
}

static void check(CommContext *wc, const ModelConfig *c, int tp, int sp, int ring) {
  const int W = comm_world_size(), dp = W / (tp * sp);
  CommContext cc;
  comm_layout(&cc, dp, sp, tp, "test_tpsp_overlap");
  char name[48];
  snprintf(name, sizeof name, "tp%d x sp%d(ring%d) x dp%d", tp, sp, ring, dp);
  Model blk, ovl;
  build(&blk, c, &cc, ring, 1, B / dp);
  build(&ovl, c, &cc, ring, 0, B / dp);
  const size_t n = blk.params.total;
  float *gb = calloc(n, sizeof(float)), *go = calloc(n, sizeof(float));
  const size_t nout = (size_t)(B / dp) * (c->tokens / sp) * c->patch_dim;
  float *ob = calloc(nout, sizeof(float)), *oo = calloc(nout, sizeof(float));
  int bad = 0;
  uint64_t bytes = 0;
  for (int s = 0; s < STEPS; s++) {
    comm_stats_reset(&cc.tp_group);
    comm_stats_reset(&cc.sp_group);
    float lb = step(&blk, &cc, c, s, gb, ob);
    const CommStats sb = cc.tp_group.stats, pb = cc.sp_group.stats;
    comm_stats_reset(&cc.tp_group);
    comm_stats_reset(&cc.sp_group);
    float lo = step(&ovl, &cc, c, s, go, oo);
    const CommStats so = cc.tp_group.stats, po = cc.sp_group.stats;
    bytes = comm_stats_bytes(&cc.tp_group) + comm_stats_bytes(&cc.sp_group);
    if (memcmp(ob, oo, nout * sizeof(float)))
      bad = 1, printf("  rank %d %s step %d: the forward's output differs\n", comm_world_rank(), name, s);
    if (memcmp(&lb, &lo, sizeof lb)) bad = 1, printf("  rank %d %s step %d: loss %.9g vs %.9g\n", comm_world_rank(), name, s, lb, lo);
    // the rank's own gradient (before the dp x sp sum) and the summed one
    if (memcmp(blk.params.grad, ovl.params.grad, n * sizeof(float)) || memcmp(gb, go, n * sizeof(float))) {
      bad = 1;
      for (int i = 0; i < blk.params.count; i++) {
        const ParamInfo *p = &blk.params.items[i];
        if (memcmp(blk.params.grad + p->offset, ovl.params.grad + p->offset, p->numel * sizeof(float)))
          printf("  rank %d %s step %d: gradient of %s differs\n", comm_world_rank(), name, s, p->name);
      }
    }
    if (memcmp(sb.bytes, so.bytes, sizeof sb.bytes) || memcmp(sb.calls, so.calls, sizeof sb.calls) ||
        memcmp(pb.bytes, po.bytes, sizeof pb.bytes) || memcmp(pb.calls, po.calls, sizeof pb.calls))
      bad = 1, printf("  rank %d %s step %d: tp bytes %llu vs %llu, sp bytes %llu vs %llu\n", comm_world_rank(), name, s,
                      (unsigned long long)comm_stats_bytes(&(CommGroup){.stats = sb}),
                      (unsigned long long)comm_stats_bytes(&(CommGroup){.stats = so}),
                      (unsigned long long)comm_stats_bytes(&(CommGroup){.stats = pb}),
                      (unsigned long long)comm_stats_bytes(&(CommGroup){.stats = po}));
  }
  comm_allreduce(&wc->world, &bad, 1, COMM_I32, COMM_MAX);
  EXPECT(!bad, "%s: overlapped backward differs from blocking", name);
  EXPECT(bytes > 0, "%s: the tp and sp groups sent nothing", name);
  if (comm_world_rank() == 0)
    printf("  %-26s %d steps: outputs, losses, every gradient, tp + sp bytes (%llu per step) bit-identical\n", name, STEPS,
           (unsigned long long)bytes);
  free(gb);
  free(go);
  free(ob);
  free(oo);
  model_free(&blk);
  model_free(&ovl);
  comm_free(&cc);
}

int main(int argc, char **argv) {
  comm_init(&argc, &argv);
  const int W = comm_world_size();
  if (W == 1) {
    printf("test_tpsp_overlap: one rank, nothing to compare (tests/test_tpsp_overlap.sh runs it under mpirun)\n");
    return 0;
  }
  CommContext wc;
  comm_layout(&wc, W, 1, 1, "test_tpsp_overlap");
  ModelConfig c = config();
  // (tp, sp, ring); ranks left over are dp. --tp4 (the 8-rank run): only the
  // tp-4 layouts (tp4 x dp2, tp4 x ring2), the others are covered at 2 and 4.
  const int only_tp4 = argc > 1 && !strcmp(argv[1], "--tp4");
  const int layouts[][3] = {{2, 1, 1}, {1, 2, 1}, {2, 2, 1}, {2, 2, 2}, {1, 4, 1}, {1, 4, 2}, {4, 1, 1}, {4, 2, 2}};
  for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
    const int tp = layouts[i][0], sp = layouts[i][1], ring = layouts[i][2];
    if (W % (tp * sp) || B % (W / (tp * sp))) continue;
    if (only_tp4 != (tp == 4 && W == 8)) continue;
    check(&wc, &c, tp, sp, ring);
  }
  int failed = tl_failures;
  comm_allreduce(&wc.world, &failed, 1, COMM_I32, COMM_MAX);
  if (comm_world_rank() == 0) tl_finish("test_tpsp_overlap");
  comm_free(&wc);
  return failed ? 1 : 0;
}
