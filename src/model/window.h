// (Defined in build.c.) The model's video window is a maximum (docs/choices.md "Native sizes"):
// any clip T x H x W within it, each divisible by the patch, runs through the
// same parameters with RoPE on its own integer token coordinates. These
// helpers check such a shape and give the ModelConfig "at" it (the same
// network, with frames/height/width, grid and token count of that shape), so
// code that sizes per-clip buffers from a ModelConfig works unchanged.
#pragma once
#include "core/config.h"
#include "core/error.h"

// An image is a one-frame video, T = 1 (docs/choices.md "Images"): with a
// temporal patch pt > 1 it is one *still* temporal patch, the frame repeated
// pt times (as an image input to generate and the image conditioning modes of
// training are), so its grid has t = 1 and its ModelConfig's window is pt
// frames (the first of which generation returns).
int model_grid_t(const ModelConfig *m, int T);  // T == 1 ? 1 : T / pt
// 0 if T x H x W is a shape the model can make (positive, divisible by the
// patch, within frames x height x width, tokens divisible by `sp`), else -1
// with one line naming the shape and why.
int model_window_check(const ModelConfig *max, int T, int H, int W, int sp, TsrErr *err);
// *out = *max at shape T x H x W (checked as above with sp = 1).
int model_config_at(const ModelConfig *max, int T, int H, int W, ModelConfig *out, TsrErr *err);
