// `tessera eval` for the shapes world (issue 4, docs/eval.md): a prompt suite
// with ground-truth fields (configs/eval/shapes.yaml), and automatic scores of
// a generated video against them. The scoring (eval_score.c) needs no model:
// it reads uint8 RGB video [T,H,W,3] at the model's frame size and knows the
// palettes of src/data/synth.h.
#pragma once
#include <stdint.h>

#include "data/synth.h"

// ------------------------------------------------------------------ thresholds
// Distances are Euclidean in RGB (0..255 per channel); fractions are of the
// frame's width (x) or height (y). docs/eval.md explains each choice.
#define EVAL_MASK_DIST 60.0f       // object pixel: farther than this from the background colour
#define EVAL_COLOUR_DIST 64.0f     // a colour is recognised within this distance of a palette colour
#define EVAL_MAX_MASK_FRAC 0.5f    // a frame with more object pixels than this is noise, not a scene
#define EVAL_STILL_FRAC 0.10f      // track extent (and net displacement) below this: "stays still"
#define EVAL_REVERSAL_FRAC 0.08f   // a direction change counts when both legs exceed this
#define EVAL_DIAG_MIN 0.08f        // diagonal: both axes' extents at least this ...
#define EVAL_DIAG_RATIO 0.25f      // ... and the smaller at least this share of the larger
#define EVAL_FIRST_FRAME_MAE 4.0f  // image-to-video: frame 0 within this mean abs error (0..255) of the image
#define EVAL_SEAM_FACTOR 2.0f      // extension: seam difference <= factor * median step + eps
#define EVAL_SEAM_EPS 1.0f         //   (mean abs difference per channel, 0..255)
#define EVAL_CONSIST_BAND 0.5f     // consistency: pixel count within +-50% of the clip's median
#define EVAL_CONNECT_DIST 0.15f    // connection: each made frame's object centre within this share of the
                                   //   frame (max of H, W) of where the ground-truth scene has it
#define EVAL_REMIX_STRENGTH 0.8f   // remix items: the source is noised to this t0

// Minimum pixels of a blob to count as the object: max(4, H*W/128).
int eval_min_pixels(int H, int W);

// ------------------------------------------------------------------ suite

enum { EVAL_T2V, EVAL_I2V, EVAL_EXTEND, EVAL_BACKWARD, EVAL_LOOP, EVAL_CONNECT, EVAL_REMIX, EVAL_IMAGE, EVAL_NMODES };
// "t2v", "i2v", "extend", "backward", "loop", "connect", "remix" (the edits: eval_edit.c), "image" (a
// one-frame video from text: colour and shape scored, no motion; docs/choices.md "Images")
extern const char *const EVAL_MODES[EVAL_NMODES];
// Motions by their short names: "left", "right", "up", "down", "still", "bounce".
extern const char *const EVAL_MOTION_SHORT[6];
// ... and by index (the synth world's order, data/synth.h SYNTH_MOTIONS).
enum { M_LEFT, M_RIGHT, M_UP, M_DOWN, M_STILL, M_BOUNCE };

typedef struct {
  char prompt[256];
  int colour, shape, motion;     // indices into SYNTH_COLOURS / SYNTH_SHAPES / SYNTH_MOTIONS
  int objects;                   // 1 or 2 (2: permanence is scored for the first object)
  int colour2, shape2, motion2;  // the second object (-1: not given)
  int mode;                      // EVAL_T2V, EVAL_I2V, EVAL_EXTEND, ... (EVAL_MODES)
  int background, size;          // the conditioning scene of i2v / extend / edits (default black, small)
  int from;                      // remix: the source scene's colour (-1: not given)
  int line;                      // where the item starts in the suite file (1-based)
} EvalItem;

typedef struct {
  char path[256];
  char name[64];
  int n;
  EvalItem *items;
} EvalSuite;

// Parse a suite YAML file (libyaml): either a sequence of items or a mapping
// {name: ..., items: [...]}. Returns 0, or -1 with "FILE:LINE:COL: what" in err.
int eval_suite_load(const char *path, EvalSuite *s, char *err, int errlen);
void eval_suite_free(EvalSuite *s);
// The synth short caption the item's fields describe ("a red circle moves left",
// "... and a blue square stays still"); objects 2 without colour2/shape2/motion2:
// only the first clause.
void eval_item_caption(const EvalItem *it, char *out, int outlen);

// The conditioning scene for i2v / extend: the item's colour, shape and motion,
// its size and background, starting at the frame's centre; a linear motion
// travels 0.35 of the frame over T frames. A bounce moves 0.5 of the frame per
// axis down-right, starting (centre or nearer the corner) where it meets the
// right and bottom walls at frame T/4, so that both halves of the clip show it.
void eval_item_scene(const EvalItem *it, int T, int H, int W, SynthScene *s);

// ------------------------------------------------------------------ scoring

// The synth background nearest to the per-channel median of frame's border pixels.
int eval_background(const uint8_t *frame, int H, int W);
// The palette colour nearest to rgb, or -1 when none is within EVAL_COLOUR_DIST.
int eval_palette_colour(const uint8_t rgb[3], float *dist);

