// The shapes world (src/data/synth.c, `tessera data synth`): determinism,
// ground truth vs the rendered pixels, motions, captions and recaptions vs the
// ground truth (occlusion computed independently from per-object renders),
// coverage of the vocabulary, bad command lines, and a corpus written end to
// end (read back with plain HDF5 against the documented layout).
// Run from the repository root (reads datasets/shapes.yaml).
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/commands.h"
#include "data/synth.h"
#include "data/synth_wording.h"
#include "testlib.h"

enum { M_LEFT, M_RIGHT, M_UP, M_DOWN, M_STILL, M_BOUNCE };

static const uint8_t *bg_rgb(const SynthScene *s) { return SYNTH_BACKGROUND_RGB[s->background]; }
static int eq3(const uint8_t *a, const uint8_t *b) { return a[0] == b[0] && a[1] == b[1] && a[2] == b[2]; }
static uint8_t *px(uint8_t *pix, int f, int y, int x, int H, int W) { return pix + (((size_t)f * H + y) * W + x) * 3; }

// ------------------------------------------------------------------ palette

static void test_palette(void) {
  static const uint8_t colours[8][3] = {{230, 40, 40},  {40, 200, 60},  {50, 90, 230},   {240, 220, 40},
                                        {40, 210, 220}, {220, 50, 200}, {245, 245, 245}, {245, 140, 30}};
  static const char *const cnames[8] = {"red", "green", "blue", "yellow", "cyan", "magenta", "white", "orange"};
  static const uint8_t bgs[3][3] = {{0, 0, 0}, {96, 96, 96}, {20, 24, 70}};
  static const char *const bnames[3] = {"black", "gray", "navy"};
  for (int i = 0; i < 8; i++) {
    EXPECT(eq3(SYNTH_COLOUR_RGB[i], colours[i]), "colour %d RGB", i);
    EXPECT(!strcmp(SYNTH_COLOURS[i], cnames[i]), "colour %d name %s", i, SYNTH_COLOURS[i]);
  }
  for (int i = 0; i < 3; i++) {
    EXPECT(eq3(SYNTH_BACKGROUND_RGB[i], bgs[i]), "background %d RGB", i);
    EXPECT(!strcmp(SYNTH_BACKGROUNDS[i], bnames[i]), "background %d name", i);
  }
  EXPECT(
      !strcmp(SYNTH_SHAPES[0], "circle") && !strcmp(SYNTH_SHAPES[1], "square") && !strcmp(SYNTH_SHAPES[2], "triangle"),
      "shape names");
  EXPECT(!strcmp(SYNTH_SIZES[0], "small") && !strcmp(SYNTH_SIZES[1], "large"), "size names");
  EXPECT(!strcmp(SYNTH_MOTIONS[M_LEFT], "moves left") && !strcmp(SYNTH_MOTIONS[M_STILL], "stays still") &&
             !strcmp(SYNTH_MOTIONS[M_BOUNCE], "bounces off the walls"),
         "motion names");
  printf("  ok  palette and names\n");
}

// ------------------------------------------------------------------ determinism

static void test_determinism(void) {
  const int T = 16, H = 32, W = 32, n = 64;
  const size_t bytes = (size_t)T * H * W * 3;
  uint8_t *a = malloc(bytes * n), *b = malloc(bytes * n);
  char ca[256], cb[256], ra[4096], rb[4096];
  int scene_diff_seed = 0, pixel_diff_index = 0;
  for (int i = 0; i < n; i++) {
    SynthScene s1, s2, s3;
    synth_scene(&s1, 7, (uint64_t)i, T, H, W);
    synth_scene(&s2, 7, (uint64_t)i, T, H, W);
    synth_scene(&s3, 8, (uint64_t)i, T, H, W);
    EXPECT(!memcmp(&s1, &s2, sizeof s1), "clip %d: same (seed, index) gives a different scene", i);
    scene_diff_seed += memcmp(&s1, &s3, sizeof s1) != 0;
    synth_render(&s1, T, H, W, a + (size_t)i * bytes);
    synth_caption(&s1, ca, sizeof ca);
    synth_caption(&s2, cb, sizeof cb);
    synth_recaption(&s1, T, H, W, ra, sizeof ra);
    synth_recaption(&s2, T, H, W, rb, sizeof rb);
    EXPECT(!strcmp(ca, cb) && !strcmp(ra, rb), "clip %d: captions differ between two draws", i);
    if (i > 0) pixel_diff_index += memcmp(a + (size_t)i * bytes, a + (size_t)(i - 1) * bytes, bytes) != 0;
  }
  // Any thread order: render the same clips in parallel, last first.
#pragma omp parallel for schedule(dynamic, 1)
  for (int k = 0; k < n; k++) {
    int i = n - 1 - k;
    SynthScene s;
    synth_scene(&s, 7, (uint64_t)i, T, H, W);
    synth_render(&s, T, H, W, b + (size_t)i * bytes);
  }
  EXPECT(!memcmp(a, b, bytes * n), "parallel, reversed rendering differs from sequential");
  EXPECT(scene_diff_seed >= n - 1, "seeds 7 and 8 differ in only %d of %d scenes", scene_diff_seed, n);
  EXPECT(pixel_diff_index == n - 1, "consecutive clips identical: %d of %d differ", pixel_diff_index, n - 1);
  // A clip regenerated alone equals itself inside a sequence (no hidden state).
  SynthScene lone;
  synth_scene(&lone, 7, 37, T, H, W);
  synth_render(&lone, T, H, W, b);
  EXPECT(!memcmp(b, a + 37 * bytes, bytes), "clip 37 regenerated alone differs");
  printf("  ok  determinism: %d clips identical across draws and thread orders; seeds differ in %d/%d\n", n,
         scene_diff_seed, n);
  free(a);
  free(b);
}

