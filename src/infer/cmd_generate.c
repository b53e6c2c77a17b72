// `tessera generate`: prompt (+ image / video conditioning) -> MP4, a PNG
// contact sheet and a JSON provenance sidecar.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/timer.h"
#include "data/image_io.h"
#include "data/video_io.h"
#include "infer/generate.h"
#include "infer/session.h"

#define TESSERA_VERSION "0.1.0"

typedef struct {
  const char *ckpt, *prompt, *out, *image, *extend, *first, *last, *remix, *sampler;
  int frames, steps, seed, upscale, extend_frames, use_ema;
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
         "  --raw             sample with the raw weights instead of the EMA\n");
}

static float parse_float(const char *flag, const char *v, float lo, float hi) {
  char *end;
  float x = strtof(v, &end);
  if (*end || !isfinite(x) || x < lo || x > hi)
    tsr_user_error("generate: %s: expected a number in [%g, %g], got '%s'", flag, lo, hi, v);
  return x;
}

static int parse_int(const char *flag, const char *v, int lo, int hi) {
  char *end;
  long x = strtol(v, &end, 10);
  if (*end || x < lo || x > hi) tsr_user_error("generate: %s: expected an integer in [%d, %d], got '%s'", flag, lo, hi, v);
  return (int)x;
}

static void parse(GenArgs *a, int argc, char **argv, const SampleConfig *defaults) {
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
      usage();
      exit(0);
    }
    if (!strcmp(k, "--raw")) { a->use_ema = 0; continue; }
    if (i + 1 >= argc) tsr_user_error("generate: %s: expected a value after it", k);
    const char *v = argv[++i];
    if (!strcmp(k, "--ckpt")) a->ckpt = v;
    else if (!strcmp(k, "--prompt")) a->prompt = v;
    else if (!strcmp(k, "--out")) a->out = v;
    else if (!strcmp(k, "--image")) a->image = v;
    else if (!strcmp(k, "--extend")) a->extend = v;
    else if (!strcmp(k, "--first")) a->first = v;
    else if (!strcmp(k, "--last")) a->last = v;
    else if (!strcmp(k, "--remix")) a->remix = v;
    else if (!strcmp(k, "--sampler")) a->sampler = v;
    else if (!strcmp(k, "--size")) snprintf(a->size, sizeof a->size, "%s", v);
    else if (!strcmp(k, "--frames")) a->frames = parse_int(k, v, 1, 100000);
    else if (!strcmp(k, "--steps")) a->steps = parse_int(k, v, 1, 10000);
    else if (!strcmp(k, "--seed")) a->seed = parse_int(k, v, 0, 2147483647);
    else if (!strcmp(k, "--upscale")) a->upscale = parse_int(k, v, 1, 64);
    else if (!strcmp(k, "--extend-frames")) a->extend_frames = parse_int(k, v, 1, 100000);
    else if (!strcmp(k, "--cfg")) a->cfg = parse_float(k, v, 0.0f, 100.0f);
    else if (!strcmp(k, "--shift")) a->shift = parse_float(k, v, 0.01f, 100.0f);
    else if (!strcmp(k, "--strength")) a->strength = parse_float(k, v, 0.01f, 1.0f);
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

