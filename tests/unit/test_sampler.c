// The sampler against tests/ref/check_sampler.py (the PyTorch reference model
// driven by the same Euler/Heun/CFG/shift/conditioning rules and the same
// Philox noise), for text-to-video with CFG, image-to-video with Heun and a
// shift, and a remix from t0 < 1. Also: conditioned frames come out exactly
// as given, and the time grid is what the header says.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/h5io.h"
#include "infer/sampler.h"
#include "model/model.h"
#include "model_case.h"
#include "testlib.h"

static ModelConfig small_config(void) {
  ModelConfig c = {0};
  strcpy(c.name, "sampler");
  c.frames = 4, c.height = 8, c.width = 8, c.channels = 3;
  c.pt = 2, c.ph = 4, c.pw = 4;
  c.dim = 32, c.depth = 2, c.heads = 2, c.mlp_ratio = 2;
  c.text_length = 6, c.text_layers = 1, c.vocab = 30, c.freq_dim = 32;
  MUST(model_config_finalize(&c, "test_sampler", &tl_err));
  return c;
}

static void run_case(Model *m, const char *path, SamplerOptions o, const uint8_t *cond) {
  const ModelConfig *c = &m->cfg;
  enum { B = 2 };
  const int N = c->tokens, P = c->patch_dim, L = c->text_length, gt = c->grid_t;
  int32_t tokens[B * 6] = {1, 5, 9, 13, 0, 0, 1, 7, 0, 0, 0, 0}, ntokens[B] = {4, 2};
  float *x_src = calloc((size_t)B * N * P, sizeof(float)), *out = calloc((size_t)B * N * P, sizeof(float));
  tl_fill(x_src, (int64_t)B * N * P, 21);
  sample_flow(m, &o, B, tokens, ntokens, cond, x_src, out);

  // Conditioned frames are exactly the source.
  const int frame_tokens = N / gt;
  int exact = 1;
  for (int s = 0; s < B; s++)
    for (int f = 0; f < gt; f++)
      if (cond && cond[s * gt + f])
        exact &= !memcmp(out + ((size_t)s * N + (size_t)f * frame_tokens) * P,
                         x_src + ((size_t)s * N + (size_t)f * frame_tokens) * P, (size_t)frame_tokens * P * sizeof(float));
  EXPECT(exact, "%s: conditioned frames changed", path);

  hid_t f = h5_create(path);
  case_write_config(f, c);
  h5_attr_int(f, "steps", o.steps);
  h5_attr_double(f, "cfg", o.cfg);
  h5_attr_double(f, "shift", o.shift);
  h5_attr_int(f, "heun", o.heun);
  h5_attr_int(f, "seed", (int64_t)o.seed);
  h5_attr_double(f, "t0", o.t0);
  case_write_params(f, "params", &m->params, m->params.data);
  uint8_t zeros[B * 8] = {0};
  int64_t dx[3] = {B, N, P}, dtok[2] = {B, L}, db[1] = {B}, dcond[2] = {B, gt};
  h5_write(f, "/inputs/tokens", H5T_NATIVE_INT32, tokens, 2, dtok);
  h5_write(f, "/inputs/ntokens", H5T_NATIVE_INT32, ntokens, 1, db);
  h5_write(f, "/inputs/cond", H5T_NATIVE_UINT8, cond ? cond : zeros, 2, dcond);
  h5_write(f, "/inputs/x_src", H5T_NATIVE_FLOAT, x_src, 3, dx);
  h5_write(f, "/outputs/out", H5T_NATIVE_FLOAT, out, 3, dx);
  h5_close(f);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/ref/check_sampler.py %s", path);
  EXPECT(system(cmd) == 0, "%s: sampler differs from the PyTorch reference", path);
  free(x_src);
  free(out);
}

int main(void) {
  ModelConfig c = small_config();
  Model m;
  model_build(&m, &c, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
  params_init_uniform(&m.params, 4, 0.25f);
  model_alloc_acts(&m, 4);

  SamplerOptions o = {.steps = 4, .cfg = 3.0f, .shift = 1.0f, .heun = 0, .seed = 9, .t0 = 1.0f};
  float t[5];
  sampler_timesteps(&o, t);
  EXPECT(t[0] == 1.0f && t[4] == 0.0f && t[2] == 0.5f, "time grid %g %g %g", t[0], t[2], t[4]);
  o.shift = 3.0f;
  sampler_timesteps(&o, t);
  EXPECT(fabsf(t[2] - 0.75f) < 1e-6f, "shift 3 maps 0.5 to 0.75, got %g", t[2]);

  int rc = system("mkdir -p build/tmp");
  (void)rc;
  uint8_t i2v[2 * 2] = {0, 0, 1, 0};  // sample 1: first latent frame given
  run_case(&m, "build/tmp/sampler_t2v.h5", (SamplerOptions){.steps = 4, .cfg = 3.0f, .shift = 1.0f, .seed = 9, .t0 = 1.0f}, NULL);
  run_case(&m, "build/tmp/sampler_i2v.h5",
           (SamplerOptions){.steps = 3, .cfg = 2.0f, .shift = 2.5f, .heun = 1, .seed = 10, .t0 = 1.0f}, i2v);
  run_case(&m, "build/tmp/sampler_remix.h5",
           (SamplerOptions){.steps = 3, .cfg = 1.0f, .shift = 1.0f, .seed = 11, .t0 = 0.6f}, NULL);
  m.cfg.predict_x = 1;  // x-prediction: the output is the clean video, turned into v = (x - out)/max(t, t_min)
  strcpy(m.cfg.predict, "x");
  run_case(&m, "build/tmp/sampler_xpred.h5",
           (SamplerOptions){.steps = 4, .cfg = 2.5f, .shift = 2.0f, .heun = 1, .seed = 12, .t0 = 1.0f}, i2v);
  model_free(&m);
  return tl_finish("test_sampler");
}
