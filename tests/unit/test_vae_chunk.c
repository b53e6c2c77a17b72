// Long videos in bounded memory (docs/vae.md "Long videos: chunks and
// shards"): on random-weight autoencoders, the chunked decode and encode
// (a causal cache per temporal conv) equal the whole-clip vae_decode /
// vae_encode, for clip lengths that are not a multiple of the chunk, chunk
// sizes 1..4, two clips at once, and two temporal layouts (both down-samplings
// halving time; only the second). The max abs difference is printed (the
// check asks for 0: the same float operations in the same order). The
// decoder's halo (vae_decode_halo_start): a run started there gives the
// frames of the later latents exactly, one started a frame later does not.
// With --shard under mpirun: vae_decode_sharded over the world equals one
// rank's chunked decode and the whole-clip decode (tests/test_vae_shard.sh).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "core/error.h"
#include "testlib.h"
#include "vae/vae.h"
#include "vae/vae_shard.h"

static VaeConfig config(int td0, int td1) {
  VaeConfig c = {.in_channels = 3, .base_channels = 8, .levels = 3, .n_temporal_down = 2, .channel_mult = {1, 2, 2},
                 .temporal_down = {td0, td1}, .res_blocks = 1, .latent_channels = 4, .groups = 4, .kl_weight = 1e-6f,
                 .loss = "l2"};
  strcpy(c.name, "chunk-test");
  TsrErr e;
  TSR_ASSERT(vae_config_finalize(&c, "test", &e) == 0, "%s", e.msg);
  return c;
}

static void build(Vae *v, const VaeConfig *c) {
  vae_build(v, c, backend_cpu());
  params_init_uniform(&v->params, 7, 0.3f);
}

static float *filled(size_t n, uint32_t stream) {
  float *x = tsr_calloc(n, sizeof(float));
  tl_fill(x, (int64_t)n, stream);
  return x;
}