// ------------------------------------------------------------------ ground truth

// Single-object clips: the frame holds background and the object's exact
// colour only; the colour's centroid is the ground-truth position (when the
// object does not touch the border); motions behave as named.
static void test_single_object(int T, int H, int W, int nclips) {
  size_t bytes = (size_t)T * H * W * 3;
  uint8_t *pix = malloc(bytes);
  double max_err = 0;
  int checked = 0, motion_seen[6] = {0}, bounce_reversals = 0;
  for (int i = 0; i < nclips; i++) {
    SynthScene s;
    synth_scene_range(&s, 3, (uint64_t)i, T, H, W, 1, 1);
    EXPECT(s.nobjects == 1, "range 1-1 gave %d objects", s.nobjects);
    const SynthObject *o = &s.obj[0];
    const uint8_t *oc = SYNTH_COLOUR_RGB[o->colour], *bg = bg_rgb(&s);
    synth_render(&s, T, H, W, pix);
    motion_seen[o->motion]++;
    float xs[256], ys[256], cxs[256];
    int counts[256];
    for (int f = 0; f < T && f < 256; f++) {
      double sx = 0, sy = 0;
      int cnt = 0, border = 0, stray = 0;
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
          uint8_t *p = px(pix, f, y, x, H, W);
          if (eq3(p, oc)) {
            sx += x + 0.5;
            sy += y + 0.5;
            cnt++;
            border |= x == 0 || y == 0 || x == W - 1 || y == H - 1;
          } else
            stray += !eq3(p, bg);
        }
      EXPECT(!stray, "clip %d frame %d: %d pixels neither background nor object colour", i, f, stray);
      EXPECT(cnt > 0, "clip %d frame %d: object not visible", i, f);
      synth_position(o, f, H, W, &xs[f], &ys[f]);
      counts[f] = cnt;
      cxs[f] = cnt ? (float)(sx / cnt) : -1;
      if (cnt && !border) {
        double ex = fabs(sx / cnt - xs[f]), ey = fabs(sy / cnt - ys[f]);
        EXPECT(ex <= 1.0 && ey <= 1.0, "clip %d (%s %s) frame %d: centroid (%.2f,%.2f) vs position (%.2f,%.2f)", i,
               SYNTH_SIZES[o->size], SYNTH_SHAPES[o->shape], f, sx / cnt, sy / cnt, xs[f], ys[f]);
        if (ex > max_err) max_err = ex;
        if (ey > max_err) max_err = ey;
        checked++;
      }
      EXPECT(xs[f] >= 0 && xs[f] <= W && ys[f] >= 0 && ys[f] <= H, "clip %d frame %d: centre (%.1f,%.1f) out of frame",
             i, f, xs[f], ys[f]);
    }
    int frames = T < 256 ? T : 256;
    switch (o->motion) {
      case M_LEFT:
      case M_RIGHT:
      case M_UP:
      case M_DOWN: {
        int horiz = o->motion <= M_RIGHT, sgn = o->motion == M_RIGHT || o->motion == M_DOWN ? 1 : -1;
        const float *along = horiz ? xs : ys, *perp = horiz ? ys : xs;
        for (int f = 1; f < frames; f++) {
          EXPECT(sgn * (along[f] - along[f - 1]) > 0, "clip %d %s: frame %d does not advance", i,
                 SYNTH_MOTIONS[o->motion], f);
          EXPECT(perp[f] == perp[0], "clip %d %s: drifts across its axis", i, SYNTH_MOTIONS[o->motion]);
        }
        float travel = fabsf(along[frames - 1] - along[0]), dim = (float)(horiz ? W : H);
        if (T > 1)
          EXPECT(travel >= 0.25f * dim, "clip %d %s: travels only %.1f px of %.0f", i, SYNTH_MOTIONS[o->motion], travel,
                 dim);
        if (horiz && T > 1 && counts[0] == counts[frames - 1])  // rendered motion agrees too
          EXPECT(sgn * (cxs[frames - 1] - cxs[0]) > 0, "clip %d: rendered centroid moves the wrong way", i);
        break;
      }
      case M_STILL:
        for (int f = 1; f < frames; f++) {
          EXPECT(xs[f] == xs[0] && ys[f] == ys[0], "clip %d stays still but moves", i);
          EXPECT(!memcmp(pix, pix + (size_t)f * H * W * 3, (size_t)H * W * 3), "clip %d stays still: frame %d differs",
                 i, f);
        }
        break;
      case M_BOUNCE: {
        // Inside the walls throughout: as many pixels as a copy at the same sub-pixel
        // phase in the middle of the frame (not cut off); the direction reverses.
        uint8_t *copy = malloc((size_t)H * W * 3);
        for (int f = 0; f < frames; f++) {
          SynthScene c = {.background = s.background, .nobjects = 1};
          c.obj[0] = *o;
          c.obj[0].motion = M_STILL;
          c.obj[0].vx = c.obj[0].vy = 0;
          c.obj[0].x0 = (float)(W / 2) + (xs[f] - floorf(xs[f]));
          c.obj[0].y0 = (float)(H / 2) + (ys[f] - floorf(ys[f]));
          synth_render(&c, 1, H, W, copy);
          int full = 0;
          for (int p = 0; p < H * W; p++) full += eq3(copy + (size_t)p * 3, oc);
          EXPECT(counts[f] == full, "clip %d bounce frame %d: %d of %d pixels visible (cut off by a wall)", i, f,
                 counts[f], full);
        }
        free(copy);
        int rev = 0;
        for (int f = 2; f < frames; f++)
          rev |= (xs[f] - xs[f - 1]) * (xs[f - 1] - xs[f - 2]) < 0 || (ys[f] - ys[f - 1]) * (ys[f - 1] - ys[f - 2]) < 0;
        rev |= T >= 3 && ((xs[2] - xs[1]) * o->vx < 0 || (ys[2] - ys[1]) * o->vy < 0 || (xs[1] - xs[0]) * o->vx < 0);
        bounce_reversals += rev;
        EXPECT(o->vx != 0 && o->vy != 0, "clip %d bounce: not diagonal", i);
        break;
      }
    }
  }
  for (int m = 0; m < 6; m++) EXPECT(motion_seen[m] > 0, "%dx%dx%d: motion %s never drawn", T, H, W, SYNTH_MOTIONS[m]);
  if (T >= 8)
    EXPECT(bounce_reversals == motion_seen[M_BOUNCE], "%dx%dx%d: %d of %d bounces never hit a wall", T, H, W,
           motion_seen[M_BOUNCE] - bounce_reversals, motion_seen[M_BOUNCE]);
  printf("  ok  %dx%dx%d single objects: %d clips, %d frames checked, centroid err max %.2f px\n", T, H, W, nclips,
         checked, max_err);
  free(pix);
}

