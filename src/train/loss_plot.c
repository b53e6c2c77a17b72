// Loss-vs-step chart of metrics.jsonl as a PNG (see loss_plot.h). Lines are
// drawn with Bresenham into an RGB buffer; text with the 5x7 font of
// media/image_io.h, which also writes the PNG.
#include "train/loss_plot.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "media/image_io.h"

typedef struct {
  long long step;
  double loss;
  long ord;  // line order, so the last occurrence of a step wins
} Point;

// ------------------------------------------------------------------ parsing

// One metrics line -> (step, loss), read with jansson. Returns 0, or -1 with
// why (the parser's position, or the field that is wrong).
static int parse_line(const char *line, size_t n, long long *step, double *loss, char *why, size_t whylen) {
  json_t *o = jx_parse(line, n, why, whylen);
  int rc = -1;
  long long st;
  double l;
  if (!o) return -1;
  if (!json_is_object(o)) snprintf(why, whylen, "a JSON %s, expected an object", jx_kind(o));
  else if (!json_is_integer(json_object_get(o, "step")) || jx_int(o, "step", &st))
    snprintf(why, whylen, "\"step\": expected an integer");
  else if (jx_real(o, "loss", &l) || !isfinite(l)) snprintf(why, whylen, "\"loss\": expected a finite number");
  else *step = st, *loss = l, rc = 0;
  json_decref(o);
  return rc;
}

static int cmp_point(const void *a, const void *b) {
  const Point *p = a, *q = b;
  if (p->step != q->step) return p->step < q->step ? -1 : 1;
  return (p->ord > q->ord) - (p->ord < q->ord);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

// Reads the file into *pts (sorted by step, one per step). Returns the count,
// or -1 with err.
static long read_points(const char *path, Point **pts, char *note, int notelen, char *err, int errlen) {
  *pts = NULL;
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, (size_t)errlen, "%s: cannot open (%s)", path, strerror(errno));
    return -1;
  }
  char *line = NULL;
  size_t cap = 0;
  long n = 0, alloc = 0, lines = 0, skipped = 0;
  Point *p = NULL;
  char first[400] = "", why[300];
  ssize_t len;
  while ((len = getline(&line, &cap, f)) >= 0) {
    lines++;
    long long st;
    double l;
    if (strspn(line, " \t\r\n") == (size_t)len) continue;
    if (parse_line(line, (size_t)len, &st, &l, why, sizeof why)) {
      if (!skipped++) snprintf(first, sizeof first, "%s:%ld: %s", path, lines, why);
      continue;
    }
    if (n == alloc) {
      alloc = alloc ? 2 * alloc : 1024;
      Point *q = realloc(p, (size_t)alloc * sizeof *p);
      if (!q) {
        free(p), free(line), fclose(f);
        snprintf(err, (size_t)errlen, "%s: out of memory", path);
        return -1;
      }
      p = q;
    }
    p[n] = (Point){st, l, n};
    n++;
  }
  free(line);
  fclose(f);
  if (skipped && note)
    snprintf(note, (size_t)notelen, "%ld line%s of %ld skipped, the first: %s", skipped, skipped > 1 ? "s" : "", lines,
             first);
  if (n == 0) {
    free(p);
    snprintf(err, (size_t)errlen, "%s: no valid points (%ld lines, none with an integer \"step\" and a finite \"loss\"; "
             "the first: %s)", path, lines, first[0] ? first : "the file is empty");
    return -1;
  }
  qsort(p, (size_t)n, sizeof *p, cmp_point);
  long m = 0;  // keep the last occurrence of each step
  for (long i = 0; i < n; i++) {
    if (i + 1 < n && p[i + 1].step == p[i].step) continue;
    p[m++] = p[i];
  }
  *pts = p;
  return m;
}

// ------------------------------------------------------------------ drawing

typedef struct {
  uint8_t *img;
  int H, W;
  int x0, y0, x1, y1;  // clip rectangle, inclusive (the plot area for data)
} Canvas;

