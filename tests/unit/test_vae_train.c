// vae_train_step on a fixed batch of shapes-world clips (src/data/synth.h):
// the loss falls well below its start (the autoencoder learns to reconstruct),
// the trained model reconstructs the clips with less than half the error of
// the best constant (each clip's mean colour), and the step is deterministic (two runs from the same seed
// give the same first losses bit for bit).
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "data/synth.h"
#include "testlib.h"
#include "vae/vae_train.h"

enum { B = 4, T = 5, H = 16, W = 16, C = 3, STEPS = 80, REPEAT = 4 };

static void clips(float *x) {
  uint8_t *px = tsr_calloc((size_t)T * H * W * C, 1);
  for (int b = 0; b < B; b++) {
    SynthScene s;
    synth_scene(&s, 7, (uint64_t)b, T, H, W);
    synth_render(&s, T, H, W, px);
    for (int i = 0; i < T * H * W * C; i++) x[(size_t)b * T * H * W * C + i] = px[i] / 127.5f - 1.0f;
  }
  tsr_free(px);
}

static void run(int steps, float *losses, float *recon0, float *recon1) {
  VaeConfig c = {.in_channels = C, .base_channels = 8, .levels = 2, .channel_mult = {1, 2}, .temporal_down = {1},
                 .n_temporal_down = 1, .res_blocks = 1, .latent_channels = 4, .groups = 4, .kl_weight = 1e-4f,
                 .loss = "l2"};
  TsrErr e;
  TSR_ASSERT(vae_config_finalize(&c, "test", &e) == 0, "%s", e.msg);
  Vae v;
  vae_build(&v, &c, backend_cpu());
  params_init(&v.params, 3);
  TSR_ASSERT(vae_alloc(&v, B, T, H, W, VAE_TRAIN, &e) == 0, "%s", e.msg);
  float *x = tsr_calloc((size_t)B * T * H * W * C, sizeof(float));
  clips(x);
  VaeAdam o;
  vae_adam_init(&o, &v);
  const VaeAdamHyper h = {.lr = 5e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.0f};
  for (int s = 0; s < steps; s++) {
    losses[s] = vae_train_step(&v, &o, &h, x, 0, 1000 + (uint64_t)s);
    if (s == 0) *recon0 = v.recon_loss;
  }
  vae_forward(&v, x, 0, 1);
  *recon1 = v.recon_loss;
  vae_adam_free(&o, &v);
  vae_free(&v);
  tsr_free(x);
}

int main(void) {
  // one thread: these are small problems, and on a shared 2-core machine two
  // OpenMP threads spin-wait for each other (measured 5x slower under load)
  omp_set_num_threads(1);
  float a[STEPS], b[STEPS], r0, r1, r0b, r1b;
  run(STEPS, a, &r0, &r1);
  for (int s = 0; s < STEPS; s += 10) printf("  step %2d loss %.5f\n", s, a[s]);
  printf("  step %2d loss %.5f; recon before %.5f after %.5f\n", STEPS - 1, a[STEPS - 1], r0, r1);
  // the bar: the error of the best constant (each clip's own per-channel mean colour)
  float *x = tsr_calloc((size_t)B * T * H * W * C, sizeof(float));
  clips(x);
  double var = 0;
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++) {
      double s = 0, q = 0;
      const int n = T * H * W;
      for (int i = 0; i < n; i++) s += x[((size_t)b * n + i) * C + c];
      for (int i = 0; i < n; i++) q += pow(x[((size_t)b * n + i) * C + c] - s / n, 2);
      var += q / ((double)B * C * n);
    }
  tsr_free(x);
  printf("  mean colour per clip (the best constant): error %.5f\n", var);
  EXPECT(a[STEPS - 1] < 0.35f * a[0], "loss %.5f -> %.5f: did not fall below 35%%", a[0], a[STEPS - 1]);
  EXPECT(r1 < 0.5 * var, "reconstruction error %.5f -> %.5f, not below half the best constant's %.5f", r0, r1, var);
  run(REPEAT, b, &r0b, &r1b);
  EXPECT(memcmp(a, b, REPEAT * sizeof a[0]) == 0, "two runs from the same seed differ in their first %d losses", REPEAT);
  return tl_finish("test_vae_train");
}
