// The training loop on dp x sp x tp ranks (docs/parallel_train.md):
//   data (this rank's dp shard, sp token slice) -> flow batch -> forward ->
//   backward, `accum` micro-batches -> reduce-scatter (dpsp) -> global grad
//   norm -> (skip if non-finite) -> clip -> AdamW on the ZeRO-1 shard ->
//   allgather -> EMA on the shard,
// with rank-0 progress lines, metrics.jsonl and loss.png, collective
// layout-independent checkpoints every k steps and at the end, resume into any
// layout, and a stop on SIGTERM/SIGINT/SIGUSR1 that every rank agrees on.
#include "train/trainer.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "core/error.h"
#include "core/jsonx.h"
#include "core/fpenv.h"
#include "core/fs.h"
#include "core/h5io.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/timer.h"
#include "data/corpus.h"
#include "data/loader.h"
#include "data/random_clips.h"
#include "latent/latent_space.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "model/window.h"
#include "text/text_cond.h"
#include "train/flow.h"
#include "train/loss_plot.h"
#include "train/optimizer.h"
#include "train/peak.h"
#include "train/run_dir.h"
#include "train/signals.h"
#include "train/zero.h"

enum { RANDOM_POOL = 16 };  // random clips the smoke run cycles through
enum { NGROUPS = 6 };

typedef struct {
  const Config *cfg;
  const TrainOptions *opt;
  CommContext cc;
  int rank0;       // world rank 0: logs, metrics, loss plot, checkpoint rename
  int mb, accum;   // samples per micro-batch on this rank, micro-batches per step
  int maxb;        // the most samples of a micro-batch (mb; data.buckets: the loader's largest bucket batch)
  double win_tokens, win_flops;  // data.buckets: tokens and FLOPs of the global batches since the last log line
  const Backend *be;  // run.device: where the model, its gradients and the optimizer state live
  float *stage;       // device backends: host staging of one parameter-sized buffer for checkpoints
  Model model;
  Zero zero;
  FlowBatch fb;
  float *clip;     // [N,P] one random clip before its sp slice (sp > 1 without a corpus)
  Loader *loader;  // NULL: random clips
  char **vocab;    // the corpus tokenizer's vocabulary: goes into every checkpoint
  int vocab_size;
  CkptState state;
  uint64_t step_bytes[NGROUPS];  // bytes this rank sent inside training steps, per group (not checkpoints)
  int64_t counted_steps;
  FILE *metrics;
  double peak_gflops;  // sum over ranks of each rank's fp32 peak
  double t_begin;  // wall clock at the first step of this process
  TextCond *text;  // model.text.encoder minilm: the frozen encoder and its cache of caption states
  float *states;   // [mb, L, text_width] this micro-batch's states
  TsrErr err;      // what went wrong on this rank (train_run returns it)
} Trainer;

// Bad input fails the run with a returned error (core/error.h), never an exit:
// a step that fails sets tr->err and returns -1. Some failures are seen by one
// rank only (its shard of the data, its GPU), so after each such step every
// rank calls agree(): when any rank failed, all return -1 together and the
// command prints the first failing rank's message (app_check).
// data.buckets: the loader draws batches from several buckets (docs/choices.md "Native sizes").
static int cfg_multi(const Trainer *tr) { return tr->loader && tr->cfg->data.buckets[0]; }

// "TxHxW,..." of the loader's buckets in its order (the checkpoint's `buckets`).
static void bucket_names(const Trainer *tr, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = 0;
  for (int k = 0; k < loader_nbuckets(tr->loader) && len < n; k++)
    len += (size_t)snprintf(buf + len, n - len, "%s%s", k ? "," : "", loader_shape(tr->loader, k).name);
}

static int agree(Trainer *tr, int rc) {
  const int first = comm_world_first_failure(rc != 0);
  if (first < 0) return 0;
  if (!rc) tr->err.code = 0;  // this rank is fine: the message is the failing rank's
  return -1;
}

// Cache bound of the caption states: 4000 captions of 64 ids take ~200 MB.
#define TEXT_CACHE_BYTES ((size_t)1 << 30)

static int tokenize_caption(void *ctx, const char *text, const char *item, int32_t *ids, int32_t *n, int *truncated,
                            char *err, size_t err_size) {
  TsrErr e;
  if (text_cond_tokenize(ctx, text, item, ids, n, truncated, &e) == 0) return 0;
  snprintf(err, err_size, "%s", e.msg);
  return -1;
}

// model.text.encoder minilm: the pretrained encoder, its WordPiece for the
// loader, and the states buffer of a micro-batch.
static int open_text_encoder(Trainer *tr) {
  const ModelConfig *mc = &tr->cfg->model;
  if (!mc->text_minilm) return 0;
  TsrErr err;
  tr->text = text_cond_open(mc->text_length, TEXT_CACHE_BYTES, tr->be, &err);
  if (!tr->text) return tsr_err(&tr->err, "%s: model.text.encoder minilm: %s", tr->cfg->path, err.msg);
  if (text_cond_width(tr->text) != mc->text_width)
    return tsr_err(&tr->err, "%s: the encoder in %s has width %d, the model expects %d", tr->cfg->path,
                   text_cond_dir(tr->text), text_cond_width(tr->text), mc->text_width);
  snprintf(tr->state.text_sha256, sizeof tr->state.text_sha256, "%s", text_cond_sha256(tr->text));
  log_info("text encoder: all-MiniLM-L6-v2 from %s (sha256 %.16s...), frozen, states cached as float16",
           text_cond_dir(tr->text), text_cond_sha256(tr->text));
  return 0;
}

