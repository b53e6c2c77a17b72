// Reconstruction quality of clips [T,H,W,C] in [-1,1] (docs/vae.md "Eval"),
// both on the [0,1] scale (x+1)/2 with data range 1:
//   PSNR = 10 log10(1 / MSE) over every value of the clip;
//   SSIM = the mean over frames, channels and every 11x11 window that lies
//   wholly inside the frame (no padding) of Wang et al.'s
//   (2 mu_a mu_b + C1)(2 s_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(s_a^2 + s_b^2 + C2)),
//   the moments weighted by a normalised Gaussian of sigma 1.5, C1 = 0.01^2,
//   C2 = 0.03^2 (scikit-image's structural_similarity with
//   gaussian_weights=True, use_sample_covariance=False, data_range=1, whose
//   mean excludes the same border).
#pragma once
#include <stddef.h>

#include "core/error.h"

#define VAE_SSIM_WIN 11

double vae_psnr(const float *a, const float *b, size_t n);
// -1 with a line naming `what` when a frame is smaller than the window.
int vae_ssim(const float *a, const float *b, int T, int H, int W, int C, const char *what, double *out, TsrErr *err);
