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
