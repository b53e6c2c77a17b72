// Loader tests: shard disjointness and coverage at dp = 1, 2, 3, the shuffle's
// determinism, sp token slices, cursor save/seek (prefetch on and off, across
// an epoch boundary), caption choice frequencies, prefetch on == off, and bad
// options (exit 2, one line). Run from the repo root; files under build/tmp/.
//
//   build/tests/test_loader           the tests
//   build/tests/test_loader --bench   loader samples/s (16x32x32x3, batch 4,
//                                     prefetch 2 vs 0), one JSON line per case
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/h5io.h"
#include "data/corpus.h"
#include "data/loader.h"
#include "testlib.h"

#define PATH "build/tmp/test_loader.h5"
#define NCLIPS 23
#define CT 4
#define CH 8
#define CW 8
#define CC 3
#define PT 2
#define PHS 4
#define PWS 4
#define NTOK ((CT / PT) * (CH / PHS) * (CW / PWS))  // 8
#define PDIM (PT * PHS * PWS * CC)                 // 96
#define LC 16                                      // corpus text length
#define LM 12                                      // model text length (< LC: truncation)

static float ref_patches[NCLIPS][NTOK * PDIM];
static int32_t ref_tok[NCLIPS][2][LC], ref_nt[NCLIPS][2];

// Pixel (t,h,w,c) of clip i: channel 0 is the clip index, the others vary.
static uint8_t pixel(int i, int t, int h, int w, int c) {
  if (c == 0) return (uint8_t)i;
  if (c == 1) return (uint8_t)(t * 64 + h * 8 + w);
  return (uint8_t)(i * 31 + t * 7 + h * 3 + w * 5);
}

static void make_dirs(void) {
  mkdir("build", 0755);
  mkdir("build/tmp", 0755);
}

static void make_corpus(void) {
  make_dirs();
  CorpusWriter *w = MUST_PTR(corpus_writer_open(PATH, PT, PHS, PWS, CC, LC, &tl_err));
  static uint8_t px[CT * CH * CW * CC];
  char cap[128], rec[256];
  for (int i = 0; i < NCLIPS; i++) {
    for (int t = 0; t < CT; t++)
      for (int h = 0; h < CH; h++)
        for (int x = 0; x < CW; x++)
          for (int c = 0; c < CC; c++) px[((t * CH + h) * CW + x) * CC + c] = pixel(i, t, h, x, c);
    snprintf(cap, sizeof cap, "clip %d short", i);
    snprintf(rec, sizeof rec,
             "clip %d long a descriptive caption that keeps going with many more words than the text length holds", i);
    CorpusClip clip = {.pixels = px, .caption = cap, .recaption = rec, .source = "synth", .fps = 8};
    MUST(corpus_writer_add(w, CT, CH, CW, &clip, &tl_err));
  }
  // A second bucket, so the "available" list of a missing-bucket error has two entries.
  static uint8_t px2[2 * CH * CW * CC];
  for (int i = 0; i < 3; i++) {
    memset(px2, 200 + i, sizeof px2);
    CorpusClip clip = {.pixels = px2, .caption = "other short", .recaption = "other long", .source = "synth", .fps = 8};
    MUST(corpus_writer_add(w, 2, CH, CW, &clip, &tl_err));
  }
  MUST(corpus_writer_close(w, &tl_err));

  // Reference patches (token (t,h,w) row-major, patch vector (pt,ph,pw,C)).
  const int gh = CH / PHS, gw = CW / PWS;
  for (int i = 0; i < NCLIPS; i++)
    for (int n = 0; n < NTOK; n++) {
      int tt = n / (gh * gw), hh = (n / gw) % gh, ww = n % gw, k = 0;
      for (int a = 0; a < PT; a++)
        for (int b = 0; b < PHS; b++)
          for (int d = 0; d < PWS; d++)
            for (int c = 0; c < CC; c++)
              ref_patches[i][n * PDIM + k++] = pixel(i, tt * PT + a, hh * PHS + b, ww * PWS + d, c) / 127.5f - 1.0f;
    }
  // Reference tokens through the reader (no loader is open yet).
  Corpus cp;
  MUST(corpus_open(&cp, PATH, &tl_err));
  const CorpusBucket *b = corpus_bucket(&cp, CT, CH, CW);
  EXPECT(b && b->count == NCLIPS && b->N == NTOK && b->P == PDIM, "corpus bucket shape");
  EXPECT(cp.text_length == LC, "corpus text length %d", cp.text_length);
  for (int i = 0; i < NCLIPS; i++)
    for (int which = 0; which < 2; which++) MUST(corpus_read_tokens(&cp, b, i, which, ref_tok[i][which], &ref_nt[i][which], &tl_err));
  corpus_close(&cp);
  EXPECT(ref_nt[0][1] > LM, "recaption longer than the model's L (%d tokens)", ref_nt[0][1]);
}

