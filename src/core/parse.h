// Strict parsing of command-line values: the whole string must be the value.
#pragma once
// A decimal integer in [lo, hi] (no sign prefix '+', no spaces). 0 or -1.
int parse_long(const char *s, long lo, long hi, long *out);
// n positive integers separated by 'x': "32x48", "2x4x4". 0 or -1.
int parse_dims(const char *s, int n, int *out);
// Command-line flag values: the value, or a one-line user error
// "CMD: FLAG: expected ... in [lo, hi], got 'V'" (exit 2).
float parse_flag_float(const char *cmd, const char *flag, const char *v, float lo, float hi);
int parse_flag_int(const char *cmd, const char *flag, const char *v, long lo, long hi);
