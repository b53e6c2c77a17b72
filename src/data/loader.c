// Training data loader over corpus.h5 (see loader.h for the order and the
// cursor; datasets/README.md "Loader" for the choices).
//
// Threads. HDF5 in this build is not thread-safe, so at any time exactly one
// thread reads the corpus: the prefetch worker when prefetch > 0, the caller
// of loader_next otherwise. The hand-offs between them are pthread_create and
// pthread_join (loader_open/seek/close), which order the accesses. Every HDF5
// call made here also holds the process-wide HDF5 lock (h5_lock, core/h5io.h),
// so two loaders, or a loader and a checkpoint save (which takes the lock),
// never enter HDF5 at the same time.
//
// Errors. The corpus reader returns its errors (a TsrErr). A corpus error on
// the worker stops it and is kept in the Loader; loader_next returns it when
// it reaches the batch that failed, exactly where prefetch = 0 would have
// failed (and again on every later call). Conversely, when the main thread
// exits for any reason while the worker runs, a shutdown hook
// (tsr_on_shutdown) stops and joins the worker before HDF5 and MPI are torn
// down, releasing the HDF5 lock first if the exiting thread holds it.
//
// Ring. `nslots` = prefetch batch buffers; the worker fills slot
// (head+count) % nslots while count < nslots, the consumer takes slot head.
// A slot is owned by the worker from the moment it sees it free until it
// bumps count, and by the consumer from head until it bumps head; only the
// indices are shared (under mu).
#include "data/loader.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fpenv.h"
#include "core/h5io.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/corpus.h"

// Counter channels of the draws (purpose RNG_DATA: the shuffle; RNG_DROPOUT:
// caption choice), chosen apart from the channels other code uses.
#define SHUFFLE_CHANNEL 0xC0FFEEu
#define RECAPTION_CHANNEL 0x10AD0001u
#define DROP_CHANNEL 0x10AD0002u
#define BUCKET_CHANNEL 0xB0C4E7u

