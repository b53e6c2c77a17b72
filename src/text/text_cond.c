// Frozen-encoder text conditioning with a float16 cache (text_cond.h).
#include "text/text_cond.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/half.h"
#include "core/log.h"
#include "core/timer.h"
#include "text/minilm_weights.h"

typedef struct {
  uint64_t key;     // 0: empty slot
  int32_t n;        // valid ids
  int32_t *ids;     // [n] (the key is a hash: equality is checked on these)
  uint16_t *state;  // [n, width] binary16 (core/half.h)
} Entry;

struct TextCond {
  TextEncoder te;
  char dir[PATH_MAX];
  int L, width;
  size_t cap_bytes;
  Entry *slot;  // open addressing, nslot a power of two
  uint32_t nslot, used;
  int warned_full;
  TextCondStats st;
  // scratch of one batch of misses
  int32_t *batch_ids;    // [k, Lmax]
  float *batch_states;   // [k, Lmax, width]
  size_t batch_cap;      // k * Lmax they hold
  int batch_L;           // Lmax of the last batch
  int *rows, *nvalid;    // [B] rows missing, their valid counts
  int rows_cap;
};

// Where `make deps` put the weights (core/fs.h: fs_project_path).
static void weights_dir(char *dir, size_t size) { fs_project_path("TSR_MINILM_DIR", MINILM_L6_DIR, dir, size); }

TextCond *text_cond_open(int L, size_t cache_bytes, const Backend *be, TsrErr *err) {
  TextCond *tc = tsr_calloc(1, sizeof *tc);
  weights_dir(tc->dir, sizeof tc->dir);
  if (minilm_load(&tc->te, tc->dir, err) != 0) {
    tsr_free(tc);
    return NULL;
  }
  if (L < 2 || L > tc->te.cfg.max_pos) {
    tsr_err(err, "%s: a text window of %d ids, expected 2..%d (the encoder's positions)", tc->dir, L,
              tc->te.cfg.max_pos);
    text_cond_close(tc);
    return NULL;
  }
  // The frozen encoder computes in fp32 even when the model's GEMMs are bf16
  // (the CPU's bf16 mode): its states are computed once and cached, so fp32
  // costs little, and a model trained in bf16 reads the same states at
  // sampling time (fp32 by default) as it learned from.
  text_encoder_use_backend(&tc->te, be->mem.host && be->bf16 ? backend_cpu() : be);
  tc->L = L, tc->width = tc->te.cfg.hidden, tc->cap_bytes = cache_bytes;
  tc->nslot = 1024;
  tc->slot = tsr_calloc(tc->nslot, sizeof *tc->slot);
  return tc;
}

TextEncoder *text_cond_encoder(TextCond *tc) { return &tc->te; }

void text_cond_close(TextCond *tc) {
  if (!tc) return;
  for (uint32_t i = 0; i < tc->nslot && tc->slot; i++) {
    tsr_free(tc->slot[i].ids);
    tsr_free(tc->slot[i].state);
  }
  tsr_free(tc->slot);
  tsr_free(tc->batch_ids);
  tsr_free(tc->batch_states);
  tsr_free(tc->rows);
  tsr_free(tc->nvalid);
  text_encoder_free(&tc->te);
  tsr_free(tc);
}

int text_cond_width(const TextCond *tc) { return tc->width; }
const char *text_cond_sha256(const TextCond *tc) { return tc->te.weights_sha256; }
const char *text_cond_dir(const TextCond *tc) { return tc->dir; }
WordPiece *text_cond_wordpiece(TextCond *tc) { return &tc->te.wp; }
TextCondStats text_cond_stats(const TextCond *tc) { return tc->st; }

int text_cond_tokenize(TextCond *tc, const char *text, const char *item, int32_t *ids, int32_t *n, int *truncated,
                       TsrErr *err) {
  WpResult r;
  memset(ids, 0, (size_t)tc->L * sizeof *ids);
  if (wordpiece_encode(&tc->te.wp, text, strlen(text), item, ids, tc->L, &r, err) != 0) return -1;
  *n = r.n;
  if (truncated) *truncated = r.truncated;
  return 0;
}

void text_cond_null(TextCond *tc, int32_t *ids, int32_t *n) {
  TsrErr err;
  int rc = text_cond_tokenize(tc, "", "the null caption", ids, n, NULL, &err);
  TSR_ASSERT(rc == 0 && *n == 2, "the empty text did not tokenize to [CLS] [SEP]");
}

// FNV-1a over (n, ids); never 0 (0 marks an empty slot).
static uint64_t key_of(const int32_t *ids, int32_t n) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)n;
  for (int32_t i = 0; i < n; i++) {
    uint32_t v = (uint32_t)ids[i];
    for (int k = 0; k < 4; k++) h = (h ^ ((v >> (8 * k)) & 0xff)) * 1099511628211ull;
  }
  return h ? h : 1;
}

static Entry *find(const TextCond *tc, uint64_t key, const int32_t *ids, int32_t n) {
  for (uint32_t i = (uint32_t)key & (tc->nslot - 1);; i = (i + 1) & (tc->nslot - 1)) {
    Entry *e = &tc->slot[i];
    if (!e->key) return e;  // the empty slot where it would go
    if (e->key == key && e->n == n && !memcmp(e->ids, ids, (size_t)n * sizeof *ids)) return e;
  }
}

