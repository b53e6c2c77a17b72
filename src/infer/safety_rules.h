// The safety policy's word rules (docs/safety.md). A rule is text:
//   PHRASE [+ PHRASE]... [! PHRASE]...
// It fires when every PHRASE before the first "!" occurs in the prompt (in
// any order) and none after a "!" does. A PHRASE is words that must follow
// each other; a word is alternatives separated by "|", each a whole word, or
// a word's beginning when it ends in "*":
//   "behead*"                         "beheading", "beheaded"
//   "child|kid|minor* + nude|naked"   both anywhere in the prompt
//   "shoot* + school ! game|photo*"   not when the prompt says game or photo...
// Rule words go through the same normalisation as prompts (safety_norm.h),
// so "self-harm" is the word "selfharm" and "kill" is "kil". A phrase of
// several words also matches them written as one ("self harm" matches
// "selfharm", "s.e.l.f h.a.r.m" and "self-harm").
#pragma once
#include <stddef.h>

#include "core/error.h"
#include "infer/safety_norm.h"

typedef struct {
  char **alt;       // normalised alternatives
  unsigned char *prefix;  // 1: alternative i matches any word it begins
  int nalt;
} SafetyRuleWord;

typedef struct {
  SafetyRuleWord *w;
  int n;
} SafetyPhrase;

typedef struct {
  char *text;             // as written in the policy
  SafetyPhrase *need, *unless;
  int nneed, nunless;
} SafetyRule;

// Compiles text. 0, or -1 with "expected ..." in err (the caller puts the
// file position in front).
int safety_rule_compile(SafetyRule *r, const char *text, TsrErr *err);
void safety_rule_free(SafetyRule *r);
// 1 when r fires on the prompt's words; then `what` gets the words that
// matched its phrases ("kid, nude"), else 0.
int safety_rule_match(const SafetyRule *r, const SafetyWords *w, char *what, size_t n);
