#include "app/device_flag.h"

#include <string.h>

#include "app/app_error.h"
#include "core/error.h"

int device_flag(InferDevice *dev, const char *cmd, int argc, char **argv, int *i) {
  const char *k = argv[*i];
  const int device = !strcmp(k, "--device"), precision = !strcmp(k, "--precision");
  if (!device && !precision) return 0;
  if (*i + 1 >= argc) app_user_error("%s: %s: expected a value after it", cmd, k);
  const char *v = argv[++*i];
  if (device && strcmp(v, "cpu") && strcmp(v, "cuda"))
    app_user_error("%s: --device: expected cpu or cuda, got '%s'", cmd, v);
  if (precision && strcmp(v, "fp32") && strcmp(v, "bf16") && strcmp(v, "auto"))
    app_user_error("%s: --precision: expected fp32, bf16 or auto, got '%s'", cmd, v);
  if (device) dev->device = v;
  else dev->precision = v;
  return 1;
}
