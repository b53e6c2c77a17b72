// Multi-bucket loader (data.buckets, docs/choices.md "Native sizes"): every
// bucket within the model's maximum is drawn, each batch one bucket with
// B = token budget / N clips; per bucket, each epoch's dp shards are disjoint
// and their union is the bucket; the bucket draw follows the weights; every
// rank draws the same bucket for the same batch; a loader opened afresh and
// sought to a cursor saved mid-epoch delivers exactly what the first one did;
// bad bucket lists get one line. Files under build/tmp/.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "data/corpus.h"
#include "data/loader.h"
#include "testlib.h"

#define PATH "build/tmp/test_loader_buckets.h5"
#define PT 2
#define PH 4
#define PW 4
#define CC 3
#define LC 8
// buckets: T, H, W, clips (the last is larger than the maximum 4x8x16)
static const int BK[4][4] = {{2, 8, 8, 7}, {2, 8, 16, 5}, {4, 8, 8, 6}, {4, 16, 16, 2}};
#define NB 3

static void make_corpus(void) {
  mkdir("build", 0755);
  mkdir("build/tmp", 0755);
  CorpusWriter *w = MUST_PTR(corpus_writer_open(PATH, PT, PH, PW, CC, LC, &tl_err));
  static uint8_t px[4 * 16 * 16 * CC];
  for (int k = 0; k < 4; k++)
    for (int i = 0; i < BK[k][3]; i++) {
      for (size_t j = 0; j < sizeof px; j++) px[j] = (uint8_t)(k * 50 + i * 3 + (int)(j % 7));
      CorpusClip clip = {.pixels = px, .caption = "a short one", .recaption = "a long one", .source = "s", .fps = 8};
      MUST(corpus_writer_add(w, BK[k][0], BK[k][1], BK[k][2], &clip, &tl_err));
    }
  MUST(corpus_writer_close(w, &tl_err));
}

static LoaderOptions opts(int dp_rank, int dp, int prefetch) {
  return (LoaderOptions){.dp_rank = dp_rank, .dp_size = dp, .sp_rank = 0, .sp_size = 1, .batch = 2, .seed = 7,
                         .p_recaption = 0.5f, .p_drop = 0.1f, .text_length = LC, .T = 4, .H = 8, .W = 16,
                         .prefetch = prefetch, .buckets = "all", .token_budget = 32};
}

// Index of corpus bucket k (BK order) among the loader's buckets, or -1.
static int stream_of(const Loader *l, int k) {
  for (int s = 0; s < loader_nbuckets(l); s++) {
    LoaderShape sh = loader_shape(l, s);
    if (sh.T == BK[k][0] && sh.H == BK[k][1] && sh.W == BK[k][2]) return s;
  }
  return -1;
}

// dp = 1, 2, 3: the same bucket sequence on every rank; per bucket, the first
// two epochs of each rank's draws are disjoint over the ranks and cover it.
static void test_coverage(void) {
  enum { NBATCH = 60, MAXC = 64 };
  for (int dp = 1; dp <= 3; dp++) {
    int seq[3][NBATCH];
    int draws[3][NB][4 * MAXC], nd[3][NB];  // per rank, per bucket: clips in draw order
    memset(nd, 0, sizeof nd);
    int64_t ids[MAXC];
    static float x0[32 * 96];
    int32_t tok[MAXC * LC], nt[MAXC];
    int shapes_ok = 1, ncl[NB] = {0};
    for (int r = 0; r < dp; r++) {
      LoaderOptions o = opts(r, dp, r % 2 ? 2 : 0);
      Loader *l = MUST_PTR(loader_open(PATH, &o, PT, PH, PW, CC, &tl_err));
      EXPECT(loader_nbuckets(l) == NB, "dp=%d: %d buckets, expected %d (4x16x16 is over the maximum)", dp,
             loader_nbuckets(l), NB);
      for (int k = 0; k < NB; k++) {  // B = 32 tokens / N
        LoaderShape sh = loader_shape(l, stream_of(l, k));
        shapes_ok &= sh.B == 32 / sh.N && sh.count == BK[k][3];
        ncl[stream_of(l, k)] = BK[k][3];
      }
      for (int b = 0; b < NBATCH; b++) {
        int s;
        MUST(loader_next_bucket(l, x0, tok, nt, ids, &s, &tl_err));
        seq[r][b] = s;
        LoaderShape sh = loader_shape(l, s);
        for (int j = 0; j < sh.B && nd[r][s] < 4 * MAXC; j++) draws[r][s][nd[r][s]++] = (int)ids[j];
      }
      loader_close(l);
    }
    EXPECT(shapes_ok, "dp=%d: a bucket's batch is not token budget / N clips", dp);
    int same = 1;
    for (int r = 1; r < dp; r++) same &= !memcmp(seq[0], seq[r], sizeof seq[0]);
    EXPECT(same, "dp=%d: ranks drew different buckets for the same batch", dp);
    int bad = 0, used = 0;
    for (int s = 0; s < NB; s++) {
      const int n = ncl[s];
      for (int e = 0; e < 2; e++) {
        int count[MAXC] = {0}, complete = 1;
        for (int r = 0; r < dp; r++) {
          const int shard = (n - r + dp - 1) / dp;
          if (nd[r][s] < (e + 1) * shard) complete = 0;
          for (int j = e * shard; j < (e + 1) * shard && j < nd[r][s]; j++) count[draws[r][s][j]]++;
        }
        if (!complete) continue;
        used++;
        for (int c = 0; c < n; c++) bad += count[c] != 1;
      }
    }
    EXPECT(used >= 2 * NB && !bad, "dp=%d: %d (bucket, epoch, clip) not drawn exactly once over the ranks (%d epochs "
           "checked)", dp, bad, used);
    if (used >= 2 * NB && !bad && same && shapes_ok)
      printf("  ok  dp=%d: same bucket sequence on every rank; per bucket two epochs disjoint over ranks, union = "
             "the bucket\n", dp);
  }
}

