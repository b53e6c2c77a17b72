// `tessera generate`: prompt (+ image / video conditioning) -> MP4, a PNG
// contact sheet and a JSON provenance sidecar. Under mpirun the ranks share
// the work (src/infer/dist.h): --sp / --tp shard one clip's model, --cfg-parallel
// puts the two guidance branches on two ranks, and the replicas left over
// split a --prompts list.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/error.h"
#include "app/flags.h"
#include "core/parse.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/timer.h"
#include "media/image_io.h"
#include "media/video_io.h"
#include "infer/dist.h"
#include "infer/budget.h"
#include "infer/pipeline.h"
#include "infer/eval.h"
#include "app/app_error.h"
#include "app/device_flag.h"
#include "infer/session.h"
#include "media/watch.h"

typedef struct {
  const char *ckpt, *prompt, *prompts, *out, *image, *extend, *first, *last, *remix, *sampler, *policy;
  int frames, steps, seed, upscale, extend_frames, use_ema, keyframe, backward, loop, new_only;
  InferDevice dev;
  int sp, ring, tp, cfg_parallel;
  float cfg, shift, strength;
  const char *size;  // --size as given
  int height, width;  // its value
} GenArgs;

enum { MAX_PROMPT = 4094 };  // characters on a line of --prompts

static void usage(void) {
  printf("usage: tessera generate --ckpt F --prompt P --out F.mp4 [options]\n"
         "  --frames T        frames to make (default: the model window; longer = window after window,\n"
         "                    at most 1024 windows and what memory holds); with an input video\n"
         "                    (--extend, --first/--last videos) the new frames only (default: one window's);\n"
         "                    1: an image from the prompt alone, --out F.png (or a one-frame .mp4)\n"
         "  --size HxW        frame size: any within the model's maximum, divisible by its patch (default: the\n"
         "                    maximum; a warning when the checkpoint never trained on the shape)\n"
         "  --steps N --cfg G --shift S --sampler euler|heun --seed N   (defaults from the checkpoint's sample config)\n"
         "  --image FILE      image-to-video: the video starts from this image (PNG, JPEG, or a video's first frame)\n"
         "  --extend VIDEO    continue VIDEO: its last --extend-frames frames (default half a window) lead in;\n"
         "                    the output is VIDEO and then the new frames\n"
         "  --backward        with --extend: make what came before VIDEO (its first frames lead out)\n"
         "  --first F --last F   fill the frames between two images, or connect two videos (the end of\n"
         "                    the first and the start of the last condition; both kept in the output)\n"
         "  --new-only        output only the new frames, without the input videos\n"
         "  --extend-frames K frames of an input video that condition (default: half a window, a quarter\n"
         "                    each for two videos; whole temporal patches)\n"
         "  --loop            a seamless loop: a clip, then a bridge from its end into its start\n"
         "                    (--frames: the loop's length; --image: the loop starts from it)\n"
         "  --remix VIDEO --strength s   redo all of VIDEO under the prompt, window by window, noising\n"
         "                    it to t=s (0..1); --frames N: its first N frames only\n"
         "  --upscale K       nearest-neighbour upscale of the MP4 frames (default: to >= 256 px)\n"
         "  --raw             sample with the raw weights instead of the EMA\n"
         "  --policy F        the prompt safety policy (default $TSR_SAFETY_POLICY, else configs/safety/policy.yaml;\n"
         "                    docs/safety.md)\n"
         DEVICE_FLAG_HELP
         "  --keyframe        text-to-video through a keyframe: make a clip, keep its first frame,\n"
         "                    make the video again from that image (twice the sampling)\n"
         "Under mpirun (world = dp x cfg x sp x tp ranks):\n"
         "  --sp S            split each clip's tokens over S ranks (sequence parallel)\n"
         "  --ring R          R of the S ranks pass keys and values round a ring (ring attention; R divides S);\n"
         "                    the other S/R split the heads (Ulysses), so heads need divide by tp x S/R only\n"
         "  --tp T            split the model's heads and MLP over T ranks (tensor parallel)\n"
         "  --cfg-parallel    the conditional and unconditional branches on two ranks\n"
         "  --prompts FILE    one prompt per line ('#' and blank lines skipped) instead of --prompt;\n"
         "                    --out is then a directory of NNN.mp4; the dp replicas split the list,\n"
         "                    prompt i uses seed + i\n");
}

