#include "infer/session.h"

#include <stdlib.h>
#include <string.h>

#include "core/h5io.h"
#include "core/error.h"
#include "core/log.h"
#include "comm/comm.h"
#include "infer/latent_codec.h"

// A user who points --ckpt at a corpus (or any other HDF5 file) hears that it
// is not a checkpoint, before the loader looks for what only checkpoints hold.
// Files that are missing or not HDF5 are left to the loader's own messages.
// Variable-length strings are never read here: a hostile file's global heap
// is not trusted (issue 14, item 5); the corpus is recognised by /buckets.
static int check_is_checkpoint(const char *path, TsrErr *err) {
  htri_t is_h5;
  H5Quiet q = h5_quiet_begin();
  H5E_BEGIN_TRY { is_h5 = H5Fis_hdf5(path); } H5E_END_TRY;
  hid_t f = -1;
  if (is_h5 > 0) H5E_BEGIN_TRY { f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); } H5E_END_TRY;
  if (f < 0) {
    h5_quiet_end(q);
    return 0;
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
  if (corpus)
    return tsr_err(err, "%s: not a tessera checkpoint but a corpus (it holds /buckets); a checkpoint is "
                   "train.out/ckpt_<step>.h5", path);
  if (!ok) return tsr_err(err, "%s: not a tessera checkpoint (%s; a checkpoint has format '%s')", path, what, CKPT_FORMAT);
  return 0;
}

// Every rank opens the session (the model load is collective): when a step
// failed on some ranks only (a GPU), all leave together; the others' err is
// left with code 0 (app_check prints the failing rank's message).
static int agree(int rc, TsrErr *err) {
  const int first = comm_world_first_failure(rc != 0);
  if (first < 0) return 0;
  if (!rc) tsr_err_code(err, 0, "rank %d failed", first);
  return -1;
}

int infer_open(InferSession *s, const char *ckpt, int use_ema, InferDevice dev, TsrErr *err) {
  return infer_open_layout(s, ckpt, use_ema, (ModelLayout){.tp = 1, .sp = 1}, 2, dev, err);
}

// The backend, and on a GPU NCCL for the groups that move activations.
static const Backend *open_device(InferDevice dev, ModelLayout *layout, TsrErr *err) {
  const char *device = dev.device ? dev.device : "cpu", *precision = dev.precision ? dev.precision : "fp32";
  char why[512];
  const int cuda = !strcmp(device, "cuda");
  const Backend *be = backend_open(device, precision, cuda ? comm_local_rank() : 0, why, sizeof why);
  if (!be) tsr_err(err, "--device %s --precision %s: %s", device, precision, why);
  if (agree(be ? 0 : -1, err)) {
    backend_close(be);
    return NULL;
  }
  if (be->nccl && agree(comm_nccl_check(err), err)) {
    backend_close(be);
    return NULL;
  }
  if (be->nccl) {
    if (layout->tp_group && layout->tp_group->size > 1) comm_group_use_nccl(layout->tp_group, be->stream);
    if (layout->sp_group && layout->sp_group->size > 1) comm_group_use_nccl(layout->sp_group, be->stream);
  }
  return be;
}

// The checkpoint's pretrained encoder: the same weights it was trained with.
static int open_text_encoder(InferSession *s, TsrErr *err) {
  TsrErr why;
  s->text = text_cond_open(s->cfg.model.text_length, (size_t)64 << 20, s->be, &why);
  if (!s->text) return tsr_err(err, "%s: model.text.encoder minilm: %s", s->ckpt, why.msg);
  if (strcmp(s->state.text_sha256, text_cond_sha256(s->text)) != 0)
    return tsr_err(err, "%s: trained with the text encoder of SHA-256 '%.64s', but %s holds '%.64s' (other weights)",
                   s->ckpt, s->state.text_sha256, text_cond_dir(s->text), text_cond_sha256(s->text));
  return 0;
}

