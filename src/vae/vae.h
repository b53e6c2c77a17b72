// The causal 3D video autoencoder (docs/vae.md): a KL-regularised latent,
// causal convolutions (an image is a one-frame video), residual blocks with
// GroupNorm + SiLU, strided down-sampling and nearest up-sampling. Computes
// only through the backend table (kernels/backend.h): parameters and
// gradients in one buffer each (core/params.h, state-dict names), every
// activation in one arena sized by a measuring pass.
//
// Clips cross the API on the host as tessera's videos, float [B,T,H,W,C]
// in [-1,1]; latents as [B,T',H',W',Z] (T' = 1 + (T-1)/ct, H' = H/cs, Z the
// latent channels), the same channels-last layout the DiT patches.
//
// Use:
//   vae_build(&v, &cfg, be); params_init(&v.params, seed);
//   vae_alloc(&v, B, T, H, W, VAE_TRAIN, &err); // sizes the arena for clips of that shape
//   params_zero_grad(&v.params);
//   float loss = vae_forward(&v, clips, sample0, seed);   // recon + beta KL
//   vae_backward(&v);                           // parameter gradients (+=)
//   vae_encode(&v, clips, mean_out);  vae_decode(&v, latents, clips_out);
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/params.h"
#include "kernels/backend.h"
#include "vae/vae_config.h"

typedef enum { VN_CONV, VN_NORM, VN_SILU, VN_UP, VN_ADD } VaeNodeKind;

// One step of the network: out = f(in [, in2]) with parameters at offsets w, b.
typedef struct {
  VaeNodeKind kind;
  int in, in2, out;  // tensor ids
  size_t w, b;       // VN_CONV, VN_NORM: weight and bias offsets in the parameter table
  Conv3dGeom g;      // VN_CONV: kernel, stride, padding (build); sizes (vae_alloc)
  int up[3];         // VN_UP: factors (t, h, w); time is upsampled causally
  float *mean, *rstd;  // VN_NORM: saved frame-wise statistics [B, groups, frames] (arena)
  // chunked inference (vae_alloc_chunked): a causal conv's cache, the last
  // cache_frames = kd - sd frames of its input from the previous chunk [B, c, cache_frames, h, w]
  float *cache;
  int cache_frames;
} VaeNode;

// An activation: per-sample shape (c, d, h, w) and, in the arena, its
// values x and gradient g (NULL in VAE_INFER), [B, c, d, h, w] each (NCDHW).
typedef struct {
  int c, d, h, w;
  float *x, *g;
} VaeTensor;

enum { VAE_MAX_NODES = 512, VAE_MAX_TENSORS = 512 };

// What an arena is laid out for: VAE_INFER holds no gradients (about half
// the memory; vae_forward still returns the loss, vae_backward may not run).
enum VaeMode { VAE_INFER = 0, VAE_TRAIN = 1 };

typedef struct {
  VaeConfig cfg;
  const Backend *be;
  ParamTable params;
  VaeNode nodes[VAE_MAX_NODES];
  int n_nodes, n_enc;  // nodes [0, n_enc) encode, [n_enc, n_nodes) decode
  VaeTensor t[VAE_MAX_TENSORS];
  int n_tensors;
  int t_x, t_moments, t_z, t_recon;  // the clip, the encoder's (mean; logvar), the latent, the reconstruction
  // activations (vae_alloc)
  int B, T, H, W;
  enum VaeMode mode;
  Arena arena;
  float *eps;      // [B, Z, T', H', W'] standard normal draws of the posterior sample
  float *scalars;  // [2]: recon loss, kl (backend memory)
  float *host_x, *host_eps, *host_lat;  // host staging: the clip NCDHW, eps, a latent
  // chunked inference (vae_alloc_chunked; 0 / NULL after vae_alloc)
  int chunk;       // latent frames per chunk (ct * chunk frames); 0: laid out for whole clips
  int passes;      // VAE_CHUNK_ENCODE | VAE_CHUNK_DECODE
  float *window;   // scratch: a conv's [cache | chunk] input, or a chunk spatially upsampled
  float *host_in, *host_out;  // host staging of one chunk, channels-last (whole-video calls with B > 1)
  // the last forward's terms
  float recon_loss, kl;
} Vae;

