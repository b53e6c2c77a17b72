// The safety gate's text normalisation: a prompt becomes the list of words
// the policy's rules are matched against, with the usual tricks undone
// (docs/safety.md):
//   - case and accents: Unicode lower-case, accents stripped (text/unicode.h's
//     fold, the one BERT's tokenizer uses); full-width forms to ASCII;
//   - invisible characters (zero-width spaces and joiners, soft hyphens, every
//     control and format character) dropped;
//   - look-alike letters: Cyrillic and Greek letters that look Latin become
//     Latin in a word that also has a Latin letter ("kіll" with a Cyrillic і);
//   - leetspeak: in a word with at least one letter, 0 3 4 5 7 8 9 @ $ read
//     as o e a s t b g a s ("$ex", "bl00d"); 1 ! | stand for i or l: they
//     become SAFETY_IL, which the rules match to either ("k1ll", "chi1d");
//   - spacing inside a word: . - _ * ' ` ~ ^ · between letters join them
//     ("k.i.l.l", "self-harm" -> "selfharm"); words spelled out in
//     one-letter words ("k i l l") are read by the rule matcher
//     (safety_rules.c), which tries the letters of such a run together;
//   - stretched letters: a run of the same letter counts once ("kiiilll" and
//     "kill" both become "kil"), in the prompt and in the rules alike.
// Other punctuation and white space separate words.
#pragma once
#include <stddef.h>

#include "core/error.h"

// In a normalised word: "i or l" (a 1, ! or | among letters).
#define SAFETY_IL '1'

typedef struct {
  char *buf;     // the words, NUL-separated (UTF-8)
  size_t len, cap;
  int *word;     // offsets of the words in buf
  int n, wcap;
} SafetyWords;

// text[0..len) -> w (reset first; reuse it between calls). 0, or -1 when the
// text is not UTF-8 (`item` names it in the message: "prompt", "rule").
int safety_normalise(const char *text, size_t len, const char *item, SafetyWords *w, TsrErr *err);
static inline const char *safety_word(const SafetyWords *w, int i) { return w->buf + w->word[i]; }
void safety_words_free(SafetyWords *w);
