// Spacetime patches <-> clips on the host (DESIGN.md "The model"): tokens in
// (t,h,w) row-major order, a patch vector (pt,ph,pw,C) row-major, clips
// channels-last [T,H,W,C]. The corpus writer patchifies its own bytes; these
// serve the latent corpus encoder and the latent codec (floats).
#pragma once

// patches [N, P] -> clip [T, H, W, C]
void latent_unpatchify(const float *patches, int T, int H, int W, int C, int pt, int ph, int pw, float *clip);