static LoaderOptions base_opts(void) {
  return (LoaderOptions){.dp_rank = 0, .dp_size = 1, .sp_rank = 0, .sp_size = 1, .batch = 4, .seed = 42,
                         .p_recaption = 0.9f, .p_drop = 0.1f, .text_length = LM, .T = CT, .H = CH, .W = CW,
                         .prefetch = 2};
}

// Recorded batches.
typedef struct {
  int nb, B, nloc;
  float *x0;
  int32_t *tok, *nt;
  int64_t *ids;
  LoaderCursor *cur;  // cursor before each batch
} Rec;

static Rec rec_alloc(int nb, int B, int nloc) {
  Rec r = {nb, B, nloc, NULL, NULL, NULL, NULL, NULL};
  r.x0 = calloc((size_t)nb * B * nloc * PDIM, sizeof *r.x0);
  r.tok = calloc((size_t)nb * B * LM, sizeof *r.tok);
  r.nt = calloc((size_t)nb * B, sizeof *r.nt);
  r.ids = calloc((size_t)nb * B, sizeof *r.ids);
  r.cur = calloc((size_t)nb, sizeof *r.cur);
  return r;
}
static void rec_free(Rec *r) {
  free(r->x0); free(r->tok); free(r->nt); free(r->ids); free(r->cur);
}
static void rec_read(Loader *l, Rec *r, int from, int count) {
  for (int k = from; k < from + count; k++) {
    r->cur[k] = loader_cursor(l);
    MUST(loader_next(l, r->x0 + (size_t)k * r->B * r->nloc * PDIM, r->tok + (size_t)k * r->B * LM,
                     r->nt + (size_t)k * r->B, r->ids + (size_t)k * r->B, &tl_err));
  }
}
static Rec record(const LoaderOptions *o, int nb) {
  Loader *l = MUST_PTR(loader_open(PATH, o, PT, PHS, PWS, CC, &tl_err));
  Rec r = rec_alloc(nb, o->batch, NTOK / o->sp_size);
  rec_read(l, &r, 0, nb);
  loader_close(l);
  return r;
}
// Batches [a, a+n) of r equal batches [b, b+n) of s, bit for bit.
static int rec_same(const Rec *r, int a, const Rec *s, int b, int n) {
  size_t bx = (size_t)r->B * r->nloc * PDIM, bt = (size_t)r->B * LM, bb = (size_t)r->B;
  return !memcmp(r->x0 + a * bx, s->x0 + b * bx, n * bx * sizeof(float)) &&
         !memcmp(r->tok + a * bt, s->tok + b * bt, n * bt * sizeof(int32_t)) &&
         !memcmp(r->nt + a * bb, s->nt + b * bb, n * bb * sizeof(int32_t)) &&
         !memcmp(r->ids + a * bb, s->ids + b * bb, n * bb * sizeof(int64_t));
}
static int cur_eq(LoaderCursor a, LoaderCursor b) {
  return a.epoch == b.epoch && a.position == b.position && a.batches == b.batches;
}

// Rows hold the right clip's patches and one of its captions (or the null caption).
static void test_contents(void) {
  LoaderOptions o = base_opts();
  Rec r = record(&o, 12);
  int bad_x = 0, bad_id = 0, bad_tok = 0;
  for (int k = 0; k < r.nb * r.B; k++) {
    int id = (int)r.ids[k];
    const float *x = r.x0 + (size_t)k * NTOK * PDIM;
    if (id < 0 || id >= NCLIPS) { bad_id++; continue; }
    if (lrintf((x[0] + 1.0f) * 127.5f) != id) bad_id++;
    for (int j = 0; j < NTOK * PDIM; j++)
      if (fabsf(x[j] - ref_patches[id][j]) > 1e-6f) { bad_x++; break; }
    const int32_t *t = r.tok + (size_t)k * LM;
    int ok = 0;
    if (r.nt[k] == 1 && t[0] == 1) {
      ok = 1;
      for (int j = 1; j < LM; j++) ok &= t[j] == 0;
    }
    for (int which = 0; which < 2 && !ok; which++) {
      int nt = ref_nt[id][which] < LM ? ref_nt[id][which] : LM;
      ok = r.nt[k] == nt && !memcmp(t, ref_tok[id][which], LM * sizeof *t);
    }
    if (!ok) bad_tok++;
  }
  EXPECT(!bad_id, "contents: %d rows whose clip id disagrees with their pixels", bad_id);
  EXPECT(!bad_x, "contents: %d rows whose patches differ from the clip's", bad_x);
  EXPECT(!bad_tok, "contents: %d rows whose tokens are none of the clip's captions", bad_tok);
  printf("  ok  contents: %d rows, patches/ids/captions match the corpus\n", r.nb * r.B);
  rec_free(&r);
}

