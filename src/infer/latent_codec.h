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
#include "latent/latent_space.h"
#include "model/model.h"
#include "vae/vae_config.h"

typedef struct LatentCodec LatentCodec;

// For a model with model.vae: the VAE at that path, checked against the
// checkpoint's latent_space (the same SHA-256, compression and channels).
// *out = NULL for a pixel model. 0, or -1 with one line naming the files.
int latent_codec_open(LatentCodec **out, const ModelConfig *m, const char *latent_space, const char *ckpt, TsrErr *err);
void latent_codec_free(LatentCodec *lc);
// A codec over a VAE of random weights (params_init(seed)) in latent space ls: for tests.
LatentCodec *latent_codec_new(const VaeConfig *cfg, const LatentSpace *ls, uint64_t seed);

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

// How many pixel frames latent_generate_video writes for r (generate.h's
// request in pixels: frames, context, overlap count pixel frames): 0, or -1
// with a reason in err (a request the latent model cannot serve, e.g. an
// input video or a length that is not 1 + a multiple of the temporal
// compression).
int latent_output_frames(const LatentCodec *lc, const ModelConfig *c, const GenerateRequest *r, int *n, char *err,
                         int errlen);
// generate_video for a latent model, every mode (docs/vae.md "Edits and long
// videos in latent space"): the inputs encoded (each on its own, chunked),
// generate.c's canvas over latent frames, the canvas decoded once chunk by
// chunk, the given pixel frames copied back where the output keeps them.
// The model's patch t must be 1 when there are inputs. Same contract as
// generate_video; out holds latent_output_frames frames.
int latent_generate_video(Model *m, LatentCodec *lc, const int32_t *tokens, int ntokens, const GenerateRequest *r,
                          uint8_t *out, char *err, int errlen);
