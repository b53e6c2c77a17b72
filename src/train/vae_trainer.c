#include "train/vae_trainer.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/timer.h"
#include "train/loss_plot.h"
#include "train/run_dir.h"
#include "train/signals.h"
#include "train/vae_clips.h"
#include "vae/vae_ckpt.h"

void vae_train_opts_default(VaeTrainOpts *o) {
  *o = (VaeTrainOpts){.steps = 20, .batch = 2, .ckpt_every = 0, .log_every = 1, .lr = 1e-3f, .seed = 1};
  snprintf(o->out, sizeof o->out, "runs/vae");
}

enum OptType { O_STR, O_INT, O_FLOAT, O_U64 };
static const struct {
  const char *key;
  enum OptType type;
  size_t off;
  double lo, hi;
} opts[] = {
    {"data.path", O_STR, offsetof(VaeTrainOpts, data_path), 0, 0},
    {"train.out", O_STR, offsetof(VaeTrainOpts, out), 0, 0},
    {"train.resume", O_STR, offsetof(VaeTrainOpts, resume), 0, 0},
    {"train.steps", O_INT, offsetof(VaeTrainOpts, steps), 1, 1e9},
    {"train.batch", O_INT, offsetof(VaeTrainOpts, batch), 1, 4096},
    {"train.ckpt_every", O_INT, offsetof(VaeTrainOpts, ckpt_every), 0, 1e9},
    {"train.log_every", O_INT, offsetof(VaeTrainOpts, log_every), 1, 1e9},
    {"train.overwrite", O_INT, offsetof(VaeTrainOpts, overwrite), 0, 1},
    {"train.lr", O_FLOAT, offsetof(VaeTrainOpts, lr), 0, 1},
    {"train.weight_decay", O_FLOAT, offsetof(VaeTrainOpts, weight_decay), 0, 10},
    {"train.seed", O_U64, offsetof(VaeTrainOpts, seed), 0, 0},
    {"clip.frames", O_INT, offsetof(VaeTrainOpts, frames), 1, 65536},
    {"clip.height", O_INT, offsetof(VaeTrainOpts, height), 1, 65536},
    {"clip.width", O_INT, offsetof(VaeTrainOpts, width), 1, 65536},
};
enum { NOPTS = sizeof opts / sizeof opts[0] };

int vae_train_opts_set(VaeTrainOpts *o, const char *kv, TsrErr *err) {
  const char *eq = strchr(kv, '=');
  if (!eq) return tsr_err(err, "%s: expected key=value", kv);
  const size_t klen = (size_t)(eq - kv);
  const char *v = eq + 1;
  for (int i = 0; i < NOPTS; i++) {
    if (strlen(opts[i].key) != klen || strncmp(opts[i].key, kv, klen)) continue;
    char *base = (char *)o + opts[i].off, *end;
    errno = 0;
    switch (opts[i].type) {
      case O_STR:
        if (strlen(v) >= 1024) return tsr_err(err, "%s: expected a path under 1024 bytes", opts[i].key);
        strcpy(base, v);
        return 0;
      case O_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < opts[i].lo || x > opts[i].hi)
          return tsr_err(err, "%s: expected an integer in [%g, %g], got '%s'", opts[i].key, opts[i].lo, opts[i].hi, v);
        *(int *)base = (int)x;
        return 0;
      }
      case O_FLOAT: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !(x >= opts[i].lo && x <= opts[i].hi))
          return tsr_err(err, "%s: expected a number in [%g, %g], got '%s'", opts[i].key, opts[i].lo, opts[i].hi, v);
        *(float *)base = (float)x;
        return 0;
      }
      case O_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || *v == '-') return tsr_err(err, "%s: expected an unsigned integer, got '%s'", opts[i].key, v);
        *(uint64_t *)base = x;
        return 0;
      }
    }
  }
  char list[512] = "";
  for (int i = 0; i < NOPTS; i++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", opts[i].key);
  return tsr_err(err, "%.*s: unknown key; valid keys: %s", (int)klen, kv, list);
}

typedef struct {
  const VaeTrainOpts *o;
  Vae v;
  VaeAdam opt;
  VaeClips *clips;
  VaeCkptState st;
  FILE *metrics;
  char ckpt[1100], metrics_path[1100];
} Run;