static int text_states(Trainer *tr) {
  if (!tr->text) return 0;
  TsrErr err;
  if (text_cond_states(tr->text, tr->fb.b.tokens, tr->fb.b.ntokens, tr->fb.b.B, tr->states, &err) != 0)
    return tsr_err(&tr->err, "%s: text encoder: %s", tr->cfg->path, err.msg);
  return 0;
}

static int open_data(Trainer *tr) {
  const Config *cfg = tr->cfg;
  const ModelConfig *mc = &cfg->model;
  if (latent_space_check(cfg->path, mc, cfg->data.path, tr->state.latent_space, sizeof tr->state.latent_space, &tr->err))
    return -1;  // pixels, or model.vae's latents (their statistics go into the checkpoints)
  if (!cfg->data.path[0]) return 0;
  TsrErr err;
  LoaderOptions o = {.dp_rank = tr->cc.dp_rank, .dp_size = tr->cc.dp, .sp_rank = tr->cc.sp_rank,
                     .sp_size = tr->cc.sp, .batch = tr->mb, .seed = cfg->train.seed,
                     .p_recaption = cfg->data.p_recaption, .p_drop = cfg->data.p_drop,
                     .text_length = mc->text_length, .T = mc->frames, .H = mc->height, .W = mc->width,
                     .prefetch = cfg->data.prefetch, .buckets = cfg->data.buckets, .token_budget = cfg->data.tokens};
  if (tr->text) {  // the corpus's captions re-tokenised with the encoder's WordPiece; no corpus vocabulary
    o.tokenize = tokenize_caption, o.tokenize_ctx = tr->text;
    if (!(tr->loader = loader_open(cfg->data.path, &o, mc->pt, mc->ph, mc->pw, mc->channels, &tr->err))) return -1;
    return 0;
  }
  Corpus corpus;
  h5_lock();
  int rc = corpus_open(&corpus, cfg->data.path, &err);
  h5_unlock();
  if (rc) return tr->err = err, -1;
  if (corpus.vocab_size > mc->vocab) {
    int words = corpus.vocab_size;  // corpus_close clears it
    h5_lock();
    corpus_close(&corpus);
    h5_unlock();
    return tsr_err(&tr->err, "%s: tokenizer has %d words, more than model.vocab = %d of %s", cfg->data.path,
                   words, mc->vocab, cfg->path);
  }
  tr->vocab_size = corpus.vocab_size;
  tr->vocab = tsr_calloc((size_t)corpus.vocab_size, sizeof(char *));
  for (int i = 0; i < corpus.vocab_size; i++) tr->vocab[i] = strdup(corpus.vocab[i]);
  h5_lock();
  corpus_close(&corpus);
  h5_unlock();
  if (!(tr->loader = loader_open(cfg->data.path, &o, mc->pt, mc->ph, mc->pw, mc->channels, &tr->err))) return -1;
  if (loader_bucket_size(tr->loader) % tr->cc.dp)
    log_warn("%s: %d clips do not split evenly over dp=%d ranks: each rank's epoch ends at its own step, so the "
             "sample order matches the single-rank run only within the first epoch",
             cfg->data.path, loader_bucket_size(tr->loader), tr->cc.dp);
  return 0;
}

// The replica of dp rank 0, sp rank 0 writes checkpoints: its tp ranks (after
// the ZeRO gather every dpsp rank holds its whole tp shard of every tensor).
static CkptComm ckpt_comm(Trainer *tr) {
  CommContext *cc = &tr->cc;
  return (CkptComm){.world = &cc->world, .writers = cc->dp_rank == 0 && cc->sp_rank == 0 ? &cc->tp_group : NULL};
}

// Checkpoints are host I/O. On the CPU backend the buffers are written and
// read in place; on a device they pass through one host staging buffer.
static const float *host_copy(Trainer *tr, const float *buf) {
  if (!tr->stage) return buf;
  be_download(tr->be, tr->stage, buf, tr->zero.padded * sizeof(float));
  return tr->stage;
}
static float *host_dest(Trainer *tr, float *buf) { return tr->stage ? tr->stage : buf; }
static void from_host(Trainer *tr, float *buf, const float *host) {
  be_upload(tr->be, buf, host, tr->zero.padded * sizeof(float));  // nothing to do when host == buf
}
// Every rank reads the same tensors' names, shapes and checksums: a bad file
// fails alike on all of them.
static int read_group(Trainer *tr, CkptFile *f, const char *group, float *buf) {
  float *h = host_dest(tr, buf);
  if (ckpt_read_group(f, group, &tr->model.params, h, &tr->err)) return -1;
  from_host(tr, buf, h);
  return 0;
}

