// Scores of a generated shapes-world video against its prompt's ground truth
// (docs/eval.md): colour, shape, motion, permanence, consistency, first frame
// kept (image-to-video) and continuity at the seam (extension). Pure functions
// on uint8 RGB [T,H,W,3]; no model.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "infer/eval.h"


const char *const EVAL_MODES[EVAL_NMODES] = {"t2v", "i2v", "extend", "backward", "loop", "connect", "remix", "image"};

// Fill ratio of each shape in its axis-aligned bounding box (circle pi/4, square
// 1, triangle 1/2) and in its bounding box rotated by 45 degrees (circle pi/4,
// square 1/2, upward equilateral triangle 2 sqrt(3) - 3 = 0.464).
static const float SHAPE_FILL[3] = {0.78539816f, 1.0f, 0.5f};
static const float SHAPE_FILL45[3] = {0.78539816f, 0.5f, 0.46410162f};

int eval_min_pixels(int H, int W) {
  int n = H * W / 128;
  return n > 4 ? n : 4;
}

static float dist3(const uint8_t *a, const uint8_t *b) {
  float d0 = (float)a[0] - b[0], d1 = (float)a[1] - b[1], d2 = (float)a[2] - b[2];
  return sqrtf(d0 * d0 + d1 * d1 + d2 * d2);
}

int eval_palette_colour(const uint8_t rgb[3], float *dist) {
  int best = -1;
  float bd = 1e9f;
  for (int c = 0; c < 8; c++) {
    float d = dist3(rgb, SYNTH_COLOUR_RGB[c]);
    if (d < bd) bd = d, best = c;
  }
  if (dist) *dist = bd;
  return bd <= EVAL_COLOUR_DIST ? best : -1;
}

// Median of a 256-bin histogram with n entries.
static int hist_median(const int *h, long n) {
  long acc = 0;
  for (int v = 0; v < 256; v++) {
    acc += h[v];
    if (2 * acc >= n && acc > 0) return v;
  }
  return 0;
}

int eval_background(const uint8_t *frame, int H, int W) {
  int hist[3][256] = {{0}};
  long n = 0;
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      if (y != 0 && y != H - 1 && x != 0 && x != W - 1) continue;
      const uint8_t *p = frame + ((size_t)y * W + x) * 3;
      for (int c = 0; c < 3; c++) hist[c][p[c]]++;
      n++;
    }
  uint8_t med[3];
  for (int c = 0; c < 3; c++) med[c] = (uint8_t)hist_median(hist[c], n);
  int best = 0;
  for (int b = 1; b < 3; b++)
    if (dist3(med, SYNTH_BACKGROUND_RGB[b]) < dist3(med, SYNTH_BACKGROUND_RGB[best])) best = b;
  return best;
}

// ------------------------------------------------------------------ blobs

typedef struct {
  int size, x0, x1, y0, y1;
  int u0, u1, v0, v1;  // bounds of u = x + y and v = x - y (the box rotated by 45 degrees)
  double sx, sy;       // sums of pixel centres
} Blob;

// Largest 4-connected component of set[H*W] (nonzero = in). label and stack
// are scratch of H*W ints. Returns its size (0: empty set).
static int largest_blob(const uint8_t *set, int H, int W, int *label, int *stack, Blob *best) {
  memset(best, 0, sizeof *best);
  const int n = H * W;
  for (int i = 0; i < n; i++) label[i] = 0;
  for (int s = 0; s < n; s++) {
    if (!set[s] || label[s]) continue;
    Blob b = {0, W, -1, H, -1, W + H, -1, W, -H, 0, 0};
    int top = 0;
    stack[top++] = s;
    label[s] = 1;
    while (top) {
      int p = stack[--top], y = p / W, x = p % W;
      b.size++;
      b.sx += x + 0.5;
      b.sy += y + 0.5;
      if (x < b.x0) b.x0 = x;
      if (x > b.x1) b.x1 = x;
      if (y < b.y0) b.y0 = y;
      if (y > b.y1) b.y1 = y;
      if (x + y < b.u0) b.u0 = x + y;
      if (x + y > b.u1) b.u1 = x + y;
      if (x - y < b.v0) b.v0 = x - y;
      if (x - y > b.v1) b.v1 = x - y;
      const int nb[4] = {x > 0 ? p - 1 : -1, x < W - 1 ? p + 1 : -1, y > 0 ? p - W : -1, y < H - 1 ? p + W : -1};
      for (int k = 0; k < 4; k++)
        if (nb[k] >= 0 && set[nb[k]] && !label[nb[k]]) {
          label[nb[k]] = 1;
          stack[top++] = nb[k];
        }
    }
    if (b.size > best->size) *best = b;
  }
  return best->size;
}

