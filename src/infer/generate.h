// Video generation on top of the sampler: pixel conditioning (image-to-video,
// extension, first/last frame interpolation, remix) and long videos made
// window after window, each new window conditioned on the overlapping end of
// the previous one.
#pragma once
#include <stdint.h>

#include "infer/sampler.h"
#include "model/model.h"

typedef struct {
  int frames;              // output frames: the model window T, or more for a long video
  SamplerOptions sampler;  // steps, cfg, shift, heun, seed (t0 set from remix_strength)
  // Conditioning pixels at the model's H x W, uint8 RGB:
  const uint8_t *first;    // [nfirst,H,W,3] frames the video starts with (an image: nfirst = 1)
  int nfirst;
  const uint8_t *last;     // [nlast,H,W,3] frames it ends with (interpolation; single window only)
  int nlast;
  const uint8_t *remix;    // [T,H,W,3] a video to redo under the prompt (SDEdit)
  float remix_strength;    // t0 in (0,1]: how much of the source is noised away
  int overlap;             // frames shared by consecutive windows of a long video (0: T/2)
  // Text-to-video through a keyframe (factorised, as Emu Video does): a first
  // pass makes a clip, its first frame is kept, and the video is made again from
  // that image (image-to-video). Only without other conditioning; twice the cost.
  int keyframe;
} GenerateRequest;

// out: [frames,H,W,3]. The model must hold activations for 2 samples (CFG).
// The caller's tokens [L] / ntokens describe the prompt. Returns 0, or -1
// with a reason in err (a request the model cannot serve).
int generate_video(Model *m, const int32_t *tokens, int ntokens, const GenerateRequest *r, uint8_t *out, char *err,
                   int errlen);

// A long video is at most this many windows (hours of sampling on a CPU for
// the demo model; docs/choices.md).
enum { GENERATE_MAX_WINDOWS = 1024 };
// Whether a request for `frames` frames can be served before any work is
// done: at most GENERATE_MAX_WINDOWS windows, and the whole video (its frames
// and the k-times upscaled copy the MP4 is encoded from) within `mem` bytes.
// Returns 0, or -1 with "at most N frames ..." in err.
int generate_frames_fit(const ModelConfig *c, int frames, int k, uint64_t mem, char *err, int errlen);
