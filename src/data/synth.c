// The shapes world (issue 3, datasets/shapes.md): scene drawing, rendering,
// captions and recaptions from the ground truth.
//
// Coordinates are pixels with pixel (i, j) covering [i, i+1) x [j, j+1); a
// shape covers the pixels whose centre (i+0.5, j+0.5) lies inside it. Every
// random choice of clip `index` is a draw of the counter RNG keyed by
// (seed, RNG_DATA, index (low 32 bits), SYNTH_TOKEN + attempt, k) with k counting the
// draws of that attempt, so a clip is regenerated alone, in any thread order.
#include "data/synth.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/rng.h"

const char *const SYNTH_SHAPES[3] = {"circle", "square", "triangle"};
const char *const SYNTH_COLOURS[8] = {"red", "green", "blue", "yellow", "cyan", "magenta", "white", "orange"};
const uint8_t SYNTH_COLOUR_RGB[8][3] = {{230, 40, 40},  {40, 200, 60},  {50, 90, 230},   {240, 220, 40},
                                        {40, 210, 220}, {220, 50, 200}, {245, 245, 245}, {245, 140, 30}};
const char *const SYNTH_SIZES[2] = {"small", "large"};
const char *const SYNTH_MOTIONS[6] = {"moves left", "moves right", "moves up",
                                      "moves down", "stays still", "bounces off the walls"};
const char *const SYNTH_BACKGROUNDS[3] = {"black", "gray", "navy"};
const uint8_t SYNTH_BACKGROUND_RGB[3][3] = {{0, 0, 0}, {96, 96, 96}, {20, 24, 70}};

enum { SHAPE_CIRCLE, SHAPE_SQUARE, SHAPE_TRIANGLE };
enum { M_LEFT, M_RIGHT, M_UP, M_DOWN, M_STILL, M_BOUNCE };

// Size: radius r as a fraction of min(H, W). A circle has radius r, a square
// half-side SQUARE_HALF*r (the circle's area), an upward triangle is
// equilateral with circumradius TRIANGLE_R*r, centred on its centroid.
static const float SIZE_RADIUS[2] = {0.12f, 0.22f};
#define SQUARE_HALF 0.8862269f
#define TRIANGLE_R 1.2f
#define TAN30 0.57735027f
#define COS30 0.8660254f
// Linear motions travel this fraction of the frame along their axis over the clip;
// bounces this fraction per axis. Fast = travel over the clip >= FAST_TRAVEL of the frame.
#define LINEAR_TRAVEL_LO 0.3f
#define LINEAR_TRAVEL_HI 0.7f
#define BOUNCE_TRAVEL_LO 0.2f
#define BOUNCE_TRAVEL_HI 0.5f
#define FAST_TRAVEL 0.5f
// Share of multi-object clips built with an object passing behind another.
#define P_OCCLUSION 0.35f
#define MAX_ATTEMPTS 8
#define SYNTH_TOKEN 0x53594E00u  // "SYN\0" + attempt; SYNTH_TOKEN + 0xFF: attempt-independent draws

// ------------------------------------------------------------------ geometry

static float radius(const SynthObject *o, int H, int W) { return SIZE_RADIUS[o->size] * (float)(H < W ? H : W); }

// Half extents of the shape's bounding box around its centre (the triangle's
// is asymmetric vertically, R above and R/2 below; R is used both ways).
static void extent(const SynthObject *o, int H, int W, float *ex, float *ey) {
  float r = radius(o, H, W);
  switch (o->shape) {
    case SHAPE_SQUARE: *ex = *ey = SQUARE_HALF * r; break;
    case SHAPE_TRIANGLE:
      *ex = TRIANGLE_R * r * COS30;
      *ey = TRIANGLE_R * r;
      break;
    default: *ex = *ey = r; break;
  }
}