// dp = 1, 2, 3: each epoch's rank shards are disjoint, cover the bucket, and
// are the dp=1 permutation dealt round-robin.
static void test_shards(void) {
  LoaderOptions o = base_opts();
  o.batch = 4;
  const int epochs = 3;
  Rec one = record(&o, (epochs * NCLIPS + o.batch - 1) / o.batch);  // dp=1 stream: the permutations
  for (int dp = 1; dp <= 3; dp++) {
    int count[3][NCLIPS] = {{0}};  // [epoch][clip]
    int order_bad = 0, cursor_bad = 0;
    for (int r = 0; r < dp; r++) {
      o.dp_rank = r;
      o.dp_size = dp;
      o.prefetch = r % 2 ? 0 : 3;
      const int shard = (NCLIPS - r + dp - 1) / dp;
      const int nb = (epochs * shard + o.batch - 1) / o.batch;
      Loader *l = MUST_PTR(loader_open(PATH, &o, PT, PHS, PWS, CC, &tl_err));
      EXPECT(loader_bucket_size(l) == NCLIPS, "bucket size %d", loader_bucket_size(l));
      Rec s = rec_alloc(nb, o.batch, NTOK);
      rec_read(l, &s, 0, nb);
      for (int k = 0; k < nb; k++) {  // cursor before batch k: k*B clips into the stream
        uint64_t done = (uint64_t)k * o.batch;
        LoaderCursor want = {.epoch = done / shard, .position = done % shard, .batches = (uint64_t)k};
        if (!cur_eq(s.cur[k], want)) cursor_bad++;
      }
      for (int e = 0; e < epochs; e++)
        for (int p = 0; p < shard; p++) {
          int64_t id = s.ids[e * shard + p];
          count[e][id]++;
          if (id != one.ids[e * NCLIPS + r + p * dp]) order_bad++;
        }
      loader_close(l);
      rec_free(&s);
    }
    int bad = 0;
    for (int e = 0; e < epochs; e++)
      for (int i = 0; i < NCLIPS; i++) bad += count[e][i] != 1;
    EXPECT(!bad, "dp=%d: %d (epoch, clip) pairs not drawn exactly once over the ranks", dp, bad);
    EXPECT(!order_bad, "dp=%d: %d draws differ from the dp=1 permutation dealt round-robin", dp, order_bad);
    EXPECT(!cursor_bad, "dp=%d: %d cursors off", dp, cursor_bad);
    if (!bad && !order_bad && !cursor_bad)
      printf("  ok  dp=%d: %d epochs, ranks disjoint, union = all %d clips once per epoch\n", dp, epochs, NCLIPS);
  }
  rec_free(&one);
}

static int same_order(const Rec *a, int ea, const Rec *b, int eb) {
  for (int p = 0; p < NCLIPS; p++)
    if (a->ids[ea * NCLIPS + p] != b->ids[eb * NCLIPS + p]) return 0;
  return 1;
}

static void test_determinism(void) {
  LoaderOptions o = base_opts();
  o.batch = 1;
  Rec a = record(&o, 2 * NCLIPS), b = record(&o, 2 * NCLIPS);
  o.seed = 43;
  Rec c = record(&o, 2 * NCLIPS);
  EXPECT(rec_same(&a, 0, &b, 0, 2 * NCLIPS), "same seed: different batches");
  EXPECT(!same_order(&a, 0, &a, 1), "epochs 0 and 1 in the same order");
  EXPECT(!same_order(&a, 0, &c, 0) && !same_order(&a, 1, &c, 1), "seeds 42 and 43 in the same order");
  int identity = 1;
  for (int p = 0; p < NCLIPS; p++) identity &= a.ids[p] == p;
  EXPECT(!identity, "epoch 0 not shuffled");
  printf("  ok  determinism: same seed same batches; epochs and seeds reorder\n");
  rec_free(&a); rec_free(&b); rec_free(&c);
}

