// The latent codec (infer/latent_codec.h) against the PyTorch reference
// autoencoder (tests/ref/check_latent_corpus.py --codec): normalised latent
// patches de-normalised with the checkpoint's statistics, unpatchified and
// decoded to uint8 frames; an image encoded to its normalised first latent
// frame, three frames to their two latent frames. Plus the checks of latent_codec_open (another VAE's hash, a
// checkpoint without a latent space) and the latent space's text form.
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/sha256.h"
#include "infer/latent_codec.h"
#include "kernels/backend.h"
#include "latent/latent_space.h"
#include "testlib.h"
#include "vae/vae_ckpt.h"

#define DIR "build/tmp/latent_codec"

static void make_vae(const char *path, uint64_t seed) {
  VaeConfig c = {.in_channels = 3, .base_channels = 8, .levels = 2, .channel_mult = {1, 2}, .n_temporal_down = 1,
                 .temporal_down = {1}, .res_blocks = 1, .latent_channels = 4, .groups = 4, .kl_weight = 1e-6f,
                 .loss = "l2"};
  strcpy(c.name, "codec-test");
  TsrErr e = {0};
  TSR_ASSERT(vae_config_finalize(&c, "test", &e) == 0, "%s", e.msg);
  Vae v = {0};
  vae_build(&v, &c, backend_cpu());
  params_init(&v.params, seed);
  VaeCkptState s = {.seed = seed};
  TSR_ASSERT(vae_ckpt_save(path, &v, NULL, &s, &e) == 0, "%s", e.msg);
  vae_free(&v);
}

static void write(hid_t f, const char *name, hid_t type, const void *data, int nd, const hsize_t *dims) {
  hid_t sp = H5Screate_simple(nd, dims, NULL), ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(ds), H5Sclose(sp);
}

int main(void) {
  mkdir("build/tmp", 0755);
  mkdir(DIR, 0755);
  make_vae(DIR "/vae.h5", 5);
  make_vae(DIR "/other.h5", 6);
  // A latent model's window: 3 latent frames of 4x6 (pixels 5 x 8x12), patch 1x2x2.
  ModelConfig m = {.frames = 3, .height = 4, .width = 6, .channels = 4, .pt = 1, .ph = 2, .pw = 2};
  snprintf(m.vae, sizeof m.vae, "%s", DIR "/vae.h5");
  LatentSpace ls = {.ct = 2, .cs = 2, .channels = 4, .mean = {0.5f, -0.25f, 0.1f, 0.0f}, .std = {0.3f, 0.6f, 1.5f, 0.9f}};
  TSR_ASSERT(sha256_file(m.vae, ls.vae_sha256, NULL) == 0, "hash");
  char spec[4096];
  EXPECT(latent_space_format(&ls, spec, sizeof spec) == 0, "format");
  LatentSpace back;
  TsrErr e = {0};
  EXPECT(latent_space_parse(spec, "ckpt", &back, &e) == 0 && !memcmp(&back, &ls, sizeof ls), "parse(format) != the space: %s",
         e.msg);

  LatentCodec *lc = NULL;
  EXPECT(latent_codec_open(&lc, &m, spec, "ckpt.h5", &e) == 0 && lc, "open: %s", e.msg);
  if (!lc) return tl_finish("test_latent_codec");
  ModelConfig pix;
  const ModelConfig *p = latent_codec_pixels(lc, &m, &pix);
  EXPECT(p->frames == 5 && p->height == 8 && p->width == 12 && p->channels == 3, "pixels %dx%dx%dx%d", p->frames,
         p->height, p->width, p->channels);
  const int N = 3 * 2 * 3, P = 16;
  float patches[N * P];
  tl_fill(patches, N * P, 3);
  uint8_t frames[5 * 8 * 12 * 3], image[8 * 12 * 3];
  latent_codec_decode(lc, &m, patches, frames);
  for (int i = 0; i < 8 * 12 * 3; i++) image[i] = (uint8_t)(i * 37 % 256);
  float latent[4 * 6 * 4];
  EXPECT(latent_codec_encode_frames(lc, image, 1, 8, 12, latent) == 1, "an image is one latent frame");
  uint8_t clip3[3 * 8 * 12 * 3];  // three frames: the two latent frames they make (1 + 2/ct)
  for (int i = 0; i < 3 * 8 * 12 * 3; i++) clip3[i] = (uint8_t)(i * 91 % 253);
  float latent3[2 * 4 * 6 * 4];
  EXPECT(latent_codec_encode_frames(lc, clip3, 3, 8, 12, latent3) == 2, "three frames are two latent frames");
  latent_codec_free(lc);

  hid_t f = H5Fcreate(DIR "/case.h5", H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t dp[2] = {N, P}, df[4] = {5, 8, 12, 3}, di[3] = {8, 12, 3}, dl[3] = {4, 6, 4}, dz[1] = {4};
  write(f, "patches", H5T_NATIVE_FLOAT, patches, 2, dp);
  write(f, "frames", H5T_NATIVE_UINT8, frames, 4, df);
  write(f, "image", H5T_NATIVE_UINT8, image, 3, di);
  write(f, "latent", H5T_NATIVE_FLOAT, latent, 3, dl);
  const hsize_t dc[4] = {3, 8, 12, 3}, dl3[4] = {2, 4, 6, 4};
  write(f, "clip3", H5T_NATIVE_UINT8, clip3, 4, dc);
  write(f, "latent3", H5T_NATIVE_FLOAT, latent3, 4, dl3);
  write(f, "mean", H5T_NATIVE_FLOAT, ls.mean, 1, dz);
  write(f, "std", H5T_NATIVE_FLOAT, ls.std, 1, dz);
  H5Fclose(f);
  EXPECT(system("/usr/bin/python3 tests/ref/check_latent_corpus.py --codec " DIR "/case.h5 " DIR "/vae.h5") == 0,
         "the codec against the PyTorch autoencoder");

  // another VAE under model.vae; a checkpoint without a latent space
  snprintf(m.vae, sizeof m.vae, "%s", DIR "/other.h5");
  int rc = latent_codec_open(&lc, &m, spec, "ckpt.h5", &e);
  EXPECT(rc == -1 && !lc && strstr(e.msg, "ckpt.h5: model.vae: " DIR "/other.h5 has SHA-256") && strstr(e.msg, "another VAE"),
         "another VAE: rc %d '%s'", rc, e.msg);
  printf("  ok  %s\n", e.msg);
  rc = latent_codec_open(&lc, &m, "", "ckpt.h5", &e);
  EXPECT(rc == -1 && strstr(e.msg, "no attribute latent_space"), "no latent space: rc %d '%s'", rc, e.msg);
  m.vae[0] = 0;
  EXPECT(latent_codec_open(&lc, &m, "", "ckpt.h5", &e) == 0 && !lc, "a pixel model has no codec");
  return tl_finish("test_latent_codec");
}
