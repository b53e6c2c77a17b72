// Host-side layout changes between tessera's channels-last videos
// [B,T,H,W,C] and the autoencoder's NCDHW [B,C,T,H,W]: the staging copies
// of clips and latents on their way to and from the backend (host memory
// only, like the model's HostBatch).
#include "vae/vae_internal.h"

void vae_host_to_ncdhw(float *dst, const float *src, int B, int T, int H, int W, int C) {
  const size_t S = (size_t)T * H * W;
  for (int b = 0; b < B; b++)
    for (size_t s = 0; s < S; s++)
      for (int c = 0; c < C; c++) dst[((size_t)b * C + c) * S + s] = src[((size_t)b * S + s) * C + c];
}

void vae_host_from_ncdhw(float *dst, const float *src, int B, int T, int H, int W, int C) {
  const size_t S = (size_t)T * H * W;
  for (int b = 0; b < B; b++)
    for (size_t s = 0; s < S; s++)
      for (int c = 0; c < C; c++) dst[((size_t)b * S + s) * C + c] = src[((size_t)b * C + c) * S + s];
}

void vae_host_frames(float *dst, int dst_T, int dst_t0, const float *src, int src_T, int src_t0, int n, int B,
                     size_t frame_floats) {
  const size_t len = (size_t)n * frame_floats;
  for (int b = 0; b < B; b++) {
    float *d = dst + ((size_t)b * dst_T + dst_t0) * frame_floats;
    const float *s = src + ((size_t)b * src_T + src_t0) * frame_floats;
    for (size_t i = 0; i < len; i++) d[i] = s[i];
  }
}