// Edits that contradict each other (the library checks lengths and sizes).
static void check_edits(const GenArgs *a) {
  if (a->backward && !a->extend)
    app_user_error("generate: --backward needs --extend VIDEO (it makes what came before that video)");
  if (a->loop && (a->last || a->first || a->extend || a->remix || a->keyframe))
    app_user_error("generate: --loop with %s: a loop's end leads into its own start, so it takes no other ends "
                   "(only --image to start from)",
                   a->last ? "--last" : a->first ? "--first" : a->extend ? "--extend" : a->remix ? "--remix" : "--keyframe");
  if (a->remix && (a->image || a->extend || a->first))
    app_user_error("generate: --remix with %s: a remix redoes every frame of its video; give the frames one way",
                   a->image ? "--image" : a->extend ? "--extend" : "--first");
  if (a->new_only && !a->extend && !a->first)
    app_user_error("generate: --new-only drops the input video from the output; there is none (--extend, --first/--last)");
}

// --frames 1 is an image (docs/choices.md "Images"): from text alone, written
// as a PNG (or a one-frame MP4); a .png is one frame.
static void check_image(const GenArgs *a) {
  const VideoRequest probe = {.frames = a->frames, .image = a->image, .extend = a->extend, .first = a->first,
                              .last = a->last, .remix = a->remix, .loop = a->loop, .keyframe = a->keyframe};
  const char *conflict = pipeline_image_conflict(&probe);
  if (conflict)
    app_user_error("generate: --frames 1 with --%s: one frame is an image, made from the prompt alone (the edits "
                   "need a video)", conflict);
  const size_t n = a->out && !a->prompts ? strlen(a->out) : 0;
  if ((n >= 4 && !strcasecmp(a->out + n - 4, ".jpg")) || (n >= 5 && !strcasecmp(a->out + n - 5, ".jpeg")))
    app_user_error("generate: --out %s: images are written as PNG (name it .png)", a->out);
  if (n && output_is_image(a->out) && a->frames != 1)
  {
    char got[64];
    snprintf(got, sizeof got, a->frames ? "got %d" : "without --frames, the model window", a->frames);
    app_user_error("generate: --out %s is an image: expected --frames 1 (%s; a video is written as .mp4)", a->out, got);
  }
}

