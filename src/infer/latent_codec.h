// The seam between pixels and a latent model's space (docs/vae.md "Latent
// corpora and the latent DiT"): a DiT trained with `model.vae` samples
// normalised latents; the codec de-normalises them with the statistics its
// checkpoint recorded (attribute latent_space) and decodes them through the
// VAE, and encodes a conditioning image as the causal VAE's first latent
// frame. Pixel models have no codec (NULL) and take generate.c's path.
#pragma once
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "infer/generate.h"
#include "model/model.h"

typedef struct LatentCodec LatentCodec;

// For a model with model.vae: the VAE at that path, checked against the
// checkpoint's latent_space (the same SHA-256, compression and channels).
// *out = NULL for a pixel model. 0, or -1 with one line naming the files.
int latent_codec_open(LatentCodec **out, const ModelConfig *m, const char *latent_space, const char *ckpt, TsrErr *err);
void latent_codec_free(LatentCodec *lc);

// The pixel video the model's window decodes to (T = 1 + (T'-1) ct frames of
// H' cs x W' cs RGB) as a ModelConfig copy in *pix; m itself without a codec.
const ModelConfig *latent_codec_pixels(const LatentCodec *lc, const ModelConfig *m, ModelConfig *pix);
// The latent grid (*t, *h, *w) of a video of T x H x W pixels: 0, or -1 with
// a reason in err when T is not 1 + a multiple of the temporal compression or
// H, W not multiples of the spatial one. lc NULL: the pixels themselves.
int latent_codec_grid(const LatentCodec *lc, int T, int H, int W, int *t, int *h, int *w, TsrErr *err);

// Normalised latent patches [N,P] (the model's sample) -> uint8 RGB frames [T,H,W,3].
void latent_codec_decode(LatentCodec *lc, const ModelConfig *m, const float *patches, uint8_t *frames);
// n uint8 RGB frames [n,H,W,3] (an image: n = 1) -> the normalised latent frames
// [t, H/cs, W/cs, Z] of their first 1 + (n-1)/ct*ct frames (the causal VAE's
// latent frames that those frames alone determine); returns t.
int latent_codec_encode_frames(LatentCodec *lc, const uint8_t *frames, int n, int H, int W, float *latent);

// generate_video for a latent model, one window: text-to-video, and
// image-to-video / extension (r->first, nfirst frames: their latent frames
// held clean; the model's patch t must be 1); interpolation, remix,
// keyframes and long videos are refused with a reason (not yet in latent
// space). Same contract as generate_video.
int latent_generate_video(Model *m, LatentCodec *lc, const int32_t *tokens, int ntokens, const GenerateRequest *r,
                          uint8_t *out, char *err, int errlen);