int cmd_generate(int argc, char **argv) {
  GenArgs a = {.use_ema = 1, .sampler = NULL, .seed = -1, .cfg = -1, .shift = -1, .strength = 0.7f};
  if (argc < 2) {
    usage();
    return 2;
  }
  parse(&a, argc, argv, NULL);
  if (!a.ckpt || !a.prompt || !a.out) tsr_user_error("generate: --ckpt, --prompt and --out are required");
  InferSession ses;
  infer_open(&ses, a.ckpt, a.use_ema);
  const Config cfg = ses.cfg;
  const ModelConfig *mc = &cfg.model;
  if (a.size[0]) {
    int h, w;
    if (sscanf(a.size, "%dx%d", &h, &w) != 2 || h != mc->height || w != mc->width)
      tsr_user_error("generate: --size %s: this model makes %dx%d frames", a.size, mc->height, mc->width);
  }
  SamplerOptions so = {.steps = a.steps ? a.steps : cfg.sample.steps, .cfg = a.cfg >= 0 ? a.cfg : cfg.sample.cfg,
                       .shift = a.shift > 0 ? a.shift : cfg.sample.shift, .seed = a.seed >= 0 ? (uint64_t)a.seed : cfg.sample.seed,
                       .progress = progress};
  double t_start = timer_now();
  so.progress_ctx = &t_start;
  const char *sampler = a.sampler ? a.sampler : cfg.sample.sampler;
  if (strcmp(sampler, "euler") && strcmp(sampler, "heun"))
    tsr_user_error("generate: --sampler: expected euler or heun, got '%s'", sampler);
  so.heun = !strcmp(sampler, "heun");
  int32_t *tokens = tsr_calloc((size_t)mc->text_length, sizeof(int32_t));
  int ntokens = infer_encode(&ses, a.prompt, tokens, "--prompt");
  Model *m = &ses.model;
  const CkptState st = ses.state;

  const int T = mc->frames, H = mc->height, W = mc->width;
  GenerateRequest r = {.frames = a.frames ? a.frames : T, .sampler = so, .remix_strength = a.strength};
  VideoFrames first = {0}, last = {0}, remix = {0};
  if (!!a.image + !!a.extend + !!a.first > 1) tsr_user_error("generate: use one of --image, --extend, --first");
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
  uint8_t *video = tsr_calloc((size_t)r.frames * H * W * 3, 1);
  char err[256];
  double t0 = timer_now();
  if (generate_video(m, tokens, ntokens, &r, video, err, sizeof err) != 0) tsr_user_error("generate: %s", err);
  double secs = timer_now() - t0;

  // Upscale for watching, write MP4 + contact sheet + provenance.
  int k = a.upscale ? a.upscale : (256 + H - 1) / H;
  int UH = H * k, UW = W * k;
  uint8_t *big = tsr_calloc((size_t)r.frames * UH * UW * 3, 1);
  for (int f = 0; f < r.frames; f++)
    for (int y = 0; y < UH; y++)
      for (int x = 0; x < UW; x++)
        memcpy(big + (((size_t)f * UH + y) * UW + x) * 3, video + (((size_t)f * H + y / k) * W + x / k) * 3, 3);
  if (fs_mkdirs_for(a.out) != 0) tsr_user_error("generate: --out %s: cannot create its directory", a.out);
  if (video_write_mp4(a.out, big, r.frames, UH, UW, 8.0f, err, sizeof err) != 0)
    tsr_user_error("generate: --out %s: cannot write: %s", a.out, err);
  char side[1024];
  snprintf(side, sizeof side, "%.*s", (int)(strlen(a.out) - (strstr(a.out, ".mp4") ? 4 : 0)), a.out);
  char sheet_path[1100], json_path[1100];
  snprintf(sheet_path, sizeof sheet_path, "%s.png", side);
  snprintf(json_path, sizeof json_path, "%s.json", side);
  int cols = r.frames < 8 ? r.frames : 8, step = r.frames / cols;
  uint8_t *sheet = tsr_calloc((size_t)H * 2 * W * 2 * cols * 3, 1);
  for (int i = 0; i < cols; i++)
    for (int y = 0; y < 2 * H; y++)
      for (int x = 0; x < 2 * W; x++)
        memcpy(sheet + ((size_t)y * 2 * W * cols + i * 2 * W + x) * 3,
               video + (((size_t)(i * step) * H + y / 2) * W + x / 2) * 3, 3);
  if (png_write_rgb(sheet_path, sheet, 2 * H, 2 * W * cols, err, sizeof err) != 0)
    tsr_user_error("generate: %s: %s", sheet_path, err);
  char tmp[1200];
  snprintf(tmp, sizeof tmp, "%s.tmp", json_path);
  FILE *f = fopen(tmp, "w");
  if (!f) tsr_user_error("generate: %s: cannot write", json_path);
  fprintf(f, "{\"prompt\":");
  json_string(f, a.prompt);
  fprintf(f, ",\"seed\":%llu,\"sampler\":\"%s\",\"steps\":%d,\"cfg\":%g,\"shift\":%g,\"frames\":%d,\"size\":[%d,%d],",
          (unsigned long long)so.seed, sampler, so.steps, so.cfg, so.shift, r.frames, H, W);
  fprintf(f, "\"conditioning\":{\"image\":");
  json_string(f, a.image ? a.image : "");
  fprintf(f, ",\"extend\":");
  json_string(f, a.extend ? a.extend : "");
  fprintf(f, ",\"first\":");
  json_string(f, a.first ? a.first : "");
  fprintf(f, ",\"last\":");
  json_string(f, a.last ? a.last : "");
  fprintf(f, ",\"remix\":");
  json_string(f, a.remix ? a.remix : "");
  fprintf(f, ",\"strength\":%g},\"checkpoint\":", a.remix ? a.strength : 0.0);
  json_string(f, a.ckpt);
  fprintf(f, ",\"checkpoint_step\":%lld,\"checkpoint_fnv1a64\":\"%016llx\",\"weights\":\"%s\",", (long long)st.step,
          file_hash(a.ckpt), a.use_ema ? "ema" : "raw");
  fprintf(f, "\"generator\":\"tessera %s\",\"ai_generated\":true,\"seconds\":%.2f}\n", TESSERA_VERSION, secs);
  fclose(f);
  rename(tmp, json_path);
  log_info("wrote %s (%d frames %dx%d, upscaled x%d), %s, %s in %.1fs", a.out, r.frames, H, W, k, sheet_path, json_path,
           secs);
  video_frames_free(&first);
  video_frames_free(&last);
  video_frames_free(&remix);
  tsr_free(sheet);
  tsr_free(big);
  tsr_free(video);
  tsr_free(tokens);
  infer_close(&ses);
  return 0;
}