// Multi-object clips: exact palette colours only, and the nearest object is on top at its centre.
static void test_multi_object(int T, int H, int W, int nclips) {
  size_t bytes = (size_t)T * H * W * 3;
  uint8_t *pix = malloc(bytes);
  for (int i = 0; i < nclips; i++) {
    SynthScene s;
    synth_scene_range(&s, 5, (uint64_t)i, T, H, W, 2, 3);
    EXPECT(s.nobjects >= 2 && s.nobjects <= 3, "range 2-3 gave %d objects", s.nobjects);
    synth_render(&s, T, H, W, pix);
    int top = 0;
    for (int k = 1; k < s.nobjects; k++)
      if (s.obj[k].depth > s.obj[top].depth) top = k;
    for (int a = 0; a < s.nobjects; a++)
      for (int b = a + 1; b < s.nobjects; b++) {
        EXPECT(s.obj[a].colour != s.obj[b].colour, "clip %d: objects %d and %d share a colour", i, a, b);
        EXPECT(s.obj[a].depth != s.obj[b].depth, "clip %d: objects %d and %d share a depth", i, a, b);
      }
    for (int f = 0; f < T; f++) {
      int stray = 0;
      for (int p = 0; p < H * W; p++) {
        const uint8_t *q = pix + ((size_t)f * H * W + p) * 3;
        int ok = eq3(q, bg_rgb(&s));
        for (int k = 0; k < s.nobjects; k++) ok |= eq3(q, SYNTH_COLOUR_RGB[s.obj[k].colour]);
        stray += !ok;
      }
      EXPECT(!stray, "clip %d frame %d: %d pixels outside background and object colours", i, f, stray);
      float x, y;
      synth_position(&s.obj[top], f, H, W, &x, &y);
      int xi = (int)floorf(x), yi = (int)floorf(y);
      if (xi >= 0 && yi >= 0 && xi < W && yi < H)
        EXPECT(eq3(px(pix, f, yi, xi, H, W), SYNTH_COLOUR_RGB[s.obj[top].colour]),
               "clip %d frame %d: the nearest object is not on top at its centre", i, f);
    }
  }
  printf("  ok  %dx%dx%d multi-object: %d clips, palette-exact, depth order respected\n", T, H, W, nclips);
  free(pix);
}

// ------------------------------------------------------------------ captions

