// The video edits of infer/generate.h on a random model (8 frames of 8x8 in
// patches of 2x4x4: 4 latent frames): each mode's input frames come out
// bit-exact where they belong, and each window is the sampler run directly on
// the window the mode should build (its conditioning frames placed by hand
// here, independently of generate.c's canvas): backward extension (windows
// going backwards, the last conditioned on the input's first frames),
// connection of two videos, a loop's bridge (conditioned on the clip's end
// and its start), a long remix (window 2 conditioned on window 1's overlap,
// the rest noised from the source); and requests that contradict themselves
// are refused.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/generate.h"
#include "kernels/ops.h"
#include "model/model.h"
#include "testlib.h"

enum { T = 8, HW = 8, FR = HW * HW * 3 };  // FR: bytes of a frame
static const int32_t TOKENS[6] = {1, 5, 9, 13, 0, 0};

static void random_video(uint8_t *v, int n, uint32_t stream) {
  for (int i = 0; i < n * FR; i++) v[i] = (uint8_t)(rng_uniform(77, RNG_TEST, stream, 0, (uint32_t)i) * 256.0f);
}

// The reference window: frames win [T] (NULL rows: free), cond per latent
// frame, sampled with the sampler directly; returns the window's frames.
static void reference_window(Model *m, const SamplerOptions *so, const uint8_t *const rows[T], const uint8_t cond[4],
                             uint8_t *out) {
  const ModelConfig *c = &m->cfg;
  const size_t NP = (size_t)c->tokens * c->patch_dim;
  float *video = calloc((size_t)T * FR, sizeof(float)), *x_src = calloc(NP, sizeof(float)), *x = calloc(NP, sizeof(float));
  for (int f = 0; f < T; f++)
    for (int i = 0; i < FR; i++) video[f * FR + i] = rows[f] ? (float)rows[f][i] / 127.5f - 1.0f : -1.0f;
  patchify(x_src, video, 1, T, HW, HW, 3, c->pt, c->ph, c->pw);
  int32_t ntok = 4;
  sample_flow(m, so, 1, TOKENS, &ntok, cond, x_src, x);
  unpatchify(video, x, 1, T, HW, HW, 3, c->pt, c->ph, c->pw);
  for (int i = 0; i < T * FR; i++) {
    float v = (video[i] + 1.0f) * 127.5f;
    out[i] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v + 0.5f);
  }
  free(video), free(x_src), free(x);
}

static int run(Model *m, const GenerateRequest *r, uint8_t **out, int *n) {
  char err[256];
  if (generate_output_frames(&m->cfg, r, n, err, sizeof err)) return -1;
  *out = calloc((size_t)*n * FR, 1);
  int rc = generate_video(m, TOKENS, 4, r, *out, err, sizeof err);
  EXPECT(rc == 0, "generate_video: %s", err);
  return rc;
}

static int same(const uint8_t *a, const uint8_t *b, int frames) { return !memcmp(a, b, (size_t)frames * FR); }
#define F(v, i) ((v) + (size_t)(i) * FR)

