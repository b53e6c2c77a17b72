// The training loop (single rank for now): data -> flow batch -> forward ->
// backward -> (skip if non-finite) -> clip -> AdamW -> EMA, with progress
// lines, metrics.jsonl, checkpoints every k steps and at the end, resume, and
// a clean stop on SIGTERM/SIGINT/SIGUSR1.
#include "train/trainer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/timer.h"
#include "data/corpus.h"
#include "data/loader.h"
#include "data/random_clips.h"
#include "model/model.h"
#include "model/checkpoint.h"
#include "train/flow.h"
#include "train/loss_plot.h"
#include "train/optimizer.h"
#include "train/peak.h"
#include "train/signals.h"

enum { RANDOM_POOL = 16 };  // random clips the smoke run cycles through

typedef struct {
  const Config *cfg;
  Model model;
  AdamW opt;
  float *ema;
  FlowBatch fb;
  Loader *loader;  // NULL: random clips
  char **vocab;    // the corpus tokenizer's vocabulary: goes into every checkpoint
  int vocab_size;
  CkptState state;
  FILE *metrics;
  double peak_gflops;
  double t_begin;  // wall clock at the first step of this process
} Trainer;

static void open_data(Trainer *tr) {
  const Config *cfg = tr->cfg;
  const ModelConfig *mc = &cfg->model;
  if (!cfg->data.path[0]) return;
  LoaderOptions o = {.dp_rank = 0, .dp_size = 1, .sp_rank = 0, .sp_size = 1, .batch = cfg->train.batch,
                     .seed = cfg->train.seed, .p_recaption = cfg->data.p_recaption, .p_drop = cfg->data.p_drop,
                     .text_length = mc->text_length, .T = mc->frames, .H = mc->height, .W = mc->width,
                     .prefetch = cfg->data.prefetch};
  Corpus corpus;
  corpus_open(&corpus, cfg->data.path);
  if (corpus.vocab_size > mc->vocab)
    tsr_user_error("%s: tokenizer has %d words, more than model.vocab = %d of %s", cfg->data.path, corpus.vocab_size,
                   mc->vocab, cfg->path);
  tr->vocab_size = corpus.vocab_size;
  tr->vocab = tsr_calloc((size_t)corpus.vocab_size, sizeof(char *));
  for (int i = 0; i < corpus.vocab_size; i++) tr->vocab[i] = strdup(corpus.vocab[i]);
  corpus_close(&corpus);
  tr->loader = loader_open(cfg->data.path, &o, mc->pt, mc->ph, mc->pw, mc->channels);
}

static void save(Trainer *tr) {
  char path[CFG_STR_MAX + 32];
  snprintf(path, sizeof path, "%s/ckpt_%lld.h5", tr->cfg->train.out, (long long)tr->state.step);
  if (tr->loader) {
    LoaderCursor c = loader_cursor(tr->loader);
    tr->state.cursor_epoch = c.epoch, tr->state.cursor_position = c.position, tr->state.cursor_batches = c.batches;
  }
  tr->state.adam_step = tr->opt.step;
  CkptBuffers b = {.params = &tr->model.params, .m = tr->opt.m, .v = tr->opt.v, .ema = tr->ema,
                   .vocab = tr->vocab, .vocab_size = tr->vocab_size};
  ckpt_save(path, &b, &tr->state, tr->cfg);
  ckpt_prune(tr->cfg->train.out, tr->cfg->train.keep_ckpts);
  log_info("checkpoint %s", path);
  if (tr->metrics) {  // refresh the loss curve next to the checkpoints
    char metrics[CFG_STR_MAX + 32], png[CFG_STR_MAX + 32], err[256];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", tr->cfg->train.out);
    snprintf(png, sizeof png, "%s/loss.png", tr->cfg->train.out);
    fflush(tr->metrics);
    if (loss_plot_png(metrics, png, err, sizeof err) != 0) log_warn("loss plot: %s", err);
  }
}