static void parse(GenArgs *a, int argc, char **argv, const SampleConfig *defaults) {
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
      usage();
      exit(0);
    }
    if (!strcmp(k, "--raw")) { a->use_ema = 0; continue; }
    if (!strcmp(k, "--cfg-parallel")) { a->cfg_parallel = 1; continue; }
    if (!strcmp(k, "--keyframe")) { a->keyframe = 1; continue; }
    if (!strcmp(k, "--backward")) { a->backward = 1; continue; }
    if (!strcmp(k, "--loop")) { a->loop = 1; continue; }
    if (!strcmp(k, "--new-only")) { a->new_only = 1; continue; }
    if (device_flag(&a->dev, "generate", argc, argv, &i)) continue;
    if (i + 1 >= argc) app_user_error("generate: %s: expected a value after it", k);
    const char *v = argv[++i];
    if (!strcmp(k, "--ckpt")) a->ckpt = v;
    else if (!strcmp(k, "--policy")) a->policy = v;
    else if (!strcmp(k, "--prompt")) a->prompt = v;
    else if (!strcmp(k, "--prompts")) a->prompts = v;
    else if (!strcmp(k, "--sp")) a->sp = parse_flag_int("generate", k, v, 1, 4096);
    else if (!strcmp(k, "--ring")) a->ring = parse_flag_int("generate", k, v, 1, 4096);
    else if (!strcmp(k, "--tp")) a->tp = parse_flag_int("generate", k, v, 1, 4096);
    else if (!strcmp(k, "--out")) a->out = v;
    else if (!strcmp(k, "--image")) a->image = v;
    else if (!strcmp(k, "--extend")) a->extend = v;
    else if (!strcmp(k, "--first")) a->first = v;
    else if (!strcmp(k, "--last")) a->last = v;
    else if (!strcmp(k, "--remix")) a->remix = v;
    else if (!strcmp(k, "--sampler")) a->sampler = v;
    else if (!strcmp(k, "--size")) {
      int hw[2];
      if (parse_dims(v, 2, hw)) app_user_error("generate: --size: expected HxW (e.g. 32x48), got '%s'", v);
      a->size = v, a->height = hw[0], a->width = hw[1];
    }
    else if (!strcmp(k, "--frames")) a->frames = parse_flag_int("generate", k, v, 1, 100000);
    else if (!strcmp(k, "--steps")) a->steps = parse_flag_int("generate", k, v, 1, 10000);
    else if (!strcmp(k, "--seed")) a->seed = parse_flag_int("generate", k, v, 0, 2147483647);
    else if (!strcmp(k, "--upscale")) a->upscale = parse_flag_int("generate", k, v, 1, 64);
    else if (!strcmp(k, "--extend-frames")) a->extend_frames = parse_flag_int("generate", k, v, 1, 100000);
    else if (!strcmp(k, "--cfg")) a->cfg = parse_flag_float("generate", k, v, 0.0f, 100.0f);
    else if (!strcmp(k, "--shift")) a->shift = parse_flag_float("generate", k, v, 0.01f, 100.0f);
    else if (!strcmp(k, "--strength")) a->strength = parse_flag_float("generate", k, v, 0.01f, 1.0f);
    else app_user_error("generate: unknown option '%s' (see tessera generate --help)", k);
  }
  (void)defaults;
  check_edits(a);
  check_image(a);
  if (a->last && !a->first)
    app_user_error("generate: --last needs --first (interpolation fills the frames between two images)");
}

static void progress(int i, int n, void *ctx) {
  progress_bar(stderr, "denoising", i, n, timer_now() - *(double *)ctx);
}

// The prompts to make: --prompt, or the lines of --prompts. Each is UTF-8
// text without NUL bytes (the provenance record holds it as JSON).
static int read_prompts(const GenArgs *a, char ***out) {
  char why[128];
  int at;
  if (!a->prompts) {
    if (text_check(a->prompt, strlen(a->prompt), &at, why, sizeof why))
      app_user_error("generate: --prompt: %s (a prompt is UTF-8 text)", why);
    *out = tsr_calloc(1, sizeof(char *));
    (*out)[0] = strdup(a->prompt);
    return 1;
  }
  FILE *f = fopen(a->prompts, "r");
  if (!f) app_user_error("generate: --prompts %s: cannot open: %s", a->prompts, strerror(errno));
  int n = 0, cap = 16;
  char **v = tsr_calloc((size_t)cap, sizeof(char *)), *line = NULL;
  size_t linecap = 0;
  ssize_t got;
  for (int lineno = 1; (got = getline(&line, &linecap, f)) > 0; lineno++) {
    if (text_check(line, (size_t)got, &at, why, sizeof why))
      app_user_error("generate: --prompts %s:%d: %s (a prompt list is UTF-8 text)", a->prompts, lineno, why);
    size_t len = strcspn(line, "\r\n");
    if (len > MAX_PROMPT)
      app_user_error("generate: --prompts %s:%d: longer than %d characters", a->prompts, lineno, MAX_PROMPT);
    line[len] = 0;
    const char *p = line + strspn(line, " \t");
    if (!*p || *p == '#') continue;
    if (n == cap) {
      char **w = tsr_calloc((size_t)cap * 2, sizeof(char *));
      memcpy(w, v, (size_t)cap * sizeof(char *));
      tsr_free(v);
      v = w, cap *= 2;
    }
    v[n++] = strdup(p);
  }
  if (ferror(f)) app_user_error("generate: --prompts %s: cannot read: %s", a->prompts, strerror(errno));
  free(line);
  fclose(f);
  if (n == 0) app_user_error("generate: --prompts %s: no prompt in it (one per line)", a->prompts);
  *out = v;
  return n;
}

