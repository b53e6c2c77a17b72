// A training step of the model on the CUDA backend, timed, with its MFU
// against the card's measured bf16 GEMM rate (tests/cuda/run_on_gpu.sh).
//   bench_model_gpu --peak                       the bf16 GEMM rate: one JSON line
//   bench_model_gpu --config F [--batch B] [--iters K] [--precision bf16|fp32] [--peak-tflops X] [--profile]
// A step = zero the gradients, forward with the loss, backward, AdamW on every
// parameter, all queued on the backend and synchronised once; the median of
// K steps after one warm-up. FLOPs per step: model_train_flops (matmuls and
// attention, the convention of `tessera bench step`). The peak is an 8192^3
// bf16 GEMM on random data (cuBLAS, fp32 accumulation), the median of 20.
// Prints one JSON line; informational (no assertion on speed). --profile:
// then K more steps through the profiling backend (kernels/backend_profile.h:
// a sync after every op, so each op is charged its own device time), one
// line per op, most time first.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"
#include "kernels/backend.h"
#include "kernels/backend_profile.h"
#include "kernels/cuda_ops.h"
#include "model/model.h"

static const double *sort_key;  // profile_print: each op's seconds
static int cmp_op_desc(const void *a, const void *b) {
  const double x = sort_key[*(const int *)a], y = sort_key[*(const int *)b];
  return (x < y) - (x > y);
}

