// The whole model against the independent PyTorch implementation
// (tests/ref/model.py): writes a case file (weights, inputs, outputs, every
// parameter gradient, the losses of 5 AdamW steps; format in
// tests/ref/README.md) and runs tests/ref/check_model.py on it, which
// recomputes everything in float64 and compares.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/h5io.h"
#include "model/model.h"
#include "model/window.h"
#include "model_case.h"
#include "testlib.h"
#include "train/optimizer.h"

// A small config that still exercises every path: 2 latent frames x 4 x 4
// tokens, 4 heads of 16 (RoPE split 4/6/6), 2 blocks, 2 text layers.
static ModelConfig small_config(void) {
  ModelConfig c = {0};
  strcpy(c.name, "ref-small");
  c.frames = 4, c.height = 16, c.width = 16, c.channels = 3;
  c.pt = 2, c.ph = 4, c.pw = 4;
  c.dim = 64, c.depth = 2, c.heads = 4, c.mlp_ratio = 4;
  c.text_length = 8, c.text_layers = 2, c.vocab = 50, c.freq_dim = 256;
  MUST(model_config_finalize(&c, "test_model_vs_torch", &tl_err));
  return c;
}

// scale: parameters are U(-scale, scale) (norm weights 1 +- scale), so every
// path, adaLN included, carries signal; chosen per width to keep activations O(1).
// The model is built at `max` and run on clips of shape c (c == max: the
// config's own window; else a smaller grid within it, activations sized for
// exactly B clips of c): the reference computes at c, the parameters are the same.
static void write_case(const char *path, const ModelConfig *max, const ModelConfig *c, int B, float scale) {
  Model m;
  model_build(&m, max, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
  params_init_uniform(&m.params, 7, scale);
  if (c == max)
    model_alloc_acts(&m, B);
  else
    model_alloc_acts_tokens(&m, B, (int64_t)B * c->tokens, 0);
  const int N = c->tokens, P = c->patch_dim, L = c->text_length, gt = c->grid_t;
  float *x = calloc((size_t)B * N * P, sizeof(float)), *target = calloc((size_t)B * N * P, sizeof(float));
  float t[8];
  int32_t tokens[8 * 64] = {0}, ntokens[8];  // B <= 8, L <= 64
  uint8_t cond[8 * 64] = {0};
  TSR_ASSERT(B <= 8 && L <= 64 && gt <= 64, "case too large for the fixed input arrays");
  tl_fill(x, (int64_t)B * N * P, 1);
  tl_fill(target, (int64_t)B * N * P, 2);
  for (int s = 0; s < B; s++) {
    t[s] = 0.15f + 0.7f * (float)s / (float)B;
    ntokens[s] = s == 0 ? L : (s == 1 ? 3 : 1);  // full, partial, null caption
    tokens[s * L] = 1;
    for (int l = 1; l < ntokens[s]; l++) tokens[s * L + l] = 4 + (s * 13 + l * 7) % (c->vocab - 4);
  }
  cond[1 * gt + 0] = 1;  // sample 1: image-to-video (first latent frame clean)
  Batch b = {.B = B, .x = x, .t = t, .tokens = tokens, .ntokens = ntokens, .cond = cond, .target = target};
  if (c != max) b.gt = c->grid_t, b.gh = c->grid_h, b.gw = c->grid_w;

  hid_t f = h5_create(path);
  case_write_config(f, c);
  TrainConfig tc = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.05f, .grad_clip = 0};
  const int adam_steps = 5;
  h5_attr_double(f, "lr", tc.lr);
  h5_attr_double(f, "beta1", tc.beta1);
  h5_attr_double(f, "beta2", tc.beta2);
  h5_attr_double(f, "eps", tc.eps);
  h5_attr_double(f, "weight_decay", tc.weight_decay);
  h5_attr_int(f, "adam_steps", adam_steps);
  case_write_params(f, "params", &m.params, m.params.data);
  int64_t dx[3] = {B, N, P}, dtok[2] = {B, L}, db[1] = {B}, dcond[2] = {B, gt}, one[1] = {1};
  h5_write(f, "/inputs/x", H5T_NATIVE_FLOAT, x, 3, dx);
  h5_write(f, "/inputs/t", H5T_NATIVE_FLOAT, t, 1, db);
  h5_write(f, "/inputs/tokens", H5T_NATIVE_INT32, tokens, 2, dtok);
  h5_write(f, "/inputs/ntokens", H5T_NATIVE_INT32, ntokens, 1, db);
  h5_write(f, "/inputs/cond", H5T_NATIVE_UINT8, cond, 2, dcond);
  h5_write(f, "/inputs/target", H5T_NATIVE_FLOAT, target, 3, dx);

  params_zero_grad(&m.params);
  float loss = model_forward(&m, &b);
  model_backward(&m, &b);
  h5_write(f, "/outputs/out", H5T_NATIVE_FLOAT, m.out, 3, dx);
  h5_write(f, "/outputs/loss", H5T_NATIVE_FLOAT, &loss, 1, one);
  case_write_params(f, "grads", &m.params, m.params.grad);
  AdamW opt;
  adamw_init(&opt, &m.params);
  float losses[16];
  for (int s = 0; s < adam_steps; s++) {
    params_zero_grad(&m.params);
    losses[s] = model_forward(&m, &b);
    model_backward(&m, &b);
    adamw_step(&opt, &m.params, &tc, tc.lr, 0.0);
  }
  int64_t dl[1] = {adam_steps};
  h5_write(f, "/adam/losses", H5T_NATIVE_FLOAT, losses, 1, dl);
  h5_close(f);
  printf("wrote %s: %d params, loss %.6f, adam losses %.6f .. %.6f\n", path, m.params.count, loss, losses[0],
         losses[adam_steps - 1]);
  adamw_free(&opt);
  model_free(&m);
  free(x);
  free(target);
}