// Every output is written by the replica's writer rank; each reports its own
// files (log_info speaks for rank 0 only).
static void write_video(const OutputContext *oc, const VideoRequest *rq, const Video *v, const char *out) {
  WrittenVideo w;
  TsrErr err;
  if (pipeline_write(oc, rq, v, out, 0, 0, &w, &err) != 0) tsr_user_error("generate: %s", err.msg);
  if (!w.paths.sheet[0]) {  // an image
    printf("wrote %s (an image, %dx%d), %s in %.1fs\n", w.paths.mp4, v->H, v->W, w.paths.json, v->seconds);
    fflush(stdout);
    return;
  }
  printf("wrote %s (%d frames %dx%d, upscaled x%d), %s, %s in %.1fs\n", w.paths.mp4, v->n, v->H, v->W,
         watch_upscale_factor(v->H, rq->upscale), w.paths.sheet, w.paths.json, v->seconds);
  fflush(stdout);
}

// A loop's seam said in numbers: the last-to-first step against the others.
static void log_loop_seam(const Video *v) {
  float seam, median;
  loop_seam(v->frames, v->n, v->H, v->W, &seam, &median);
  printf("loop seam: last-to-first step %.2f, median of the other steps %.2f (mean abs difference, 0..255)\n", seam,
         median);
}

