// Measured-attribute recaptioner (see recaption.h; the sentence grammar and
// thresholds are documented in datasets/ingest.md).
//
// Everything is measured on a working copy of the clip box-averaged so its
// longer side is at most 64 pixels (speeds are scaled back to input pixels):
// - colours: every input pixel is named by the nearest of a fixed table of
//   named colours in CIELAB; the most covered names (>= 1% of pixels) win.
// - brightness: mean Rec.601 luma of the input pixels.
// - scene cuts: the mean absolute difference between consecutive frames
//   jumps above max(0.10, 4 x its median + 0.04).
// - camera pan: per frame pair, the integer shift (|s| <= 1/5 of the frame)
//   minimising the mean absolute luma difference, refined to sub-pixel by a
//   parabola; a pan when most pairs shift the same way, the shift explains
//   most of the change, and most of the frame differs from the background.
// - main subject motion: pixels differing from the per-pixel temporal median
//   (the background) are the foreground; the foreground pixels of the first
//   frame that has some are tracked through the segment (the integer shift
//   minimising their mean absolute RGB difference, searched around the
//   position predicted from the last step); the least-squares slope of that
//   displacement over time is the motion (sub-pixel over a long baseline).
#include "data/recaption.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

// ------------------------------------------------------------------ colour names

enum { NCOLOURS = 14 };
static const struct {
  const char *name;
  uint8_t rgb[3];
} NAMED[NCOLOURS] = {
    {"black", {0, 0, 0}},        {"gray", {128, 128, 128}},  {"white", {245, 245, 245}},
    {"red", {230, 40, 40}},      {"orange", {245, 140, 30}}, {"yellow", {240, 220, 40}},
    {"green", {40, 200, 60}},    {"cyan", {40, 210, 220}},   {"blue", {50, 90, 230}},
    {"navy", {20, 24, 70}},      {"purple", {120, 50, 170}}, {"magenta", {220, 50, 200}},
    {"pink", {245, 160, 190}},   {"brown", {130, 80, 40}},
};

static double srgb_to_linear(double c) { return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4); }
static double lab_f(double t) { return t > 216.0 / 24389.0 ? cbrt(t) : (24389.0 / 27.0 * t + 16.0) / 116.0; }

static void rgb_to_lab(double r8, double g8, double b8, double lab[3]) {
  double r = srgb_to_linear(r8 / 255.0), g = srgb_to_linear(g8 / 255.0), b = srgb_to_linear(b8 / 255.0);
  double x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
  double y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
  double z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883;
  double fx = lab_f(x), fy = lab_f(y), fz = lab_f(z);
  lab[0] = 116.0 * fy - 16.0;
  lab[1] = 500.0 * (fx - fy);
  lab[2] = 200.0 * (fy - fz);
}

// Name index of every colour quantised to 5 bits per channel (computed once).
static uint8_t g_colour_lut[32 * 32 * 32];
static pthread_once_t g_colour_once = PTHREAD_ONCE_INIT;

static void build_colour_lut(void) {
  double ref[NCOLOURS][3];
  for (int i = 0; i < NCOLOURS; i++) rgb_to_lab(NAMED[i].rgb[0], NAMED[i].rgb[1], NAMED[i].rgb[2], ref[i]);
  for (int r = 0; r < 32; r++)
    for (int g = 0; g < 32; g++)
      for (int b = 0; b < 32; b++) {
        double lab[3];
        rgb_to_lab(r * 8 + 4 - (r == 0) * 4, g * 8 + 4 - (g == 0) * 4, b * 8 + 4 - (b == 0) * 4, lab);
        int best = 0;
        double bd = 1e30;
        for (int i = 0; i < NCOLOURS; i++) {
          double d0 = lab[0] - ref[i][0], d1 = lab[1] - ref[i][1], d2 = lab[2] - ref[i][2];
          double d = d0 * d0 + d1 * d1 + d2 * d2;
          if (d < bd) bd = d, best = i;
        }
        g_colour_lut[(r << 10) | (g << 5) | b] = (uint8_t)best;
      }
}

static int colour_index(const uint8_t *p) {
  return g_colour_lut[((p[0] >> 3) << 10) | ((p[1] >> 3) << 5) | (p[2] >> 3)];
}

// ------------------------------------------------------------------ helpers

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

