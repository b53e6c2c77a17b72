// Edits and long videos in latent space (infer/latent_codec.h, docs/vae.md
// "Edits and long videos in latent space") on a random latent model (4 latent
// frames of 4x4x4 in patches of 1x2x2) over a random causal VAE (compression
// 2x2x2: 7 pixel frames of 8x8 a window): for forward and backward
// extension, a connection, a loop, a remix and a long video, the input pixel
// frames come out bit-exact where they belong, and the made frames are the
// reference built here independently of generate.c's canvas: the inputs
// encoded whole by the VAE (vae_encode, each input on its own), each window
// the sampler run directly on the latent window placed by hand, and the whole
// latent video decoded in one piece (vae_decode; the codec decodes chunk by
// chunk). Requests a latent model cannot serve are refused with a reason.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/latent_codec.h"
#include "kernels/backend.h"
#include "kernels/ops.h"
#include "model/model.h"
#include "testlib.h"
#include "vae/vae.h"

enum { T = 4, h = 4, Z = 4, HW = 8, CT = 2, FR = HW * HW * 3, LF = h * h * Z };  // FR, LF: a pixel / latent frame
static const int32_t TOKENS[6] = {1, 5, 9, 13, 0, 0};
static const LatentSpace LS = {.ct = CT, .cs = 2, .channels = Z, .mean = {0.1f, -0.2f, 0.05f, 0.0f},
                               .std = {0.5f, 0.8f, 1.2f, 0.7f}};
static Vae ref;  // the reference VAE: the codec's weights, whole clips

static void random_video(uint8_t *v, int n, uint32_t stream) {
  for (int i = 0; i < n * FR; i++) v[i] = (uint8_t)(rng_uniform(77, RNG_TEST, stream, 0, (uint32_t)i) * 256.0f);
}

// n pixel frames (1 + k CT) -> 1 + k normalised latent frames, the whole clip at once
static int encode(const uint8_t *px, int n, float *z) {
  const int t = 1 + (n - 1) / CT;
  float *x = malloc((size_t)n * FR * sizeof(float));
  for (int i = 0; i < n * FR; i++) x[i] = (float)px[i] / 127.5f - 1.0f;
  TsrErr e = {0};
  TSR_ASSERT(vae_alloc(&ref, 1, n, HW, HW, VAE_INFER, &e) == 0, "%s", e.msg);
  vae_encode(&ref, x, z);
  for (int i = 0; i < t * LF; i++) z[i] = (z[i] - LS.mean[i % Z]) / LS.std[i % Z];
  free(x);
  return t;
}

// t normalised latent frames -> 1 + (t-1) CT uint8 frames, the whole video at once
static void decode(const float *z, int t, uint8_t *px) {
  const int n = 1 + (t - 1) * CT;
  float *y = malloc((size_t)n * FR * sizeof(float)), *zz = malloc((size_t)t * LF * sizeof(float));
  for (int i = 0; i < t * LF; i++) zz[i] = z[i] * LS.std[i % Z] + LS.mean[i % Z];
  TsrErr e = {0};
  TSR_ASSERT(vae_alloc(&ref, 1, n, HW, HW, VAE_INFER, &e) == 0, "%s", e.msg);
  vae_decode(&ref, zz, y);
  for (int i = 0; i < n * FR; i++) {
    const float v = (y[i] + 1.0f) * 127.5f;
    px[i] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v + 0.5f);
  }
  free(y), free(zz);
}

// The reference window: latent rows [T] (NULL: zero), cond per latent frame,
// the sampler run directly (seed, t0 of so); its T latent frames into out.
static void window(Model *m, const SamplerOptions *so, const float *const rows[T], const uint8_t cond[T], float *out) {
  const ModelConfig *c = &m->cfg;
  const size_t NP = (size_t)c->tokens * c->patch_dim;
  float *lat = calloc((size_t)T * LF, sizeof(float)), *x_src = calloc(NP, sizeof(float));
  float *x = calloc(NP, sizeof(float));
  for (int f = 0; f < T; f++)
    if (rows[f]) memcpy(lat + f * LF, rows[f], LF * sizeof(float));
  patchify(x_src, lat, 1, T, h, h, Z, c->pt, c->ph, c->pw);
  int32_t ntok = 4;
  sample_flow(m, so, 1, TOKENS, &ntok, cond, x_src, x);
  unpatchify(out, x, 1, T, h, h, Z, c->pt, c->ph, c->pw);
  free(lat), free(x_src), free(x);
}

