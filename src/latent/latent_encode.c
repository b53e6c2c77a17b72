// A pixel corpus encoded through a VAE into a latent corpus (latent_encode.h).
#include "latent/latent_encode.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "core/sha256.h"
#include "data/corpus.h"
#include "kernels/backend.h"
#include "kernels/ops.h"
#include "vae/vae.h"
#include "vae/vae_ckpt.h"

typedef struct {
  const LatentEncodeOptions *o;
  CommGroup *world;
  Corpus c;
  Vae v;
  char sha[65];
  CorpusWriter *w;  // rank 0
  double *sum, *sumsq;  // [Z], over every stored (float16) latent value, in clip order (rank 0)
  int64_t nsites;       // latent sites counted (each has Z values)
} Enc;

static int rank(const Enc *e) { return e->world->rank; }

// Every rank's rc agreed: -1 on all when any failed (err keeps the failing rank's line).
static int agree(int rc) { return comm_world_first_failure(rc != 0) >= 0 ? -1 : 0; }

// Checks every rank makes alike before anything is written.
static int check_input(Enc *e, TsrErr *err) {
  const LatentEncodeOptions *o = e->o;
  const Corpus *c = &e->c;
  const VaeConfig *vc = &e->v.cfg;
  if (!strcmp(o->in, o->out))
    return tsr_err(err, "%s: --out: expected another file than the input corpus", o->out);
  if (c->latent)
    return tsr_err(err, "%s: already a latent corpus (vae_sha256 %.12s...): expected a pixel corpus", o->in, c->vae_sha256);
  if (c->channels != vc->in_channels)
    return tsr_err(err, "%s: /tokenizer attribute 'channels' is %d, but the VAE %s encodes %d channels (vae.in_channels)",
                   o->in, c->channels, o->vae, vc->in_channels);
  int nonempty = 0;
  for (int i = 0; i < c->nbuckets; i++) {
    const CorpusBucket *b = &c->buckets[i];
    if (b->count == 0) continue;
    nonempty++;
    char what[400];
    snprintf(what, sizeof what, "%s: bucket /buckets/%s", o->in, b->name);
    if (vae_check_clip(vc, b->T, b->H, b->W, what, err)) return -1;
    const int t = vae_latent_t(vc, b->T), h = b->H / vc->cs, w = b->W / vc->cs;
    if (t % o->pt || h % o->ph || w % o->pw)
      return tsr_err(err, "%s: bucket /buckets/%s: its latent grid %dx%dx%d is not divisible by the latent patch %dx%dx%d "
                     "(--patch)", o->in, b->name, t, h, w, o->pt, o->ph, o->pw);
  }
  if (!nonempty) return tsr_err(err, "%s: expected at least one clip, found none", o->in);
  return 0;
}

static int open_all(Enc *e, TsrErr *err) {
  const LatentEncodeOptions *o = e->o;
  VaeConfig cfg;
  if (vae_ckpt_read_config(o->vae, &cfg, err)) return -1;
  vae_build(&e->v, &cfg, backend_cpu());
  if (vae_ckpt_load(o->vae, &e->v, NULL, NULL, err)) return -1;
  if (sha256_file(o->vae, e->sha, NULL)) return tsr_err(err, "%s: cannot read: %s", o->vae, strerror(errno));
  if (corpus_open(&e->c, o->in, err) || check_input(e, err)) return -1;
  return 0;
}

static int open_writer(Enc *e, TsrErr *err) {
  const LatentEncodeOptions *o = e->o;
  const int Z = e->v.cfg.latent_channels;
  e->w = corpus_writer_open(o->out, o->pt, o->ph, o->pw, Z, e->c.text_length, err);
  if (!e->w) return -1;
  corpus_writer_set_vocab_words(e->w, e->c.vocab, e->c.vocab_size);  // the same token ids
  corpus_writer_set_latent(e->w, e->sha, e->v.cfg.ct, e->v.cfg.cs);
  e->sum = calloc((size_t)Z, sizeof(double));
  e->sumsq = calloc((size_t)Z, sizeof(double));
  TSR_ASSERT(e->sum && e->sumsq, "out of memory");
  return 0;
}

