// Latent corpora (latent/latent_encode.h, data/corpus.h; docs/vae.md "Latent
// corpora"): a two-bucket pixel corpus with a meta column, encoded in-process
// through a small random VAE, then
//  - tests/ref/check_latent_corpus.py: every stored latent against the
//    PyTorch reference encoder on a numpy reshape of the pixel patches, the
//    statistics against numpy, the VAE hash against hashlib, captions, tokens,
//    vocabulary and meta carried over;
//  - the reader: corpus_read_patches returns (z - mean) / std of the stored
//    float16 values, read here through HDF5's own float16 -> float conversion;
//  - a non-finite stored latent is an error naming the clip.
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/corpus.h"
#include "kernels/backend.h"
#include "latent/latent_encode.h"
#include "testlib.h"
#include "vae/vae_ckpt.h"

#define DIR "build/tmp/latent_unit"

static void make_vae(const char *path) {
  VaeConfig c = {.in_channels = 3, .base_channels = 8, .levels = 2, .channel_mult = {1, 2}, .n_temporal_down = 1,
                 .temporal_down = {1}, .res_blocks = 1, .latent_channels = 4, .groups = 4, .kl_weight = 1e-6f,
                 .loss = "l2"};
  strcpy(c.name, "latent-test");
  TsrErr e = {0};
  TSR_ASSERT(vae_config_finalize(&c, "test", &e) == 0, "%s", e.msg);
  Vae v = {0};
  vae_build(&v, &c, backend_cpu());
  params_init(&v.params, 7);
  VaeCkptState s = {.seed = 7};
  TSR_ASSERT(vae_ckpt_save(path, &v, NULL, &s, &e) == 0, "%s", e.msg);
  vae_free(&v);
}

// Two buckets (5x16x16: 3 clips, 3x8x16: 2 clips) of smooth random colour fields, patch 1x4x4.
static void make_pixels(const char *path) {
  TsrErr e = {0};
  CorpusWriter *w = corpus_writer_open(path, 1, 4, 4, 3, 16, &e);
  TSR_ASSERT(w, "%s", e.msg);
  const int sizes[2][4] = {{5, 16, 16, 3}, {3, 8, 16, 2}};
  static const char *caps[5] = {"a red circle moves left", "a blue square", "green things", "an orange blob drifts",
                                "two grey lines"};
  int k = 0;
  for (int b = 0; b < 2; b++) {
    const int T = sizes[b][0], H = sizes[b][1], W = sizes[b][2];
    uint8_t *px = malloc((size_t)T * H * W * 3);
    for (int i = 0; i < sizes[b][3]; i++, k++) {
      for (int t = 0; t < T; t++)
        for (int y = 0; y < H; y++)
          for (int x = 0; x < W; x++)
            for (int ch = 0; ch < 3; ch++)
              px[(((size_t)t * H + y) * W + x) * 3 + ch] =
                  (uint8_t)(127.5 + 120 * sin(0.3 * (x + 2 * t) * (ch + 1) + 0.2 * y * (k + 1)));
      CorpusClip cc = {.pixels = px, .caption = caps[k], .recaption = caps[4 - k], .source = "test", .fps = 8.0f + (float)k};
      TSR_ASSERT(corpus_writer_add(w, T, H, W, &cc, &e) == 0, "%s", e.msg);
      const float meta[2] = {(float)k, -(float)k};
      corpus_writer_meta(w, T, H, W, "speed", meta, 2);
    }
    free(px);
  }
  TSR_ASSERT(corpus_writer_close(w, &e) == 0, "%s", e.msg);
}

