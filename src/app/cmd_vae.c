// `tessera vae train|eval|encode|decode` (docs/vae.md "Commands"): the causal
// 3D autoencoder's commands over src/vae (the network, vae.h5, latent files)
// and train/vae_trainer.h (the loop). Errors come back as TsrErr and end
// here in app_fail: one line, exit 2.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_error.h"
#include "app/flags.h"
#include "core/fs.h"
#include "core/h5io.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/timer.h"
#include "comm/comm.h"
#include "kernels/backend.h"
#include "media/video_io.h"
#include "media/watch.h"
#include "train/vae_clips.h"
#include "train/vae_trainer.h"
#include "vae/vae_ckpt.h"
#include "vae/vae_latent_file.h"
#include "vae/vae_metrics.h"
#include "vae/vae_shard.h"

enum { VAE_CMD_CHUNK = 2 };

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera vae <sub> ...   the causal 3D autoencoder (docs/vae.md)\n"
          "  train CONFIG [key=value...]   train (configs/vae/*.yaml); keys: data.path (corpus.h5, or synth),\n"
          "        train.out, train.steps, train.batch, train.lr, train.min_lr (lr/10), train.warmup (cosine\n"
          "        decay from lr to min_lr after the warm-up), train.weight_decay, train.seed,\n"
          "        train.ckpt_every, train.log_every, train.resume (auto or a path), train.overwrite,\n"
          "        clip.frames, clip.height, clip.width\n"
          "  eval --ckpt F --data C [--out DIR] [--clips N] [--dump]   PSNR and SSIM per held-out clip,\n"
          "        eval.json, sheet.png (input | reconstruction); C: a corpus.h5, or synth (shapes-world\n"
          "        clips); --dump also writes clips.h5 (/input, /recon [n,T,H,W,C]) to check the metrics\n"
          "  encode --ckpt F IN.mp4 --out L.h5 [--frames N] [--height H --width W] [--chunk K]   the posterior mean\n"
          "  decode --ckpt F L.h5 --out OUT.mp4 [--chunk K]   under mpirun -np R: R ranks share the frames\n"
          "        --chunk K: latent frames per chunk (K ct pixel frames; default %d): the video goes through\n"
          "        chunk by chunk with a causal cache, so memory does not grow with its length; 0: the whole\n"
          "        video at once (one rank; memory grows with the length: for comparison)\n",
          VAE_CMD_CHUNK);
}

// A VAE from a checkpoint, laid out for inference on one clip of T x H x W.
static void load_vae(const char *ckpt, Vae *v, TsrErr *err) {
  VaeConfig cfg;
  APP_TRY(vae_ckpt_read_config(ckpt, &cfg, err), err);
  vae_build(v, &cfg, backend_cpu());
  APP_TRY(vae_ckpt_load(ckpt, v, NULL, NULL, err), err);
}

static uint8_t to_u8(float x) {
  const float y = roundf((fminf(fmaxf(x, -1.0f), 1.0f) + 1.0f) * 127.5f);
  return (uint8_t)y;
}

static int cmd_train_vae(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  TsrErr err = {0};
  VaeConfig cfg;
  APP_TRY(vae_config_load(&cfg, argv[1], &err), &err);
  VaeTrainOpts o;
  vae_train_opts_default(&o);
  for (int i = 2; i < argc; i++) APP_TRY(vae_train_opts_set(&o, argv[i], &err), &err);
  APP_TRY(vae_train_run(&cfg, &o, backend_cpu(), &err), &err);
  return 0;
}

// Flags of eval / encode / decode: --name VALUE pairs and positional files.
typedef struct {
  const char *ckpt, *data, *out, *in;
  int clips, frames, height, width, dump, chunk;
} Args;