// Occlusion from the pixels of per-object renders (independent of synth.c's
// geometry): a (farther) is hidden by b (nearer) when their common pixels are
// at least a quarter of the smaller in-frame area; an event is a hidden frame
// followed by a frame with no common pixel.
static int occlusion_events(const SynthScene *s, int T, int H, int W, int *starts_hidden) {
  size_t bytes = (size_t)T * H * W * 3;
  uint8_t *one[SYNTH_MAX_OBJECTS];
  for (int k = 0; k < s->nobjects; k++) {
    SynthScene alone = {.background = s->background, .nobjects = 1};
    alone.obj[0] = s->obj[k];
    one[k] = malloc(bytes);
    synth_render(&alone, T, H, W, one[k]);
  }
  int events = 0;
  const uint8_t *bg = bg_rgb(s);
  for (int a = 0; a < s->nobjects; a++)
    for (int b = 0; b < s->nobjects; b++) {
      if (a == b || s->obj[b].depth <= s->obj[a].depth) continue;
      int seen_hidden = 0, event = 0;
      for (int f = 0; f < T; f++) {
        int na = 0, nb = 0, ov = 0;
        for (int p = 0; p < H * W; p++) {
          size_t q = ((size_t)f * H * W + p) * 3;
          int ia = !eq3(one[a] + q, bg), ib = !eq3(one[b] + q, bg);
          na += ia;
          nb += ib;
          ov += ia && ib;
        }
        int hidden = ov > 0 && 4 * ov >= (na < nb ? na : nb);
        if (f == 0 && hidden && starts_hidden) *starts_hidden = 1;
        if (ov == 0 && seen_hidden) event = 1;
        seen_hidden |= hidden;
      }
      events += event;
    }
  for (int k = 0; k < s->nobjects; k++) free(one[k]);
  return events;
}

// The sentence of the recaption about object o: from "<colour> <shape> " up to the next '.'.
static int object_sentence(const char *r, const SynthObject *o, char *out, int n) {
  char key[64];
  snprintf(key, sizeof key, "%s %s ", SYNTH_COLOURS[o->colour], SYNTH_SHAPES[o->shape]);
  const char *p = strstr(r, key);
  if (!p) return 0;
  const char *e = strchr(p, '.');
  int len = e ? (int)(e - p) : (int)strlen(p);
  if (len >= n) len = n - 1;
  memcpy(out, p, (size_t)len);
  out[len] = 0;
  return 1;
}

// The 3x3 region words of the recaption grammar, restated from datasets/shapes.md
// on purpose: the expected text comes from the documented grammar, not from synth.c.
static const char *region(float x, float y, int H, int W) {
  static const char *const names[3][3] = {{"in the upper left", "at the top", "in the upper right"},
                                          {"on the left", "in the center", "on the right"},
                                          {"in the lower left", "at the bottom", "in the lower right"}};
  int col = x < (float)W / 3.0f ? 0 : x < 2.0f * (float)W / 3.0f ? 1 : 2;
  int row = y < (float)H / 3.0f ? 0 : y < 2.0f * (float)H / 3.0f ? 1 : 2;
  return names[row][col];
}