// sp ranks' token slices, concatenated, are the sp=1 batch.
static void test_sp(void) {
  LoaderOptions o = base_opts();
  o.batch = 3;
  const int nb = 17;
  Rec full = record(&o, nb);
  for (int sp = 2; sp <= NTOK; sp *= 2) {
    int bad = 0;
    for (int r = 0; r < sp; r++) {
      o.sp_rank = r;
      o.sp_size = sp;
      o.prefetch = r % 2 ? 2 : 0;
      Rec s = record(&o, nb);
      const int nloc = NTOK / sp;
      for (int k = 0; k < nb * o.batch; k++) {
        if (memcmp(s.x0 + (size_t)k * nloc * PDIM, full.x0 + ((size_t)k * NTOK + (size_t)r * nloc) * PDIM,
                   (size_t)nloc * PDIM * sizeof(float)))
          bad++;
        if (s.ids[k] != full.ids[k] || s.nt[k] != full.nt[k] ||
            memcmp(s.tok + (size_t)k * LM, full.tok + (size_t)k * LM, LM * sizeof(int32_t)))
          bad++;
      }
      rec_free(&s);
    }
    EXPECT(!bad, "sp=%d: %d rows whose slices do not concatenate to the sp=1 row", sp, bad);
    if (!bad) printf("  ok  sp=%d: token slices concatenate to the sp=1 batch exactly\n", sp);
  }
  o.sp_rank = 0;
  o.sp_size = 1;
  rec_free(&full);
}

// Save the cursor after k batches; a new loader and the same loader seek there
// and deliver the m recorded batches, bit for bit.
static void test_cursor(void) {
  for (int dp = 1; dp <= 2; dp++)
    for (int pf = 0; pf <= 3; pf += 3) {
      LoaderOptions o = base_opts();
      o.dp_size = dp;
      o.dp_rank = dp - 1;
      o.prefetch = pf;
      o.batch = 4;
      const int k = 3, m = 9;  // 48 clips on this rank: crosses epoch boundaries
      Loader *l = MUST_PTR(loader_open(PATH, &o, PT, PHS, PWS, CC, &tl_err));
      Rec r = rec_alloc(k + m, o.batch, NTOK);
      rec_read(l, &r, 0, k);
      LoaderCursor saved = loader_cursor(l);
      rec_read(l, &r, k, m);
      LoaderCursor end = loader_cursor(l);
      EXPECT(end.epoch >= saved.epoch + 1, "cursor test does not cross an epoch");
      EXPECT(saved.batches == (uint64_t)k && end.batches == (uint64_t)(k + m), "cursor batch counts");

      // Same loader (prefetch ring full of later batches), seek back.
      Rec s = rec_alloc(m, o.batch, NTOK);
      loader_seek(l, saved);
      EXPECT(cur_eq(loader_cursor(l), saved), "cursor after seek");
      rec_read(l, &s, 0, m);
      EXPECT(rec_same(&s, 0, &r, k, m), "dp=%d prefetch=%d: same loader seek: batches differ", dp, pf);
      EXPECT(cur_eq(loader_cursor(l), end), "cursor after replay");
      loader_close(l);

      // New loader, the other prefetch setting, seek.
      o.prefetch = pf ? 0 : 2;
      l = MUST_PTR(loader_open(PATH, &o, PT, PHS, PWS, CC, &tl_err));
      loader_seek(l, saved);
      rec_read(l, &s, 0, m);
      EXPECT(rec_same(&s, 0, &r, k, m), "dp=%d prefetch=%d->%d: new loader seek: batches differ", dp, pf, o.prefetch);
      // Seek to the start: the first k batches again.
      loader_seek(l, (LoaderCursor){.epoch = 0});
      rec_read(l, &s, 0, k);
      EXPECT(rec_same(&s, 0, &r, 0, k), "dp=%d: seek to start: batches differ", dp);
      loader_close(l);
      rec_free(&s);
      rec_free(&r);
      printf("  ok  cursor dp=%d rank %d prefetch %d: save after %d, replay %d (same and new loader)\n", dp, dp - 1, pf, k,
             m);
    }

  // Many seeks, back and forth, while the worker runs (exercises stop/restart).
  LoaderOptions o = base_opts();
  o.prefetch = 4;
  o.batch = 2;
  const int nb = 40;
  Rec ref = record(&o, nb);
  Loader *l = MUST_PTR(loader_open(PATH, &o, PT, PHS, PWS, CC, &tl_err));
  Rec s = rec_alloc(1, o.batch, NTOK);
  int bad = 0;
  for (int it = 0; it < 300; it++) {
    int k = (int)(rng_uniform(7, RNG_TEST, (uint32_t)it, 0, 0) * nb);
    loader_seek(l, ref.cur[k]);
    int reads = (int)(rng_uniform(7, RNG_TEST, (uint32_t)it, 1, 0) * 4);
    for (int j = 0; j < reads && k + j < nb; j++) {
      rec_read(l, &s, 0, 1);
      bad += !rec_same(&s, 0, &ref, k + j, 1);
    }
  }
  loader_close(l);
  EXPECT(!bad, "random seeks: %d batches differ", bad);
  if (!bad) printf("  ok  300 random seeks with prefetch 4: every batch as recorded\n");
  // Open and close at once (worker stopped before it ran).
  for (int i = 0; i < 20; i++) loader_close(MUST_PTR(loader_open(PATH, &o, PT, PHS, PWS, CC, &tl_err)));
  rec_free(&s);
  rec_free(&ref);
}

