#include "infer/safety_rules.h"

#include "core/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *grow(void *p, int n, size_t size) {  // room for element n (0-based), zero-filled
  p = realloc(p, size * (size_t)(n + 1));
  if (!p) abort();
  memset((char *)p + size * (size_t)n, 0, size);
  return p;
}

// One alternative of a word ("behead*"): normalised to exactly one word.
static int add_alt(SafetyRuleWord *rw, const char *s, size_t len, SafetyWords *tmp, TsrErr *err) {
  int prefix = len > 0 && s[len - 1] == '*';
  if (prefix) len--;
  if (len == 0) return tsr_err(err, "empty alternative, expected a word (\"a|b\", \"word*\")");
  if (memchr(s, '*', len))
    return tsr_err(err, "'%.*s%s': expected '*' only at the end of a word", (int)len, s, prefix ? "*" : "");
  if (safety_normalise(s, len, "rule", tmp, err)) return -1;
  if (tmp->n != 1)
    return tsr_err(err, "'%.*s': expected one word per alternative (it normalises to %d words)", (int)len, s, tmp->n);
  rw->alt = grow(rw->alt, rw->nalt, sizeof *rw->alt);
  rw->prefix = grow(rw->prefix, rw->nalt, 1);
  rw->alt[rw->nalt] = strdup(safety_word(tmp, 0));
  rw->prefix[rw->nalt++] = (unsigned char)prefix;
  return 0;
}

static int add_word(SafetyPhrase *ph, const char *s, size_t len, SafetyWords *tmp, TsrErr *err) {
  ph->w = grow(ph->w, ph->n, sizeof *ph->w);
  SafetyRuleWord *rw = &ph->w[ph->n++];
  for (size_t b = 0, e; b <= len; b = e + 1) {
    for (e = b; e < len && s[e] != '|';) e++;
    if (add_alt(rw, s + b, e - b, tmp, err)) return -1;
  }
  return 0;
}

int safety_rule_compile(SafetyRule *r, const char *text, TsrErr *err) {
  memset(r, 0, sizeof *r);
  r->text = strdup(text);
  SafetyWords tmp = {0};
  SafetyPhrase *cur = NULL;
  int unless = 0, rc = 0;
  const char *prev_op = NULL;
  for (const char *p = text; *p && !rc;) {
    if (*p == ' ' || *p == '\t' || *p == '\n') { p++; continue; }
    size_t n = strcspn(p, " \t\n");
    if (n == 1 && (*p == '+' || *p == '!')) {
      if (!cur) rc = tsr_err(err, "'%c' with no phrase before it, expected PHRASE [+ PHRASE]... [! PHRASE]...", *p);
      else if (*p == '+' && unless)
        rc = tsr_err(err, "'+' after '!', expected the phrases that must occur before the ones that must not");
      unless |= *p == '!';
      cur = NULL, prev_op = p;
    } else {
      if (!cur) {
        SafetyPhrase **list = unless ? &r->unless : &r->need;
        int *count = unless ? &r->nunless : &r->nneed;
        *list = grow(*list, *count, sizeof **list);
        cur = &(*list)[(*count)++];
      }
      rc = add_word(cur, p, n, &tmp, err);
      prev_op = NULL;
    }
    p += n;
  }
  if (!rc && r->nneed == 0) rc = tsr_err(err, "no words, expected PHRASE [+ PHRASE]... [! PHRASE]...");
  else if (!rc && prev_op) rc = tsr_err(err, "'%c' at the end, expected a phrase after it", *prev_op);
  safety_words_free(&tmp);
  if (rc) safety_rule_free(r);
  return rc;
}

static void free_phrases(SafetyPhrase *ph, int n) {
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < ph[i].n; j++) {
      for (int k = 0; k < ph[i].w[j].nalt; k++) free(ph[i].w[j].alt[k]);
      free(ph[i].w[j].alt), free(ph[i].w[j].prefix);
    }
    free(ph[i].w);
  }
  free(ph);
}

void safety_rule_free(SafetyRule *r) {
  free(r->text);
  free_phrases(r->need, r->nneed);
  free_phrases(r->unless, r->nunless);
  memset(r, 0, sizeof *r);
}

// The first n bytes of the prompt's word w equal the rule's a (n = 0: all
// of both), SAFETY_IL in w standing for i or l.
static int same(const char *w, const char *a, size_t n) {
  size_t i = 0;
  for (; (n == 0 || i < n) && a[i]; i++)
    if (w[i] != a[i] && !(w[i] == SAFETY_IL && (a[i] == 'i' || a[i] == 'l'))) return 0;
  return n ? i == n : w[i] == 0;
}