static void test_captions(int T, int H, int W, int nclips) {
  char cap[256], rec[4096], sent[512], want[128];
  int with_occ = 0, without_occ = 0, multi = 0, starts_behind = 0;
  for (int i = 0; i < nclips; i++) {
    SynthScene s;
    synth_scene(&s, 11, (uint64_t)i, T, H, W);
    synth_caption(&s, cap, sizeof cap);
    synth_recaption(&s, T, H, W, rec, sizeof rec);
    // Caption: object 0 first, then every object's colour, shape and motion.
    const SynthObject *o0 = &s.obj[0];
    const char *c0 = SYNTH_COLOURS[o0->colour];
    snprintf(want, sizeof want, "%s %s %s %s", strchr("aeiou", c0[0]) ? "an" : "a", c0, SYNTH_SHAPES[o0->shape],
             SYNTH_MOTIONS[o0->motion]);
    EXPECT(!strncmp(cap, want, strlen(want)), "clip %d caption '%s' does not start with '%s'", i, cap, want);
    for (int k = 0; k < s.nobjects; k++) {
      const SynthObject *o = &s.obj[k];
      snprintf(want, sizeof want, "%s %s %s", SYNTH_COLOURS[o->colour], SYNTH_SHAPES[o->shape],
               SYNTH_MOTIONS[o->motion]);
      EXPECT(strstr(cap, want), "clip %d caption '%s' lacks '%s'", i, cap, want);
      // Recaption: size, colour, shape; where it starts and ends; speed.
      snprintf(want, sizeof want, "%s %s %s", SYNTH_SIZES[o->size], SYNTH_COLOURS[o->colour], SYNTH_SHAPES[o->shape]);
      EXPECT(strstr(rec, want), "clip %d recaption lacks '%s': %s", i, want, rec);
      EXPECT(object_sentence(rec, o, sent, sizeof sent), "clip %d recaption has no sentence on object %d", i, k);
      float x0, y0, x1, y1;
      synth_position(o, 0, H, W, &x0, &y0);
      synth_position(o, T - 1, H, W, &x1, &y1);
      EXPECT(strstr(sent, region(x0, y0, H, W)), "clip %d object %d: start '%s' missing in '%s'", i, k,
             region(x0, y0, H, W), sent);
      if (o->motion == M_STILL)
        EXPECT(strstr(sent, "stays still"), "clip %d object %d: '%s'", i, k, sent);
      else {
        EXPECT(strstr(sent, region(x1, y1, H, W)), "clip %d object %d: end '%s' missing in '%s'", i, k,
               region(x1, y1, H, W), sent);
        float ux = o->vx * (T - 1) / W, uy = o->vy * (T - 1) / H;
        int fast = sqrtf(ux * ux + uy * uy) >= 0.5f;
        EXPECT(strstr(sent, fast ? "quickly" : "slowly"), "clip %d object %d: speed (%s) missing in '%s'", i, k,
               fast ? "quickly" : "slowly", sent);
        if (o->motion <= M_DOWN) {
          static const char *const dir[4] = {"moves left", "moves right", "moves up", "moves down"};
          EXPECT(strstr(sent, dir[o->motion]), "clip %d object %d: direction missing in '%s'", i, k, sent);
        } else {
          EXPECT(strstr(sent, "bounces") && strstr(sent, "wall"), "clip %d object %d: bounce missing in '%s'", i, k,
                 sent);
        }
      }
    }
    snprintf(want, sizeof want, "%s background", SYNTH_BACKGROUNDS[s.background]);
    EXPECT(strstr(rec, want), "clip %d recaption lacks '%s': %s", i, want, rec);
    // Occlusion: "behind" iff an object passes behind a nearer one and comes out again.
    int sh = 0, events = occlusion_events(&s, T, H, W, &sh), behind[SYNTH_MAX_OBJECTS];
    int count = synth_occlusions(&s, T, H, W, behind);
    EXPECT((events > 0) == (count > 0), "clip %d: synth_occlusions %d vs pixel count %d", i, count, events);
    EXPECT((strstr(rec, "behind") != NULL) == (events > 0), "clip %d: 'behind' %s but %d occlusion events: %s", i,
           strstr(rec, "behind") ? "present" : "absent", events, rec);
    for (int k = 0; k < s.nobjects; k++)
      if (behind[k] >= 0) {
        const SynthObject *a = &s.obj[k], *b = &s.obj[behind[k]];
        EXPECT(b->depth > a->depth, "clip %d: object %d behind a farther object", i, k);
        char w1[160], w2[160], w3[160];
        const char *ca = SYNTH_COLOURS[a->colour], *sa = SYNTH_SHAPES[a->shape];
        const char *cb = SYNTH_COLOURS[b->colour], *sb = SYNTH_SHAPES[b->shape];
        snprintf(w1, sizeof w1, "%s %s passes behind the %s %s", ca, sa, cb, sb);
        snprintf(w2, sizeof w2, "%s %s starts behind the %s %s", ca, sa, cb, sb);
        snprintf(w3, sizeof w3, "%s %s passes in front of the %s %s", cb, sb, ca, sa);
        EXPECT(strstr(rec, w1) || strstr(rec, w2) || strstr(rec, w3),
               "clip %d: occlusion of the %s %s by the %s %s not told: %s", i, ca, sa, cb, sb, rec);
      }
    if (s.nobjects > 1) {
      multi++;
      if (events)
        with_occ++;
      else
        without_occ++;
    }
    starts_behind += sh && events;
  }
  EXPECT(with_occ > 0 && without_occ > 0, "%dx%dx%d: need clips with (%d) and without (%d) occlusion", T, H, W,
         with_occ, without_occ);
  if (T >= 8)
    EXPECT(with_occ >= multi / 4, "%dx%dx%d: only %d of %d multi-object clips show an occlusion", T, H, W, with_occ,
           multi);
  printf("  ok  %dx%dx%d captions and recaptions: %d clips; occlusion in %d of %d multi-object clips\n", T, H, W,
         nclips, with_occ, multi);
}

// A constructed occlusion is visible in the composed frames: the farther
// object loses pixels while hidden and has them all back later.
static void test_occlusion_pixels(void) {
  const int T = 16, H = 32, W = 32;
  size_t bytes = (size_t)T * H * W * 3;
  uint8_t *pix = malloc(bytes), *alone = malloc(bytes);
  int found = 0;
  for (int i = 0; i < 400 && found < 20; i++) {
    SynthScene s;
    synth_scene_range(&s, 2, (uint64_t)i, T, H, W, 2, 2);
    int behind[SYNTH_MAX_OBJECTS];
    if (!synth_occlusions(&s, T, H, W, behind)) continue;
    int a = behind[0] >= 0 ? 0 : 1;
    const uint8_t *ca = SYNTH_COLOUR_RGB[s.obj[a].colour];
    SynthScene one = {.background = s.background, .nobjects = 1};
    one.obj[0] = s.obj[a];
    synth_render(&s, T, H, W, pix);
    synth_render(&one, T, H, W, alone);
    int lost = -1, back = 0;
    for (int f = 0; f < T; f++) {
      int full = 0, vis = 0;
      for (int p = 0; p < H * W; p++) {
        full += eq3(alone + ((size_t)f * H * W + p) * 3, ca);
        vis += eq3(pix + ((size_t)f * H * W + p) * 3, ca);
      }
      if (vis < full && lost < 0) lost = f;
      if (lost >= 0 && f > lost && vis == full) back = 1;
    }
    EXPECT(lost >= 0 && back, "clip %d: occlusion not visible in the pixels (hidden at %d, back %d)", i, lost, back);
    found++;
  }
  EXPECT(found == 20, "only %d two-object clips with occlusion in 400", found);
  printf("  ok  occlusion visible in the pixels: %d clips\n", found);
  free(pix);
  free(alone);
}

// ------------------------------------------------------------------ coverage