// The main thread writes HDF5 files (as a checkpoint save does, under
// h5_lock) while the prefetch thread reads the corpus: batches unaffected.
static void test_concurrent_hdf5(void) {
  LoaderOptions o = base_opts();
  o.prefetch = 0;
  const int nb = 40;
  Rec ref = record(&o, nb);
  o.prefetch = 3;
  Loader *l = MUST_PTR(loader_open(PATH, &o, PT, PHS, PWS, CC, &tl_err));
  Rec s = rec_alloc(1, o.batch, NTOK);
  float vals[256];
  for (int i = 0; i < 256; i++) vals[i] = (float)i;
  int bad = 0;
  for (int k = 0; k < nb; k++) {
    h5_lock();
    hid_t f = h5_create("build/tmp/test_loader_side.h5");
    int64_t dims[1] = {256};
    h5_write(f, "params/x", H5T_NATIVE_FLOAT, vals, 1, dims);
    h5_attr_int(f, "step", k);
    h5_close(f);
    h5_unlock();
    rec_read(l, &s, 0, 1);
    bad += !rec_same(&s, 0, &ref, k, 1);
  }
  loader_close(l);
  remove("build/tmp/test_loader_side.h5");
  EXPECT(!bad, "HDF5 writes beside the prefetch thread: %d batches differ", bad);
  if (!bad) printf("  ok  main thread writes HDF5 under h5_lock while prefetching: %d batches as recorded\n", nb);
  rec_free(&s);
  rec_free(&ref);
}

static void test_prefetch_equal(void) {
  LoaderOptions o = base_opts();
  o.batch = 5;
  const int nb = 30;
  o.prefetch = 0;
  Rec a = record(&o, nb);
  for (int pf = 1; pf <= 8; pf *= 2) {
    o.prefetch = pf;
    Rec b = record(&o, nb);
    EXPECT(rec_same(&a, 0, &b, 0, nb), "prefetch %d differs from prefetch 0", pf);
    rec_free(&b);
  }
  printf("  ok  prefetch 1, 2, 4, 8 give the batches of prefetch 0\n");
  rec_free(&a);
}

// Caption classes over a recorded stream: null, short, recaption.
static void caption_counts(const Rec *r, int *null_, int *shrt, int *recap) {
  *null_ = *shrt = *recap = 0;
  for (int k = 0; k < r->nb * r->B; k++) {
    const int32_t *t = r->tok + (size_t)k * LM;
    int id = (int)r->ids[k];
    if (r->nt[k] == 1 && t[0] == 1 && t[1] == 0) (*null_)++;
    else if (!memcmp(t, ref_tok[id][0], LM * sizeof *t)) (*shrt)++;
    else if (!memcmp(t, ref_tok[id][1], LM * sizeof *t)) (*recap)++;
  }
}

