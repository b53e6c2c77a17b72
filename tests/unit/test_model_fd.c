// Whole-model checks that need no reference implementation:
//  - gradients of sampled parameters against central finite differences;
//  - adaLN-Zero: at the standard init the output is exactly zero;
//  - a fully conditioned frame does not change the loss when its target changes;
//  - no allocation depends on the batch: a smaller batch runs in the same arena;
//  - a frozen text encoder: text.* get no gradient, every other gradient is
//    exactly the full backward's.
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "model/model.h"
#include "testlib.h"

static ModelConfig cfg(void) {
  ModelConfig c = {0};
  strcpy(c.name, "fd");
  c.frames = 4, c.height = 8, c.width = 8, c.channels = 2;
  c.pt = 2, c.ph = 4, c.pw = 4;
  c.dim = 32, c.depth = 2, c.heads = 2, c.mlp_ratio = 2;
  c.text_length = 5, c.text_layers = 1, c.vocab = 20, c.freq_dim = 16;
  MUST(model_config_finalize(&c, "test_model_fd", &tl_err));
  return c;
}

typedef struct {
  float x[2 * 8 * 64], target[2 * 8 * 64], t[2];  // B=2, N=8, P=64
  int32_t tokens[2 * 5], ntokens[2];
  uint8_t cond[2 * 2];
} Inputs;

static Batch batch_of(Inputs *in, const ModelConfig *c, int B) {
  tl_fill(in->x, (int64_t)B * c->tokens * c->patch_dim, 11);
  tl_fill(in->target, (int64_t)B * c->tokens * c->patch_dim, 12);
  in->t[0] = 0.3f, in->t[1] = 0.8f;
  int32_t tok[10] = {1, 5, 9, 7, 0, 1, 12, 0, 0, 0};
  memcpy(in->tokens, tok, sizeof tok);
  in->ntokens[0] = 4, in->ntokens[1] = 2;
  memset(in->cond, 0, sizeof in->cond);
  in->cond[2] = 1;  // sample 1, latent frame 0 conditioned
  return (Batch){.B = B, .x = in->x, .t = in->t, .tokens = in->tokens, .ntokens = in->ntokens, .cond = in->cond,
                 .target = in->target};
}

// Gradients of two sampled coordinates of every parameter against central
// finite differences of the loss, on random (all non-zero) parameters.
static void fd_check(Model *m, const Batch *b, const char *what) {
  params_init_uniform(&m->params, 5, 0.2f);
  params_zero_grad(&m->params);
  model_forward(m, b);
  model_backward(m, b);
  int checked = 0, bad = 0;
  double worst = 0;
  for (int i = 0; i < m->params.count; i++) {
    const ParamInfo *p = &m->params.items[i];
    for (int probe = 0; probe < 2; probe++) {
      size_t e = (size_t)(rng_uniform(9, RNG_TEST, (uint32_t)i, (uint32_t)probe, 0) * (float)p->numel);
      float *w = m->params.data + p->offset + e;
      float g = m->params.grad[p->offset + e], w0 = *w, h = 2e-3f;
      *w = w0 + h;
      double lp = model_forward(m, b);
      *w = w0 - h;
      double lm = model_forward(m, b);
      *w = w0;
      double fd = (lp - lm) / (2.0 * h);
      double err = fabs(fd - g) / fmax(fabs(fd) + fabs(g), 2e-3);
      checked++;
      if (err > 0.05) {
        bad++;
        printf("  %s[%zu]: analytic %.6g, finite difference %.6g\n", p->name, e, g, fd);
      }
      if (err > worst) worst = err;
    }
  }
  EXPECT(bad == 0, "%s: %d of %d sampled gradients differ from finite differences", what, bad, checked);
  printf("  ok  %s finite differences: %d coordinates over %d params, worst rel %.2e\n", what, checked,
         m->params.count, worst);
}

