// A command-line flag's value, range-checked: a bad one is a one-line error
// "CMD: FLAG: expected ..., got 'V'" and exit 2.
#pragma once

float parse_flag_float(const char *cmd, const char *flag, const char *v, float lo, float hi);
int parse_flag_int(const char *cmd, const char *flag, const char *v, long lo, long hi);
