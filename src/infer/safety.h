// The prompt safety gate (docs/safety.md): a policy of categories, each with
// word rules and example prompts, and a check that combines the two.
//
//   SafetyPolicy pol;  TsrErr err;  SafetyVerdict v;
//   if (safety_policy_load("configs/safety/policy.yaml", &pol, &err)) ... err.msg
//   if (safety_check(&pol, &te, prompt, &v, &err)) ...   // te: MiniLM (minilm_load), or NULL: rules only
//   if (v.refused) ... v.category, v.reason
//   safety_policy_free(&pol);
//
// A prompt is refused when
//   1. a rule of a category fires on its normalised words (safety_rules.h), or
//   2. (with an encoder) its nearest example prompts of a category, by cosine
//      similarity of MiniLM's mean-pooled sentence vectors (the mean cosine
//      of the policy's `neighbours` nearest ones), score at least the
//      category's threshold and beat the nearest *allowed* examples (the
//      benign prompts near the boundary: "a shooting star", "a knife cutting
//      bread"), scored the same way, by at least the policy's margin.
// Rules are looked at first; among categories the classifier refuses, the
// highest score names the category.
#pragma once
#include <stddef.h>

#include "core/error.h"
#include "infer/safety_rules.h"
#include "text/minilm.h"

#define SAFETY_MAX_CATEGORIES 32
#define SAFETY_NAME_MAX 48
#define SAFETY_MAX_NEIGHBOURS 16

typedef struct {
  char *text;
  int line;          // in the policy file (1-based)
} SafetyExample;

typedef struct {
  char name[SAFETY_NAME_MAX];   // "self_harm"
  char *description;            // "self-harm and suicide"
  float threshold;              // cosine a nearest example must reach
  SafetyRule *rules;
  int *rule_line, *rule_col;    // where each rule is written
  int nrules;
  SafetyExample *examples;
  int nexamples;
  float *vec;                   // [nexamples, hidden], unit length; NULL until embedded
} SafetyCategory;

typedef struct {
  char path[1024];
  float threshold;              // the default of categories that give none
  float margin;                 // over the nearest allowed examples
  int neighbours;               // a score is the mean cosine of this many nearest examples (1)
  SafetyCategory cat[SAFETY_MAX_CATEGORIES];
  int ncat;
  SafetyExample *allowed;       // benign examples near the boundary
  int nallowed;
  float *allowed_vec;           // [nallowed, hidden]
  int hidden;                   // width of the vectors (0: not embedded yet)
  char encoder_sha256[65];      // of the encoder that embedded them
} SafetyPolicy;

enum { SAFETY_BY_NONE = 0, SAFETY_BY_RULE = 1, SAFETY_BY_EXAMPLE = 2 };

typedef struct {
  int refused;                  // 0: allowed
  int category;                 // index in policy->cat, -1 when allowed
  const char *category_name;    // "" when allowed
  int by;                       // SAFETY_BY_*
  char reason[768];             // one line: the rule or the nearest example, with the score
  // The classifier's scores (with an encoder; else `scored` is 0):
  int scored;
  float score[SAFETY_MAX_CATEGORIES];   // mean cosine of the nearest examples of each category
  int nearest[SAFETY_MAX_CATEGORIES];   // the nearest one's index in cat[c].examples
  float allowed_score;                  // the same for the allowed examples (-1: none)
  int allowed_nearest;
} SafetyVerdict;

// Reads and checks a policy file (YAML; the format is in docs/safety.md and
// configs/safety/policy.yaml). 0, or -1 with one line
// "FILE:LINE:COL: key: expected ..." in err (code 2).
int safety_policy_load(const char *path, SafetyPolicy *pol, TsrErr *err);
void safety_policy_free(SafetyPolicy *pol);

// Computes the example vectors with te (safety_check does it on first use;
// done again if te is another encoder). 0 or -1.
int safety_policy_embed(SafetyPolicy *pol, TextEncoder *te, TsrErr *err);

// Checks one prompt. te may be NULL (rules only). 0 with the verdict in *v
// (refused or not), or -1 when the prompt cannot be read (not UTF-8).
int safety_check(SafetyPolicy *pol, TextEncoder *te, const char *prompt, SafetyVerdict *v, TsrErr *err);

// The same with the prompt's vector already computed (safety_embed_texts,
// e.g. a whole list in batches, after safety_policy_embed with the same
// encoder); vec NULL: rules only.
int safety_check_vector(const SafetyPolicy *pol, const char *prompt, const float *vec, SafetyVerdict *v, TsrErr *err);

// The unit-length mean-pooled vector of each text ([n, te->cfg.hidden]),
// encoded in padded batches: what the classifier compares. 0 or -1.
int safety_embed_texts(TextEncoder *te, const char *const *texts, int n, float *out, TsrErr *err);
