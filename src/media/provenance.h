// The provenance record written next to every generated video (<name>.json),
// the same for `generate` and `render` (render adds where the item came from).
// Always valid JSON: strings go through sb_json_string (infer/manifest.h).
#pragma once
#include <stdint.h>

#include "infer/manifest.h"
#include "infer/sampler.h"

typedef struct {
  const char *prompt;
  uint64_t seed;
  const char *sampler;          // "euler" or "heun"
  const SamplerOptions *so;     // steps, cfg, shift
  int frames, height, width, keyframe;
  const char *image, *extend, *first, *last, *remix;  // conditioning inputs (NULL: none)
  double strength;              // remix strength (0 without remix)
  const char *ckpt;
  long long ckpt_step;
  const char *ckpt_sha256;     // 64 hex digits ("" when the file could not be read back)
  int use_ema;
  int ranks, dp, cfg_parallel, sp, tp;  // the layout that made it
  const char *render_prompts;   // render only: the prompt list (NULL: generate)
  int render_index, render_line;
  double seconds;
} Provenance;

// The record as one line of JSON (with its newline) appended to b. The
// conditioning inputs (image, extend, first, last, remix) are recorded with
// their SHA-256 (libcrypto), read here; an unreadable one is recorded as null.
// The same record is signed into the MP4's C2PA manifest (org.tessera.generation).
void provenance_json(StrBuf *b, const Provenance *p);
