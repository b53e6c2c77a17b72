// An eval run: every prompt of a suite generated through the pipeline
// (infer/pipeline.h) and scored against its ground truth (infer/eval.h); the
// table and eval.json of the results (docs/eval.md). `tessera eval` is a thin
// caller (app/cmd_eval.c).
#pragma once
#include <stdint.h>

#include "core/error.h"
#include "infer/eval.h"
#include "infer/pipeline.h"
#include "infer/session.h"

typedef struct {
  const char *suite_path;  // named in messages and in eval.json
  const char *out;         // directory of the videos and eval.json
  int seeds;               // videos per prompt: seeds S..S+seeds-1
  int upscale;             // MP4 upscale factor
  int keyframe;            // text-to-video items through a keyframe
  int use_ema;
  SamplerFlags flags;
} EvalRunOptions;

typedef struct {
  double sum;
  int n;
} EvalAcc;  // a metric summed over videos (values < 0 do not apply)

typedef struct {
  EvalAcc colour, shape, motion, direction, consistency, permanence, first_frame, seam, kept, continuity;
} EvalTotals;

typedef struct {
  const EvalSuite *suite;
  EvalRunOptions opt;
  const char *ckpt;
  long long ckpt_step;
  SamplerOptions so;
  const char *sampler;
  uint64_t base_seed;
  int T, H, W, nlead;
  int nv;                   // videos: suite->n * seeds
  EvalScore *scores;        // [nv], item-major
  char (*paths)[512];       // [nv] the MP4s
  double seconds;
  EvalTotals single, two, i2v, ext;  // single-object t2v, two objects, image-to-video, extension
  EvalTotals back, loop, conn, remix;  // the edits: backward extension, loop, connection, long remix
  EvalTotals image;                    // images (one frame from text)
  int confusion[6][7];      // single-object t2v: expected motion x found (6: none)
} EvalReport;

// Checks the suite against the model (RGB frames, room for an extension's
// lead-in), generates and scores every video, and sums the totals.
int eval_run(InferSession *s, const EvalSuite *suite, const EvalRunOptions *o, EvalReport *r, TsrErr *err);
// The table: one row per item, the totals, the motion confusions, the targets.
void eval_report_print(const EvalReport *r);
// eval.json (written under a temporary name, renamed).
int eval_report_write_json(const EvalReport *r, const char *path, TsrErr *err);
void eval_report_free(EvalReport *r);
