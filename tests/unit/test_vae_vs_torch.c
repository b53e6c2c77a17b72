// The whole autoencoder against the independent PyTorch implementation
// (tests/ref/vae.py, written from docs/vae.md): writes a case file (config,
// parameters, clip, noise, outputs, loss terms, every parameter gradient)
// and runs tests/ref/check_vae.py on it, which recomputes everything in
// float64 and compares. Also here, in C: causality (a one-frame clip
// encodes to the first latent frame of the longer clip; the first latent
// frame alone decodes to the first frame of the longer decode), and a clip
// that does not fit the compression is refused with a message.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/h5io.h"
#include "model_case.h"
#include "testlib.h"
#include "vae/vae.h"

static VaeConfig small_config(int levels, const int *mult, const int *td) {
  VaeConfig c = {.in_channels = 3, .base_channels = 8, .levels = levels, .n_temporal_down = levels - 1,
                 .res_blocks = 1, .latent_channels = 2, .groups = 4, .kl_weight = 0.5f, .loss = "l2"};
  strcpy(c.name, "ref-small");
  for (int l = 0; l < levels; l++) c.channel_mult[l] = mult[l];
  for (int l = 0; l + 1 < levels; l++) c.temporal_down[l] = td[l];
  TsrErr e;
  TSR_ASSERT(vae_config_finalize(&c, "test", &e) == 0, "%s", e.msg);
  return c;
}

static void write_config(hid_t f, const VaeConfig *c) {
  char json[512], mult[64] = "", td[64] = "";
  for (int l = 0; l < c->levels; l++) snprintf(mult + strlen(mult), sizeof mult - strlen(mult), "%s%d", l ? "," : "", c->channel_mult[l]);
  for (int l = 0; l + 1 < c->levels; l++) snprintf(td + strlen(td), sizeof td - strlen(td), "%s%d", l ? "," : "", c->temporal_down[l]);
  snprintf(json, sizeof json,
           "{\"in_channels\":%d,\"base_channels\":%d,\"channel_mult\":[%s],\"temporal_down\":[%s],\"res_blocks\":%d,"
           "\"latent_channels\":%d,\"groups\":%d,\"kl_weight\":%.9g}",
           c->in_channels, c->base_channels, mult, td, c->res_blocks, c->latent_channels, c->groups, c->kl_weight);
  h5_attr_str(f, "config", json);
}

static float *clip_of(int64_t n, uint32_t stream) {
  float *x = tsr_calloc((size_t)n, sizeof(float));
  tl_fill(x, n, stream);
  return x;
}