// Median of n values (sorts v in place); the mean of the two middle ones for even n.
static float median(float *v, int n) {
  if (n <= 0) return 0.0f;
  if (n <= 64) {
    for (int i = 1; i < n; i++) {
      float x = v[i];
      int j = i;
      for (; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
      v[j] = x;
    }
  } else {
    qsort(v, (size_t)n, sizeof *v, cmp_float);
  }
  return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

// Mean |b(x+sx, y+sy) - a(x, y)| over the overlap: small when the content of
// a moved by (sx, sy) in b.
static float shifted_mad(const float *a, const float *b, int h, int w, int sx, int sy) {
  int x0 = sx < 0 ? -sx : 0, x1 = sx > 0 ? w - sx : w;
  int y0 = sy < 0 ? -sy : 0, y1 = sy > 0 ? h - sy : h;
  if (x1 <= x0 || y1 <= y0) return 1e9f;
  double s = 0;
  for (int y = y0; y < y1; y++) {
    const float *ra = a + (size_t)y * w, *rb = b + (size_t)(y + sy) * w + sx;
    for (int x = x0; x < x1; x++) s += fabsf(rb[x] - ra[x]);
  }
  return (float)(s / ((double)(x1 - x0) * (y1 - y0)));
}

// Mean absolute RGB difference between the listed pixels x of frame a and
// b(x + s): small when those pixels moved by s. Pixels leaving the frame are
// skipped; a shift that keeps fewer than a quarter of them scores 1e9.
static float masked_mad(const float *a, const float *b, int h, int w, const int *idx, int n, int sx, int sy) {
  double s = 0;
  int m = 0;
  for (int k = 0; k < n; k++) {
    int i = idx[k], y = i / w + sy, x = i % w + sx;
    if (x < 0 || x >= w || y < 0 || y >= h) continue;
    const float *p = a + (size_t)i * 3, *q = b + ((size_t)y * w + x) * 3;
    s += fabsf(q[0] - p[0]) + fabsf(q[1] - p[1]) + fabsf(q[2] - p[2]);
    m++;
  }
  return m * 4 >= n && m > 0 ? (float)(s / (3.0 * m)) : 1e9f;
}

// Sub-pixel offset of a minimum from three samples (parabola), in [-0.5, 0.5].
static float parabola(float m, float c, float p) {
  float den = m - 2.0f * c + p;
  if (!(den > 1e-9f)) return 0.0f;
  float o = 0.5f * (m - p) / den;
  return o < -0.5f ? -0.5f : o > 0.5f ? 0.5f : o;
}

enum { WORK_SIDE = 64 };
#define ACTIVE_MAD 0.004f   // a frame pair with less mean luma change is still
#define FG_THRESHOLD 0.15f  // foreground: a channel differs from the background by more
#define PAN_FG_FRACTION 0.3f

void recaption_measure(const uint8_t *pixels, int T, int H, int W, ClipAttributes *a) {
  memset(a, 0, sizeof *a);
  a->frames = T;
  a->height = H;
  a->width = W;
  if (T <= 0 || H <= 0 || W <= 0 || !pixels) return;
  pthread_once(&g_colour_once, build_colour_lut);

  // ---- colours and brightness over every input pixel
  const size_t npix_in = (size_t)T * H * W;
  uint64_t counts[NCOLOURS] = {0};
  double luma = 0;
  for (size_t i = 0; i < npix_in; i++) {
    const uint8_t *p = pixels + 3 * i;
    counts[colour_index(p)]++;
    luma += 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
  }
  a->brightness = (float)(luma / (255.0 * (double)npix_in));
  int order[NCOLOURS];
  for (int i = 0; i < NCOLOURS; i++) order[i] = i;
  for (int i = 1; i < NCOLOURS; i++)  // stable insertion sort by count, descending
    for (int j = i; j > 0 && counts[order[j]] > counts[order[j - 1]]; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  for (int k = 0, n = 0; k < NCOLOURS && n < 3; k++) {
    if (counts[order[k]] == 0) break;
    if (n > 0 && (double)counts[order[k]] < 0.01 * (double)npix_in) break;
    snprintf(a->colours[n++], sizeof a->colours[0], "%s", NAMED[order[k]].name);
  }
  if (T < 2) return;

  // ---- working copy: box-average so the longer side is <= WORK_SIDE
  int f = ((H > W ? H : W) + WORK_SIDE - 1) / WORK_SIDE;
  if (f < 1) f = 1;
  const int h = H / f > 0 ? H / f : 1, w = W / f > 0 ? W / f : 1;
  const int fy = H / f > 0 ? f : H, fx = W / f > 0 ? f : W;
  const int np = h * w;
  float *rgb = malloc(sizeof(float) * (size_t)T * np * 3);
  float *lum = malloc(sizeof(float) * (size_t)T * np);
  float *bg = malloc(sizeof(float) * (size_t)np * 3);
  float *col = malloc(sizeof(float) * (size_t)T);
  float *diff = malloc(sizeof(float) * (size_t)T);
  uint8_t *fg = malloc((size_t)T * np);
  int *fgcount = malloc(sizeof(int) * (size_t)T), *idx = malloc(sizeof(int) * (size_t)np);
  int *cut = calloc((size_t)T, sizeof(int));
  TSR_ASSERT(rgb && lum && bg && col && diff && fg && fgcount && idx && cut, "recaption: out of memory");
  const float inv = 1.0f / (255.0f * (float)(fx * fy));
  for (int t = 0; t < T; t++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        unsigned s[3] = {0, 0, 0};
        for (int yy = 0; yy < fy; yy++) {
          const uint8_t *p = pixels + (((size_t)t * H + (size_t)y * fy + yy) * W + (size_t)x * fx) * 3;
          for (int xx = 0; xx < fx; xx++, p += 3) s[0] += p[0], s[1] += p[1], s[2] += p[2];
        }
        float *o = rgb + ((size_t)t * np + (size_t)y * w + x) * 3;
        for (int c = 0; c < 3; c++) o[c] = (float)s[c] * inv;
        lum[(size_t)t * np + (size_t)y * w + x] = 0.299f * o[0] + 0.587f * o[1] + 0.114f * o[2];
      }

  // ---- scene cuts
  for (int t = 0; t + 1 < T; t++) {
    const float *p0 = rgb + (size_t)t * np * 3, *p1 = p0 + (size_t)np * 3;
    double s = 0;
    for (int i = 0; i < np * 3; i++) s += fabsf(p1[i] - p0[i]);
    diff[t] = (float)(s / (np * 3.0));
    col[t] = diff[t];
  }
  float dmed = 0;
  {
    int n = T - 1;
    qsort(col, (size_t)n, sizeof *col, cmp_float);
    dmed = col[(n - 1) / 2];  // lower median: one cut among two pairs still counts
  }
  for (int t = 0; t + 1 < T; t++)
    if (diff[t] >= 0.10f && diff[t] >= 4.0f * dmed + 0.04f) cut[t] = 1, a->scene_cuts++;

  // ---- per segment (between cuts): background, foreground, subject and global shifts
  const int R = (h < w ? h : w) / 5 < 1 ? 1 : ((h < w ? h : w) / 5 > 12 ? 12 : (h < w ? h : w) / 5);
  int npairs = 0, nactive = 0, nglobal = 0, ntrack = 0;
  double track_kk = 0, track_kx = 0, track_ky = 0;
  double gx = 0, gy = 0, gabs = 0, fg_sum = 0;
  long predicted = 0, predicted_static = 0;
  int nframes = 0;
  for (int s0 = 0; s0 < T;) {
    int s1 = s0 + 1;
    while (s1 < T && !cut[s1 - 1]) s1++;
    const int n = s1 - s0;
    if (n >= 2) {
      double seg_fg = 0;
      for (int i = 0; i < np * 3; i++) {
        for (int t = 0; t < n; t++) col[t] = rgb[((size_t)(s0 + t) * np) * 3 + i];
        bg[i] = median(col, n);
      }
      for (int t = s0; t < s1; t++) {
        const float *p = rgb + (size_t)t * np * 3;
        uint8_t *mk = fg + (size_t)t * np;
        int cnt = 0;
        for (int i = 0; i < np; i++) {
          const float *q = p + (size_t)i * 3, *b = bg + (size_t)i * 3;
          float d = fmaxf(fabsf(q[0] - b[0]), fmaxf(fabsf(q[1] - b[1]), fabsf(q[2] - b[2])));
          mk[i] = d > FG_THRESHOLD;
          cnt += mk[i];
        }
        fg_sum += (double)cnt / np;
        seg_fg += (double)cnt / np;
        nframes++;
        fgcount[t] = cnt;
      }
      // a pan changes most of the frame: segments that change less skip the global search
      const int search_global = seg_fg >= PAN_FG_FRACTION * n;
      // main subject: track the foreground pixels of the segment's first frame that has
      // some (and not most of the frame), searching around the position predicted from
      // the last two; the motion is the least-squares slope of displacement over time
      int r = s0;
      while (r < s1 && !(fgcount[r] >= 2 && fgcount[r] <= 0.6 * np)) r++;
      if (r + 1 < s1) {
        const uint8_t *mk = fg + (size_t)r * np;
        int nf = 0;
        for (int i = 0; i < np; i++)
          if (mk[i]) idx[nf++] = i;
        const float *f0 = rgb + (size_t)r * np * 3;
        int px = 0, py = 0, lx = 0, ly = 0;  // predicted and last displacement
        for (int t = r + 1; t < s1; t++) {
          const float *f1 = rgb + (size_t)t * np * 3;
          int bx = 0, by = 0;
          float best = 1e30f;
          // the first step may be anything up to R; later ones stay near the prediction
          const int rr = t == r + 1 ? R : (R / 3 > 2 ? R / 3 : 2);
          for (int sy = py - rr; sy <= py + rr; sy++)
            for (int sx = px - rr; sx <= px + rr; sx++) {
              // ties (a flat object's pixels match several shifts) go to the smallest step
              float m = masked_mad(f0, f1, h, w, idx, nf, sx, sy) + 1e-4f * (float)(abs(sx - lx) + abs(sy - ly));
              if (m < best) best = m, bx = sx, by = sy;
            }
          if (best >= 1e8f) break;  // the tracked pixels left the frame
          const double k = t - r;
          track_kk += k * k;
          track_kx += k * bx;
          track_ky += k * by;
          px = 2 * bx - lx, py = 2 * by - ly;
          lx = bx, ly = by;
          ntrack++;
        }
      }
      for (int t = s0; t + 1 < s1; t++) {
        npairs++;
        const float *y0 = lum + (size_t)t * np, *y1 = y0 + np;
        float zero = shifted_mad(y0, y1, h, w, 0, 0);
        if (zero < ACTIVE_MAD) continue;
        nactive++;
        if (!search_global) continue;
        int bx = 0, by = 0;
        float best = zero;
        for (int sy = -R; sy <= R; sy++)
          for (int sx = -R; sx <= R; sx++) {
            if (!sx && !sy) continue;
            float m = shifted_mad(y0, y1, h, w, sx, sy) + 1e-4f * (float)(abs(sx) + abs(sy));
            if (m < best) best = m, bx = sx, by = sy;
          }
        if ((bx || by) && best < 0.5f * zero) {
          float c = shifted_mad(y0, y1, h, w, bx, by);
          float ox = 0, oy = 0;
          if (bx > -R && bx < R)
            ox = parabola(shifted_mad(y0, y1, h, w, bx - 1, by), c, shifted_mad(y0, y1, h, w, bx + 1, by));
          if (by > -R && by < R)
            oy = parabola(shifted_mad(y0, y1, h, w, bx, by - 1), c, shifted_mad(y0, y1, h, w, bx, by + 1));
          // pixels the shift says must change but that stay put are evidence of a static camera
          for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
              int xs = x - bx, ys = y - by;
              if (xs < 0 || xs >= w || ys < 0 || ys >= h) continue;
              size_t i = (size_t)y * w + x;
              if (fabsf(y0[(size_t)ys * w + xs] - y0[i]) > 0.1f) {
                predicted++;
                if (fabsf(y1[i] - y0[i]) < 0.02f) predicted_static++;
              }
            }
          nglobal++;
          gx += bx + ox;
          gy += by + oy;
          gabs += hypot(bx + ox, by + oy);
        }
      }
    }
    s0 = s1;
  }
  const double fg_frac = nframes ? fg_sum / nframes : 0;
  const double static_frac = predicted ? (double)predicted_static / predicted : 0;
  if (nglobal) gx /= nglobal, gy /= nglobal, gabs /= nglobal;
  const double gmag = hypot(gx, gy);
  a->camera_pan = nactive >= 1 && nactive * 2 >= npairs && nglobal * 10 >= nactive * 6 && fg_frac >= PAN_FG_FRACTION &&
                  static_frac < 0.4 && gmag >= 0.25 && gmag >= 0.5 * gabs;
  if (a->camera_pan) {
    a->motion_dx = (float)(gx * fx);
    a->motion_dy = (float)(gy * fy);
  } else if (ntrack > 0 && track_kk > 0) {
    a->motion_dx = (float)(track_kx / track_kk) * (float)fx;
    a->motion_dy = (float)(track_ky / track_kk) * (float)fy;
  }
  a->motion_speed = hypotf(a->motion_dx, a->motion_dy);
  free(rgb);
  free(lum);
  free(bg);
  free(col);
  free(diff);
  free(fg);
  free(fgcount);
  free(idx);
  free(cut);
}

// ------------------------------------------------------------------ sentences

typedef struct {
  char *buf;
  int cap, len;
} Out;

static void put(Out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Out *o, const char *fmt, ...) {
  if (o->len >= o->cap - 1) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(o->buf + o->len, (size_t)(o->cap - o->len), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  o->len += n;
  if (o->len > o->cap - 1) o->len = o->cap - 1;
}

static const char *brightness_word(float b) {
  return b < 0.2f ? "dark" : b < 0.4f ? "dim" : b < 0.6f ? "moderately bright" : "bright";
}

static void put_colours(Out *o, const ClipAttributes *a) {
  int n = 0;
  while (n < 3 && a->colours[n][0]) n++;
  if (n == 0) return;
  put(o, "mostly %s", a->colours[0]);
  if (n == 3) put(o, ", %s and %s", a->colours[1], a->colours[2]);
  else if (n == 2) put(o, " and %s", a->colours[1]);
}

// 0 still, 1 slowly, 2 quickly. Relative to the frame when its shape is known
// (the distance covered over the clip, as a fraction of the frame: >= 0.5 is
// quick, as in the shapes world), else in pixels per frame.
static int speed_class(const ClipAttributes *a) {
  float s = a->motion_speed;
  if (!(s >= 0.1f)) return 0;
  if (a->frames >= 2 && a->height > 0 && a->width > 0) {
    float steps = (float)(a->frames - 1);
    float ux = a->motion_dx * steps / (float)a->width, uy = a->motion_dy * steps / (float)a->height;
    float travel = sqrtf(ux * ux + uy * uy);
    return travel < 0.05f ? 0 : travel < 0.5f ? 1 : 2;
  }
  return s < 0.2f ? 0 : s < 1.5f ? 1 : 2;
}

// Direction of (dx, dy) in eight sectors: 0 right, 1 down-right, 2 down, ... (clockwise, +y down).
static int sector(float dx, float dy) {
  double ang = atan2(dy, dx);  // -pi..pi
  int s = (int)lround(ang / (M_PI / 4.0));
  return (s + 8) % 8;
}

void recaption_short(const ClipAttributes *a, char *out, int outlen) {
  if (!out || outlen <= 0) return;
  Out o = {out, outlen, 0};
  out[0] = 0;
  put(&o, "a %s video", brightness_word(a->brightness));
  if (a->colours[0][0]) {
    put(&o, ", ");
    put_colours(&o, a);
  }
}

void recaption_compose(const char *caption, const ClipAttributes *a, char *out, int outlen) {
  if (!out || outlen <= 0) return;
  Out o = {out, outlen, 0};
  out[0] = 0;
  if (caption) {
    while (*caption == ' ' || *caption == '\t' || *caption == '\n' || *caption == '\r') caption++;
    int n = (int)strlen(caption);
    while (n > 0 && (caption[n - 1] == ' ' || caption[n - 1] == '\t' || caption[n - 1] == '\n' || caption[n - 1] == '\r')) n--;
    if (n > 0) {
      char last = caption[n - 1];
      put(&o, "%.*s%s ", n, caption, (last == '.' || last == '!' || last == '?') ? "" : ".");
    }
  }
  put(&o, "The scene is %s", brightness_word(a->brightness));
  if (a->colours[0][0]) {
    put(&o, ", ");
    put_colours(&o, a);
  }
  put(&o, ".");
  int sp = speed_class(a);
  const char *speed = sp == 2 ? "quickly" : "slowly";
  if (a->camera_pan && sp > 0) {
    // the image content moves by (dx, dy): the camera turns the other way
    float cx = -a->motion_dx, cy = -a->motion_dy;
    int s = sector(cx, cy);
    static const char *const pans[8] = {"pans right", "pans right and tilts down", "tilts down",
                                        "pans left and tilts down", "pans left", "pans left and tilts up",
                                        "tilts up", "pans right and tilts up"};
    put(&o, " The camera %s %s.", pans[s], speed);
  } else if (sp > 0) {
    static const char *const dirs[8] = {"right", "down and to the right", "down", "down and to the left",
                                        "left", "up and to the left", "up", "up and to the right"};
    put(&o, " The main subject moves %s %s. The camera is static.", dirs[sector(a->motion_dx, a->motion_dy)],
        speed);
  } else {
    put(&o, " There is little motion and the camera is static.");
  }
  if (a->scene_cuts == 1) put(&o, " There is one scene cut.");
  else if (a->scene_cuts > 1) put(&o, " There are %d scene cuts.", a->scene_cuts);
}
