// One path from a request to a finished video, for generate, render and eval:
//   pipeline_sampler   the sampler settings: flags over the checkpoint's sample config
//   pipeline_generate  conditioning inputs read and fitted, the video sampled
//   pipeline_write     MP4 (upscaled for watching), contact sheet, provenance record
// A new output feature (signing, a watermark, latent decoding) is added here once.
#pragma once
#include <stdint.h>

#include "core/error.h"
#include "infer/outputs.h"
#include "infer/sampler.h"
#include "infer/session.h"

// Sampler flags as the user gave them; unset ones come from the checkpoint.
typedef struct {
  int steps;            // 0: unset
  float cfg, shift;     // < 0: unset
  const char *sampler;  // NULL: unset ("euler" or "heun")
  long long seed;       // < 0: unset
} SamplerFlags;
#define SAMPLER_FLAGS_UNSET ((SamplerFlags){.steps = 0, .cfg = -1.0f, .shift = -1.0f, .sampler = NULL, .seed = -1})

// The resolved settings (t0 = 1, the session's text encoder) and the sampler's
// name. cmd names the command in the error ("generate: --sampler: expected ...").
int pipeline_sampler(const InferSession *s, const SamplerFlags *f, const char *cmd, SamplerOptions *so,
                     const char **name, TsrErr *err);

// One video to make.
typedef struct {
  const char *prompt;
  const char *what;      // names the prompt in warnings ("--prompt", "item 3 (line 4)")
  const char *flag;      // prefix of the input names in messages: "--" (generate) or "" (render)
  uint64_t seed;
  int frames;            // 0: the mode's default; GenerateRequest.frames says what it counts
  const char *image, *extend, *first, *last, *remix;  // input files (NULL: none); first/last: image or video
  float strength;        // remix: noised to t = strength (0: 0.7)
  int extend_frames;     // frames of an input video that condition (0: GenerateRequest.context's default)
  int keyframe;          // text-to-video through a keyframe (GenerateRequest.keyframe)
  int backward, loop, new_only;  // extend backward; a seamless loop; output only the made frames
  // Inputs given as pixels at the model size (eval), instead of files: before the
  // new frames (lead), after them (tail), a video to remix (source).
  const uint8_t *lead, *tail, *source;
  int nlead, ntail, nsource;
  int upscale;           // MP4 upscale factor (0: to >= 256 px); checked against memory
} VideoRequest;

typedef struct {
  uint8_t *frames;  // [n,H,W,3], owned (pipeline_video_free)
  int n, H, W;
  double seconds;   // sampling time
} Video;

// frames 1 is an image (docs/choices.md "Images"), made from text alone: the
// input or edit that contradicts it ("image", "extend", "loop", ...), or NULL.
const char *pipeline_image_conflict(const VideoRequest *rq);

// Reads and fits the request's inputs, checks it fits the model and memory,
// and samples. so: pipeline_sampler's settings (its seed is replaced by the
// request's). Every rank of a distributed generation calls it.
int pipeline_generate(InferSession *s, const SamplerOptions *so, const VideoRequest *rq, Video *out, TsrErr *err);
void pipeline_video_free(Video *v);

// What a run's outputs share in their provenance records.
typedef struct {
  const char *ckpt;
  long long ckpt_step;
  char ckpt_sha256[65];
  int use_ema;
  const char *sampler;        // "euler" / "heun"
  const SamplerOptions *so;   // steps, cfg, shift
  int ranks, dp, cfg_parallel, sp, tp;
  const char *render_prompts;  // render: the prompt list (NULL otherwise)
} OutputContext;

// Fills the checkpoint's part of oc from the session (hashing the file).
int pipeline_output_context(OutputContext *oc, const InferSession *s, int use_ema, const char *sampler,
                            const SamplerOptions *so, TsrErr *err);

typedef struct {
  OutputPaths paths;
  char sha256[65];  // of the MP4 as written
  long long bytes;
} WrittenVideo;

// Writes mp4 (its sheet and record beside it: OUT.png, OUT.json), each under a
// temporary name, renamed together (infer/outputs.h). render_index/line: the
// item's place in a prompt list (render only).
int pipeline_write(const OutputContext *oc, const VideoRequest *rq, const Video *v, const char *mp4, int render_index,
                   int render_line, WrittenVideo *w, TsrErr *err);