static void test_captions(void) {
  LoaderOptions o = base_opts();
  o.batch = 8;
  o.prefetch = 2;
  const int nb = 1000, n = nb * 8;
  o.p_recaption = 0.9f;
  o.p_drop = 0.1f;
  Rec r = record(&o, nb);
  int cn, cs, cr;
  caption_counts(&r, &cn, &cs, &cr);
  EXPECT(cn + cs + cr == n, "captions: %d of %d rows unclassified", n - cn - cs - cr, n);
  const double pn = 0.1, ps = 0.9 * 0.1, pr = 0.9 * 0.9;
  double zn = (cn - n * pn) / sqrt(n * pn * (1 - pn)), zs = (cs - n * ps) / sqrt(n * ps * (1 - ps)),
         zr = (cr - n * pr) / sqrt(n * pr * (1 - pr));
  EXPECT(fabs(zn) < 4 && fabs(zs) < 4 && fabs(zr) < 4, "caption frequencies off: z = %.2f %.2f %.2f", zn, zs, zr);
  printf("  ok  p_recaption 0.9 p_drop 0.1 over %d draws: null %.4f (z %.2f) short %.4f (z %.2f) recaption %.4f (z %.2f)\n",
         n, (double)cn / n, zn, (double)cs / n, zs, (double)cr / n, zr);
  // Long captions truncated to the model's L.
  int trunc_bad = 0;
  for (int k = 0; k < n; k++)
    if (r.nt[k] > LM) trunc_bad++;
  EXPECT(!trunc_bad, "%d rows with ntokens > L", trunc_bad);
  rec_free(&r);

  const int nb2 = 50, n2 = nb2 * 8;
  o.p_drop = 1;
  r = record(&o, nb2);
  caption_counts(&r, &cn, &cs, &cr);
  EXPECT(cn == n2, "p_drop 1: %d of %d null", cn, n2);
  rec_free(&r);
  o.p_drop = 0;
  o.p_recaption = 0;
  r = record(&o, nb2);
  caption_counts(&r, &cn, &cs, &cr);
  EXPECT(cs == n2, "p_recaption 0: %d of %d short", cs, n2);
  rec_free(&r);
  o.p_recaption = 1;
  r = record(&o, nb2);
  caption_counts(&r, &cn, &cs, &cr);
  EXPECT(cr == n2, "p_recaption 1: %d of %d recaptions", cr, n2);
  int ntl = 1;
  for (int k = 0; k < n2; k++) ntl &= r.nt[k] == LM;
  EXPECT(ntl, "p_recaption 1: recaptions not truncated to L = %d", LM);
  rec_free(&r);
  printf("  ok  p_drop 1 -> all null; p_recaption 0 -> all short; p_recaption 1 -> all recaptions (ntokens = L)\n");
}

// loader_open refuses: NULL, one line holding `want`, and nothing left open in HDF5.
static void expect_user_error(const char *what, const char *path, LoaderOptions o, int pt, int ph, int pw, int ch,
                              const char *want) {
  TsrErr err = {0};
  Loader *l = loader_open(path, &o, pt, ph, pw, ch, &err);
  ssize_t open_objects = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  int ok = !l && err.code == TSR_EXIT_USER && strstr(err.msg, want) && !strchr(err.msg, '\n') && open_objects == 0;
  EXPECT(ok, "%s: loader %s, code %d, %zd HDF5 objects open, message: %s", what, l ? "opened" : "refused", err.code,
         open_objects, err.msg);
  if (ok) printf("  ok  %-22s refused: %s\n", what, err.msg);
  loader_close(l);
}

static void test_bad_options(void) {
  LoaderOptions o = base_opts();
  LoaderOptions m = o;
  m.T = 16;
  m.H = 32;
  m.W = 32;
  expect_user_error("missing bucket", PATH, m, PT, PHS, PWS, CC, "16x32x32");
  expect_user_error("missing bucket lists", PATH, m, PT, PHS, PWS, CC, "4x8x8");
  m = o;
  m.text_length = LC + 1;
  expect_user_error("text length", PATH, m, PT, PHS, PWS, CC, "text");
  expect_user_error("patch size", PATH, o, 1, 4, 4, CC, "patch");
  expect_user_error("channels", PATH, o, PT, PHS, PWS, 1, "channels");
  m = o;
  m.sp_size = 3;
  m.sp_rank = 1;
  expect_user_error("sp does not divide N", PATH, m, PT, PHS, PWS, CC, "sequence parallel");
  m = o;
  m.dp_size = NCLIPS + 1;
  m.dp_rank = 0;
  expect_user_error("dp above clips", PATH, m, PT, PHS, PWS, CC, "data parallel");
  m = o;
  m.dp_rank = 2;
  m.dp_size = 2;
  expect_user_error("dp_rank range", PATH, m, PT, PHS, PWS, CC, "dp_rank");
  m = o;
  m.p_drop = 1.5f;
  expect_user_error("p_drop range", PATH, m, PT, PHS, PWS, CC, "p_drop");
  expect_user_error("missing file", "build/tmp/no_such_corpus.h5", o, PT, PHS, PWS, CC, "no_such_corpus.h5");
}

