#include "app/flags.h"

#include <math.h>
#include <stdlib.h>

#include "app/app_error.h"
#include "core/error.h"
#include "core/parse.h"

float parse_flag_float(const char *cmd, const char *flag, const char *v, float lo, float hi) {
  char *end;
  float x = strtof(v, &end);
  if (end == v || *end || !isfinite(x) || x < lo || x > hi)
    app_user_error("%s: %s: expected a number in [%g, %g], got '%s'", cmd, flag, lo, hi, v);
  return x;
}

int parse_flag_int(const char *cmd, const char *flag, const char *v, long lo, long hi) {
  long x;
  if (parse_long(v, lo, hi, &x)) app_user_error("%s: %s: expected an integer in [%ld, %ld], got '%s'", cmd, flag, lo, hi, v);
  return (int)x;
}
