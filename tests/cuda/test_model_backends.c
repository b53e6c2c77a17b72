// The whole model on the CUDA backend against the CPU backend (docs/cuda.md).
// Both models are built from the same config and layout and get the same
// parameters (params_init_uniform, uploaded through each backend) and the
// same batch; each runs forward + backward; the loss, the output
// (model_read_output) and every gradient (downloaded from the backend's
// memory) are compared:
//  - fp32 mode: on the CPU stand-in of the CUDA ops (TSR_GPU_MOCK:
//    build/cuda/test_model_standin, build/cuda/test_model_backends_mock)
//    bit for bit, since the stand-in calls the CPU backend's own ops and only
//    the backend's host code differs; on a GPU within TOL_FP32 (float
//    reassociation in the GPU's kernels and cuBLAS);
//  - bf16 mode (bf16 tensor-core GEMMs) against the fp32 CPU backend, within
//    TOL_BF16_OUT (loss, output) and TOL_BF16_GRAD (all gradients as one vector).
// Under mpirun (2 ranks) the same at tp2 and at sp2: each rank's sharded
// model on both backends, with its groups (collectives on the backend's
// buffers; on the stand-in those are host memory and go through MPI).
// --steps N: then N AdamW steps on both backends from the same start over a
// fixed set of flow-matching batches; the loss curves must agree: bit for bit
// (stand-in, fp32), within TOL_TRAIN_FP32 (GPU fp32), and within
// TOL_TRAIN_BF16 on average over the last quarter of the run (bf16).
// Without a CUDA backend (no GPU, not the stand-in): "SKIPPED: why", exit 0
// (--require-gpu: exit 1).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "core/config.h"
#include "core/error.h"
#include "core/params.h"
#include "kernels/backend.h"
#include "model/model.h"
#include "testlib.h"

#ifdef TSR_GPU_MOCK
static const int exact = 1;  // fp32 over the stand-in: the CPU backend's ops, bit for bit
#else
static const int exact = 0;
#endif
static const double TOL_FP32 = 1e-4;        // GPU fp32 vs CPU: relative, output / loss / gradients
static const double TOL_BF16_OUT = 2e-2;    // bf16 GEMMs vs fp32: loss and output
static const double TOL_BF16_GRAD = 5e-2;   // bf16 GEMMs vs fp32: the whole gradient vector
static const double TOL_TRAIN_FP32 = 1e-3;  // GPU fp32: each step's loss, relative
static const double TOL_TRAIN_BF16 = 1e-2;  // bf16: mean relative loss difference over the last quarter

static ModelConfig small_config(void) {
  ModelConfig c = {0};
  strcpy(c.name, "backends");
  c.frames = 4, c.height = 8, c.width = 8, c.channels = 3;
  c.pt = 1, c.ph = 4, c.pw = 4;  // grid 4x2x2: 16 tokens, 4 per latent frame
  c.dim = 48, c.depth = 2, c.heads = 4, c.mlp_ratio = 2;
  c.text_length = 6, c.text_layers = 1, c.vocab = 30, c.freq_dim = 32;
  MUST(model_config_finalize(&c, "test_model_backends", &tl_err));
  return c;
}

