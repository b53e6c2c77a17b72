// Short captions in varied words (issue 16, datasets/shapes.md "Captions").
#pragma once
#include <stdint.h>

#include "data/synth.h"

// Clip `index`'s short caption: with probability p_varied (a draw of the
// counter RNG keyed by seed and index, apart from the scene's draws) the
// scene said in other words and sentence structures — "one teal orb soars",
// "a video of a ruby tile which goes to the left" — else synth_caption's
// canonical words. Deterministic for (scene, seed, index, p_varied).
void synth_caption_varied(const SynthScene *s, uint64_t seed, uint64_t index, float p_varied, char *out,
                          int outlen);