// Collective: every rank writes its hyperslabs. The ZeRO shards of m, v and
// the EMA are gathered one at a time into the gradient buffer (free between
// steps), so saving needs no memory beyond what training holds.
static void save(Trainer *tr) {
  const TrainConfig *tc = &tr->cfg->train;
  ParamTable *t = &tr->model.params;
  char path[CFG_STR_MAX + 32];
  snprintf(path, sizeof path, "%s/ckpt_%lld.h5", tc->out, (long long)tr->state.step);
  if (tr->loader) {  // the cursor as global positions in the epoch's order (any dp resumes it)
    LoaderCursor c = loader_cursor(tr->loader);
    tr->state.cursor_epoch = c.epoch, tr->state.cursor_position = c.position * (uint64_t)tr->cc.dp;
    tr->state.cursor_batches = c.batches;
    tr->state.cursor_more = cfg_multi(tr) ? loader_nbuckets(tr->loader) - 1 : 0;
    for (int k = 0; k < tr->state.cursor_more; k++)
      tr->state.cursor_more_epoch[k] = c.more_epoch[k],
      tr->state.cursor_more_position[k] = c.more_position[k] * (uint64_t)tr->cc.dp;
  }
  tr->state.adam_step = tr->zero.step;
  const double t0 = timer_now();
  comm_bcast(&tr->cc.world, &tr->state, sizeof tr->state, COMM_U8, 0);  // one set of attributes
  CkptComm cc = ckpt_comm(tr);
  CkptFile *f = ckpt_create(path, &tr->state, tr->cfg, &cc);
  ckpt_write_group(f, "params", t, host_copy(tr, t->data));
  zero_gather(&tr->zero, tr->zero.m, t->grad);
  ckpt_write_group(f, "optim/m", t, host_copy(tr, t->grad));
  zero_gather(&tr->zero, tr->zero.v, t->grad);
  ckpt_write_group(f, "optim/v", t, host_copy(tr, t->grad));
  zero_gather(&tr->zero, tr->zero.ema, t->grad);
  ckpt_write_group(f, "ema", t, host_copy(tr, t->grad));
  be_zero(tr->be, t->grad, tr->zero.padded);
  const double sums = ckpt_commit(f, tr->vocab, tr->vocab_size);
  if (!tr->rank0) return;
  ckpt_prune(tc->out, tc->keep_ckpts, tr->state.run_id);
  log_info("checkpoint %s (%.2f s, checksums %.3f s)", path, timer_now() - t0, sums);
  if (tr->metrics) {  // refresh the loss curve next to the checkpoints
    char metrics[CFG_STR_MAX + 32], png[CFG_STR_MAX + 32], err[256];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", tc->out);
    snprintf(png, sizeof png, "%s/loss.png", tc->out);
    fflush(tr->metrics);
    char note[600];
    if (loss_plot_png(metrics, png, note, sizeof note, err, sizeof err) != 0) log_warn("loss plot: %s", err);
    else if (note[0]) log_warn("loss plot: %s", note);
  }
}

// Keys that change the model without changing a tensor's shape (shapes are
// checked tensor by tensor): a checkpoint trained with other values is refused.
static int check_model_keys(Trainer *tr, const char *path) {
  Config saved;
  if (ckpt_read_config(path, &saved, &tr->err)) return -1;
  const ModelConfig *a = &saved.model, *b = &tr->cfg->model;
  if (a->heads != b->heads || memcmp(a->rope, b->rope, sizeof a->rope) != 0)
    return tsr_err(&tr->err, "%s: trained with model.heads %d and rope %d/%d/%d, but %s has heads %d and rope %d/%d/%d "
                        "(the checkpoint was made for a different model config)", path, a->heads, a->rope[0],
                        a->rope[1], a->rope[2], tr->cfg->path, b->heads, b->rope[0], b->rope[1], b->rope[2]);
  if (strcmp(a->text_encoder, b->text_encoder) != 0)
    return tsr_err(&tr->err, "%s: trained with model.text.encoder %s, but %s has %s (the model reads other text states; "
                        "the checkpoint was made for a different model config)", path, a->text_encoder, tr->cfg->path,
                        b->text_encoder);
  if (strcmp(a->predict, b->predict) != 0)
    return tsr_err(&tr->err, "%s: trained with model.predict %s, but %s has model.predict %s (the network's output "
                        "means something else; the checkpoint was made for a different model config)",
                        path, a->predict, tr->cfg->path, b->predict);
  return 0;
}

// Opens checkpoint `path` (its state into *s) and checks that it was made for
// this model: the keys above, then the text encoder's hash. NULL on every rank
// when it does not fit.
static CkptFile *open_for_model(Trainer *tr, const char *path, CkptState *s) {
  CkptComm cc = ckpt_comm(tr);
  CkptFile *f = ckpt_open(path, &cc, s, &tr->err);
  if (agree(tr, f ? 0 : -1)) return NULL;
  int rc = check_model_keys(tr, path);  // before the tensors: a different model is named as such
  if (!rc && tr->text && strcmp(s->text_sha256, text_cond_sha256(tr->text)) != 0)
    rc = tsr_err(&tr->err, "%s: trained with the text encoder of SHA-256 '%.64s', but %s holds '%.64s' (other "
                 "weights: the states the model learned to read would change)", path, s->text_sha256,
                 text_cond_dir(tr->text), text_cond_sha256(tr->text));
  if (agree(tr, rc)) {  // every rank read the same attributes: all fail alike
    ckpt_close(f);
    return NULL;
  }
  return f;
}

