// `tessera eval` scoring (src/infer/eval_score.c) against videos with known
// answers, rendered by the shapes world (src/data/synth.c): correct videos
// score 1, wrong directions / colours / reversed clips / noise score 0; still,
// bounce, permanence (a synth occlusion scene, then the object erased),
// first frame kept, seam continuity; and the suite YAML (configs/eval/shapes.yaml
// and bad files with FILE:LINE). No model. Run from the repository root.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth.h"
#include "infer/eval.h"
#include "testlib.h"

enum { T = 16, H = 32, W = 32 };
#define FPX ((size_t)H * W * 3)

static EvalItem item(int colour, int shape, int motion) {
  EvalItem it;
  memset(&it, 0, sizeof it);
  it.colour = colour, it.shape = shape, it.motion = motion, it.objects = 1, it.mode = EVAL_T2V;
  it.colour2 = it.shape2 = it.motion2 = -1;
  return it;
}

static SynthScene one(int colour, int shape, int size, int motion, int background, float x0, float y0, float vx,
                      float vy) {
  SynthScene s;
  memset(&s, 0, sizeof s);
  s.background = background, s.nobjects = 1;
  s.obj[0] = (SynthObject){
      .shape = shape, .colour = colour, .size = size, .motion = motion, .x0 = x0, .y0 = y0, .vx = vx, .vy = vy};
  return s;
}

static EvalScore score(const EvalItem *it, const uint8_t *v) {
  EvalScore s;
  eval_score_video(it, v, T, H, W, NULL, 0, &s);
  // the edit checks are not this mode's: unscored (-1, null in eval.json), not failed
  EXPECT(s.kept == -1.0f && s.continuity == -1.0f, "mode %d: kept %g continuity %g, expected -1 (not scored)",
         (int)it->mode, s.kept, s.continuity);
  return s;
}

// ------------------------------------------------------------------ correct videos from the synth distribution

static void test_synth_clips(uint8_t *v) {
  const int n = 600;
  int ok_c = 0, ok_s = 0, ok_m = 0, per_motion[6] = {0}, ok_motion[6] = {0}, worst = -1;
  for (int i = 0; i < n; i++) {
    SynthScene s;
    synth_scene_range(&s, 11, (uint64_t)i, T, H, W, 1, 1);
    synth_render(&s, T, H, W, v);
    const SynthObject *o = &s.obj[0];
    EvalItem it = item(o->colour, o->shape, o->motion);
    EvalScore sc = score(&it, v);
    ok_c += sc.colour == 1.0f, ok_s += sc.shape == 1.0f, ok_m += sc.motion == 1.0f;
    per_motion[o->motion]++, ok_motion[o->motion] += sc.motion == 1.0f;
    if (sc.motion != 1.0f && worst < 0) worst = i;
    if (sc.shape != 1.0f && getenv("EVAL_DEBUG"))
      printf("  clip %d: %s %s %s fill %.3f %.3f found %d\n", i, SYNTH_SIZES[o->size], SYNTH_COLOURS[o->colour],
             SYNTH_SHAPES[o->shape], sc.a.fill, sc.a.fill45, sc.a.shape);
    if (sc.motion != 1.0f && getenv("EVAL_DEBUG"))
      printf("  clip %d: %s %s found %d dx %.2f dy %.2f rx %.2f ry %.2f rev %d\n", i, SYNTH_SHAPES[o->shape],
             SYNTH_MOTIONS[o->motion], sc.a.motion, sc.a.dx, sc.a.dy, sc.a.range_x, sc.a.range_y, sc.a.reversals);
  }
  printf("  synth single-object clips (%d, %dx%dx%d): colour %d, shape %d, motion %d correct\n", n, T, H, W, ok_c, ok_s,
         ok_m);
  for (int m = 0; m < 6; m++) printf("    %-22s %d/%d\n", SYNTH_MOTIONS[m], ok_motion[m], per_motion[m]);
  EXPECT(ok_c == n, "colour: %d/%d ground-truth clips scored correct", ok_c, n);
  EXPECT(ok_s == n, "shape: %d/%d ground-truth clips scored correct", ok_s, n);
  for (int m = 0; m < 6; m++)
    EXPECT(ok_motion[m] >= per_motion[m] * (m == M_BOUNCE ? 95 : 100) / 100, "motion %s: %d/%d correct",
           SYNTH_MOTIONS[m], ok_motion[m], per_motion[m]);
  (void)worst;
}

