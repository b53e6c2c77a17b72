#include "train/vae_trainer.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm/comm.h"
#include "core/fs.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/timer.h"
#include "train/loss_plot.h"
#include "train/optimizer.h"
#include "train/run_dir.h"
#include "train/signals.h"
#include "train/vae_clips.h"
#include "train/zero.h"
#include "vae/vae_ckpt.h"

void vae_train_opts_default(VaeTrainOpts *o) {
  *o = (VaeTrainOpts){.steps = 20, .batch = 2, .ckpt_every = 0, .log_every = 1, .lr = 1e-3f, .min_lr = -1,
                        .seed = 1};
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
    {"train.min_lr", O_FLOAT, offsetof(VaeTrainOpts, min_lr), 0, 1},
    {"train.warmup", O_INT, offsetof(VaeTrainOpts, warmup), 0, 1e9},
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
  CommContext cc;  // dp = every rank (no model parallelism: the autoencoder is small)
  int rank0, dp, batch;  // batch: this rank's clips per step (train.batch / dp)
  Vae v;
  Zero zero;       // AdamW, its moments sharded over the dp ranks (ZeRO-1)
  VaeClips *clips;
  VaeCkptState st;
  FILE *metrics;
  char ckpt[1100], metrics_path[1100];
} Run;

// Every rank's rc agreed, collective: -1 on every rank when any failed, with
// the first failing rank's line in err on all of them.
static int agree(int rc, TsrErr *err) {
  const int first = comm_world_first_failure(rc != 0);
  if (first < 0) return 0;
  comm_world_bcast_bytes(err, sizeof *err, first);
  return -1;
}

// The whole moments for a checkpoint, gathered from (or dealt to) the shards:
// transient buffers of the full table, in the backend's memory.
static VaeAdam whole_moments(const Run *r) {
  VaeAdam a = {.m = be_floats(r->v.be, r->zero.padded), .v = be_floats(r->v.be, r->zero.padded), .step = r->zero.step};
  return a;
}

static void free_moments(const Run *r, VaeAdam *a) {
  be_free(r->v.be, a->m);
  be_free(r->v.be, a->v);
}