static inline int inside(int shape, float r, float cx, float cy, float px, float py) {
  float dx = px - cx, dy = py - cy;
  switch (shape) {
    case SHAPE_SQUARE: {
      float h = SQUARE_HALF * r;
      return fabsf(dx) <= h && fabsf(dy) <= h;
    }
    case SHAPE_TRIANGLE: {
      float R = TRIANGLE_R * r, t = dy + R;  // distance below the apex
      return t >= 0.0f && t <= 1.5f * R && fabsf(dx) <= t * TAN30;
    }
    default: return dx * dx + dy * dy <= r * r;
  }
}

// Pixel box (inclusive) that can hold the shape at (cx, cy), clipped to the
// frame; empty when x1 < x0 or y1 < y0.
typedef struct {
  int x0, x1, y0, y1;
} Box;
static Box pixel_box(const SynthObject *o, float cx, float cy, int H, int W) {
  float ex, ey;
  extent(o, H, W, &ex, &ey);
  Box b = {(int)floorf(cx - ex - 1.0f), (int)ceilf(cx + ex + 1.0f), (int)floorf(cy - ey - 1.0f),
           (int)ceilf(cy + ey + 1.0f)};
  if (b.x0 < 0) b.x0 = 0;
  if (b.y0 < 0) b.y0 = 0;
  if (b.x1 > W - 1) b.x1 = W - 1;
  if (b.y1 > H - 1) b.y1 = H - 1;
  return b;
}

// Reflect p0 + v*f into [lo, hi] (a triangle wave); the midpoint if the range is empty.
static float fold(float p0, float v, int f, float lo, float hi) {
  float L = hi - lo;
  if (L <= 0.0f) return 0.5f * (lo + hi);
  double u = (double)p0 - lo + (double)v * f, m = fmod(u, 2.0 * L);
  if (m < 0) m += 2.0 * L;
  if (m > L) m = 2.0 * L - m;
  return lo + (float)m;
}

void synth_position(const SynthObject *o, int f, int H, int W, float *x, float *y) {
  if (o->motion == M_BOUNCE) {
    float ex, ey;
    extent(o, H, W, &ex, &ey);
    *x = fold(o->x0, o->vx, f, ex, (float)W - ex);
    *y = fold(o->y0, o->vy, f, ey, (float)H - ey);
  } else {
    *x = o->x0 + o->vx * (float)f;
    *y = o->y0 + o->vy * (float)f;
  }
}

// Walls a bouncing object hits during frames [0, T-1]: bits 1 left, 2 right, 4 top, 8 bottom.
static int walls_axis(float p0, float v, int T, float lo, float hi, int bit_lo, int bit_hi) {
  float L = hi - lo;
  if (L <= 0.0f || v == 0.0f || T < 2) return 0;
  double u0 = (double)p0 - lo, u1 = u0 + (double)v * (T - 1);
  // Reflections happen where the unfolded coordinate crosses m*L: odd m at hi, even m at lo.
  long m0, m1;
  if (v > 0) {
    m0 = (long)floor(u0 / L) + 1;
    m1 = (long)floor(u1 / L);
  } else {
    m0 = (long)ceil(u1 / L);
    m1 = (long)ceil(u0 / L) - 1;
  }
  int bits = 0;
  for (long m = m0; m <= m1 && m - m0 < 4; m++) bits |= (m & 1) ? bit_hi : bit_lo;
  return bits;
}

static int walls_hit(const SynthObject *o, int T, int H, int W) {
  if (o->motion != M_BOUNCE) return 0;
  float ex, ey;
  extent(o, H, W, &ex, &ey);
  return walls_axis(o->x0, o->vx, T, ex, (float)W - ex, 1, 2) | walls_axis(o->y0, o->vy, T, ey, (float)H - ey, 4, 8);
}