// ------------------------------------------------------------------ degraded clips (what a model makes)

// 3x3 blur of every frame (blur 0: none, 1: binomial [1 2 1] x [1 2 1] / 16,
// 2: box), then uniform noise of +-amp per channel.
enum { BLUR_NONE, BLUR_BINOMIAL, BLUR_BOX };
static const char *const BLUR_NAMES[3] = {"no blur", "binomial blur", "box blur"};
static void degrade(uint8_t *v, int t, int h, int w, int blur, int amp, uint32_t stream) {
  uint8_t *tmp = malloc((size_t)h * w * 3);
  for (int f = 0; f < t; f++) {
    uint8_t *fr = v + (size_t)f * h * w * 3;
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        for (int c = 0; c < 3; c++) {
          int sum = 0, k = 0, r = blur == BLUR_NONE ? 0 : 1;
          for (int dy = -r; dy <= r; dy++)
            for (int dx = -r; dx <= r; dx++) {
              int yy = y + dy, xx = x + dx;
              if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
              int wt = blur == BLUR_BINOMIAL ? (2 - abs(dx)) * (2 - abs(dy)) : 1;
              sum += wt * fr[((size_t)yy * w + xx) * 3 + c], k += wt;
            }
          tmp[((size_t)y * w + x) * 3 + c] = (uint8_t)((sum + k / 2) / k);
        }
    for (size_t i = 0; i < (size_t)h * w * 3; i++) {
      int n = (int)tmp[i] + (int)((rng_uniform(9, RNG_TEST, stream, (uint32_t)f, (uint32_t)i) - 0.5f) * 2.0f * amp);
      fr[i] = (uint8_t)(n < 0 ? 0 : n > 255 ? 255 : n);
    }
  }
  free(tmp);
}

// Shift every frame by a random whole-pixel offset in [-j, j] on each axis
// (edges replicated): the wobble of a model's object around its true path.
static void jitter(uint8_t *v, int t, int h, int w, int j, uint32_t stream) {
  if (j <= 0) return;
  uint8_t *tmp = malloc((size_t)h * w * 3);
  for (int f = 0; f < t; f++) {
    uint8_t *fr = v + (size_t)f * h * w * 3;
    memcpy(tmp, fr, (size_t)h * w * 3);
    int ox = (int)(rng_uniform(9, RNG_TEST, stream, (uint32_t)f, 1u << 30) * (2 * j + 1)) - j;
    int oy = (int)(rng_uniform(9, RNG_TEST, stream, (uint32_t)f, 1u << 31) * (2 * j + 1)) - j;
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        int sy = y - oy < 0 ? 0 : y - oy >= h ? h - 1 : y - oy, sx = x - ox < 0 ? 0 : x - ox >= w ? w - 1 : x - ox;
        memcpy(fr + ((size_t)y * w + x) * 3, tmp + ((size_t)sy * w + sx) * 3, 3);
      }
  }
  free(tmp);
}

