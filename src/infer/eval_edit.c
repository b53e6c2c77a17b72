// The eval's edit items (docs/choices.md "Edits"): each cuts its inputs from a
// rendered shapes-world scene whose every frame is known, so the answers are
// known too: a backward extension must end with its input exactly and join it
// as smoothly as its own frames step; a loop's last-to-first step must be as
// small as its other steps; a connection keeps both videos exactly and puts
// the object, in each made frame, where the scene has it; a long remix shows
// the prompt's colour in its first and last windows and keeps the motion.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer/eval.h"

static int context(int T, int pt, int div) {
  const int k = (T / div) / pt * pt;
  return k < pt ? pt : k;
}

static void keep(EvalEdit *e, int out_at, int truth_at, int n) {
  e->out_at[e->nkept] = out_at, e->truth_at[e->nkept] = truth_at, e->kept_n[e->nkept] = n;
  e->nkept++;
}

void eval_edit_setup(const EvalItem *it, int T, int pt, int H, int W, uint8_t *truth, EvalEdit *e) {
  memset(e, 0, sizeof *e);
  const int k1 = context(T, pt, 2), k2 = context(T, pt, 4), gap = T - 2 * k2;  // generate.c's defaults
  EvalItem scene_item = *it;
  switch (it->mode) {
    case EVAL_BACKWARD:  // [made k1][the scene's frames k1..T-1]
      e->ntruth = T, e->tail_at = k1, e->tail_n = T - k1, e->frames = k1, e->out_n = T;
      e->made_n = k1;
      keep(e, k1, k1, T - k1);
      break;
    case EVAL_LOOP:  // a clip and its bridge
      e->loop = 1, e->out_n = T + gap, e->made_n = T + gap;
      break;
    case EVAL_CONNECT:  // [scene 0..T-1][made gap][scene T+gap..2T+gap-1]
      e->ntruth = 2 * T + gap, e->lead_n = T, e->tail_at = T + gap, e->tail_n = T, e->frames = gap;
      e->out_n = e->ntruth, e->made_at = T, e->made_n = gap;
      keep(e, 0, 0, T);
      keep(e, T + gap, T + gap, T);
      break;
    case EVAL_REMIX:  // two windows' worth of the scene in another colour
      scene_item.colour = it->from >= 0 ? it->from : (it->colour + 4) % 8;
      e->ntruth = 2 * T, e->source = 1, e->out_n = 2 * T, e->made_n = 2 * T;
      break;
  }
  if (e->ntruth) {
    SynthScene sc;
    eval_item_scene(&scene_item, e->ntruth, H, W, &sc);
    synth_render(&sc, e->ntruth, H, W, truth);
    e->truth = truth;
  }
}

// The backward seam: the made frames, reversed, lead into the input as an
// extension's lead-in leads into its made frames (eval_seam).
static int backward_seam(const uint8_t *video, int n, int H, int W, int k, EvalScore *s) {
  const size_t fpx = (size_t)H * W * 3;
  uint8_t *rev = malloc((size_t)n * fpx);
  for (int f = 0; f < n; f++) memcpy(rev + (size_t)f * fpx, video + (size_t)(n - 1 - f) * fpx, fpx);
  int ok = eval_seam(rev, n, H, W, k, &s->seam_diff, &s->seam_median);
  free(rev);
  return ok;
}

// Each made frame's object (and the input frames' either side) within
// EVAL_CONNECT_DIST of the scene's, which moves continuously.
static int connect_continuity(const EvalItem *it, const uint8_t *video, int H, int W, const EvalEdit *e, float *worst) {
  const size_t fpx = (size_t)H * W * 3;
  const float size = (float)(H > W ? H : W);
  int ok = 1;
  *worst = 0.0f;
  for (int f = e->made_at - 1; f <= e->made_at + e->made_n; f++) {
    float x, y, tx, ty;
    if (!eval_object_centre(e->truth + (size_t)f * fpx, H, W, it->colour, &tx, &ty)) continue;  // hidden in truth
    if (!eval_object_centre(video + (size_t)f * fpx, H, W, it->colour, &x, &y)) {
      ok = 0, *worst = 1.0f;
      continue;
    }
    const float d = sqrtf((x - tx) * (x - tx) + (y - ty) * (y - ty)) / size;
    if (d > *worst) *worst = d;
    ok &= d <= EVAL_CONNECT_DIST;
  }
  return ok;
}

void eval_score_edit(const EvalItem *it, const uint8_t *video, int n, int H, int W, const EvalEdit *e, EvalScore *s) {
  memset(s, 0, sizeof *s);
  s->permanence = s->first_frame = s->seam = s->kept = s->continuity = -1.0f;
  const size_t fpx = (size_t)H * W * 3;
  const uint8_t *made = video + (size_t)e->made_at * fpx;
  eval_analyse(made, e->made_n, H, W, it->colour, 1, &s->a);
  s->colour = (float)(s->a.colour == it->colour);
  s->shape = (float)(s->a.shape == it->shape);
  s->motion = (float)(s->a.motion == it->motion);
  s->consistency = s->a.consistency;
  if (e->nkept) {
    int same = n == e->out_n;
    for (int i = 0; i < e->nkept && same; i++)
      same = !memcmp(video + (size_t)e->out_at[i] * fpx, e->truth + (size_t)e->truth_at[i] * fpx,
                     (size_t)e->kept_n[i] * fpx);
    s->kept = (float)same;
  }
  switch (it->mode) {
    case EVAL_BACKWARD:
      s->seam = (float)backward_seam(video, n, H, W, e->kept_n[0], s);
      break;
    case EVAL_LOOP:  // a loop comes back: its motion is not one of the six
      s->motion = -1.0f;
      loop_seam(video, n, H, W, &s->seam_diff, &s->seam_median);
      s->seam = (float)(2 * s->a.clean_frames >= n && s->seam_diff <= EVAL_SEAM_FACTOR * s->seam_median + EVAL_SEAM_EPS);
      break;
    case EVAL_CONNECT:  // the made frames alone are too few to classify a motion; the track is checked instead
      s->motion = -1.0f;
      s->continuity = (float)connect_continuity(it, video, H, W, e, &s->continuity_dist);
      break;
    case EVAL_REMIX: {  // the colour asked for in the last window as well as overall
      EvalAnalysis last;
      const int T = n / 2;
      eval_analyse(video + (size_t)(n - T) * fpx, T, H, W, it->colour, 1, &last);
      s->colour = (float)(s->a.colour == it->colour && last.colour == it->colour);
      break;
    }
  }
}