typedef struct {
  int background;          // synth background index (from frame 0)
  int clean_frames;        // frames with an object mask of at most EVAL_MAX_MASK_FRAC
  int colour;              // dominant colour: palette colour nearest the median mask colour (-1: none)
  float colour_dist;       //   its distance
  int colour_frames;       // frames where the expected colour forms a blob >= eval_min_pixels
  int on_colour;           // 1: the track, shape and counts use the expected colour's pixels; 0: the mask
  int shape;               // nearest class of the median fill ratio (-1: no blob)
  float fill;              //   median fill ratio of the largest blob in its bounding box
  float fill45;            //   ... and in its bounding box rotated by 45 degrees
  int tracked;             // frames with a track point
  int motion;              // SYNTH motion index, -1: too few tracked frames
  float dx, dy;            // line-fit displacement over the clip (fractions of W, H)
  float range_x, range_y;  // extent of the (smoothed) track (fractions of W, H)
  int reversals;           // direction changes of the smoothed track (both axes)
  float consistency;       // share of frames whose object pixel count is within +-50% of the median
} EvalAnalysis;

// Analyse a clip for an expected colour (-1: unknown). objects > 1: the track
// follows the expected colour only (never the mask, which holds the others).
void eval_analyse(const uint8_t *video, int T, int H, int W, int expected_colour, int objects, EvalAnalysis *a);
// Motion class of a track (cx, cy in pixels, frame index f) of n points in a
// clip of T frames; fills dx, dy, range_x, range_y, reversals of a.
int eval_classify_track(const float *cx, const float *cy, const int *f, int n, int T, int H, int W, EvalAnalysis *a);
// Permanence of colour: 1 when its pixels (>= eval_min_pixels) are present in
// at least half of the first quarter's frames and of the last quarter's.
// *occluded (may be NULL): in between, its count dropped below 3/4 of the
// largest count of the first quarter (a quarter or more hidden).
int eval_permanence(const uint8_t *video, int T, int H, int W, int colour, int *occluded);
// Mean absolute difference per channel (0..255) of two frames.
float eval_frame_mad(const uint8_t *a, const uint8_t *b, int H, int W);
// Extension seam after k conditioning frames: 1 when mad(frame k-1, frame k)
// <= EVAL_SEAM_FACTOR * median(mad of consecutive generated frames) + EVAL_SEAM_EPS.
int eval_seam(const uint8_t *video, int T, int H, int W, int k, float *seam, float *median);

typedef struct {
  // 1 / 0, or -1 where the metric does not apply to the item
  float colour, shape, motion, permanence, first_frame, seam;
  float consistency;  // in [0,1]
  float kept;         // edits: the input frames are in the output bit for bit (1 / 0 / -1)
  float continuity;   // connection: every made frame's object where the ground truth has it (1 / 0 / -1)
  float first_frame_mae, seam_diff, seam_median;
  int frames;             // the video's frames
  float continuity_dist;  // connection: the largest distance from the ground truth (share of the frame)
  int permanence_occluded;
  EvalAnalysis a;
} EvalScore;

// Score video [T,H,W,3] for item it. cond: the conditioning frames [ncond,H,W,3]
// (i2v: the image, ncond = 1; extend: the lead-in, which the video repeats in its
// first ncond frames; colour, shape, motion and consistency then look at the
// frames after it). NULL / 0 for t2v.
void eval_score_video(const EvalItem *it, const uint8_t *video, int T, int H, int W, const uint8_t *cond, int ncond,
                      EvalScore *s);

// ------------------------------------------------------------------ edits (eval_edit.c)

// An edit item's ground truth and request (eval_edit_setup): the scene truth
// [ntruth,H,W,3] the inputs are cut from, what the request gives, and where
// the inputs must reappear in the output.
typedef struct {
  const uint8_t *truth;
  int ntruth;
  int lead_n;              // truth[0, lead_n) comes before the new frames (0: none)
  int tail_at, tail_n;     // truth[tail_at, +tail_n) comes after them (0: none)
  int source;              // remix: truth (in the source colour) is the video to redo
  int loop;
  int frames;              // GenerateRequest.frames
  int out_n;               // the output's frames
  int made_at, made_n;     // the output frames that are made
  int nkept, out_at[2], truth_at[2], kept_n[2];  // output frames that must equal truth frames
} EvalEdit;
// Renders the item's truth into truth (room for 3T frames) and fills e, for a
// model window of T frames in temporal patches of pt (docs/choices.md "Edits").
void eval_edit_setup(const EvalItem *it, int T, int pt, int H, int W, uint8_t *truth, EvalEdit *e);
// Score an edit item's output video [n,H,W,3] (modes backward, loop, connect, remix).
void eval_score_edit(const EvalItem *it, const uint8_t *video, int n, int H, int W, const EvalEdit *e, EvalScore *s);
// The centre of colour c's largest blob in frame (pixels); 0 when it is smaller than eval_min_pixels.
int eval_object_centre(const uint8_t *frame, int H, int W, int c, float *cx, float *cy);

// A loop's seam (infer/generate.h): the last-to-first step (mean abs difference,
// 0..255) and the median of the other n-1 steps.
void loop_seam(const uint8_t *video, int n, int H, int W, float *seam, float *median);