static void test_degraded(int t, int h, int w, int blur, int amp, int jit, int min_colour, int min_shape,
                          int min_motion) {
  const int n = 300;
  uint8_t *v = malloc((size_t)t * h * w * 3);
  int ok_c = 0, ok_s = 0, ok_m = 0;
  for (int i = 0; i < n; i++) {
    SynthScene s;
    synth_scene_range(&s, 21, (uint64_t)i, t, h, w, 1, 1);
    synth_render(&s, t, h, w, v);
    degrade(v, t, h, w, blur, amp, (uint32_t)i);
    jitter(v, t, h, w, jit, (uint32_t)i);
    const SynthObject *o = &s.obj[0];
    EvalItem it = item(o->colour, o->shape, o->motion);
    EvalScore sc;
    eval_score_video(&it, v, t, h, w, NULL, 0, &sc);
    ok_c += sc.colour == 1.0f, ok_s += sc.shape == 1.0f, ok_m += sc.motion == 1.0f;
    if (getenv("EVAL_DEBUG") && (sc.motion != 1 || sc.colour != 1 || sc.shape != 1))
      printf(
          "    clip %d: %s %s %s %s: colour %d shape %d (%.2f %.2f) motion %d (dx %.2f dy %.2f rx %.2f ry %.2f rev %d "
          "tracked %d)\n",
          i, SYNTH_SIZES[o->size], SYNTH_COLOURS[o->colour], SYNTH_SHAPES[o->shape], SYNTH_MOTIONS[o->motion],
          sc.a.colour, sc.a.shape, sc.a.fill, sc.a.fill45, sc.a.motion, sc.a.dx, sc.a.dy, sc.a.range_x, sc.a.range_y,
          sc.a.reversals, sc.a.tracked);
  }
  printf("  %s + noise +-%d + jitter +-%d px, %d clips %dx%dx%d: colour %d%%, shape %d%%, motion %d%%\n",
         BLUR_NAMES[blur], amp, jit, n, t, h, w, 100 * ok_c / n, 100 * ok_s / n, 100 * ok_m / n);
  EXPECT(100 * ok_c >= min_colour * n && 100 * ok_s >= min_shape * n && 100 * ok_m >= min_motion * n,
         "degraded %dx%dx%d: colour %d shape %d motion %d of %d below %d%%/%d%%/%d%%", t, h, w, ok_c, ok_s, ok_m, n,
         min_colour, min_shape, min_motion);
  free(v);
}

// ------------------------------------------------------------------ hand-made scenes

static void test_directions(uint8_t *v, uint8_t *r) {
  // every colour, shape and linear direction on every background: 1 for the truth, 0 for the other directions
  int bad = 0, checks = 0;
  for (int bg = 0; bg < 3; bg++)
    for (int c = 0; c < 8; c++)
      for (int sh = 0; sh < 3; sh++)
        for (int m = 0; m < 4; m++) {
          EvalItem it = item(c, sh, m);
          it.size = (c + sh) % 2, it.background = bg;
          SynthScene s;
          eval_item_scene(&it, T, H, W, &s);
          synth_render(&s, T, H, W, v);
          EvalScore sc = score(&it, v);
          checks++;
          if (sc.colour != 1 || sc.shape != 1 || sc.motion != 1) {
            if (bad++ < 5)
              printf("  FAIL %s %s %s %s on %s: colour %g shape %g (fill %.2f) motion %g (found %d)\n",
                     SYNTH_SIZES[it.size], SYNTH_COLOURS[c], SYNTH_SHAPES[sh], SYNTH_MOTIONS[m], SYNTH_BACKGROUNDS[bg],
                     sc.colour, sc.shape, sc.a.fill, sc.motion, sc.a.motion);
          }
          for (int w = 0; w < 6; w++) {
            if (w == m) continue;
            EvalItem wrong = item(c, sh, w);
            EvalScore sw = score(&wrong, v);
            EXPECT(sw.motion == 0, "%s %s scored %g for expected '%s'", SYNTH_COLOURS[c], SYNTH_MOTIONS[m], sw.motion,
                   SYNTH_MOTIONS[w]);
          }
          // reversed in time: the opposite direction
          for (int f = 0; f < T; f++) memcpy(r + (size_t)f * FPX, v + (size_t)(T - 1 - f) * FPX, FPX);
          EvalScore sr = score(&it, r);
          EvalItem opp = item(c, sh, m ^ 1);
          EvalScore so = score(&opp, r);
          EXPECT(sr.motion == 0 && so.motion == 1, "%s reversed in time: %g for '%s', %g for '%s'", SYNTH_MOTIONS[m],
                 sr.motion, SYNTH_MOTIONS[m], so.motion, SYNTH_MOTIONS[m ^ 1]);
        }
  EXPECT(bad == 0, "%d of %d hand-made clips not scored 1/1/1", bad, checks);
  printf(
      "  ok  %d hand-made clips (8 colours x 3 shapes x 4 directions x 3 backgrounds): 1 for the truth, 0 for "
      "other and reversed directions\n",
      checks);
}