static void check_case_at(const char *path, const ModelConfig *max, const ModelConfig *c, int B, float scale) {
  write_case(path, max, c, B, scale);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/ref/check_model.py %s", path);
  int rc = system(cmd);
  EXPECT(rc == 0, "%s: check_model.py reported a mismatch (exit %d)", path, rc);
}

static void check_case(const char *path, const ModelConfig *c, int B, float scale) {
  check_case_at(path, c, c, B, scale);
}

int main(void) {
  ModelConfig small = small_config();
  check_case("build/model_case_small.h5", &small, 3, 0.3f);
  // A window of 4x32x32 (grid 2x8x8) run at 16x32 and 32x16 (grid 2x4x8, 2x8x4):
  // the reference knows only the clip's shape (docs/choices.md "Native sizes").
  ModelConfig wide = small, at;
  wide.height = 32, wide.width = 32;
  MUST(model_config_finalize(&wide, "test_model_vs_torch", &tl_err));
  MUST(model_config_at(&wide, 4, 16, 32, &at, &tl_err));
  check_case_at("build/model_case_16x32.h5", &wide, &at, 2, 0.3f);
  MUST(model_config_at(&wide, 4, 32, 16, &at, &tl_err));
  check_case_at("build/model_case_32x16.h5", &wide, &at, 2, 0.3f);
  // An image (docs/choices.md "Images"): T = 1 is one still temporal patch, grid 1x4x4 (t = 1).
  MUST(model_config_at(&wide, 1, 16, 16, &at, &tl_err));
  EXPECT(at.grid_t == 1 && at.frames == wide.pt && at.tokens == 16, "image config: grid_t %d frames %d tokens %d",
         at.grid_t, at.frames, at.tokens);
  check_case_at("build/model_case_image.h5", &wide, &at, 2, 0.3f);
  // The tiny model at its real shapes (512 tokens: several attention tiles).
  Config tiny;
  MUST(config_load(&tiny, "configs/model/tiny.yaml", 0, NULL, &tl_err));
  check_case("build/model_case_tiny.h5", &tiny.model, 2, 0.08f);
  return tl_finish("test_model_vs_torch");
}
