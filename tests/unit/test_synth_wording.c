// Short captions in varied words (src/data/synth_wording.c): deterministic per
// clip, canonical at p 0, varied in about the asked share of clips, naming each
// object's colour, shape and motion, and — what keeps the paraphrase eval
// honest — adding no content word of configs/eval/paraphrase.yaml's prompts that
// the canonical captions and recaptions do not already use.
// Run from the repository root (reads configs/eval/paraphrase.yaml).
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth.h"
#include "data/synth_wording.h"
#include "testlib.h"

enum { T = 8, H = 16, W = 16, NCLIPS = 4000, MAXWORDS = 1024, WORDLEN = 32 };

typedef struct {
  char w[MAXWORDS][WORDLEN];
  int n;
} WordSet;

static int has(const WordSet *s, const char *w) {
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->w[i], w)) return 1;
  return 0;
}
// Adds the lower-cased letter runs of text (a hyphen splits words, as both tokenizers do).
static void add_words(WordSet *s, const char *text) {
  for (const char *p = text; *p;) {
    while (*p && !isalpha((unsigned char)*p)) p++;
    char w[WORDLEN];
    int n = 0;
    while (*p && isalpha((unsigned char)*p)) {
      if (n < WORDLEN - 1) w[n++] = (char)tolower((unsigned char)*p);
      p++;
    }
    w[n] = 0;
    if (n && !has(s, w) && s->n < MAXWORDS) strcpy(s->w[s->n++], w);
  }
}

// The prompts of the paraphrase suite, as a word set.
static void eval_words(WordSet *s) {
  FILE *f = fopen("configs/eval/paraphrase.yaml", "r");
  EXPECT(f != NULL, "cannot open configs/eval/paraphrase.yaml (run from the repository root)");
  if (!f) return;
  char line[1024];
  int prompts = 0;
  while (fgets(line, sizeof line, f)) {
    char *p = strstr(line, "prompt: \"");
    if (!p) continue;
    p += 9;
    char *q = strchr(p, '"');
    if (q) *q = 0;
    add_words(s, p);
    prompts++;
  }
  fclose(f);
  EXPECT(prompts >= 20, "paraphrase.yaml: %d prompts read, expected the suite's 30", prompts);
}

int main(void) {
  static WordSet canonical, varied, suite;
  eval_words(&suite);
  // Function words the suite shares with any English caption: not content.
  static const char *const function_words[] = {"a", "an", "the", "to", "of", "and", "it", "is", "in", "on", "at"};
  int nvaried = 0, nclips = 0;
  for (int i = 0; i < NCLIPS; i++) {
    SynthScene s;
    synth_scene(&s, 11, (uint64_t)i, T, H, W);
    char canon[512], rec[1024], v1[512], v2[512], v0[512];
    synth_caption(&s, canon, sizeof canon);
    synth_recaption(&s, T, H, W, rec, sizeof rec);
    add_words(&canonical, canon);
    add_words(&canonical, rec);
    synth_caption_varied(&s, 11, (uint64_t)i, 0.5f, v1, sizeof v1);
    synth_caption_varied(&s, 11, (uint64_t)i, 0.5f, v2, sizeof v2);
    synth_caption_varied(&s, 11, (uint64_t)i, 0.0f, v0, sizeof v0);
    EXPECT(!strcmp(v1, v2), "clip %d: two draws differ: '%s' vs '%s'", i, v1, v2);
    EXPECT(!strcmp(v0, canon), "clip %d: p 0 gives '%s', expected the canonical '%s'", i, v0, canon);
    nclips++;
    nvaried += strcmp(v1, canon) != 0;
    synth_caption_varied(&s, 11, (uint64_t)i, 1.0f, v1, sizeof v1);
    add_words(&varied, v1);
    // Every object is named: one "and" joins the last, one ", " each before.
    int ands = 0, commas = 0;
    for (const char *p = v1; (p = strstr(p, " and ")); p++) ands++;
    for (const char *p = v1; (p = strstr(p, ", ")); p++) commas++;
    EXPECT(ands == (s.nobjects > 1) && commas == (s.nobjects > 2 ? s.nobjects - 2 : 0),
           "clip %d (%d objects): '%s' does not list them", i, s.nobjects, v1);
  }
  // At p 0.5 some clips keep canonical words (a varied draw may also pick them
  // all, so the share of changed captions is a little under a half).
  double share = (double)nvaried / nclips;
  EXPECT(share > 0.40 && share < 0.52, "share of captions in other words at p 0.5: %.3f, expected 0.40..0.52",
         share);
  // The new words the varied captions bring: none of them the suite's.
  int new_words = 0;
  for (int i = 0; i < varied.n; i++) {
    const char *w = varied.w[i];
    if (has(&canonical, w)) continue;
    new_words++;
    int fw = 0;
    for (size_t k = 0; k < sizeof function_words / sizeof *function_words; k++) fw |= !strcmp(w, function_words[k]);
    EXPECT(fw || !has(&suite, w), "varied captions use '%s', a word of the paraphrase eval's prompts", w);
  }
  EXPECT(new_words >= 40, "varied captions bring %d new words, expected at least 40 synonyms and structures",
         new_words);
  printf("synth wording: %d clips, %.1f%% varied at p 0.5, %d new words, %d suite words checked\n", nclips,
         100.0 * share, new_words, suite.n);
  return tl_finish("synth_wording");
}