static int run(Model *m, LatentCodec *lc, const GenerateRequest *r, uint8_t **out, int *n) {
  char err[256];
  int rc = latent_output_frames(lc, &m->cfg, r, n, err, sizeof err);
  EXPECT(rc == 0, "latent_output_frames: %s", err);
  if (rc) return -1;
  *out = calloc((size_t)*n * FR, 1);
  rc = latent_generate_video(m, lc, TOKENS, 4, r, *out, err, sizeof err);
  EXPECT(rc == 0, "latent_generate_video: %s", err);
  return rc;
}

static int same(const uint8_t *a, const uint8_t *b, int frames) { return !memcmp(a, b, (size_t)frames * FR); }
#define F(v, i) ((v) + (size_t)(i) * FR)
#define L(v, i) ((v) + (size_t)(i) * LF)
static SamplerOptions seeded(SamplerOptions so, int w) {  // window w's noise
  so.seed += (uint64_t)w;
  return so;
}

int main(void) {
  VaeConfig vc = {.in_channels = 3, .base_channels = 8, .levels = 2, .channel_mult = {1, 2}, .n_temporal_down = 1,
                  .temporal_down = {1}, .res_blocks = 1, .latent_channels = Z, .groups = 4, .kl_weight = 1e-6f,
                  .loss = "l2"};
  strcpy(vc.name, "latent-edits");
  MUST(vae_config_finalize(&vc, "test_latent_edits", &tl_err));
  LatentCodec *lc = latent_codec_new(&vc, &LS, 11);
  vae_build(&ref, &vc, backend_cpu());
  params_init(&ref.params, 11);
  ModelConfig c = {0};
  strcpy(c.name, "latent-edits");
  c.frames = T, c.height = h, c.width = h, c.channels = Z;
  c.pt = 1, c.ph = 2, c.pw = 2;
  c.dim = 32, c.depth = 2, c.heads = 2, c.mlp_ratio = 2;
  c.text_length = 6, c.text_layers = 1, c.vocab = 30, c.freq_dim = 32;
  MUST(model_config_finalize(&c, "test_latent_edits", &tl_err));
  Model m;
  model_build(&m, &c, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
  params_init_uniform(&m.params, 4, 0.25f);
  model_alloc_acts(&m, 2);
  const SamplerOptions so = {.steps = 2, .cfg = 2.0f, .shift = 1.0f, .seed = 5, .t0 = 1.0f};
  uint8_t A[7 * FR], B[5 * FR], S[9 * FR], want[32 * FR];
  float Az[4 * LF], Bz[3 * LF], Sz[5 * LF], w0[T * LF], w1[T * LF], canvas[16 * LF];
  random_video(A, 7, 1), random_video(B, 5, 2), random_video(S, 9, 3);
  encode(A, 7, Az), encode(B, 5, Bz), encode(S, 9, Sz);
  uint8_t *out;
  int n;

  // forward extension: [A: 4 latent][made 2]; one window from A's last 2 latent frames; 4 new pixel frames
  GenerateRequest ext = {.frames = 4, .sampler = so, .first = A, .nfirst = 7};
  if (!run(&m, lc, &ext, &out, &n)) {
    EXPECT(n == 11 && same(out, A, 7), "extend: the input is not the output's start (%d frames)", n);
    window(&m, &so, (const float *[T]){L(Az, 2), L(Az, 3), NULL, NULL}, (uint8_t[T]){1, 1, 0, 0}, w0);
    memcpy(canvas, Az, sizeof Az), memcpy(L(canvas, 4), L(w0, 2), 2 * LF * sizeof(float));
    decode(canvas, 6, want);
    EXPECT(same(F(out, 7), F(want, 7), 4), "extend: the new frames are not the window after A's end, decoded whole");
    free(out);
  }

  // backward: [made 2][B: 3 latent, encoded on its own]; the window ends with B's first 2 latent frames;
  // B's first latent frame decodes to CT frames, its first CT-1 made: 4 new frames, 9 in all
  GenerateRequest back = {.frames = 4, .sampler = so, .last = B, .nlast = 5};
  if (!run(&m, lc, &back, &out, &n)) {
    EXPECT(n == 9 && same(F(out, 4), B, 5), "backward: the input is not the output's end (%d frames)", n);
    window(&m, &so, (const float *[T]){NULL, NULL, L(Bz, 0), L(Bz, 1)}, (uint8_t[T]){0, 0, 1, 1}, w0);
    memcpy(canvas, w0, 2 * LF * sizeof(float)), memcpy(L(canvas, 2), Bz, sizeof Bz);
    decode(canvas, 5, want);
    EXPECT(same(out, want, 4), "backward: frames 0-3 are not the window before B's start, decoded whole");
    free(out);
  }
  back.new_only = 1;
  if (!run(&m, lc, &back, &out, &n)) {
    EXPECT(n == 4, "backward --new-only: %d frames, expected 4", n);
    free(out);
  }

  // connection: [B: 3][made 2][B: 3]; one window from the first's last latent frame to the last's first:
  // 2 CT - 1 ... (2 + 1) CT - 1 = 5 new pixel frames
  GenerateRequest conn = {.frames = 5, .sampler = so, .first = B, .nfirst = 5, .last = B, .nlast = 5};
  if (!run(&m, lc, &conn, &out, &n)) {
    EXPECT(n == 15 && same(out, B, 5) && same(F(out, 10), B, 5), "connect: inputs not kept (%d frames)", n);
    window(&m, &so, (const float *[T]){L(Bz, 2), NULL, NULL, L(Bz, 0)}, (uint8_t[T]){1, 0, 0, 1}, w0);
    memcpy(canvas, Bz, sizeof Bz), memcpy(L(canvas, 3), L(w0, 1), 2 * LF * sizeof(float));
    memcpy(L(canvas, 5), Bz, sizeof Bz);
    decode(canvas, 8, want);
    EXPECT(same(F(out, 5), F(want, 5), 5), "connect: the transition is not the window between the two ends");
    free(out);
  }

  // loop from text: a clip window, then a bridge of 2 latent frames from its last into its first
  GenerateRequest loop = {.sampler = so, .loop = 1};
  if (!run(&m, lc, &loop, &out, &n)) {
    EXPECT(n == 11, "loop: %d frames, expected 11 (6 latent frames)", n);
    window(&m, &so, (const float *[T]){NULL, NULL, NULL, NULL}, (uint8_t[T]){0}, w0);
    const SamplerOptions s1 = seeded(so, 1);
    window(&m, &s1, (const float *[T]){L(w0, 3), NULL, NULL, L(w0, 0)}, (uint8_t[T]){1, 0, 0, 1}, w1);
    memcpy(canvas, w0, sizeof w0), memcpy(L(canvas, 4), L(w1, 1), 2 * LF * sizeof(float));
    decode(canvas, 6, want);
    EXPECT(same(out, want, 11), "loop: not the clip and the bridge into its start, decoded whole");
    free(out);
  }

  // remix of 9 pixel frames (5 latent): windows at 0 and 1, noised from the source's latents to t0 0.6
  GenerateRequest remix = {.sampler = so, .remix = S, .nremix = 9, .remix_strength = 0.6f};
  if (!run(&m, lc, &remix, &out, &n)) {
    EXPECT(n == 9, "remix: %d frames, expected all 9 of the source", n);
    SamplerOptions s0 = so;
    s0.t0 = 0.6f;
    window(&m, &s0, (const float *[T]){L(Sz, 0), L(Sz, 1), L(Sz, 2), L(Sz, 3)}, (uint8_t[T]){0}, w0);
    s0.seed++;
    window(&m, &s0, (const float *[T]){L(w0, 1), L(w0, 2), L(w0, 3), L(Sz, 4)}, (uint8_t[T]){1, 1, 1, 0}, w1);
    memcpy(canvas, w0, sizeof w0), memcpy(L(canvas, 4), L(w1, 3), LF * sizeof(float));
    decode(canvas, 5, want);
    EXPECT(same(out, want, 9), "remix: not the two windows from the source's latents, decoded whole");
    free(out);
  }

  // a long video: 19 pixel frames = 10 latent frames, windows at 0, 2, 4 and 6, each led in by the last's end
  GenerateRequest lng = {.frames = 19, .sampler = so};
  if (!run(&m, lc, &lng, &out, &n)) {
    EXPECT(n == 19, "long: %d frames, expected 19", n);
    window(&m, &so, (const float *[T]){NULL, NULL, NULL, NULL}, (uint8_t[T]){0}, canvas);
    for (int w = 1, at = 2; w < 4; w++, at += 2) {
      const SamplerOptions sw = seeded(so, w);
      window(&m, &sw, (const float *[T]){L(canvas, at), L(canvas, at + 1), NULL, NULL}, (uint8_t[T]){1, 1, 0, 0}, w0);
      memcpy(L(canvas, at + 2), L(w0, 2), 2 * LF * sizeof(float));
    }
    decode(canvas, 10, want);
    EXPECT(same(out, want, 19), "long: not the 4 windows forward, decoded whole");
    free(out);
  }

  // between two images: each its own latent frame (the last encoded alone), 2 made between; 7 frames in all
  GenerateRequest ip = {.sampler = so, .first = A, .nfirst = 1, .last = B, .nlast = 1};
  if (!run(&m, lc, &ip, &out, &n)) {
    EXPECT(n == 7 && same(out, A, 1) && same(F(out, 6), B, 1), "interpolate: the images not kept (%d frames)", n);
    encode(A, 1, w1), encode(B, 1, L(w1, 1));
    window(&m, &so, (const float *[T]){L(w1, 0), NULL, NULL, L(w1, 1)}, (uint8_t[T]){1, 0, 0, 1}, w0);
    decode(w0, 4, want);
    EXPECT(same(F(out, 1), F(want, 1), 5), "interpolate: not the window between the two images' latent frames");
    free(out);
  }

  // keyframe: a clip, then the window again from its first latent frame as an image (seed + 1000003)
  GenerateRequest kf = {.sampler = so, .keyframe = 1};
  if (!run(&m, lc, &kf, &out, &n)) {
    EXPECT(n == 7, "keyframe: %d frames, expected 7", n);
    window(&m, &so, (const float *[T]){NULL, NULL, NULL, NULL}, (uint8_t[T]){0}, w0);
    const SamplerOptions s2 = seeded(so, 1000003);
    window(&m, &s2, (const float *[T]){L(w0, 0), NULL, NULL, NULL}, (uint8_t[T]){1, 0, 0, 0}, w1);
    decode(w1, 4, want);
    EXPECT(same(out, want, 7), "keyframe: not the second pass from the first's first latent frame");
    free(out);
  }

  // what a latent model cannot serve: one reason each
  char err[256];
  GenerateRequest bad = {.frames = 6, .sampler = so};
  EXPECT(latent_output_frames(lc, &c, &bad, &n, err, sizeof err) == -1 && strstr(err, "frames 6") &&
             strstr(err, "1 + a multiple of it"), "t2v 6 frames: %s", err);
  bad = (GenerateRequest){.sampler = so, .first = A, .nfirst = 6};
  EXPECT(latent_output_frames(lc, &c, &bad, &n, err, sizeof err) == -1 && strstr(err, "first video of 6 frames"),
         "a 6-frame input: %s", err);
  bad = (GenerateRequest){.frames = 3, .sampler = so, .first = A, .nfirst = 7};
  EXPECT(latent_output_frames(lc, &c, &bad, &n, err, sizeof err) == -1 && strstr(err, "frames 3"), "extend 3: %s", err);
  latent_codec_free(lc);
  vae_free(&ref);
  model_free(&m);
  return tl_finish("test_latent_edits");
}
