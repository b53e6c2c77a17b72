// `tessera eval`: a suite of prompts generated and scored (infer/eval_run.h).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_error.h"
#include "core/error.h"
#include "app/flags.h"
#include "core/parse.h"
#include "infer/eval_run.h"
#include "app/device_flag.h"
#include "infer/session.h"

typedef struct {
  const char *ckpt, *suite, *out, *sampler, *policy;
  int steps, seeds, seed, use_ema, upscale, keyframe;
  int hw[2], frames;  // --size HxW, --frames T (0: the model's maximum)
  float cfg, shift;
  InferDevice dev;
} EvalArgs;

static void usage(void) {
  printf(
      "usage: tessera eval --ckpt F [options]\n"
      "Generates every prompt of a suite and scores the videos against the prompts' ground truth\n"
      "(colour, shape, motion, permanence, consistency, first frame kept, seam); prints a table,\n"
      "writes DIR/eval.json and one MP4 per video (docs/eval.md).\n"
      "  --suite F     suite YAML (default configs/eval/shapes.yaml)\n"
      "  --out DIR     output directory (default runs/eval)\n"
      "  --steps N --cfg G --shift S --sampler euler|heun\n"
      "                sampler settings (default: the checkpoint's sample config)\n"
      "  --seeds K     videos per prompt, seeds S..S+K-1 (default 1)\n"
      "  --seed S      first seed (default: the checkpoint's sample seed)\n"
      "  --upscale K   nearest-neighbour upscale of the MP4 frames (default 4)\n"
      "  --size HxW --frames T   the shape every video is made at: any within the model's maximum\n"
      "                (default: the maximum), to score each bucket of a multi-bucket model\n"
      "  --raw         sample with the raw weights instead of the EMA\n"
      "  --policy F    the prompt safety policy (default: the shipped one; docs/safety.md)\n"
      DEVICE_FLAG_HELP
      "  --keyframe    text-to-video items through a keyframe: make a clip, keep its first frame,\n"
      "                make the video again from it (docs/eval.md)\n");
}

static int parse_int(const char *flag, const char *v, int lo, int hi) {
  char *end;
  long x = strtol(v, &end, 10);
  if (!*v || *end || x < lo || x > hi)
    app_user_error("eval: %s: expected an integer in [%d, %d], got '%s'", flag, lo, hi, v);
  return (int)x;
}

static void parse(EvalArgs *a, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
      usage();
      exit(0);
    }
    if (!strcmp(k, "--raw")) {
      a->use_ema = 0;
      continue;
    }
    if (!strcmp(k, "--keyframe")) {
      a->keyframe = 1;
      continue;
    }
    if (device_flag(&a->dev, "eval", argc, argv, &i)) continue;
    if (i + 1 >= argc) app_user_error("eval: %s: expected a value after it", k);
    const char *v = argv[++i];
    if (!strcmp(k, "--ckpt"))
      a->ckpt = v;
    else if (!strcmp(k, "--policy"))
      a->policy = v;
    else if (!strcmp(k, "--suite"))
      a->suite = v;
    else if (!strcmp(k, "--out"))
      a->out = v;
    else if (!strcmp(k, "--steps"))
      a->steps = parse_int(k, v, 1, 10000);
    else if (!strcmp(k, "--seeds"))
      a->seeds = parse_int(k, v, 1, 1000);
    else if (!strcmp(k, "--seed"))
      a->seed = parse_int(k, v, 0, 2147483647);
    else if (!strcmp(k, "--upscale"))
      a->upscale = parse_int(k, v, 1, 64);
    else if (!strcmp(k, "--frames"))
      a->frames = parse_int(k, v, 1, 100000);
    else if (!strcmp(k, "--size")) {
      if (parse_dims(v, 2, a->hw)) app_user_error("eval: --size: expected HxW (e.g. 16x32), got '%s'", v);
    }
    else if (!strcmp(k, "--sampler"))
      a->sampler = v;
    else if (!strcmp(k, "--shift"))
      a->shift = parse_flag_float("eval", k, v, 0.01f, 100.0f);
    else if (!strcmp(k, "--cfg")) {
      char *end;
      float x = strtof(v, &end);
      if (!*v || *end || !isfinite(x) || x < 0.0f || x > 100.0f)
        app_user_error("eval: --cfg: expected a number in [0, 100], got '%s'", v);
      a->cfg = x;
    } else
      app_user_error("eval: unknown option '%s' (see tessera eval --help)", k);
  }
}

int cmd_eval(int argc, char **argv) {
  EvalArgs a = {.suite = "configs/eval/shapes.yaml", .out = "runs/eval", .seeds = 1, .seed = -1, .use_ema = 1,
                .cfg = -1.0f, .shift = -1.0f, .upscale = 4};
  if (argc < 2) {
    usage();
    return 2;
  }
  parse(&a, argc, argv);
  TsrErr err = {0};
  if (!a.ckpt) app_fail(&(TsrErr){TSR_EXIT_USER, "eval: --ckpt is required (see tessera eval --help)"});
  EvalSuite suite;
  if (eval_suite_load(a.suite, &suite, err.msg, sizeof err.msg) != 0) app_fail(&err);
  InferSession ses;
  if (infer_open(&ses, a.ckpt, a.use_ema, a.dev, &err) || infer_gate_open(&ses, a.policy, &err)) app_fail(&err);
  if (infer_shape_flags(&ses, a.hw[0], a.hw[1], a.frames, "eval", &err)) app_fail(&err);
  const EvalRunOptions o = {.suite_path = a.suite, .out = a.out, .seeds = a.seeds, .upscale = a.upscale,
                            .keyframe = a.keyframe, .use_ema = a.use_ema,
                            .flags = {.steps = a.steps, .cfg = a.cfg, .shift = a.shift, .sampler = a.sampler,
                                      .seed = a.seed}};
  EvalReport rep;
  if (eval_run(&ses, &suite, &o, &rep, &err) != 0) app_fail(&err);
  eval_report_print(&rep);
  char json_path[600];
  snprintf(json_path, sizeof json_path, "%s/eval.json", a.out);
  if (eval_report_write_json(&rep, json_path, &err) != 0) app_fail(&err);
  printf("wrote %s and %d videos under %s/ (%.1fs)\n", json_path, rep.nv, a.out, rep.seconds);
  eval_report_free(&rep);
  eval_suite_free(&suite);
  infer_close(&ses);
  return 0;
}