// `iters` steps through the profiling backend: per op ms per step, calls, share.
static void profile_print(const double *sec, const long *calls, int iters, double wall) {
  const int n = profile_op_count();
  int *order = tsr_calloc((size_t)n, sizeof(int));
  double total = 0.0;
  for (int i = 0; i < n; i++) order[i] = i, total += sec[i];
  sort_key = sec;
  qsort(order, (size_t)n, sizeof(int), cmp_op_desc);
  printf("profile: %.2f ms per step through the profiling backend (ops %.2f ms), %d steps\n", wall * 1e3 / iters,
         total * 1e3 / iters, iters);
  for (int r = 0; r < n && sec[order[r]] > 0.0; r++) {
    const int i = order[r];
    printf("profile %-24s %9.3f ms %6ld calls %5.1f%%\n", profile_op_name(i), sec[i] * 1e3 / iters, calls[i] / iters,
           100.0 * sec[i] / total);
  }
  tsr_free(order);
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float *host_uniform(size_t n, uint32_t stream, float lo, float hi) {
  float *x = tsr_calloc(n, sizeof(float));
  for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(5, RNG_TEST, stream, (uint32_t)(i >> 32), (uint32_t)i);
  return x;
}

// TFLOP/s of C[M,N] = A[M,K] B[K,N]^T in bf16 with fp32 accumulation, M = N = K = 8192.
static double gemm_peak(Backend *be) {
  const int n = 8192, reps = 20;
  const size_t nn = (size_t)n * n;
  float *tmp = be_floats(be, nn);
  bf16_t *a = be_alloc(be, nn * 2), *b = be_alloc(be, nn * 2), *c = be_alloc(be, nn * 2);
  for (int k = 0; k < 2; k++) {  // random operands: zeros would time faster than real data
    float *h = host_uniform(nn, 1 + (uint32_t)k, -1.0f, 1.0f);
    be_upload(be, tmp, h, nn * sizeof(float));
    gpu_f32_to_bf16(be->ctx, k ? b : a, tmp, (int64_t)nn);
    be_sync(be);
    tsr_free(h);
  }
  double t[20];
  for (int r = -3; r < reps; r++) {
    be_sync(be);
    const double t0 = timer_now();
    gpu_gemm_bf16(be->ctx, 0, 1, n, n, n, 1.0f, a, n, b, n, 0.0f, c, 1, n);
    be_sync(be);
    if (r >= 0) t[r] = timer_now() - t0;
  }
  be_free(be, a), be_free(be, b), be_free(be, c), be_free(be, tmp);
  return 2.0 * n * (double)n * n / median(t, reps) * 1e-12;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *config = NULL, *precision = "bf16";
  int batch = 2, iters = 5, peak_only = 0, profile = 0;
  double peak = 0.0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--precision") && i + 1 < argc) precision = argv[++i];
    else if (!strcmp(argv[i], "--peak-tflops") && i + 1 < argc) peak = atof(argv[++i]);
    else if (!strcmp(argv[i], "--peak")) peak_only = 1;
    else if (!strcmp(argv[i], "--profile")) profile = 1;
    else {
      fprintf(stderr, "usage: %s --peak | --config F [--batch B] [--iters K] [--precision bf16|fp32] "
                      "[--peak-tflops X] [--profile]\n", argv[0]);
      return 2;
    }
  }
  const int bf16 = strcmp(precision, "fp32") != 0;
  if ((!config && !peak_only) || batch < 1 || iters < 1 || (bf16 && strcmp(precision, "bf16") != 0)) {
    fprintf(stderr, "%s: --config F (or --peak) needed; --batch, --iters >= 1; --precision bf16 or fp32\n", argv[0]);
    return 2;
  }
  char why[256], desc[512];
  Backend *be = backend_cuda_open(0, bf16, why, sizeof why);
  if (!be) {
    printf("SKIPPED: %s\n", why);
    return 3;
  }
  be->describe(be, desc, sizeof desc);
  if (peak_only || peak <= 0.0) peak = gemm_peak(be);
  if (peak_only) {
    printf("{\"gemm_bf16_8192_tflops\":%.1f,\"device\":\"%s\"}\n", peak, desc);
    backend_close(be);
    return 0;
  }
  Config cfg;
  TsrErr cerr;
  if (config_load(&cfg, config, 0, NULL, &cerr)) {
    fprintf(stderr, "bench_model_gpu: %s\n", cerr.msg);
    return 2;
  }
  const ModelConfig *mc = &cfg.model;
  Model m;
  model_build(&m, mc, (ModelLayout){.tp = 1, .sp = 1}, be);
  params_init_uniform(&m.params, 0, 0.02f);  // every parameter non-zero (adaLN too): every path computes
  model_alloc_acts(&m, batch);
  const size_t np = m.params.total, nx = (size_t)batch * mc->tokens * mc->patch_dim;
  float *am = be_floats(be, np), *av = be_floats(be, np);
  float *x = host_uniform(nx, 2, -1.0f, 1.0f), *target = host_uniform(nx, 3, -1.0f, 1.0f);
  float *t = host_uniform((size_t)batch, 4, 0.05f, 0.95f);
  int32_t *tokens = tsr_calloc((size_t)batch * mc->text_length, sizeof(int32_t)), *ntok = tsr_calloc((size_t)batch, sizeof(int32_t));
  uint8_t *cond = tsr_calloc((size_t)batch * mc->grid_t, 1);
  for (int s = 0; s < batch; s++) {
    ntok[s] = 1 + (s * 7) % mc->text_length;
    for (int l = 0; l < ntok[s]; l++) tokens[(size_t)s * mc->text_length + l] = 1 + (s * 13 + l * 5) % (mc->vocab - 1);
  }
  cond[0] = 1;  // one image-to-video sample: the per-token adaLN selection runs
  Batch b = {.B = batch, .x = x, .t = t, .tokens = tokens, .ntokens = ntok, .cond = cond, .target = target};
  double *ts = tsr_calloc((size_t)iters, sizeof(double)), loss = 0.0;
  for (int i = -1; i < iters; i++) {  // -1: warm-up (cuBLAS heuristics, first-touch of the arena)
    be_sync(be);
    const double t0 = timer_now();
    params_zero_grad(&m.params);
    loss = model_forward(&m, &b);  // downloads the loss: the forward is done
    model_backward(&m, &b);
    be_adamw_update(be, m.params.data, m.params.grad, am, av, (int64_t)np, 1e-5f, 0.9f, 0.95f, 1e-8f, 0.0f, i + 2);
    be_sync(be);
    if (i >= 0) ts[i] = timer_now() - t0;
  }
  if (profile) {  // the same steps, every op through the profiling backend (same memory space)
    Backend *prof = backend_profiled(be);
    m.be = prof;
    const double t0 = timer_now();
    for (int i = 0; i < iters; i++) {
      params_zero_grad(&m.params);
      model_forward(&m, &b);
      model_backward(&m, &b);
      be_adamw_update(prof, m.params.data, m.params.grad, am, av, (int64_t)np, 1e-5f, 0.9f, 0.95f, 1e-8f, 0.0f,
                      iters + i + 2);
    }
    be_sync(prof);
    const double wall = timer_now() - t0;
    const int n = profile_op_count();
    double *sec = tsr_calloc((size_t)n, sizeof(double));
    long *calls = tsr_calloc((size_t)n, sizeof(long));
    profile_totals(prof, sec, calls);
    profile_print(sec, calls, iters, wall);
    tsr_free(sec), tsr_free(calls);
    m.be = be;
    backend_close(prof);
  }
  const double step = median(ts, iters), tflop = model_train_flops(mc, batch, 0) * 1e-12;
  printf("{\"impl\":\"tessera-cuda\",\"model\":\"%s\",\"precision\":\"%s\",\"batch\":%d,\"tokens\":%d,"
         "\"params_m\":%.1f,\"train_step_ms\":%.2f,\"tflop_per_step\":%.3f,\"tflops\":%.1f,\"peak_tflops\":%.1f,"
         "\"mfu\":%.4f,\"loss\":%.5f,\"device\":\"%s\"}\n",
         mc->name, precision, batch, mc->tokens, np * 1e-6, step * 1e3, tflop, tflop / step, peak,
         tflop / step / peak, loss, desc);
  tsr_free(x), tsr_free(target), tsr_free(t), tsr_free(tokens), tsr_free(ntok), tsr_free(cond), tsr_free(ts);
  be_free(be, am), be_free(be, av);
  model_free(&m);
  backend_close(be);
  return 0;
}
