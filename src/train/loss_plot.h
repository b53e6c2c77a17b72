#pragma once
// Loss-vs-step chart of a trainer metrics file (metrics.jsonl: one JSON object
// per line with at least "step" and "loss"), drawn as a PNG.
//
// Lines that repeat a step (after a resume) keep their last occurrence;
// malformed lines and non-finite losses are skipped (and counted in a note). The chart: white
// background, light grid, axes with tick labels, the raw loss as a light line,
// a centred moving average (window max(1, n/50)) as a dark line, the y range
// from the 1st-99th percentile of the raw loss plus a margin (values outside
// are clipped to the plot area), title "loss".

// Layout, in pixels (the plot area is [LEFT, W-RIGHT) x [TOP, H-BOTTOM);
// the axes lie on its left and bottom edges, tick marks point outwards).
enum {
  LOSS_PLOT_W = 640,
  LOSS_PLOT_H = 360,
  LOSS_PLOT_LEFT = 64,
  LOSS_PLOT_RIGHT = 16,
  LOSS_PLOT_TOP = 28,
  LOSS_PLOT_BOTTOM = 36,
};
// Colours: raw loss, moving average.
#define LOSS_PLOT_RAW_RGB {160, 185, 235}
#define LOSS_PLOT_AVG_RGB {20, 40, 140}

// Lines are read with jansson. Returns 0, or -1 with a reason in err (missing
// file, no valid points, write failure). When lines were skipped (a line torn
// by a crash, a hand-edited one), note (may be NULL) says how many and the
// first one's FILE:LINE with the parser's column: "3 lines of 400 skipped, the
// first: metrics.jsonl:251: line 1, column 5: ..."; else note is "".
int loss_plot_png(const char *metrics_jsonl, const char *png_path, char *note, int notelen, char *err, int errlen);
