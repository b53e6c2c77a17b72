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
// Floats of one latent clip: T' * H' * W' * Z.
size_t vae_latent_floats(const Vae *v);
