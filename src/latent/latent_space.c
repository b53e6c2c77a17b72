#include "latent/latent_space.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/h5io.h"
#include "core/sha256.h"
#include "data/corpus.h"
#include "vae/vae_config.h"
#include "vae/vae_ckpt.h"

// The model's VAE: its config and SHA-256, its latent channels against model.video.channels.
static int check_vae(const char *cfg_path, const ModelConfig *m, VaeConfig *vc, char sha[65], TsrErr *err) {
  h5_lock();
  int rc = vae_ckpt_read_config(m->vae, vc, err);
  h5_unlock();
  if (rc) return tsr_err_prefix(err, "%s: model.vae: ", cfg_path);
  if (sha256_file(m->vae, sha, NULL)) return tsr_err(err, "%s: model.vae: %s: cannot read: %s", cfg_path, m->vae, strerror(errno));
  if (vc->latent_channels != m->channels)
    return tsr_err(err, "%s: model.video.channels: expected %d (the latent channels of model.vae %s), got %d", cfg_path,
                   vc->latent_channels, m->vae, m->channels);
  return 0;
}

static int check_corpus(const char *cfg_path, const ModelConfig *m, const Corpus *c, const VaeConfig *vc,
                        const char *sha, TsrErr *err) {
  const char *f = c->path;
  if (c->latent && !m->vae[0])
    return tsr_err(err, "%s: a latent corpus (data encode through the VAE with sha256 %.12s...), but the model of %s "
                   "works on pixels: expected a pixel corpus, or model.vae set to that VAE", f, c->vae_sha256, cfg_path);
  if (!c->latent && m->vae[0])
    return tsr_err(err, "%s: a pixel corpus, but the model of %s works in the latent space of model.vae %s: expected a "
                   "latent corpus (tessera data encode --vae %s %s --out LATENT.h5)", f, cfg_path, m->vae, m->vae, f);
  if (!c->latent) return 0;
  if (strcmp(c->vae_sha256, sha))
    return tsr_err(err, "%s: attribute /vae_sha256: expected %.12s... (model.vae %s of %s), found %.12s... (encoded by "
                   "another VAE)", f, sha, m->vae, cfg_path, c->vae_sha256);
  if (c->ct != vc->ct || c->cs != vc->cs)
    return tsr_err(err, "%s: attribute /vae_compression: expected [%d, %d, %d] (model.vae %s), found [%d, %d, %d]", f,
                   vc->ct, vc->cs, vc->cs, m->vae, c->ct, c->cs, c->cs);
  return 0;
}

int latent_space_format(const LatentSpace *ls, char *out, size_t n) {
  if (ls->channels < 1 || ls->channels > LATENT_MAX_CHANNELS) return -1;
  size_t o = (size_t)snprintf(out, n, "vae_sha256 %s\ncompression %d %d\nchannels %d\nmean", ls->vae_sha256, ls->ct,
                              ls->cs, ls->channels);
  for (int k = 0; k < ls->channels && o < n; k++) o += (size_t)snprintf(out + o, n - o, " %.9g", (double)ls->mean[k]);
  if (o < n) o += (size_t)snprintf(out + o, n - o, "\nstd");
  for (int k = 0; k < ls->channels && o < n; k++) o += (size_t)snprintf(out + o, n - o, " %.9g", (double)ls->std[k]);
  if (o < n) o += (size_t)snprintf(out + o, n - o, "\n");
  return o < n ? 0 : -1;
}

// Reads "NAME" then `n` floats from *p (advanced); 0 or -1.
static int parse_floats(const char **p, const char *name, int n, float *out) {
  const size_t len = strlen(name);
  if (strncmp(*p, name, len)) return -1;
  char *end = (char *)*p + len;
  for (int k = 0; k < n; k++) {
    const char *at = end;
    out[k] = strtof(at, &end);
    if (end == at || !isfinite(out[k])) return -1;
  }
  if (*end != '\n') return -1;
  *p = end + 1;
  return 0;
}

int latent_space_parse(const char *text, const char *what, LatentSpace *ls, TsrErr *err) {
  memset(ls, 0, sizeof *ls);
  int used = 0;
  const char *p = text;
  if (sscanf(p, "vae_sha256 %64[0-9a-f]\ncompression %d %d\nchannels %d\n%n", ls->vae_sha256, &ls->ct, &ls->cs,
             &ls->channels, &used) != 4 || used == 0 || strlen(ls->vae_sha256) != 64 || ls->ct < 1 || ls->cs < 1 ||
      ls->channels < 1 || ls->channels > LATENT_MAX_CHANNELS)
    return tsr_err(err, "%s: attribute latent_space: expected 'vae_sha256 HEX', 'compression CT CS', 'channels Z' lines "
                   "(Z in [1, %d]) (corrupt file?)", what, LATENT_MAX_CHANNELS);
  p += used;
  if (parse_floats(&p, "mean", ls->channels, ls->mean) || parse_floats(&p, "std", ls->channels, ls->std))
    return tsr_err(err, "%s: attribute latent_space: expected 'mean' and 'std' lines of %d finite values (corrupt file?)",
                   what, ls->channels);
  for (int k = 0; k < ls->channels; k++)
    if (!(ls->std[k] > 0))
      return tsr_err(err, "%s: attribute latent_space: std of channel %d: expected > 0, found %g", what, k, ls->std[k]);
  return 0;
}

// The latent space of corpus c (a latent corpus) as text into spec.
static int corpus_spec(const Corpus *c, char *spec, size_t spec_size, TsrErr *err) {
  if (c->channels > LATENT_MAX_CHANNELS)
    return tsr_err(err, "%s: /tokenizer attribute 'channels': a latent model takes at most %d latent channels, found %d",
                   c->path, LATENT_MAX_CHANNELS, c->channels);
  LatentSpace ls = {.ct = c->ct, .cs = c->cs, .channels = c->channels};
  memcpy(ls.vae_sha256, c->vae_sha256, sizeof ls.vae_sha256);
  memcpy(ls.mean, c->latent_mean, sizeof(float) * (size_t)c->channels);
  memcpy(ls.std, c->latent_std, sizeof(float) * (size_t)c->channels);
  TSR_ASSERT(latent_space_format(&ls, spec, spec_size) == 0, "latent space of %s: %zu bytes are too few", c->path, spec_size);
  return 0;
}

int latent_space_check(const char *cfg_path, const ModelConfig *m, const char *data, char *spec, size_t spec_size,
                       TsrErr *err) {
  if (spec && spec_size) spec[0] = 0;
  VaeConfig vc = {0};
  char sha[65] = "";
  if (m->vae[0] && check_vae(cfg_path, m, &vc, sha, err)) return -1;
  if (!data || !data[0]) return 0;
  Corpus c;
  h5_lock();
  int rc = corpus_open(&c, data, err);
  h5_unlock();
  if (rc) return -1;
  rc = check_corpus(cfg_path, m, &c, &vc, sha, err);
  if (rc == 0 && c.latent && spec) rc = corpus_spec(&c, spec, spec_size, err);
  h5_lock();
  corpus_close(&c);
  h5_unlock();
  return rc;
}