// Clip i of bucket b: pixels from the corpus, encoded to lat [T',H',W',Z].
static int encode_clip(Enc *e, const CorpusBucket *b, int i, float *patches, float *clip, float *lat, TsrErr *err) {
  if (corpus_read_patches(&e->c, b, i, 0, b->N, patches, err)) return -1;
  // an image bucket (T = 1) holds still temporal patches: unpatchified to pt frames, the first encoded
  unpatchify(clip, patches, 1, corpus_grid_t(b->T, e->c.pt) * e->c.pt, b->H, b->W, e->c.channels, e->c.pt, e->c.ph,
             e->c.pw);
  vae_encode(&e->v, clip, lat);
  return 0;
}

// The numeric meta/ columns of bucket b (rank 0); *fps the meta/fps column if there is one.
static float **read_meta(Enc *e, const CorpusBucket *b, float **fps, TsrErr *err) {
  const int nmeta = corpus_meta_count(&e->c, b);
  float **meta = calloc((size_t)nmeta + 1, sizeof *meta);
  TSR_ASSERT(meta, "out of memory");
  *fps = NULL;
  for (int k = 0; k < nmeta; k++) {
    int width;
    const char *name = corpus_meta_name(&e->c, b, k, &width);
    meta[k] = malloc(sizeof(float) * (size_t)b->count * (size_t)width);
    TSR_ASSERT(meta[k], "out of memory");
    if (corpus_read_meta(&e->c, b, k, meta[k], err)) return meta;  // caller frees; err set
    if (!strcmp(name, "fps") && width == 1) *fps = meta[k];
  }
  return meta;
}

// Rank 0: clip i's latent, texts and meta rows into the writer; the statistics.
static int write_clip(Enc *e, const CorpusBucket *b, int i, const float *lat, float **meta, const float *fps,
                      int t, int h, int w, TsrErr *err) {
  const int Z = e->v.cfg.latent_channels;
  char *cap = corpus_read_caption(&e->c, b, i, CORPUS_CAPTION, err), *rec = NULL, *src = NULL;
  int rc = -1;
  if (cap && (rec = corpus_read_caption(&e->c, b, i, CORPUS_RECAPTION, err)) &&
      (src = corpus_read_caption(&e->c, b, i, CORPUS_SOURCE, err))) {
    CorpusClip cc = {.caption = cap, .recaption = rec, .source = src, .fps = fps ? fps[i] : 0.0f};
    rc = corpus_writer_add_latent(e->w, t, h, w, &cc, lat, err);
  }
  free(cap), free(rec), free(src);
  if (rc) return -1;
  for (int k = 0; k < corpus_meta_count(&e->c, b); k++) {
    int width;
    const char *name = corpus_meta_name(&e->c, b, k, &width);
    if (meta[k] != fps) corpus_writer_meta(e->w, t, h, w, name, meta[k] + (size_t)i * width, width);
  }
  const size_t sites = (size_t)t * h * w;
  for (size_t s = 0; s < sites; s++)
    for (int z = 0; z < Z; z++) {
      const double v = f16_to_f32(f32_to_f16(lat[s * Z + z]));  // the value as stored
      e->sum[z] += v, e->sumsq[z] += v * v;
    }
  e->nsites += (int64_t)sites;
  return 0;
}

