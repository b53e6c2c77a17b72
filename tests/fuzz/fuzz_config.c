// The YAML config loader, from memory (config_load_text: the path a
// checkpoint's stored config takes; files go through the same parser).
#include "core/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Config c;
  TsrErr err;
  (void)config_load_text(&c, "fuzz.yaml", (const char *)data, size, &err);  // an error is returned, never an exit
  return 0;
}