// train.resume: "" = fresh, "auto" = latest checkpoint in train.out if any, else a path.
// The checkpoint may come from any layout: each rank reads its own hyperslabs
// and takes its ZeRO shard of m, v and the EMA. Returns 1 when it resumed,
// 0 for a fresh run, -1 (on every rank) when the checkpoint does not fit.
static int resume(Trainer *tr) {
  const TrainConfig *tc = &tr->cfg->train;
  ParamTable *t = &tr->model.params;
  char path[CFG_STR_MAX + 64] = "";
  if (!strcmp(tc->resume, "auto")) {
    if (tr->rank0) ckpt_latest(tc->out, path, sizeof path);
    comm_bcast(&tr->cc.world, path, sizeof path, COMM_U8, 0);  // one choice, even while files appear
  } else if (tc->resume[0]) {
    snprintf(path, sizeof path, "%s", tc->resume);
  }
  if (!path[0]) return 0;
  CkptFile *f = open_for_model(tr, path, &tr->state);
  if (!f) return -1;
  if (agree(tr, read_group(tr, f, "params", t->data)) || agree(tr, read_group(tr, f, "optim/m", t->grad))) return -1;
  zero_take(&tr->zero, t->grad, tr->zero.m);
  if (agree(tr, read_group(tr, f, "optim/v", t->grad))) return -1;
  zero_take(&tr->zero, t->grad, tr->zero.v);
  if (agree(tr, read_group(tr, f, "ema", t->grad))) return -1;
  zero_take(&tr->zero, t->grad, tr->zero.ema);
  ckpt_close(f);
  be_zero(tr->be, t->grad, tr->zero.padded);
  tr->zero.step = (int)tr->state.adam_step;
  if (tr->loader) {
    const uint64_t dp = (uint64_t)tr->cc.dp, pos = tr->state.cursor_position;
    if (pos % dp)
      log_warn("%s: data cursor %llu does not split over dp=%d ranks; resuming at %llu", path,
               (unsigned long long)pos, tr->cc.dp, (unsigned long long)(pos / dp * dp));
    LoaderCursor c = {.epoch = tr->state.cursor_epoch, .position = pos / dp, .batches = tr->state.cursor_batches};
    char names[sizeof tr->state.buckets];
    if (cfg_multi(tr)) bucket_names(tr, names, sizeof names);
    if (cfg_multi(tr) && (tr->state.cursor_more != loader_nbuckets(tr->loader) - 1 || strcmp(names, tr->state.buckets)))
      return tsr_err(&tr->err, "%s: the checkpoint's data cursor is for buckets %s, data.buckets chose %s from %s "
                     "(resume with the same data.buckets)", path, tr->state.buckets[0] ? tr->state.buckets : "(one)",
                     names, tr->cfg->data.path);
    // A multi-bucket cursor without data.buckets: the one-bucket loader would
    // resume bucket 0's stream alone and drop the others' (Megatron and
    // Open-Sora refuse a data state that does not match the data config).
    if (!cfg_multi(tr) && (tr->state.cursor_more > 0 || tr->state.buckets[0]))
      return tsr_err(&tr->err, "%s: the checkpoint's data cursor is for buckets %s, but data.buckets is empty (the "
                     "model's window %dx%dx%d alone from %s); resume with the data.buckets it was trained with", path,
                     tr->state.buckets[0] ? tr->state.buckets : "(unnamed)", tr->cfg->model.frames,
                     tr->cfg->model.height, tr->cfg->model.width, tr->cfg->data.path);
    for (int k = 0; cfg_multi(tr) && k < tr->state.cursor_more; k++)
      c.more_epoch[k] = tr->state.cursor_more_epoch[k], c.more_position[k] = tr->state.cursor_more_position[k] / dp;
    loader_seek(tr->loader, c);
  }
  log_info("resumed from %s at step %lld", path, (long long)tr->state.step);
  return 1;
}

// train.init_from: a new run whose weights and EMA start as a checkpoint's
// (fine-tuning, or a curriculum's next stage; Megatron's --finetune). The
// AdamW moments, the step, the learning-rate schedule and the data cursor
// start fresh. Only for a fresh run: a run that resumes continues its own
// checkpoints. Returns 1 when it loaded, 0 without init_from, -1 on every
// rank when the checkpoint does not fit.
static int init_from(Trainer *tr) {
  const char *path = tr->cfg->train.init_from;
  if (!path[0]) return 0;
  ParamTable *t = &tr->model.params;
  CkptState s;
  memset(&s, 0, sizeof s);
  CkptFile *f = open_for_model(tr, path, &s);
  if (!f) return -1;
  if (agree(tr, read_group(tr, f, "params", t->data)) || agree(tr, read_group(tr, f, "ema", t->grad))) {
    ckpt_close(f);
    return -1;
  }
  zero_take(&tr->zero, t->grad, tr->zero.ema);
  ckpt_close(f);
  be_zero(tr->be, t->grad, tr->zero.padded);
  log_info("weights and EMA from %s (its step %lld); AdamW state, step, schedule and data start fresh", path,
           (long long)s.step);
  return 1;
}

// Global index of this rank's first sample of micro-batch k of `step`; its
// sample j is first + j * dp. This is the order in which the loader deals a
// global batch of B = dp * accum * mb clips (dp rank r takes every dp-th), so
// noise, t and masks follow the clip whatever the layout.
// With data.buckets a micro-batch holds up to maxb samples: the indices are
// spaced for maxb (maxb == mb otherwise: dp * accum * maxb == train.batch).
static uint64_t first_sample(const Trainer *tr, int64_t step, int k) {
  const uint64_t dp = (uint64_t)tr->cc.dp;
  return (uint64_t)step * dp * (uint64_t)tr->accum * (uint64_t)tr->maxb + (uint64_t)k * tr->maxb * dp +
         (uint64_t)tr->cc.dp_rank;
}

// The model config at the shape of loader bucket k (data.buckets), or the model's own.
static ModelConfig bucket_config(const Trainer *tr, int k) {
  ModelConfig c = tr->cfg->model;
  if (!tr->loader || !cfg_multi(tr)) return c;
  const LoaderShape sh = loader_shape(tr->loader, k);
  TsrErr err;
  if (model_config_at(&tr->cfg->model, sh.T, sh.H, sh.W, &c, &err)) tsr_fatal(__FILE__, __LINE__, "train", "%s", err.msg);
  return c;
}