static void test_coverage(void) {
  const int T = 16, H = 32, W = 32, n = 2000;
  int colour[8] = {0}, shape[3] = {0}, size[2] = {0}, motion[6] = {0}, bg[3] = {0}, nobj[4] = {0};
  for (int i = 0; i < n; i++) {
    SynthScene s;
    synth_scene(&s, 0, (uint64_t)i, T, H, W);
    EXPECT(s.nobjects >= 1 && s.nobjects <= 3, "clip %d: %d objects", i, s.nobjects);
    nobj[s.nobjects]++;
    bg[s.background]++;
    for (int k = 0; k < s.nobjects; k++) {
      colour[s.obj[k].colour]++;
      shape[s.obj[k].shape]++;
      size[s.obj[k].size]++;
      motion[s.obj[k].motion]++;
    }
  }
  for (int i = 0; i < 8; i++) EXPECT(colour[i] > 0, "colour %s never drawn", SYNTH_COLOURS[i]);
  for (int i = 0; i < 3; i++) EXPECT(shape[i] > 0, "shape %s never drawn", SYNTH_SHAPES[i]);
  for (int i = 0; i < 2; i++) EXPECT(size[i] > 0, "size %s never drawn", SYNTH_SIZES[i]);
  for (int i = 0; i < 6; i++) EXPECT(motion[i] > 0, "motion %s never drawn", SYNTH_MOTIONS[i]);
  for (int i = 0; i < 3; i++) EXPECT(bg[i] > 0, "background %s never drawn", SYNTH_BACKGROUNDS[i]);
  for (int i = 1; i <= 3; i++) EXPECT(nobj[i] > n / 6, "%d objects in only %d of %d clips", i, nobj[i], n);
  printf("  ok  coverage of %d clips: objects 1/2/3 = %d/%d/%d, motions %d/%d/%d/%d/%d/%d\n", n, nobj[1], nobj[2],
         nobj[3], motion[0], motion[1], motion[2], motion[3], motion[4], motion[5]);
  for (int lo = 1; lo <= 3; lo++)
    for (int hi = lo; hi <= 3; hi++)
      for (int i = 0; i < 50; i++) {
        SynthScene s;
        synth_scene_range(&s, 1, (uint64_t)i, 8, 16, 24, lo, hi);
        EXPECT(s.nobjects >= lo && s.nobjects <= hi, "range %d-%d gave %d objects", lo, hi, s.nobjects);
      }
  // Degenerate sizes render and caption without trouble.
  int shapes[][3] = {{1, 32, 32}, {2, 8, 8}, {4, 4, 4}, {64, 16, 48}};
  for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
    int t = shapes[k][0], h = shapes[k][1], w = shapes[k][2];
    uint8_t *pix = malloc((size_t)t * h * w * 3);
    char cap[256], rec[4096];
    for (int i = 0; i < 50; i++) {
      SynthScene s;
      synth_scene(&s, 9, (uint64_t)i, t, h, w);
      synth_render(&s, t, h, w, pix);
      synth_caption(&s, cap, sizeof cap);
      synth_recaption(&s, t, h, w, rec, sizeof rec);
      EXPECT(strlen(cap) > 10 && strlen(rec) > 20, "%dx%dx%d clip %d: empty text", t, h, w, i);
      for (int o = 0; o < s.nobjects; o++)
        for (int f = 0; f < t; f++) {
          float x, y;
          synth_position(&s.obj[o], f, h, w, &x, &y);
          EXPECT(x >= 0 && x <= w && y >= 0 && y <= h, "%dx%dx%d clip %d: centre out of frame", t, h, w, i);
        }
    }
    free(pix);
  }
  // Truncation is safe.
  SynthScene s;
  synth_scene_range(&s, 0, 1, 16, 32, 32, 3, 3);
  char small[12];
  memset(small, 'x', sizeof small);
  synth_caption(&s, small, 8);
  EXPECT(strlen(small) == 7 && small[8] == 'x', "caption truncation overran its buffer");
  synth_recaption(&s, 16, 32, 32, small, 8);
  EXPECT(strlen(small) == 7 && small[8] == 'x', "recaption truncation overran its buffer");
  printf("  ok  object ranges, degenerate sizes, truncation\n");
}

// ------------------------------------------------------------------ command

