#include "infer/safety_gate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/log.h"
#include "core/sha256.h"
#include "text/minilm_weights.h"

// The policy's example vectors depend only on the policy file and the
// encoder: they are kept in $XDG_CACHE_HOME/tessera (else ~/.cache/tessera),
// named by both SHA-256s, so a `generate` embeds the ~120 examples once per
// machine instead of on every call (seconds on 2 cores). Best effort: a
// cache that cannot be read or written is recomputed.
static int cache_path(const SafetyPolicy *pol, const TextEncoder *te, char *path, size_t size) {
  char dir[3000], hex[65];
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/tessera", xdg);
  else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/tessera", home);
  else return -1;
  if (sha256_file(pol->path, hex, NULL) != 0 || fs_mkdirs(dir) != 0) return -1;
  snprintf(path, size, "%s/safety-%.16s-%.16s.f32", dir, hex, te->weights_sha256);
  return 0;
}

// Every example's vector in policy order: each category's, then the allowed ones.
static size_t nvectors(const SafetyPolicy *pol) {
  size_t n = (size_t)pol->nallowed;
  for (int c = 0; c < pol->ncat; c++) n += (size_t)pol->cat[c].nexamples;
  return n;
}

static int cache_load(SafetyPolicy *pol, const TextEncoder *te, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  const int H = te->cfg.hidden;
  int32_t head[2] = {0, 0};
  int ok = fread(head, sizeof head, 1, f) == 1 && head[0] == H && head[1] == (int32_t)nvectors(pol);
  for (int c = 0; ok && c < pol->ncat; c++) {
    free(pol->cat[c].vec);
    pol->cat[c].vec = malloc(sizeof(float) * (size_t)H * (size_t)(pol->cat[c].nexamples + 1));
    ok = pol->cat[c].vec && fread(pol->cat[c].vec, sizeof(float) * H, (size_t)pol->cat[c].nexamples, f) ==
                                (size_t)pol->cat[c].nexamples;
  }
  if (ok) {
    free(pol->allowed_vec);
    pol->allowed_vec = malloc(sizeof(float) * (size_t)H * (size_t)(pol->nallowed + 1));
    ok = pol->allowed_vec && fread(pol->allowed_vec, sizeof(float) * H, (size_t)pol->nallowed, f) == (size_t)pol->nallowed;
  }
  ok = ok && fgetc(f) == EOF;
  fclose(f);
  if (!ok) return -1;
  pol->hidden = H;
  snprintf(pol->encoder_sha256, sizeof pol->encoder_sha256, "%s", te->weights_sha256);
  return 0;
}

static void cache_store(const SafetyPolicy *pol, const char *path) {
  char tmp[4300];
  snprintf(tmp, sizeof tmp, "%.4200s.%d.tmp", path, (int)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) return;
  const int32_t head[2] = {pol->hidden, (int32_t)nvectors(pol)};
  int ok = fwrite(head, sizeof head, 1, f) == 1;
  for (int c = 0; ok && c < pol->ncat; c++)
    ok = fwrite(pol->cat[c].vec, sizeof(float) * pol->hidden, (size_t)pol->cat[c].nexamples, f) ==
         (size_t)pol->cat[c].nexamples;
  ok = ok && fwrite(pol->allowed_vec, sizeof(float) * pol->hidden, (size_t)pol->nallowed, f) == (size_t)pol->nallowed;
  if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) unlink(tmp);
}

static int embed_policy(SafetyPolicy *pol, TextEncoder *te, TsrErr *err) {
  char path[4200];
  const int cached = cache_path(pol, te, path, sizeof path) == 0;
  if (cached && cache_load(pol, te, path) == 0) return 0;
  if (safety_policy_embed(pol, te, err)) return -1;
  if (cached) cache_store(pol, path);
  return 0;
}

int safety_gate_open(SafetyGate *g, const char *policy, TextCond *text, TsrErr *err) {
  memset(g, 0, sizeof *g);
  char path[4096];
  if (policy) snprintf(path, sizeof path, "%s", policy);
  else fs_project_path("TSR_SAFETY_POLICY", SAFETY_POLICY_DEFAULT, path, sizeof path);
  if (safety_policy_load(path, &g->pol, err)) return -1;
  if (text) {
    g->te = text_cond_encoder(text);
    return embed_policy(&g->pol, g->te, err);
  }
  char dir[4096];
  TsrErr why;
  fs_project_path("TSR_MINILM_DIR", MINILM_L6_DIR, dir, sizeof dir);
  if (minilm_load(&g->own, dir, &why) == 0) {
    g->te = &g->own;
    return embed_policy(&g->pol, g->te, err);
  }
  log_warn("safety gate: %s: the word rules alone check prompts (`make deps` installs the encoder)", why.msg);
  return 0;
}

int safety_gate_check(SafetyGate *g, const char *prompt, TsrErr *err) {
  SafetyVerdict v;
  if (safety_check(&g->pol, g->te, prompt, &v, err)) return -1;
  if (!v.refused) return 0;
  return tsr_err_code(err, TSR_EXIT_REFUSED, "prompt refused by the safety policy: %s: %s", v.category_name, v.reason);
}

void safety_gate_close(SafetyGate *g) {
  safety_policy_free(&g->pol);
  if (g->te == &g->own) text_encoder_free(&g->own);
  memset(g, 0, sizeof *g);
}