enum { B = 4 };
// captions of several lengths; sample 1's first two latent frames conditioned
// (a whole sp=2 slice without loss tokens), sample 3's last
static const int32_t TOKENS[B * 6] = {1, 5, 9, 13, 0, 0, 1, 7, 0, 0, 0, 0, 1, 3, 4, 5, 6, 2, 1, 0, 0, 0, 0, 0};
static const int32_t NTOKENS[B] = {4, 2, 6, 1};
static const uint8_t COND[B * 4] = {1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

// A flow-matching batch (x_t = (1-t) x0 + t eps, target eps - x0) for this
// rank's token slice [n0, n0 + N) of every sample; `seed` picks the batch.
typedef struct {
  float *x, *target, t[B];
} HostBatch;

static void make_batch(HostBatch *h, const ModelConfig *c, int n0, int N, uint32_t seed) {
  const int P = c->patch_dim, Nf = c->tokens;
  h->x = calloc((size_t)B * N * P, sizeof(float));
  h->target = calloc((size_t)B * N * P, sizeof(float));
  for (int s = 0; s < B; s++) {
    h->t[s] = 0.1f + 0.8f * rng_uniform(seed, RNG_TEST, 90, 0, (uint32_t)s);
    for (int n = 0; n < N; n++)
      for (int p = 0; p < P; p++) {
        const uint32_t e = (uint32_t)(((size_t)s * Nf + n0 + n) * P + p);
        const float x0 = 2.0f * rng_uniform(seed, RNG_TEST, 91, 0, e) - 1.0f;
        const float eps = 2.0f * rng_uniform(seed, RNG_TEST, 92, 0, e) - 1.0f;
        const size_t i = ((size_t)s * N + n) * P + p;
        h->x[i] = (1.0f - h->t[s]) * x0 + h->t[s] * eps;
        h->target[i] = eps - x0;
      }
  }
}

static Batch batch_of(HostBatch *h) {
  return (Batch){.B = B, .x = h->x, .t = h->t, .tokens = (int32_t *)TOKENS, .ntokens = (int32_t *)NTOKENS,
                 .cond = (uint8_t *)COND, .target = h->target};
}

// One backend's result of forward + backward, on the host.
typedef struct {
  double loss;
  float *out, *grad;
  size_t nout, ngrad;
} Result;

static Result run_once(const ModelConfig *c, ModelLayout lay, const Backend *be, HostBatch *h, int N) {
  Model m;
  model_build(&m, c, lay, be);
  params_init_uniform(&m.params, 7, 0.3f);
  model_alloc_acts(&m, B);
  Batch b = batch_of(h);
  params_zero_grad(&m.params);
  Result r = {.nout = (size_t)B * N * c->patch_dim, .ngrad = m.params.total};
  r.loss = model_forward(&m, &b);
  model_backward(&m, &b);
  r.out = calloc(r.nout, sizeof(float));
  r.grad = calloc(r.ngrad, sizeof(float));
  model_read_output(&m, r.out, B);
  be_download(be, r.grad, m.params.grad, r.ngrad * sizeof(float));
  model_free(&m);
  return r;
}

static void result_free(Result *r) { free(r->out), free(r->grad); }

static size_t bits_differ(const float *a, const float *b, size_t n) {
  size_t d = 0;
  for (size_t i = 0; i < n; i++) d += memcmp(a + i, b + i, sizeof(float)) != 0;
  return d;
}

static CommContext world;  // every rank, for the verdicts

// The worst value over all ranks, so every rank reaches the same verdict.
static double worst(double e) {
  comm_allreduce(&world.world, &e, 1, COMM_F64, COMM_MAX);
  return e;
}

// got (the CUDA backend) vs want (the CPU backend): bit for bit when `bitwise`,
// else within the tolerances.
static void compare(const char *name, const Result *got, const Result *want, int bitwise, double tol_out,
                    double tol_grad) {
  const double e_loss = worst(fabs(got->loss - want->loss) / fmax(fabs(want->loss), 1e-30));
  const double e_out = worst(tl_rel_err(got->out, want->out, (int64_t)want->nout));
  const double e_grad = worst(tl_rel_err(got->grad, want->grad, (int64_t)want->ngrad));
  const double d_out = worst((double)bits_differ(got->out, want->out, want->nout));
  const double d_grad = worst((double)bits_differ(got->grad, want->grad, want->ngrad));
  const int loss_same = worst(memcmp(&got->loss, &want->loss, sizeof got->loss) != 0) == 0;
  if (bitwise) {
    EXPECT(loss_same && d_out == 0 && d_grad == 0,
           "%s: not bit-identical: loss %.9g vs %.9g, %.0f output and %.0f gradient values differ", name, got->loss,
           want->loss, d_out, d_grad);
  } else {
    EXPECT(e_loss <= tol_out, "%s: loss %.9g vs %.9g (rel %.3g > %.0e)", name, got->loss, want->loss, e_loss, tol_out);
    EXPECT(e_out <= tol_out, "%s: output rel err %.3g > %.0e", name, e_out, tol_out);
    EXPECT(e_grad <= tol_grad, "%s: gradient rel err %.3g > %.0e", name, e_grad, tol_grad);
  }
  if (comm_world_rank() == 0) {
    if (bitwise)
      printf("  %-34s loss, output (%zu) and gradients (%zu): %s\n", name, want->nout, want->ngrad,
             loss_same && d_out == 0 && d_grad == 0 ? "bit-identical" : "DIFFER");
    else
      printf("  %-34s loss %.2e  output %.2e  gradients %.2e  (tol %.0e / %.0e)\n", name, e_loss, e_out, e_grad,
             tol_out, tol_grad);
  }
}

// forward + backward at one layout on the CPU backend, the CUDA backend in fp32
// and in bf16 mode.
static void check_layout(const ModelConfig *c, Backend *fp32, Backend *bf16, int tp, int sp) {
  CommContext cc;
  const int W = comm_world_size();
  comm_layout(&cc, W / (tp * sp), sp, tp, "test_model_backends");
  TSR_ASSERT(W == tp * sp, "layout tp%d x sp%d needs %d ranks, have %d", tp, sp, tp * sp, W);
  ModelLayout lay = {.tp = tp, .sp = sp, .tp_rank = cc.tp_rank, .sp_rank = cc.sp_rank,
                     .tp_group = tp > 1 ? &cc.tp_group : NULL, .sp_group = sp > 1 ? &cc.sp_group : NULL};
  const int N = c->tokens / sp;
  HostBatch h;
  make_batch(&h, c, cc.sp_rank * N, N, 11);
  Result want = run_once(c, lay, backend_cpu(), &h, N), got = run_once(c, lay, fp32, &h, N);
  char name[64];
  snprintf(name, sizeof name, "tp%d sp%d: cuda fp32 vs cpu", tp, sp);
  compare(name, &got, &want, exact, TOL_FP32, TOL_FP32);
  result_free(&got);
  got = run_once(c, lay, bf16, &h, N);
  snprintf(name, sizeof name, "tp%d sp%d: cuda bf16 vs cpu fp32", tp, sp);
  compare(name, &got, &want, 0, TOL_BF16_OUT, TOL_BF16_GRAD);
  EXPECT(tl_rel_err(got.out, want.out, (int64_t)want.nout) > 0.0,
         "%s: bf16 output equals fp32 exactly: the bf16 GEMMs are not in use", name);
  result_free(&got);
  result_free(&want);
  free(h.x), free(h.target);
  comm_free(&cc);
}

// `steps` AdamW steps, each on a fresh batch (the same sequence on every
// backend): the loss falls to the noise floor of the flow-matching target, as
// in real training, instead of to zero (where relative differences mean nothing).
static void train(const ModelConfig *c, const Backend *be, int steps, double *losses) {
  Model m;
  model_build(&m, c, (ModelLayout){.tp = 1, .sp = 1}, be);
  params_init_uniform(&m.params, 7, 0.1f);
  model_alloc_acts(&m, B);
  const size_t n = m.params.total;
  float *am = be_floats(be, n), *av = be_floats(be, n);  // zero-filled
  for (int s = 0; s < steps; s++) {
    HostBatch hb;
    make_batch(&hb, c, 0, c->tokens, 100 + (uint32_t)s);
    Batch b = batch_of(&hb);
    params_zero_grad(&m.params);
    losses[s] = model_forward(&m, &b);
    model_backward(&m, &b);
    be_adamw_update(be, m.params.data, m.params.grad, am, av, (int64_t)n, 3e-3f, 0.9f, 0.99f, 1e-8f, 0.01f, s + 1);
    free(hb.x), free(hb.target);
  }
  be_sync(be);
  be_free(be, am), be_free(be, av);
  model_free(&m);
}

static void check_training(const ModelConfig *c, Backend *fp32, Backend *bf16, int steps) {
  double *want = calloc((size_t)steps, sizeof(double)), *got = calloc((size_t)steps, sizeof(double));
  train(c, backend_cpu(), steps, want);
  if (steps >= 50)  // the comparison means something only if the model learns
    EXPECT(want[steps - 1] < 0.9 * want[0], "cpu training: loss %.4g -> %.4g did not fall by 10%% in %d steps",
           want[0], want[steps - 1], steps);
  for (int mode = 0; mode < 2; mode++) {
    train(c, mode ? bf16 : fp32, steps, got);
    double e_max = 0.0, e_tail = 0.0;
    size_t differ = 0;
    for (int s = 0; s < steps; s++) {
      const double e = fabs(got[s] - want[s]) / fabs(want[s]);
      e_max = fmax(e_max, e);
      if (s >= steps - steps / 4) e_tail += e / (steps / 4 > 0 ? steps / 4 : 1);
      differ += got[s] != want[s];
    }
    if (!mode && exact) {
      EXPECT(differ == 0, "train fp32: %zu of %d losses differ from the CPU backend's", differ, steps);
    } else if (!mode) {
      EXPECT(e_max <= TOL_TRAIN_FP32, "train fp32: loss differs by %.3g (rel) > %.0e", e_max, TOL_TRAIN_FP32);
    } else {
      EXPECT(e_tail <= TOL_TRAIN_BF16, "train bf16: loss differs by %.3g (rel, mean of the last quarter) > %.0e",
             e_tail, TOL_TRAIN_BF16);
    }
    printf("  train %d steps, cuda %s vs cpu: loss %.5f -> %.5f (cpu %.5f -> %.5f), max rel diff %.2e, last quarter "
           "%.2e%s\n",
           steps, mode ? "bf16" : "fp32", got[0], got[steps - 1], want[0], want[steps - 1], e_max, e_tail,
           !mode && exact ? (differ ? "  DIFFER" : "  (bit-identical)") : "");
  }
  free(want), free(got);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  comm_init(&argc, &argv);
  int steps = 0, require = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--require-gpu")) require = 1;
    else {
      fprintf(stderr, "usage: %s [--steps N] [--require-gpu]\n", argv[0]);
      return 2;
    }
  }
  const int W = comm_world_size(), rank = comm_world_rank();
  comm_layout(&world, W, 1, 1, "test_model_backends");
  // each rank its own device (one GPU per rank), the stand-in has one
  char why[256];
  Backend *fp32 = backend_cuda_open(exact ? 0 : rank, 0, why, sizeof why);
  if (!fp32) {
    if (rank == 0) printf("SKIPPED: %s\n", why);
    return require ? 1 : 0;
  }
  Backend *bf16 = backend_cuda_open(exact ? 0 : rank, 1, why, sizeof why);
  char desc[512];
  fp32->describe(fp32, desc, sizeof desc);
  if (rank == 0) printf("test_model_backends on %s, %d rank(s)\n", desc, W);
  ModelConfig c = small_config();
  if (W == 1) check_layout(&c, fp32, bf16, 1, 1);
  if (W == 2) check_layout(&c, fp32, bf16, 2, 1), check_layout(&c, fp32, bf16, 1, 2);
  if (steps > 0 && W == 1) check_training(&c, fp32, bf16, steps);
  backend_close(fp32);
  backend_close(bf16);
  int failed = tl_failures;
  comm_allreduce(&world.world, &failed, 1, COMM_I32, COMM_MAX);
  if (rank == 0) tl_finish("test_model_backends");
  comm_free(&world);
  return failed ? 1 : 0;
}