// Run `tessera data synth ARGS` in a child; returns its exit code, stderr in err.
static int run_synth(const char *const *args, char *err, int errlen) {
  int fd[2];
  if (pipe(fd)) return -1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    dup2(fd[1], 2);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 1);
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"synth";
    for (int i = 0; args[i] && argc < 31; i++) argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    _exit(data_cmd_synth(argc, argv));
  }
  close(fd[1]);
  int len = 0, r;
  while ((r = (int)read(fd[0], err + len, (size_t)(errlen - 1 - len))) > 0) len += r;
  err[len] = 0;
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_bad_args(const char *dir) {
  char out[512], bad_recipe[512], err[2048];
  snprintf(out, sizeof out, "%s/bad.h5", dir);
  snprintf(bad_recipe, sizeof bad_recipe, "%s/bad.yaml", dir);
  FILE *f = fopen(bad_recipe, "w");
  if (f) {
    fputs("clips: 5\ncolours:\n  red: [230, 41, 40]\n", f);
    fclose(f);
  }
  struct {
    const char *args[12];
    const char *needle;
  } cases[] = {
      {{"--clips", "5", NULL}, "--out"},
      {{"--out", out, "--frames", "15", NULL}, "--frames 15"},
      {{"--out", out, "--size", "32", NULL}, "--size"},
      {{"--out", out, "--size", "30x32", NULL}, "30x32"},
      {{"--out", out, "--clips", "0", NULL}, "--clips"},
      {{"--out", out, "--objects", "0-3", NULL}, "--objects"},
      {{"--out", out, "--objects", "3-2", NULL}, "--objects"},
      {{"--out", out, "--patch", "2x4", NULL}, "--patch"},
      {{"--out", out, "--text-length", "x", NULL}, "--text-length"},
      {{"--out", out, "--seed", "-3", NULL}, "--seed"},
      {{"--out", out, "--caption-variety", "1.5", NULL}, "--caption-variety"},
      {{"--out", out, "--caption-variety", "half", NULL}, "--caption-variety"},
      {{"--out", out, "--colour", "red", NULL}, "unknown option"},
      {{"--out", out, "extra", NULL}, "extra"},
      {{"--out", "/nonexistent-dir/x.h5", NULL}, "nonexistent-dir"},
      {{"--out", out, "--recipe", "/nonexistent.yaml", NULL}, "nonexistent.yaml"},
      {{"--out", out, "--recipe", bad_recipe, NULL}, "colours.red"},
      {{"--out", out, "--clips", NULL}, "--clips"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    int rc = run_synth(cases[k].args, err, sizeof err);
    char *nl = strchr(err, '\n');
    EXPECT(rc == 2, "case %zu (%s ...): exit %d, expected 2", k, cases[k].needle, rc);
    EXPECT(!strncmp(err, "tessera: error: ", 16) && nl && nl[1] == 0, "case %zu: not a one-line error: '%s'", k, err);
    EXPECT(strstr(err, cases[k].needle), "case %zu: message lacks '%s': %s", k, cases[k].needle, err);
  }
  const char *help[] = {"--help", NULL};
  EXPECT(run_synth(help, err, sizeof err) == 0, "--help exits non-zero");
  EXPECT(access(out, F_OK) != 0, "a refused command left %s behind", out);
  unlink(bad_recipe);
  printf("  ok  %zu bad command lines refused with one-line errors, exit 2\n", sizeof cases / sizeof *cases);
}

// ------------------------------------------------------------------ end to end

static void read_floats(hid_t f, const char *name, float *out, int64_t n) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  EXPECT(d >= 0, "corpus lacks %s", name);
  if (d < 0) return;
  hid_t sp = H5Dget_space(d);
  EXPECT(H5Sget_simple_extent_npoints(sp) == n, "%s has %lld values, expected %lld", name,
         (long long)H5Sget_simple_extent_npoints(sp), (long long)n);
  if (H5Sget_simple_extent_npoints(sp) == n) H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
  H5Sclose(sp);
  H5Dclose(d);
}

// A string column of the corpus (corpus.h): NAME/bytes uint8, NAME/offsets uint64 [n+1].
static char **read_strings(hid_t f, const char *name, int n) {
  char path[512];
  snprintf(path, sizeof path, "%s/offsets", name);
  hid_t od = H5Dopen2(f, path, H5P_DEFAULT);
  snprintf(path, sizeof path, "%s/bytes", name);
  hid_t bd = H5Dopen2(f, path, H5P_DEFAULT);
  EXPECT(od >= 0 && bd >= 0, "corpus lacks %s/bytes or %s/offsets", name, name);
  if (od < 0 || bd < 0) return NULL;
  hid_t osp = H5Dget_space(od), bsp = H5Dget_space(bd);
  EXPECT(H5Sget_simple_extent_npoints(osp) == n + 1, "%s: wrong count", name);
  char **s = NULL;
  if (H5Sget_simple_extent_npoints(osp) == n + 1) {
    uint64_t *off = calloc((size_t)n + 1, sizeof *off);
    char *bytes = calloc((size_t)H5Sget_simple_extent_npoints(bsp) + 1, 1);
    H5Dread(od, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, off);
    H5Dread(bd, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes);
    s = calloc((size_t)n, sizeof *s);
    for (int i = 0; i < n; i++) s[i] = strndup(bytes + off[i], off[i + 1] - off[i]);
    free(off);
    free(bytes);
  }
  H5Sclose(osp);
  H5Sclose(bsp);
  H5Dclose(od);
  H5Dclose(bd);
  return s;
}