static void grow(TextCond *tc) {
  Entry *old = tc->slot;
  uint32_t nold = tc->nslot;
  tc->nslot *= 2;
  tc->slot = tsr_calloc(tc->nslot, sizeof *tc->slot);
  for (uint32_t i = 0; i < nold; i++)
    if (old[i].key) *find(tc, old[i].key, old[i].ids, old[i].n) = old[i];
  tsr_free(old);
}

// Encode the captions rows[0..k) of ids (n valid ids each) in one batch
// of width Lmax = the longest (valid rows do not depend on the padding):
// one larger GEMM per weight instead of k small ones.
static int encode_batch(TextCond *tc, const int32_t *ids, const int32_t *n, const int *rows, int k, TsrErr *err) {
  int Lmax = 1;
  for (int j = 0; j < k; j++) Lmax = n[rows[j]] > Lmax ? n[rows[j]] : Lmax;
  if ((size_t)k * Lmax > tc->batch_cap) {
    tc->batch_cap = (size_t)k * Lmax;
    tsr_free(tc->batch_ids), tsr_free(tc->batch_states);
    tc->batch_ids = tsr_calloc(tc->batch_cap, sizeof(int32_t));
    tc->batch_states = tsr_calloc(tc->batch_cap * tc->width, sizeof(float));
  }
  memset(tc->batch_ids, 0, (size_t)k * Lmax * sizeof(int32_t));
  for (int j = 0; j < k; j++) {
    memcpy(tc->batch_ids + (size_t)j * Lmax, ids + (size_t)rows[j] * tc->L, (size_t)n[rows[j]] * sizeof(int32_t));
    tc->nvalid[j] = n[rows[j]];
  }
  const double t0 = timer_now();
  int rc = text_encoder_forward(&tc->te, tc->batch_ids, tc->nvalid, k, Lmax, tc->batch_states, NULL, err);
  tc->st.encode_seconds += timer_now() - t0;
  tc->batch_L = Lmax;
  return rc;
}

static void store(TextCond *tc, Entry *e, uint64_t key, const int32_t *id, int32_t nb, const float *st) {
  const size_t n_states = (size_t)nb * tc->width;
  const size_t bytes = n_states * sizeof(uint16_t) + (size_t)nb * sizeof(int32_t) + sizeof(Entry);
  if (tc->st.bytes + bytes > tc->cap_bytes) {
    tc->st.uncached++;
    if (!tc->warned_full)
      log_warn("text cache full (%.0f MiB): captions not yet seen are encoded at every use from now on",
               (double)tc->cap_bytes / 1048576.0);
    tc->warned_full = 1;
    return;
  }
  tc->st.misses++;
  e->key = key, e->n = nb;
  e->ids = tsr_calloc((size_t)nb, sizeof(int32_t));
  memcpy(e->ids, id, (size_t)nb * sizeof *id);
  e->state = tsr_calloc(n_states, sizeof(uint16_t));
  for (size_t i = 0; i < n_states; i++) e->state[i] = f32_to_f16(st[i]);
  tc->st.bytes += bytes;
  if (++tc->used * 2 > tc->nslot) grow(tc);
}

int text_cond_states(TextCond *tc, const int32_t *ids, const int32_t *n, int B, float *states, TsrErr *err) {
  const size_t row = (size_t)tc->L * tc->width;
  memset(states, 0, (size_t)B * row * sizeof(float));
  if (B > tc->rows_cap) {
    tc->rows_cap = B;
    tsr_free(tc->rows), tsr_free(tc->nvalid);
    tc->rows = tsr_calloc((size_t)B, sizeof(int));
    tc->nvalid = tsr_calloc((size_t)B, sizeof(int));
  }
  int k = 0;  // captions not in the cache, each once
  for (int b = 0; b < B; b++) {
    const int32_t *id = ids + (size_t)b * tc->L, nb = n[b];
    if (nb < 1 || nb > tc->L) return tsr_err(err, "caption %d: %d ids, expected 1..%d", b, nb, tc->L);
    if (find(tc, key_of(id, nb), id, nb)->key) continue;
    int dup = 0;
    for (int j = 0; j < k && !dup; j++)
      dup = n[tc->rows[j]] == nb && !memcmp(ids + (size_t)tc->rows[j] * tc->L, id, (size_t)nb * sizeof *id);
    if (!dup) tc->rows[k++] = b;
  }
  if (k > 0) {
    if (encode_batch(tc, ids, n, tc->rows, k, err) != 0) return -1;
    for (int j = 0; j < k; j++) {
      const int b = tc->rows[j];
      const int32_t *id = ids + (size_t)b * tc->L;
      const uint64_t key = key_of(id, n[b]);
      const float *st = tc->batch_states + (size_t)j * tc->batch_L * tc->width;
      store(tc, find(tc, key, id, n[b]), key, id, n[b], st);
      if (!find(tc, key, id, n[b])->key)  // not stored (cache full): this call's rows take it directly
        for (size_t i = 0; i < (size_t)n[b] * tc->width; i++)
          states[(size_t)b * row + i] = f16_to_f32(f32_to_f16(st[i]));
    }
  }
  for (int b = 0; b < B; b++) {
    const int32_t *id = ids + (size_t)b * tc->L, nb = n[b];
    const Entry *e = find(tc, key_of(id, nb), id, nb);
    if (!e->key) continue;  // filled above (cache full)
    float *out = states + (size_t)b * row;
    for (size_t i = 0; i < (size_t)nb * tc->width; i++) out[i] = f16_to_f32(e->state[i]);
  }
  tc->st.hits += (uint64_t)(B - k);
  return 0;
}