int infer_open_layout(InferSession *s, const char *ckpt, int use_ema, ModelLayout layout, int max_batch,
                      InferDevice dev, TsrErr *err) {
  memset(s, 0, sizeof *s);
  s->ckpt = ckpt;
  if (check_is_checkpoint(ckpt, err)) return -1;  // the same file on every rank: all fail alike
  if (ckpt_read_config(ckpt, &s->cfg, err)) return -1;  // the same file on every rank
  if (model_layout_check(&s->cfg.model, layout.tp, layout.sp, layout.ring, err)) return -1;  // alike on every rank
  if (!(s->be = open_device(dev, &layout, err))) return -1;
  model_build(&s->model, &s->cfg.model, layout, s->be);
  CkptBuffers bufs = {.params = &s->model.params};
  if (ckpt_load(ckpt, &bufs, &s->state, use_ema ? "ema" : "params", err)) return -1;  // alike on every rank
  model_alloc_acts_forward(&s->model, max_batch);
  if (latent_codec_open(&s->codec, &s->cfg.model, s->state.latent_space, ckpt, err)) return -1;  // alike on every rank
  ModelConfig pixels;
  s->pixels = *latent_codec_pixels(s->codec, &s->cfg.model, &pixels);
  if (s->cfg.model.text_minilm) return agree(open_text_encoder(s, err), err);
  char **vocab;
  int V;
  if (ckpt_read_vocab(ckpt, &vocab, &V, err)) return -1;
  if (V > 0) {
    tokenizer_from_vocab(&s->tok, vocab, V);
    s->have_tokenizer = 1;
  } else {
    log_warn("%s has no tokenizer (trained on random data): prompts are ignored", ckpt);
  }
  for (int i = 0; i < V; i++) free(vocab[i]);
  free(vocab);
  return 0;
}

int infer_set_shape(InferSession *s, int T, int H, int W, int *trained, TsrErr *err) {
  if (model_set_window(&s->model, T, H, W, err)) return -1;
  s->cfg.model = s->model.cfg;
  ModelConfig pixels;
  s->pixels = *latent_codec_pixels(s->codec, &s->cfg.model, &pixels);
  if (!trained) return 0;
  const ModelConfig *mx = &s->model.max_cfg;
  char name[48];
  snprintf(name, sizeof name, "%dx%dx%d", T, H, W);
  if (!s->state.buckets[0]) {  // a single-bucket run trained on the window alone
    *trained = T == mx->frames && H == mx->height && W == mx->width;
    return 0;
  }
  *trained = 0;
  const size_t n = strlen(name);
  for (const char *p = s->state.buckets; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ','))
    if (strcspn(p, ",") == n && !strncmp(p, name, n)) *trained = 1;
  return 0;
}

int infer_shape_flags(InferSession *s, int H, int W, int frames, const char *cmd, TsrErr *err) {
  ModelConfig pixmax;  // the maximum in the frames the user asks for (a latent model's: decoded)
  const ModelConfig *mx = latent_codec_pixels(s->codec, &s->model.max_cfg, &pixmax);
  const int T = frames > 0 && frames < mx->frames ? frames : mx->frames;
  if (!H) H = mx->height, W = mx->width;
  int trained = 1, t, h, w;
  TsrErr why;
  if (latent_codec_grid(s->codec, T, H, W, &t, &h, &w, &why) || infer_set_shape(s, t, h, w, &trained, &why))
    return tsr_err(err, "%s: size %dx%d, frames %d: %s", cmd, H, W, frames ? frames : T, why.msg);
  if (!trained)
    log_warn("%s: %s never trained on %dx%dx%d (frames x height x width; trained on %s): sampling it anyway", cmd,
             s->ckpt, T, H, W, s->state.buckets[0] ? s->state.buckets : "its window alone");
  return 0;
}

int infer_encode(const InferSession *s, const char *prompt, int32_t *tokens, const char *what, TsrErr *err) {
  const int L = s->cfg.model.text_length;
  if (s->text) {
    int32_t n = 0;
    int truncated = 0;
    if (text_cond_tokenize(s->text, prompt, what, tokens, &n, &truncated, err) != 0) return -1;
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

int infer_gate_open(InferSession *s, const char *policy, TsrErr *err) {
  s->gate = tsr_calloc(1, sizeof *s->gate);
  if (safety_gate_open(s->gate, policy, s->text, err) == 0) return 0;
  tsr_free(s->gate);
  s->gate = NULL;
  return -1;
}

void infer_close(InferSession *s) {
  if (s->gate) safety_gate_close(s->gate), tsr_free(s->gate), s->gate = NULL;
  if (s->have_tokenizer) tokenizer_free(&s->tok);
  text_cond_close(s->text);
  latent_codec_free(s->codec);
  model_free(&s->model);
  backend_close(s->be);
}
