// The profiling backend (kernels/backend_profile.h): a model's forward and
// backward through it are bit-identical to the CPU backend's (loss, output,
// every parameter gradient); it counts what it forwards (direct be_gemm
// calls; attention_forward once per self- and cross-attention of each block
// and once per text-encoder layer, per the architecture of DESIGN.md); and
// the time it charges to ops is within the wall time of the work.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/params.h"
#include "core/timer.h"
#include "kernels/backend_profile.h"
#include "kernels/ops.h"
#include "model/model.h"
#include "testlib.h"

enum { B = 2 };
static const int32_t TOKENS[B * 6] = {1, 5, 9, 13, 0, 0, 1, 7, 3, 0, 0, 0};
static const int32_t NTOKENS[B] = {4, 3};
static const uint8_t COND[B * 4] = {1, 0, 0, 0, 0, 0, 0, 0};

static ModelConfig config(void) {
  ModelConfig c = {0};
  strcpy(c.name, "profile");
  c.frames = 4, c.height = 8, c.width = 8, c.channels = 3;
  c.pt = 1, c.ph = 4, c.pw = 4;  // 16 tokens
  c.dim = 48, c.depth = 3, c.heads = 4, c.mlp_ratio = 2;
  c.text_length = 6, c.text_layers = 2, c.vocab = 30, c.freq_dim = 32;
  MUST(model_config_finalize(&c, "test_backend_profile", &tl_err));
  return c;
}

typedef struct {
  float loss;
  float *out, *grad;
} Run;

// One forward + backward of a fixed batch on fixed weights, on `be`.
static Run run(const ModelConfig *c, const Backend *be) {
  const size_t n = (size_t)B * c->tokens * c->patch_dim;
  Model m;
  model_build(&m, c, (ModelLayout){.tp = 1, .sp = 1}, be);
  params_init_uniform(&m.params, 11, 0.3f);
  model_alloc_acts(&m, B);
  float *x = calloc(n, sizeof(float)), *target = calloc(n, sizeof(float));
  tl_fill(x, (int64_t)n, 1);
  tl_fill(target, (int64_t)n, 2);
  float t[B] = {0.3f, 0.8f};
  Batch b = {.B = B, .x = x, .t = t, .tokens = (int32_t *)TOKENS, .ntokens = (int32_t *)NTOKENS,
             .cond = (uint8_t *)COND, .target = target};
  params_zero_grad(&m.params);
  Run r = {.loss = model_forward(&m, &b)};
  model_backward(&m, &b);
  r.out = calloc(n, sizeof(float));
  model_read_output(&m, r.out, B);
  r.grad = malloc(m.params.total * sizeof(float));
  memcpy(r.grad, m.params.grad, m.params.total * sizeof(float));
  free(x);
  free(target);
  model_free(&m);
  return r;
}

static int op_index(const char *name) {
  for (int i = 0; i < profile_op_count(); i++)
    if (!strcmp(profile_op_name(i), name)) return i;
  return -1;
}

int main(void) {
  const ModelConfig c = config();
  Model probe;
  model_build(&probe, &c, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
  const size_t total = probe.params.total, nout = (size_t)B * c.tokens * c.patch_dim;
  model_free(&probe);
  const int nops = profile_op_count();
  double *sec = calloc((size_t)nops, sizeof(double));
  long *calls = calloc((size_t)nops, sizeof(long));
  const int i_gemm = op_index("gemm"), i_attn = op_index("attention_forward");
  EXPECT(i_gemm >= 0 && i_attn >= 0, "the op list names gemm and attention_forward");

  // Bit-identical through the wrapper, and the forward's attention calls counted.
  Backend *prof = backend_profiled(backend_cpu());
  const Run base = run(&c, backend_cpu());
  const double t0 = timer_now();
  const Run wrapped = run(&c, prof);
  const double wall = timer_now() - t0;
  EXPECT(wrapped.loss == base.loss, "loss through the profiler %.9g, direct %.9g", wrapped.loss, base.loss);
  EXPECT(!memcmp(wrapped.out, base.out, nout * sizeof(float)), "output through the profiler differs");
  EXPECT(!memcmp(wrapped.grad, base.grad, total * sizeof(float)), "gradients through the profiler differ");
  profile_totals(prof, sec, calls);
  EXPECT(calls[i_attn] == 2L * c.depth + c.text_layers, "attention_forward calls %ld, expected %d", calls[i_attn],
         2 * c.depth + c.text_layers);
  double charged = 0.0;
  for (int i = 0; i < nops; i++) {
    EXPECT(sec[i] >= 0.0 && (calls[i] > 0 || sec[i] == 0.0), "%s: %.3g s in %ld calls", profile_op_name(i), sec[i],
           calls[i]);
    charged += sec[i];
  }
  EXPECT(charged > 0.0 && charged <= wall, "time charged to ops %.6f s, wall time of the run %.6f s", charged, wall);

  // Direct calls: each one counted once, under its own op.
  const long gemm0 = calls[i_gemm];
  float a[6] = {1, 2, 3, 4, 5, 6}, w[6] = {1, 0, 0, 1, 1, 1}, out[4], ref[4];
  for (int k = 0; k < 3; k++) be_gemm(prof, 0, 1, 2, 2, 3, 1.0f, a, 3, w, 3, 0.0f, out, 2);
  gemm_ref(0, 1, 2, 2, 3, 1.0f, a, 3, w, 3, 0.0f, ref, 2);
  profile_totals(prof, sec, calls);
  EXPECT(calls[i_gemm] == gemm0 + 3, "gemm calls %ld after 3 more, expected %ld", calls[i_gemm], gemm0 + 3);
  EXPECT(!memcmp(out, ref, sizeof out), "gemm through the profiler differs from the reference");
  EXPECT(!strcmp(profile_op_name(-1), "?") && !strcmp(profile_op_name(nops), "?"), "out-of-range names");
  backend_close(prof);
  free(sec);
  free(calls);
  free(base.out), free(base.grad), free(wrapped.out), free(wrapped.grad);
  return tl_finish("test_backend_profile");
}
