// The eval's edit checks (src/infer/eval_edit.c) on videos with known answers,
// rendered by the shapes world at the demo model's size (8 frames of 16x16 in
// temporal patches of 2): the ideal output (the ground-truth scene itself)
// passes every check, and each way of getting it wrong fails its check — an
// input byte changed (kept), a backward extension that jumps to its input
// (seam), a loop that does not come back (seam), a connection whose made
// frames put the object elsewhere or drop it (continuity), a remix that keeps
// the source's colour (colour). No model.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth.h"
#include "infer/eval.h"
#include "testlib.h"

enum { T = 8, PT = 2, H = 16, W = 16 };
#define FPX ((size_t)H * W * 3)

static EvalItem item(int mode, int colour, int shape, int motion) {
  EvalItem it;
  memset(&it, 0, sizeof it);
  it.colour = colour, it.shape = shape, it.motion = motion, it.objects = 1, it.mode = mode, it.size = 1;
  it.colour2 = it.shape2 = it.motion2 = it.from = -1;
  return it;
}

// The item's scene over n frames, in colour c (-1: its own) and motion m (-1: its own).
static void render(const EvalItem *it, int n, int c, int m, uint8_t *v) {
  EvalItem x = *it;
  if (c >= 0) x.colour = c;
  if (m >= 0) x.motion = m;
  SynthScene sc;
  eval_item_scene(&x, n, H, W, &sc);
  synth_render(&sc, n, H, W, v);
}

int main(void) {
  uint8_t *truth = calloc(3 * T * FPX, 1), *v = calloc(3 * T * FPX, 1), *alt = calloc(3 * T * FPX, 1);
  EvalEdit e;
  EvalScore s;

  // backward: the made first half, then the input (the scene's second half)
  EvalItem back = item(EVAL_BACKWARD, 0, 0, M_RIGHT);
  eval_edit_setup(&back, T, PT, H, W, truth, &e);
  EXPECT(e.frames == 4 && e.tail_at == 4 && e.tail_n == 4 && e.out_n == 8, "backward setup: %d %d %d %d", e.frames,
         e.tail_at, e.tail_n, e.out_n);
  memcpy(v, truth, T * FPX);
  eval_score_edit(&back, v, T, H, W, &e, &s);
  EXPECT(s.kept == 1 && s.seam == 1 && s.colour == 1, "backward, the scene itself: kept %g seam %g colour %g", s.kept,
         s.seam, s.colour);
  v[5 * FPX + 7] ^= 1;
  eval_score_edit(&back, v, T, H, W, &e, &s);
  EXPECT(s.kept == 0, "backward: an input byte changed, still kept");
  render(&back, T, -1, M_LEFT, alt);  // made frames from the scene moving the other way: a jump at the input
  memcpy(v, truth, T * FPX);
  memcpy(v, alt + 4 * FPX, 4 * FPX);
  eval_score_edit(&back, v, T, H, W, &e, &s);
  EXPECT(s.seam == 0, "backward: a jump to the input passed the seam (%.2f vs median %.2f)", s.seam_diff, s.seam_median);

  // loop: 12 frames; out and back comes round, straight on does not
  EvalItem loop = item(EVAL_LOOP, 2, 0, M_RIGHT);
  eval_edit_setup(&loop, T, PT, H, W, truth, &e);
  EXPECT(e.loop && e.out_n == 12 && !e.truth, "loop setup");
  render(&loop, 12, -1, -1, alt);
  eval_score_edit(&loop, alt, 12, H, W, &e, &s);
  EXPECT(s.seam == 0, "loop: a clip moving straight on passed the seam (%.2f vs %.2f)", s.seam_diff, s.seam_median);
  for (int f = 0; f < 6; f++) memcpy(v + f * FPX, alt + 2 * f * FPX, FPX), memcpy(v + (11 - f) * FPX, alt + 2 * f * FPX, FPX);
  eval_score_edit(&loop, v, 12, H, W, &e, &s);
  EXPECT(s.seam == 1 && s.motion == -1, "loop: there and back failed the seam (%.2f vs %.2f)", s.seam_diff, s.seam_median);

  // connect: [scene 0..7][made 4][scene 12..19]
  EvalItem conn = item(EVAL_CONNECT, 1, 0, M_DOWN);
  eval_edit_setup(&conn, T, PT, H, W, truth, &e);
  EXPECT(e.lead_n == 8 && e.tail_at == 12 && e.tail_n == 8 && e.frames == 4 && e.out_n == 20, "connect setup");
  memcpy(v, truth, 20 * FPX);
  eval_score_edit(&conn, v, 20, H, W, &e, &s);
  EXPECT(s.kept == 1 && s.continuity == 1, "connect, the scene itself: kept %g continuity %g (%.3f)", s.kept,
         s.continuity, s.continuity_dist);
  render(&conn, 20, -1, M_UP, alt);  // the object going the other way in the made frames
  memcpy(v + 8 * FPX, alt + 16 * FPX, 4 * FPX);
  eval_score_edit(&conn, v, 20, H, W, &e, &s);
  EXPECT(s.kept == 1 && s.continuity == 0, "connect: the object elsewhere passed (%.3f)", s.continuity_dist);
  memcpy(v + 8 * FPX, truth, FPX);  // background only in one made frame: the object vanishes
  memset(v + 9 * FPX, 0, FPX);
  eval_score_edit(&conn, v, 20, H, W, &e, &s);
  EXPECT(s.continuity == 0, "connect: a frame without the object passed");

  // remix: 16 frames from a cyan source under a red prompt
  EvalItem remix = item(EVAL_REMIX, 0, 1, M_LEFT);
  remix.from = 4;
  eval_edit_setup(&remix, T, PT, H, W, truth, &e);
  EXPECT(e.source && e.ntruth == 16 && e.out_n == 16, "remix setup");
  render(&remix, 16, -1, -1, v);
  eval_score_edit(&remix, v, 16, H, W, &e, &s);
  EXPECT(s.colour == 1 && s.motion == 1, "remix in the prompt's colour: colour %g motion %g", s.colour, s.motion);
  eval_score_edit(&remix, truth, 16, H, W, &e, &s);
  EXPECT(s.colour == 0 && s.motion == 1, "remix left in the source's colour: colour %g motion %g", s.colour, s.motion);
  memcpy(v + 8 * FPX, truth + 8 * FPX, 8 * FPX);  // the last window falls back to the source colour
  eval_score_edit(&remix, v, 16, H, W, &e, &s);
  EXPECT(s.colour == 0, "remix whose last window keeps the source colour passed");
  free(truth), free(v), free(alt);
  return tl_finish("test_eval_edit");
}
