// The autoencoder on the CUDA backend's table against the CPU backend: the
// same parameters and clips, 3 training steps (forward, backward, AdamW
// through be_adamw_update) and an encode + decode on each; losses,
// parameters, latents and decoded clips compared; also the chunked encode
// and decode (a causal cache per conv) on the CUDA table against the CPU's
// whole-clip ones. Built here over the CPU
// stand-in of the gpu_* functions (build/cuda/test_vae_standin, mk/vae.mk):
// the stand-in calls the CPU backend's ops, so everything must be bit for bit
// the same and what is tested is src/vae's use of the backend (memory in the
// backend's space, uploads, downloads, the table), as
// tests/cuda/test_model_backends.c does for the DiT.
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "kernels/backend.h"
#include "testlib.h"
#include "vae/vae_train.h"

enum { B = 2, T = 5, H = 16, W = 16, C = 3, STEPS = 3 };

typedef struct {
  float loss[STEPS];
  float *params, *lat, *dec;
  float *clat, *cdec;  // the same encode and decode chunk by chunk (vae_alloc_chunked, chunks of 1)
} Run;

static void run(const Backend *be, const float *x, Run *r) {
  VaeConfig c = {.in_channels = C, .base_channels = 8, .levels = 3, .channel_mult = {1, 2, 2}, .temporal_down = {0, 1},
                 .n_temporal_down = 2, .res_blocks = 1, .latent_channels = 4, .groups = 4, .kl_weight = 0.1f,
                 .loss = "l2"};
  TsrErr e;
  TSR_ASSERT(vae_config_finalize(&c, "test", &e) == 0, "%s", e.msg);
  Vae v;
  vae_build(&v, &c, be);
  params_init(&v.params, 5);
  TSR_ASSERT(vae_alloc(&v, B, T, H, W, VAE_TRAIN, &e) == 0, "%s", e.msg);
  VaeAdam o;
  vae_adam_init(&o, &v);
  const VaeAdamHyper h = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.01f};
  for (int s = 0; s < STEPS; s++) r->loss[s] = vae_train_step(&v, &o, &h, x, 0, 77 + (uint64_t)s);
  r->params = tsr_calloc(v.params.total, sizeof(float));
  be_download(be, r->params, v.params.data, v.params.total * sizeof(float));
  r->lat = tsr_calloc(vae_latent_floats(&v) * B, sizeof(float));
  r->dec = tsr_calloc((size_t)B * T * H * W * C, sizeof(float));
  vae_encode(&v, x, r->lat);
  vae_decode(&v, r->lat, r->dec);
  r->clat = tsr_calloc(vae_latent_floats(&v) * B, sizeof(float));
  r->cdec = tsr_calloc((size_t)B * T * H * W * C, sizeof(float));
  TSR_ASSERT(vae_alloc_chunked(&v, B, 1, H, W, VAE_CHUNK_ENCODE | VAE_CHUNK_DECODE, &e) == 0, "%s", e.msg);
  vae_encode_chunked(&v, x, T, r->clat);
  vae_decode_chunked(&v, r->lat, vae_latent_t(&c, T), r->cdec);
  printf("  %-40s losses %.6f %.6f %.6f, %zu parameters\n", be->name, r->loss[0], r->loss[1], r->loss[2],
         v.params.total);
  vae_adam_free(&o, &v);
  vae_free(&v);
}

static void same(const float *a, const float *b, size_t n, const char *what) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += memcmp(&a[i], &b[i], sizeof(float)) != 0;
  EXPECT(bad == 0, "%s: %zu of %zu values differ from the CPU backend", what, bad, n);
  if (!bad) printf("  ok  %-36s bit-identical (%zu values)\n", what, n);
}

int main(void) {
  char why[256];
  Backend *cuda = backend_cuda_open(0, 0, why, sizeof why);
  if (!cuda) {
    printf("SKIPPED: %s\n", why);
    return 0;
  }
  float *x = tsr_calloc((size_t)B * T * H * W * C, sizeof(float));
  tl_fill(x, (int64_t)B * T * H * W * C, 1);
  Run a, b;
  run(backend_cpu(), x, &a);
  run(cuda, x, &b);
  same(a.loss, b.loss, STEPS, "losses of 3 AdamW steps");
  // the parameter count: a second build of the same config
  Vae probe;
  VaeConfig c = {.in_channels = C, .base_channels = 8, .levels = 3, .channel_mult = {1, 2, 2}, .temporal_down = {0, 1},
                 .n_temporal_down = 2, .res_blocks = 1, .latent_channels = 4, .groups = 4, .kl_weight = 0.1f,
                 .loss = "l2"};
  TsrErr e;
  vae_config_finalize(&c, "test", &e);
  vae_build(&probe, &c, backend_cpu());
  same(a.params, b.params, probe.params.total, "parameters after 3 steps");
  const size_t nl = (size_t)B * vae_latent_t(&c, T) * (H / c.cs) * (W / c.cs) * c.latent_channels;
  vae_free(&probe);
  same(a.lat, b.lat, nl, "encode");
  same(a.dec, b.dec, (size_t)B * T * H * W * C, "decode");
  same(b.clat, a.lat, nl, "chunked encode (vs whole, CPU)");
  same(b.cdec, a.dec, (size_t)B * T * H * W * C, "chunked decode (vs whole, CPU)");
  backend_close(cuda);
  return tl_finish("test_vae_backends");
}