// corpus_read_patches of every clip against HDF5's own float16 reading, normalised here.
static void check_reader(const char *path) {
  Corpus c;
  TsrErr e = {0};
  EXPECT(corpus_open(&c, path, &e) == 0, "open %s: %s", path, e.msg);
  if (!c.file) return;
  EXPECT(c.latent == 1 && c.channels == 4 && c.ct == 2 && c.cs == 2, "latent %d channels %d ct %d cs %d", c.latent,
         c.channels, c.ct, c.cs);
  EXPECT(c.nbuckets == 2 && corpus_bucket(&c, 3, 8, 8) && corpus_bucket(&c, 2, 4, 8), "buckets: the latent grids");
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  double worst = 0;
  for (int bi = 0; bi < c.nbuckets; bi++) {
    const CorpusBucket *b = &c.buckets[bi];
    char name[96];
    snprintf(name, sizeof name, "/buckets/%s/patches", b->name);
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    const size_t m = (size_t)b->count * b->N * b->P;
    float *raw = malloc(m * sizeof(float)), *got = malloc((size_t)b->N * b->P * sizeof(float));
    EXPECT(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0, "read %s", name);
    H5Dclose(ds);
    for (int i = 0; i < b->count; i++) {
      EXPECT(corpus_read_patches(&c, b, i, 0, b->N, got, &e) == 0, "read clip %d: %s", i, e.msg);
      for (size_t q = 0; q < (size_t)b->N * b->P; q++) {
        const int z = (int)(q % (size_t)c.channels);
        const double want = ((double)raw[(size_t)i * b->N * b->P + q] - c.latent_mean[z]) / c.latent_std[z];
        worst = fmax(worst, fabs(got[q] - want));
      }
    }
    free(raw), free(got);
  }
  H5Fclose(f);
  EXPECT(worst < 1e-5, "corpus_read_patches differs from (z - mean) / std by %g", worst);
  printf("  ok  reader: normalised latents within %.2g of HDF5's float16 values\n", worst);
  corpus_close(&c);
}

// A NaN written into clip 1 of bucket 3x8x8 is refused by the reader, naming it.
static void check_nan(const char *path) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t ds = H5Dopen2(f, "/buckets/3x8x8/patches", H5P_DEFAULT), sp = H5Dget_space(ds);
  hsize_t at[3] = {1, 5, 3}, one[3] = {1, 1, 1};
  H5Sselect_hyperslab(sp, H5S_SELECT_SET, at, NULL, one, NULL);
  hid_t ms = H5Screate_simple(3, one, NULL);
  const float nan = NAN;
  EXPECT(H5Dwrite(ds, H5T_NATIVE_FLOAT, ms, sp, H5P_DEFAULT, &nan) >= 0, "write a NaN");
  H5Sclose(ms), H5Sclose(sp), H5Dclose(ds), H5Fclose(f);
  Corpus c;
  TsrErr e = {0};
  if (corpus_open(&c, path, &e)) {
    EXPECT(0, "open after the NaN: %s", e.msg);
    return;
  }
  const CorpusBucket *b = corpus_bucket(&c, 3, 8, 8);
  float *x = malloc((size_t)b->N * b->P * sizeof(float));
  EXPECT(corpus_read_patches(&c, b, 0, 0, b->N, x, &e) == 0, "clip 0 stays readable: %s", e.msg);
  int rc = corpus_read_patches(&c, b, 1, 0, b->N, x, &e);
  EXPECT(rc == -1 && strstr(e.msg, "clip 1") && strstr(e.msg, "token 5") && strstr(e.msg, "finite"),
         "a NaN latent: rc %d, '%s'", rc, e.msg);
  printf("  ok  NaN: %s\n", e.msg);
  free(x);
  corpus_close(&c);
}

int main(void) {
  mkdir("build/tmp", 0755);
  mkdir(DIR, 0755);
  make_vae(DIR "/vae.h5");
  make_pixels(DIR "/px.h5");
  CommContext cc;
  comm_layout(&cc, 1, 1, 1, "test");
  LatentEncodeOptions o = {.vae = DIR "/vae.h5", .in = DIR "/px.h5", .out = DIR "/lat.h5"};
  LatentEncodeReport rep;
  TsrErr e = {0};
  int rc = latent_encode_corpus(&o, &cc.world, &rep, &e);
  EXPECT(rc == 0 && rep.clips == 5 && rep.buckets == 2 && rep.Z == 4, "encode: rc %d (%s), %lld clips, %d buckets",
         rc, e.msg, (long long)rep.clips, rep.buckets);
  EXPECT(system("/usr/bin/python3 tests/ref/check_latent_corpus.py " DIR "/px.h5 " DIR "/vae.h5 " DIR "/lat.h5") == 0,
         "check_latent_corpus.py");
  check_reader(DIR "/lat.h5");
  check_nan(DIR "/lat.h5");
  comm_free(&cc);
  return tl_finish("test_latent_corpus");
}