static void parse(const char *cmd, int argc, char **argv, Args *a) {
  TsrErr err = {0};
  *a = (Args){.clips = 8, .chunk = VAE_CMD_CHUNK};
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
      usage(stdout);
      exit(0);
    }
    if (!strcmp(f, "--dump")) {
      a->dump = 1;
      continue;
    }
    if (f[0] != '-') {
      if (a->in) tsr_err(&err, "vae %s: %s: expected one input file, got a second one", cmd, f), app_fail(&err);
      a->in = f;
      continue;
    }
    if (i + 1 >= argc) tsr_err(&err, "vae %s: %s: expected a value", cmd, f), app_fail(&err);
    const char *v = argv[++i];
    if (!strcmp(f, "--ckpt")) a->ckpt = v;
    else if (!strcmp(f, "--data")) a->data = v;
    else if (!strcmp(f, "--out")) a->out = v;
    else if (!strcmp(f, "--clips")) a->clips = parse_flag_int(cmd, f, v, 1, 1 << 20);
    else if (!strcmp(f, "--frames")) a->frames = parse_flag_int(cmd, f, v, 1, 1 << 16);
    else if (!strcmp(f, "--height")) a->height = parse_flag_int(cmd, f, v, 1, 1 << 16);
    else if (!strcmp(f, "--width")) a->width = parse_flag_int(cmd, f, v, 1, 1 << 16);
    else if (!strcmp(f, "--chunk")) a->chunk = parse_flag_int(cmd, f, v, 0, 1 << 12);
    else tsr_err(&err, "vae %s: %s: unknown flag (see tessera vae --help)", cmd, f), app_fail(&err);
  }
  if (!a->ckpt) tsr_err(&err, "vae %s: --ckpt: expected a VAE checkpoint (vae.h5)", cmd), app_fail(&err);
}

// Row `row` of the contact sheet video [T, rows*H, 2W, 3]: the input clip
// on the left, its reconstruction on the right.
static void sheet_put(uint8_t *sheet, int rows, int row, const float *x, const float *y, int T, int H, int W) {
  for (int t = 0; t < T; t++)
    for (int h = 0; h < H; h++)
      for (int w = 0; w < W; w++)
        for (int c = 0; c < 3; c++) {
          const size_t src = (((size_t)t * H + h) * W + w) * 3 + c;
          const size_t dst = ((((size_t)t * rows + row) * H + h) * 2 * W + w) * 3 + c;
          sheet[dst] = to_u8(x[src]);
          sheet[dst + (size_t)W * 3] = to_u8(y[src]);
        }
}

