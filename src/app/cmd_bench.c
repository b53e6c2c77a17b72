// `tessera bench step --config F [--batch B] [--iters K] [key=value...]`: one
// JSON line with the time of a training step (forward, backward, AdamW) and of
// a denoising step (forward only), tokens/s, GFLOP per step, MFU and peak RSS,
// on the config's run.device (e.g. run.device=cuda run.precision=bf16).
// --profile adds, from further steps run through the profiling backend
// (kernels/backend_profile.h), the time per op of each kind of step.
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
#include "kernels/backend_profile.h"
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
  if (!tc) app_user_error("%s: model.text.encoder minilm: %s", cfg->path, err.msg);
  return tc;
}

static const Backend *open_run_backend(const Config *cfg) {
  char why[512];
  const Backend *be = backend_open(cfg->run.device, cfg->run.precision, 0, why, sizeof why);
  if (!be) app_user_error("%s: run.device %s, run.precision %s: %s", cfg->path, cfg->run.device, cfg->run.precision, why);
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

// One training step (forward, backward, AdamW): its seconds.
static double bench_train_step(Model *m, Zero *opt, FlowBatch *fb, const TrainConfig *tc) {
  const double t0 = timer_now();
  params_zero_grad(&m->params);
  model_forward(m, &fb->b);
  model_backward(m, &fb->b);
  zero_step(opt, &m->params, tc, 1e-5f, zero_grad_norm(opt));
  be_sync(m->be);
  return timer_now() - t0;
}

// One denoising step (forward only, no loss): its seconds.
static double bench_denoise_step(Model *m, FlowBatch *fb) {
  const double t0 = timer_now();
  float *target = fb->b.target;
  fb->b.target = NULL;
  model_forward(m, &fb->b);
  fb->b.target = target;
  be_sync(m->be);
  return timer_now() - t0;
}

// Per-op totals of one kind of step (kernels/backend_profile.h), summed over
// the profiled steps: added to by profile_add, printed by profile_json.
typedef struct {
  double *seconds, wall;
  long *calls;
} StepProfile;

// Adds the difference of two profile_totals snapshots and the step's wall time.
static void profile_add(StepProfile *sp, const double *s0, const long *c0, const double *s1, const long *c1,
                        double wall) {
  for (int i = 0; i < profile_op_count(); i++) sp->seconds[i] += s1[i] - s0[i], sp->calls[i] += c1[i] - c0[i];
  sp->wall += wall;
}

static int by_ms_desc(const void *a, const void *b) {
  const double x = json_real_value(json_object_get(*(json_t *const *)a, "ms"));
  const double y = json_real_value(json_object_get(*(json_t *const *)b, "ms"));
  return (x < y) - (x > y);
}

// One kind's profile as a JSON array, most time first: {op, ms (per step),
// calls (per step), share (of the step's wall time)}, ending with "other",
// the step's time outside every op (host code, communication, copies);
// printed as a table on stderr too.
static json_t *profile_json(const StepProfile *sp, const char *what, int iters) {
  const int n = profile_op_count();
  json_t **rows = tsr_calloc((size_t)n + 1, sizeof *rows);
  int nrows = 0;
  double in_ops = 0.0;
  for (int i = 0; i < n; i++) {
    if (!sp->calls[i]) continue;
    in_ops += sp->seconds[i];
    rows[nrows++] = json_pack("{s:s, s:f, s:I, s:f}", "op", profile_op_name(i), "ms", sp->seconds[i] * 1e3 / iters,
                              "calls", (json_int_t)(sp->calls[i] / iters), "share", sp->seconds[i] / sp->wall);
  }
  qsort(rows, (size_t)nrows, sizeof *rows, by_ms_desc);
  rows[nrows++] = json_pack("{s:s, s:f, s:I, s:f}", "op", "other", "ms", (sp->wall - in_ops) * 1e3 / iters, "calls",
                            (json_int_t)0, "share", (sp->wall - in_ops) / sp->wall);
  fprintf(stderr, "profile: %s step, %.2f ms (mean of %d profiled steps)\n  %-24s %9s %6s %7s\n", what,
          sp->wall * 1e3 / iters, iters, "op", "ms/step", "calls", "share");
  json_t *a = json_array();
  for (int r = 0; r < nrows; r++) {
    json_t *row = rows[r];
    const double ms = json_real_value(json_object_get(row, "ms")), share = json_real_value(json_object_get(row, "share"));
    fprintf(stderr, "  %-24s %9.3f %6lld %6.1f%%\n", json_string_value(json_object_get(row, "op")), ms,
            (long long)json_integer_value(json_object_get(row, "calls")), 100.0 * share);
    json_object_set_new(row, "ms", jx_fixed(ms, 3));
    json_object_set_new(row, "share", jx_fixed(share, 4));
    json_array_append_new(a, row);
  }
  tsr_free(rows);
  return a;
}

// --profile: `iters` more steps of each kind through the profiling backend,
// charged per kind: {"train": [...], "denoise": [...]}. The timed steps above
// ran without it, so the bench's figures do not include its overhead.
static json_t *bench_profile(Model *m, Zero *opt, FlowBatch *fb, const TrainConfig *tc, int iters) {
  const int n = profile_op_count();
  const Backend *inner = m->be;
  Backend *prof = backend_profiled(inner);
  m->be = prof;  // the model's and the optimizer's ops go through the wrapper (same memory space)
  opt->be = prof;
  double *s[3];
  long *c[3];
  for (int k = 0; k < 3; k++) s[k] = tsr_calloc((size_t)n, sizeof(double)), c[k] = tsr_calloc((size_t)n, sizeof(long));
  StepProfile train = {tsr_calloc((size_t)n, sizeof(double)), 0.0, tsr_calloc((size_t)n, sizeof(long))};
  StepProfile denoise = {tsr_calloc((size_t)n, sizeof(double)), 0.0, tsr_calloc((size_t)n, sizeof(long))};
  for (int i = 0; i < iters; i++) {
    profile_totals(prof, s[0], c[0]);
    const double tr = bench_train_step(m, opt, fb, tc);
    profile_totals(prof, s[1], c[1]);
    const double dn = bench_denoise_step(m, fb);
    profile_totals(prof, s[2], c[2]);
    profile_add(&train, s[0], c[0], s[1], c[1], tr);
    profile_add(&denoise, s[1], c[1], s[2], c[2], dn);
  }
  json_t *o = json_pack("{s:o, s:o}", "train", profile_json(&train, "training", iters), "denoise",
                        profile_json(&denoise, "denoising", iters));
  m->be = inner;
  opt->be = inner;
  backend_close(prof);
  for (int k = 0; k < 3; k++) tsr_free(s[k]), tsr_free(c[k]);
  tsr_free(train.seconds), tsr_free(train.calls), tsr_free(denoise.seconds), tsr_free(denoise.calls);
  return o;
}

int cmd_bench(int argc, char **argv) {
  const char *config = NULL;
  int batch = 4, iters = 5, steps = 30, profile = 0;
  const int help = argc >= 3 && !strcmp(argv[2], "--help");  // `bench step --help`
  if (argc < 2 || help || (strcmp(argv[1], "step") != 0 && strcmp(argv[1], "generate") != 0)) {
    printf("usage: tessera bench step --config F [--batch B] [--iters K] [--profile] [key=value...]\n"
           "       tessera bench generate --config F [--steps N] [key=value...]   (one clip, Euler, CFG 4)\n"
           "key=value overrides the config, e.g. run.device=cuda run.precision=bf16\n");
    return help || (argc >= 2 && !strcmp(argv[1], "--help")) ? 0 : 2;
  }
  char *overrides[64];
  int noverrides = 0;
  for (int i = 2; i < argc; i++) {
    if (strchr(argv[i], '=') && argv[i][0] != '-' && noverrides < 64) overrides[noverrides++] = argv[i];
    else if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--profile")) profile = 1;
    else app_user_error("bench: unknown argument '%s' (expected --config F, --batch B, --iters K, --steps N, --profile)", argv[i]);
  }
  if (!config) app_user_error("bench: --config FILE is required");
  if (batch < 1 || iters < 1 || steps < 1) app_user_error("bench: --batch, --iters and --steps must be >= 1");
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
      app_user_error("bench: text encoder: %s", err.msg);
    encode_s = timer_now() - t0;
  }

  double *train_t = tsr_calloc((size_t)iters, sizeof(double)), *denoise_t = tsr_calloc((size_t)iters, sizeof(double));
  for (int i = -1; i < iters; i++) {  // i = -1: warm-up
    const double tr = bench_train_step(&m, &opt, &fb, &tc), dn = bench_denoise_step(&m, &fb);
    if (i >= 0) train_t[i] = tr, denoise_t[i] = dn;
  }
  const Peak peak = peak_for(m.be->mem.host && m.be->bf16, omp_get_max_threads());
  const double gemm_gflops = measure_gemm_gflops();
  double train_s = median(train_t, iters), denoise_s = median(denoise_t, iters);
  double gflop = 3.0 * model_forward_flops(mc, batch) * 1e-9;
  char peak_text[160];
  snprintf(peak_text, sizeof peak_text, "%s, %d x %.1f GFLOP/s, %s, measured", peak.kind, peak.threads,
           peak.per_thread_gflops, peak.isa);
  json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:s, s:s, s:o}", "impl",
                        "tessera", "model", mc->name, "batch", batch, "tokens", mc->tokens, "train_step_ms",
                        jx_fixed(train_s * 1e3, 2), "denoise_step_ms", jx_fixed(denoise_s * 1e3, 2), "tokens_per_s",
                        jx_fixed(batch * mc->tokens / train_s, 1), "gflop_per_step", jx_fixed(gflop, 3),
                        "peak_gflops", jx_fixed(peak.gflops, 1), "peak", peak_text, "gemm_gflops",
                        jx_fixed(gemm_gflops, 1), "mfu", jx_fixed(gflop / train_s / peak.gflops, 4), "peak_rss_mb",
                        jx_fixed(peak_rss_mb(), 1), "gemm", gemm_library(), "text_encoder", mc->text_encoder,
                        "text_encode_ms", jx_fixed(encode_s * 1e3, 2));
  if (profile) json_object_set_new(o, "profile", bench_profile(&m, &opt, &fb, &tc, iters));
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
