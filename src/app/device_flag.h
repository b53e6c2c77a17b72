// --device and --precision of generate, render and eval.
#pragma once
#include "infer/session.h"

// Parses --device / --precision at argv[*i] for command `cmd`: 1 when taken
// (and *i advanced past the value), 0 when argv[*i] is another flag. A bad
// value is a one-line error (exit 2).
int device_flag(InferDevice *dev, const char *cmd, int argc, char **argv, int *i);
// The lines of --help that describe them.
#define DEVICE_FLAG_HELP \
  "  --device cpu|cuda   where the model runs (cuda: the GPU of this rank's place on its node)\n" \
  "  --precision fp32|bf16|auto  GEMM operands: bf16 on GPUs and CPUs with AVX512-BF16 (fp32\n" \
  "                      master weights); auto: bf16 where it is native, else fp32; default fp32\n"
