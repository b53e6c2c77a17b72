// Short captions in varied words (issue 16): the same ground truth as
// synth_caption, said with other colour, shape and motion words and other
// sentence structures — the way users write prompts. No typos: the paraphrase
// eval's typos are adjacent-letter swaps a random swap here would reproduce.
//
// The word lists here are kept disjoint from the content words of the
// paraphrase eval (configs/eval/paraphrase.yaml), so that suite still measures
// prompts in words the corpus never used: a model that reads it well has
// learned to read meaning, not these particular synonyms.
#include "data/synth_wording.h"

#include <stdio.h>
#include <string.h>

#include "core/rng.h"

#define WORDING_TOKEN 0x53594EFEu  // "SYN" + 0xFE: the caption's draws, apart from the scene's
#define P_SYNONYM 0.6f             // each of colour, shape, motion said in other words
#define NSYN 4

// Per colour (SYNTH_COLOURS order: red green blue yellow cyan magenta white orange).
static const char *const COLOUR_WORDS[8][NSYN] = {
    {"ruby", "vermilion", "blood red", "bright red"},
    {"forest green", "grass green", "leafy green", "bright green"},
    {"cobalt", "sapphire", "royal blue", "deep blue"},
    {"canary yellow", "butter yellow", "saffron", "bright yellow"},
    {"teal", "bright cyan", "pale teal", "cyan-coloured"},
    {"fuchsia", "purple", "orchid", "bright magenta"},
    {"ivory", "pearl white", "chalk white", "bright white"},
    {"apricot", "carrot orange", "rust orange", "bright orange"},
};
// Per shape (circle square triangle).
static const char *const SHAPE_WORDS[3][NSYN] = {
    {"dot", "orb", "round shape", "sphere"},
    {"tile", "cube", "square shape", "square tile"},
    {"pyramid", "arrowhead", "triangular shape", "three-sided shape"},
};
// Per motion (left right up down still bounce), as a third-person verb phrase.
static const char *const MOTION_WORDS[6][NSYN] = {
    {"shifts left", "makes its way left", "runs left", "moves westward"},
    {"shifts right", "makes its way right", "runs right", "moves eastward"},
    {"lifts up", "moves higher", "flies up", "soars"},
    {"dips down", "moves lower", "plunges", "tumbles down"},
    {"sits still", "does not move", "stays put", "rests in place"},
    {"ricochets around", "bounces all over", "rebounds off the edges", "zigzags between the walls"},
};

typedef struct {
  uint64_t seed;
  uint32_t sample, k;
} Dice;

static float roll(Dice *d) { return rng_uniform(d->seed, RNG_DATA, d->sample, WORDING_TOKEN, d->k++); }
static int pick(Dice *d, int n) {
  int i = (int)(roll(d) * (float)n);
  return i < n ? i : n - 1;
}
static const char *article(const char *word) { return strchr("aeiou", word[0]) ? "an" : "a"; }

// Appends to out[0..cap) at *len, truncating.
static void append(char *out, int cap, int *len, const char *a, const char *b, const char *c, const char *e) {
  const char *parts[4] = {a, b, c, e};
  for (int i = 0; i < 4; i++) {
    int n = snprintf(out + *len, (size_t)(cap - *len), "%s", parts[i] ? parts[i] : "");
    *len = *len + n < cap - 1 ? *len + n : cap - 1;
  }
}

void synth_caption_varied(const SynthScene *s, uint64_t seed, uint64_t index, float p_varied, char *out,
                          int outlen) {
  if (outlen <= 0) return;
  Dice d = {seed, (uint32_t)index, 0};
  if (roll(&d) >= p_varied) {
    synth_caption(s, out, outlen);
    return;
  }
  // The structure, once per caption; the words, per object.
  enum { PLAIN, THAT, ONE, BARE, VIDEO_OF, NSTRUCT };
  int structure = pick(&d, NSTRUCT);
  int len = 0;
  out[0] = 0;
  for (int i = 0; i < s->nobjects; i++) {
    const SynthObject *o = &s->obj[i];
    const char *colour = roll(&d) < P_SYNONYM ? COLOUR_WORDS[o->colour][pick(&d, NSYN)] : SYNTH_COLOURS[o->colour];
    const char *shape = roll(&d) < P_SYNONYM ? SHAPE_WORDS[o->shape][pick(&d, NSYN)] : SYNTH_SHAPES[o->shape];
    const char *motion = roll(&d) < P_SYNONYM ? MOTION_WORDS[o->motion][pick(&d, NSYN)] : SYNTH_MOTIONS[o->motion];
    const char *sep = i == 0 ? "" : i == s->nobjects - 1 ? " and " : ", ";
    append(out, outlen, &len, sep, NULL, NULL, NULL);
    switch (structure) {
      case THAT: append(out, outlen, &len, article(colour), " ", colour, " "); break;
      case ONE: append(out, outlen, &len, "one ", colour, " ", NULL); break;
      case BARE: append(out, outlen, &len, colour, " ", NULL, NULL); break;
      case VIDEO_OF:
        append(out, outlen, &len, i == 0 ? "a video of " : "", article(colour), " ", colour);
        append(out, outlen, &len, " ", NULL, NULL, NULL);
        break;
      default: append(out, outlen, &len, article(colour), " ", colour, " "); break;
    }
    append(out, outlen, &len, shape, structure == THAT ? " that " : structure == VIDEO_OF ? " which " : " ", motion,
           NULL);
  }
}