static int save(Run *r, TsrErr *err) {
  LoaderCursor c = vae_clips_cursor(r->clips);
  r->st.cursor_epoch = c.epoch, r->st.cursor_position = c.position, r->st.cursor_batches = c.batches;
  if (vae_ckpt_save(r->ckpt, &r->v, &r->opt, &r->st, err)) return -1;
  if (r->metrics) {  // the loss curve beside the checkpoint
    char png[1100], note[256] = "", why[256];
    snprintf(png, sizeof png, "%s/loss.png", r->o->out);
    fflush(r->metrics);
    if (loss_plot_png(r->metrics_path, png, note, sizeof note, why, sizeof why)) log_warn("loss plot: %s", why);
  }
  return 0;
}

static int config_text_equal(const VaeConfig *a, const VaeConfig *b) {
  char *ta = NULL, *tb = NULL;
  size_t la = 0, lb = 0;
  FILE *fa = open_memstream(&ta, &la), *fb = open_memstream(&tb, &lb);
  vae_config_write(a, fa);
  vae_config_write(b, fb);
  fclose(fa);
  fclose(fb);
  const int same = la == lb && !memcmp(ta, tb, la);
  free(ta);
  free(tb);
  return same;
}

// train.resume: "" fresh (OUT/vae.h5 must not exist unless overwrite), "auto"
// OUT/vae.h5 when present, else a path. 1 resumed, 0 fresh, -1 error.
static int resume(Run *r, const VaeConfig *cfg, TsrErr *err) {
  const char *path = r->o->resume;
  if (!path[0] || !strcmp(path, "auto")) {
    if (access(r->ckpt, F_OK)) return 0;
    if (!path[0] && !r->o->overwrite)
      return tsr_err(err, "%s: exists: expected a new run directory (train.resume=auto continues it, train.overwrite=1 replaces it)",
                     r->ckpt);
    if (!path[0]) return 0;
    path = r->ckpt;
  }
  VaeConfig saved;
  if (vae_ckpt_read_config(path, &saved, err)) return -1;
  if (!config_text_equal(&saved, cfg))
    return tsr_err(err, "%s: attribute config: expected the VAE config being trained, found another one", path);
  if (vae_ckpt_load(path, &r->v, &r->opt, &r->st, err)) return -1;
  if (r->st.seed != r->o->seed)
    return tsr_err(err, "%s: attribute seed: expected train.seed = %llu, found %llu", path, (unsigned long long)r->o->seed,
                   (unsigned long long)r->st.seed);
  vae_clips_seek(r->clips, (LoaderCursor){.epoch = r->st.cursor_epoch, .position = r->st.cursor_position,
                                          .batches = r->st.cursor_batches});
  log_info("resumed from %s at step %lld", path, (long long)r->st.step);
  return 1;
}

// A run killed after its last checkpoint left metrics lines past it: they are
// dropped on resume (the steps are trained again), so that every step has one
// line. Written under a temporary name and renamed.
static int trim_metrics(const char *path, int64_t step, TsrErr *err) {
  FILE *in = fopen(path, "r");
  if (!in) return 0;
  char tmp[1200], *line = NULL, why[256];
  size_t cap = 0;
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *out = fopen(tmp, "w");
  if (!out) {
    fclose(in);
    return tsr_err(err, "%s: cannot write: %s", tmp, strerror(errno));
  }
  ssize_t n;
  while ((n = getline(&line, &cap, in)) > 0) {
    json_t *o = jx_parse(line, (size_t)n, why, sizeof why);
    long long s = 0;
    if (o && !jx_int(o, "step", &s) && s <= step) fputs(line, out);
    json_decref(o);
  }
  free(line);
  fclose(in);
  const int bad = fflush(out) || fs_sync_file(tmp) || fclose(out) || rename(tmp, path);
  return bad ? tsr_err(err, "%s: cannot write: %s", path, strerror(errno)) : 0;
}