static int next_batch(Trainer *tr, int64_t step, int k) {
  const Config *cfg = tr->cfg;
  const ModelConfig *mc = &cfg->model;
  const uint64_t first = first_sample(tr, step, k), stride = (uint64_t)tr->cc.dp;
  FlowBatch *fb = &tr->fb;
  if (tr->loader) {
    // a bad clip is this rank's alone: every rank agrees before the step's collectives
    int bucket = 0;
    if (agree(tr, loader_next_bucket(tr->loader, fb->x0, fb->b.tokens, fb->b.ntokens, NULL, &bucket, &tr->err)))
      return -1;
    const ModelConfig at = bucket_config(tr, bucket);
    if (cfg_multi(tr)) {  // this batch's shape: B clips of the bucket's grid, this rank's token slice
      const LoaderShape sh = loader_shape(tr->loader, bucket);
      fb->b.B = sh.B, fb->nloc = sh.nloc, fb->n0 = sh.n0;
      fb->b.gt = at.grid_t, fb->b.gh = at.grid_h, fb->b.gw = at.grid_w;
    }
    flow_prepare(fb, &at, &cfg->train, 0.0f, cfg->train.seed, first, stride);  // loader did caption dropout
    if (cfg_multi(tr)) {  // every dp rank's micro-batch has this shape
      tr->win_tokens += (double)fb->b.B * at.tokens * tr->cc.dp;
      tr->win_flops += model_train_flops(&at, fb->b.B, tr->model.text_frozen) * tr->cc.dp;
    }
    return agree(tr, text_states(tr));
  }
  const size_t L = (size_t)mc->text_length, NP = (size_t)fb->nloc * mc->patch_dim;
  for (int j = 0; j < tr->mb; j++) {
    float *x = tr->clip ? tr->clip : fb->x0 + j * NP;
    random_clips_fill(x, fb->b.tokens + j * L, fb->b.ntokens + j, mc, 1, cfg->train.seed, first + j * stride,
                      RANDOM_POOL);
    if (tr->clip) memcpy(fb->x0 + j * NP, tr->clip + (size_t)fb->n0 * mc->patch_dim, NP * sizeof(float));
  }
  flow_prepare(fb, mc, &cfg->train, cfg->data.p_drop, cfg->train.seed, first, stride);
  return agree(tr, text_states(tr));
}

// Generated tokens of the whole global batch of `step` (the loss denominator):
// this rank's micro-batches' conditioning masks, summed over the dp group.
static double step_loss_tokens(Trainer *tr, int64_t step) {
  const Config *cfg = tr->cfg;
  double n = 0.0;
  const uint64_t batches = tr->loader ? loader_cursor(tr->loader).batches : 0;
  for (int k = 0; k < tr->accum; k++) {
    const int bucket = tr->loader ? loader_bucket_of(tr->loader, batches + (uint64_t)k) : 0;
    const ModelConfig at = bucket_config(tr, bucket);
    const int B = cfg_multi(tr) && tr->loader ? loader_shape(tr->loader, bucket).B : tr->mb;
    n += flow_count_generated(&at, &cfg->train, cfg->train.seed, first_sample(tr, step, k), (uint64_t)tr->cc.dp, B);
  }
  comm_allreduce(&tr->cc.dp_group, &n, 1, COMM_F64, COMM_SUM);
  return n;
}

static CommGroup *group_at(Trainer *tr, int i) {
  CommGroup *g[NGROUPS] = {&tr->cc.world, &tr->cc.dp_group, &tr->cc.sp_group, &tr->cc.tp_group, &tr->cc.mp_group,
                           &tr->cc.dpsp_group};
  return g[i];
}

static void count_bytes(Trainer *tr, int sign) {
  for (int i = 0; i < NGROUPS; i++) tr->step_bytes[i] += (uint64_t)sign * comm_stats_bytes(group_at(tr, i));
}

// One JSON line (bench/run.sh reads it): mean bytes this rank sent per step, by group.
static void log_comm(Trainer *tr) {
  if (tr->counted_steps == 0 || tr->cc.world_size == 1) return;
  json_t *bytes = json_object();
  const double nred = tr->zero.reductions ? tr->zero.reductions : 1;  // gradient reductions (steps) of this run
  for (int i = 0; i < NGROUPS; i++)
    json_object_set_new(bytes, group_at(tr, i)->name, json_real((double)tr->step_bytes[i] / (double)tr->counted_steps));
  json_t *o = json_pack("{s:o, s:I, s:i, s:i, s:i, s:I, s:I, s:i, s:i, s:f, s:f, s:f, s:f}", "comm_bytes_per_step", bytes, "steps",
                        (json_int_t)tr->counted_steps, "dp", tr->cc.dp, "sp", tr->cc.sp, "tp", tr->cc.tp, "local_params",
                        (json_int_t)tr->model.params.total, "padded_params", (json_int_t)tr->zero.padded, "accum",
                        tr->accum, "micro_batch", tr->mb, "bucket_mb", tr->zero.bucket * 4.0 / 1048576.0,
                        "dp_wait_s_per_step", tr->zero.wait_s / nred, "buckets_per_step", tr->zero.buckets / nred,
                        "buckets_early_per_step", tr->zero.buckets_early / nred);
  char *line = jx_dump(o);
  log_info("comm %s", line);
  free(line);
  json_decref(o);
}

