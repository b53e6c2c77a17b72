// `tessera generate`: prompt (+ image / video conditioning) -> MP4, a PNG
// contact sheet and a JSON provenance sidecar. Under mpirun the ranks share
// the work (src/infer/dist.h): --sp / --tp shard one clip's model, --cfg-parallel
// puts the two guidance branches on two ranks, and the replicas left over
// split a --prompts list.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/parse.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/timer.h"
#include "data/image_io.h"
#include "data/video_io.h"
#include "infer/dist.h"
#include "infer/generate.h"
#include "infer/session.h"
#include "infer/watch.h"

#define TESSERA_VERSION "0.1.0"

typedef struct {
  const char *ckpt, *prompt, *prompts, *out, *image, *extend, *first, *last, *remix, *sampler;
  int frames, steps, seed, upscale, extend_frames, use_ema, keyframe;
  int sp, tp, cfg_parallel;
  float cfg, shift, strength;
  char size[32];
} GenArgs;

static void usage(void) {
  printf("usage: tessera generate --ckpt F --prompt P --out F.mp4 [options]\n"
         "  --frames T        output frames (default: the model window; longer = window after window)\n"
         "  --size HxW        must equal the model's frame size (default)\n"
         "  --steps N --cfg G --shift S --sampler euler|heun --seed N   (defaults from the checkpoint's sample config)\n"
         "  --image FILE      image-to-video: the video starts from this image (PNG, JPEG, or a video's first frame)\n"
         "  --extend VIDEO    continue VIDEO: its last --extend-frames frames (default half a window) lead in\n"
         "  --first PNG --last PNG   fill the frames between two images\n"
         "  --remix VIDEO --strength s   redo VIDEO under the prompt, noising it to t=s (0..1)\n"
         "  --upscale K       nearest-neighbour upscale of the MP4 frames (default: to >= 256 px)\n"
         "  --raw             sample with the raw weights instead of the EMA\n"
         "  --keyframe        text-to-video through a keyframe: make a clip, keep its first frame,\n"
         "                    make the video again from that image (twice the sampling)\n"
         "Under mpirun (world = dp x cfg x sp x tp ranks):\n"
         "  --sp S            split each clip's tokens over S ranks (sequence parallel)\n"
         "  --tp T            split the model's heads and MLP over T ranks (tensor parallel)\n"
         "  --cfg-parallel    the conditional and unconditional branches on two ranks\n"
         "  --prompts FILE    one prompt per line ('#' and blank lines skipped) instead of --prompt;\n"
         "                    --out is then a directory of NNN.mp4; the dp replicas split the list,\n"
         "                    prompt i uses seed + i\n");
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
    if (i + 1 >= argc) tsr_user_error("generate: %s: expected a value after it", k);
    const char *v = argv[++i];
    if (!strcmp(k, "--ckpt")) a->ckpt = v;
    else if (!strcmp(k, "--prompt")) a->prompt = v;
    else if (!strcmp(k, "--prompts")) a->prompts = v;
    else if (!strcmp(k, "--sp")) a->sp = parse_flag_int("generate", k, v, 1, 4096);
    else if (!strcmp(k, "--tp")) a->tp = parse_flag_int("generate", k, v, 1, 4096);
    else if (!strcmp(k, "--out")) a->out = v;
    else if (!strcmp(k, "--image")) a->image = v;
    else if (!strcmp(k, "--extend")) a->extend = v;
    else if (!strcmp(k, "--first")) a->first = v;
    else if (!strcmp(k, "--last")) a->last = v;
    else if (!strcmp(k, "--remix")) a->remix = v;
    else if (!strcmp(k, "--sampler")) a->sampler = v;
    else if (!strcmp(k, "--size")) snprintf(a->size, sizeof a->size, "%s", v);
    else if (!strcmp(k, "--frames")) a->frames = parse_flag_int("generate", k, v, 1, 100000);
    else if (!strcmp(k, "--steps")) a->steps = parse_flag_int("generate", k, v, 1, 10000);
    else if (!strcmp(k, "--seed")) a->seed = parse_flag_int("generate", k, v, 0, 2147483647);
    else if (!strcmp(k, "--upscale")) a->upscale = parse_flag_int("generate", k, v, 1, 64);
    else if (!strcmp(k, "--extend-frames")) a->extend_frames = parse_flag_int("generate", k, v, 1, 100000);
    else if (!strcmp(k, "--cfg")) a->cfg = parse_flag_float("generate", k, v, 0.0f, 100.0f);
    else if (!strcmp(k, "--shift")) a->shift = parse_flag_float("generate", k, v, 0.01f, 100.0f);
    else if (!strcmp(k, "--strength")) a->strength = parse_flag_float("generate", k, v, 0.01f, 1.0f);
    else tsr_user_error("generate: unknown option '%s' (see tessera generate --help)", k);
  }
  (void)defaults;
}

