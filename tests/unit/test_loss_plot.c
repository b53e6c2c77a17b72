// The loss chart (src/train/loss_plot.c) and the terminal progress bar
// (src/core/progress.c): a metrics file with a known decaying curve, a resume
// that repeats steps, and garbage lines is drawn and read back; the dark
// moving-average line must fall from left to right (a falling loss is drawn
// higher up on the left, i.e. at smaller y), and the repeated steps must use
// their last occurrence. Missing and empty-of-points files fail with a reason.
// Run from the repository root (writes under build/tmp/).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/progress.h"
#include "media/image_io.h"
#include "testlib.h"
#include "train/loss_plot.h"

#define TMP "build/tmp"

static double curve(int step) { return 0.5 + 2.0 * exp(-step / 100.0) + 0.04 * sin(step * 1.7); }

static int is_dark(const uint8_t *p) { return p[0] + p[1] + p[2] < 300; }

// Plot-area columns [xa, xb): mean y of the dark pixels, and how many there are.
static double mean_dark_y(const uint8_t *img, int W, int xa, int xb, long *count) {
  double sum = 0;
  long n = 0;
  for (int y = LOSS_PLOT_TOP; y < LOSS_PLOT_H - LOSS_PLOT_BOTTOM; y++)
    for (int x = xa; x < xb; x++)
      if (is_dark(img + ((size_t)y * W + x) * 3)) sum += y, n++;
  *count = n;
  return n ? sum / (double)n : NAN;
}

static void test_plot(void) {
  const char *mpath = TMP "/loss_plot_metrics.jsonl", *ppath = TMP "/loss_plot.png";
  FILE *f = fopen(mpath, "w");
  EXPECT(f != NULL, "cannot write %s", mpath);
  if (!f) return;
  // Steps 0..249, then a resume from step 200 to 399. The first run's
  // steps 200..249 carry a huge loss: if they were kept, the moving average
  // would jump to the top of the plot there.
  for (int s = 0; s < 250; s++)
    fprintf(f, "{\"step\":%d,\"loss\":%.9g,\"grad_norm\":0.5,\"lr\":0.001,\"tokens_per_s\":2000.0,\"mfu\":0.5}\n", s,
            s >= 200 ? 1000.0 : curve(s));
  fprintf(f, "this is not json\n");
  fprintf(f, "{\"step\":17,\"loss\":nan}\n");
  fprintf(f, "{\"step\":\"x\",\"loss\":1.0}\n");
  for (int s = 200; s < 400; s++)
    fprintf(f, "{\"step\":%d,\"loss\":%.9g,\"grad_norm\":0.5,\"lr\":0.001,\"tokens_per_s\":2000.0,\"mfu\":0.5}\n", s,
            curve(s));
  fprintf(f, "{\"step\":400,\"loss\":99");  // cut short by a crash
  fclose(f);

  char err[256] = "", note[600] = "";
  int rc = loss_plot_png(mpath, ppath, note, sizeof note, err, sizeof err);
  EXPECT(rc == 0, "loss_plot_png: %s", err);
  if (rc) return;
  // the skipped lines are counted and the first named with jansson's position
  EXPECT(strstr(note, "4 lines of 454 skipped, the first: " TMP "/loss_plot_metrics.jsonl:251: line 1, column 4: invalid token"),
         "note: '%s'", note);
  printf("  skipped: %s\n", note);
  uint8_t *img = NULL;
  int H = 0, W = 0;
  rc = png_read_rgb(ppath, &img, &H, &W, err, sizeof err);
  EXPECT(rc == 0, "png_read_rgb: %s", err);
  if (rc) return;
  EXPECT(H == LOSS_PLOT_H && W == LOSS_PLOT_W, "size %dx%d, want %dx%d", W, H, LOSS_PLOT_W, LOSS_PLOT_H);
  if (H != LOSS_PLOT_H || W != LOSS_PLOT_W) return free(img);

  const int x0 = LOSS_PLOT_LEFT, x1 = W - LOSS_PLOT_RIGHT, pw = x1 - x0;
  const int y0 = LOSS_PLOT_TOP, y1 = H - LOSS_PLOT_BOTTOM, ph = y1 - y0;
  long nd, nl, nr;
  mean_dark_y(img, W, x0, x1, &nd);
  EXPECT(nd > pw, "dark (moving-average) pixels in the plot area: %ld, want > %d", nd, pw);
  // Every few columns carry the line: no gaps.
  int empty = 0;
  for (int x = x0 + 2; x < x1 - 2; x += 4) {
    long c;
    mean_dark_y(img, W, x, x + 1, &c);
    empty += c == 0;
  }
  EXPECT(empty == 0, "%d sampled columns without the moving-average line", empty);
  // Raw loss as a light line too.
  long nraw = 0;
  const uint8_t raw_c[3] = LOSS_PLOT_RAW_RGB;
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) nraw += !memcmp(img + ((size_t)y * W + x) * 3, raw_c, 3);
  EXPECT(nraw > pw / 2, "raw-loss pixels: %ld", nraw);
  // Falling loss: higher on the image (smaller y) on the left.
  double yl = mean_dark_y(img, W, x0, x0 + pw / 4, &nl), yr = mean_dark_y(img, W, x1 - pw / 4, x1, &nr);
  EXPECT(nl > 0 && nr > 0 && yl + 0.4 * ph < yr, "left-quarter mean y %.1f, right-quarter %.1f (plot height %d)", yl,
         yr, ph);
  printf("  ok  dark px %ld, raw px %ld, mean y left %.1f right %.1f\n", nd, nraw, yl, yr);
  // Non-increasing height, in eight column bands (a little slack for noise).
  double prev = -1e9;
  int rises = 0;
  for (int b = 0; b < 8; b++) {
    long c;
    double y = mean_dark_y(img, W, x0 + b * pw / 8, x0 + (b + 1) * pw / 8, &c);
    if (c && y + 2.0 < prev) rises++;
    if (c) prev = y;
  }
  EXPECT(rises == 0, "moving average rises in %d of 8 bands", rises);
  // Steps 200..249 (columns around the middle) use the resumed run's loss:
  // no dark pixel near the top of the plot right of the left quarter.
  long top = 0;
  for (int y = y0; y < y0 + ph / 5; y++)
    for (int x = x0 + pw / 3; x < x1; x++) top += is_dark(img + ((size_t)y * W + x) * 3);
  EXPECT(top == 0, "%ld dark pixels near the top in the right two thirds (first occurrence kept?)", top);
  // Title: dark text above the plot area.
  long title = 0;
  for (int y = 0; y < y0; y++)
    for (int x = W / 2 - 30; x < W / 2 + 30; x++) title += is_dark(img + ((size_t)y * W + x) * 3);
  EXPECT(title > 20, "title pixels: %ld", title);
  free(img);

  // A single point still draws.
  f = fopen(mpath, "w");
  fprintf(f, "{\"step\":3,\"loss\":1.5}\n");
  fclose(f);
  err[0] = 0;
  EXPECT(loss_plot_png(mpath, TMP "/loss_plot_single.png", NULL, 0, err, sizeof err) == 0, "single point: %s", err);
}