static int cmd_eval_vae(int argc, char **argv) {
  Args a;
  parse("eval", argc, argv, &a);
  TsrErr err = {0};
  const char *data = a.data ? a.data : "synth";
  const char *out = a.out ? a.out : "vae_eval";
  Vae v = {0};
  load_vae(a.ckpt, &v, &err);
  int T = a.frames, H = a.height, W = a.width;
  const int synth = !strcmp(data, "synth");
  if (synth) {  // held-out shapes-world clips: a seed no training run defaults to
    if (T <= 0) T = 1 + 2 * v.cfg.ct;
    if (H <= 0) H = v.cfg.cs < 4 ? 16 : 4 * v.cfg.cs;
    if (W <= 0) W = H;
  }
  VaeClips *clips = vae_clips_open(data, &T, &H, &W, 0, 0, 1, 0x5eedfeedULL, &err);
  if (!clips) app_fail(&err);
  if (vae_clips_channels(clips) != v.cfg.in_channels)
    tsr_err(&err, "%s: channels: expected %d (the checkpoint's vae.in_channels), got %d", data, v.cfg.in_channels,
            vae_clips_channels(clips)),
        app_fail(&err);
  APP_TRY(vae_check_clip(&v.cfg, T, H, W, data, &err), &err);
  APP_TRY(vae_alloc(&v, 1, T, H, W, VAE_INFER, &err), &err);
  int n = vae_clips_count(clips) < 0 ? a.clips : vae_clips_count(clips);
  if (a.clips < n) n = a.clips;
  if (fs_mkdirs(out)) tsr_err(&err, "%s: --out: expected a writable directory: %s", out, strerror(errno)), app_fail(&err);
  const size_t clip_n = (size_t)T * H * W * v.cfg.in_channels;
  float *x = malloc(clip_n * sizeof(float)), *y = malloc(clip_n * sizeof(float));
  float *lat = malloc(vae_latent_floats(&v) * sizeof(float));
  const int rows = n < 4 ? n : 4;
  uint8_t *sheet = calloc((size_t)T * rows * H * 2 * W * 3, 1);
  json_t *list = json_array();
  float *dump_x = a.dump ? malloc((size_t)n * clip_n * sizeof(float)) : NULL;
  float *dump_y = a.dump ? malloc((size_t)n * clip_n * sizeof(float)) : NULL;
  double psnr_sum = 0, ssim_sum = 0;
  for (int i = 0; i < n; i++) {
    APP_TRY(vae_clips_read(clips, i, x, &err), &err);
    vae_encode(&v, x, lat);
    vae_decode(&v, lat, y);
    for (size_t j = 0; j < clip_n; j++) y[j] = fminf(fmaxf(y[j], -1.0f), 1.0f);  // what a video shows
    double ssim;
    APP_TRY(vae_ssim(x, y, T, H, W, v.cfg.in_channels, data, &ssim, &err), &err);
    const double psnr = vae_psnr(x, y, clip_n);
    psnr_sum += psnr, ssim_sum += ssim;
    json_array_append_new(list, json_pack("{s:i, s:o, s:o}", "clip", i, "psnr", jx_round(psnr, 7), "ssim", jx_round(ssim, 7)));
    if (dump_x) {
      memcpy(dump_x + (size_t)i * clip_n, x, clip_n * sizeof(float));
      memcpy(dump_y + (size_t)i * clip_n, y, clip_n * sizeof(float));
    }
    if (i < rows && v.cfg.in_channels == 3) sheet_put(sheet, rows, i, x, y, T, H, W);
    log_info("clip %d | psnr %.3f dB | ssim %.4f", i, psnr, ssim);
  }
  char path[1100], why[512];
  json_t *doc = json_pack("{s:o, s:o, s:i, s:[i,i,i], s:o, s:o, s:s, s:o}", "checkpoint", jx_string(a.ckpt), "data",
                          jx_string(data), "clips", n, "clip_size", T, H, W, "psnr_mean", jx_round(psnr_sum / n, 7),
                          "ssim_mean", jx_round(ssim_sum / n, 7), "ssim", "gaussian 11x11 sigma 1.5, valid windows",
                          "per_clip", list);
  snprintf(path, sizeof path, "%s/eval.json", out);
  if (jx_write_file(doc, path, why, sizeof why)) tsr_err(&err, "%s", why), app_fail(&err);
  json_decref(doc);
  if (v.cfg.in_channels == 3) {
    snprintf(path, sizeof path, "%s/sheet.png", out);
    if (watch_contact_sheet(path, sheet, T, rows * H, 2 * W, why, sizeof why)) tsr_err(&err, "%s: %s", path, why), app_fail(&err);
  }
  if (dump_x) {
    snprintf(path, sizeof path, "%s/clips.h5", out);
    const int64_t dims[5] = {n, T, H, W, v.cfg.in_channels};
    hid_t f = h5_create(path);
    h5_write(f, "/input", H5T_NATIVE_FLOAT, dump_x, 5, dims);
    h5_write(f, "/recon", H5T_NATIVE_FLOAT, dump_y, 5, dims);
    h5_close(f);
    free(dump_x), free(dump_y);
  }
  printf("psnr %.3f dB | ssim %.4f | %d clips | %s/eval.json\n", psnr_sum / n, ssim_sum / n, n, out);
  free(x), free(y), free(lat), free(sheet);
  vae_clips_close(clips);
  vae_free(&v);
  return 0;
}

// The largest centred crop of the frames whose size fits the compression
// (1 + k ct frames, multiples of cs), after an optional resize.
static void fit_video(VideoFrames *vf, const VaeConfig *c, int frames, int height, int width) {
  if (height > 0 || width > 0) {
    VideoFrames r;
    video_resize_crop(vf, height > 0 ? height : vf->H, width > 0 ? width : vf->W, &r);
    video_frames_free(vf);
    *vf = r;
  }
  int T = vf->T < frames || frames <= 0 ? vf->T : frames;
  T = 1 + (T - 1) / c->ct * c->ct;
  const int H = vf->H / c->cs * c->cs, W = vf->W / c->cs * c->cs, y0 = (vf->H - H) / 2, x0 = (vf->W - W) / 2;
  uint8_t *px = malloc((size_t)T * H * W * 3);
  for (int t = 0; t < T; t++)
    for (int y = 0; y < H; y++)
      memcpy(px + (((size_t)t * H + y) * W) * 3, vf->pixels + (((size_t)t * vf->H + y + y0) * vf->W + x0) * 3, (size_t)W * 3);
  free(vf->pixels);
  vf->pixels = px, vf->T = T, vf->H = H, vf->W = W;
}