// Fast: the distance covered over the clip, in frame sizes, is at least FAST_TRAVEL.
static int is_fast(const SynthObject *o, int T, int H, int W) {
  float steps = T > 1 ? (float)(T - 1) : 1.0f;
  float ux = o->vx * steps / (float)W, uy = o->vy * steps / (float)H;
  return sqrtf(ux * ux + uy * uy) >= FAST_TRAVEL;
}

// ------------------------------------------------------------------ rendering

static void draw_object(const SynthObject *o, int f, int H, int W, uint8_t *frame) {
  float cx, cy, r = radius(o, H, W);
  synth_position(o, f, H, W, &cx, &cy);
  Box b = pixel_box(o, cx, cy, H, W);
  const uint8_t *c = SYNTH_COLOUR_RGB[o->colour];
  for (int j = b.y0; j <= b.y1; j++)
    for (int i = b.x0; i <= b.x1; i++)
      if (inside(o->shape, r, cx, cy, (float)i + 0.5f, (float)j + 0.5f)) {
        uint8_t *p = frame + ((size_t)j * W + i) * 3;
        p[0] = c[0];
        p[1] = c[1];
        p[2] = c[2];
      }
}

void synth_render(const SynthScene *s, int T, int H, int W, uint8_t *pixels) {
  int order[SYNTH_MAX_OBJECTS], n = s->nobjects;
  for (int i = 0; i < n; i++) order[i] = i;
  for (int i = 1; i < n; i++)  // back to front: ascending depth, ties by index
    for (int k = i; k > 0 && s->obj[order[k - 1]].depth > s->obj[order[k]].depth; k--) {
      int t = order[k];
      order[k] = order[k - 1];
      order[k - 1] = t;
    }
  const uint8_t *bg = SYNTH_BACKGROUND_RGB[s->background];
  size_t frame_px = (size_t)H * W;
  for (int f = 0; f < T; f++) {
    uint8_t *frame = pixels + (size_t)f * frame_px * 3;
    for (size_t p = 0; p < frame_px; p++) {
      frame[3 * p] = bg[0];
      frame[3 * p + 1] = bg[1];
      frame[3 * p + 2] = bg[2];
    }
    for (int i = 0; i < n; i++) draw_object(&s->obj[order[i]], f, H, W, frame);
  }
}

// ------------------------------------------------------------------ occlusion

// Object a (farther) and b (nearer) per frame: a is hidden when the pixels
// both shapes cover are at least a quarter of the smaller shape's in-frame
// area; an occlusion event is a hidden frame followed by a frame without any
// common pixel.
typedef struct {
  int event, hidden_first, hidden_last, ever_hidden;
} PairInfo;

static int area(const SynthObject *o, float r, float cx, float cy, Box b) {
  int n = 0;
  for (int j = b.y0; j <= b.y1; j++)
    for (int i = b.x0; i <= b.x1; i++) n += inside(o->shape, r, cx, cy, (float)i + 0.5f, (float)j + 0.5f);
  return n;
}

static PairInfo pair_info(const SynthObject *a, const SynthObject *b, int T, int H, int W) {
  PairInfo pi = {0, 0, 0, 0};
  float ra = radius(a, H, W), rb = radius(b, H, W);
  for (int f = 0; f < T; f++) {
    float ax, ay, bx, by;
    synth_position(a, f, H, W, &ax, &ay);
    synth_position(b, f, H, W, &bx, &by);
    Box ba = pixel_box(a, ax, ay, H, W), bb = pixel_box(b, bx, by, H, W);
    Box c = {ba.x0 > bb.x0 ? ba.x0 : bb.x0, ba.x1 < bb.x1 ? ba.x1 : bb.x1, ba.y0 > bb.y0 ? ba.y0 : bb.y0,
             ba.y1 < bb.y1 ? ba.y1 : bb.y1};
    int ov = 0;
    for (int j = c.y0; j <= c.y1; j++)
      for (int i = c.x0; i <= c.x1; i++) {
        float px = (float)i + 0.5f, py = (float)j + 0.5f;
        ov += inside(a->shape, ra, ax, ay, px, py) && inside(b->shape, rb, bx, by, px, py);
      }
    int hidden = 0;
    if (ov > 0) {
      int na = area(a, ra, ax, ay, ba), nb = area(b, rb, bx, by, bb);
      hidden = 4 * ov >= (na < nb ? na : nb);
    }
    if (ov == 0 && pi.ever_hidden) pi.event = 1;
    if (hidden) pi.ever_hidden = 1;
    if (f == 0) pi.hidden_first = hidden;
    if (f == T - 1) pi.hidden_last = hidden;
  }
  return pi;
}