static void put(const Canvas *c, int x, int y, const uint8_t rgb[3]) {
  if (x < c->x0 || x > c->x1 || y < c->y0 || y > c->y1) return;
  uint8_t *px = c->img + ((size_t)y * c->W + x) * 3;
  px[0] = rgb[0], px[1] = rgb[1], px[2] = rgb[2];
}

// Bresenham from (xa,ya) to (xb,yb); thick=2 paints a 2x2 brush.
static void draw_line(const Canvas *c, int xa, int ya, int xb, int yb, int thick, const uint8_t rgb[3]) {
  int dx = abs(xb - xa), sx = xa < xb ? 1 : -1;
  int dy = -abs(yb - ya), sy = ya < yb ? 1 : -1;
  int e = dx + dy;
  for (;;) {
    for (int i = 0; i < thick; i++)
      for (int j = 0; j < thick; j++) put(c, xa + i, ya + j, rgb);
    if (xa == xb && ya == yb) break;
    int e2 = 2 * e;
    if (e2 >= dy) e += dy, xa += sx;
    if (e2 <= dx) e += dx, ya += sy;
  }
}

// "Nice" tick spacing (1, 2 or 5 times a power of ten) for about `want` ticks.
static double nice_step(double range, int want) {
  double raw = range / want, mag = pow(10.0, floor(log10(raw))), r = raw / mag;
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

static int text_width(const char *s) { return (int)strlen(s) * 6 - 1; }

int loss_plot_png(const char *metrics_jsonl, const char *png_path, char *note, int notelen, char *err, int errlen) {
  if (note && notelen) note[0] = 0;
  Point *pts;
  long n = read_points(metrics_jsonl, &pts, note, notelen, err, errlen);
  if (n < 0) return -1;

  // Moving average, centred, window max(1, n/50), via prefix sums.
  double *pre = malloc((size_t)(n + 1) * sizeof *pre), *avg = malloc((size_t)n * sizeof *avg);
  double *sorted = malloc((size_t)n * sizeof *sorted);
  const int W = LOSS_PLOT_W, H = LOSS_PLOT_H;
  uint8_t *img = malloc((size_t)W * H * 3);
  if (!pre || !avg || !sorted || !img) {
    free(pts), free(pre), free(avg), free(sorted), free(img);
    snprintf(err, (size_t)errlen, "%s: out of memory", png_path);
    return -1;
  }
  long win = n / 50 > 1 ? n / 50 : 1;
  pre[0] = 0;
  for (long i = 0; i < n; i++) pre[i + 1] = pre[i] + pts[i].loss;
  for (long i = 0; i < n; i++) {
    long a = i - win / 2, b = a + win;  // [a, b)
    if (a < 0) a = 0;
    if (b > n) b = n;
    avg[i] = (pre[b] - pre[a]) / (double)(b - a);
  }

  // y range: 1st-99th percentile of the raw loss plus 8% margin.
  for (long i = 0; i < n; i++) sorted[i] = pts[i].loss;
  qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
  double lo = sorted[(long)floor(0.01 * (double)(n - 1))], hi = sorted[(long)ceil(0.99 * (double)(n - 1))];
  if (hi - lo <= 1e-12 * fmax(fabs(lo), fabs(hi))) {
    double m = fmax(0.05 * fabs(hi), 1e-3);
    lo -= m, hi += m;
  } else {
    double m = 0.08 * (hi - lo);
    lo -= m, hi += m;
  }
  double s0 = (double)pts[0].step, s1 = (double)pts[n - 1].step;
  if (s1 == s0) s0 -= 1, s1 += 1;

  const int px0 = LOSS_PLOT_LEFT, px1 = W - LOSS_PLOT_RIGHT - 1;
  const int py0 = LOSS_PLOT_TOP, py1 = H - LOSS_PLOT_BOTTOM - 1;
  Canvas plot = {img, H, W, px0, py0, px1, py1}, full = {img, H, W, 0, 0, W - 1, H - 1};
#define XPIX(s) (px0 + (int)lround(((double)(s) - s0) / (s1 - s0) * (px1 - px0)))
#define YPIX(v) (py0 + (int)lround(fmin(fmax((hi - (v)) / (hi - lo), 0.0), 1.0) * (py1 - py0)))

  static const uint8_t white[3] = {255, 255, 255}, grid[3] = {232, 232, 232}, axis[3] = {0, 0, 0},
                       label[3] = {60, 60, 60}, raw_c[3] = LOSS_PLOT_RAW_RGB, avg_c[3] = LOSS_PLOT_AVG_RGB;
  for (size_t i = 0; i < (size_t)W * H; i++) memcpy(img + 3 * i, white, 3);

  // Grid, tick marks and tick labels.
  char buf[64];
  double ys = nice_step(hi - lo, 5);
  int ydec = ys >= 1 ? 0 : (int)fmin(6, ceil(-log10(ys) - 1e-9));
  for (double v = ceil(lo / ys) * ys; v <= hi + 1e-9 * ys; v += ys) {
    int y = YPIX(v);
    draw_line(&plot, px0, y, px1, y, 1, grid);
    draw_line(&full, px0 - 5, y, px0 - 1, y, 1, axis);
    snprintf(buf, sizeof buf, "%.*f", ydec, fabs(v) < 0.5 * ys ? 0.0 : v);
    draw_text(img, H, W, px0 - 8 - text_width(buf), y - 3, 1, label, buf);
  }
  double xs = fmax(1.0, nice_step(s1 - s0, 6));
  xs = ceil(xs);
  int kilo = fmod(xs, 1000.0) == 0 && s1 >= 10000;  // "50k" rather than "50000"
  for (double s = ceil(s0 / xs) * xs; s <= s1 + 1e-9 * xs; s += xs) {
    int x = XPIX(s);
    draw_line(&plot, x, py0, x, py1, 1, grid);
    draw_line(&full, x, py1 + 1, x, py1 + 5, 1, axis);
    long long si = llround(s);
    if (kilo && si) snprintf(buf, sizeof buf, "%lldk", si / 1000);
    else snprintf(buf, sizeof buf, "%lld", si);
    draw_text(img, H, W, x - text_width(buf) / 2, py1 + 8, 1, label, buf);
  }

  // Raw loss (light), then the moving average (dark, 2 px) on top.
  for (long i = 0; i < n; i++) {
    int x = XPIX(pts[i].step), y = YPIX(pts[i].loss);
    if (i == 0) put(&plot, x, y, raw_c);
    else draw_line(&plot, XPIX(pts[i - 1].step), YPIX(pts[i - 1].loss), x, y, 1, raw_c);
  }
  for (long i = 0; i < n; i++) {
    int x = XPIX(pts[i].step), y = YPIX(avg[i]);
    if (i == 0) draw_line(&plot, x - (n == 1), y - (n == 1), x - (n == 1), y - (n == 1), n == 1 ? 4 : 2, avg_c);
    else draw_line(&plot, XPIX(pts[i - 1].step), YPIX(avg[i - 1]), x, y, 2, avg_c);
  }
#undef XPIX
#undef YPIX

  // Axes just outside the plot area, title, axis name, summary.
  draw_line(&full, px0 - 1, py0, px0 - 1, py1 + 1, 1, axis);
  draw_line(&full, px0 - 1, py1 + 1, px1, py1 + 1, 1, axis);
  draw_text(img, H, W, (W - (4 * 12 - 2)) / 2, 6, 2, axis, "loss");
  draw_text(img, H, W, (px0 + px1 - text_width("step")) / 2, py1 + 20, 1, label, "step");
  snprintf(buf, sizeof buf, "last %.4g  avg %.4g  n=%ld", pts[n - 1].loss, avg[n - 1], n);
  draw_text(img, H, W, px1 - text_width(buf), 10, 1, label, buf);

  int rc = png_write_rgb(png_path, img, H, W, err, errlen);
  free(pts), free(pre), free(avg), free(sorted), free(img);
  return rc;
}