// dt: seconds per step, the mean of the nsteps since the last line.
static void log_step(Trainer *tr, int64_t step, double loss, double norm, float lr, double dt, int nsteps) {
  const Config *cfg = tr->cfg;
  const ModelConfig *mc = &cfg->model;
  double tok_s = (double)cfg->train.batch * mc->tokens / dt;
  // MFU of the job against the sum of the ranks' peaks (fp32, or bf16 in the CPU's bf16 mode: train/peak.h)
  double mfu = model_train_flops(mc, cfg->train.batch, tr->model.text_frozen) / dt * 1e-9 / tr->peak_gflops;
  if (cfg_multi(tr) && nsteps > 0) {  // the batches' own shapes, over the steps since the last line
    tok_s = tr->win_tokens / (dt * nsteps);
    mfu = tr->win_flops / (dt * nsteps) * 1e-9 / tr->peak_gflops;
  }
  tr->win_tokens = tr->win_flops = 0.0;
  double eta = (double)(cfg->train.steps - step) * dt;
  if (cfg->train.time_limit > 0) eta = fmin(eta, fmax(0.0, 60.0 * cfg->train.time_limit - (timer_now() - tr->t_begin)));
  log_info("step %lld | loss %.6f | grad %.4f | lr %.3e | %.0f tok/s | %.0f ms/step | mfu %.1f%% | eta %.0fs",
           (long long)step, loss, norm, lr, tok_s, dt * 1e3, 100.0 * mfu, eta);
  if (tr->metrics) {
    json_t *o = json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:s}", "step", (json_int_t)step, "loss", loss,
                          "grad_norm", norm, "lr", (double)lr, "tokens_per_s", tok_s, "step_ms", dt * 1e3, "mfu", mfu,
                          "run", tr->state.run_id);
    char *line = jx_dump(o);
    fprintf(tr->metrics, "%s\n", line);
    fflush(tr->metrics);
    free(line);
    json_decref(o);
  }
}

// Denormals flushed in every thread that computes (core/fpenv.h), observed
// in the threads themselves after the first step; tests read this line.
static void log_fpenv(const Trainer *tr) {
  int nthreads = 0;
  const int flushing = fpenv_flushing_omp_threads(&nthreads);
  const int loader = tr->loader ? loader_worker_flushes_denormals(tr->loader) : -1;
  log_info("fp: denormals flushed (FTZ+DAZ) in %d/%d compute threads; loader thread: %s", flushing, nthreads,
           loader < 0 ? "none" : loader ? "flushed" : "NOT flushed");
}

// run.device / run.precision: the CPU, or the GPU of this rank's place on its
// node. On a GPU the groups that move device buffers (tp, sp: activations;
// dpsp: gradients and weights) switch to NCCL on the backend's stream; host
// values (the loss, the norm) still travel over MPI.
static int open_backend(Trainer *tr) {
  const Config *cfg = tr->cfg;
  const int cuda = cfg->run.cuda;
  char why[512];
  tr->be = backend_open(cfg->run.device, cfg->run.precision, cuda ? comm_local_rank() : 0, why, sizeof why);
  if (agree(tr, tr->be ? 0 : tsr_err(&tr->err, "%s: run.device %s, run.precision %s: %s", cfg->path, cfg->run.device,
                                      cfg->run.precision, why)))
    return -1;
  char what[256];
  tr->be->describe(tr->be, what, sizeof what);
  log_info("device: %s, precision %s%s", what, tr->be->bf16 ? "bf16" : "fp32",
           strcmp(cfg->run.precision, "auto") ? "" : " (run.precision: auto)");
  if (!tr->be->nccl) return 0;
  if (agree(tr, comm_nccl_check(&tr->err))) return -1;
  CommGroup *device_groups[] = {&tr->cc.tp_group, &tr->cc.sp_group, &tr->cc.dpsp_group};
  for (int i = 0; i < 3; i++)
    if (device_groups[i]->size > 1) comm_group_use_nccl(device_groups[i], tr->be->stream);
  return 0;
}