int synth_occlusions(const SynthScene *s, int T, int H, int W, int behind[SYNTH_MAX_OBJECTS]) {
  int count = 0;
  for (int a = 0; a < SYNTH_MAX_OBJECTS; a++) behind[a] = -1;
  for (int a = 0; a < s->nobjects; a++)
    for (int b = 0; b < s->nobjects && behind[a] < 0; b++)
      if (b != a && s->obj[b].depth > s->obj[a].depth && pair_info(&s->obj[a], &s->obj[b], T, H, W).event) {
        behind[a] = b;
        count++;
      }
  return count;
}

// ------------------------------------------------------------------ scenes

typedef struct {
  uint64_t seed;
  uint32_t sample, token, k;
} Draw;

static float draw(Draw *d) { return rng_uniform(d->seed, RNG_DATA, d->sample, d->token, d->k++); }
static int pick(Draw *d, int n) {
  int i = (int)(draw(d) * (float)n);
  return i < n ? i : n - 1;
}
// Uniform in [lo, hi]; the midpoint when the range is empty (a draw is spent either way).
static float uniform(Draw *d, float lo, float hi) {
  float u = draw(d);
  return hi >= lo ? lo + (hi - lo) * u : 0.5f * (lo + hi);
}
static float clampf(float v, float lo, float hi) { return hi < lo ? 0.5f * (lo + hi) : v < lo ? lo : v > hi ? hi : v; }

// Start position and velocity for o's motion. A linear mover travels
// LINEAR_TRAVEL_* of the frame along its axis (at least min_travel pixels,
// capped at 85% of the frame) and stays fully in view when the frame leaves
// room; otherwise its path is centred, so the centre never leaves the frame.
static void place(Draw *d, SynthObject *o, int T, int H, int W, float min_travel) {
  float ex, ey, steps = T > 1 ? (float)(T - 1) : 1.0f;
  extent(o, H, W, &ex, &ey);
  o->vx = o->vy = 0.0f;
  if (o->motion <= M_DOWN) {
    int horiz = o->motion == M_LEFT || o->motion == M_RIGHT;
    int sgn = o->motion == M_RIGHT || o->motion == M_DOWN ? 1 : -1;
    float dim = (float)(horiz ? W : H), e = horiz ? ex : ey;
    float D = uniform(d, LINEAR_TRAVEL_LO, LINEAR_TRAVEL_HI) * dim;
    if (D < min_travel) D = fminf(min_travel, 0.85f * dim);
    float p0;
    if (D <= dim - 2.0f * e)
      p0 = uniform(d, e + (sgn < 0 ? D : 0.0f), dim - e - (sgn > 0 ? D : 0.0f));
    else {
      p0 = 0.5f * dim - (float)sgn * 0.5f * D;
      draw(d);
    }
    float q = horiz ? uniform(d, ey, (float)H - ey) : uniform(d, ex, (float)W - ex);
    float v = (float)sgn * D / steps;
    if (horiz) {
      o->x0 = p0;
      o->y0 = q;
      o->vx = v;
    } else {
      o->x0 = q;
      o->y0 = p0;
      o->vy = v;
    }
  } else if (o->motion == M_STILL) {
    o->x0 = uniform(d, ex, (float)W - ex);
    o->y0 = uniform(d, ey, (float)H - ey);
  } else {  // bounce: diagonal; starts close enough to the wall it heads for to hit it
    float tx = uniform(d, BOUNCE_TRAVEL_LO, BOUNCE_TRAVEL_HI) * (float)W;
    float ty = uniform(d, BOUNCE_TRAVEL_LO, BOUNCE_TRAVEL_HI) * (float)H;
    int sx = draw(d) < 0.5f ? -1 : 1, sy = draw(d) < 0.5f ? -1 : 1;
    float dist = uniform(d, 0.05f, 0.8f) * tx;
    o->x0 = clampf(sx > 0 ? (float)W - ex - dist : ex + dist, ex, (float)W - ex);
    o->y0 = uniform(d, ey, (float)H - ey);
    o->vx = (float)sx * tx / steps;
    o->vy = (float)sy * ty / steps;
  }
}

