// The autoencoder's file readers (src/vae): the input is read as a VAE
// checkpoint (vae.h5: its config, then the model it describes is built when
// small — the harness's bound — and its weights and moments loaded, as
// `vae eval`/`vae decode` and a resumed `vae train` do) and as a latent file
// (L.h5 of `vae encode`, read against the seeds' micro config, as `vae
// decode` does). Seeds: a one-step checkpoint of a micro VAE (2 channels,
// 4x2x2 compression) and the latent of a 5-frame 8x8 clip through it.
#define FUZZ_RETURNED_ERRORS
#include "fuzz.h"
#include "kernels/backend.h"
#include "vae/vae_ckpt.h"
#include "vae/vae_latent_file.h"

// The seeds' config (tests/fuzz/seeds/vae), for the latent reader.
static const char MICRO[] =
    "vae:\n  name: micro\n  in_channels: 3\n  base_channels: 2\n  channel_mult: [1, 1]\n  temporal_down: [1]\n"
    "  res_blocks: 1\n  latent_channels: 1\n  groups: 1\n";

// A bound on the parameters a config declares (3x3x3 convolutions at the
// widest level, a few per residual block), so a crafted config cannot make
// the harness allocate gigabytes: that would be the harness, not the reader.
static int small_enough(const VaeConfig *c) {
  int widest = 0;
  for (int l = 0; l < c->levels; l++) widest = c->channel_mult[l] > widest ? c->channel_mult[l] : widest;
  const double ch = (double)c->base_channels * widest;
  const double convs = (double)c->levels * (2.0 * c->res_blocks + 3.0) * 2.0 + 4.0;
  return convs * 27.0 * ch * ch <= (double)(1 << 22);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  static VaeConfig micro;
  if (!init) {
    fuzz_h5_quiet();
    if (vae_config_load_text(&micro, MICRO, sizeof MICRO - 1, "micro.yaml", &(TsrErr){0})) abort();
    init = 1;
  }
  const char *path = fuzz_file("vae", data, size);
  VaeConfig cfg;
  if (vae_ckpt_read_config(path, &cfg, &(TsrErr){0}) == 0 && small_enough(&cfg)) {
    Vae v;
    vae_build(&v, &cfg, backend_cpu());
    VaeAdam opt;
    vae_adam_init(&opt, &v);
    VaeCkptState s;
    (void)vae_ckpt_load(path, &v, &opt, &s, &(TsrErr){0});
    vae_adam_free(&opt, &v);
    vae_free(&v);
  }
  VaeLatentFile l = {0};
  if (vae_latent_read(path, &micro, &l, &(TsrErr){0}) == 0) free(l.latent);
  fuzz_h5_close_all();
  return 0;
}