static void test_errors(void) {
  char err[256] = "";
  int rc = loss_plot_png(TMP "/no_such_metrics.jsonl", TMP "/no_such.png", NULL, 0, err, sizeof err);
  EXPECT(rc == -1 && strstr(err, "no_such_metrics.jsonl") && strstr(err, "cannot open"), "missing file: rc %d, '%s'",
         rc, err);
  printf("  missing file: %s\n", err);

  const char *mpath = TMP "/loss_plot_garbage.jsonl";
  FILE *f = fopen(mpath, "w");
  EXPECT(f != NULL, "cannot write %s", mpath);
  if (!f) return;
  fprintf(f, "garbage\n{\"step\":1}\n{\"loss\":2.0}\n{\"step\":2,\"loss\":inf}\n\n");
  fclose(f);
  err[0] = 0;
  rc = loss_plot_png(mpath, TMP "/loss_plot_garbage.png", NULL, 0, err, sizeof err);
  EXPECT(rc == -1 && strstr(err, "no valid points"), "no valid lines: rc %d, '%s'", rc, err);
  printf("  no valid lines: %s\n", err);
  struct stat st;
  EXPECT(stat(TMP "/loss_plot_garbage.png", &st) != 0, "a PNG was written for a file without points");
}

static void test_progress_not_tty(void) {
  FILE *f = tmpfile();
  EXPECT(f != NULL, "tmpfile");
  if (!f) return;
  for (long i = 0; i <= 10; i++) progress_bar(f, "train", i, 10, 0.5 * (double)i);
  progress_bar(f, NULL, 0, 0, 0.0);
  fflush(f);
  long pos = ftell(f);
  EXPECT(pos == 0, "progress_bar wrote %ld bytes to a non-terminal", pos);
  fclose(f);
}

int main(void) {
  mkdir("build", 0777);
  mkdir(TMP, 0777);
  test_plot();
  test_errors();
  test_progress_not_tty();
  return tl_finish("test_loss_plot");
}