// One bucket: blocks of size * per_rank clips, each rank its slice, gathered, rank 0 writes.
static int encode_bucket(Enc *e, const CorpusBucket *b, TsrErr *err) {
  const LatentEncodeOptions *o = e->o;
  const VaeConfig *vc = &e->v.cfg;
  const int t = vae_latent_t(vc, b->T), h = b->H / vc->cs, w = b->W / vc->cs, Z = vc->latent_channels;
  const int R = e->world->size, K = o->per_rank;
  const size_t L = (size_t)t * h * w * Z;
  if (agree(vae_alloc(&e->v, 1, b->T, b->H, b->W, VAE_INFER, err))) return -1;
  float *patches = malloc(sizeof(float) * (size_t)b->N * b->P);
  float *clip = malloc(sizeof(float) * (size_t)corpus_grid_t(b->T, e->c.pt) * e->c.pt * b->H * b->W * e->c.channels);
  float *mine = calloc((size_t)K * L, sizeof(float)), *all = malloc(sizeof(float) * (size_t)R * K * L);
  TSR_ASSERT(patches && clip && mine && all, "out of memory (a block of %d x %d latents)", R, K);
  float **meta = NULL, *fps = NULL;
  int rc = 0;
  if (rank(e) == 0) {
    meta = read_meta(e, b, &fps, err);
    rc = err->code ? -1 : 0;
  }
  rc = agree(rc);
  for (int base = 0; rc == 0 && base < b->count; base += R * K) {
    for (int j = 0; rc == 0 && j < K; j++) {
      const int i = base + rank(e) * K + j;
      if (i < b->count) rc = encode_clip(e, b, i, patches, clip, mine + (size_t)j * L, err);
    }
    if ((rc = agree(rc))) break;
    comm_allgather(e->world, mine, all, K * L, COMM_F32);
    const int n = b->count - base < R * K ? b->count - base : R * K;
    for (int k = 0; rc == 0 && k < n; k++)  // every rank: the same verdict on the same values
      for (size_t q = 0; q < L; q++)
        if (!isfinite(all[(size_t)k * L + q])) {
          rc = tsr_err(err, "%s: bucket /buckets/%s: clip %d: the VAE %s gave a non-finite latent (value %zu is %g): "
                       "expected finite values", o->in, b->name, base + k, o->vae, q, (double)all[(size_t)k * L + q]);
          break;
        }
    if (rc) {
      if (rank(e) != 0) tsr_err_clear(err);  // rank 0 reports it, once
      rc = agree(rank(e) == 0);
      break;
    }
    if (rank(e) == 0)
      for (int k = 0; rc == 0 && k < n; k++) rc = write_clip(e, b, base + k, all + (size_t)k * L, meta, fps, t, h, w, err);
    rc = agree(rc);
  }
  if (meta)
    for (int k = 0; k < corpus_meta_count(&e->c, b); k++) free(meta[k]);
  free(meta);
  free(patches), free(clip), free(mine), free(all);
  return rc;
}

// Rank 0: mean and population std per channel; a constant channel gets std 1.
static void set_stats(Enc *e) {
  const int Z = e->v.cfg.latent_channels;
  float *mean = malloc(sizeof(float) * (size_t)Z), *std = malloc(sizeof(float) * (size_t)Z);
  TSR_ASSERT(mean && std, "out of memory");
  for (int z = 0; z < Z; z++) {
    const double m = e->sum[z] / (double)e->nsites, var = e->sumsq[z] / (double)e->nsites - m * m;
    mean[z] = (float)m;
    std[z] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
  }
  corpus_writer_set_latent_stats(e->w, mean, std);
  free(mean), free(std);
}

int latent_encode_corpus(const LatentEncodeOptions *opts, CommGroup *world, LatentEncodeReport *rep, TsrErr *err) {
  LatentEncodeOptions o = *opts;
  if (o.pt <= 0) o.pt = 1, o.ph = 2, o.pw = 2;
  if (o.per_rank <= 0) o.per_rank = 4;
  Enc e = {.o = &o, .world = world};
  memset(rep, 0, sizeof *rep);
  int rc = agree(open_all(&e, err));
  if (rc == 0) rc = agree(rank(&e) == 0 ? open_writer(&e, err) : 0);
  for (int i = 0; rc == 0 && i < e.c.nbuckets; i++) {
    const CorpusBucket *b = &e.c.buckets[i];
    if (b->count == 0) continue;
    rc = encode_bucket(&e, b, err);
    rep->clips += b->count, rep->buckets++;
  }
  if (rc == 0 && rank(&e) == 0) {
    set_stats(&e);
    CorpusWriter *w = e.w;
    e.w = NULL;
    rc = corpus_writer_close(w, err);
  }
  rc = agree(rc);
  rep->Z = e.v.cfg.latent_channels;
  corpus_writer_abort(e.w);
  free(e.sum), free(e.sumsq);
  corpus_close(&e.c);
  if (e.v.n_nodes) vae_free(&e.v);
  return rc;
}
