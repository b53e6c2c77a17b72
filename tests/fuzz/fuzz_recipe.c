// The shapes-world recipe of `data synth --recipe` (synth_recipe_load,
// data/synth_recipe.h): every input is read or refused with a one-line
// returned error, and what is read is within the documented ranges.
#define FUZZ_RETURNED_ERRORS
#include "data/synth_recipe.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("recipe", data, size);
  SynthOptions o;
  synth_options_default(&o);
  TsrErr err;
  if (synth_recipe_load(&o, path, &err) == 0) {
    if (o.clips < 1 || o.T < 1 || o.H < 1 || o.W < 1 || o.min_objects < 1 || o.max_objects < o.min_objects ||
        !(o.caption_variety >= 0.0f && o.caption_variety <= 1.0f) || o.nbuckets < 0 || o.nbuckets > SYNTH_MAX_BUCKETS)
      abort();
  } else if (!err.msg[0] || strchr(err.msg, '\n')) {
    abort();
  }
  return 0;
}
