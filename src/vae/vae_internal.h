// Internal to src/vae: the host staging conversions (layout.c) and one
// node's forward step (run.c, also run chunk by chunk by chunk.c).
#pragma once
#include "vae/vae.h"

// [B,T,H,W,C] -> [B,C,T,H,W] and back, host memory.
void vae_host_to_ncdhw(float *dst, const float *src, int B, int T, int H, int W, int C);
void vae_host_from_ncdhw(float *dst, const float *src, int B, int T, int H, int W, int C);
// Frames [src_t0, src_t0 + n) of each of B clips of src_T frames into frames
// [dst_t0, ...) of clips of dst_T frames; a frame is frame_floats floats (host).
void vae_host_frames(float *dst, int dst_T, int dst_t0, const float *src, int src_T, int src_t0, int n, int B,
                     size_t frame_floats);
// out = f(in) of one node on the tensors' current shapes.
void vae_node_forward(Vae *v, const VaeNode *n);
// Forgets a chunked layout (chunk.c): its staging buffers, caches, window.
void vae_chunk_release(Vae *v);
