// Images as one-frame videos (docs/choices.md "Images"), each against an
// independent answer:
//  - the model's window at T = 1 is one still temporal patch (grid t = 1, pt
//    frames); T = 3 with pt = 2 stays refused;
//  - generate_video of one frame is the first frame of the sampler run directly
//    on that one-patch window (no conditioning), bit for bit;
//  - a corpus image (T = 1, pt = 2) reads back as the frame repeated pt times,
//    patchified by hand here;
//  - synth --frames 1 scenes hold still objects only and say so in their captions;
//  - eval's image mode scores colour and shape of rendered one-frame scenes
//    (ground truth) and leaves motion unscored; a wrong colour scores 0.
// No files outside build/tmp/test_images. Run from the repository root.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/corpus.h"
#include "data/synth.h"
#include "infer/eval.h"
#include "infer/generate.h"
#include "kernels/ops.h"
#include "model/model.h"
#include "model/window.h"
#include "testlib.h"

enum { HW = 8, FR = HW * HW * 3 };
static const int32_t TOKENS[6] = {1, 5, 9, 13, 0, 0};

static ModelConfig small(void) {
  ModelConfig c = {0};
  strcpy(c.name, "images");
  c.frames = 8, c.height = HW, c.width = HW, c.channels = 3;
  c.pt = 2, c.ph = 4, c.pw = 4;
  c.dim = 32, c.depth = 2, c.heads = 2, c.mlp_ratio = 2;
  c.text_length = 6, c.text_layers = 1, c.vocab = 30, c.freq_dim = 32;
  MUST(model_config_finalize(&c, "test_images", &tl_err));
  return c;
}

static void test_window_and_generate(void) {
  ModelConfig c = small(), at;
  MUST(model_config_at(&c, 1, HW, HW, &at, &tl_err));
  EXPECT(at.grid_t == 1 && at.frames == 2 && at.tokens == 4, "T = 1: grid_t %d frames %d tokens %d", at.grid_t,
         at.frames, at.tokens);
  TsrErr e;
  EXPECT(model_config_at(&c, 3, HW, HW, &at, &e) != 0, "T = 3 with pt = 2 accepted");

  Model m;
  model_build(&m, &c, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
  params_init_uniform(&m.params, 4, 0.25f);
  model_alloc_acts(&m, 2);
  MUST(model_set_window(&m, 1, HW, HW, &tl_err));
  const SamplerOptions so = {.steps = 3, .cfg = 2.0f, .shift = 1.0f, .seed = 5, .t0 = 1.0f};
  GenerateRequest r = {.frames = 1, .sampler = so};
  int n = 0;
  char err[256];
  EXPECT(generate_output_frames(&m.cfg, &r, &n, err, sizeof err) == 0 && n == 1, "frames 1: %d frames (%s)", n, err);
  uint8_t img[FR], want[2 * FR];
  EXPECT(generate_video(&m, TOKENS, 4, &r, img, err, sizeof err) == 0, "generate_video: %s", err);
  // the reference: the sampler on the one-patch window from noise
  const size_t NP = (size_t)m.cfg.tokens * m.cfg.patch_dim;
  float *x_src = calloc(NP, sizeof(float)), *x = calloc(NP, sizeof(float)), video[2 * FR];
  for (size_t i = 0; i < NP; i++) x_src[i] = -1.0f;
  uint8_t cond[1] = {0};
  int32_t ntok = 4;
  sample_flow(&m, &so, 1, TOKENS, &ntok, cond, x_src, x);
  unpatchify(video, x, 1, 2, HW, HW, 3, 2, 4, 4);
  for (int i = 0; i < 2 * FR; i++) {
    float v = (video[i] + 1.0f) * 127.5f;
    want[i] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v + 0.5f);
  }
  EXPECT(!memcmp(img, want, FR), "the image is not the first frame of the one-patch window");
  free(x_src), free(x);
  model_free(&m);
}