// Bucket frequencies over 6000 batches against the weights (default clips/B; given ones).
static void test_weights(void) {
  for (int given = 0; given < 2; given++) {
    LoaderOptions o = opts(0, 1, 0);
    o.buckets = given ? "2x8x8:1,4x8x8:3" : "all";
    Loader *l = MUST_PTR(loader_open(PATH, &o, PT, PH, PW, CC, &tl_err));
    const int nb = loader_nbuckets(l), n = 6000;
    EXPECT(nb == (given ? 2 : NB), "%s: %d buckets", o.buckets, nb);
    double wsum = 0, count[NB] = {0};
    for (int s = 0; s < nb; s++) wsum += loader_shape(l, s).weight;
    for (int b = 0; b < n; b++) count[loader_bucket_of(l, (uint64_t)b)]++;
    double zmax = 0;
    for (int s = 0; s < nb; s++) {
      LoaderShape sh = loader_shape(l, s);
      const double want = given ? (sh.T == 2 ? 1.0 : 3.0) : (double)sh.count / sh.B;
      EXPECT(fabs(sh.weight - want) < 1e-12, "%s: bucket %s weight %g, expected %g", o.buckets, sh.name, sh.weight, want);
      const double p = sh.weight / wsum, z = (count[s] - n * p) / sqrt(n * p * (1 - p));
      if (fabs(z) > zmax) zmax = fabs(z);
    }
    EXPECT(zmax < 4.5, "%s: bucket frequencies off the weights (|z| up to %.2f)", o.buckets, zmax);
    if (zmax < 4.5) printf("  ok  %s: bucket frequencies follow the weights over %d batches (|z| <= %.2f)\n", o.buckets,
                           n, zmax);
    loader_close(l);
  }
}

// A cursor saved mid-epoch: a fresh loader sought to it delivers the same batches.
static void test_resume(void) {
  enum { K = 7, M = 25 };
  static float xa[M][32 * 96], xb[32 * 96];
  int32_t ta[M][16 * LC], na[M][16], tb[16 * LC], nbt[16];
  int sa[M];
  LoaderOptions o = opts(1, 2, 2);
  Loader *l = MUST_PTR(loader_open(PATH, &o, PT, PH, PW, CC, &tl_err));
  for (int b = 0; b < K; b++) MUST(loader_next(l, xa[0], ta[0], na[0], NULL, &tl_err));
  LoaderCursor saved = loader_cursor(l);
  for (int b = 0; b < M; b++) MUST(loader_next_bucket(l, xa[b], ta[b], na[b], NULL, &sa[b], &tl_err));
  LoaderCursor end = loader_cursor(l);
  loader_close(l);
  int mid = 0;
  for (int s = 0; s < NB; s++) mid |= (s ? saved.more_position[s - 1] : saved.position) != 0;
  EXPECT(mid, "the saved cursor is at an epoch start in every bucket: not a mid-epoch test");
  int moved = 0;
  for (int s = 1; s < NB; s++) moved |= end.more_epoch[s - 1] > saved.more_epoch[s - 1];
  EXPECT(moved, "no bucket other than the first crossed an epoch after the saved cursor");
  for (int prefetch = 0; prefetch <= 2; prefetch += 2) {
    LoaderOptions o2 = opts(1, 2, prefetch);
    Loader *r = MUST_PTR(loader_open(PATH, &o2, PT, PH, PW, CC, &tl_err));
    loader_seek(r, saved);
    int diff = 0;
    for (int b = 0; b < M; b++) {
      int s;
      MUST(loader_next_bucket(r, xb, tb, nbt, NULL, &s, &tl_err));
      const LoaderShape sh = loader_shape(r, s);
      diff += s != sa[b] || memcmp(xb, xa[b], (size_t)sh.B * sh.N * 96 * sizeof(float)) ||
              memcmp(tb, ta[b], (size_t)sh.B * LC * sizeof(int32_t)) || memcmp(nbt, na[b], (size_t)sh.B * sizeof(int32_t));
    }
    LoaderCursor after = loader_cursor(r);
    EXPECT(!diff && !memcmp(&after, &end, sizeof end), "prefetch %d: %d of %d batches differ after seeking to a "
           "mid-epoch cursor", prefetch, diff, M);
    if (!diff) printf("  ok  prefetch %d: a fresh loader sought to a mid-epoch cursor gives the same %d batches "
                      "bit for bit\n", prefetch, M);
    loader_close(r);
  }
}

static void refused(const char *spec, const char *want) {
  LoaderOptions o = opts(0, 1, 0);
  o.buckets = spec;
  TsrErr err;
  Loader *l = loader_open(PATH, &o, PT, PH, PW, CC, &err);
  EXPECT(!l && strstr(err.msg, want) && !strchr(err.msg, '\n'), "data.buckets=%s: expected a one-line refusal with "
         "'%s', got %s", spec, want, l ? "a loader" : err.msg);
  if (!l && strstr(err.msg, want)) printf("  ok  %-22s refused: %s\n", spec, err.msg);
  loader_close(l);
}

int main(void) {
  make_corpus();
  test_coverage();
  test_weights();
  test_resume();
  refused("4x16x16", "larger than the model's maximum");
  refused("2x8x12", "no bucket /buckets/2x8x12");
  refused("2x8x8:0", "expected TxHxW or TxHxW:weight");
  refused("2x8x8,2x8x8", "listed twice");
  refused("8x8", "expected TxHxW");
  return tl_finish("test_loader_buckets");
}
