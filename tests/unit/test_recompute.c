// Activation recomputation (train.recompute, model_set_recompute): for
// none, attention and block, one forward + backward of the same batch on the
// same weights; the loss, the output and EVERY parameter gradient must be
// bit-identical to no recomputation (memcmp), and the activation arena must
// shrink (attention < none, block < attention). Run as one process (plain
// layout) and under mpirun by tests/test_ring_train.sh at 2 and 4 ranks, where
// the layouts add Ulysses, ring and Ulysses x ring (recomputation then redoes
// the all-to-alls and the ring's exchanges as well).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "core/config.h"
#include "core/params.h"
#include "model/model.h"
#include "testlib.h"

enum { B = 2 };
static const int32_t TOKENS[B * 6] = {1, 5, 9, 13, 0, 0, 1, 7, 3, 0, 0, 0};
static const int32_t NTOKENS[B] = {4, 3};
static const uint8_t COND[B * 4] = {1, 0, 0, 0, 0, 0, 0, 0};

static ModelConfig config(void) {
  ModelConfig c = {0};
  strcpy(c.name, "recompute");
  c.frames = 4, c.height = 8, c.width = 8, c.channels = 3;
  c.pt = 1, c.ph = 4, c.pw = 4;  // 16 tokens
  c.dim = 48, c.depth = 3, c.heads = 4, c.mlp_ratio = 2;
  c.text_length = 6, c.text_layers = 1, c.vocab = 30, c.freq_dim = 32;
  MUST(model_config_finalize(&c, "test_recompute", &tl_err));
  return c;
}

typedef struct {
  float loss;
  float *out, *grad;
  size_t arena;
} Run;

static Run run(const ModelConfig *c, CommContext *cc, int ring, ModelRecompute rc) {
  const int sp = cc->sp, N = c->tokens / sp, P = c->patch_dim, Nf = c->tokens;
  Model m;
  model_build(&m, c,
              (ModelLayout){.tp = 1, .sp = sp, .sp_rank = cc->sp_rank, .sp_group = &cc->sp_group, .ring = ring},
              backend_cpu());
  params_init_uniform(&m.params, 11, 0.3f);
  model_set_recompute(&m, rc);
  model_alloc_acts(&m, B);
  float *x = calloc((size_t)B * Nf * P, sizeof(float)), *target = calloc((size_t)B * Nf * P, sizeof(float));
  tl_fill(x, (int64_t)B * Nf * P, 1);
  tl_fill(target, (int64_t)B * Nf * P, 2);
  for (int s = 0; s < B; s++) {  // this rank's token slice, at the front of each sample
    memmove(x + (size_t)s * N * P, x + ((size_t)s * Nf + (size_t)cc->sp_rank * N) * P, (size_t)N * P * sizeof(float));
    memmove(target + (size_t)s * N * P, target + ((size_t)s * Nf + (size_t)cc->sp_rank * N) * P,
            (size_t)N * P * sizeof(float));
  }
  float t[B] = {0.3f, 0.8f};
  Batch b = {.B = B, .x = x, .t = t, .tokens = (int32_t *)TOKENS, .ntokens = (int32_t *)NTOKENS,
             .cond = (uint8_t *)COND, .target = target};
  params_zero_grad(&m.params);
  Run r = {.loss = model_forward(&m, &b), .arena = m.arena.size};
  model_backward(&m, &b);
  r.out = calloc((size_t)B * N * P, sizeof(float));
  model_read_output(&m, r.out, B);
  r.grad = malloc(m.params.total * sizeof(float));
  memcpy(r.grad, m.params.grad, m.params.total * sizeof(float));
  free(x);
  free(target);
  model_free(&m);
  return r;
}

int main(int argc, char **argv) {
  comm_init(&argc, &argv);
  const int W = comm_world_size();
  const ModelConfig c = config();
  CommContext cc;
  comm_layout(&cc, 1, W, 1, "test_recompute");
  Model probe;  // the parameter count, for the comparisons
  model_build(&probe, &c, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
  const size_t total = probe.params.total, nout = (size_t)B * (c.tokens / W) * c.patch_dim;
  model_free(&probe);
  static const char *names[] = {"none", "attention", "block"};
  for (int ring = 1; ring <= W; ring *= 2) {  // every Ulysses x ring split of sp = W
    Run base = run(&c, &cc, ring, MODEL_RECOMPUTE_NONE);
    size_t prev = base.arena;
    for (int rc = MODEL_RECOMPUTE_ATTENTION; rc <= MODEL_RECOMPUTE_BLOCK; rc++) {
      Run r = run(&c, &cc, ring, (ModelRecompute)rc);
      int same = r.loss == base.loss && !memcmp(r.out, base.out, nout * sizeof(float)) &&
                 !memcmp(r.grad, base.grad, total * sizeof(float));
      comm_allreduce(&cc.world, &same, 1, COMM_I32, COMM_MIN);
      EXPECT(same, "sp%d ring%d recompute %s: loss, output or gradients not bit-identical to none", W, ring, names[rc]);
      EXPECT(r.arena < prev, "sp%d ring%d recompute %s: arena %zu bytes, not below %zu", W, ring, names[rc], r.arena,
             prev);
      if (comm_world_rank() == 0)
        printf("  sp%d ring%d recompute %-9s arena %8zu bytes (none %zu: %.0f%%); gradients bit-identical: %s\n", W,
               ring, names[rc], r.arena, base.arena, 100.0 * (double)r.arena / (double)base.arena, same ? "yes" : "NO");
      prev = r.arena;
      free(r.out), free(r.grad);
    }
    free(base.out), free(base.grad);
  }
  int failed = tl_failures;
  comm_allreduce(&cc.world, &failed, 1, COMM_I32, COMM_MAX);
  if (comm_world_rank() == 0) tl_finish("test_recompute");
  comm_free(&cc);
  return failed ? 1 : 0;
}
