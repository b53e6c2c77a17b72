// The checkpoint reader: the input is a ckpt.h5; its stored config is read,
// the model it describes is built (when small: the harness's bound), and its
// weights and vocabulary are loaded, as `generate` does (infer/session.c).
// The seed is a version 3 checkpoint of a micro model with an 8-word vocabulary.
#include "fuzz.h"
#include "model/checkpoint.h"
#include "model/model.h"

static Model model;
static int built;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) fuzz_h5_quiet(), init = 1;
  const char *path = fuzz_file("ckpt", data, size);
  static Config cfg;
  built = 0;
  if (!setjmp(fuzz_jmp) && ckpt_read_config(path, &cfg, &(TsrErr){0}) == 0) {  // errors are returned
    const ModelConfig *mc = &cfg.model;
    double layers = (double)mc->depth + mc->text_layers + 2, d = mc->dim;
    double floats = layers * (4 + 2 * mc->mlp_ratio + 6) * d * d + ((double)mc->vocab + mc->patch_dim + mc->freq_dim) * d;
    if (floats <= (1 << 22)) {
      model_build(&model, mc, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
      built = 1;
      CkptBuffers b = {.params = &model.params};
      CkptState s;
      (void)ckpt_load(path, &b, &s, "params", &(TsrErr){0});
      char **words;
      int n;
      if (ckpt_read_vocab(path, &words, &n, &(TsrErr){0}) == 0) {
        for (int i = 0; i < n; i++) free(words[i]);
        free(words);
      }
    }
  }
  if (built) model_free(&model);
  fuzz_h5_close_all();
  return 0;
}