int cmd_generate(int argc, char **argv) {
  GenArgs a = {.use_ema = 1, .sampler = NULL, .seed = -1, .cfg = -1, .shift = -1, .strength = 0.7f, .sp = 1, .ring = 1, .tp = 1};
  if (argc < 2) {
    usage();
    return 2;
  }
  parse(&a, argc, argv, NULL);
  if (!a.ckpt || !(a.prompt || a.prompts) || !a.out)
    app_user_error("generate: --ckpt, --prompt (or --prompts) and --out are required");
  if (a.prompt && a.prompts) app_user_error("generate: use one of --prompt and --prompts");
  GenLayout gl;
  TsrErr lerr;
  if (gen_layout_init(&gl, a.sp, a.ring, a.tp, a.cfg_parallel, "generate", &lerr)) app_fail(&lerr);
  InferSession ses;
  TsrErr oerr = {0};
  if (infer_open_layout(&ses, a.ckpt, a.use_ema, gen_model_layout(&gl), gl.cfg == 2 ? 1 : 2, a.dev, &oerr))
    app_check(oerr.code != 0, &oerr);
  if (infer_gate_open(&ses, a.policy, &oerr)) app_fail(&oerr);  // the same file on every rank
  TsrErr err;
  // --frames picks a shorter window for a video made from nothing or an image,
  // and for a remix (the frames redone: a clip shorter than the maximum is
  // remixed in its own length's window); with a video to extend or connect it
  // counts the new frames (generate.h), made in the full window
  const int window_frames = a.extend || a.first || a.last ? 0 : a.frames;
  if (infer_shape_flags(&ses, a.size ? a.height : 0, a.size ? a.width : 0, window_frames, "generate", &err))
    app_fail(&err);
  const SamplerFlags flags = {.steps = a.steps, .cfg = a.cfg, .shift = a.shift, .sampler = a.sampler, .seed = a.seed};
  SamplerOptions so;
  const char *sampler;
  if (pipeline_sampler(&ses, &flags, "generate", &so, &sampler, &err)) app_user_error("%s", err.msg);
  so.progress = comm_world_rank() == 0 ? progress : NULL, so.cfg_group = gen_cfg_group(&gl);
  if (gl.cfg == 2 && so.cfg == 1.0f)
    app_fail(&(TsrErr){TSR_EXIT_USER, "generate: --cfg-parallel needs classifier-free guidance (--cfg other than 1)"});
  double t_start = timer_now();
  so.progress_ctx = &t_start;
  Model *m = &ses.model;
  if (!!a.image + !!a.extend + !!a.first > 1) app_user_error("generate: use one of --image, --extend, --first");
  if (a.keyframe && (a.image || a.extend || a.first || a.last || a.remix))
    app_user_error("generate: --keyframe is for text-to-video; --image, --extend, --first, --last and --remix give the frames");
  VideoRequest rq = {.what = a.prompts ? a.prompts : "--prompt", .flag = "--", .frames = a.frames,
                     .image = a.image, .extend = a.extend, .first = a.first, .last = a.last, .remix = a.remix,
                     .strength = a.strength, .extend_frames = a.extend_frames, .keyframe = a.keyframe,
                     .backward = a.backward, .loop = a.loop, .new_only = a.new_only, .upscale = a.upscale};
  char **prompts;
  const int nprompts = read_prompts(&a, &prompts);
  if (gl.dp > nprompts)
    log_warn("generate: %d replicas for %d prompt(s): %d replicas idle", gl.dp, nprompts, gl.dp - nprompts);
  if (gl.dp > 1 || gl.sp > 1 || gl.tp > 1 || gl.cfg > 1)
    log_info("generate: %d ranks = %d replicas (dp) x cfg %d x sp %d x tp %d; activations %.1f MiB per rank",
             comm_world_size(), gl.dp, gl.cfg, gl.sp, gl.tp, (double)m->arena.size / 1048576.0);
  OutputContext oc;
  if (gl.writer && pipeline_output_context(&oc, &ses, a.use_ema, sampler, &so, &err)) tsr_user_error("generate: %s", err.msg);
  oc.ranks = comm_world_size(), oc.dp = gl.dp, oc.cfg_parallel = gl.cfg == 2, oc.sp = gl.sp, oc.tp = gl.tp;
  double t0 = timer_now();
  int refused = 0;
  for (int i = gl.replica; i < nprompts; i += gl.dp) {  // this replica's share of the prompts
    rq.prompt = prompts[i];
    rq.seed = so.seed + (uint64_t)(a.prompts ? i : 0);
    Video v;
    // (a replica without prompts never gets here)
    if (pipeline_generate(&ses, &so, &rq, &v, &err) != 0) {
      if (err.code != TSR_EXIT_REFUSED) tsr_user_error("generate: %s", err.msg);
      // refused by the safety policy: said, nothing written, the other prompts go on; exit code 3
      if (gl.writer) fprintf(stderr, "tessera: error: generate: %s%s\n", a.prompts ? "" : "--prompt: ", err.msg);
      refused++;
      continue;
    }
    char out[1100];
    if (a.prompts)
      snprintf(out, sizeof out, "%s/%03d.%s", a.out, i, a.frames == 1 ? "png" : "mp4");
    else
      snprintf(out, sizeof out, "%s", a.out);
    if (gl.writer) write_video(&oc, &rq, &v, out);
    if (gl.writer && a.loop) log_loop_seam(&v);
    pipeline_video_free(&v);
  }
  double secs = timer_now() - t0;
  double *rss = tsr_calloc((size_t)comm_world_size(), sizeof(double));
  gen_peak_rss_mib(&gl, rss);
  if (comm_world_size() > 1) {
    char line[2048] = "";
    for (int k = 0; k < comm_world_size() && strlen(line) < sizeof line - 16; k++)
      snprintf(line + strlen(line), sizeof line - strlen(line), "%s%.0f", k ? " " : "", rss[k]);
    log_info("generate: %d prompt(s) in %.1fs; peak RSS per rank (MiB): %s", nprompts, secs, line);
  }
  tsr_free(rss);
  for (int i = 0; i < nprompts; i++) free(prompts[i]);
  tsr_free(prompts);
  infer_close(&ses);
  gen_layout_free(&gl);
  return refused ? TSR_EXIT_REFUSED : 0;
}