static void test_recolour(uint8_t *v) {
  EvalItem it = item(0, 0, M_RIGHT);  // red circle moves right
  SynthScene s;
  eval_item_scene(&it, T, H, W, &s);
  synth_render(&s, T, H, W, v);
  EXPECT(score(&it, v).colour == 1, "red circle: colour");
  for (int c = 1; c < 8; c++) {  // paint the red pixels another palette colour
    for (size_t p = 0; p < (size_t)T * H * W; p++)
      if (!memcmp(v + 3 * p, SYNTH_COLOUR_RGB[0], 3)) memcpy(v + 3 * p, SYNTH_COLOUR_RGB[c], 3);
    EvalScore sc = score(&it, v);
    EXPECT(sc.colour == 0 && sc.a.colour == c, "recoloured to %s: colour score %g (found %d)", SYNTH_COLOURS[c],
           sc.colour, sc.a.colour);
    for (size_t p = 0; p < (size_t)T * H * W; p++)
      if (!memcmp(v + 3 * p, SYNTH_COLOUR_RGB[c], 3)) memcpy(v + 3 * p, SYNTH_COLOUR_RGB[0], 3);
  }
  printf("  ok  a recoloured object scores 0 on colour (7 colours)\n");
}

static void test_noise(uint8_t *v) {
  for (size_t i = 0; i < (size_t)T * FPX; i++) v[i] = (uint8_t)(rng_uniform(5, RNG_TEST, 0, 0, (uint32_t)i) * 256.0f);
  for (int c = 0; c < 8; c++)
    for (int m = 0; m < 6; m++) {
      EvalItem it = item(c, m % 3, m);
      EvalScore sc = score(&it, v);
      EXPECT(sc.colour == 0 && sc.motion == 0, "noise: colour %g motion %g for %s %s", sc.colour, sc.motion,
             SYNTH_COLOURS[c], SYNTH_MOTIONS[m]);
    }
  // two objects, permanence, and a lead-in followed by noise (seam, i2v motion)
  EvalItem two = item(0, 0, M_RIGHT);
  two.objects = 2, two.colour2 = 2, two.shape2 = 1, two.motion2 = M_STILL;
  EvalScore st = score(&two, v);
  EXPECT(st.colour == 0 && st.permanence == 0 && st.motion == 0,
         "noise, two objects: colour %g permanence %g motion %g", st.colour, st.permanence, st.motion);
  EvalItem e = item(4, 0, M_RIGHT);
  e.mode = EVAL_EXTEND;
  SynthScene s;
  eval_item_scene(&e, T, H, W, &s);
  synth_render(&s, T / 2, H, W, v);  // first half: the lead-in; second half: noise
  EvalScore se;
  eval_score_video(&e, v, T, H, W, v, T / 2, &se);
  EXPECT(se.seam == 0 && se.colour == 0 && se.motion == 0, "lead-in then noise: seam %g colour %g motion %g", se.seam,
         se.colour, se.motion);
  printf("  ok  noise scores 0 on colour and motion for every expected colour and motion, 0 on permanence and seam\n");
}