static void check_case(const char *path, const VaeConfig *c, int B, int T, int H, int W) {
  Vae v;
  vae_build(&v, c, backend_cpu());
  params_init_uniform(&v.params, 11, 0.15f);
  TsrErr e;
  EXPECT(vae_alloc(&v, B, T, H, W, VAE_TRAIN, &e) == 0, "vae_alloc: %s", e.msg);
  const int C = c->in_channels;
  const int64_t nx = (int64_t)B * T * H * W * C;
  float *x = clip_of(nx, 3), *out = tsr_calloc((size_t)nx, sizeof(float));
  params_zero_grad(&v.params);
  const float loss = vae_forward(&v, x, 0, 42);
  vae_backward(&v);
  vae_read_recon(&v, out);

  hid_t f = h5_create(path);
  write_config(f, c);
  char *names = tsr_calloc((size_t)v.params.count, PARAM_NAME_MAX + 1);
  for (int i = 0; i < v.params.count; i++) strcat(strcat(names, v.params.items[i].name), "\n");
  h5_attr_str(f, "param_names", names);
  case_write_params(f, "params", &v.params, v.params.data);
  case_write_params(f, "grads", &v.params, v.params.grad);
  const VaeTensor *z = &v.t[v.t_z], *mom = &v.t[v.t_moments];
  int64_t dx[5] = {B, T, H, W, C}, dz[5] = {B, z->c, z->d, z->h, z->w}, dm[5] = {B, mom->c, mom->d, mom->h, mom->w};
  int64_t one[1] = {1};
  h5_write(f, "/inputs/x", H5T_NATIVE_FLOAT, x, 5, dx);
  h5_write(f, "/inputs/eps", H5T_NATIVE_FLOAT, v.eps, 5, dz);  // CPU backend: host memory
  h5_write(f, "/outputs/out", H5T_NATIVE_FLOAT, out, 5, dx);
  h5_write(f, "/outputs/moments", H5T_NATIVE_FLOAT, mom->x, 5, dm);
  h5_write(f, "/outputs/loss", H5T_NATIVE_FLOAT, &loss, 1, one);
  h5_write(f, "/outputs/recon", H5T_NATIVE_FLOAT, &v.recon_loss, 1, one);
  h5_write(f, "/outputs/kl", H5T_NATIVE_FLOAT, &v.kl, 1, one);
  h5_close(f);
  printf("wrote %s: %d params (%zu floats), loss %.6f (recon %.6f, kl %.6f)\n", path, v.params.count, v.params.total,
         loss, v.recon_loss, v.kl);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/ref/check_vae.py %s", path);
  fflush(stdout);
  int rc = system(cmd);
  EXPECT(rc == 0, "%s: check_vae.py reported a mismatch (exit %d)", path, rc);
  tsr_free(names), tsr_free(x), tsr_free(out);
  vae_free(&v);
}

