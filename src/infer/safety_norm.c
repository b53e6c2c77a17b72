#include "infer/safety_norm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "core/utf8.h"
#include "text/unicode.h"

// Growable array of code points (a chunk between white space, then a word).
typedef struct {
  uint32_t *cp;
  int n, cap;
} Cps;

static void cps_push(Cps *c, uint32_t cp) {
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 64;
    c->cp = realloc(c->cp, sizeof *c->cp * (size_t)c->cap);
    if (!c->cp) abort();
  }
  c->cp[c->n++] = cp;
}

static int is_ascii_letter(uint32_t c) { return c >= 'a' && c <= 'z'; }
static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
// A letter for these rules: anything that is not a digit, punctuation or space.
static int is_letter(uint32_t c) { return !is_digit(c) && !uni_is_punct(c) && !uni_is_whitespace(c); }

// Zero-width characters that uni_is_control does not drop by itself.
static int is_invisible(uint32_t c) {
  return uni_is_control(c) || (c >= 0x200B && c <= 0x200F) || (c >= 0x2060 && c <= 0x2064) || c == 0x00AD ||
         c == 0x034F || c == 0xFEFF || c == 0x180E;
}

// Cyrillic and Greek letters (lower case, after folding) that look like Latin ones.
static uint32_t homoglyph(uint32_t c) {
  static const uint32_t map[][2] = {
      {0x0430, 'a'}, {0x0432, 'b'}, {0x0435, 'e'}, {0x043A, 'k'}, {0x043C, 'm'}, {0x043D, 'h'}, {0x043E, 'o'},
      {0x0440, 'p'}, {0x0441, 'c'}, {0x0442, 't'}, {0x0443, 'y'}, {0x0445, 'x'}, {0x0455, 's'}, {0x0456, 'i'},
      {0x0458, 'j'}, {0x04CF, 'l'}, {0x0501, 'd'}, {0x051B, 'q'}, {0x051D, 'w'}, {0x03B1, 'a'}, {0x03B9, 'i'},
      {0x03BA, 'k'}, {0x03BD, 'v'}, {0x03BF, 'o'}, {0x03C1, 'p'}, {0x03C4, 't'}, {0x03C5, 'u'}, {0x03C7, 'x'},
  };
  for (size_t i = 0; i < sizeof map / sizeof *map; i++)
    if (map[i][0] == c) return map[i][1];
  return c;
}

// Leetspeak digits and symbols as letters (only in a word with a letter).
static uint32_t leet(uint32_t c) {
  switch (c) {
    case '0': return 'o';
    case '1': return SAFETY_IL;
    case '3': return 'e';
    case '4': return 'a';
    case '5': return 's';
    case '7': return 't';
    case '8': return 'b';
    case '9': return 'g';
    case '@': return 'a';
    case '$': return 's';
    case '!': return SAFETY_IL;
    case '|': return SAFETY_IL;
    default: return c;
  }
}
static int is_leet_symbol(uint32_t c) { return c == '@' || c == '$' || c == '!' || c == '|'; }

// Punctuation that joins the letters on either side of it instead of splitting.
static int is_joiner(uint32_t c) {
  return c == '.' || c == '-' || c == '_' || c == '*' || c == '\'' || c == '`' || c == '~' || c == '^' ||
         c == 0x00B7 || c == 0x2010 || c == 0x2011 || c == 0x2013 || c == 0x2019 || c == 0x2018 || c == 0x2022;
}

static void words_add(SafetyWords *w, const Cps *word) {
  if (word->n == 0) return;
  if (w->n == w->wcap) {
    w->wcap = w->wcap ? 2 * w->wcap : 32;
    w->word = realloc(w->word, sizeof *w->word * (size_t)w->wcap);
    if (!w->word) abort();
  }
  size_t need = w->len + 4 * (size_t)word->n + 1;
  if (need > w->cap) {
    w->cap = 2 * need;
    w->buf = realloc(w->buf, w->cap);
    if (!w->buf) abort();
  }
  w->word[w->n++] = (int)w->len;
  uint32_t prev = 0;
  for (int i = 0; i < word->n; i++) {  // stretched letters count once
    if (word->cp[i] == prev) continue;
    prev = word->cp[i];
    w->len += (size_t)utf8_encode(prev, w->buf + w->len);
  }
  w->buf[w->len++] = 0;
}

// One chunk between white space: look-alikes, leetspeak, joiners; its words
// go to out (one Cps per word, in *words).
static void chunk_words(Cps *chunk, Cps **words, int *nwords, int *cap) {
  int latin = 0, letter = 0;
  for (int i = 0; i < chunk->n; i++) latin |= is_ascii_letter(chunk->cp[i]), letter |= is_letter(chunk->cp[i]);
  for (int i = 0; i < chunk->n; i++) {
    uint32_t *c = &chunk->cp[i];
    if (latin) *c = homoglyph(*c);
    if (!letter) continue;
    // a symbol counts as a letter only before a letter or digit ("$ex", "k!ll"; not "kill!")
    if (is_digit(*c) || (is_leet_symbol(*c) && i + 1 < chunk->n &&
                         (is_letter(chunk->cp[i + 1]) || is_digit(chunk->cp[i + 1]))))
      *c = leet(*c);
  }
  Cps *cur = NULL;
  for (int i = 0; i < chunk->n; i++) {
    uint32_t c = chunk->cp[i];
    if (uni_is_punct(c)) {
      int inside = is_joiner(c) && cur && cur->n && i + 1 < chunk->n && !uni_is_punct(chunk->cp[i + 1]);
      if (!inside) cur = NULL;
      continue;
    }
    if (!cur) {
      if (*nwords == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *words = realloc(*words, sizeof **words * (size_t)*cap);
        if (!*words) abort();
        memset(*words + *nwords, 0, sizeof **words * (size_t)(*cap - *nwords));
      }
      cur = &(*words)[(*nwords)++];
      cur->n = 0;
    }
    cps_push(cur, c);
  }
}

int safety_normalise(const char *text, size_t len, const char *item, SafetyWords *w, TsrErr *err) {
  w->len = 0, w->n = 0;
  long bad = utf8_invalid_at(text, len);
  if (bad >= 0)
    return tsr_err(err, "%s: invalid UTF-8 (byte 0x%02x) at byte %ld, expected UTF-8 text", item,
                   (unsigned char)text[bad], bad + 1);
  Cps chunk = {0};
  Cps *words = NULL;
  int nwords = 0, cap = 0;
  const unsigned char *s = (const unsigned char *)text;
  for (size_t at = 0; at <= len;) {
    uint32_t cp = ' ';
    if (at < len) {
      int k = utf8_seq_len(s + at, len - at);
      cp = utf8_decode(s + at, k);
      at += (size_t)k;
    } else at++;
    if (is_invisible(cp)) continue;
    if (uni_is_whitespace(cp)) {
      chunk_words(&chunk, &words, &nwords, &cap);
      chunk.n = 0;
      continue;
    }
    if (cp >= 0xFF01 && cp <= 0xFF5E) cp -= 0xFEE0;  // full-width ASCII
    uint32_t f[UNI_FOLD_MAX];
    int nf = uni_fold(cp, f);
    for (int i = 0; i < nf; i++) cps_push(&chunk, f[i]);
  }
  for (int i = 0; i < nwords; i++) words_add(w, &words[i]);
  for (int i = 0; i < cap; i++) free(words[i].cp);
  free(words), free(chunk.cp);
  return 0;
}

void safety_words_free(SafetyWords *w) {
  free(w->buf), free(w->word);
  memset(w, 0, sizeof *w);
}
