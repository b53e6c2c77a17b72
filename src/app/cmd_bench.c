// `tessera bench step --config F [--batch B] [--iters K] [key=value...]`: one
// JSON line with the time of a training step (forward, backward, AdamW) and of
// a denoising step (forward only), tokens/s, GFLOP per step, MFU and peak RSS,
// on the config's run.device (e.g. run.device=cuda run.precision=bf16).
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_error.h"
#include "comm/comm.h"
#include "core/config.h"
#include "core/error.h"
#include "core/jsonx.h"
#include "core/timer.h"
#include "data/random_clips.h"
#include "infer/sampler.h"
#include "kernels/ops.h"
#include "model/model.h"
#include "train/flow.h"
#include "train/optimizer.h"
#include "train/peak.h"
#include "train/zero.h"
#include "text/text_cond.h"

// One line of JSON on stdout (bench/run.sh reads it); takes the reference.
static void print_json(json_t *o) {
  TSR_ASSERT(o, "json_pack failed");
  char *line = jx_dump(o);
  printf("%s\n", line);
  fflush(stdout);
  free(line);
  json_decref(o);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// model.text.encoder minilm: the frozen encoder on the run's backend (NULL otherwise).
static TextCond *open_text(const Config *cfg, const Backend *be) {
  if (!cfg->model.text_minilm) return NULL;
  TsrErr err;
  TextCond *tc = text_cond_open(cfg->model.text_length, (size_t)64 << 20, be, &err);
  if (!tc) tsr_user_error("%s: model.text.encoder minilm: %s", cfg->path, err.msg);
  return tc;
}

static const Backend *open_run_backend(const Config *cfg) {
  char why[512];
  const Backend *be = backend_open(cfg->run.device, cfg->run.precision, 0, why, sizeof why);
  if (!be) tsr_user_error("%s: run.device %s, run.precision %s: %s", cfg->path, cfg->run.device, cfg->run.precision, why);
  return be;
}

// `bench generate`: seconds to sample one clip of the model window with
// `steps` Euler steps and classifier-free guidance (two model passes a step).
static int bench_generate(const Config *cfg, int steps) {
  const ModelConfig *mc = &cfg->model;
  const Backend *be = open_run_backend(cfg);
  Model m;
  model_build(&m, mc, (ModelLayout){.tp = 1, .sp = 1}, be);
  params_init(&m.params, 0);
  params_init_uniform(&m.params, 0, 0.02f);
  model_alloc_acts(&m, 2);
  int32_t *tokens = tsr_calloc((size_t)mc->text_length, sizeof(int32_t)), ntok = 4;
  for (int l = 0; l < ntok; l++) tokens[l] = 1 + 3 * l;
  float *out = tsr_calloc((size_t)mc->tokens * mc->patch_dim, sizeof(float));
  TextCond *text = open_text(cfg, be);
  SamplerOptions o = {.steps = steps, .cfg = 4.0f, .shift = 1.0f, .seed = 0, .t0 = 1.0f, .text = text};
  SamplerOptions warm = o;
  warm.steps = 1;
  sample_flow(&m, &warm, 1, tokens, &ntok, NULL, NULL, out);
  double t0 = timer_now();
  sample_flow(&m, &o, 1, tokens, &ntok, NULL, NULL, out);
  double secs = timer_now() - t0;
  print_json(json_pack("{s:s, s:s, s:i, s:i, s:i, s:o, s:o}", "impl", "tessera", "model", mc->name, "frames",
                       mc->frames, "steps", steps, "cfg", 4, "seconds_per_clip", jx_fixed(secs, 3), "peak_rss_mb",
                       jx_fixed(peak_rss_mb(), 1)));
  tsr_free(tokens);
  tsr_free(out);
  model_free(&m);
  text_cond_close(text);
  backend_close(be);
  return 0;
}

int cmd_bench(int argc, char **argv) {
  const char *config = NULL;
  int batch = 4, iters = 5, steps = 30;
  if (argc < 2 || (strcmp(argv[1], "step") != 0 && strcmp(argv[1], "generate") != 0)) {
    printf("usage: tessera bench step --config F [--batch B] [--iters K] [key=value...]\n"
           "       tessera bench generate --config F [--steps N] [key=value...]   (one clip, Euler, CFG 4)\n"
           "key=value overrides the config, e.g. run.device=cuda run.precision=bf16\n");
    return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
  }
  char *overrides[64];
  int noverrides = 0;
  for (int i = 2; i < argc; i++) {
    if (strchr(argv[i], '=') && argv[i][0] != '-' && noverrides < 64) overrides[noverrides++] = argv[i];
    else if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
    else tsr_user_error("bench: unknown argument '%s' (expected --config F, --batch B, --iters K, --steps N)", argv[i]);
  }
  if (!config) tsr_user_error("bench: --config FILE is required");
  if (batch < 1 || iters < 1 || steps < 1) tsr_user_error("bench: --batch, --iters and --steps must be >= 1");
  Config cfg;
  TsrErr cerr;
  if (config_load(&cfg, config, noverrides, overrides, &cerr)) app_fail(&cerr);
  if (!strcmp(argv[1], "generate")) return bench_generate(&cfg, steps);
  const ModelConfig *mc = &cfg.model;
  TrainConfig tc = cfg.train;
  tc.batch = batch;

  const Backend *be = open_run_backend(&cfg);
  Model m;
  model_build(&m, mc, (ModelLayout){.tp = 1, .sp = 1}, be);
  params_init(&m.params, 0);
  params_init_uniform(&m.params, 0, 0.02f);  // non-zero adaLN so every path computes
  model_alloc_acts(&m, batch);
  CommContext cc;  // one rank: the trainer's optimizer (ZeRO over a group of one)
  comm_layout(&cc, 1, 1, 1, config);
  Zero opt;
  zero_init(&opt, &m.params, be, &cc.dpsp_group, &cc.world, 0);
  FlowBatch fb;
  flow_batch_alloc(&fb, mc, batch);
  random_clips_fill(fb.x0, fb.b.tokens, fb.b.ntokens, mc, batch, 0, 0, 16);
  flow_prepare(&fb, mc, &tc, 0.0f, 0, 0, 1);
  // A frozen pretrained encoder: its states come from the cache in a step;
  // `text_encode_ms` is what the same captions cost when not cached.
  TextCond *text = open_text(&cfg, be);
  double encode_s = 0.0;
  if (text) {
    TsrErr err;
    fb.b.text_states = tsr_calloc((size_t)batch * mc->text_length * mc->text_width, sizeof(float));
    const double t0 = timer_now();
    if (text_cond_states(text, fb.b.tokens, fb.b.ntokens, batch, fb.b.text_states, &err) != 0)
      tsr_user_error("bench: text encoder: %s", err.msg);
    encode_s = timer_now() - t0;
  }

  double *train_t = tsr_calloc((size_t)iters, sizeof(double)), *denoise_t = tsr_calloc((size_t)iters, sizeof(double));
  for (int i = -1; i < iters; i++) {  // i = -1: warm-up
    double t0 = timer_now();
    params_zero_grad(&m.params);
    model_forward(&m, &fb.b);
    model_backward(&m, &fb.b);
    zero_step(&opt, &m.params, &tc, 1e-5f, zero_grad_norm(&opt));
    be_sync(be);
    double t1 = timer_now();
    float *target = fb.b.target;
    fb.b.target = NULL;
    model_forward(&m, &fb.b);
    fb.b.target = target;
    be_sync(be);
    double t2 = timer_now();
    if (i >= 0) {
      train_t[i] = t1 - t0;
      denoise_t[i] = t2 - t1;
    }
  }
  const Peak peak = peak_fp32(omp_get_max_threads());
  const double gemm_gflops = measure_gemm_gflops();
  double train_s = median(train_t, iters), denoise_s = median(denoise_t, iters);
  double gflop = 3.0 * model_forward_flops(mc, batch) * 1e-9;
  char peak_text[160];
  snprintf(peak_text, sizeof peak_text, "fp32 FMA, %d x %.1f GFLOP/s, %s, measured", peak.threads,
           peak.per_thread_gflops, peak.isa);
  json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:s, s:s, s:o}", "impl",
                        "tessera", "model", mc->name, "batch", batch, "tokens", mc->tokens, "train_step_ms",
                        jx_fixed(train_s * 1e3, 2), "denoise_step_ms", jx_fixed(denoise_s * 1e3, 2), "tokens_per_s",
                        jx_fixed(batch * mc->tokens / train_s, 1), "gflop_per_step", jx_fixed(gflop, 3),
                        "peak_gflops", jx_fixed(peak.gflops, 1), "peak", peak_text, "gemm_gflops",
                        jx_fixed(gemm_gflops, 1), "mfu", jx_fixed(gflop / train_s / peak.gflops, 4), "peak_rss_mb",
                        jx_fixed(peak_rss_mb(), 1), "gemm", gemm_library(), "text_encoder", mc->text_encoder,
                        "text_encode_ms", jx_fixed(encode_s * 1e3, 2));
  print_json(o);
  tsr_free(train_t);
  tsr_free(denoise_t);
  if (text) tsr_free(fb.b.text_states);
  text_cond_close(text);
  flow_batch_free(&fb);
  zero_free(&opt);
  model_free(&m);
  comm_free(&cc);
  backend_close(be);
  return 0;
}