// Encoding frame 0 alone gives latent frame 0 of the whole clip; decoding
// latent frame 0 alone gives frame 0 of the whole decode.
static void check_causal(const VaeConfig *c, int B, int T, int H, int W) {
  Vae v;
  vae_build(&v, c, backend_cpu());
  params_init_uniform(&v.params, 5, 0.15f);
  TsrErr e;
  const int C = c->in_channels, Z = c->latent_channels;
  TSR_ASSERT(vae_alloc(&v, B, T, H, W, VAE_TRAIN, &e) == 0, "%s", e.msg);
  const int Tl = vae_latent_t(c, T), hw = H * W, lhw = (H / c->cs) * (W / c->cs);
  const int64_t nx = (int64_t)B * T * hw * C, nl = (int64_t)B * Tl * lhw * Z;
  float *x = clip_of(nx, 9), *lat = tsr_calloc((size_t)nl, sizeof(float)), *dec = tsr_calloc((size_t)nx, sizeof(float));
  vae_encode(&v, x, lat);
  vae_decode(&v, lat, dec);
  // the first frame of each clip, the first latent frame of each clip
  float *x1 = tsr_calloc((size_t)B * hw * C, sizeof(float)), *lat1 = tsr_calloc((size_t)B * lhw * Z, sizeof(float));
  float *want_l = tsr_calloc((size_t)B * lhw * Z, sizeof(float)), *want_d = tsr_calloc((size_t)B * hw * C, sizeof(float));
  float *dec1 = tsr_calloc((size_t)B * hw * C, sizeof(float));
  for (int b = 0; b < B; b++) {
    memcpy(x1 + (size_t)b * hw * C, x + (size_t)b * T * hw * C, sizeof(float) * hw * C);
    memcpy(want_l + (size_t)b * lhw * Z, lat + (size_t)b * Tl * lhw * Z, sizeof(float) * lhw * Z);
    memcpy(want_d + (size_t)b * hw * C, dec + (size_t)b * T * hw * C, sizeof(float) * hw * C);
  }
  // the same clip through an arena without gradients encodes the same, in less memory
  const size_t train_bytes = v.arena.size;
  float *lat_inf = tsr_calloc((size_t)nl, sizeof(float));
  TSR_ASSERT(vae_alloc(&v, B, T, H, W, VAE_INFER, &e) == 0, "%s", e.msg);
  vae_encode(&v, x, lat_inf);
  EXPECT(memcmp(lat_inf, lat, (size_t)nl * sizeof(float)) == 0, "encode differs between VAE_TRAIN and VAE_INFER");
  EXPECT(v.arena.size < 0.6 * train_bytes, "VAE_INFER arena %zu bytes, VAE_TRAIN %zu", v.arena.size, train_bytes);
  printf("  arena for %dx%dx%dx%d: %.2f MiB training, %.2f MiB inference\n", B, T, H, W, train_bytes / 1048576.0,
         v.arena.size / 1048576.0);
  tsr_free(lat_inf);
  TSR_ASSERT(vae_alloc(&v, B, 1, H, W, VAE_INFER, &e) == 0, "%s", e.msg);
  vae_encode(&v, x1, lat1);
  EXPECT_CLOSE(lat1, want_l, (int64_t)B * lhw * Z, 1e-5, "encode(frame 0) = latent frame 0 of the clip");
  vae_decode(&v, want_l, dec1);
  EXPECT_CLOSE(dec1, want_d, (int64_t)B * hw * C, 1e-5, "decode(latent frame 0) = frame 0 of the decode");
  // and a later frame does change the later latents (the test is not vacuous)
  double diff = 0;
  for (int b = 0; b < B; b++)
    for (int i = 0; i < lhw * Z; i++) diff += fabs(lat[((size_t)b * Tl + Tl - 1) * lhw * Z + i] - want_l[(size_t)b * lhw * Z + i]);
  EXPECT(diff > 1e-3, "the last latent frame equals the first: the causality check is vacuous");
  // a clip that does not fit the compression is refused
  EXPECT(vae_alloc(&v, B, T + 1, H, W, VAE_TRAIN, &e) == -1 && strstr(e.msg, "frames"), "T+1 frames accepted (msg '%s')", e.msg);
  EXPECT(vae_alloc(&v, B, T, H + 1, W, VAE_TRAIN, &e) == -1 && strstr(e.msg, "size"), "H+1 accepted (msg '%s')", e.msg);
  printf("  refused: %s\n", e.msg);
  tsr_free(x), tsr_free(lat), tsr_free(dec), tsr_free(x1), tsr_free(lat1), tsr_free(want_l), tsr_free(want_d);
  tsr_free(dec1);
  vae_free(&v);
}

int main(void) {
  mkdir("build/tmp", 0755);
  const int m2[2] = {1, 2}, t2[1] = {1};
  VaeConfig a = small_config(2, m2, t2);  // 2x2x2, widths 8, 16
  check_case("build/tmp/vae_case_a.h5", &a, 2, 5, 8, 8);
  const int m3[3] = {1, 2, 2}, t3[2] = {0, 1};
  VaeConfig b = small_config(3, m3, t3);  // 2x4x4: a down-sampling in space only, then space and time
  b.res_blocks = 2;
  check_case("build/tmp/vae_case_b.h5", &b, 1, 3, 8, 8);
  check_causal(&a, 2, 5, 8, 8);
  check_causal(&b, 1, 5, 8, 8);
  // configs/vae/standard.yaml's network (4 levels, time halved at the last two
  // down-samplings: 4x8x8) at width 8 instead of 96: 9 frames -> 3 latent frames
  VaeConfig std;
  TsrErr e;
  TSR_ASSERT(vae_config_load(&std, "configs/vae/standard.yaml", &e) == 0, "%s", e.msg);
  std.base_channels = 8, std.groups = 4;
  TSR_ASSERT(vae_config_finalize(&std, "standard at width 8", &e) == 0, "%s", e.msg);
  EXPECT(std.ct == 4 && std.cs == 8, "standard: compression %dx%dx%d", std.ct, std.cs, std.cs);
  check_causal(&std, 1, 9, 16, 16);
  return tl_finish("test_vae_vs_torch");
}
