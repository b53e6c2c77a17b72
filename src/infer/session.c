#include "infer/session.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

void infer_open(InferSession *s, const char *ckpt, int use_ema) {
  infer_open_layout(s, ckpt, use_ema, (ModelLayout){.tp = 1, .sp = 1}, 2);
}

void infer_open_layout(InferSession *s, const char *ckpt, int use_ema, ModelLayout layout, int max_batch) {
  memset(s, 0, sizeof *s);
  s->ckpt = ckpt;
  ckpt_read_config(ckpt, &s->cfg);
  model_build(&s->model, &s->cfg.model, layout);
  CkptBuffers bufs = {.params = &s->model.params};
  ckpt_load(ckpt, &bufs, &s->state, use_ema ? "ema" : "params");
  model_alloc_acts_forward(&s->model, max_batch);
  char **vocab;
  int V;
  ckpt_read_vocab(ckpt, &vocab, &V);
  if (V > 0) {
    tokenizer_from_vocab(&s->tok, vocab, V);
    s->have_tokenizer = 1;
  } else {
    log_warn("%s has no tokenizer (trained on random data): prompts are ignored", ckpt);
  }
  for (int i = 0; i < V; i++) free(vocab[i]);
  free(vocab);
}

int infer_encode(const InferSession *s, const char *prompt, int32_t *tokens, const char *what) {
  const int L = s->cfg.model.text_length;
  memset(tokens, 0, (size_t)L * sizeof *tokens);
  tokens[0] = TOK_BOS;
  if (!s->have_tokenizer) return 1;
  int truncated = 0, n = tokenizer_encode(&s->tok, prompt, tokens, L, &truncated);
  if (truncated) log_warn("%s: prompt longer than the text window of %d tokens: truncated", what, L);
  return n;
}

void infer_close(InferSession *s) {
  if (s->have_tokenizer) tokenizer_free(&s->tok);
  model_free(&s->model);
}