static void test_still_bounce(uint8_t *v) {
  // still: every position on a 5x5 grid
  int bad = 0;
  for (int gy = 0; gy < 5; gy++)
    for (int gx = 0; gx < 5; gx++) {
      SynthScene s = one(3, gx % 3, gy % 2, M_STILL, 1, 6.0f + 5.0f * gx, 6.0f + 5.0f * gy, 0, 0);
      synth_render(&s, T, H, W, v);
      EvalItem it = item(3, gx % 3, M_STILL);
      bad += score(&it, v).motion != 1;
    }
  EXPECT(bad == 0, "still: %d of 25 positions not scored still", bad);
  // bounce: diagonal travel reflected at the walls, from several starts and directions
  bad = 0;
  for (int k = 0; k < 16; k++) {
    float sx = k & 1 ? 1.0f : -1.0f, sy = k & 2 ? 1.0f : -1.0f, speed = 0.4f + 0.1f * (k >> 2);
    SynthScene s =
        one(k % 8, k % 3, k % 2, M_BOUNCE, k % 3, 6.0f + 1.3f * k, 26.0f - 1.1f * k, sx * speed * 1.3f, sy * speed);
    synth_render(&s, T, H, W, v);
    EvalItem it = item(k % 8, k % 3, M_BOUNCE);
    EvalScore sc = score(&it, v);
    if (sc.motion != 1)
      bad++, printf("  bounce %d: found %d dx %.2f dy %.2f rev %d\n", k, sc.a.motion, sc.a.dx, sc.a.dy, sc.a.reversals);
  }
  EXPECT(bad == 0, "bounce: %d of 16 not scored 1", bad);
  // a bounce straight into a wall and back along one axis: a direction change
  SynthScene s = one(2, 0, 0, M_BOUNCE, 0, 24.0f, 16.0f, 1.2f, 0.0f);
  synth_render(&s, T, H, W, v);
  EvalItem it = item(2, 0, M_BOUNCE);
  EvalScore sc = score(&it, v);
  EXPECT(sc.motion == 1 && sc.a.reversals > 0, "bounce off the right wall and back: %g (reversals %d)", sc.motion,
         sc.a.reversals);
  EvalItem right = item(2, 0, M_RIGHT);
  EXPECT(score(&right, v).motion == 0, "bounce back scored as 'moves right'");
  printf("  ok  still (25 positions) and bounce (16 diagonals, 1 reflection) recognised\n");
}

// ------------------------------------------------------------------ permanence

static void test_permanence(uint8_t *v) {
  // The first synth two-object scene whose moving object passes behind a nearer
  // one and is fully visible at the first and the last frame (solo render equal).
  uint8_t *solo = malloc((size_t)T * FPX);
  int found = 0;
  for (uint64_t idx = 0; idx < 2000 && !found; idx++) {
    SynthScene s;
    synth_scene_range(&s, 3, idx, T, H, W, 2, 2);
    int behind[SYNTH_MAX_OBJECTS];
    if (synth_occlusions(&s, T, H, W, behind) == 0) continue;
    for (int a = 0; a < 2 && !found; a++) {
      if (behind[a] < 0 || s.obj[a].motion == M_STILL) continue;
      SynthScene alone = s;
      alone.nobjects = 1, alone.obj[0] = s.obj[a];
      synth_render(&s, T, H, W, v);
      synth_render(&alone, T, H, W, solo);
      int vis = 1;
      // fully visible at both ends: every pixel of the solo object has its colour in the scene
      for (int f = 0; f < T && vis; f += T - 1)
        for (size_t p = 0; p < (size_t)H * W; p++) {
          const uint8_t *q = solo + (size_t)f * FPX + 3 * p;
          if (!memcmp(q, SYNTH_COLOUR_RGB[s.obj[a].colour], 3) && memcmp(v + (size_t)f * FPX + 3 * p, q, 3)) vis = 0;
        }
      if (!vis) continue;
      found = 1;
      int b = behind[a];
      EvalItem it = item(s.obj[a].colour, s.obj[a].shape, s.obj[a].motion);
      it.objects = 2, it.colour2 = s.obj[b].colour, it.shape2 = s.obj[b].shape, it.motion2 = s.obj[b].motion;
      EvalScore sc = score(&it, v);
      EXPECT(sc.permanence == 1 && sc.permanence_occluded,
             "synth occlusion (seed 3 clip %llu): permanence %g occluded %d", (unsigned long long)idx, sc.permanence,
             sc.permanence_occluded);
      EXPECT(sc.colour == 1 && sc.motion == 1, "two objects: colour %g motion %g (found %d)", sc.colour, sc.motion,
             sc.a.motion);
      // erase the mover from the last frames (background where its colour is)
      const uint8_t *bg = SYNTH_BACKGROUND_RGB[s.background];
      for (int f = T - T / 4 - 2; f < T; f++)
        for (size_t p = 0; p < (size_t)H * W; p++) {
          uint8_t *q = v + (size_t)f * FPX + 3 * p;
          if (!memcmp(q, SYNTH_COLOUR_RGB[s.obj[a].colour], 3)) memcpy(q, bg, 3);
        }
      EvalScore se = score(&it, v);
      EXPECT(se.permanence == 0, "object erased from the last frames: permanence %g", se.permanence);
      printf("  ok  permanence: synth clip %llu (the %s %s passes behind the %s %s) 1, erased at the end 0\n",
             (unsigned long long)idx, SYNTH_COLOURS[s.obj[a].colour], SYNTH_SHAPES[s.obj[a].shape],
             SYNTH_COLOURS[s.obj[b].colour], SYNTH_SHAPES[s.obj[b].shape]);
    }
  }
  EXPECT(found, "no synth occlusion scene found");
  free(solo);
}