// Integer points (x, y) with x + y in [u0, u1] and x - y in [v0, v1]: the
// pixels of the 45-degree bounding box (u and v of a pixel have equal parity).
static long lattice_points(int u0, int u1, int v0, int v1) {
  long nu = u1 - u0 + 1, nv = v1 - v0 + 1;
  long eu = (u1 >> 1) - ((u0 - 1) >> 1), ev = (v1 >> 1) - ((v0 - 1) >> 1);  // even values (floor division)
  long n = eu * ev + (nu - eu) * (nv - ev);
  return n > 0 ? n : 1;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static float median_f(float *v, int n) {
  if (n <= 0) return 0.0f;
  qsort(v, (size_t)n, sizeof *v, cmp_float);
  return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

// Pixels of palette colour c: within EVAL_COLOUR_DIST of it and nearest to it.
static int colour_set(const uint8_t *frame, int H, int W, int c, uint8_t *set) {
  int n = 0;
  for (int i = 0; i < H * W; i++) {
    int k = eval_palette_colour(frame + (size_t)i * 3, NULL);
    set[i] = k == c;
    n += set[i];
  }
  return n;
}

// Pixels nearer palette colour c than the background and than every other
// palette colour: the object's extent up to the half-way contour of its edge
// (the shape a blur leaves in place).
static void half_set(const uint8_t *frame, int H, int W, int c, const uint8_t *bg, uint8_t *set) {
  for (int i = 0; i < H * W; i++) {
    const uint8_t *p = frame + (size_t)i * 3;
    float d = dist3(p, SYNTH_COLOUR_RGB[c]);
    int in = d < dist3(p, bg);
    for (int k = 0; k < 8 && in; k++)
      if (k != c && dist3(p, SYNTH_COLOUR_RGB[k]) < d) in = 0;
    set[i] = (uint8_t)in;
  }
}

// ------------------------------------------------------------------ motion

// Direction changes of v[0..n) with hysteresis h: a change counts when the
// track has gone more than h one way and then more than h back.
static int reversals(const float *v, int n, float h) {
  if (n < 3) return 0;
  int dir = 0, rev = 0;
  float lo = v[0], hi = v[0], ext = v[0];
  for (int i = 1; i < n; i++) {
    float x = v[i];
    if (dir == 0) {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
      if (x - lo > h)
        dir = 1, ext = x;
      else if (hi - x > h)
        dir = -1, ext = x;
    } else if (dir > 0) {
      if (x > ext)
        ext = x;
      else if (ext - x > h)
        rev++, dir = -1, ext = x;
    } else {
      if (x < ext)
        ext = x;
      else if (x - ext > h)
        rev++, dir = 1, ext = x;
    }
  }
  return rev;
}

// Least-squares slope of v against f.
static float slope(const float *v, const int *f, int n) {
  double mf = 0, mv = 0, sff = 0, sfv = 0;
  for (int i = 0; i < n; i++) mf += f[i], mv += v[i];
  mf /= n, mv /= n;
  for (int i = 0; i < n; i++) sff += (f[i] - mf) * (f[i] - mf), sfv += (f[i] - mf) * (v[i] - mv);
  return sff > 0 ? (float)(sfv / sff) : 0.0f;
}

int eval_classify_track(const float *cx, const float *cy, const int *f, int n, int T, int H, int W, EvalAnalysis *a) {
  a->dx = a->dy = a->range_x = a->range_y = 0.0f;
  a->reversals = 0;
  int need = T / 4 > 2 ? T / 4 : 2;
  if (n < need) return -1;
  // Net displacement: fitted line over the clip, in frame sizes.
  a->dx = slope(cx, f, n) * (float)(T - 1) / (float)W;
  a->dy = slope(cy, f, n) * (float)(T - 1) / (float)H;
  // Smoothed track (3-point moving average from 5 points on) in frame sizes:
  // extent and direction changes.
  float *sx = malloc(sizeof(float) * (size_t)n * 2), *sy = sx + n;
  const int r = n >= 5 ? 1 : 0;
  for (int i = 0; i < n; i++) {
    int lo = i - r > 0 ? i - r : 0, hi = i + r < n - 1 ? i + r : n - 1;
    float ax = 0, ay = 0;
    for (int k = lo; k <= hi; k++) ax += cx[k], ay += cy[k];
    sx[i] = ax / (float)(hi - lo + 1) / (float)W;
    sy[i] = ay / (float)(hi - lo + 1) / (float)H;
  }
  float x0 = sx[0], x1 = sx[0], y0 = sy[0], y1 = sy[0];
  for (int i = 1; i < n; i++) {
    x0 = fminf(x0, sx[i]), x1 = fmaxf(x1, sx[i]);
    y0 = fminf(y0, sy[i]), y1 = fmaxf(y1, sy[i]);
  }
  a->range_x = x1 - x0;
  a->range_y = y1 - y0;
  a->reversals = reversals(sx, n, EVAL_REVERSAL_FRAC) + reversals(sy, n, EVAL_REVERSAL_FRAC);
  free(sx);
  float rmax = fmaxf(a->range_x, a->range_y), rmin = fminf(a->range_x, a->range_y);
  if (rmax < EVAL_STILL_FRAC) return M_STILL;
  if (a->reversals > 0) return M_BOUNCE;
  if (rmin >= EVAL_DIAG_MIN && rmin >= EVAL_DIAG_RATIO * rmax) return M_BOUNCE;
  float ax = fabsf(a->dx), ay = fabsf(a->dy);
  if (fmaxf(ax, ay) < EVAL_STILL_FRAC) return M_STILL;
  if (ax >= ay) return a->dx < 0 ? M_LEFT : M_RIGHT;
  return a->dy < 0 ? M_UP : M_DOWN;
}

// ------------------------------------------------------------------ analysis

// Pixel i and its four neighbours are all in set m (never true on the border).
static int interior(const uint8_t *m, int i, int H, int W) {
  int x = i % W, y = i / W;
  return m[i] && x > 0 && x < W - 1 && y > 0 && y < H - 1 && m[i - 1] && m[i + 1] && m[i - W] && m[i + W];
}

void eval_analyse(const uint8_t *video, int T, int H, int W, int expected_colour, int objects, EvalAnalysis *a) {
  memset(a, 0, sizeof *a);
  a->colour = a->shape = a->motion = -1;
  if (T <= 0 || H <= 0 || W <= 0) return;
  const int n = H * W, minpx = eval_min_pixels(H, W);
  const size_t fpx = (size_t)n * 3;
  a->background = eval_background(video, H, W);
  const uint8_t *bg = SYNTH_BACKGROUND_RGB[a->background];
  uint8_t *mask = malloc((size_t)n * (size_t)T), *cset = malloc((size_t)n * (size_t)T);
  int *label = malloc(sizeof(int) * (size_t)n * 2), *stack = label + n;
  int *clean = calloc((size_t)T, sizeof(int)), *fi = calloc((size_t)T, sizeof(int));
  Blob *mblob = calloc((size_t)T, sizeof(Blob)), *cblob = calloc((size_t)T, sizeof(Blob));
  float *cx = calloc((size_t)T * 3, sizeof(float)), *cy = cx + T, *count = cy + T;
  int hist[3][3][256] = {{{0}}};  // [depth in the mask][channel][value]
  long nhist[3] = {0, 0, 0};
  uint8_t *e1 = malloc((size_t)n);

  // Per frame: object mask (far from the background), the expected colour's pixels.
  for (int f = 0; f < T; f++) {
    const uint8_t *fr = video + (size_t)f * fpx;
    uint8_t *m = mask + (size_t)f * n, *c = cset + (size_t)f * n;
    int nm = 0;
    for (int i = 0; i < n; i++) {
      m[i] = dist3(fr + (size_t)i * 3, bg) > EVAL_MASK_DIST;
      nm += m[i];
    }
    clean[f] = nm <= EVAL_MAX_MASK_FRAC * (float)n;
    if (!clean[f]) continue;
    a->clean_frames++;
    largest_blob(m, H, W, label, stack, &mblob[f]);
    if (mblob[f].size >= minpx) {  // colour histograms of the mask pixels by depth inside the mask (0, 1, >= 2)
      for (int i = 0; i < n; i++) e1[i] = (uint8_t)interior(m, i, H, W);
      for (int i = 0; i < n; i++) {
        if (!m[i]) continue;
        int d = !e1[i] ? 0 : interior(e1, i, H, W) ? 2 : 1;
        for (int ch = 0; ch < 3; ch++) hist[d][ch][fr[(size_t)i * 3 + ch]]++;
        nhist[d]++;
      }
    }
    if (expected_colour >= 0) {
      colour_set(fr, H, W, expected_colour, c);
      largest_blob(c, H, W, label, stack, &cblob[f]);
      if (cblob[f].size >= minpx) a->colour_frames++;
    }
  }
  // A clip with fewer than half its frames clean is noise, not a scene: nothing is found.
  const int scene = 2 * a->clean_frames >= T;
  // Dominant colour: the palette colour nearest the median of the mask pixels,
  // the deepest inside the mask there are (2+ pixels from its edge, else 1+,
  // else all): edges blend with the background in a blurred video.
  int depth = nhist[2] > 0 ? 2 : nhist[1] > 0 ? 1 : 0;
  long ncol = nhist[depth];
  if (scene && ncol > 0) {
    uint8_t med[3];
    for (int ch = 0; ch < 3; ch++) med[ch] = (uint8_t)hist_median(hist[depth][ch], ncol);
    a->colour = eval_palette_colour(med, &a->colour_dist);
  }
  // Track the expected colour where it is present in at least half the clean
  // frames (always for several objects), else the mask.
  a->on_colour =
      expected_colour >= 0 && (objects > 1 || (a->clean_frames > 0 && 2 * a->colour_frames >= a->clean_frames));
  const Blob *blobs = a->on_colour ? cblob : mblob;
  int nt = 0, nall = 0, nin = 0;
  float *fill_all = malloc(sizeof(float) * (size_t)T * 4), *f45_all = fill_all + T, *fill_in = f45_all + T,
        *f45_in = fill_in + T;
  for (int f = 0; f < T; f++) {
    const Blob *b = &blobs[f];
    count[f] = 0.0f;
    if (!clean[f] || !scene) continue;
    if (a->on_colour) {
      const uint8_t *c = cset + (size_t)f * n;
      for (int i = 0; i < n; i++) count[f] += c[i];
    } else {
      count[f] = (float)b->size;
    }
    if (b->size < minpx) continue;
    cx[nt] = (float)(b->sx / b->size);
    cy[nt] = (float)(b->sy / b->size);
    fi[nt++] = f;
    // Shape from the half-way set of the object's colour (the expected one when
    // tracked on it, else the dominant one), else from the tracked blob.
    Blob hb = *b;
    int sc = a->on_colour ? expected_colour : a->colour;
    if (sc >= 0) {
      half_set(video + (size_t)f * fpx, H, W, sc, bg, e1);
      if (largest_blob(e1, H, W, label, stack, &hb) < minpx) hb = *b;
    }
    float r = (float)hb.size / (float)((hb.x1 - hb.x0 + 1) * (hb.y1 - hb.y0 + 1));
    float r45 = (float)hb.size / (float)lattice_points(hb.u0, hb.u1, hb.v0, hb.v1);
    fill_all[nall] = r, f45_all[nall++] = r45;
    if (hb.x0 > 0 && hb.y0 > 0 && hb.x1 < W - 1 && hb.y1 < H - 1) fill_in[nin] = r, f45_in[nin++] = r45;
  }
  a->tracked = nt;
  // Shape: nearest class in (fill, fill45), medians over the frames where the
  // blob is fully inside the frame (else over all frames with a blob).
  if (nall > 0) {
    a->fill = nin > 0 ? median_f(fill_in, nin) : median_f(fill_all, nall);
    a->fill45 = nin > 0 ? median_f(f45_in, nin) : median_f(f45_all, nall);
    int best = -1;
    float bd = 1e9f;
    for (int s = 0; s < 3; s++) {
      float d = hypotf(a->fill - SHAPE_FILL[s], a->fill45 - SHAPE_FILL45[s]);
      if (d < bd) bd = d, best = s;
    }
    a->shape = best;
  }
  a->motion = eval_classify_track(cx, cy, fi, nt, T, H, W, a);
  // Consistency: share of frames whose object pixel count is within +-50% of the median.
  float *tmp = malloc(sizeof(float) * (size_t)T);
  memcpy(tmp, count, sizeof(float) * (size_t)T);
  float med = median_f(tmp, T);
  int ok = 0;
  for (int f = 0; f < T; f++)
    ok += med > 0 && count[f] >= (1.0f - EVAL_CONSIST_BAND) * med && count[f] <= (1.0f + EVAL_CONSIST_BAND) * med;
  a->consistency = (float)ok / (float)T;
  free(tmp);
  free(fill_all);
  free(cx);
  free(mblob);
  free(cblob);
  free(fi);
  free(clean);
  free(label);
  free(cset);
  free(mask);
  free(e1);
}

// ------------------------------------------------------------------ permanence, frames, seam

// A frame with at most EVAL_MAX_MASK_FRAC of its pixels away from the background.
static int frame_clean(const uint8_t *frame, int H, int W, const uint8_t *bg) {
  int nm = 0;
  for (int i = 0; i < H * W; i++) nm += dist3(frame + (size_t)i * 3, bg) > EVAL_MASK_DIST;
  return nm <= EVAL_MAX_MASK_FRAC * (float)(H * W);
}

int eval_permanence(const uint8_t *video, int T, int H, int W, int colour, int *occluded) {
  if (occluded) *occluded = 0;
  if (T <= 0 || colour < 0) return 0;
  const int n = H * W, minpx = eval_min_pixels(H, W);
  const uint8_t *bg = SYNTH_BACKGROUND_RGB[eval_background(video, H, W)];
  uint8_t *set = malloc((size_t)n);
  int *label = malloc(sizeof(int) * (size_t)n * 2), *cnt = malloc(sizeof(int) * (size_t)T);
  for (int f = 0; f < T; f++) {  // the colour's largest blob in each clean frame
    const uint8_t *fr = video + (size_t)f * n * 3;
    Blob b;
    cnt[f] = 0;
    if (!frame_clean(fr, H, W, bg)) continue;
    colour_set(fr, H, W, colour, set);
    cnt[f] = largest_blob(set, H, W, label, label + n, &b);
  }
  free(set);
  free(label);
  int q = T / 4 > 0 ? T / 4 : 1, first = 0, last = 0, start = 0;
  for (int f = 0; f < q; f++) {
    first += cnt[f] >= minpx;
    last += cnt[T - 1 - f] >= minpx;
    start = cnt[f] > start ? cnt[f] : start;
  }
  if (occluded)
    for (int f = q; f < T - q; f++)
      if (4 * cnt[f] < 3 * start) *occluded = 1;
  free(cnt);
  return 2 * first >= q && 2 * last >= q && first > 0 && last > 0;
}

float eval_frame_mad(const uint8_t *a, const uint8_t *b, int H, int W) {
  double s = 0;
  const size_t n = (size_t)H * W * 3;
  for (size_t i = 0; i < n; i++) s += abs((int)a[i] - (int)b[i]);
  return (float)(s / (double)n);
}

int eval_seam(const uint8_t *video, int T, int H, int W, int k, float *seam, float *median) {
  const size_t fpx = (size_t)H * W * 3;
  *seam = *median = 0.0f;
  if (k < 1 || k >= T) return 0;
  *seam = eval_frame_mad(video + (size_t)(k - 1) * fpx, video + (size_t)k * fpx, H, W);
  int m = T - 1 - k, clean = 0;
  if (m > 0) {
    float *d = malloc(sizeof(float) * (size_t)m);
    for (int f = k; f < T - 1; f++)
      d[f - k] = eval_frame_mad(video + (size_t)f * fpx, video + (size_t)(f + 1) * fpx, H, W);
    *median = median_f(d, m);
    free(d);
  }
  // The generated frames must be a scene (mostly clean frames): noise changes so
  // much from frame to frame that any seam would pass.
  const uint8_t *bg = SYNTH_BACKGROUND_RGB[eval_background(video, H, W)];
  for (int f = k; f < T; f++) clean += frame_clean(video + (size_t)f * fpx, H, W, bg);
  return 2 * clean >= T - k && *seam <= EVAL_SEAM_FACTOR * *median + EVAL_SEAM_EPS;
}

// ------------------------------------------------------------------ items

void eval_item_caption(const EvalItem *it, char *out, int outlen) {
  SynthScene s;
  memset(&s, 0, sizeof s);
  s.nobjects = it->objects > 1 && it->colour2 >= 0 && it->shape2 >= 0 && it->motion2 >= 0 ? 2 : 1;
  s.obj[0].colour = it->colour, s.obj[0].shape = it->shape, s.obj[0].motion = it->motion;
  s.obj[1].colour = it->colour2, s.obj[1].shape = it->shape2, s.obj[1].motion = it->motion2;
  synth_caption(&s, out, outlen);
}

void eval_item_scene(const EvalItem *it, int T, int H, int W, SynthScene *s) {
  memset(s, 0, sizeof *s);
  s->background = it->background >= 0 ? it->background : 0;
  s->nobjects = 1;
  SynthObject *o = &s->obj[0];
  o->shape = it->shape, o->colour = it->colour, o->size = it->size >= 0 ? it->size : 0, o->motion = it->motion;
  o->x0 = 0.5f * (float)W, o->y0 = 0.5f * (float)H;
  float steps = T > 1 ? (float)(T - 1) : 1.0f;
  switch (it->motion) {
    case M_LEFT:
      o->vx = -0.35f * (float)W / steps;
      break;
    case M_RIGHT:
      o->vx = 0.35f * (float)W / steps;
      break;
    case M_UP:
      o->vy = -0.35f * (float)H / steps;
      break;
    case M_DOWN:
      o->vy = 0.35f * (float)H / steps;
      break;
    case M_BOUNCE: {  // down-right, hitting the right and bottom walls at frame T/4
      float ex = 0, ey = 0, r = (o->size ? 0.22f : 0.12f) * (float)(H < W ? H : W);
      ex = o->shape == 1 ? 0.8862269f * r : o->shape == 2 ? 1.2f * r * 0.8660254f : r;
      ey = o->shape == 1 ? 0.8862269f * r : o->shape == 2 ? 1.2f * r : r;
      o->vx = 0.5f * (float)W / steps;
      o->vy = 0.5f * (float)H / steps;
      o->x0 = fmaxf(0.5f * (float)W, (float)W - ex - o->vx * (float)(T / 4));
      o->y0 = fmaxf(0.5f * (float)H, (float)H - ey - o->vy * (float)(T / 4));
      break;
    }
    default:
      break;
  }
}

void eval_score_video(const EvalItem *it, const uint8_t *video, int T, int H, int W, const uint8_t *cond, int ncond,
                      EvalScore *s) {
  memset(s, 0, sizeof *s);
  s->permanence = s->first_frame = s->seam = s->kept = s->continuity = -1.0f;  // -1: not scored (null in eval.json)
  const size_t fpx = (size_t)H * W * 3;
  int skip = it->mode == EVAL_EXTEND && ncond > 0 && ncond < T ? ncond : 0;
  const uint8_t *v = video + (size_t)skip * fpx;
  int Tv = T - skip;
  eval_analyse(v, Tv, H, W, it->colour, it->objects, &s->a);
  if (it->objects > 1) {  // several objects: each named colour forms a blob in at least half the clean frames
    int ok = s->a.clean_frames > 0 && 2 * s->a.colour_frames >= s->a.clean_frames;
    if (ok && it->colour2 >= 0) {
      EvalAnalysis b;
      eval_analyse(v, Tv, H, W, it->colour2, it->objects, &b);
      ok = b.clean_frames > 0 && 2 * b.colour_frames >= b.clean_frames;
    }
    s->colour = (float)ok;
    s->permanence = (float)eval_permanence(v, Tv, H, W, it->colour, &s->permanence_occluded);
  } else {
    s->colour = (float)(s->a.colour == it->colour);
  }
  s->shape = (float)(s->a.shape == it->shape);
  s->motion = (float)(s->a.motion == it->motion);
  s->consistency = s->a.consistency;
  if (it->mode == EVAL_IMAGE) s->motion = s->consistency = -1.0f;  // one frame: nothing moves
  if (it->mode == EVAL_I2V && cond) {
    s->first_frame_mae = eval_frame_mad(video, cond, H, W);
    s->first_frame = (float)(s->first_frame_mae < EVAL_FIRST_FRAME_MAE);
  }
  if (it->mode == EVAL_EXTEND && cond && ncond > 0) {
    s->seam = (float)eval_seam(video, T, H, W, ncond, &s->seam_diff, &s->seam_median);
  }
}

void loop_seam(const uint8_t *video, int n, int H, int W, float *seam, float *median) {
  const size_t fpx = (size_t)H * W * 3;
  *seam = eval_frame_mad(video + (size_t)(n - 1) * fpx, video, H, W);
  float *d = malloc(sizeof(float) * (size_t)(n > 1 ? n - 1 : 1));
  for (int f = 0; f + 1 < n; f++) d[f] = eval_frame_mad(video + (size_t)f * fpx, video + (size_t)(f + 1) * fpx, H, W);
  *median = n > 1 ? median_f(d, n - 1) : 0.0f;
  free(d);
}

int eval_object_centre(const uint8_t *frame, int H, int W, int c, float *cx, float *cy) {
  uint8_t *set = malloc((size_t)H * W);
  int *label = malloc(sizeof(int) * (size_t)H * W * 2);
  Blob b;
  colour_set(frame, H, W, c, set);
  const int found = largest_blob(set, H, W, label, label + H * W, &b) >= eval_min_pixels(H, W);
  if (found) *cx = (float)(b.sx / b.size), *cy = (float)(b.sy / b.size);
  free(set);
  free(label);
  return found;
}
