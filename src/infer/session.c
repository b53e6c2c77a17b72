#include "infer/session.h"

#include <stdlib.h>
#include <string.h>

#include "core/h5io.h"
#include "core/error.h"
#include "core/log.h"

// A user who points --ckpt at a corpus (or any other HDF5 file) hears that it
// is not a checkpoint, before the loader looks for what only checkpoints hold.
// Files that are missing or not HDF5 are left to the loader's own messages.
// Variable-length strings are never read here: a hostile file's global heap
// is not trusted (issue 14, item 5); the corpus is recognised by /buckets.
static void check_is_checkpoint(const char *path) {
  htri_t is_h5;
  H5Quiet q = h5_quiet_begin();
  H5E_BEGIN_TRY { is_h5 = H5Fis_hdf5(path); } H5E_END_TRY;
  hid_t f = -1;
  if (is_h5 > 0) H5E_BEGIN_TRY { f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); } H5E_END_TRY;
  if (f < 0) {
    h5_quiet_end(q);
    return;
  }
  char fmt[64] = "", what[128] = "no format attribute";
  int ok = 0;
  if (H5Aexists(f, "format") > 0) {
    hid_t a = H5Aopen(f, "format", H5P_DEFAULT), t = a < 0 ? -1 : H5Aget_type(a);
    int fixed = t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) == 0 && H5Tget_size(t) < sizeof fmt;
    if (fixed && H5Aread(a, t, fmt) >= 0) {
      ok = !strcmp(fmt, CKPT_FORMAT);
      snprintf(what, sizeof what, "format attribute '%.60s'", fmt);
    } else {
      snprintf(what, sizeof what, "a format attribute that is not a short fixed-length string");
    }
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
  }
  const int corpus = !ok && H5Lexists(f, "buckets", H5P_DEFAULT) > 0;
  H5Fclose(f);
  h5_quiet_end(q);
  if (corpus) tsr_user_error("%s: not a tessera checkpoint but a corpus (it holds /buckets); a checkpoint is train.out/ckpt_<step>.h5", path);
  if (!ok) tsr_user_error("%s: not a tessera checkpoint (%s; a checkpoint has format '%s')", path, what, CKPT_FORMAT);
}

void infer_open(InferSession *s, const char *ckpt, int use_ema, InferDevice dev) {
  infer_open_layout(s, ckpt, use_ema, (ModelLayout){.tp = 1, .sp = 1}, 2, dev);
}

int infer_device_flag(InferDevice *dev, const char *cmd, int argc, char **argv, int *i) {
  const char *k = argv[*i];
  const int device = !strcmp(k, "--device"), precision = !strcmp(k, "--precision");
  if (!device && !precision) return 0;
  if (*i + 1 >= argc) tsr_user_error("%s: %s: expected a value after it", cmd, k);
  const char *v = argv[++*i];
  if (device && strcmp(v, "cpu") && strcmp(v, "cuda"))
    tsr_user_error("%s: --device: expected cpu or cuda, got '%s'", cmd, v);
  if (precision && strcmp(v, "fp32") && strcmp(v, "bf16"))
    tsr_user_error("%s: --precision: expected fp32 or bf16, got '%s'", cmd, v);
  if (device) dev->device = v;
  else dev->precision = v;
  return 1;
}

// The backend, and on a GPU NCCL for the groups that move activations.
static const Backend *open_device(InferDevice dev, ModelLayout *layout) {
  const char *device = dev.device ? dev.device : "cpu", *precision = dev.precision ? dev.precision : "fp32";
  char why[512];
  const int cuda = !strcmp(device, "cuda");
  const Backend *be = backend_open(device, precision, cuda ? comm_local_rank() : 0, why, sizeof why);
  if (!be) tsr_user_error("--device %s --precision %s: %s", device, precision, why);
  if (be->nccl) {
    if (layout->tp_group && layout->tp_group->size > 1) comm_group_use_nccl(layout->tp_group, be->stream);
    if (layout->sp_group && layout->sp_group->size > 1) comm_group_use_nccl(layout->sp_group, be->stream);
  }
  return be;
}

// The checkpoint's pretrained encoder: the same weights it was trained with.
static void open_text_encoder(InferSession *s) {
  TsrErr err;
  s->text = text_cond_open(s->cfg.model.text_length, (size_t)64 << 20, s->be, &err);
  if (!s->text) tsr_user_error("%s: model.text.encoder minilm: %s", s->ckpt, err.msg);
  if (strcmp(s->state.text_sha256, text_cond_sha256(s->text)) != 0)
    tsr_user_error("%s: trained with the text encoder of SHA-256 '%.64s', but %s holds '%.64s' (other weights)",
                   s->ckpt, s->state.text_sha256, text_cond_dir(s->text), text_cond_sha256(s->text));
}

void infer_open_layout(InferSession *s, const char *ckpt, int use_ema, ModelLayout layout, int max_batch,
                       InferDevice dev) {
  memset(s, 0, sizeof *s);
  s->ckpt = ckpt;
  check_is_checkpoint(ckpt);
  ckpt_read_config(ckpt, &s->cfg);
  s->be = open_device(dev, &layout);
  model_build(&s->model, &s->cfg.model, layout, s->be);
  CkptBuffers bufs = {.params = &s->model.params};
  ckpt_load(ckpt, &bufs, &s->state, use_ema ? "ema" : "params");
  model_alloc_acts_forward(&s->model, max_batch);
  if (s->cfg.model.text_minilm) {
    open_text_encoder(s);
    return;
  }
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
  if (s->text) {
    TsrErr err;
    int32_t n = 0;
    int truncated = 0;
    if (text_cond_tokenize(s->text, prompt, what, tokens, &n, &truncated, &err) != 0) tsr_user_error("%s", err.msg);
    if (truncated) log_warn("%s: prompt longer than the text window of %d tokens: truncated", what, L);
    return n;
  }
  memset(tokens, 0, (size_t)L * sizeof *tokens);
  tokens[0] = TOK_BOS;
  if (!s->have_tokenizer) return 1;
  int truncated = 0, n = tokenizer_encode(&s->tok, prompt, tokens, L, &truncated);
  if (truncated) log_warn("%s: prompt longer than the text window of %d tokens: truncated", what, L);
  return n;
}

void infer_close(InferSession *s) {
  if (s->have_tokenizer) tokenizer_free(&s->tok);
  text_cond_close(s->text);
  model_free(&s->model);
  backend_close(s->be);
}
