// A frozen pretrained BERT-family text encoder: all-MiniLM-L6-v2 by default
// (6 layers, width 384, 12 heads, vocabulary 30,522). Reads a Hugging Face
// model folder (config.json, model.safetensors, vocab.txt) and computes
//   embeddings: word[id] + position[l] + token_type[0] -> LayerNorm
//   each layer (post-norm): h = LN(h + O(attn(Q h, K h, V h; key-padding mask)))
//                           h = LN(h + W2 GELU_erf(W1 h))
//   outputs: the last hidden states [B,L,H] and their mean over the valid
//   tokens [B,H] (sentence-transformers' pooling, before its L2 normalisation).
// LayerNorm eps from config.json (1e-12). Computed by the CPU kernels
// (kernels/ops.h). docs/text_encoder.md.
#pragma once
#include <stdint.h>

#include "kernels/backend.h"
#include "core/error.h"
#include "text/wordpiece.h"

typedef struct {
  int vocab, hidden, layers, heads, inter, max_pos, type_vocab;
  float ln_eps;
} BertConfig;

typedef struct {
  const float *qkv_w, *qkv_b;  // [3H,H], [3H]: query, key, value stacked
  const float *o_w, *o_b;      // attention output [H,H], [H]
  const float *ln1_w, *ln1_b;  // after attention
  const float *fc1_w, *fc1_b;  // [I,H], [I]
  const float *fc2_w, *fc2_b;  // [H,I], [H]
  const float *ln2_w, *ln2_b;  // after the MLP
} BertLayer;

typedef struct {
  char dir[512];
  BertConfig cfg;
  WordPiece wp;
  char weights_sha256[65];  // of model.safetensors, as read
  float *params;            // every weight, in one buffer (host)
  size_t nparams;
  const Backend *be;        // where the forward computes (the CPU unless text_encoder_use_backend)
  float *dparams;           // the weights in be's memory when that is not the host's (else NULL)
  const float *word_emb;  // [vocab, H]
  const float *pos_emb;   // [max_pos, H]: position + token type 0
  const float *emb_ln_w, *emb_ln_b;
  BertLayer *layer;
} TextEncoder;

// Loads dir/config.json, dir/model.safetensors and dir/vocab.txt. The
// SHA-256 of the weights and of the vocabulary are checked against the hex
// strings given (NULL: not checked). 0, or -1 with one line naming the file,
// the item and what was expected.
int text_encoder_load(TextEncoder *te, const char *dir, const char *weights_sha256, const char *vocab_sha256,
                      TsrErr *err);
// all-MiniLM-L6-v2 from dir (NULL: MINILM_L6_DIR, where `make deps` puts it)
// with the hashes recorded in text/minilm_weights.h.
int minilm_load(TextEncoder *te, const char *dir, TsrErr *err);
void text_encoder_free(TextEncoder *te);
// Compute on `be` from now on: the weights are uploaded once into its memory.
void text_encoder_use_backend(TextEncoder *te, const Backend *be);

// Token ids [B,L] (row-major; those at l >= nvalid[b] are padding: masked as
// keys, their rows computed but meaningless), 1 <= nvalid[b] <= L <= max_pos.
// Writes hidden [B,L,H] and, when not NULL, pooled [B,H] (the mean of the
// valid rows). 0, or -1 when an id or count is out of range. Every pointer
// is host memory; the computation runs on te->be (uploads and downloads here).
int text_encoder_forward(const TextEncoder *te, const int32_t *ids, const int *nvalid, int B, int L, float *hidden,
                         float *pooled, TsrErr *err);