// One attempt at the scene; `occlude` builds object `a` moving linearly
// behind still object `b` placed on its path.
static void scene_attempt(SynthScene *s, uint64_t seed, uint32_t sample, uint32_t attempt, int T, int H, int W, int n,
                          int occlude) {
  Draw d = {seed, sample, SYNTH_TOKEN + attempt, 0};
  memset(s, 0, sizeof *s);
  s->nobjects = n;
  s->background = pick(&d, 3);
  int colours[8], depth[SYNTH_MAX_OBJECTS];
  for (int i = 0; i < 8; i++) colours[i] = i;
  for (int i = 0; i < n; i++) {  // distinct colours and depths: partial Fisher-Yates
    int j = i + pick(&d, 8 - i), t = colours[i];
    colours[i] = colours[j];
    colours[j] = t;
    depth[i] = i;
  }
  for (int i = n - 1; i > 0; i--) {
    int j = pick(&d, i + 1), t = depth[i];
    depth[i] = depth[j];
    depth[j] = t;
  }
  for (int i = 0; i < n; i++) {
    SynthObject *o = &s->obj[i];
    o->colour = colours[i];
    o->depth = depth[i];
    o->shape = pick(&d, 3);
    o->size = pick(&d, 2);
    o->motion = pick(&d, 6);
  }
  if (T == 1)  // an image (a one-frame clip) shows no motion: every object stays still (draws unchanged)
    for (int i = 0; i < n; i++) s->obj[i].motion = M_STILL;
  int a = -1, b = -1;
  if (occlude) {
    a = pick(&d, n);
    b = (a + 1 + pick(&d, n - 1)) % n;
    s->obj[a].motion = pick(&d, 4);
    s->obj[b].motion = M_STILL;
    if (s->obj[b].depth < s->obj[a].depth) {
      int t = s->obj[b].depth;
      s->obj[b].depth = s->obj[a].depth;
      s->obj[a].depth = t;
    }
  }
  for (int i = 0; i < n; i++) {
    float min_travel = 0.0f;
    if (i == a) {  // long enough to clear b before and after passing it
      float exa, eya, exb, eyb;
      extent(&s->obj[a], H, W, &exa, &eya);
      extent(&s->obj[b], H, W, &exb, &eyb);
      int horiz = s->obj[a].motion <= M_RIGHT;
      min_travel = 2.0f * (horiz ? exa + exb : eya + eyb) + 2.0f;
    }
    place(&d, &s->obj[i], T, H, W, min_travel);
  }
  if (occlude) {  // b on a's path: halfway if a clears it at both ends, else where a clears it at the end
    SynthObject *oa = &s->obj[a], *ob = &s->obj[b];
    float exa, eya, exb, eyb, steps = T > 1 ? (float)(T - 1) : 1.0f;
    extent(oa, H, W, &exa, &eya);
    extent(ob, H, W, &exb, &eyb);
    int horiz = oa->motion <= M_RIGHT;
    float v = horiz ? oa->vx : oa->vy, D = fabsf(v) * steps, sum = horiz ? exa + exb : eya + eyb;
    float k = D >= 2.0f * sum + 2.0f ? 0.5f * D : fmaxf(D - sum - 1.0f, 0.0f);
    float along = (horiz ? oa->x0 : oa->y0) + (v > 0 ? k : -k);
    float jitter = (draw(&d) - 0.5f) * 0.5f * radius(ob, H, W);
    if (horiz) {
      ob->x0 = clampf(along, exb, (float)W - exb);
      ob->y0 = clampf(oa->y0 + jitter, eyb, (float)H - eyb);
    } else {
      ob->x0 = clampf(oa->x0 + jitter, exb, (float)W - exb);
      ob->y0 = clampf(along, eyb, (float)H - eyb);
    }
  }
}