// One line of what a chunked pass did: frames, time, the chunk, the arena, peak RSS.
static void report(const char *what, const Vae *v, int frames, double secs, int ranks) {
  log_info("%s: %d frames in %.2f s (%.1f frames/s) on %d rank(s), chunks of %d latent frames, arena %.2f MiB, "
           "peak RSS %.1f MiB", what, frames, secs, frames / (secs > 0 ? secs : 1e-9), ranks, v->chunk,
           (double)v->arena.size / 1048576.0, peak_rss_mb());
}

static int cmd_encode_vae(int argc, char **argv) {
  Args a;
  parse("encode", argc, argv, &a);
  TsrErr err = {0};
  if (!a.in || !a.out) tsr_err(&err, "vae encode: expected IN.mp4 and --out L.h5"), app_fail(&err);
  Vae v = {0};
  load_vae(a.ckpt, &v, &err);
  if (v.cfg.in_channels != 3)
    tsr_err(&err, "%s: vae.in_channels: expected 3 (RGB video), got %d", a.ckpt, v.cfg.in_channels), app_fail(&err);
  VideoFrames vf;
  char why[512];
  if (video_read(a.in, 0, a.frames, &vf, why, sizeof why)) tsr_err(&err, "%s: %s", a.in, why), app_fail(&err);
  fit_video(&vf, &v.cfg, a.frames, a.height, a.width);
  APP_TRY(vae_check_clip(&v.cfg, vf.T, vf.H, vf.W, a.in, &err), &err);
  if (a.chunk) APP_TRY(vae_alloc_chunked(&v, 1, a.chunk, vf.H, vf.W, VAE_CHUNK_ENCODE, &err), &err);
  else APP_TRY(vae_alloc(&v, 1, vf.T, vf.H, vf.W, VAE_INFER, &err), &err);
  VaeLatentFile l = {.T = vf.T, .H = vf.H, .W = vf.W, .t = vae_latent_t(&v.cfg, vf.T), .h = vf.H / v.cfg.cs,
                     .w = vf.W / v.cfg.cs, .z = v.cfg.latent_channels, .fps = vf.fps > 0 ? vf.fps : 8};
  if (sha256_file(a.ckpt, l.vae_sha256, NULL)) tsr_err(&err, "%s: cannot read: %s", a.ckpt, strerror(errno)), app_fail(&err);
  const size_t frame = (size_t)vf.H * vf.W * 3, lat_f = (size_t)l.h * l.w * l.z;
  const int per = a.chunk ? a.chunk * v.cfg.ct : vf.T;  // frames per pass
  float *x = malloc((size_t)per * frame * sizeof(float));  // one chunk of frames in [-1, 1]
  l.latent = malloc((size_t)l.t * lat_f * sizeof(float));
  const double t0 = timer_now();
  if (a.chunk) vae_chunk_reset(&v);
  for (int f0 = 0, z0 = 0; f0 < vf.T;) {
    const int n = !a.chunk ? vf.T : f0 == 0 ? 1 : (vf.T - f0 < per ? vf.T - f0 : per);
    for (size_t i = 0; i < (size_t)n * frame; i++) x[i] = vf.pixels[(size_t)f0 * frame + i] / 127.5f - 1.0f;
    if (a.chunk) z0 += vae_encode_chunk(&v, x, f0, n, l.latent + (size_t)z0 * lat_f);
    else vae_encode(&v, x, l.latent);
    f0 += n;
  }
  report("encode", &v, vf.T, timer_now() - t0, 1);
  APP_TRY(vae_latent_write(a.out, &l, &v.cfg, &err), &err);
  printf("%s: %d frames of %dx%d -> latent %dx%dx%dx%d\n", a.out, l.T, l.H, l.W, l.t, l.h, l.w, l.z);
  free(x), free(l.latent);
  video_frames_free(&vf);
  vae_free(&v);
  return 0;
}

static void to_pixels(uint8_t *px, const float *y, size_t n) {
  for (size_t i = 0; i < n; i++) px[i] = to_u8(y[i]);
}