static void test_corpus_still(void) {
  mkdir("build/tmp", 0755), mkdir("build/tmp/test_images", 0755);
  const char *path = "build/tmp/test_images/c.h5";
  uint8_t px[16 * 16 * 3];
  for (int i = 0; i < (int)sizeof px; i++) px[i] = (uint8_t)(i * 37 + 11);
  CorpusWriter *w = corpus_writer_open(path, 2, 4, 4, 3, 8, &tl_err);
  MUST(w ? 0 : -1);
  CorpusClip clip = {.pixels = px, .caption = "a red circle stays still", .recaption = "a red circle", .source = "t"};
  MUST(corpus_writer_add(w, 1, 16, 16, &clip, &tl_err));
  MUST(corpus_writer_close(w, &tl_err));
  Corpus c;
  MUST(corpus_open(&c, path, &tl_err));
  const CorpusBucket *b = corpus_bucket(&c, 1, 16, 16);
  EXPECT(b && b->N == 16 && b->P == 96, "bucket 1x16x16: N %d P %d", b ? b->N : -1, b ? b->P : -1);
  if (b) {
    float got[16 * 96];
    MUST(corpus_read_patches(&c, b, 0, 0, 16, got, &tl_err));
    int bad = 0;
    for (int n = 0; n < 16; n++)  // token (h, w) of the 4x4 grid; vector (a, y, x, ch): frame a is the image
      for (int a = 0; a < 2; a++)
        for (int y = 0; y < 4; y++)
          for (int x = 0; x < 4; x++)
            for (int ch = 0; ch < 3; ch++) {
              const int yy = (n / 4) * 4 + y, xx = (n % 4) * 4 + x;
              const float want = px[(yy * 16 + xx) * 3 + ch] / 127.5f - 1.0f;
              bad += got[n * 96 + ((a * 4 + y) * 4 + x) * 3 + ch] != want;
            }
    EXPECT(bad == 0, "%d values of the stored image differ from the still patch of its pixels", bad);
  }
  corpus_close(&c);
}

static void test_synth_and_eval(void) {
  enum { H = 32, W = 32, NS = 300 };
  uint8_t v[H * W * 3];
  int still = 0, said = 0, ok_c = 0, ok_s = 0, motion_unscored = 0, wrong_c = 0;
  for (int i = 0; i < NS; i++) {
    SynthScene s;
    synth_scene_range(&s, 31, (uint64_t)i, 1, H, W, 1, 1);
    still += s.obj[0].motion == M_STILL;
    char cap[256];
    synth_caption(&s, cap, sizeof cap);
    said += strstr(cap, "stays still") != NULL;
    synth_render(&s, 1, H, W, v);
    EvalItem it = {.colour = s.obj[0].colour, .shape = s.obj[0].shape, .motion = M_STILL, .objects = 1,
                   .mode = EVAL_IMAGE, .colour2 = -1, .shape2 = -1, .motion2 = -1};
    EvalScore sc;
    eval_score_video(&it, v, 1, H, W, NULL, 0, &sc);
    ok_c += sc.colour == 1.0f, ok_s += sc.shape == 1.0f, motion_unscored += sc.motion < 0.0f;
    it.colour = (it.colour + 1) % 8;
    eval_score_video(&it, v, 1, H, W, NULL, 0, &sc);
    wrong_c += sc.colour == 1.0f;
  }
  printf("  %d one-frame synth scenes: still %d, captions 'stays still' %d; eval image: colour %d, shape %d, motion "
         "unscored %d, a wrong colour passed %d\n", NS, still, said, ok_c, ok_s, motion_unscored, wrong_c);
  EXPECT(still == NS && said == NS, "one-frame scenes with motion: %d still, %d captions", still, said);
  EXPECT(ok_c >= NS * 95 / 100 && ok_s >= NS * 85 / 100, "image scoring: colour %d shape %d of %d", ok_c, ok_s, NS);
  EXPECT(motion_unscored == NS && wrong_c == 0, "motion scored %d times, wrong colour passed %d", NS - motion_unscored,
         wrong_c);
}

int main(void) {
  test_window_and_generate();
  test_corpus_still();
  test_synth_and_eval();
  return tl_finish("test_images");
}
