// The model's grad_ready hook (model.h), which ZeRO's overlap relies on
// (train/zero.h): when model_backward says "every gradient from offset `from`
// on is final", it must be -- those gradients are snapshotted at the call and
// compared bit for bit with the gradients after the whole backward. Also: one
// call after the final layer, one per block and one after the embeddings
// (only the text encoder left), `from` strictly decreasing,
// and each newly reported range already holds its (non-zero) gradients. With
// and without train.recompute: block.
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "model/model.h"
#include "testlib.h"

enum { MAXCALLS = 16 };
typedef struct {
  const ParamTable *p;
  int calls;
  size_t from[MAXCALLS];
  float *snap[MAXCALLS];
} Seen;

static void on_ready(void *ctx, size_t from) {
  Seen *s = ctx;
  if (s->calls == MAXCALLS) return;
  size_t n = s->p->total - from;
  s->snap[s->calls] = malloc((n ? n : 1) * sizeof(float));
  memcpy(s->snap[s->calls], s->p->grad + from, n * sizeof(float));
  s->from[s->calls++] = from;
}

static void check(ModelRecompute rc, const char *what) {
  ModelConfig c = {0};
  strcpy(c.name, "hook");
  c.frames = 4, c.height = 8, c.width = 8, c.channels = 2;
  c.pt = 2, c.ph = 4, c.pw = 4;
  c.dim = 32, c.depth = 3, c.heads = 2, c.mlp_ratio = 2;
  c.text_length = 5, c.text_layers = 1, c.vocab = 20, c.freq_dim = 16;
  MUST(model_config_finalize(&c, "test_grad_ready", &tl_err));
  Model m;
  model_build(&m, &c, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
  model_set_recompute(&m, rc);
  model_alloc_acts(&m, 2);
  params_init_uniform(&m.params, 5, 0.2f);  // non-zero everywhere: every gradient is non-zero
  enum { B = 2, N = 8, P = 64, L = 5 };
  static float x[B * N * P], target[B * N * P];
  tl_fill(x, B * N * P, 11);
  tl_fill(target, B * N * P, 12);
  float t[B] = {0.3f, 0.8f};
  int32_t tokens[B * L] = {1, 5, 9, 7, 0, 1, 12, 0, 0, 0}, ntokens[B] = {4, 2};
  uint8_t cond[B * 2] = {0};
  Batch b = {.B = B, .x = x, .t = t, .tokens = tokens, .ntokens = ntokens, .cond = cond, .target = target};
  Seen s = {.p = &m.params};
  m.grad_ready = on_ready, m.grad_ready_ctx = &s;
  params_zero_grad(&m.params);
  model_forward(&m, &b);
  model_backward(&m, &b);
  const size_t total = m.params.total;
  EXPECT(s.calls == c.depth + 2, "%s: %d grad_ready calls, want depth + 2 = %d", what, s.calls, c.depth + 2);
  for (int k = 0; k < s.calls; k++) {
    size_t from = s.from[k], upto = k ? s.from[k - 1] : total;
    EXPECT(from > 0 && from < upto, "%s: call %d reports from %zu (previous %zu, table %zu)", what, k, from, upto, total);
    EXPECT(!memcmp(s.snap[k], m.params.grad + from, (total - from) * sizeof(float)),
           "%s: call %d said gradients from %zu on were final, but the backward changed them later", what, k, from);
    size_t nonzero = 0;
    for (size_t i = from; i < upto; i++) nonzero += s.snap[k][i - from] != 0.0f;
    EXPECT(nonzero * 2 > upto - from, "%s: call %d: only %zu of %zu newly final gradients non-zero", what, k, nonzero,
           upto - from);
    free(s.snap[k]);
  }
  model_free(&m);
}

int main(void) {
  check(MODEL_RECOMPUTE_NONE, "no recompute");
  check(MODEL_RECOMPUTE_BLOCK, "recompute block");
  return tl_finish("test_grad_ready");
}