void synth_scene_range(SynthScene *s, uint64_t seed, uint64_t index, int T, int H, int W, int min_objects,
                       int max_objects) {
  if (min_objects < 1) min_objects = 1;
  if (max_objects > SYNTH_MAX_OBJECTS) max_objects = SYNTH_MAX_OBJECTS;
  if (max_objects < min_objects) max_objects = min_objects;
  uint32_t sample = (uint32_t)index;
  Draw d = {seed, sample, SYNTH_TOKEN + 0xFFu, 0};
  int n = min_objects + pick(&d, max_objects - min_objects + 1);
  int occlude = n >= 2 && T >= 3 && draw(&d) < P_OCCLUSION;
  for (uint32_t attempt = 0; attempt < (occlude ? MAX_ATTEMPTS : 1); attempt++) {
    scene_attempt(s, seed, sample, attempt, T, H, W, n, occlude);
    int behind[SYNTH_MAX_OBJECTS];
    if (!occlude || synth_occlusions(s, T, H, W, behind) > 0) return;
  }
}

void synth_scene(SynthScene *s, uint64_t seed, uint64_t index, int T, int H, int W) {
  synth_scene_range(s, seed, index, T, H, W, 1, SYNTH_MAX_OBJECTS);
}

// ------------------------------------------------------------------ text

typedef struct {
  char *buf;
  int len, cap;
} Text;

__attribute__((format(printf, 2, 3))) static void put(Text *t, const char *fmt, ...) {
  if (t->len >= t->cap - 1) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(t->buf + t->len, (size_t)(t->cap - t->len), fmt, ap);
  va_end(ap);
  if (n > 0) t->len = t->len + n < t->cap - 1 ? t->len + n : t->cap - 1;
}

void synth_caption(const SynthScene *s, char *out, int outlen) {
  if (outlen <= 0) return;
  Text t = {out, 0, outlen};
  out[0] = 0;
  for (int i = 0; i < s->nobjects; i++) {
    const SynthObject *o = &s->obj[i];
    const char *sep = i == 0 ? "" : i == s->nobjects - 1 ? " and " : ", ";
    const char *colour = SYNTH_COLOURS[o->colour];
    put(&t, "%s%s %s %s %s", sep, strchr("aeiou", colour[0]) ? "an" : "a", colour, SYNTH_SHAPES[o->shape],
        SYNTH_MOTIONS[o->motion]);
  }
}

// Where a centre lies in a 3x3 grid of the frame, with its preposition.
static const char *region(float x, float y, int H, int W) {
  static const char *const names[3][3] = {{"in the upper left", "at the top", "in the upper right"},
                                          {"on the left", "in the center", "on the right"},
                                          {"in the lower left", "at the bottom", "in the lower right"}};
  int col = x < (float)W / 3.0f ? 0 : x < 2.0f * (float)W / 3.0f ? 1 : 2;
  int row = y < (float)H / 3.0f ? 0 : y < 2.0f * (float)H / 3.0f ? 1 : 2;
  return names[row][col];
}