static int run(Run *r, const VaeConfig *cfg, const Backend *be, TsrErr *err) {
  const VaeTrainOpts *o = r->o;
  int T = o->frames, H = o->height, W = o->width;
  if (!o->data_path[0] || !strcmp(o->data_path, "synth")) {  // synthetic defaults that fit the compression
    if (T <= 0) T = 1 + 2 * cfg->ct;
    if (H <= 0) H = cfg->cs < 4 ? 16 : 4 * cfg->cs;
    if (W <= 0) W = H;
  }
  if (!(r->clips = vae_clips_open(o->data_path, &T, &H, &W, o->batch, o->seed, err))) return -1;
  if (vae_clips_channels(r->clips) != cfg->in_channels)
    return tsr_err(err, "%s: channels: expected %d (vae.in_channels), got %d", o->data_path, cfg->in_channels,
                   vae_clips_channels(r->clips));
  if (vae_check_clip(cfg, T, H, W, o->data_path[0] ? o->data_path : "synth clips (clip.*)", err)) return -1;
  if (fs_mkdirs(o->out) || fs_check_writable(o->out))
    return tsr_err(err, "%s: train.out: expected a writable directory: %s", o->out, strerror(errno));
  snprintf(r->ckpt, sizeof r->ckpt, "%s/vae.h5", o->out);
  snprintf(r->metrics_path, sizeof r->metrics_path, "%s/metrics.jsonl", o->out);
  vae_build(&r->v, cfg, be);
  params_init(&r->v.params, o->seed);
  if (vae_alloc(&r->v, o->batch, T, H, W, VAE_TRAIN, err)) return -1;
  vae_adam_init(&r->opt, &r->v);
  const int resumed = resume(r, cfg, err);
  if (resumed < 0) return -1;
  if (!resumed) {
    r->st = (VaeCkptState){.seed = o->seed};
    run_id_new(r->st.run_id, sizeof r->st.run_id);
  }
  if (resumed && trim_metrics(r->metrics_path, r->st.step, err)) return -1;
  if (!(r->metrics = fopen(r->metrics_path, resumed ? "a" : "w")))
    return tsr_err(err, "%s: cannot write: %s", r->metrics_path, strerror(errno));
  log_info("vae %s: %d clips of %dx%dx%d per step, %zu parameters, run %s", cfg->name, o->batch, T, H, W,
           r->v.params.total, r->st.run_id);
  const VaeAdamHyper hyper = {.lr = o->lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = o->weight_decay};
  const size_t clip_n = (size_t)T * H * W * cfg->in_channels;
  float *clips = malloc((size_t)o->batch * clip_n * sizeof(float));
  int rc = 0, saved_at = -1;
  train_signals_install();
  while (!rc && r->st.step < o->steps) {
    const double t0 = timer_now();
    if ((rc = vae_clips_next(r->clips, clips, err))) break;
    // the posterior noise is keyed by the clip's global index: the same whatever the resume point
    const float loss = vae_train_step(&r->v, &r->opt, &hyper, clips, (uint32_t)(r->st.step * o->batch), o->seed);
    const int64_t step = ++r->st.step;
    const double dt = timer_now() - t0;
    if (!isfinite(loss)) {
      rc = tsr_err(err, "step %lld: loss is not finite (%g): lower train.lr", (long long)step, (double)loss);
      break;
    }
    if (step % o->log_every == 0 || step == o->steps)
      log_info("step %lld | loss %.6f | recon %.6f | kl %.4f | %.0f ms/step", (long long)step, (double)loss,
               (double)r->v.recon_loss, (double)r->v.kl, dt * 1e3);
    json_t *m = json_pack("{s:I, s:o, s:o, s:o, s:o, s:s}", "step", (json_int_t)step, "loss", jx_round(loss, 7), "recon",
                          jx_round(r->v.recon_loss, 7), "kl", jx_round(r->v.kl, 7), "step_ms", jx_round(dt * 1e3, 4),
                          "run", r->st.run_id);
    char *line = jx_dump(m);
    fprintf(r->metrics, "%s\n", line);
    fflush(r->metrics);
    free(line);
    json_decref(m);
    const int sig = train_signal_pending();
    if ((o->ckpt_every && step % o->ckpt_every == 0) || sig) {
      if ((rc = save(r, err))) break;
      saved_at = (int)step;
    }
    if (sig) {
      log_info("stopped by signal %d after step %lld; resume with train.resume=auto", sig, (long long)step);
      break;
    }
  }
  if (!rc && saved_at != (int)r->st.step) rc = save(r, err);
  if (!rc) log_info("saved %s at step %lld", r->ckpt, (long long)r->st.step);
  free(clips);
  return rc;
}

int vae_train_run(const VaeConfig *cfg, const VaeTrainOpts *o, const Backend *be, TsrErr *err) {
  Run r = {.o = o};
  const int rc = run(&r, cfg, be, err);
  if (r.metrics) fclose(r.metrics);
  if (r.opt.m) vae_adam_free(&r.opt, &r.v);
  if (r.v.be) vae_free(&r.v);
  vae_clips_close(r.clips);
  return rc;
}