// ------------------------------------------------------------------ conditioning

static void test_first_frame_and_seam(uint8_t *v, uint8_t *w) {
  EvalItem it = item(4, 0, M_RIGHT);
  it.mode = EVAL_I2V, it.background = 2;
  SynthScene s;
  eval_item_scene(&it, T, H, W, &s);
  synth_render(&s, T, H, W, v);
  EvalScore sc;
  eval_score_video(&it, v, T, H, W, v, 1, &sc);
  EXPECT(sc.first_frame == 1 && sc.first_frame_mae == 0, "i2v identical first frame: %g (mae %.2f)", sc.first_frame,
         sc.first_frame_mae);
  EXPECT(sc.colour == 1 && sc.motion == 1, "i2v clip: colour %g motion %g", sc.colour, sc.motion);
  // a different image: another scene (the object elsewhere, another colour, background)
  EvalItem other = item(7, 1, M_LEFT);
  other.background = 1;
  SynthScene so;
  eval_item_scene(&other, T, H, W, &so);
  so.obj[0].x0 = 8.0f;
  synth_render(&so, T, H, W, w);
  eval_score_video(&it, v, T, H, W, w, 1, &sc);
  EXPECT(sc.first_frame == 0, "i2v different first frame: %g (mae %.2f)", sc.first_frame, sc.first_frame_mae);
  // same scene, the object moved on: frame 8 as the image
  eval_score_video(&it, v, T, H, W, v + 8 * FPX, 1, &sc);
  EXPECT(sc.first_frame == 0, "i2v: frame 8 as the image scored %g (mae %.2f)", sc.first_frame, sc.first_frame_mae);

  // extension: a continuous clip (the rendered scene itself) vs a clip whose second half jumps
  const int k = T / 2;
  for (int m = 0; m < 6; m++) {
    EvalItem e = item(m + 1, m % 3, m);
    e.mode = EVAL_EXTEND, e.background = m % 3;
    eval_item_scene(&e, T, H, W, &s);
    synth_render(&s, T, H, W, v);
    eval_score_video(&e, v, T, H, W, v, k, &sc);
    EXPECT(sc.seam == 1, "extend %s: continuous clip seam %g (diff %.2f, median %.2f)", SYNTH_MOTIONS[m], sc.seam,
           sc.seam_diff, sc.seam_median);
    EXPECT(sc.colour == 1 && sc.motion == 1, "extend %s: generated half colour %g motion %g (found %d)",
           SYNTH_MOTIONS[m], sc.colour, sc.motion, sc.a.motion);
    // jump: from frame k on, the object continues with the same velocity a third
    // of the frame away (perpendicular to its motion, towards the middle)
    float px, py, qx, qy;
    synth_position(&s.obj[0], k - 1, H, W, &px, &py);
    synth_position(&s.obj[0], k, H, W, &qx, &qy);
    SynthScene j = s;
    SynthObject *jo = &j.obj[0];
    jo->motion = M_LEFT;  // any linear code: positions x0 + vx f
    jo->vx = qx - px, jo->vy = qy - py;
    float sx = 0, sy = 0;
    if (fabsf(jo->vx) > fabsf(jo->vy))
      sy = (qy < H / 2 ? 1.0f : -1.0f) * (float)H / 3.0f;
    else
      sx = (qx < W / 2 ? 1.0f : -1.0f) * (float)W / 3.0f;
    jo->x0 = qx + sx - jo->vx * (float)k, jo->y0 = qy + sy - jo->vy * (float)k;
    synth_render(&j, T, H, W, w);
    memcpy(w, v, (size_t)k * FPX);
    eval_score_video(&e, w, T, H, W, w, k, &sc);
    EXPECT(sc.seam == 0, "extend %s: jump at the seam scored %g (diff %.2f, median %.2f)", SYNTH_MOTIONS[m], sc.seam,
           sc.seam_diff, sc.seam_median);
  }
  printf("  ok  first frame kept (1 identical, 0 different) and seam continuity (1 continuous, 0 jump)\n");
}