// Layout, batch split, model shard, ZeRO state, data: -1 on every rank when
// any rank failed.
static int setup(Trainer *tr) {
  const Config *cfg = tr->cfg;
  const ModelConfig *mc = &cfg->model;
  const TrainConfig *tc = &cfg->train;
  const ParallelConfig *par = &cfg->parallel;
  // 0 keeps OpenMP's default: OMP_NUM_THREADS, else the cores this process
  // may run on (one per rank under mpirun's default binding)
  if (cfg->run.threads > 0) omp_set_num_threads(cfg->run.threads);
  fpenv_flush_denormals_all_threads();  // main() did; a resized pool is covered again here
  if (comm_layout_check(par->dp, par->sp, par->tp, cfg->path, &tr->err)) return -1;  // alike on every rank
  comm_layout(&tr->cc, par->dp, par->sp, par->tp, cfg->path);
  CommContext *cc = &tr->cc;
  tr->rank0 = cc->world_rank == 0;
  tr->accum = tc->accum;
  if (tc->batch % (par->dp * tc->accum))  // alike on every rank
    return tsr_err(&tr->err, "%s: train.batch: expected a multiple of parallel.dp x train.accum = %d x %d (the global "
                   "batch splits into equal micro-batches), got %d", cfg->path, par->dp, tc->accum, tc->batch);
  tr->mb = tc->batch / (par->dp * tc->accum);
  if (open_backend(tr)) return -1;
  model_build(&tr->model, mc,
              (ModelLayout){.tp = cc->tp, .sp = cc->sp, .tp_rank = cc->tp_rank, .sp_rank = cc->sp_rank,
                            .tp_group = cc->tp > 1 ? &cc->tp_group : NULL,
                            .sp_group = cc->sp > 1 ? &cc->sp_group : NULL, .ring = par->ring}, tr->be);
  params_init(&tr->model.params, tc->seed);
  if (tc->freeze_text) model_freeze_text(&tr->model);  // before zero_init: no update pieces
  _Static_assert(CFG_RECOMPUTE_ATTENTION == (int)MODEL_RECOMPUTE_ATTENTION &&
                     CFG_RECOMPUTE_BLOCK == (int)MODEL_RECOMPUTE_BLOCK, "train.recompute's values are the model's");
  model_set_recompute(&tr->model, (ModelRecompute)tc->recompute_mode);
  zero_init(&tr->zero, &tr->model.params, tr->be, &cc->dpsp_group, &cc->world, cc->tp_rank);
  if (par->bucket_mb > 0) {  // gradient buckets reduced during the backward (zero.h "Overlap")
    // tp > 1: the model reports no block boundaries (model.h grad_ready), so the blocking path
    zero_set_overlap(&tr->zero, cc->tp > 1 ? 0 : (size_t)fmax(1.0, par->bucket_mb * 1048576.0 / sizeof(float)));
    tr->model.grad_ready = zero_grad_ready, tr->model.grad_ready_ctx = &tr->zero;
    log_info("parallel.bucket_mb %g: %s", par->bucket_mb,
             tr->zero.bucket ? "the gradient reduce-scatter runs in buckets during the backward"
                             : "no overlap in this layout (tp > 1, dp x sp = 1, or NCCL): one reduce-scatter after the backward");
  }
  if (!tr->be->mem.host) tr->stage = tsr_calloc(tr->zero.padded, sizeof(float));
  if (agree(tr, open_text_encoder(tr)) || agree(tr, open_data(tr))) return -1;
  // data.buckets: activations for the largest batch of tokens of any bucket, and for its most samples
  tr->maxb = cfg_multi(tr) ? loader_max_batch(tr->loader) : tr->mb;
  const int64_t max_tokens = cfg_multi(tr) ? loader_max_tokens(tr->loader) : (int64_t)tr->mb * mc->tokens;
  model_alloc_acts_tokens(&tr->model, tr->maxb, max_tokens, 0);
  const int nloc = mc->tokens / cc->sp;
  flow_batch_alloc_tokens(&tr->fb, mc, tr->maxb, max_tokens / cc->sp, cc->sp_rank * nloc, nloc);
  if (cc->sp > 1 && !cfg->data.path[0]) tr->clip = tsr_calloc((size_t)mc->tokens * mc->patch_dim, sizeof(float));
  if (tr->text) {
    tr->states = tsr_calloc((size_t)tr->maxb * mc->text_length * mc->text_width, sizeof(float));
    tr->fb.b.text_states = tr->states;
  }
  if (cfg_multi(tr)) {
    bucket_names(tr, tr->state.buckets, sizeof tr->state.buckets);
    for (int k = 0; k < loader_nbuckets(tr->loader); k++) {
      const LoaderShape sh = loader_shape(tr->loader, k);
      log_info("bucket %s: %d clips, %d per micro-batch (%d tokens each), weight %.3g", sh.name, sh.count, sh.B, sh.N,
               sh.weight);
    }
  }
  const double mib = 1.0 / 1048576.0, full_state = 2.0 * (double)tr->model.params.total * sizeof(float);
  log_info("layout dp=%d sp=%d tp=%d (%d ranks): batch %d = %d dp x %d micro-batches x %d samples; "
           "%zu local parameters per rank",
           cc->dp, cc->sp, cc->tp, cc->world_size, tc->batch, cc->dp, tr->accum, tr->mb, tr->model.params.total);
  log_info("zero-1 over dpsp=%d: shard %zu of %zu floats per rank; AdamW m+v %.3f MiB per rank (%.3f MiB unsharded, "
           "1/%d), EMA %.3f MiB",
           cc->dpsp_group.size, tr->zero.shard, tr->model.params.total, zero_state_bytes(&tr->zero) * mib,
           full_state * mib, cc->dpsp_group.size, zero_state_bytes(&tr->zero) * 0.5 * mib);
  return 0;
}

