// The options of a shapes-world corpus (`tessera data synth`, datasets/shapes.md)
// and its YAML recipe (datasets/shapes.yaml): the command's flags and the
// recipe's keys set the same options through synth_option_set.
#pragma once
#include <limits.h>
#include <stdint.h>

#include "core/error.h"

#define SYNTH_MAX_BUCKETS 16

typedef struct {
  char out[PATH_MAX];
  long clips;
  int T, H, W;
  uint64_t seed;
  int pt, ph, pw;
  int text_length;
  int min_objects, max_objects;
  float fps;
  float caption_variety;  // share of short captions in other words (synth_wording.h)
  // --buckets: several shapes in one corpus (each bucket its own T, H, W and
  // clip count; nbuckets 0: the single T, H, W above with `clips`)
  int nbuckets;
  struct {
    int T, H, W;
    long clips;  // 0: `clips` (the option's value at write time)
  } bucket[SYNTH_MAX_BUCKETS];
  // where frames, size and patch were last set, for the cross-checks' messages
  char from_frames[PATH_MAX + 96], from_size[PATH_MAX + 96], from_patch[PATH_MAX + 96];
} SynthOptions;

// The defaults (datasets/shapes.yaml's): 10000 clips of 16x32x32, seed 0,
// patch 2x4x4, text length 32, 1-3 objects, 8 fps; no output file.
void synth_options_default(SynthOptions *o);
// The shape and clip count of bucket b (b < synth_bucket_count(o)): the
// --buckets entry, or the single T x H x W and `clips` when there is none.
int synth_bucket_count(const SynthOptions *o);
void synth_bucket(const SynthOptions *o, int b, int *T, int *H, int *W, long *clips);
// Sets option `key` (a flag name without dashes, '_' and '-' alike) from the
// text v; `where` starts the message ("data synth: --frames" or
// "FILE:L:C: frames"). 1 when set, 0 when the key is unknown, -1 with err
// when the value is not valid.
int synth_option_set(SynthOptions *o, const char *key, const char *v, const char *where, TsrErr *err);
// Reads the YAML recipe at path into o: its option keys (clips, frames, size,
// seed, patch, text_length, objects, fps, buckets) and the built-in tables it
// documents (backgrounds, colours, shapes, sizes, motions), which must agree
// with tessera's. 0, or -1 with "FILE:LINE:COLUMN: ..." in err.
int synth_recipe_load(SynthOptions *o, const char *path, TsrErr *err);