// The demo model's window (8x32x32): i2v and extend clips of every motion score 1.
static void test_short_window(void) {
  const int t = 8, h = 32, w = 32, k = 4;
  uint8_t *v = malloc((size_t)t * h * w * 3);
  for (int m = 0; m < 6; m++)
    for (int mode = EVAL_I2V; mode <= EVAL_EXTEND; mode++) {
      EvalItem it = item(7 - m, m % 3, m);
      it.mode = mode, it.background = (m + mode) % 3, it.size = m % 2;
      SynthScene s;
      eval_item_scene(&it, t, h, w, &s);
      synth_render(&s, t, h, w, v);
      EvalScore sc;
      eval_score_video(&it, v, t, h, w, v, mode == EVAL_I2V ? 1 : k, &sc);
      EXPECT(sc.colour == 1 && sc.shape == 1 && sc.motion == 1 && (mode == EVAL_I2V ? sc.first_frame : sc.seam) == 1,
             "%dx%dx%d %s %s: colour %g shape %g motion %g (found %d) first-frame %g seam %g", t, h, w,
             EVAL_MODES[mode], SYNTH_MOTIONS[m], sc.colour, sc.shape, sc.motion, sc.a.motion, sc.first_frame, sc.seam);
    }
  free(v);
  printf("  ok  8x32x32 window: i2v and extend clips of every motion score 1\n");
}

// ------------------------------------------------------------------ suite files

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

