// A shapes-world corpus written to disk (`tessera data synth`,
// datasets/shapes.md): clips rendered in parallel (OpenMP) a chunk at a time
// into a buffer, then handed to the corpus writer in clip order, so the file
// does not depend on the thread count. Ground truth goes to meta/objects,
// meta/positions, meta/background and meta/occlusion.
#pragma once

#include "core/error.h"
#include "data/synth_recipe.h"

// Writes o->out (o->out.tmp, renamed at the end); *render_s (may be NULL):
// seconds spent rendering. 0, or -1 with one line in err and no .tmp left.
int synth_write_corpus(const SynthOptions *o, double *render_s, TsrErr *err);