// Read an image or video file as frames at H x W (scaled and centre-cropped).
static VideoFrames load_frames(const char *what, const char *path, int H, int W, int max_frames) {
  VideoFrames raw = {0}, fit = {0};
  char err[256];
  if (video_read(path, 0.0f, max_frames, &raw, err, sizeof err) != 0)
    tsr_user_error("%s: %s: cannot decode: %s", what, path, err);
  video_resize_crop(&raw, H, W, &fit);
  video_frames_free(&raw);
  return fit;
}

// FNV-1a 64 of the checkpoint file: identifies the weights in the provenance record.
static unsigned long long file_hash(const char *path) {
  FILE *f = fopen(path, "rb");
  unsigned long long h = 1469598103934665603ULL;
  if (!f) return 0;
  unsigned char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    for (size_t i = 0; i < n; i++) h = (h ^ buf[i]) * 1099511628211ULL;
  fclose(f);
  return h;
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
    else fputc(ch, f);
  }
  fputc('"', f);
}

static void progress(int i, int n, void *ctx) {
  progress_bar(stderr, "denoising", i, n, timer_now() - *(double *)ctx);
}

// The prompts to make: --prompt, or the lines of --prompts.
static int read_prompts(const GenArgs *a, char ***out) {
  if (!a->prompts) {
    *out = tsr_calloc(1, sizeof(char *));
    (*out)[0] = strdup(a->prompt);
    return 1;
  }
  FILE *f = fopen(a->prompts, "r");
  if (!f) tsr_user_error("generate: --prompts %s: cannot open", a->prompts);
  int n = 0, cap = 16;
  char **v = tsr_calloc((size_t)cap, sizeof(char *)), line[4096];
  for (int lineno = 1; fgets(line, sizeof line, f); lineno++) {
    size_t len = strcspn(line, "\r\n");
    if (!line[len] && !feof(f))
      tsr_user_error("generate: --prompts %s:%d: longer than %zu characters", a->prompts, lineno, sizeof line - 2);
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
  fclose(f);
  if (n == 0) tsr_user_error("generate: --prompts %s: no prompt in it (one per line)", a->prompts);
  *out = v;
  return n;
}

typedef struct {
  const GenArgs *a;
  const char *sampler;
  const SamplerOptions *so;
  const CkptState *st;
  const GenLayout *gl;
} Provenance;

// Upscale for watching, write MP4 + contact sheet + provenance next to `out`.
static void write_outputs(const Provenance *pv, const char *out, const char *prompt, uint64_t seed,
                          const uint8_t *video, int frames, int H, int W, double secs) {
  const GenArgs *a = pv->a;
  const GenLayout *gl = pv->gl;
  char err[256];
  const int k = watch_upscale_factor(H, a->upscale), UH = H * k, UW = W * k;
  uint8_t *big = watch_upscale(video, frames, H, W, k);
  if (fs_mkdirs_for(out) != 0) tsr_user_error("generate: --out %s: cannot create its directory", out);
  if (video_write_mp4(out, big, frames, UH, UW, 8.0f, err, sizeof err) != 0)
    tsr_user_error("generate: --out %s: cannot write: %s", out, err);
  char side[1024];
  snprintf(side, sizeof side, "%.*s", (int)(strlen(out) - (strstr(out, ".mp4") ? 4 : 0)), out);
  char sheet_path[1100], json_path[1100];
  snprintf(sheet_path, sizeof sheet_path, "%s.png", side);
  snprintf(json_path, sizeof json_path, "%s.json", side);
  if (watch_contact_sheet(sheet_path, video, frames, H, W, err, sizeof err) != 0)
    tsr_user_error("generate: %s: %s", sheet_path, err);
  char tmp[1200];
  snprintf(tmp, sizeof tmp, "%s.tmp", json_path);
  FILE *f = fopen(tmp, "w");
  if (!f) tsr_user_error("generate: %s: cannot write", json_path);
  const SamplerOptions *so = pv->so;
  fprintf(f, "{\"prompt\":");
  json_string(f, prompt);
  fprintf(f, ",\"seed\":%llu,\"sampler\":\"%s\",\"steps\":%d,\"cfg\":%g,\"shift\":%g,\"frames\":%d,\"size\":[%d,%d],",
          (unsigned long long)seed, pv->sampler, so->steps, so->cfg, so->shift, frames, H, W);
  fprintf(f, "\"keyframe\":%s,\"conditioning\":{\"image\":", a->keyframe ? "true" : "false");
  json_string(f, a->image ? a->image : "");
  fprintf(f, ",\"extend\":");
  json_string(f, a->extend ? a->extend : "");
  fprintf(f, ",\"first\":");
  json_string(f, a->first ? a->first : "");
  fprintf(f, ",\"last\":");
  json_string(f, a->last ? a->last : "");
  fprintf(f, ",\"remix\":");
  json_string(f, a->remix ? a->remix : "");
  fprintf(f, ",\"strength\":%g},\"checkpoint\":", a->remix ? a->strength : 0.0);
  json_string(f, a->ckpt);
  fprintf(f, ",\"checkpoint_step\":%lld,\"checkpoint_fnv1a64\":\"%016llx\",\"weights\":\"%s\",", (long long)pv->st->step,
          file_hash(a->ckpt), a->use_ema ? "ema" : "raw");
  fprintf(f, "\"layout\":{\"ranks\":%d,\"dp\":%d,\"cfg_parallel\":%s,\"sp\":%d,\"tp\":%d},", comm_world_size(), gl->dp,
          gl->cfg == 2 ? "true" : "false", gl->sp, gl->tp);
  fprintf(f, "\"generator\":\"tessera %s\",\"ai_generated\":true,\"seconds\":%.2f}\n", TESSERA_VERSION, secs);
  fclose(f);
  rename(tmp, json_path);
  // every replica's writer reports its own files (log_info speaks for rank 0 only)
  printf("wrote %s (%d frames %dx%d, upscaled x%d), %s, %s in %.1fs\n", out, frames, H, W, k, sheet_path, json_path,
         secs);
  fflush(stdout);
  tsr_free(big);
}

int cmd_generate(int argc, char **argv) {
  GenArgs a = {.use_ema = 1, .sampler = NULL, .seed = -1, .cfg = -1, .shift = -1, .strength = 0.7f, .sp = 1, .tp = 1};
  if (argc < 2) {
    usage();
    return 2;
  }
  parse(&a, argc, argv, NULL);
  if (!a.ckpt || !(a.prompt || a.prompts) || !a.out)
    tsr_user_error("generate: --ckpt, --prompt (or --prompts) and --out are required");
  if (a.prompt && a.prompts) tsr_user_error("generate: use one of --prompt and --prompts");
  GenLayout gl;
  gen_layout_init(&gl, a.sp, a.tp, a.cfg_parallel, "generate");
  InferSession ses;
  infer_open_layout(&ses, a.ckpt, a.use_ema, gen_model_layout(&gl), gl.cfg == 2 ? 1 : 2);
  const Config cfg = ses.cfg;
  const ModelConfig *mc = &cfg.model;
  if (a.size[0]) {
    int h, w;
    if (sscanf(a.size, "%dx%d", &h, &w) != 2 || h != mc->height || w != mc->width)
      tsr_user_error("generate: --size %s: this model makes %dx%d frames", a.size, mc->height, mc->width);
  }
  SamplerOptions so = {.steps = a.steps ? a.steps : cfg.sample.steps, .cfg = a.cfg >= 0 ? a.cfg : cfg.sample.cfg,
                       .shift = a.shift > 0 ? a.shift : cfg.sample.shift, .seed = a.seed >= 0 ? (uint64_t)a.seed : cfg.sample.seed,
                       .progress = comm_world_rank() == 0 ? progress : NULL, .cfg_group = gen_cfg_group(&gl)};
  if (gl.cfg == 2 && so.cfg == 1.0f)
    comm_user_error_all("generate: --cfg-parallel needs classifier-free guidance (--cfg other than 1)");
  double t_start = timer_now();
  so.progress_ctx = &t_start;
  const char *sampler = a.sampler ? a.sampler : cfg.sample.sampler;
  if (strcmp(sampler, "euler") && strcmp(sampler, "heun"))
    tsr_user_error("generate: --sampler: expected euler or heun, got '%s'", sampler);
  so.heun = !strcmp(sampler, "heun");
  int32_t *tokens = tsr_calloc((size_t)mc->text_length, sizeof(int32_t));
  Model *m = &ses.model;
  const CkptState st = ses.state;

  const int T = mc->frames, H = mc->height, W = mc->width;
  GenerateRequest r = {.frames = a.frames ? a.frames : T, .sampler = so, .remix_strength = a.strength,
                       .keyframe = a.keyframe};
  VideoFrames first = {0}, last = {0}, remix = {0};
  if (!!a.image + !!a.extend + !!a.first > 1) tsr_user_error("generate: use one of --image, --extend, --first");
  if (a.keyframe && (a.image || a.extend || a.first || a.last || a.remix))
    tsr_user_error("generate: --keyframe is for text-to-video; --image, --extend, --first, --last and --remix give the frames");
  if (a.image || a.first) {
    first = load_frames(a.image ? "--image" : "--first", a.image ? a.image : a.first, H, W, 1);
    r.first = first.pixels, r.nfirst = 1;
  }
  if (a.extend) {
    VideoFrames all = load_frames("--extend", a.extend, H, W, 0);
    int k = a.extend_frames ? a.extend_frames : (T / 2) / mc->pt * mc->pt;
    if (all.T < k) tsr_user_error("--extend: %s: has %d frames, %d needed to lead in", a.extend, all.T, k);
    first = all;
    r.first = all.pixels + (size_t)(all.T - k) * H * W * 3, r.nfirst = k;
  }
  if (a.last) {
    last = load_frames("--last", a.last, H, W, 1);
    r.last = last.pixels, r.nlast = 1;
  }
  if (a.remix) {
    remix = load_frames("--remix", a.remix, H, W, T);
    if (remix.T < T) tsr_user_error("--remix: %s: has %d frames, the model window needs %d", a.remix, remix.T, T);
    r.remix = remix.pixels;
  }
  char **prompts;
  const int nprompts = read_prompts(&a, &prompts);
  if (gl.dp > nprompts)
    log_warn("generate: %d replicas for %d prompt(s): %d replicas idle", gl.dp, nprompts, gl.dp - nprompts);
  if (gl.dp > 1 || gl.sp > 1 || gl.tp > 1 || gl.cfg > 1)
    log_info("generate: %d ranks = %d replicas (dp) x cfg %d x sp %d x tp %d; activations %.1f MiB per rank",
             comm_world_size(), gl.dp, gl.cfg, gl.sp, gl.tp, (double)m->arena.size / 1048576.0);
  const Provenance pv = {.a = &a, .sampler = sampler, .so = &so, .st = &st, .gl = &gl};
  uint8_t *video = tsr_calloc((size_t)r.frames * H * W * 3, 1);
  char err[256];
  double t0 = timer_now();
  for (int i = gl.replica; i < nprompts; i += gl.dp) {  // this replica's share of the prompts
    const int ntokens = infer_encode(&ses, prompts[i], tokens, a.prompts ? a.prompts : "--prompt");
    r.sampler.seed = so.seed + (uint64_t)(a.prompts ? i : 0);
    double ti = timer_now();
    // (tsr_user_error: a replica without prompts never gets here)
    if (generate_video(m, tokens, ntokens, &r, video, err, sizeof err) != 0) tsr_user_error("generate: %s", err);
    char out[1100];
    if (a.prompts)
      snprintf(out, sizeof out, "%s/%03d.mp4", a.out, i);
    else
      snprintf(out, sizeof out, "%s", a.out);
    if (gl.writer) write_outputs(&pv, out, prompts[i], r.sampler.seed, video, r.frames, H, W, timer_now() - ti);
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
  video_frames_free(&first);
  video_frames_free(&last);
  video_frames_free(&remix);
  tsr_free(video);
  tsr_free(tokens);
  infer_close(&ses);
  gen_layout_free(&gl);
  return 0;
}