// Collective: the moments are gathered on every rank, rank 0 writes.
static int save(Run *r, TsrErr *err) {
  LoaderCursor c = vae_clips_cursor(r->clips);
  r->st.cursor_epoch = c.epoch, r->st.cursor_position = c.position, r->st.cursor_batches = c.batches;
  VaeAdam whole = whole_moments(r);
  zero_gather(&r->zero, r->zero.m, whole.m);
  zero_gather(&r->zero, r->zero.v, whole.v);
  int rc = r->rank0 ? vae_ckpt_save(r->ckpt, &r->v, &whole, &r->st, err) : 0;
  free_moments(r, &whole);
  if (agree(rc, err)) return -1;
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
  VaeAdam whole = whole_moments(r);
  const int bad = vae_ckpt_load(path, &r->v, &whole, &r->st, err);
  if (!bad) {
    zero_take(&r->zero, whole.m, r->zero.m);
    zero_take(&r->zero, whole.v, r->zero.v);
    r->zero.step = whole.step;
  }
  free_moments(r, &whole);
  if (bad) return -1;
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
  comm_layout(&r->cc, comm_world_size(), 1, 1, "vae train");
  r->dp = r->cc.dp, r->rank0 = r->cc.world_rank == 0;
  if (o->batch % r->dp)
    return tsr_err(err, "train.batch: expected a multiple of the %d ranks (the global batch is dealt out evenly), got %d",
                   r->dp, o->batch);
  r->batch = o->batch / r->dp;
  const float min_lr = o->min_lr < 0 ? o->lr / 10 : o->min_lr;
  if (min_lr > o->lr) return tsr_err(err, "train.min_lr: expected a number <= train.lr (%g), got %g", o->lr, min_lr);
  int T = o->frames, H = o->height, W = o->width;
  if (!o->data_path[0] || !strcmp(o->data_path, "synth")) {  // synthetic defaults that fit the compression
    if (T <= 0) T = 1 + 2 * cfg->ct;
    if (H <= 0) H = cfg->cs < 4 ? 16 : 4 * cfg->cs;
    if (W <= 0) W = H;
  }
  if (!(r->clips = vae_clips_open(o->data_path, &T, &H, &W, r->batch, r->cc.dp_rank, r->dp, o->seed, err))) return -1;
  if (vae_clips_channels(r->clips) != cfg->in_channels)
    return tsr_err(err, "%s: channels: expected %d (vae.in_channels), got %d", o->data_path, cfg->in_channels,
                   vae_clips_channels(r->clips));
  if (vae_check_clip(cfg, T, H, W, o->data_path[0] ? o->data_path : "synth clips (clip.*)", err)) return -1;
  if (agree(r->rank0 && (fs_mkdirs(o->out) || fs_check_writable(o->out))
                ? tsr_err(err, "%s: train.out: expected a writable directory: %s", o->out, strerror(errno))
                : 0,
            err))
    return -1;
  snprintf(r->ckpt, sizeof r->ckpt, "%s/vae.h5", o->out);
  snprintf(r->metrics_path, sizeof r->metrics_path, "%s/metrics.jsonl", o->out);
  vae_build(&r->v, cfg, be);
  params_init(&r->v.params, o->seed);  // the same weights on every rank
  if (vae_alloc(&r->v, r->batch, T, H, W, VAE_TRAIN, err)) return -1;
  zero_init(&r->zero, &r->v.params, be, &r->cc.dp_group, &r->cc.world, 0);
  const int resumed = resume(r, cfg, err);
  if (resumed < 0) return -1;
  if (!resumed) {
    r->st = (VaeCkptState){.seed = o->seed};
    run_id_new(r->st.run_id, sizeof r->st.run_id);
    comm_bcast(&r->cc.world, r->st.run_id, sizeof r->st.run_id, COMM_U8, 0);
  }
  int bad = 0;  // rank 0's files: agreed, so no rank waits in a collective for a rank that left
  if (r->rank0 && resumed) bad = trim_metrics(r->metrics_path, r->st.step, err);
  if (r->rank0 && !bad && !(r->metrics = fopen(r->metrics_path, resumed ? "a" : "w")))
    bad = tsr_err(err, "%s: cannot write: %s", r->metrics_path, strerror(errno));
  if (agree(bad, err)) return -1;
  log_info("vae %s: %d clips of %dx%dx%d per step (%d rank(s) of %d), %zu parameters, run %s", cfg->name, o->batch, T, H,
           W, r->dp, r->batch, r->v.params.total, r->st.run_id);
  // AdamW as vae_train_step's (vae/vae_train.h): no clipping, decay on the conv weights only
  const TrainConfig tc = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = o->weight_decay, .grad_clip = 0};
  const size_t clip_n = (size_t)T * H * W * cfg->in_channels;
  float *clips = malloc((size_t)r->batch * clip_n * sizeof(float));
  int rc = 0, saved_at = -1;
  train_signals_install();
  while (!rc && r->st.step < o->steps) {
    const double t0 = timer_now();
    if ((rc = agree(vae_clips_next(r->clips, clips, err), err))) break;
    const float lr = lr_cosine(o->lr, min_lr, o->warmup, o->steps, (int)r->st.step);
    params_zero_grad(&r->v.params);
    // the posterior noise is keyed by the clip's global index: the same whatever the resume point or dp
    const uint32_t sample0 = (uint32_t)((r->st.step * r->dp + r->cc.dp_rank) * r->batch);
    double sums[3] = {vae_forward(&r->v, clips, sample0, o->seed), r->v.recon_loss, r->v.kl};
    vae_backward(&r->v);
    // each rank's loss and gradient are means over its clips: the global batch's are the means of them
    comm_allreduce(&r->cc.world, sums, 3, COMM_F64, COMM_SUM);
    const double loss = sums[0] / r->dp, recon = sums[1] / r->dp, kl = sums[2] / r->dp;
    zero_reduce_grads(&r->zero, &r->v.params);
    if (r->dp > 1) be_scale_f32(be, r->zero.g, 1.0f / (float)r->dp, (int64_t)r->zero.shard);
    if (!isfinite(loss)) {  // every rank sees the same sum
      rc = tsr_err(err, "step %lld: loss is not finite (%g): lower train.lr", (long long)r->st.step + 1, loss);
      break;
    }
    zero_step(&r->zero, &r->v.params, &tc, lr, 0.0);
    const int64_t step = ++r->st.step;
    const double dt = timer_now() - t0;
    if (step % o->log_every == 0 || step == o->steps)
      log_info("step %lld | loss %.6f | recon %.6f | kl %.4f | lr %.3g | %.0f ms/step", (long long)step, loss, recon, kl,
               (double)lr, dt * 1e3);
    if (r->metrics) {
      json_t *m = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:s}", "step", (json_int_t)step, "loss", jx_round(loss, 7),
                            "recon", jx_round(recon, 7), "kl", jx_round(kl, 7), "lr", jx_round(lr, 9), "step_ms",
                            jx_round(dt * 1e3, 4), "run", r->st.run_id);
      char *line = jx_dump(m);
      fprintf(r->metrics, "%s\n", line);
      fflush(r->metrics);
      free(line);
      json_decref(m);
    }
    // a signal reaches the ranks at different moments: every rank stops after the same step
    int sig = train_signal_pending();
    comm_allreduce(&r->cc.world, &sig, 1, COMM_I32, COMM_MAX);
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
  if (r.zero.m) zero_free(&r.zero);
  if (r.v.be) vae_free(&r.v);
  if (r.cc.world_size) comm_free(&r.cc);
  vae_clips_close(r.clips);
  return rc;
}