// model.text.encoder minilm: the model reads given states [B,L,384] through
// text_proj; its gradient (and everything downstream) by finite differences;
// model_freeze_text leaves text_proj learning (the encoder is outside).
static void test_minilm(void) {
  ModelConfig c = cfg();
  strcpy(c.text_encoder, "minilm");
  c.text_layers = 0;
  MUST(model_config_finalize(&c, "test_model_fd minilm", &tl_err));
  EXPECT(c.text_minilm && c.text_width == MINILM_WIDTH, "minilm config: text_width %d", c.text_width);
  Model m;
  model_build(&m, &c, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
  model_alloc_acts(&m, 2);
  EXPECT(params_find(&m.params, "text_proj.weight") && !params_find(&m.params, "text.tok_emb.weight"),
         "minilm model: text_proj present, no learned encoder");
  Inputs in;
  Batch b = batch_of(&in, &c, 2);
  float *states = malloc((size_t)2 * c.text_length * c.text_width * sizeof(float));
  tl_fill(states, (int64_t)2 * c.text_length * c.text_width, 13);
  b.text_states = states;
  fd_check(&m, &b, "minilm");
  model_freeze_text(&m);
  params_zero_grad(&m.params);
  model_forward(&m, &b);
  model_backward(&m, &b);
  const ParamInfo *proj = params_find(&m.params, "text_proj.weight");
  int nonzero = 0;
  for (size_t e = proj->offset; e < proj->offset + proj->numel; e++) nonzero += m.params.grad[e] != 0.0f;
  EXPECT(!proj->frozen && nonzero > 0, "minilm: text_proj frozen %d, %d non-zero gradients after model_freeze_text",
         proj->frozen, nonzero);
  free(states);
  model_free(&m);
}

int main(void) {
  ModelConfig c = cfg();
  Model m;
  model_build(&m, &c, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
  model_alloc_acts(&m, 2);
  Inputs in;
  Batch b = batch_of(&in, &c, 2);

  // adaLN-Zero: standard init gives a zero output (final layer zero-initialised).
  params_init(&m.params, 3);
  model_forward(&m, &b);
  double maxabs = 0;
  for (int i = 0; i < 2 * c.tokens * c.patch_dim; i++) maxabs = fmax(maxabs, fabs(m.out[i]));
  EXPECT(maxabs == 0.0, "standard init: output should be exactly 0, max |out| = %g", maxabs);

  // Finite differences on random (all non-zero) parameters, in double-checked float.
  fd_check(&m, &b, "learned");

  // Conditioned tokens are out of the loss: changing their target changes nothing.
  float before = model_forward(&m, &b);
  const int frame_tokens = c.grid_h * c.grid_w;
  for (int n = 0; n < frame_tokens; n++)
    for (int p = 0; p < c.patch_dim; p++) in.target[((size_t)1 * c.tokens + n) * c.patch_dim + p] += 3.0f;
  float after = model_forward(&m, &b);
  EXPECT(before == after, "loss changed with the target of a conditioned frame: %g -> %g", before, after);
  in.target[0] += 3.0f;  // sample 0 is unconditioned: its target counts
  float moved = model_forward(&m, &b);
  EXPECT(moved != after, "loss ignores an unconditioned token's target");

  // Frozen text encoder: the backward stops at ctx. The full backward is the
  // independent answer for every other parameter (nothing flows back from ctx).
  float *full = malloc(m.params.total * sizeof(float));
  params_zero_grad(&m.params);
  model_forward(&m, &b);
  model_backward(&m, &b);
  memcpy(full, m.params.grad, m.params.total * sizeof(float));
  model_freeze_text(&m);
  params_zero_grad(&m.params);
  model_forward(&m, &b);
  model_backward(&m, &b);
  int frozen = 0, text_nonzero = 0, differ = 0;
  for (int i = 0; i < m.params.count; i++) {
    const ParamInfo *p = &m.params.items[i];
    const int is_text = !strncmp(p->name, "text.", 5);
    EXPECT(p->frozen == is_text, "%s: frozen %d, expected %d", p->name, p->frozen, is_text);
    frozen += p->frozen;
    for (size_t e = p->offset; e < p->offset + p->numel; e++) {
      if (is_text) text_nonzero += m.params.grad[e] != 0.0f;
      else differ += m.params.grad[e] != full[e];
    }
  }
  EXPECT(frozen > 0 && text_nonzero == 0, "frozen text: %d frozen tensors, %d non-zero text gradients", frozen,
         text_nonzero);
  EXPECT(differ == 0, "frozen text: %d non-text gradients differ from the full backward's", differ);
  printf("  ok  frozen text encoder: %d tensors without gradient, the other gradients bit-identical\n", frozen);
  free(full);

  // A batch of 1 runs in the arena sized for 2, and gives sample 0's output.
  float out2[8 * 64];
  model_forward(&m, &b);
  memcpy(out2, m.out, sizeof out2);
  b.B = 1;
  model_forward(&m, &b);
  EXPECT_CLOSE(m.out, out2, c.tokens * c.patch_dim, 1e-6, "batch 1 equals sample 0 of batch 2");
  model_free(&m);
  test_minilm();
  return tl_finish("test_model_fd");
}