static void put_walls(Text *t, int bits) {
  static const char *const names[4] = {"left", "right", "top", "bottom"};
  int k = 0, n = 0;
  for (int i = 0; i < 4; i++) n += (bits >> i) & 1;
  if (n == 4) {
    put(t, "off all four walls");
    return;
  }
  put(t, "off the ");
  for (int i = 0; i < 4; i++)
    if ((bits >> i) & 1) {
      put(t, "%s%s", k == 0 ? "" : k == n - 1 ? " and " : ", ", names[i]);
      k++;
    }
  put(t, n == 1 ? " wall" : " walls");
}

void synth_recaption(const SynthScene *s, int T, int H, int W, char *out, int outlen) {
  if (outlen <= 0) return;
  Text t = {out, 0, outlen};
  out[0] = 0;
  for (int i = 0; i < s->nobjects; i++) {
    const SynthObject *o = &s->obj[i];
    const char *colour = SYNTH_COLOURS[o->colour], *shape = SYNTH_SHAPES[o->shape];
    float x0, y0, x1, y1;
    synth_position(o, 0, H, W, &x0, &y0);
    synth_position(o, T - 1, H, W, &x1, &y1);
    const char *start = region(x0, y0, H, W), *end = region(x1, y1, H, W);
    const char *speed = is_fast(o, T, H, W) ? "quickly" : "slowly";
    if (i == 0)
      put(&t, "On a %s background, a %s %s %s", SYNTH_BACKGROUNDS[s->background], SYNTH_SIZES[o->size], colour, shape);
    else
      put(&t, " A %s %s %s", SYNTH_SIZES[o->size], colour, shape);
    if (T < 2)
      put(&t, " is %s.", start);
    else if (o->motion == M_STILL)
      put(&t, " stays still %s.", start);
    else if (o->motion == M_BOUNCE) {
      int walls = walls_hit(o, T, H, W);
      put(&t, " starts %s and ", start);
      if (walls) {
        put(&t, "bounces %s ", speed);
        put_walls(&t, walls);
      } else
        put(&t, "moves %s on a diagonal", speed);
      put(&t, ", ending %s.", end);
    } else {
      static const char *const dir[4] = {"left", "right", "up", "down"};
      put(&t, " starts %s and moves %s %s, ending %s.", start, dir[o->motion], speed, end);
    }
  }
  // What passes in front of what: every (farther a, nearer b) pair that overlaps.
  for (int a = 0; a < s->nobjects; a++)
    for (int b = 0; b < s->nobjects; b++) {
      const SynthObject *oa = &s->obj[a], *ob = &s->obj[b];
      if (b == a || ob->depth <= oa->depth) continue;
      PairInfo pi = pair_info(oa, ob, T, H, W);
      if (!pi.ever_hidden) continue;
      const char *ca = SYNTH_COLOURS[oa->colour], *sa = SYNTH_SHAPES[oa->shape];
      const char *cb = SYNTH_COLOURS[ob->colour], *sb = SYNTH_SHAPES[ob->shape];
      if (pi.event) {
        if (oa->motion != M_STILL) {
          if (pi.hidden_first)
            put(&t, " The %s %s starts behind the %s %s and comes out.", ca, sa, cb, sb);
          else
            put(&t, " The %s %s passes behind the %s %s and comes out again.", ca, sa, cb, sb);
        } else if (pi.hidden_first) {
          put(&t, " The %s %s starts behind the %s %s and comes out as the %s %s moves away.", ca, sa, cb, sb, cb, sb);
        } else {
          put(&t, " The %s %s passes in front of the %s %s, which comes out from behind it again.", cb, sb, ca, sa);
        }
      } else if (pi.hidden_last && !pi.hidden_first) {
        put(&t, " The %s %s ends up in front of the %s %s.", cb, sb, ca, sa);
      } else {
        put(&t, " The %s %s is in front of the %s %s.", cb, sb, ca, sa);
      }
    }
}