// train.resume: "" = fresh, "auto" = latest checkpoint in train.out if any, else a path.
static void resume(Trainer *tr) {
  const TrainConfig *tc = &tr->cfg->train;
  char path[CFG_STR_MAX + 64] = "";
  if (!strcmp(tc->resume, "auto")) ckpt_latest(tc->out, path, sizeof path);
  else if (tc->resume[0]) snprintf(path, sizeof path, "%s", tc->resume);
  if (!path[0]) return;
  CkptBuffers b = {.params = &tr->model.params, .m = tr->opt.m, .v = tr->opt.v, .ema = tr->ema};
  ckpt_load(path, &b, &tr->state, "params");
  tr->opt.step = (int)tr->state.adam_step;
  if (tr->loader)
    loader_seek(tr->loader, (LoaderCursor){tr->state.cursor_epoch, tr->state.cursor_position, tr->state.cursor_batches});
  log_info("resumed from %s at step %lld", path, (long long)tr->state.step);
}

static void next_batch(Trainer *tr, int64_t step) {
  const Config *cfg = tr->cfg;
  const int B = cfg->train.batch;
  uint64_t first = (uint64_t)step * (uint64_t)B;  // global sample index: keys noise, t, masks
  if (tr->loader) {
    loader_next(tr->loader, tr->fb.x0, tr->fb.b.tokens, tr->fb.b.ntokens, NULL);
    flow_prepare(&tr->fb, &cfg->model, &cfg->train, 0.0f, cfg->train.seed, first);  // loader did caption dropout
  } else {
    random_clips_fill(tr->fb.x0, tr->fb.b.tokens, tr->fb.b.ntokens, &cfg->model, B, cfg->train.seed, first,
                      RANDOM_POOL);
    flow_prepare(&tr->fb, &cfg->model, &cfg->train, cfg->data.p_drop, cfg->train.seed, first);
  }
}

static void log_step(Trainer *tr, int64_t step, float loss, double norm, float lr, double dt) {
  const Config *cfg = tr->cfg;
  const ModelConfig *mc = &cfg->model;
  double tok_s = (double)cfg->train.batch * mc->tokens / dt;
  double mfu = 3.0 * model_forward_flops(mc, cfg->train.batch) / dt * 1e-9 / tr->peak_gflops;
  double eta = (double)(cfg->train.steps - step) * dt;
  if (cfg->train.time_limit > 0) eta = fmin(eta, fmax(0.0, 60.0 * cfg->train.time_limit - (timer_now() - tr->t_begin)));
  log_info("step %lld | loss %.6f | grad %.4f | lr %.3e | %.0f tok/s | %.0f ms/step | mfu %.1f%% | eta %.0fs",
           (long long)step, loss, norm, lr, tok_s, dt * 1e3, 100.0 * mfu, eta);
  if (tr->metrics) {
    fprintf(tr->metrics, "{\"step\":%lld,\"loss\":%.9g,\"grad_norm\":%.6g,\"lr\":%.6g,\"tokens_per_s\":%.1f,\"mfu\":%.4f}\n",
            (long long)step, loss, norm, lr, tok_s, mfu);
    fflush(tr->metrics);
  }
}