// A copy of the corpus with one byte of clip `clip`'s patch chunk flipped
// (its fletcher32 checksum then fails when HDF5 reads it).
static void corrupt_clip(const char *out, int clip) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cp %s %s", PATH, out);
  EXPECT(system(cmd) == 0, "copy the corpus");
  hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
  char name[64];
  snprintf(name, sizeof name, "/buckets/%dx%dx%d/patches", CT, CH, CW);
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  hsize_t at[3] = {(hsize_t)clip, 0, 0}, size = 0;
  haddr_t addr = 0;
  unsigned mask = 0;
  herr_t rc = H5Dget_chunk_info_by_coord(ds, at, &mask, &addr, &size);
  H5Dclose(ds);
  H5Fclose(f);
  EXPECT(rc >= 0 && size > 0, "chunk of clip %d located", clip);
  FILE *fp = fopen(out, "r+b");
  int c = -1;
  if (fp && fseek(fp, (long)(addr + size / 2), SEEK_SET) == 0) c = fgetc(fp);
  if (c >= 0 && fseek(fp, (long)(addr + size / 2), SEEK_SET) == 0) fputc(c ^ 0xFF, fp);
  EXPECT(fp && c >= 0 && fclose(fp) == 0, "byte of clip %d flipped", clip);
}

// A corrupt clip read by the prefetch thread: loader_next returns the
// reader's error at the batch that holds the clip, the batch where prefetch 0
// fails too, and again on the next call; nothing exits.
static void test_read_error(void) {
  const char *bad = "build/tmp/test_loader_bad.h5";
  const int victim = 5;
  corrupt_clip(bad, victim);
  LoaderOptions o = base_opts();
  o.batch = 3;
  int fail_at[2] = {-1, -1};
  char msg[2][1024] = {"", ""};
  for (int pf = 0; pf < 2; pf++) {
    o.prefetch = pf ? 4 : 0;
    Loader *l = MUST_PTR(loader_open(bad, &o, PT, PHS, PWS, CC, &tl_err));
    float x0[3 * NTOK * PDIM];
    int32_t tok[3 * LM], nt[3];
    int64_t ids[3];
    TsrErr err = {0};
    for (int k = 0; k < 2 * NCLIPS && fail_at[pf] < 0; k++)
      if (loader_next(l, x0, tok, nt, ids, &err)) fail_at[pf] = k;
    snprintf(msg[pf], sizeof msg[pf], "%s", err.msg);
    TsrErr again = {0};
    EXPECT(fail_at[pf] < 0 || loader_next(l, x0, tok, nt, ids, &again) == -1, "prefetch %d: the failed batch fails again",
           o.prefetch);
    loader_close(l);
  }
  char want[128];
  snprintf(want, sizeof want, "patches: clip %d: checksum mismatch (the file is corrupt)", victim);
  EXPECT(fail_at[0] >= 0 && fail_at[0] == fail_at[1], "corrupt clip: prefetch 0 fails at batch %d, prefetch 4 at %d",
         fail_at[0], fail_at[1]);
  EXPECT(strstr(msg[0], want) && !strcmp(msg[0], msg[1]), "corrupt clip messages: '%s' and '%s'", msg[0], msg[1]);
  EXPECT(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0, "nothing left open in HDF5 after the loaders closed");
  if (fail_at[0] >= 0 && fail_at[0] == fail_at[1] && strstr(msg[0], want))
    printf("  ok  corrupt clip %d: loader_next returns the error at batch %d with prefetch 0 and 4: %s\n", victim,
           fail_at[0], msg[1]);
  remove(bad);
}

// ------------------------------------------------------------------ bench

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void spin(double s) {
  double t0 = now_s();
  volatile double x = 0;
  while (now_s() - t0 < s) x += 1;
}