#define PT_CHECK(call) \
  do { int pt_rc_ = (call); if (pt_rc_) tsr_fatal(__FILE__, __LINE__, "pthread", "%s failed (%d)", #call, pt_rc_); } while (0)

typedef struct {
  float *x0;          // [B, nloc, P]
  int32_t *tokens;    // [B, L]
  int32_t *ntokens;   // [B]
  int64_t *clip_ids;  // [B]
  int bucket;         // the batch's bucket
  LoaderCursor at, next;  // cursor of this batch and of the one after it
} Slot;

// One bucket's stream. perm* are reader state (see "Threads").
typedef struct {
  const CorpusBucket *cb;
  LoaderShape shape;
  uint64_t shard;       // clips of one epoch on this dp rank
  int32_t *ids, *nids;  // o.tokenize: [n, 2, L] ids of (caption, recaption) of every clip, [n, 2] counts
  uint32_t *perm;       // permutation of epoch perm_epoch, [n]
  uint64_t perm_epoch;
  int perm_valid;
} Stream;

struct Loader {
  Corpus corpus;
  LoaderOptions o;
  int multi;         // o.buckets given
  int nb;            // streams
  Stream *st;        // [nb]
  double wsum;       // sum of the streams' weights
  int P;             // patch vector length
  int L, Lc;         // model text length, corpus text length
  int maxB;          // the most clips of a batch
  size_t max_x;      // the most floats of a batch's x0 on this rank
  LoaderCursor cur;  // the next batch to deliver (consumer side, caller's thread)
  int32_t *null_ids, null_n;  // o.tokenize: the null caption

  // Reader state: touched only by the thread that reads (see top).
  int32_t *tokbuf;   // [Lc]

  // Prefetch ring.
  int nslots;
  Slot *slots;
  pthread_t worker;
  int running;
  pthread_mutex_t mu;
  pthread_cond_t can_fill, can_take;
  int head, count, stop;  // under mu
  int failed;             // under mu: the worker stopped on an error (in werr)
  TsrErr werr;            // written by the worker before it sets failed
  LoaderCursor wcur;      // worker's next batch (worker only while running)
  int worker_flushes;     // the worker's fpenv_denormals_flushed(), set before its first batch
};

// ------------------------------------------------------------------ order

// Bucket k's epoch and position in a cursor (bucket 0: the cursor's own fields).
static uint64_t *cur_epoch(LoaderCursor *c, int k) { return k ? &c->more_epoch[k - 1] : &c->epoch; }
static uint64_t *cur_position(LoaderCursor *c, int k) { return k ? &c->more_position[k - 1] : &c->position; }

// Fisher-Yates with 64 random bits per swap (multiply-shift to [0, i]).
// Stream k > 0 mixes k into the counter (stream 0 draws what one bucket always did).
static void make_perm(Loader *l, Stream *s, int k, uint64_t epoch) {
  const uint64_t seed = l->o.seed;
  const int n = s->shape.count;
  for (int i = 0; i < n; i++) s->perm[i] = (uint32_t)i;
  for (int i = n - 1; i > 0; i--) {
    uint32_t ctr[4] = {RNG_DATA, (uint32_t)epoch, (uint32_t)i,
                       SHUFFLE_CHANNEL ^ (uint32_t)(epoch >> 32) ^ ((uint32_t)k << 24)}, r[4];
    philox4x32(seed, ctr, r);
    uint64_t u = (uint64_t)r[0] | ((uint64_t)r[1] << 32);
    int j = (int)(((unsigned __int128)u * (unsigned __int128)(i + 1)) >> 64);
    uint32_t t = s->perm[i];
    s->perm[i] = s->perm[j];
    s->perm[j] = t;
  }
  s->perm_epoch = epoch;
  s->perm_valid = 1;
}

static void cursor_normalise(const Loader *l, LoaderCursor *c) {
  for (int k = 0; k < l->nb; k++) {
    uint64_t *e = cur_epoch(c, k), *p = cur_position(c, k), shard = l->st[k].shard;
    if (*p >= shard) {
      *e += *p / shard;
      *p %= shard;
    }
  }
}

int loader_bucket_of(const Loader *l, uint64_t batch) {
  if (l->nb == 1) return 0;
  double u = rng_uniform(l->o.seed, RNG_DATA, (uint32_t)batch, (uint32_t)(batch >> 32), BUCKET_CHANNEL) * l->wsum;
  int k = 0;
  while (k < l->nb - 1 && u >= l->st[k].shape.weight) u -= l->st[k++].shape.weight;
  return k;
}

// Read the batch at *cur into the given buffers (clip_ids may be NULL) and
// advance *cur past it (left as it was on an error). Runs on the reader
// thread only.
static int read_batch(Loader *l, LoaderCursor *cur, float *x0, int32_t *tokens, int32_t *ntokens, int64_t *clip_ids,
                      int *bucket, TsrErr *err) {
  const LoaderOptions *o = &l->o;
  LoaderCursor at = *cur;
  const int k = loader_bucket_of(l, at.batches);
  Stream *s = &l->st[k];
  const LoaderShape *sh = &s->shape;
  uint64_t *epoch = cur_epoch(&at, k), *position = cur_position(&at, k);
  const int B = sh->B, L = l->L;
  // channels of the caption draws: bucket 0 keeps the single-bucket ones
  const uint32_t rc_channel = RECAPTION_CHANNEL ^ ((uint32_t)k << 20), dr_channel = DROP_CHANNEL ^ ((uint32_t)k << 20);
  for (int b = 0; b < B; b++) {
    if (!s->perm_valid || s->perm_epoch != *epoch) make_perm(l, s, k, *epoch);
    const uint64_t gpos = (uint64_t)o->dp_rank + *position * (uint64_t)o->dp_size;  // position in the epoch's permutation
    const int clip = (int)s->perm[gpos];
    const uint32_t e32 = (uint32_t)*epoch, g32 = (uint32_t)gpos;
    const int which = rng_uniform(o->seed, RNG_DROPOUT, e32, g32, rc_channel) < o->p_recaption;  // 1 recaption
    const int drop = rng_uniform(o->seed, RNG_DROPOUT, e32, g32, dr_channel) < o->p_drop;
    int32_t *tok = tokens + (size_t)b * L;

    h5_lock();
    int32_t nt = 0;
    int rc = corpus_read_patches(&l->corpus, s->cb, clip, sh->n0, sh->nloc, x0 + (size_t)b * sh->nloc * l->P, err);
    if (rc == 0 && !drop && !s->ids) rc = corpus_read_tokens(&l->corpus, s->cb, clip, which, l->tokbuf, &nt, err);
    h5_unlock();
    if (rc) return -1;

    if (s->ids) {  // re-tokenised at open
      const size_t i = (size_t)clip * 2 + (size_t)which;
      memcpy(tok, drop ? l->null_ids : s->ids + i * L, (size_t)L * sizeof *tok);
      nt = drop ? l->null_n : s->nids[i];
    } else if (drop) {  // null caption: BOS only
      memset(tok, 0, (size_t)L * sizeof *tok);
      tok[0] = 1;
      nt = 1;
    } else {
      memcpy(tok, l->tokbuf, (size_t)L * sizeof *tok);
      if (nt > L) nt = L;
      if (nt < 1) nt = 1;
    }
    ntokens[b] = nt;
    if (clip_ids) clip_ids[b] = clip;

    if (++*position == s->shard) {
      *position = 0;
      ++*epoch;
    }
  }
  at.batches++;
  *cur = at;
  if (bucket) *bucket = k;
  return 0;
}

// ------------------------------------------------------------------ prefetch

static void *worker_main(void *arg) {
  Loader *l = arg;
  fpenv_flush_denormals();  // inherited from the creating thread too; stated where the thread begins
  l->worker_flushes = fpenv_denormals_flushed();  // published by the mutex hand-off of the first batch
  for (;;) {
    PT_CHECK(pthread_mutex_lock(&l->mu));
    while (l->count == l->nslots && !l->stop) PT_CHECK(pthread_cond_wait(&l->can_fill, &l->mu));
    if (l->stop) {
      PT_CHECK(pthread_mutex_unlock(&l->mu));
      break;
    }
    Slot *s = &l->slots[(l->head + l->count) % l->nslots];
    PT_CHECK(pthread_mutex_unlock(&l->mu));

    s->at = l->wcur;
    TsrErr err;
    int rc = read_batch(l, &l->wcur, s->x0, s->tokens, s->ntokens, s->clip_ids, &s->bucket, &err);
    s->next = l->wcur;

    PT_CHECK(pthread_mutex_lock(&l->mu));
    if (rc) {  // hand the error to the consumer and stop
      l->werr = err;
      l->failed = 1;
    } else {
      l->count++;
    }
    PT_CHECK(pthread_cond_signal(&l->can_take));
    PT_CHECK(pthread_mutex_unlock(&l->mu));
    if (rc) break;
  }
  return NULL;
}

static void worker_start(Loader *l) {
  if (l->nslots == 0) return;
  l->head = l->count = l->stop = l->failed = 0;
  l->wcur = l->cur;
  // The worker starts with the stop signals blocked, so that they reach the
  // trainer's threads and never interrupt the worker's reads.
  sigset_t stop_signals, old;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);
  PT_CHECK(pthread_sigmask(SIG_BLOCK, &stop_signals, &old));
  PT_CHECK(pthread_create(&l->worker, NULL, worker_main, l));
  PT_CHECK(pthread_sigmask(SIG_SETMASK, &old, NULL));
  l->running = 1;
}

static void worker_stop(Loader *l) {
  if (!l->running) return;
  PT_CHECK(pthread_mutex_lock(&l->mu));
  l->stop = 1;
  PT_CHECK(pthread_cond_broadcast(&l->can_fill));
  PT_CHECK(pthread_mutex_unlock(&l->mu));
  PT_CHECK(pthread_join(l->worker, NULL));
  l->running = 0;
  l->head = l->count = 0;
}

// Shutdown hook: the process is exiting on the main thread; the worker must be
// out of HDF5 first. If this thread holds the HDF5 lock (an error inside a
// checkpoint write), the worker may be waiting for it to finish its batch.
static void worker_shutdown(void *arg) {
  h5_unlock_if_held();
  worker_stop(arg);
}

// o.tokenize: every caption and recaption of each bucket through the given
// tokenizer, once (strings read on this thread, before any prefetch).
static int retokenize(Loader *l, const char *path, TsrErr *err) {
  const LoaderOptions *o = &l->o;
  const int L = l->L;
  char msg[1024], item[160];
  l->null_ids = tsr_calloc((size_t)L, sizeof *l->null_ids);
  if (o->tokenize(o->tokenize_ctx, "", "the null caption", l->null_ids, &l->null_n, NULL, msg, sizeof msg) != 0)
    return tsr_err(err, "%s: %s", path, msg);
  for (int k = 0; k < l->nb; k++) {
    Stream *s = &l->st[k];
    const int n = s->shape.count;
    s->ids = tsr_calloc((size_t)n * 2 * L, sizeof *s->ids);
    s->nids = tsr_calloc((size_t)n * 2, sizeof *s->nids);
    int cut[2] = {0, 0};
    for (int clip = 0; clip < n; clip++)
      for (int which = 0; which < 2; which++) {
        h5_lock();
        char *text = corpus_read_caption(&l->corpus, s->cb, clip, which, err);
        h5_unlock();
        if (!text) return -1;
        int truncated = 0;
        snprintf(item, sizeof item, "bucket %s clip %d %s", s->cb->name, clip, which ? "recaption" : "caption");
        const size_t at = (size_t)clip * 2 + (size_t)which;
        int rc = o->tokenize(o->tokenize_ctx, text, item, s->ids + at * L, &s->nids[at], &truncated, msg, sizeof msg);
        free(text);
        if (rc != 0) return tsr_err(err, "%s: %s", path, msg);
        cut[which] += truncated;
      }
    if (cut[0] || cut[1])
      log_warn("%s: bucket %s: %d of %d captions and %d of %d recaptions are longer than the text window of %d "
               "tokens: cut", path, s->cb->name, cut[0], n, cut[1], n, L);
  }
  return 0;
}

// ------------------------------------------------------------------ API

int loader_worker_flushes_denormals(const Loader *l) { return l->running ? l->worker_flushes : -1; }

// Adds bucket b as a stream with weight w (< 0: the default, clips / B).
static int add_stream(Loader *l, const char *path, const CorpusBucket *b, double w, TsrErr *err) {
  const LoaderOptions *o = &l->o;
  if (l->nb == LOADER_MAX_BUCKETS)
    return tsr_err(err, "%s: more than %d buckets chosen (data.buckets)", path, LOADER_MAX_BUCKETS);
  if (b->N % o->sp_size)
    return tsr_err(err, "%s: bucket %s has %d tokens per clip, not divisible by sequence parallel size %d", path,
                   b->name, b->N, o->sp_size);
  if (b->count < o->dp_size)
    return tsr_err(err, "%s: bucket %s has %d clips, fewer than the data parallel size %d", path, b->name, b->count,
                   o->dp_size);
  Stream *s = &l->st[l->nb++];
  s->cb = b;
  LoaderShape *sh = &s->shape;
  const int64_t full = (int64_t)(o->T / l->corpus.pt) * (o->H / l->corpus.ph) * (o->W / l->corpus.pw);
  const int64_t budget = o->token_budget > 0 ? o->token_budget : (int64_t)o->batch * full;
  sh->B = l->multi ? (int)(budget / b->N > 1 ? budget / b->N : 1) : o->batch;
  sh->T = b->T, sh->H = b->H, sh->W = b->W, sh->N = b->N, sh->count = b->count;
  sh->nloc = b->N / o->sp_size;
  sh->n0 = o->sp_rank * sh->nloc;
  sh->weight = w >= 0 ? w : (double)b->count / sh->B;
  snprintf(sh->name, sizeof sh->name, "%s", b->name);
  s->shard = (uint64_t)(b->count - o->dp_rank + o->dp_size - 1) / (uint64_t)o->dp_size;
  s->perm = tsr_calloc((size_t)b->count, sizeof *s->perm);
  return 0;
}

static int fits(const LoaderOptions *o, const CorpusBucket *b) { return b->T <= o->T && b->H <= o->H && b->W <= o->W; }

// data.buckets: "all", or "TxHxW[:weight],..." (each present and within the maximum).
static int choose_buckets(Loader *l, const char *path, TsrErr *err) {
  const LoaderOptions *o = &l->o;
  const Corpus *c = &l->corpus;
  if (!strcmp(o->buckets, "all")) {
    for (int i = 0; i < c->nbuckets; i++) {
      const CorpusBucket *b = &c->buckets[i];
      if (!fits(o, b)) {
        log_warn("%s: bucket %s (%d clips) is larger than the model's maximum %dx%dx%d: not used", path, b->name,
                 b->count, o->T, o->H, o->W);
        continue;
      }
      if (add_stream(l, path, b, -1.0, err)) return -1;
    }
    if (l->nb == 0)
      return tsr_err(err, "%s: data.buckets all: no bucket within the model's maximum %dx%dx%d", path, o->T, o->H, o->W);
    return 0;
  }
  char spec[1024];
  snprintf(spec, sizeof spec, "%s", o->buckets);
  for (char *save = NULL, *item = strtok_r(spec, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    int T, H, W, used = 0;
    double w = -1.0;
    char *colon = strchr(item, ':');
    if (colon) *colon = 0;
    if (sscanf(item, "%dx%dx%d%n", &T, &H, &W, &used) != 3 || item[used] ||
        (colon && (sscanf(colon + 1, "%lf%n", &w, &used) != 1 || colon[1 + used] || !(w > 0))))
      return tsr_err(err, "data.buckets: item \"%s%s%s\": expected TxHxW or TxHxW:weight (weight > 0), or \"all\"",
                     item, colon ? ":" : "", colon ? colon + 1 : "");
    const CorpusBucket *b = corpus_bucket(c, T, H, W);
    if (!b) return tsr_err(err, "%s: data.buckets: no bucket /buckets/%dx%dx%d in the corpus", path, T, H, W);
    if (!fits(o, b))
      return tsr_err(err, "%s: data.buckets: bucket %s is larger than the model's maximum %dx%dx%d", path, b->name,
                     o->T, o->H, o->W);
    for (int k = 0; k < l->nb; k++)
      if (l->st[k].cb == b) return tsr_err(err, "data.buckets: bucket %s listed twice", b->name);
    if (add_stream(l, path, b, w, err)) return -1;
  }
  if (l->nb == 0) return tsr_err(err, "data.buckets: \"%s\": no bucket listed", o->buckets);
  return 0;
}

// The options against the corpus (open in l); the streams found go to l->st.
static int check_corpus(Loader *l, const char *path, int pt, int ph, int pw, int channels, TsrErr *err) {
  const LoaderOptions *o = &l->o;
  const Corpus *c = &l->corpus;
  if (c->pt != pt || c->ph != ph || c->pw != pw || c->channels != channels)
    return tsr_err(err, "%s: /tokenizer patch %dx%dx%d with %d channels, but the model expects patch %dx%dx%d with %d "
                   "channels", path, c->pt, c->ph, c->pw, c->channels, pt, ph, pw, channels);
  if (!o->tokenize && c->text_length < o->text_length)
    return tsr_err(err, "%s: /tokenizer text_length %d is shorter than the model's text length %d (model.text.length)",
                   path, c->text_length, o->text_length);
  l->st = tsr_calloc(LOADER_MAX_BUCKETS, sizeof *l->st);
  if (l->multi) return choose_buckets(l, path, err);
  const CorpusBucket *b = corpus_bucket(c, o->T, o->H, o->W);
  if (!b) {
    char avail[768] = "";
    size_t len = 0;
    for (int i = 0; i < c->nbuckets && len + 64 < sizeof avail; i++)
      len += (size_t)snprintf(avail + len, sizeof avail - len, "%s%s (%d clips)", i ? ", " : "", c->buckets[i].name,
                              c->buckets[i].count);
    if (c->nbuckets == 0) snprintf(avail, sizeof avail, "none");
    return tsr_err(err, "%s: no bucket /buckets/%dx%dx%d for the model's video window; available: %s (data.buckets=all "
                   "trains on every bucket within the window)", path, o->T, o->H, o->W, avail);
  }
  return add_stream(l, path, b, 1.0, err);
}

static int check_options(const LoaderOptions *o, TsrErr *err) {
  if (o->dp_size < 1 || o->dp_rank < 0 || o->dp_rank >= o->dp_size)
    return tsr_err(err, "loader: dp_rank %d out of range for dp_size %d", o->dp_rank, o->dp_size);
  if (o->sp_size < 1 || o->sp_rank < 0 || o->sp_rank >= o->sp_size)
    return tsr_err(err, "loader: sp_rank %d out of range for sp_size %d", o->sp_rank, o->sp_size);
  if (o->batch < 1) return tsr_err(err, "loader: batch %d, expected >= 1", o->batch);
  if (o->text_length < 1) return tsr_err(err, "loader: text length %d, expected >= 1", o->text_length);
  if (o->prefetch < 0 || o->prefetch > 1024) return tsr_err(err, "loader: data.prefetch %d, expected 0..1024", o->prefetch);
  if (!(o->p_recaption >= 0 && o->p_recaption <= 1))
    return tsr_err(err, "loader: data.p_recaption %g, expected a probability in [0,1]", (double)o->p_recaption);
  if (!(o->p_drop >= 0 && o->p_drop <= 1))
    return tsr_err(err, "loader: data.p_drop %g, expected a probability in [0,1]", (double)o->p_drop);
  if (o->token_budget < 0) return tsr_err(err, "loader: data.tokens %lld, expected >= 0", (long long)o->token_budget);
  return 0;
}

Loader *loader_open(const char *path, const LoaderOptions *o, int pt, int ph, int pw, int channels, TsrErr *err) {
  if (check_options(o, err)) return NULL;
  Loader *l = tsr_calloc(1, sizeof *l);
  l->o = *o;
  l->multi = o->buckets && o->buckets[0];
  h5_lock();
  int rc = corpus_open(&l->corpus, path, err);  // validates format, shapes, dtypes
  h5_unlock();
  rc = rc || check_corpus(l, path, pt, ph, pw, channels, err);
  l->o.buckets = NULL;  // not kept: the caller's string
  if (rc) {
    loader_close(l);
    return NULL;
  }
  const Corpus *c = &l->corpus;
  l->P = l->st[0].cb->P;
  l->L = o->text_length;
  l->Lc = c->text_length;
  for (int k = 0; k < l->nb; k++) {
    const LoaderShape *sh = &l->st[k].shape;
    l->wsum += sh->weight;
    if (sh->B > l->maxB) l->maxB = sh->B;
    if ((size_t)sh->B * sh->nloc * l->P > l->max_x) l->max_x = (size_t)sh->B * sh->nloc * l->P;
  }
  if (o->tokenize && retokenize(l, path, err)) {
    loader_close(l);
    return NULL;
  }
  l->tokbuf = tsr_calloc((size_t)l->Lc, sizeof *l->tokbuf);

  l->nslots = o->prefetch;
  if (l->nslots) {
    const size_t B = (size_t)l->maxB;
    l->slots = tsr_calloc((size_t)l->nslots, sizeof *l->slots);
    for (int i = 0; i < l->nslots; i++) {
      Slot *s = &l->slots[i];
      s->x0 = tsr_calloc(l->max_x, sizeof *s->x0);
      s->tokens = tsr_calloc(B * (size_t)l->L, sizeof *s->tokens);
      s->ntokens = tsr_calloc(B, sizeof *s->ntokens);
      s->clip_ids = tsr_calloc(B, sizeof *s->clip_ids);
    }
    PT_CHECK(pthread_mutex_init(&l->mu, NULL));
    PT_CHECK(pthread_cond_init(&l->can_fill, NULL));
    PT_CHECK(pthread_cond_init(&l->can_take, NULL));
    tsr_on_shutdown(worker_shutdown, l);
  }
  worker_start(l);
  return l;
}

int loader_next_bucket(Loader *l, float *x0, int32_t *tokens, int32_t *ntokens, int64_t *clip_ids, int *bucket,
                       TsrErr *err) {
  if (l->nslots == 0) return read_batch(l, &l->cur, x0, tokens, ntokens, clip_ids, bucket, err);
  PT_CHECK(pthread_mutex_lock(&l->mu));
  while (l->count == 0 && !l->failed) PT_CHECK(pthread_cond_wait(&l->can_take, &l->mu));
  if (l->count == 0) {  // the worker failed on this batch: its error, on this thread
    PT_CHECK(pthread_mutex_unlock(&l->mu));
    if (err) *err = l->werr;
    return -1;
  }
  Slot *s = &l->slots[l->head];
  PT_CHECK(pthread_mutex_unlock(&l->mu));

  TSR_ASSERT(!memcmp(&s->at, &l->cur, sizeof s->at), "loader: prefetched batch out of order");
  const LoaderShape *sh = &l->st[s->bucket].shape;
  const size_t B = (size_t)sh->B;
  memcpy(x0, s->x0, B * (size_t)sh->nloc * (size_t)l->P * sizeof *x0);
  memcpy(tokens, s->tokens, B * (size_t)l->L * sizeof *tokens);
  memcpy(ntokens, s->ntokens, B * sizeof *ntokens);
  if (clip_ids) memcpy(clip_ids, s->clip_ids, B * sizeof *clip_ids);
  if (bucket) *bucket = s->bucket;
  l->cur = s->next;

  PT_CHECK(pthread_mutex_lock(&l->mu));
  l->head = (l->head + 1) % l->nslots;
  l->count--;
  PT_CHECK(pthread_cond_signal(&l->can_fill));
  PT_CHECK(pthread_mutex_unlock(&l->mu));
  return 0;
}

int loader_next(Loader *l, float *x0, int32_t *tokens, int32_t *ntokens, int64_t *clip_ids, TsrErr *err) {
  return loader_next_bucket(l, x0, tokens, ntokens, clip_ids, NULL, err);
}

int loader_nbuckets(const Loader *l) { return l->nb; }
LoaderShape loader_shape(const Loader *l, int bucket) {
  TSR_ASSERT(bucket >= 0 && bucket < l->nb, "loader bucket %d of %d", bucket, l->nb);
  return l->st[bucket].shape;
}
int loader_max_batch(const Loader *l) { return l->maxB; }
int64_t loader_max_tokens(const Loader *l) {
  int64_t m = 0;
  for (int k = 0; k < l->nb; k++) {
    const int64_t t = (int64_t)l->st[k].shape.B * l->st[k].shape.N;
    if (t > m) m = t;
  }
  return m;
}

LoaderCursor loader_cursor(const Loader *l) { return l->cur; }

void loader_seek(Loader *l, LoaderCursor c) {
  worker_stop(l);
  cursor_normalise(l, &c);
  l->cur = c;
  worker_start(l);
}

int loader_bucket_size(const Loader *l) { return l->st[0].shape.count; }

void loader_close(Loader *l) {
  if (!l) return;
  worker_stop(l);
  if (l->nslots) {
    tsr_on_shutdown_remove(worker_shutdown, l);
    for (int i = 0; i < l->nslots; i++) {
      tsr_free(l->slots[i].x0);
      tsr_free(l->slots[i].tokens);
      tsr_free(l->slots[i].ntokens);
      tsr_free(l->slots[i].clip_ids);
    }
    tsr_free(l->slots);
    PT_CHECK(pthread_cond_destroy(&l->can_take));
    PT_CHECK(pthread_cond_destroy(&l->can_fill));
    PT_CHECK(pthread_mutex_destroy(&l->mu));
  }
  h5_lock();
  corpus_close(&l->corpus);
  h5_unlock();
  for (int k = 0; l->st && k < l->nb; k++) {
    tsr_free(l->st[k].perm);
    tsr_free(l->st[k].ids);
    tsr_free(l->st[k].nids);
  }
  tsr_free(l->st);
  tsr_free(l->null_ids);
  tsr_free(l->tokbuf);
  tsr_free(l);
}