// Decode on one rank chunk by chunk, each chunk's frames straight to pixels:
// memory is one chunk's plus the output's bytes.
static void decode_local(Vae *v, const VaeLatentFile *l, int chunk, uint8_t *px) {
  const size_t frame = (size_t)l->H * l->W * 3, lat_f = (size_t)l->h * l->w * l->z;
  float *y = malloc((size_t)chunk * v->cfg.ct * frame * sizeof(float));
  vae_chunk_reset(v);
  for (int t0 = 0, f0 = 0; t0 < l->t;) {
    const int n = t0 == 0 ? 1 : (l->t - t0 < chunk ? l->t - t0 : chunk);
    const int F = vae_decode_chunk(v, l->latent + (size_t)t0 * lat_f, t0, n, y);
    to_pixels(px + (size_t)f0 * frame, y, (size_t)F * frame);
    t0 += n, f0 += F;
  }
  free(y);
}

static int cmd_decode_vae(int argc, char **argv) {
  Args a;
  parse("decode", argc, argv, &a);
  TsrErr err = {0};
  if (!a.in || !a.out) tsr_err(&err, "vae decode: expected L.h5 and --out OUT.mp4"), app_fail(&err);
  Vae v = {0};
  load_vae(a.ckpt, &v, &err);
  if (v.cfg.in_channels != 3)
    tsr_err(&err, "%s: vae.in_channels: expected 3 (RGB video), got %d", a.ckpt, v.cfg.in_channels), app_fail(&err);
  VaeLatentFile l;
  APP_TRY(vae_latent_read(a.in, &v.cfg, &l, &err), &err);
  char sha[65];
  if (sha256_file(a.ckpt, sha, NULL) == 0 && strcmp(sha, l.vae_sha256))
    log_warn("%s was encoded by another checkpoint (vae_sha256 %.12s..., %s is %.12s...)", a.in, l.vae_sha256, a.ckpt, sha);
  const int ranks = comm_world_size(), root = comm_world_rank() == 0;
  if (!a.chunk && ranks > 1) tsr_err(&err, "vae decode: --chunk 0: expected one rank (ranks decode in chunks)"), app_fail(&err);
  if (a.chunk) APP_TRY(vae_alloc_chunked(&v, 1, a.chunk, l.H, l.W, VAE_CHUNK_DECODE, &err), &err);
  else APP_TRY(vae_alloc(&v, 1, l.T, l.H, l.W, VAE_INFER, &err), &err);
  const size_t n = (size_t)l.T * l.H * l.W * 3;
  uint8_t *px = root ? malloc(n) : NULL;
  const double t0 = timer_now();
  if (!a.chunk) {
    float *y = malloc(n * sizeof(float));
    vae_decode(&v, l.latent, y);
    to_pixels(px, y, n);
    free(y);
  } else if (ranks == 1) {
    decode_local(&v, &l, a.chunk, px);
  } else {  // every rank its piece of the frames (a halo recomputed before it), gathered on rank 0
    CommContext cc;
    comm_layout(&cc, ranks, 1, 1, "vae decode");
    float *y = root ? malloc(n * sizeof(float)) : NULL;
    int a1, b1;
    vae_shard_piece(l.t, 1, ranks, &a1, &b1);
    log_info("decode: %d latent frames over %d ranks, about %d each; rank 1 recomputes a halo of %d latent frames "
             "before its piece", l.t, ranks, b1 - a1, a1 - vae_decode_halo_start(&v, a1));
    vae_decode_sharded(&v, &cc.world, l.latent, l.t, y);
    if (root) to_pixels(px, y, n);
    free(y);
    comm_free(&cc);
  }
  report("decode", &v, l.T, timer_now() - t0, ranks);
  char why[512];
  if (root && video_write_mp4(a.out, px, l.T, l.H, l.W, l.fps, why, sizeof why))
    tsr_err(&err, "%s: %s", a.out, why), app_fail(&err);
  if (root) printf("%s: %d frames of %dx%d\n", a.out, l.T, l.H, l.W);
  free(px), free(l.latent);
  vae_free(&v);
  return 0;
}

int cmd_vae(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *sub = argv[1];
  if (!strcmp(sub, "train")) return cmd_train_vae(argc - 1, argv + 1);
  if (!strcmp(sub, "eval")) return cmd_eval_vae(argc - 1, argv + 1);
  if (!strcmp(sub, "encode")) return cmd_encode_vae(argc - 1, argv + 1);
  if (!strcmp(sub, "decode")) return cmd_decode_vae(argc - 1, argv + 1);
  TsrErr err = {0};
  tsr_err(&err, "vae %s: unknown subcommand: expected train, eval, encode or decode", sub);
  app_fail(&err);
}
