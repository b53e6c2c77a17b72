// safety_check: the policy's rules, then the nearest-example classifier on
// MiniLM's sentence vectors (safety.h, docs/safety.md).
#include "infer/safety.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EMBED_BATCH = 32, EMBED_WINDOW = 128 };

int safety_embed_texts(TextEncoder *te, const char *const *texts, int n, float *out, TsrErr *err) {
  const int H = te->cfg.hidden, W = EMBED_WINDOW < te->cfg.max_pos ? EMBED_WINDOW : te->cfg.max_pos;
  int32_t *tmp = malloc(sizeof *tmp * (size_t)EMBED_BATCH * W), *ids = malloc(sizeof *ids * (size_t)EMBED_BATCH * W);
  float *hidden = malloc(sizeof *hidden * (size_t)EMBED_BATCH * W * H);
  int valid[EMBED_BATCH], rc = 0;
  for (int b0 = 0; b0 < n && !rc; b0 += EMBED_BATCH) {
    int B = n - b0 < EMBED_BATCH ? n - b0 : EMBED_BATCH, L = 1;
    for (int b = 0; b < B && !rc; b++) {
      WpResult r;
      rc = wordpiece_encode(&te->wp, texts[b0 + b], strlen(texts[b0 + b]), "prompt", tmp + (size_t)b * W, W, &r, err);
      valid[b] = r.n;
      if (r.n > L) L = r.n;
    }
    if (rc) break;
    for (int b = 0; b < B; b++)  // pack [B, L], padding id 0
      for (int l = 0; l < L; l++) ids[(size_t)b * L + l] = l < valid[b] ? tmp[(size_t)b * W + l] : 0;
    float *pooled = out + (size_t)b0 * H;
    rc = text_encoder_forward(te, ids, valid, B, L, hidden, pooled, err);
    for (int b = 0; b < B && !rc; b++) {  // unit length: the dot product is the cosine
      double ss = 0;
      for (int h = 0; h < H; h++) ss += (double)pooled[b * H + h] * pooled[b * H + h];
      float inv = ss > 0 ? (float)(1 / sqrt(ss)) : 0;
      for (int h = 0; h < H; h++) pooled[b * H + h] *= inv;
    }
  }
  free(tmp), free(ids), free(hidden);
  return rc;
}

static float *embed_examples(TextEncoder *te, const SafetyExample *ex, int n, TsrErr *err) {
  float *v = malloc(sizeof *v * (size_t)(n ? n : 1) * te->cfg.hidden);
  const char **texts = malloc(sizeof *texts * (size_t)(n ? n : 1));
  for (int i = 0; i < n; i++) texts[i] = ex[i].text;
  int rc = safety_embed_texts(te, texts, n, v, err);
  free(texts);
  if (rc) free(v), v = NULL;
  return v;
}

int safety_policy_embed(SafetyPolicy *pol, TextEncoder *te, TsrErr *err) {
  if (pol->hidden == te->cfg.hidden && !strcmp(pol->encoder_sha256, te->weights_sha256)) return 0;
  pol->hidden = 0;
  for (int c = 0; c < pol->ncat; c++) {
    free(pol->cat[c].vec);
    if (!(pol->cat[c].vec = embed_examples(te, pol->cat[c].examples, pol->cat[c].nexamples, err)))
      return tsr_err_prefix(err, "%s: categories.%s.examples: ", pol->path, pol->cat[c].name);
  }
  free(pol->allowed_vec);
  if (!(pol->allowed_vec = embed_examples(te, pol->allowed, pol->nallowed, err)))
    return tsr_err_prefix(err, "%s: allowed.examples: ", pol->path);
  pol->hidden = te->cfg.hidden;
  snprintf(pol->encoder_sha256, sizeof pol->encoder_sha256, "%s", te->weights_sha256);
  return 0;
}

