#include "latent/latent_space.h"

#include <errno.h>
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

int latent_space_check(const char *cfg_path, const ModelConfig *m, const char *data, TsrErr *err) {
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
  h5_lock();
  corpus_close(&c);
  h5_unlock();
  return rc;
}
