// Training batches (src/train/flow.c) against answers built by hand from the
// clean clip: every video frame of x0 holds its own values, so which frames a
// conditioned token carries is visible.
//  1. first (image-to-video) and ends (interpolation between images): the
//     conditioned latent frame is a still, its one video frame (the first, or
//     the last) repeated over the pt frames of the patch, as generate places an
//     image; x_t of those tokens equals that still exactly;
//  2. prefix (extension from a video): the conditioned latent frames are the
//     clip's own frames, unchanged;
//  3. the free tokens are noised: x_t = (1-t)·x0 + t·eps with eps of unit
//     variance (checked from x_t and x0 alone), and the x target is x0.
#include <math.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "testlib.h"
#include "train/flow.h"

enum { B = 16 };

static void setup(Config *c) {
  config_defaults(c);
  ModelConfig *m = &c->model;
  m->frames = 8, m->height = 8, m->width = 8, m->channels = 3;
  m->pt = 2, m->ph = 4, m->pw = 4;
  m->dim = 64, m->depth = 1, m->heads = 1, m->text_length = 4, m->text_layers = 0, m->vocab = 16;
  m->mlp_ratio = 4, m->freq_dim = 256;
  strcpy(m->predict, "x");
  MUST(model_config_finalize(m, "test_flow", &tl_err));
  TrainConfig *t = &c->train;
  t->p_cond_none = t->p_cond_first = t->p_cond_prefix = t->p_cond_ends = t->p_cond_random = 0.0f;
}

// Value of video frame f in the clean clip: the frame index plus a small
// per-element pattern, so frames differ everywhere.
static float clean_value(int f, int s, int n, int q) { return 0.1f * (float)f + 0.001f * (float)((s * 7 + n * 3 + q) % 50); }

// Frames differ by 0.1; the compiler may fuse clean_value's multiply-add at
// one call site and not at another.
static int near(float a, float b) { return fabsf(a - b) < 1e-6f; }

static void fill_x0(FlowBatch *fb, const ModelConfig *m) {
  const int P = m->patch_dim, slice = P / m->pt, ft = m->grid_h * m->grid_w;
  for (int s = 0; s < B; s++)
    for (int n = 0; n < m->tokens; n++)
      for (int p = 0; p < P; p++) {
        int f = (n / ft) * m->pt + p / slice;  // video frame of this element
        fb->x0[((size_t)s * m->tokens + n) * P + p] = clean_value(f, s, n, p % slice);
      }
}

// Checks each sample's conditioned latent frames against the frames they
// should carry (the first or last frame as a still, or for prefix their own).
static void check(const char *mode, Config *c, int cond_frames_expected) {
  const ModelConfig *m = &c->model;
  const int P = m->patch_dim, slice = P / m->pt, ft = m->grid_h * m->grid_w, gt = m->grid_t;
  FlowBatch fb;
  flow_batch_alloc(&fb, m, B);
  fill_x0(&fb, m);
  flow_prepare(&fb, m, &c->train, 0.0f, 7, 0, 1);
  int wrong_cond = 0, wrong_target = 0, ncond = 0;
  double sum = 0, sq = 0;
  long nfree = 0;
  for (int s = 0; s < B; s++) {
    const uint8_t *cond = fb.b.cond + (size_t)s * gt;
    float t = fb.b.t[s];
    for (int n = 0; n < m->tokens; n++) {
      int lf = n / ft;
      for (int p = 0; p < P; p++) {
        size_t i = ((size_t)s * m->tokens + n) * P + p;
        int f = lf * m->pt + p / slice;  // the video frame this element shows
        int src = f;                     // the frame it should carry
        if (cond[lf] && strcmp(mode, "prefix") != 0) src = lf == 0 ? 0 : m->frames - 1;
        float want = clean_value(src, s, n, p % slice);
        if (cond[lf]) {
          wrong_cond += !near(fb.b.x[i], want);
          ncond += p == 0;
        } else {
          float eps = (fb.b.x[i] - (1.0f - t) * clean_value(f, s, n, p % slice)) / t;
          sum += eps, sq += (double)eps * eps, nfree++;
        }
        wrong_target += !cond[lf] && !near(fb.b.target[i], clean_value(f, s, n, p % slice));
      }
    }
  }
  double mean = sum / (double)nfree, var = sq / (double)nfree - mean * mean;
  EXPECT(ncond == cond_frames_expected, "%s: %d conditioned tokens, expected %d", mode, ncond, cond_frames_expected);
  EXPECT(wrong_cond == 0, "%s: %d conditioned elements are not the expected frame", mode, wrong_cond);
  EXPECT(wrong_target == 0, "%s: %d free targets differ from x0", mode, wrong_target);
  EXPECT(fabs(mean) < 0.05 && fabs(var - 1.0) < 0.1, "%s: noise of the free tokens has mean %.3f var %.3f", mode, mean,
         var);
  if (!wrong_cond && !wrong_target && ncond == cond_frames_expected)
    printf("  ok  %-8s %d conditioned tokens; free noise mean %+.3f var %.3f\n", mode, ncond, mean, var);
  flow_batch_free(&fb);
}

int main(void) {
  Config c;
  setup(&c);
  const int ft = c.model.grid_h * c.model.grid_w;
  c.train.p_cond_first = 1.0f;
  check("first", &c, B * ft);
  c.train.p_cond_first = 0.0f, c.train.p_cond_ends = 1.0f;
  check("ends", &c, B * 2 * ft);
  c.train.p_cond_ends = 0.0f, c.train.p_cond_prefix = 1.0f;
  // prefix draws k in [1, gt-1] latent frames per sample: count them from the mask
  FlowBatch fb;
  flow_batch_alloc(&fb, &c.model, B);
  flow_prepare(&fb, &c.model, &c.train, 0.0f, 7, 0, 1);
  int k = 0;
  for (int i = 0; i < B * c.model.grid_t; i++) k += fb.b.cond[i];
  flow_batch_free(&fb);
  check("prefix", &c, k * ft);
  return tl_finish("test_flow");
}
