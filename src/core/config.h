// Typed configuration loaded from YAML (libyaml) and validated up front.
//
// A config file has top-level sections model, train, data, parallel, sample,
// run. `model:` is either a mapping or a path (relative to the file) to a
// model file whose own `model:` mapping is used. Overrides "key.sub=value"
// from the command line are applied before validation. Any unknown key,
// wrong type, out-of-range value or violated shape constraint is a user error:
//   tessera: error: FILE:LINE:COL: KEY: expected ..., got ...
// (FILE is "command line" for overrides), exit code 2.
#pragma once
#include "core/error.h"
#include <stdint.h>
#include <stdio.h>

#define CFG_STR_MAX 256

typedef struct {
  char name[64];
  int frames, height, width, channels;  // video window the model sees
  int pt, ph, pw;                       // patch size
  int dim;                              // transformer width D
  int depth;                            // number of DiT blocks
  int heads;
  int mlp_ratio;                        // MLP hidden = mlp_ratio * dim
  int text_length;                      // L, max caption tokens
  int text_layers;
  int vocab;                            // tokenizer vocabulary size
  int rope[3];                          // head-dim split (t,h,w); derived when absent
  int freq_dim;                         // timestep sinusoid size (256)
  char predict[4];                      // what the network outputs: "v" velocity (default) | "x" clean video
  char text_encoder[16];                // "learned" (default: the model's own, over corpus words) | "minilm"
                                        // (frozen pretrained all-MiniLM-L6-v2, WordPiece; docs/text_encoder.md)
  char vae[CFG_STR_MAX];                // the vae.h5 whose latent space the model works in; "" = pixels
                                        // (docs/vae.md "Latent corpora and the latent DiT")
  // derived
  int head_dim, tokens, patch_dim;      // dim/heads, N, P
  int grid_t, grid_h, grid_w;           // T/pt, H/ph, W/pw
  int predict_x;                        // predict == "x" (docs/model.md "Prediction target")
  int text_minilm;                      // text_encoder == "minilm": ctx = Linear(the encoder's states)
  int text_width;                       // width of the states the DiT reads: dim, or 384 for minilm
} ModelConfig;

// Width of all-MiniLM-L6-v2's hidden states (model.text.encoder: minilm);
// the trainer checks the loaded encoder against it.
#define MINILM_WIDTH 384

// x-prediction turns the network's clean-video output into a velocity as
// v = (x_t - x0_hat) / max(t, PREDICT_X_T_MIN) (the clamp keeps t -> 0 finite).
#define PREDICT_X_T_MIN 0.05f

typedef struct {
  int steps, batch;  // batch: samples per optimizer step over all dp ranks and micro-batches
  int accum;         // gradient-accumulation micro-batches per step (batch / (dp * accum) per rank each)
  float lr, min_lr, weight_decay, beta1, beta2, eps, grad_clip;
  int warmup;
  float ema_decay;
  int log_every, ckpt_every, keep_ckpts;
  char out[CFG_STR_MAX];
  char resume[CFG_STR_MAX];
  char init_from[CFG_STR_MAX];  // a fresh run's weights and EMA from this checkpoint ("" = initialised)
  uint64_t seed;
  // flow matching and conditioning
  float t_logit_mean, t_logit_std;  // logit-normal timestep
  float p_cond_none, p_cond_first, p_cond_prefix, p_cond_ends, p_cond_random;
  int max_bad_steps;
  float time_limit;  // minutes of training after which the run checkpoints and stops (0: none)
  char text_encoder[8];  // "trained" (default) | "frozen": text.* keep their initial values (docs/model.md)
  char recompute[12];    // "none" (default) | "attention" | "block": what the backward recomputes (docs/ring.md)
  // The string choices above as values, set once when the config is loaded (the strings stay for printing):
  int freeze_text;       // text_encoder == "frozen"
  int recompute_mode;    // CFG_RECOMPUTE_*
} TrainConfig;
enum { CFG_RECOMPUTE_NONE = 0, CFG_RECOMPUTE_ATTENTION, CFG_RECOMPUTE_BLOCK };  // model.h ModelRecompute

typedef struct {
  char path[CFG_STR_MAX];  // corpus.h5; empty = random data
  float p_recaption;       // use the descriptive caption with this probability
  float p_drop;            // null caption probability (for guidance)
  int prefetch;
  // Multi-bucket training (docs/choices.md "Native sizes"): "" = the model's
  // window only; "all" = every corpus bucket within it; or "TxHxW[:weight],...".
  char buckets[CFG_STR_MAX];
  int tokens;  // token budget of one micro-batch on a rank (0: its samples x the window's tokens)
} DataConfig;

typedef struct {
  int tp, sp, dp;
  int ring;  // ring-attention degree inside sp (sp = Ulysses x ring; 1: Ulysses only; docs/ring.md)
  float bucket_mb;  // ZeRO's gradient buckets overlapped with the backward (MiB); 0: one reduce-scatter after it
} ParallelConfig;

typedef struct {
  int steps;
  float cfg, shift;
  char sampler[16];  // "euler" | "heun"
  uint64_t seed;
  int heun;          // sampler == "heun" (set at load)
} SampleConfig;

typedef struct {
  char device[16];     // "cpu" | "cuda"
  char precision[16];  // "fp32" | "bf16" | "auto" (bf16 where the CPU has AVX512-BF16, and on GPUs)
  int threads;         // 0 = all cores
  int cuda;            // device == "cuda" (set at load)
} RunConfig;

typedef struct {
  char path[CFG_STR_MAX];  // the file it came from
  ModelConfig model;
  TrainConfig train;
  DataConfig data;
  ParallelConfig parallel;
  SampleConfig sample;
  RunConfig run;
} Config;

// Defaults for every field (model fields zero: a model section is required).
void config_defaults(Config *c);
// Load `path`, apply `noverrides` strings "a.b=value", validate, derive.
// 0, or -1 with one line "FILE:LINE:COL: key: expected ..., got ..." in err.
int config_load(Config *c, const char *path, int noverrides, char **overrides, TsrErr *err);
// The same for a config held in memory (e.g. the one stored in a checkpoint):
// `name` stands for the file in messages ("NAME:LINE:COL: ...") and is
// c->path; relative model paths start from its directory. At most 1 MiB.
int config_load_text(Config *c, const char *name, const char *text, size_t len, TsrErr *err);
// Validate and fill derived fields of a model config (used by config_load and by
// code that builds a ModelConfig by hand, e.g. tests). `where` names the source.
int model_config_finalize(ModelConfig *m, const char *where, TsrErr *err);  // 0 or -1 with err
// Write the effective config as YAML (loadable again) to `out` / stdout.
void config_write(const Config *c, FILE *out);
void config_print(const Config *c);