static double max_abs(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

static double max_abs_value(const float *a, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
  return m;
}

// Whole-clip decode and encode against the chunked ones.
static void check_chunked(const VaeConfig *c, int B, int Tl, int H, int W) {
  TsrErr e;
  Vae v;
  build(&v, c);
  const int T = 1 + (Tl - 1) * c->ct, h = H / c->cs, w = W / c->cs, Z = c->latent_channels;
  const size_t nl = (size_t)B * Tl * h * w * Z, nx = (size_t)B * T * H * W * c->in_channels;
  float *lat = filled(nl, 1), *clip = filled(nx, 2);
  float *want_x = tsr_calloc(nx, sizeof(float)), *got_x = tsr_calloc(nx, sizeof(float));
  float *want_z = tsr_calloc(nl, sizeof(float)), *got_z = tsr_calloc(nl, sizeof(float));
  EXPECT(vae_alloc(&v, B, T, H, W, VAE_INFER, &e) == 0, "vae_alloc: %s", e.msg);
  vae_decode(&v, lat, want_x);
  vae_encode(&v, clip, want_z);
  EXPECT(max_abs_value(want_x, nx) > 0.05 && max_abs_value(want_z, nl) > 0.05, "outputs near zero: a vacuous test");
  for (int k = 1; k <= 4; k++) {
    EXPECT(vae_alloc_chunked(&v, B, k, H, W, VAE_CHUNK_ENCODE | VAE_CHUNK_DECODE, &e) == 0, "chunked: %s", e.msg);
    memset(got_x, 0, nx * sizeof(float)), memset(got_z, 0, nl * sizeof(float));
    vae_decode_chunked(&v, lat, Tl, got_x);
    vae_encode_chunked(&v, clip, T, got_z);
    const double dx = max_abs(got_x, want_x, nx), dz = max_abs(got_z, want_z, nl);
    printf("  td [%d,%d] B %d, %d latent frames (%d frames) in chunks of %d: decode max |diff| %.3g, encode %.3g\n",
           c->temporal_down[0], c->temporal_down[1], B, Tl, T, k, dx, dz);
    EXPECT(dx == 0 && dz == 0, "chunk %d: decode differs by %.3g, encode by %.3g", k, dx, dz);
  }
  free(lat), free(clip), free(want_x), free(got_x), free(want_z), free(got_z);
  vae_free(&v);
}

// A run from vae_decode_halo_start(a) decodes latents >= a exactly; one
// started a latent frame later is wrong there.
static void check_halo(const VaeConfig *c, int Tl, int a) {
  TsrErr e;
  Vae v;
  build(&v, c);
  const int H = 8, W = 8, k = 3, T = 1 + (Tl - 1) * c->ct, F0 = 1 + (a - 1) * c->ct;
  const size_t lf = (size_t)(H / c->cs) * (W / c->cs) * c->latent_channels, pf = (size_t)H * W * c->in_channels;
  float *lat = filled(Tl * lf, 5), *want = tsr_calloc(T * pf, sizeof(float)), *got = tsr_calloc(T * pf, sizeof(float));
  EXPECT(vae_alloc_chunked(&v, 1, k, H, W, VAE_CHUNK_DECODE, &e) == 0, "chunked: %s", e.msg);
  vae_decode_chunked(&v, lat, Tl, want);
  const int s = vae_decode_halo_start(&v, a);
  EXPECT(s > 0 && s < a, "halo start %d for latent frame %d: expected within (0, %d)", s, a, a);
  if (!(s > 0 && s < a)) return;
  double d[2];
  for (int late = 0; late < 2; late++) {
    vae_chunk_reset(&v);
    memset(got, 0, T * pf * sizeof(float));
    for (int t0 = s + late; t0 < Tl;) {
      const int n = Tl - t0 < k ? Tl - t0 : k;
      vae_decode_chunk(&v, lat + t0 * lf, t0, n, got + (1 + (size_t)(t0 - 1) * c->ct) * pf);
      t0 += n;
    }
    d[late] = max_abs(got + F0 * pf, want + F0 * pf, (T - F0) * pf);
  }
  printf("  halo of latent frame %d: start %d (%d frames): max |diff| %.3g; started at %d: %.3g\n", a, s, a - s, d[0],
         s + 1, d[1]);
  EXPECT(d[0] == 0, "from the halo start %d: frames of latents >= %d differ by %.3g", s, a, d[0]);
  EXPECT(d[1] > 1e-4, "one frame short of the halo the frames still agree (%.3g): the halo is not tight", d[1]);
  free(lat), free(want), free(got);
  vae_free(&v);
}

// Collective: sharded decode equals one rank's chunked and whole decode.
static void check_shard(const VaeConfig *c, int Tl, int k) {
  TsrErr e;
  Vae v;
  build(&v, c);
  CommContext cc;
  comm_layout(&cc, comm_world_size(), 1, 1, "test");
  const int H = 8, W = 12, T = 1 + (Tl - 1) * c->ct;
  const size_t nl = (size_t)Tl * (H / c->cs) * (W / c->cs) * c->latent_channels, nx = (size_t)T * H * W * c->in_channels;
  float *lat = filled(nl, 9), *one = tsr_calloc(nx, sizeof(float)), *whole = tsr_calloc(nx, sizeof(float));
  float *got = tsr_calloc(nx, sizeof(float));
  EXPECT(vae_alloc(&v, 1, T, H, W, VAE_INFER, &e) == 0, "vae_alloc: %s", e.msg);
  vae_decode(&v, lat, whole);
  EXPECT(vae_alloc_chunked(&v, 1, k, H, W, VAE_CHUNK_DECODE, &e) == 0, "chunked: %s", e.msg);
  vae_decode_chunked(&v, lat, Tl, one);
  const int decoded = vae_decode_sharded(&v, &cc.world, lat, Tl, got);
  int a, b;
  vae_shard_piece(Tl, cc.world_rank, cc.world_size, &a, &b);
  printf("  rank %d of %d: latent frames [%d, %d), decoded %d with the halo\n", cc.world_rank, cc.world_size, a, b,
         decoded);
  if (cc.world_rank == 0) {
    const double d1 = max_abs(got, one, nx), dw = max_abs(got, whole, nx);
    printf("  sharded over %d ranks, %d latent frames (%d frames), chunks of %d: max |diff| %.3g vs one rank's "
           "chunked decode, %.3g vs the whole-clip decode\n", cc.world_size, Tl, T, k, d1, dw);
    EXPECT(d1 == 0 && dw == 0, "sharded decode differs: %.3g (one rank chunked), %.3g (whole)", d1, dw);
    EXPECT(max_abs_value(got, nx) > 0.05, "sharded output near zero: a vacuous test");
  }
  free(lat), free(one), free(whole), free(got);
  vae_free(&v);
  comm_free(&cc);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc > 1 && !strcmp(argv[1], "--shard")) {
    comm_init(&argc, &argv);
    const VaeConfig c = config(1, 1);
    check_shard(&c, 41, 3);
    check_shard(&c, 6, 2);
    const int rc = tl_finish("test_vae_chunk --shard");
    comm_finalize();
    return rc;
  }
  const VaeConfig c11 = config(1, 1), c01 = config(0, 1);
  check_chunked(&c11, 1, 10, 8, 8);
  check_chunked(&c11, 2, 8, 8, 12);
  check_chunked(&c01, 1, 8, 8, 8);
  check_halo(&c11, 30, 22);
  check_halo(&c01, 30, 22);
  return tl_finish("test_vae_chunk");
}