// The mean of the k largest dot products of q with the n rows of m (k
// capped at n), and the row of the largest (-1 and -1 when n = 0).
static float nearest(const float *q, const float *m, int n, int H, int k, int *at) {
  float top[SAFETY_MAX_NEIGHBOURS];
  int ntop = 0;
  *at = -1;
  if (k > n) k = n;
  if (k < 1) k = 1;
  for (int i = 0; i < n; i++) {
    float d = 0;
    for (int h = 0; h < H; h++) d += q[h] * m[(size_t)i * H + h];
    if (ntop == k && d <= top[k - 1]) continue;
    int j = ntop < k ? ntop++ : k - 1;  // insert d, keeping top[] in descending order
    while (j > 0 && top[j - 1] < d) top[j] = top[j - 1], j--;
    top[j] = d;
    if (j == 0) *at = i;
  }
  float sum = 0;
  for (int j = 0; j < ntop; j++) sum += top[j];
  return ntop ? sum / ntop : -1;
}

static void scores(const SafetyPolicy *pol, const float *q, SafetyVerdict *v) {
  v->scored = 1;
  v->allowed_score = nearest(q, pol->allowed_vec, pol->nallowed, pol->hidden, pol->neighbours, &v->allowed_nearest);
  for (int c = 0; c < pol->ncat; c++)
    v->score[c] = nearest(q, pol->cat[c].vec, pol->cat[c].nexamples, pol->hidden, pol->neighbours, &v->nearest[c]);
}

int safety_check(SafetyPolicy *pol, TextEncoder *te, const char *prompt, SafetyVerdict *v, TsrErr *err) {
  if (!te) return safety_check_vector(pol, prompt, NULL, v, err);
  if (safety_policy_embed(pol, te, err)) return -1;
  float *q = malloc(sizeof *q * (size_t)pol->hidden);
  int rc = safety_embed_texts(te, &prompt, 1, q, err) ? -1 : safety_check_vector(pol, prompt, q, v, err);
  free(q);
  return rc;
}

int safety_check_vector(const SafetyPolicy *pol, const char *prompt, const float *vec, SafetyVerdict *v, TsrErr *err) {
  memset(v, 0, sizeof *v);
  v->category = -1, v->category_name = "", v->allowed_nearest = -1;
  SafetyWords w = {0};
  if (safety_normalise(prompt, strlen(prompt), "prompt", &w, err)) return -1;
  char what[256];
  for (int c = 0; c < pol->ncat && !v->refused; c++)
    for (int r = 0; r < pol->cat[c].nrules; r++)
      if (safety_rule_match(&pol->cat[c].rules[r], &w, what, sizeof what)) {
        v->refused = 1, v->category = c, v->by = SAFETY_BY_RULE;
        snprintf(v->reason, sizeof v->reason, "rule %.300s:%d:%d (categories.%s.rules[%d]) matched %.300s", pol->path,
                 pol->cat[c].rule_line[r], pol->cat[c].rule_col[r], pol->cat[c].name, r, what);
        break;
      }
  int words = w.n;
  safety_words_free(&w);
  if (vec && words > 0) {
    if (!pol->hidden) return tsr_err(err, "%s: the examples are not embedded (safety_policy_embed first)", pol->path);
    scores(pol, vec, v);
  }
  if (!v->refused && v->scored) {
    int best = -1;
    for (int c = 0; c < pol->ncat; c++)
      if (v->score[c] >= pol->cat[c].threshold && v->score[c] - v->allowed_score >= pol->margin &&
          (best < 0 || v->score[c] > v->score[best]))
        best = c;
    if (best >= 0) {
      const SafetyCategory *cat = &pol->cat[best];
      const SafetyExample *ex = &cat->examples[v->nearest[best]];
      v->refused = 1, v->category = best, v->by = SAFETY_BY_EXAMPLE;
      char of[48] = "";
      if (pol->neighbours > 1) snprintf(of, sizeof of, "mean cosine of the %d nearest", pol->neighbours);
      int n = snprintf(v->reason, sizeof v->reason, "nearest example \"%.160s\" (%.300s:%d), %s %.3f >= %.3f", ex->text,
                       pol->path, ex->line, of[0] ? of : "cosine", v->score[best], cat->threshold);
      if (v->allowed_nearest >= 0 && n > 0 && (size_t)n < sizeof v->reason)
        snprintf(v->reason + n, sizeof v->reason - (size_t)n, "; allowed examples %.3f (nearest \"%.120s\")",
                 v->allowed_score, pol->allowed[v->allowed_nearest].text);
    }
  }
  if (v->refused) v->category_name = pol->cat[v->category].name;
  return 0;
}