static void test_end_to_end(const char *dir) {
  const int T = 8, H = 16, W = 24, n = 40, pt = 2, ph = 4, pw = 4;
  char out[512], tmp[600];
  snprintf(out, sizeof out, "%s/shapes.h5", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", out);
  // Recipe plus overriding flags (the recipe's 16x32x32 becomes 8x16x24).
  char *argv[] = {"synth",  "--recipe",  "datasets/shapes.yaml",
                  "--out",  out,         "--clips",
                  "40",     "--frames",  "8",
                  "--size", "16x24",     "--seed",
                  "5",      "--objects", "1-3",
                  "--caption-variety", "0.5", NULL};
  fflush(stdout);
  int rc = data_cmd_synth(17, argv);
  EXPECT(rc == 0, "data synth returned %d", rc);
  EXPECT(access(tmp, F_OK) != 0, "%s left behind", tmp);
  hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT(f >= 0, "cannot open %s", out);
  if (f < 0) return;
  const int N = (T / pt) * (H / ph) * (W / pw), P = pt * ph * pw * 3;
  uint8_t *patches = malloc((size_t)n * N * P), *pix = malloc((size_t)T * H * W * 3);
  hid_t d = H5Dopen2(f, "/buckets/8x16x24/patches", H5P_DEFAULT);
  EXPECT(d >= 0, "no bucket 8x16x24/patches");
  if (d >= 0) {
    hid_t sp = H5Dget_space(d);
    hsize_t dims[3] = {0};
    EXPECT(H5Sget_simple_extent_ndims(sp) == 3, "patches rank");
    H5Sget_simple_extent_dims(sp, dims, NULL);
    EXPECT(dims[0] == (hsize_t)n && dims[1] == (hsize_t)N && dims[2] == (hsize_t)P, "patches dims %llux%llux%llu",
           (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2]);
    if (dims[0] == (hsize_t)n && dims[1] == (hsize_t)N && dims[2] == (hsize_t)P)
      H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, patches);
    H5Sclose(sp);
    H5Dclose(d);
  }
  float *objects = calloc((size_t)n * 24, sizeof(float)), *positions = calloc((size_t)n * T * 6, sizeof(float));
  float *background = calloc((size_t)n, sizeof(float)), *occl = calloc((size_t)n * 3, sizeof(float));
  read_floats(f, "/buckets/8x16x24/meta/objects", objects, (int64_t)n * 24);
  read_floats(f, "/buckets/8x16x24/meta/positions", positions, (int64_t)n * T * 6);
  read_floats(f, "/buckets/8x16x24/meta/background", background, n);
  read_floats(f, "/buckets/8x16x24/meta/occlusion", occl, (int64_t)n * 3);
  char **caps = read_strings(f, "/buckets/8x16x24/caption", n),
       **recs = read_strings(f, "/buckets/8x16x24/recaption", n);
  int bad_pix = 0, bad_meta = 0, bad_text = 0;
  for (int i = 0; i < n; i++) {
    SynthScene s;
    synth_scene(&s, 5, (uint64_t)i, T, H, W);
    synth_render(&s, T, H, W, pix);
    // Token (t,h,w) row-major, patch vector (pt,ph,pw,C) row-major.
    for (int t = 0; t < T; t++)
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          for (int c = 0; c < 3; c++) {
            int tok = ((t / pt) * (H / ph) + y / ph) * (W / pw) + x / pw;
            int e = (((t % pt) * ph + y % ph) * pw + x % pw) * 3 + c;
            bad_pix += patches[((size_t)i * N + tok) * P + e] != pix[(((size_t)t * H + y) * W + x) * 3 + c];
          }
    int behind[3];
    synth_occlusions(&s, T, H, W, behind);
    bad_meta += background[i] != (float)s.background;
    for (int k = 0; k < 3; k++) {
      const float *r = objects + (size_t)i * 24 + k * 8;
      if (k < s.nobjects) {
        const SynthObject *o = &s.obj[k];
        bad_meta += r[0] != 1 || r[1] != o->shape || r[2] != o->colour || r[3] != o->size || r[4] != o->motion ||
                    r[5] != o->depth || r[6] != o->vx || r[7] != o->vy;
        for (int t = 0; t < T; t++) {
          float x, y;
          synth_position(o, t, H, W, &x, &y);
          const float *p = positions + (size_t)i * T * 6 + (t * 3 + k) * 2;
          bad_meta += p[0] != x || p[1] != y;
        }
      } else {
        bad_meta += r[0] != 0 || r[1] != -1;
      }
      bad_meta += occl[i * 3 + k] != (float)behind[k];
    }
    char cap[256], rec[4096];
    synth_caption_varied(&s, 5, (uint64_t)i, 0.5f, cap, sizeof cap);  // --caption-variety 0.5
    synth_recaption(&s, T, H, W, rec, sizeof rec);
    if (caps && recs) bad_text += !caps[i] || !recs[i] || strcmp(caps[i], cap) || strcmp(recs[i], rec);
  }
  EXPECT(!bad_pix, "%d patch values differ from the rendered clips", bad_pix);
  EXPECT(!bad_meta, "%d meta values differ from the ground truth", bad_meta);
  EXPECT(!bad_text, "%d captions differ", bad_text);
  printf("  ok  end to end: %d clips of %dx%dx%d in %s match render, captions and ground truth\n", n, T, H, W, out);
  if (caps) {
    for (int i = 0; i < n; i++) free(caps[i]);
    free(caps);
  }
  if (recs) {
    for (int i = 0; i < n; i++) free(recs[i]);
    free(recs);
  }
  free(patches);
  free(pix);
  free(objects);
  free(positions);
  free(background);
  free(occl);
  H5Fclose(f);
  unlink(out);
}

int main(void) {
  char dir[] = "/tmp/test_synth_XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_palette();
  test_bad_args(dir);  // forks: before any OpenMP region
  test_determinism();
  test_single_object(16, 32, 32, 400);
  test_single_object(8, 16, 16, 200);
  test_single_object(12, 24, 40, 200);
  test_multi_object(16, 32, 32, 300);
  test_captions(16, 32, 32, 600);
  test_captions(8, 16, 24, 200);
  test_occlusion_pixels();
  test_coverage();
  test_end_to_end(dir);
  rmdir(dir);
  return tl_finish("test_synth");
}