int main(void) {
  ModelConfig c = {0};
  strcpy(c.name, "edits");
  c.frames = T, c.height = HW, c.width = HW, c.channels = 3;
  c.pt = 2, c.ph = 4, c.pw = 4;
  c.dim = 32, c.depth = 2, c.heads = 2, c.mlp_ratio = 2;
  c.text_length = 6, c.text_layers = 1, c.vocab = 30, c.freq_dim = 32;
  MUST(model_config_finalize(&c, "test_edits", &tl_err));
  Model m;
  model_build(&m, &c, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
  params_init_uniform(&m.params, 4, 0.25f);
  model_alloc_acts(&m, 2);
  const SamplerOptions so = {.steps = 3, .cfg = 2.0f, .shift = 1.0f, .seed = 5, .t0 = 1.0f};
  uint8_t A[6 * FR], B[6 * FR], S[16 * FR], win[T * FR];
  random_video(A, 6, 1), random_video(B, 6, 2), random_video(S, 16, 3);
  uint8_t *out;
  int n;

  // backward: [made 6][A 6]; window 0 at frame 2 ends with A's first 4 frames, window 1 at 0
  GenerateRequest back = {.frames = 6, .sampler = so, .last = A, .nlast = 6};
  if (!run(&m, &back, &out, &n)) {
    EXPECT(n == 12 && same(F(out, 6), A, 6), "backward: the input is not the output's end (%d frames)", n);
    const uint8_t *rows[T] = {NULL, NULL, NULL, NULL, F(A, 0), F(A, 1), F(A, 2), F(A, 3)};
    reference_window(&m, &so, rows, (uint8_t[4]){0, 0, 1, 1}, win);
    EXPECT(same(F(out, 2), win, 4), "backward: frames 2-5 are not the window ending at the input's first 4 frames");
    SamplerOptions s1 = so;
    s1.seed++;
    const uint8_t *rows1[T] = {NULL, NULL, F(out, 2), F(out, 3), F(out, 4), F(out, 5), F(A, 0), F(A, 1)};
    reference_window(&m, &s1, rows1, (uint8_t[4]){0, 1, 1, 1}, win);
    EXPECT(same(out, win, 2), "backward: frames 0-1 are not the second window, going backwards");
    free(out);
  }
  back.new_only = 1;
  if (!run(&m, &back, &out, &n)) {
    EXPECT(n == 6, "backward --new-only: %d frames, expected 6", n);
    free(out);
  }

  // forward extension keeps the whole input, then a window from its last 4 frames
  GenerateRequest ext = {.sampler = so, .first = A, .nfirst = 6};
  if (!run(&m, &ext, &out, &n)) {
    EXPECT(n == 10 && same(out, A, 6), "extend: the input is not the output's start (%d frames)", n);
    const uint8_t *rows[T] = {F(A, 2), F(A, 3), F(A, 4), F(A, 5), NULL, NULL, NULL, NULL};
    reference_window(&m, &so, rows, (uint8_t[4]){1, 1, 0, 0}, win);
    EXPECT(same(F(out, 6), F(win, 4), 4), "extend: new frames are not the window led in by the input's end");
    free(out);
  }

  // connection: [A 6][made 4][B 6], one window from A's last 2 frames to B's first 2
  GenerateRequest conn = {.sampler = so, .first = A, .nfirst = 6, .last = B, .nlast = 6};
  if (!run(&m, &conn, &out, &n)) {
    EXPECT(n == 16 && same(out, A, 6) && same(F(out, 10), B, 6), "connect: inputs not kept (%d frames)", n);
    const uint8_t *rows[T] = {F(A, 4), F(A, 5), NULL, NULL, NULL, NULL, F(B, 0), F(B, 1)};
    reference_window(&m, &so, rows, (uint8_t[4]){1, 0, 0, 1}, win);
    EXPECT(same(F(out, 6), F(win, 2), 4), "connect: the transition is not the window between the two ends");
  }
  conn.new_only = 1;
  uint8_t *only;
  if (!run(&m, &conn, &only, &n)) {
    EXPECT(n == 4 && same(only, F(out, 6), 4), "connect --new-only: not the 4 transition frames (%d)", n);
    free(only);
  }
  free(out);

  // loop: a clip of 8, then a bridge of 4 from its last 2 frames into its first 2
  GenerateRequest loop = {.sampler = so, .loop = 1};
  if (!run(&m, &loop, &out, &n)) {
    EXPECT(n == 12, "loop: %d frames, expected 12", n);
    SamplerOptions s1 = so;
    s1.seed++;
    const uint8_t *rows[T] = {F(out, 6), F(out, 7), NULL, NULL, NULL, NULL, F(out, 0), F(out, 1)};
    reference_window(&m, &s1, rows, (uint8_t[4]){1, 0, 0, 1}, win);
    EXPECT(same(F(out, 8), F(win, 2), 4), "loop: the bridge is not conditioned on the clip's end and start");
    free(out);
  }

  // remix of 16 frames: windows at 0, 4, 8, each noised from the source to t0 0.6
  GenerateRequest remix = {.sampler = so, .remix = S, .nremix = 16, .remix_strength = 0.6f};
  if (!run(&m, &remix, &out, &n)) {
    EXPECT(n == 16, "remix: %d frames, expected all 16 of the source", n);
    SamplerOptions s0 = so;
    s0.t0 = 0.6f;
    const uint8_t *rows[T];
    for (int f = 0; f < T; f++) rows[f] = F(S, f);
    reference_window(&m, &s0, rows, (uint8_t[4]){0, 0, 0, 0}, win);
    EXPECT(same(out, win, 8), "remix: window 1 is not the source noised to 0.6 and denoised");
    s0.seed++;
    for (int f = 0; f < 4; f++) rows[f] = F(out, 4 + f), rows[4 + f] = F(S, 8 + f);
    reference_window(&m, &s0, rows, (uint8_t[4]){1, 1, 0, 0}, win);
    EXPECT(same(F(out, 8), F(win, 4), 4), "remix: window 2 is not conditioned on window 1's overlap");
    free(out);
  }

  // contradictions and misfits are refused
  char err[256];
  GenerateRequest bad = {.sampler = so, .loop = 1, .last = B, .nlast = 6};
  EXPECT(generate_output_frames(&c, &bad, &n, err, sizeof err) == -1 && strstr(err, "loop"), "loop + last: %s", err);
  bad = (GenerateRequest){.sampler = so, .first = A, .nfirst = 6, .context = 3};
  EXPECT(generate_output_frames(&c, &bad, &n, err, sizeof err) == -1 && strstr(err, "temporal patches"),
         "context 3: %s", err);
  bad = (GenerateRequest){.sampler = so, .first = A, .nfirst = 6, .last = B, .nlast = 6, .frames = 5};
  EXPECT(generate_output_frames(&c, &bad, &n, err, sizeof err) == -1 && strstr(err, "frames 5"), "connect 5: %s", err);
  bad = (GenerateRequest){.sampler = so, .frames = 6};
  EXPECT(generate_output_frames(&c, &bad, &n, err, sizeof err) == -1 && strstr(err, "frames 6"), "t2v 6: %s", err);
  model_free(&m);
  return tl_finish("test_edits");
}
