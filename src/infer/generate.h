// Video generation on top of the sampler. Every mode is one mechanism
// (DESIGN.md "Conditioning masks"): a canvas of frames, some given (input
// videos, images) and some to make, covered by model windows; each window's
// latent frames that are already on the canvas enter clean (t = 0) and the
// others are sampled. The modes differ only in the canvas and the order of the
// windows (docs/choices.md "Edits"):
//   text-to-video        [made]                      windows forward from 0
//   image / extension    [first][made]               forward from the first's last k frames
//   backward extension   [made][last]                backward from the last's first k frames
//   connection           [first][made][last]         forward, the last window ending k into `last`
//   loop                 [clip][bridge][clip's start] the clip forward, then one bridge window
//   remix                [source, noised to t0]      forward, each window after the first
//                                                    conditioned on the previous one's overlap
#pragma once
#include <stdint.h>

#include "infer/sampler.h"
#include "model/model.h"

typedef struct {
  // The frames to make (0: the mode's default):
  //   text-to-video, loop, image inputs: the whole output (an image is pt frames of it);
  //   a video input (extension either way, connection): the new frames only;
  //   remix: the source's first `frames` (0: all of it).
  int frames;
  SamplerOptions sampler;  // steps, cfg, shift, heun, seed (t0 set from remix_strength)
  // Conditioning pixels at the model's H x W, uint8 RGB. An input of one frame
  // is an image (it fills a whole latent frame, pt video frames); longer is a
  // video, kept whole in the output (unless new_only) and conditioning through
  // its `context` frames nearest the new ones.
  const uint8_t *first;    // [nfirst,H,W,3] before the new frames (image-to-video, extension, connection)
  int nfirst;
  const uint8_t *last;     // [nlast,H,W,3] after them (interpolation, backward extension, connection)
  int nlast;
  int context;             // frames of a video input that condition (0: half a window for one
                           // input, a quarter for two; whole temporal patches)
  int new_only;            // output only the made frames, not the input videos or images
  int loop;                // a seamless loop: the last frames lead into the first (no `last`)
  const uint8_t *remix;    // [nremix,H,W,3] a video to redo under the prompt (SDEdit), window by window
  int nremix;
  float remix_strength;    // t0 in (0,1]: how much of the source is noised away
  int overlap;             // frames shared by consecutive windows of a long video (0: T/2)
  // Text-to-video through a keyframe (factorised, as Emu Video does): a first
  // pass makes a clip, its first frame is kept, and the video is made again from
  // that image (image-to-video). Only without other conditioning; twice the cost.
  int keyframe;
} GenerateRequest;

// How many frames generate_video writes for r (into *n). Returns 0, or -1 with
// a reason in err (a request the model cannot serve: too short, misaligned).
int generate_output_frames(const ModelConfig *c, const GenerateRequest *r, int *n, char *err, int errlen);

// out: [generate_output_frames,H,W,3]. The model must hold activations for 2
// samples (CFG). The caller's tokens [L] / ntokens describe the prompt.
// Returns 0, or -1 with a reason in err (a request the model cannot serve).
int generate_video(Model *m, const int32_t *tokens, int ntokens, const GenerateRequest *r, uint8_t *out, char *err,
                   int errlen);

// The canvas's frames (docs/vae.md "Edits and long videos in latent space"):
// generate_video's are uint8 RGB pixels; a latent model's are its normalised
// latent frames (infer/latent_codec.h). A window's frames [T] of `frame`
// bytes each <-> the model's patches [N,P] (video: scratch of T*H*W*C floats).
typedef struct {
  size_t frame;
  void (*to_patches)(const ModelConfig *c, const uint8_t *frames, float *video, float *patches);
  void (*from_patches)(const ModelConfig *c, const float *patches, float *video, uint8_t *frames);
} FrameSpace;
// generate_video over frames of `space`: r's first / last / remix and out hold
// frames of space->frame bytes; frames, context and overlap count them.
int generate_canvas(Model *m, const FrameSpace *space, const int32_t *tokens, int ntokens, const GenerateRequest *r,
                    uint8_t *out, char *err, int errlen);

// A long video is at most this many windows (hours of sampling on a CPU for
// the demo model; docs/choices.md).
enum { GENERATE_MAX_WINDOWS = 1024 };
// Whether a request for `frames` frames can be served before any work is
// done: at most GENERATE_MAX_WINDOWS windows, and the whole video (its frames
// and the k-times upscaled copy the MP4 is encoded from) within `mem` bytes.
// Returns 0, or -1 with "at most N frames ..." in err.
int generate_frames_fit(const ModelConfig *c, int frames, int k, uint64_t mem, char *err, int errlen);
