// Text conditioning by a frozen pretrained encoder (model.text.encoder:
// minilm): WordPiece ids in, the encoder's last hidden states out, each
// caption encoded once. A bounded cache keyed by the ids keeps the states
// as float16, so a training step that sees a caption again does no encoder
// work; a caption met when the cache is full is encoded every time (a
// warning says so once). Training and sampling read the states through the
// same cache, so both see the same float16-rounded values.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "text/minilm.h"
#include "core/error.h"

typedef struct TextCond TextCond;

typedef struct {
  uint64_t hits, misses, uncached;  // lookups served from the cache, encoded and stored, encoded (cache full)
  double encode_seconds;            // time spent in the encoder
  size_t bytes;                     // cache memory in use
} TextCondStats;

// all-MiniLM-L6-v2 from $TSR_MINILM_DIR, else models/minilm-l6 beside the
// binary's folder (where `make deps` puts it), else MINILM_L6_DIR under the
// working directory; hashes checked. Text window L (>= 2 ids), cache bound
// in bytes; the encoder computes on `be` (the model's backend; on the CPU
// always in fp32, the bf16 mode's fp32 twin). NULL, with
// one line in err, when the weights are missing or bad.
TextCond *text_cond_open(int L, size_t cache_bytes, const Backend *be, TsrErr *err);
void text_cond_close(TextCond *tc);
int text_cond_width(const TextCond *tc);          // 384 for MiniLM-L6
const char *text_cond_sha256(const TextCond *tc);  // of the weights
const char *text_cond_dir(const TextCond *tc);
// The encoder itself (the safety gate embeds prompts with it).
TextEncoder *text_cond_encoder(TextCond *tc);
WordPiece *text_cond_wordpiece(TextCond *tc);      // its tokenizer (not thread-safe)

// text -> ids[L] ([CLS] pieces [SEP], 0-padded), *n ids used; *truncated set
// when the text was longer than the window. `item` names the text in errors.
// 0, or -1 for text that is not UTF-8.
int text_cond_tokenize(TextCond *tc, const char *text, const char *item, int32_t *ids, int32_t *n, int *truncated,
                       TsrErr *err);
// The ids of the empty text ([CLS] [SEP]): the null caption of guidance.
void text_cond_null(TextCond *tc, int32_t *ids, int32_t *n);

// States of B captions: ids [B,L] with n[b] valid ids each -> states
// [B,L,width] (rows l >= n[b] are zero). 0, or -1 for an id out of range.
int text_cond_states(TextCond *tc, const int32_t *ids, const int32_t *n, int B, float *states, TsrErr *err);
TextCondStats text_cond_stats(const TextCond *tc);