int train_run(const Config *cfg, const TrainOptions *opt, float *final_loss, TsrErr *err) {
  const ModelConfig *mc = &cfg->model;
  const TrainConfig *tc = &cfg->train;
  Trainer tr = {.cfg = cfg, .opt = opt};
  double loss = 0.0;
  int rc = setup(&tr);
  if (rc) goto fail;
  tr.state.seed = tc->seed;
  if ((rc = agree(&tr, tr.rank0 ? run_dir_prepare(tc->out, &tr.err) : 0))) goto fail;  // it exists for every rank now
  const int resumed = resume(&tr);
  if (resumed < 0) {
    rc = -1;
    goto fail;
  }
  if (!resumed && init_from(&tr) < 0) {
    rc = -1;
    goto fail;
  }
  if (!resumed) {  // a new run: a new id, the same on every rank
    if (tr.rank0) run_id_new(tr.state.run_id, sizeof tr.state.run_id);
    comm_bcast(&tr.cc.world, tr.state.run_id, sizeof tr.state.run_id, COMM_U8, 0);
  }
  if (tr.rank0) {
    rc = run_dir_claim(tc->out, tr.state.run_id, resumed, !strcmp(tc->resume, "auto"), opt->overwrite, &tr.err);
    char mpath[CFG_STR_MAX + 32];
    snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", tc->out);
    if (!rc && !(tr.metrics = fopen(mpath, resumed ? "a" : "w")))
      rc = tsr_err(&tr.err, "train.out: cannot write %s: %s", mpath, strerror(errno));
    if (!rc)
      log_info("run %s in %s", tr.state.run_id[0] ? tr.state.run_id : "(no id: a version 1 checkpoint's)", tc->out);
  }
  if ((rc = agree(&tr, rc))) goto fail;
  train_signals_install();

  const Peak peak = peak_for(tr.be->mem.host && tr.be->bf16, omp_get_max_threads());
  tr.peak_gflops = peak.gflops;
  comm_allreduce(&tr.cc.world, &tr.peak_gflops, 1, COMM_F64, COMM_SUM);
  char peak_text[128];
  peak_describe(&peak, peak_text, sizeof peak_text);
  log_info("model %s: %.2fM parameters, %d tokens/clip, batch %d, activations %.0f MiB, data %s",
           mc->name, (double)tr.model.params.total / 1e6, mc->tokens, tc->batch,
           (double)tr.model.arena.size / 1048576.0, cfg->data.path[0] ? cfg->data.path : "random clips");
  log_info("mfu against %.0f GFLOP/s: %d rank(s), rank 0's %s", tr.peak_gflops, tr.cc.world_size, peak_text);

  double t_window = timer_now();
  tr.t_begin = t_window;
  int window_steps = 0;
  while (tr.state.step < tc->steps) {
    int64_t step = tr.state.step;
    count_bytes(&tr, -1);
    params_zero_grad(&tr.model.params);
    tr.fb.b.loss_tokens = step_loss_tokens(&tr, step);
    loss = 0.0;
    for (int k = 0; k < tr.accum; k++) {  // gradients accumulate (+=) over the micro-batches
      if ((rc = next_batch(&tr, step, k))) goto fail;
      loss += model_forward(&tr.model, &tr.fb.b);
      if (k == tr.accum - 1) zero_overlap_begin(&tr.zero, &tr.model.params);  // earlier ones still accumulate
      model_backward(&tr.model, &tr.fb.b);
    }
    // Each rank's loss and gradient are its share of the global batch's: the sums are the whole.
    comm_allreduce(&tr.cc.dpsp_group, &loss, 1, COMM_F64, COMM_SUM);
    zero_reduce_grads(&tr.zero, &tr.model.params);
    double norm = zero_grad_norm(&tr.zero);
    float lr = lr_at(tc, (int)step);
    if (!isfinite(loss) || !isfinite(norm)) {  // every rank sees the same loss and norm: one decision
      tr.state.bad_steps++;
      log_warn("step %lld: non-finite loss or gradient (loss %g, grad norm %g): update skipped (%lld in a row)",
               (long long)step + 1, loss, norm, (long long)tr.state.bad_steps);
      if (tr.state.bad_steps >= tc->max_bad_steps) {  // every rank sees it alike
        rc = tsr_err(&tr.err, "training diverged: %lld non-finite steps in a row (train.max_bad_steps = %d); "
                     "lower train.lr or raise train.grad_clip", (long long)tr.state.bad_steps, tc->max_bad_steps);
        goto fail;
      }
    } else {
      tr.state.bad_steps = 0;
      zero_step(&tr.zero, &tr.model.params, tc, lr, norm);
      // EMA warm-up: early weights move fast, so average over ~n/10 steps until
      // that is longer than the configured horizon (as timm's ModelEmaV2 does).
      float n = (float)tr.zero.step, decay = fminf(tc->ema_decay, (1.0f + n) / (10.0f + n));
      zero_ema_update(&tr.zero, &tr.model.params, decay);
    }
    tr.state.step = step + 1;
    window_steps++;
    if (window_steps == 1 && tr.counted_steps == 0) log_fpenv(&tr);
    // Signals and the time limit reach ranks at different moments: agree on
    // them so that every rank stops after the same step and saves together.
    int stop[2] = {train_signal_pending(), tc->time_limit > 0 && timer_now() - tr.t_begin >= 60.0 * tc->time_limit};
    comm_allreduce(&tr.cc.world, stop, 2, COMM_I32, COMM_MAX);
    const int sig = stop[0], out_of_time = stop[1];
    count_bytes(&tr, +1);
    tr.counted_steps++;
    int last = tr.state.step == tc->steps || out_of_time;
    if (tr.state.step % tc->log_every == 0 || last || sig) {
      if (tr.rank0) progress_clear(stderr);
      double now = timer_now();
      log_step(&tr, tr.state.step, loss, norm, lr, (now - t_window) / window_steps, window_steps);
      t_window = now;
      window_steps = 0;
    } else if (tr.rank0) {  // on a terminal, a bar over the steps until the next log line
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
  log_comm(&tr);
  if (tr.metrics) fclose(tr.metrics);
  if (tr.loader) loader_close(tr.loader);
  for (int i = 0; i < tr.vocab_size; i++) free(tr.vocab[i]);
  tsr_free(tr.vocab);
  tsr_free(tr.clip);
  flow_batch_free(&tr.fb);
  zero_free(&tr.zero);
  model_free(&tr.model);
  tsr_free(tr.stage);
  if (tr.text) {
    const TextCondStats st = text_cond_stats(tr.text);
    log_info("text encoder: %llu captions encoded (%.1f s), %llu reuses from the cache (%.1f MiB)%s",
             (unsigned long long)(st.misses + st.uncached), st.encode_seconds, (unsigned long long)st.hits,
             (double)st.bytes / 1048576.0, st.uncached ? "; the cache filled up" : "");
  }
  text_cond_close(tr.text);
  tsr_free(tr.states);
  comm_free(&tr.cc);
  backend_close(tr.be);
  if (final_loss) *final_loss = (float)loss;
  return 0;
fail:  // the process ends next (the command prints the error): stop what runs beside it, keep the files whole
  if (tr.metrics) fclose(tr.metrics);
  if (tr.loader) loader_close(tr.loader);
  if (err) *err = tr.err;
  return rc ? rc : -1;
}
