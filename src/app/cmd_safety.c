// `tessera safety check PROMPTS`: every prompt of a list (as `render` reads
// it) through the safety gate, without rendering: allowed or refused, the
// category and the reason (docs/safety.md).
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app_error.h"
#include "core/error.h"
#include "core/fs.h"
#include "infer/render.h"
#include "infer/safety.h"
#include "text/minilm.h"
#include "text/minilm_weights.h"

#define SAFETY_POLICY_DEFAULT "configs/safety/policy.yaml"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera safety check PROMPTS [--policy F] [--json] [--rules-only] [--model DIR] [--vectors F]\n"
          "Checks every prompt of PROMPTS (a prompt list as `tessera render` reads it: JSON Lines, one\n"
          "{\"prompt\": ...} per line, or a YAML list) against the safety policy, without rendering, and\n"
          "prints per prompt: allowed or refused, the category and the reason (the rule that fired, or the\n"
          "nearest example prompt and its cosine similarity). docs/safety.md.\n"
          "  --policy F     the policy (default $TSR_SAFETY_POLICY, else " SAFETY_POLICY_DEFAULT "\n"
          "                 beside bin/, else under the working directory)\n"
          "  --json         one JSON object per prompt: status, category, by, reason, and the nearest-example\n"
          "                 score of every category and of the allowed examples\n"
          "  --rules-only   no classifier (the word rules alone; no encoder is loaded)\n"
          "  --model DIR    the text encoder (default: all-MiniLM-L6-v2 where `make deps` put it)\n"
          "  --vectors F    write the unit sentence vectors (float32: int32 rows, int32 width, then the\n"
          "                 examples of each category in order, the allowed examples, the prompts)\n"
          "Exit status: 0 when every prompt was checked (refused ones included), 2 bad input.\n");
}

// rel beside the folder holding bin/ (the binary works from any directory), else rel itself.
static void write_vectors(const char *path, const SafetyPolicy *pol, const float *prompts, int n) {
  char tmp[PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) app_user_error("%s: cannot write the vectors", path);
  int32_t rows = n + pol->nallowed, H = pol->hidden;
  for (int c = 0; c < pol->ncat; c++) rows += pol->cat[c].nexamples;
  int ok = fwrite(&rows, 4, 1, f) == 1 && fwrite(&H, 4, 1, f) == 1;
  for (int c = 0; c < pol->ncat; c++)
    ok &= fwrite(pol->cat[c].vec, sizeof(float) * (size_t)H, (size_t)pol->cat[c].nexamples, f) == (size_t)pol->cat[c].nexamples;
  ok &= fwrite(pol->allowed_vec, sizeof(float) * (size_t)H, (size_t)pol->nallowed, f) == (size_t)pol->nallowed;
  ok &= fwrite(prompts, sizeof(float) * (size_t)H, (size_t)n, f) == (size_t)n;
  if (fclose(f) || !ok || rename(tmp, path)) {
    remove(tmp);
    app_user_error("%s: cannot write the vectors (disk full?)", path);
  }
}

static void print_json(const SafetyPolicy *pol, const RenderItem *it, const SafetyVerdict *v, const char *error) {
  json_t *o = json_object();
  json_object_set_new(o, "index", json_integer(it->index));
  json_object_set_new(o, "line", json_integer(it->line));
  json_object_set_new(o, "prompt", json_string(it->prompt ? it->prompt : ""));
  json_object_set_new(o, "status", json_string(error ? "error" : v->refused ? "refused" : "allowed"));
  json_object_set_new(o, "category", json_string(error ? "" : v->category_name));
  json_object_set_new(o, "by", json_string(error || !v->refused ? "" : v->by == SAFETY_BY_RULE ? "rule" : "example"));
  json_object_set_new(o, "reason", json_string(error ? error : v->reason));
  if (!error && v->scored) {
    json_t *s = json_object(), *near = json_object();
    for (int c = 0; c < pol->ncat; c++) {
      json_object_set_new(s, pol->cat[c].name, json_real(v->score[c]));
      json_object_set_new(near, pol->cat[c].name, json_integer(v->nearest[c]));
    }
    json_object_set_new(s, "allowed", json_real(v->allowed_score));
    json_object_set_new(near, "allowed", json_integer(v->allowed_nearest));
    json_object_set_new(o, "scores", s);
    json_object_set_new(o, "nearest", near);
  }
  char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
  printf("%s\n", text);
  free(text);
  json_decref(o);
}