static int bench(void) {
  const char *path = "build/tmp/bench_loader.h5";
  const int T = 16, H = 32, W = 32, C = 3, nclips = 256, B = 4, nb = 400;
  make_dirs();
  CorpusWriter *w = MUST_PTR(corpus_writer_open(path, 2, 4, 4, C, 32, &tl_err));
  uint8_t *px = malloc((size_t)T * H * W * C);
  char cap[64], rec[160];
  for (int i = 0; i < nclips; i++) {
    for (size_t j = 0; j < (size_t)T * H * W * C; j++)
      px[j] = (uint8_t)(rng_uniform(5, RNG_TEST, (uint32_t)i, (uint32_t)j, 0) * 256);
    snprintf(cap, sizeof cap, "clip %d short", i);
    snprintf(rec, sizeof rec, "clip %d long a descriptive caption with a few more words in it", i);
    CorpusClip clip = {.pixels = px, .caption = cap, .recaption = rec, .source = "synth", .fps = 8};
    MUST(corpus_writer_add(w, T, H, W, &clip, &tl_err));
  }
  MUST(corpus_writer_close(w, &tl_err));
  free(px);
  const int N = 512, P = 96, L = 32;
  float *x0 = malloc((size_t)B * N * P * sizeof *x0);
  int32_t *tok = malloc((size_t)B * L * sizeof *tok), nt[B];
  LoaderOptions o = {.dp_rank = 0, .dp_size = 1, .sp_rank = 0, .sp_size = 1, .batch = B, .seed = 1,
                     .p_recaption = 0.9f, .p_drop = 0.1f, .text_length = L, .T = T, .H = H, .W = W};
  // Best of 5 repetitions per case: the numbers are for a quiet machine.
  // 1) The loader alone: samples/s of back-to-back loader_next calls.
  double read_s = 0;  // per batch, synchronous
  for (int pf = 0; pf <= 2; pf += 2) {
    o.prefetch = pf;
    Loader *l = MUST_PTR(loader_open(path, &o, 2, 4, 4, C, &tl_err));
    for (int i = 0; i < 5; i++) MUST(loader_next(l, x0, tok, nt, NULL, &tl_err));  // warm up
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
      double t0 = now_s();
      for (int i = 0; i < nb; i++) MUST(loader_next(l, x0, tok, nt, NULL, &tl_err));
      double dt = now_s() - t0;
      if (dt < best) best = dt;
    }
    if (pf == 0) read_s = best / nb;
    printf("{\"bench\": \"loader\", \"clip\": \"16x32x32x3\", \"batch\": %d, \"prefetch\": %d, \"step\": \"none\", "
           "\"samples_per_s\": %.0f, \"ms_per_batch\": %.3f}\n",
           B, pf, nb * B / best, 1e3 * best / nb);
    loader_close(l);
  }
  // 2) With a simulated training step as long as one synchronous read, either
  // busy on the CPU (spin: a CPU step) or off it (sleep: a GPU step): samples/s
  // of the step loop and its wait inside loader_next.
  const double step = read_s;
  for (int sleep_step = 0; sleep_step <= 1; sleep_step++)
    for (int pf = 0; pf <= 2; pf += 2) {
      o.prefetch = pf;
      Loader *l = MUST_PTR(loader_open(path, &o, 2, 4, 4, C, &tl_err));
      for (int i = 0; i < 5; i++) MUST(loader_next(l, x0, tok, nt, NULL, &tl_err));
      const int n = nb / 2;
      double best = 1e30, best_wait = 0;
      for (int rep = 0; rep < 5; rep++) {
        double wait = 0, t0 = now_s();
        for (int i = 0; i < n; i++) {
          double a = now_s();
          MUST(loader_next(l, x0, tok, nt, NULL, &tl_err));
          wait += now_s() - a;
          if (sleep_step) {
            struct timespec ts = {0, (long)(step * 1e9)};
            nanosleep(&ts, NULL);
          } else {
            spin(step);
          }
        }
        double dt = now_s() - t0;
        if (dt < best) best = dt, best_wait = wait;
      }
      printf("{\"bench\": \"loader\", \"clip\": \"16x32x32x3\", \"batch\": %d, \"prefetch\": %d, \"step\": \"%s\", "
             "\"step_ms\": %.3f, \"samples_per_s\": %.0f, \"wait_ms_per_step\": %.3f}\n",
             B, pf, sleep_step ? "sleep" : "spin", 1e3 * step, n * B / best, 1e3 * best_wait / n);
      loader_close(l);
    }
  free(x0);
  free(tok);
  remove(path);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--bench")) return bench();
  make_corpus();
  test_contents();
  test_shards();
  test_determinism();
  test_sp();
  test_cursor();
  test_prefetch_equal();
  test_concurrent_hdf5();
  test_captions();
  test_bad_options();
  test_read_error();
  remove(PATH);
  return tl_finish("test_loader");
}