// Declares the parameter table and the network in the backend's memory (no
// activations yet). cfg must be finalized (vae_config_load does it).
void vae_build(Vae *v, const VaeConfig *cfg, const Backend *be);
// (Re)lays out the activations for batches of B clips of T x H x W; -1 with
// the reason when the clip does not fit the compression.
int vae_alloc(Vae *v, int B, int T, int H, int W, enum VaeMode mode, TsrErr *e);
void vae_free(Vae *v);
// Encode, sample z = mean + exp(logvar/2) eps (eps ~ N(0,1) from the
// counter RNG keyed (seed, RNG_VAE, sample0 + b, latent site, channel)),
// decode, and return the loss recon + kl_weight * kl (its terms in
// v->recon_loss, v->kl). clips: host [B,T,H,W,C].
float vae_forward(Vae *v, const float *clips, uint32_t sample0, uint64_t seed);
// Gradients of the last forward's loss, accumulated (+=) into v->params.grad.
void vae_backward(Vae *v);
// The posterior mean of clips (host [B,T,H,W,C]) into latents (host [B,T',H',W',Z]).
void vae_encode(Vae *v, const float *clips, float *latents);
// The decoder's clips (host [B,T,H,W,C]) of latents (host [B,T',H',W',Z]).
void vae_decode(Vae *v, const float *latents, float *clips);
// The last forward's reconstruction, host [B,T,H,W,C].
void vae_read_recon(const Vae *v, float *clips);
// Floats of one latent clip: T' * H' * W' * Z (of a vae_alloc layout; one chunk's after vae_alloc_chunked).
size_t vae_latent_floats(const Vae *v);

// ---- Long videos in bounded memory (docs/vae.md "Long videos: chunks and shards").
// The video goes through in time, chunk by chunk, as Wan's VAE does: latent
// frame 0 (pixel frame 0) alone, then chunks of `chunk` latent frames
// (ct * chunk pixel frames); every causal temporal convolution keeps the last
// kd - sd frames of its input from the previous chunk (its cache) in place of
// the zero padding. The result equals vae_encode / vae_decode of the whole
// clip (the test holds them bit for bit); memory depends on the chunk only.
enum { VAE_CHUNK_ENCODE = 1, VAE_CHUNK_DECODE = 2 };
// Lays out activations, caches and staging for chunks of B clips of H x W
// (`passes`: which of encode / decode); replaces any vae_alloc layout (and
// vae_alloc replaces this one). -1 with the reason when H, W do not fit.
int vae_alloc_chunked(Vae *v, int B, int chunk, int H, int W, int passes, TsrErr *e);
// Zeroes every cache: the next chunk starts a video (t0 = 0) or, at t0 > 0,
// a run whose first outputs are wrong until the receptive field has passed
// (the halo of vae_decode_sharded).
void vae_chunk_reset(Vae *v);
// Decodes latent frames [t0, t0 + n) (host [B, n, H', W', Z]) after the
// frames before t0 went through since the reset; writes the frames they
// give (host [B, F, H, W, C]) and returns F: 1 at t0 = 0 (n must be 1 there),
// else n * ct. n <= chunk.
int vae_decode_chunk(Vae *v, const float *latents, int t0, int n, float *clips);
// Encodes pixel frames [f0, f0 + n) (host [B, n, H, W, C]); f0 = 0 needs n = 1,
// else f0 = 1 + j ct and n a multiple of ct, n <= chunk * ct. Writes the
// posterior means of the latent frames they give (host [B, n', H', W', Z])
// and returns n' (1, or n / ct).
int vae_encode_chunk(Vae *v, const float *clips, int f0, int n, float *latents);
// Whole videos chunk by chunk: latents host [B, Tl, H', W', Z] -> clips
// [B, 1 + (Tl - 1) ct, H, W, C]; clips [B, T, H, W, C] -> latents.
void vae_decode_chunked(Vae *v, const float *latents, int Tl, float *clips);
void vae_encode_chunked(Vae *v, const float *clips, int T, float *latents);
// The first latent frame a run must start from (after vae_chunk_reset) so
// that its decoded frames of latent frames >= a equal those of a run from 0:
// the decoder's receptive field, from its graph. a - the result is the halo.
int vae_decode_halo_start(const Vae *v, int a);