static int safety_cmd_check(int argc, char **argv) {
  const char *prompts = NULL, *policy = NULL, *model = NULL, *vectors = NULL;
  int as_json = 0, rules_only = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
    if (!strcmp(a, "--json")) { as_json = 1; continue; }
    if (!strcmp(a, "--rules-only")) { rules_only = 1; continue; }
    if (a[0] != '-') {
      if (prompts) app_user_error("safety check: one prompt list expected, got '%s' and '%s'", prompts, a);
      prompts = a;
      continue;
    }
    if (strcmp(a, "--policy") && strcmp(a, "--model") && strcmp(a, "--vectors"))
      app_user_error("safety check: unknown option '%s' (see tessera safety check --help)", a);
    if (i + 1 >= argc) app_user_error("safety check: %s: expected a value after it", a);
    const char *v = argv[++i];
    if (!strcmp(a, "--policy")) policy = v;
    else if (!strcmp(a, "--model")) model = v;
    else vectors = v;
  }
  if (!prompts) app_user_error("safety check: expected a prompt list (see tessera safety check --help)");
  if (rules_only && vectors) app_user_error("safety check: --vectors needs the classifier, not --rules-only");
  char policy_path[PATH_MAX], model_dir[PATH_MAX];
  if (policy) snprintf(policy_path, sizeof policy_path, "%s", policy);
  else fs_project_path("TSR_SAFETY_POLICY", SAFETY_POLICY_DEFAULT, policy_path, sizeof policy_path);
  SafetyPolicy pol;
  TsrErr err;
  if (safety_policy_load(policy_path, &pol, &err)) app_fail(&err);
  PromptList pl;
  if (prompt_list_read(prompts, &pl, &err)) app_fail(&err);
  TextEncoder te, *tep = NULL;
  if (!rules_only) {
    if (model) snprintf(model_dir, sizeof model_dir, "%s", model);
    else fs_project_path("TSR_MINILM_DIR", MINILM_L6_DIR, model_dir, sizeof model_dir);
    if (model ? text_encoder_load(&te, model_dir, NULL, NULL, &err) : minilm_load(&te, model_dir, &err))
      app_user_error("%s (or --rules-only: the word rules alone)", err.msg);
    tep = &te;
    if (safety_policy_embed(&pol, tep, &err)) app_user_error("%s", err.msg);
  }
  // The prompts' vectors in padded batches (prompt_list_read checked the text is UTF-8).
  float *vec = tep ? calloc((size_t)pl.n * pol.hidden + 1, sizeof *vec) : NULL;
  if (tep) {
    const char **texts = malloc(sizeof *texts * (size_t)pl.n);
    int *row = malloc(sizeof *row * (size_t)pl.n), n = 0;
    for (int i = 0; i < pl.n; i++)
      if (!pl.items[i].error[0]) texts[n] = pl.items[i].prompt, row[n++] = i;
    float *tmp = malloc(sizeof *tmp * ((size_t)n * pol.hidden + 1));
    if (safety_embed_texts(tep, texts, n, tmp, &err)) app_user_error("%s", err.msg);
    for (int k = 0; k < n; k++)
      memcpy(vec + (size_t)row[k] * pol.hidden, tmp + (size_t)k * pol.hidden, sizeof *tmp * pol.hidden);
    free(texts), free(row), free(tmp);
  }
  int refused = 0, failed = 0, per_cat[SAFETY_MAX_CATEGORIES] = {0};
  for (int i = 0; i < pl.n; i++) {
    const RenderItem *it = &pl.items[i];
    SafetyVerdict v = {0};
    char ebuf[PATH_MAX + sizeof err.msg];
    const char *error = it->error[0] ? it->error : NULL;
    if (!error && safety_check_vector(&pol, it->prompt, vec ? vec + (size_t)i * pol.hidden : NULL, &v, &err)) {
      snprintf(ebuf, sizeof ebuf, "%s:%d: %s", prompts, it->line, err.msg);
      error = ebuf;
    }
    failed += !!error;
    if (!error && v.refused) refused++, per_cat[v.category]++;
    if (as_json) print_json(&pol, it, &v, error);
    else if (error) printf("line %d: error: %s\n", it->line, error);
    else if (v.refused) printf("line %d: refused (%s): %s\n", it->line, v.category_name, v.reason);
    else printf("line %d: allowed\n", it->line);
  }
  if (!as_json) {
    printf("%d prompts: %d allowed, %d refused", pl.n, pl.n - refused - failed, refused);
    if (failed) printf(", %d unreadable", failed);
    for (int c = 0, first = 1; c < pol.ncat; c++)
      if (per_cat[c]) printf("%s%s %d", first ? " (" : ", ", pol.cat[c].name, per_cat[c]), first = 0;
    printf("%s; policy %s, %s\n", refused ? ")" : "", pol.path, tep ? "rules and classifier" : "rules only");
  }
  if (vectors) write_vectors(vectors, &pol, vec, pl.n);
  free(vec);
  if (tep) text_encoder_free(tep);
  prompt_list_free(&pl);
  safety_policy_free(&pol);
  return 0;
}

int cmd_safety(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "check")) return safety_cmd_check(argc - 1, argv + 1);
  app_user_error("unknown safety command '%s' (expected check; see tessera safety --help)", argv[1]);
}