static void test_suite(void) {
  EvalSuite s;
  char err[512];
  int rc = eval_suite_load("configs/eval/shapes.yaml", &s, err, sizeof err);
  EXPECT(rc == 0, "configs/eval/shapes.yaml: %s", err);
  if (rc) return;
  int colour_dir[8] = {0}, dir[6] = {0}, modes[3] = {0}, two = 0, mismatched = 0, single_t2v = 0;
  for (int i = 0; i < s.n; i++) {
    const EvalItem *it = &s.items[i];
    char cap[256];
    eval_item_caption(it, cap, sizeof cap);
    if (strcmp(cap, it->prompt)) mismatched++, printf("  prompt '%s' != caption '%s'\n", it->prompt, cap);
    modes[it->mode]++;
    two += it->objects == 2;
    if (it->mode == EVAL_T2V && it->objects == 1) {
      single_t2v++;
      dir[it->motion]++;
      if (it->motion <= M_DOWN) colour_dir[it->colour]++;
    }
  }
  EXPECT(mismatched == 0, "%d prompts are not the synth caption of their fields", mismatched);
  EXPECT(single_t2v >= 24, "single-object t2v prompts: %d", single_t2v);
  for (int m = 0; m < 6; m++) EXPECT(dir[m] >= 2, "motion %s: %d single-object prompts", SYNTH_MOTIONS[m], dir[m]);
  for (int c = 0; c < 8; c++)
    EXPECT(colour_dir[c] >= 2, "colour %s: %d direction prompts", SYNTH_COLOURS[c], colour_dir[c]);
  EXPECT(two >= 2 && modes[EVAL_I2V] >= 2 && modes[EVAL_EXTEND] >= 2, "two-object %d, i2v %d, extend %d", two,
         modes[EVAL_I2V], modes[EVAL_EXTEND]);
  printf("  ok  configs/eval/shapes.yaml: %d items (%d single-object t2v), captions match the synth grammar\n", s.n,
         single_t2v);
  eval_suite_free(&s);

  // bad files: FILE:LINE:COL naming what is wrong
  static const struct {
    const char *text, *want;
  } bad[] = {
      {"items:\n  - {prompt: \"a red circle moves left\", colour: purple, shape: circle, motion: left}\n",
       ":2:49: items[0].colour: expected one of red"},
      {"items:\n  - {prompt: \"x\", colour: red, shape: circle, motion: sideways}\n",
       ":2:55: items[0].motion: expected one of left, right, up, down, still, bounce, got 'sideways'"},
      {"- {prompt: \"x\", colour: red, shape: circle, motion: left}\n- {prompt: \"y\", colour: red, motion: left}\n",
       ":2:3: items[1]: shape: missing"},
      {"items:\n  - {prompt: \"x\", colour: red, shape: circle, motion: left, speed: 3}\n",
       ":2:61: items[0]: unknown key 'speed'"},
      {"items:\n  - {prompt: \"x\", colour: red, shape: circle, motion: left, objects: 3}\n",
       ":2:70: items[0].objects: expected 1 or 2"},
      {"items:\n  - {prompt: \"x\", colour: red, shape: circle, motion: left, mode: i2v, objects: 2}\n",
       ":2:5: items[0]: mode i2v"},
      {"items:\n  - {prompt: \"x\", colour: red\n", ":3:1: invalid YAML"},
      {"name: s\n", ":1:1: items: missing"},
      {"items: []\n", ":1:8: items: the list is empty"},
      {"", ":1:1: expected a list"},
  };
  const char *path = "build/tmp/eval_bad.yaml";
  system("mkdir -p build/tmp");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_file(path, bad[i].text);
    err[0] = 0;
    rc = eval_suite_load(path, &s, err, sizeof err);
    EXPECT(rc == -1 && strstr(err, bad[i].want) && !strncmp(err, path, strlen(path)),
           "bad suite %zu: got '%s', want '%s'", i, err, bad[i].want);
  }
  rc = eval_suite_load("build/tmp/no_such_suite.yaml", &s, err, sizeof err);
  EXPECT(rc == -1 && strstr(err, "no_such_suite.yaml: cannot open"), "missing suite: '%s'", err);
  printf("  ok  bad suites refused with FILE:LINE:COL (%zu cases)\n", sizeof bad / sizeof bad[0]);
}

int main(void) {
  uint8_t *v = malloc((size_t)T * FPX), *w = malloc((size_t)T * FPX);
  test_suite();
  test_synth_clips(v);
  // blurred and noisy versions, as a model might make them (minimum % correct: colour, shape, motion)
  test_degraded(T, H, W, BLUR_NONE, 40, 0, 100, 95, 100);
  test_degraded(T, H, W, BLUR_BINOMIAL, 24, 0, 98, 70, 98);
  test_degraded(T, H, W, BLUR_BOX, 24, 0, 98, 60, 98);
  test_degraded(8, 32, 32, BLUR_NONE, 0, 0, 100, 98, 98);
  test_degraded(8, 32, 32, BLUR_BINOMIAL, 24, 0, 98, 70, 97);
  test_degraded(8, 16, 16, BLUR_NONE, 0, 0, 100, 75, 98);
  test_degraded(8, 16, 16, BLUR_BINOMIAL, 16, 0, 90, 40, 95);
  // a 1-pixel wobble around the true path: no change of direction at 32x32; at
  // 16x16 it is as large as a small bounce's minor axis, so some read as bounces
  test_degraded(8, 32, 32, BLUR_NONE, 0, 1, 100, 0, 95);
  test_degraded(8, 16, 16, BLUR_NONE, 0, 1, 100, 0, 75);
  test_directions(v, w);
  test_recolour(v);
  test_noise(v);
  test_still_bounce(v);
  test_permanence(v);
  test_first_frame_and_seam(v, w);
  test_short_window();
  free(v);
  free(w);
  return tl_finish("test_eval");
}