float train_run(const Config *cfg) {
  const ModelConfig *mc = &cfg->model;
  const TrainConfig *tc = &cfg->train;
  Trainer tr = {.cfg = cfg};
  open_data(&tr);
  model_build(&tr.model, mc, (ModelLayout){.tp = cfg->parallel.tp, .sp = cfg->parallel.sp});
  params_init(&tr.model.params, tc->seed);
  model_alloc_acts(&tr.model, tc->batch);
  adamw_init(&tr.opt, &tr.model.params);
  tr.ema = tsr_calloc(tr.model.params.total, sizeof(float));
  memcpy(tr.ema, tr.model.params.data, tr.model.params.total * sizeof(float));
  flow_batch_alloc(&tr.fb, mc, tc->batch);
  tr.state.seed = tc->seed;
  if (fs_mkdirs(tc->out) != 0) tsr_user_error("train.out: cannot create directory '%s': %s", tc->out, strerror(errno));
  resume(&tr);
  char mpath[CFG_STR_MAX + 32];
  snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", tc->out);
  tr.metrics = fopen(mpath, tr.state.step ? "a" : "w");
  train_signals_install();

  tr.peak_gflops = measure_gemm_peak_gflops();
  log_info("model %s: %.2fM parameters, %d tokens/clip, batch %d, activations %.0f MiB, GEMM peak %.0f GFLOP/s, data %s",
           mc->name, (double)tr.model.params.total / 1e6, mc->tokens, tc->batch,
           (double)tr.model.arena.size / 1048576.0, tr.peak_gflops, cfg->data.path[0] ? cfg->data.path : "random clips");

  float loss = 0.0f;
  double t_window = timer_now();
  tr.t_begin = t_window;
  int window_steps = 0;
  while (tr.state.step < tc->steps) {
    int64_t step = tr.state.step;
    next_batch(&tr, step);
    params_zero_grad(&tr.model.params);
    loss = model_forward(&tr.model, &tr.fb.b);
    model_backward(&tr.model, &tr.fb.b);
    double norm = grad_norm(&tr.model.params);
    float lr = lr_at(tc, (int)step);
    if (!isfinite(loss) || !isfinite(norm)) {
      tr.state.bad_steps++;
      log_warn("step %lld: non-finite loss or gradient (loss %g, grad norm %g): update skipped (%lld in a row)",
               (long long)step + 1, loss, norm, (long long)tr.state.bad_steps);
      if (tr.state.bad_steps >= tc->max_bad_steps)
        tsr_user_error("training diverged: %lld non-finite steps in a row (train.max_bad_steps = %d); "
                       "lower train.lr or raise train.grad_clip", (long long)tr.state.bad_steps, tc->max_bad_steps);
    } else {
      tr.state.bad_steps = 0;
      adamw_step(&tr.opt, &tr.model.params, tc, lr, norm);
      // EMA warm-up: early weights move fast, so average over ~n/10 steps until
      // that is longer than the configured horizon (as timm's ModelEmaV2 does).
      float n = (float)tr.opt.step, decay = fminf(tc->ema_decay, (1.0f + n) / (10.0f + n));
      ema_update(tr.ema, tr.model.params.data, tr.model.params.total, decay);
    }
    tr.state.step = step + 1;
    window_steps++;
    int out_of_time = tc->time_limit > 0 && timer_now() - tr.t_begin >= 60.0 * tc->time_limit;
    int last = tr.state.step == tc->steps || out_of_time, sig = train_signal_pending();
    if (tr.state.step % tc->log_every == 0 || last || sig) {
      progress_clear(stderr);
      double now = timer_now();
      log_step(&tr, tr.state.step, loss, norm, lr, (now - t_window) / window_steps);
      t_window = now;
      window_steps = 0;
    } else {  // on a terminal, a bar over the steps until the next log line
      progress_bar(stderr, "train", (long)(tr.state.step % tc->log_every), tc->log_every, timer_now() - t_window);
    }
    if (last || sig || (tc->ckpt_every > 0 && tr.state.step % tc->ckpt_every == 0)) save(&tr);
    if (out_of_time && tr.state.step < tc->steps)
      log_info("time limit of %g minutes reached after step %lld", tc->time_limit, (long long)tr.state.step);
    if (last) break;
    if (sig) {
      log_info("stopped by signal %d after step %lld; resume with train.resume=auto", sig, (long long)tr.state.step);
      break;
    }
  }
  if (tr.metrics) fclose(tr.metrics);
  if (tr.loader) loader_close(tr.loader);
  for (int i = 0; i < tr.vocab_size; i++) free(tr.vocab[i]);
  tsr_free(tr.vocab);
  flow_batch_free(&tr.fb);
  tsr_free(tr.ema);
  adamw_free(&tr.opt);
  model_free(&tr.model);
  return loss;
}
