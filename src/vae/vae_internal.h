// Internal to src/vae: the host staging conversions (layout.c).
#pragma once
#include "vae/vae.h"

// [B,T,H,W,C] -> [B,C,T,H,W] and back, host memory.
void vae_host_to_ncdhw(float *dst, const float *src, int B, int T, int H, int W, int C);
void vae_host_from_ncdhw(float *dst, const float *src, int B, int T, int H, int W, int C);