static int word_is(const SafetyRuleWord *rw, const char *word) {
  for (int k = 0; k < rw->nalt; k++)
    if (same(word, rw->alt[k], rw->prefix[k] ? strlen(rw->alt[k]) : 0)) return 1;
  return 0;
}

// The phrase's words j.. written together as `s` ("selfharm"). The joined
// word is squeezed as a whole, so a letter the parts share at the seam
// ("bl" + "lood") counts once: either the next part starts at s or one
// letter earlier.
static int joined_is(const SafetyPhrase *ph, int j, const char *s, const char *start) {
  if (j == ph->n) return *s == 0;
  const SafetyRuleWord *rw = &ph->w[j];
  for (int k = 0; k < rw->nalt; k++) {
    const char *a = rw->alt[k];
    size_t n = strlen(a);
    for (int back = 0; back <= (s > start && same(s - 1, a, 1)); back++) {
      const char *at = s - back;
      if (!same(at, a, n)) continue;
      if (j + 1 == ph->n && rw->prefix[k]) return 1;
      if (joined_is(ph, j + 1, at + n, start)) return 1;
    }
  }
  return 0;
}

// What can stand for a word at position i: the word itself, and, where
// one-letter words start a run ("k i l l"), the letters i..i+k-1 spelled
// together (stretched letters counted once, as in safety_norm).
enum { MAX_SPELLED = 40 };
typedef struct {
  int n;
  const char *s[MAX_SPELLED];  // the word, then spelled[0..n-2]
  int next[MAX_SPELLED];       // the position after each
  char spelled[MAX_SPELLED - 1][4 * MAX_SPELLED + 1];
} Cands;

static int one_letter(const SafetyWords *w, int i) {
  const char *s = safety_word(w, i);
  size_t len = strlen(s);
  return len > 0 && (size_t)utf8_seq_len((const unsigned char *)s, len) == len;
}

static void candidates(const SafetyWords *w, int i, Cands *c) {
  c->s[0] = safety_word(w, i), c->next[0] = i + 1, c->n = 1;
  if (!one_letter(w, i)) return;
  char buf[4 * MAX_SPELLED + 1];
  size_t len = 0;
  const char *prev = "";
  for (int k = i; k < w->n && k - i < MAX_SPELLED && one_letter(w, k); k++) {
    const char *l = safety_word(w, k);
    if (strcmp(l, prev)) memcpy(buf + len, l, strlen(l)), len += strlen(l);
    prev = l;
    if (k > i) {  // a spelled word has at least two letters
      char *out = c->spelled[c->n - 1];
      memcpy(out, buf, len), out[len] = 0;
      c->s[c->n] = out, c->next[c->n++] = k + 1;
    }
  }
}

// The end of ph's words j.. matched from position i, or -1; `what` gets them.
static int phrase_from(const SafetyPhrase *ph, int j, const SafetyWords *w, int i, char *what, size_t n) {
  if (j == ph->n) return i;
  if (i >= w->n) return -1;
  Cands c;
  candidates(w, i, &c);
  for (int k = 0; k < c.n; k++) {
    if (!word_is(&ph->w[j], c.s[k])) continue;
    char tail[256] = "";
    int end = phrase_from(ph, j + 1, w, c.next[k], tail, sizeof tail);
    if (end < 0) continue;
    snprintf(what, n, "%.100s%s%.150s", c.s[k], j + 1 < ph->n ? " " : "", tail);
    return end;
  }
  return -1;
}

// Whether ph occurs (its words in a row, or joined in one word); `what` gets the words.
static int phrase_in(const SafetyPhrase *ph, const SafetyWords *w, char *what, size_t n) {
  for (int i = 0; i < w->n; i++) {
    if (phrase_from(ph, 0, w, i, what, n) >= 0) return 1;
    if (ph->n < 2) continue;
    Cands c;
    candidates(w, i, &c);
    for (int k = 0; k < c.n; k++)
      if (joined_is(ph, 0, c.s[k], c.s[k])) return snprintf(what, n, "%.200s", c.s[k]), 1;
  }
  return 0;
}

int safety_rule_match(const SafetyRule *r, const SafetyWords *w, char *what, size_t n) {
  char one[256];
  for (int i = 0; i < r->nunless; i++)
    if (phrase_in(&r->unless[i], w, one, sizeof one)) return 0;
  size_t at = 0;
  if (n) what[0] = 0;
  for (int i = 0; i < r->nneed; i++) {
    if (!phrase_in(&r->need[i], w, one, sizeof one)) return 0;
    if (at < n) at += (size_t)snprintf(what + at, n - at, "%s\"%.100s\"", i ? ", " : "", one);
  }
  return 1;
}
