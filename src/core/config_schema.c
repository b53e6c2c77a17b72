// The config schema: one row per key (see docs/config.md), and the typed
// parsing, range checks and printing of one value. config.c walks YAML and
// calls in here, so adding a key is one row in the table.
#include "core/config_schema.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(Config, f)
#define SIZE(f) sizeof(((Config *)0)->f)
#define NOMAX INT_MAX  // an int field with no upper bound
#define INF HUGE_VAL
#define INT(k, f, lo, hi) {k, FT_INT, OFF(f), 0, lo, hi, 0, NULL}
#define REQ(k, f, lo, hi) {k, FT_INT, OFF(f), 0, lo, hi, FF_REQUIRED, NULL}
#define U64(k, f) {k, FT_U64, OFF(f), 0, 0, 0, 0, NULL}
#define FLT(k, f, lo, hi, fl) {k, FT_FLOAT, OFF(f), 0, lo, hi, fl, NULL}
#define STR(k, f, minlen, fl) {k, FT_STR, OFF(f), SIZE(f), minlen, 0, fl, NULL}
#define ENUM(k, f, ch) {k, FT_ENUM, OFF(f), SIZE(f), 0, 0, 0, ch}
#define INT3(k, f, lo, hi, fl) {k, FT_INT3, OFF(f), 0, lo, hi, fl, NULL}
#define PROB(k, f) FLT(k, f, 0, 1, 0)
#define OPEN1 FF_HI_OPEN  // [0, 1): betas and decays

// Order = print order. The upper bounds on model sizes keep N and P inside int.
const Field cfg_fields[] = {
    STR("model.name", model.name, 0, FF_REQUIRED),
    REQ("model.video.frames", model.frames, 1, 4096),
    REQ("model.video.height", model.height, 1, 16384),
    REQ("model.video.width", model.width, 1, 16384),
    REQ("model.video.channels", model.channels, 1, 1024),
    INT3("model.patch", model.pt, 1, 1024, FF_REQUIRED),  // pt, ph, pw are adjacent ints
    REQ("model.dim", model.dim, 1, 65536),
    REQ("model.depth", model.depth, 1, 1024),
    REQ("model.heads", model.heads, 1, 1024),
    REQ("model.mlp_ratio", model.mlp_ratio, 1, 64),
    REQ("model.text.length", model.text_length, 1, 65536),
    REQ("model.text.layers", model.text_layers, 0, 1024),
    REQ("model.text.vocab", model.vocab, 4, 1 << 24),
    ENUM("model.text.encoder", model.text_encoder, "learned|minilm"),  // absent: learned
    INT3("model.rope", model.rope, 2, 65536, 0),  // absent: derived from head_dim
    INT("model.freq_dim", model.freq_dim, 2, 65536),
    ENUM("model.predict", model.predict, "v|x"),  // absent: v
    STR("model.vae", model.vae, 0, 0),            // absent: pixels

    INT("train.steps", train.steps, 1, NOMAX),
    INT("train.batch", train.batch, 1, NOMAX),
    INT("train.accum", train.accum, 1, NOMAX),
    FLT("train.lr", train.lr, 0, INF, FF_LO_OPEN),
    FLT("train.min_lr", train.min_lr, 0, INF, 0),
    FLT("train.weight_decay", train.weight_decay, 0, INF, 0),
    FLT("train.beta1", train.beta1, 0, 1, OPEN1),
    FLT("train.beta2", train.beta2, 0, 1, OPEN1),
    FLT("train.eps", train.eps, 0, INF, FF_LO_OPEN),
    FLT("train.grad_clip", train.grad_clip, 0, INF, 0),  // 0 = off
    INT("train.warmup", train.warmup, 0, NOMAX),
    FLT("train.ema_decay", train.ema_decay, 0, 1, OPEN1),
    INT("train.log_every", train.log_every, 1, NOMAX),
    INT("train.ckpt_every", train.ckpt_every, 0, NOMAX),  // 0 = only at the end
    INT("train.keep_ckpts", train.keep_ckpts, 0, NOMAX),  // 0 = keep all
    STR("train.out", train.out, 1, 0),
    STR("train.resume", train.resume, 0, 0),
    STR("train.init_from", train.init_from, 0, 0),
    U64("train.seed", train.seed),
    FLT("train.t_logit_mean", train.t_logit_mean, -INF, INF, 0),
    FLT("train.t_logit_std", train.t_logit_std, 0, INF, FF_LO_OPEN),
    PROB("train.p_cond_none", train.p_cond_none),
    PROB("train.p_cond_first", train.p_cond_first),
    PROB("train.p_cond_prefix", train.p_cond_prefix),
    PROB("train.p_cond_ends", train.p_cond_ends),
    PROB("train.p_cond_random", train.p_cond_random),
    INT("train.max_bad_steps", train.max_bad_steps, 0, NOMAX),
    FLT("train.time_limit", train.time_limit, 0, INF, 0),  // minutes; 0 = none
    ENUM("train.text_encoder", train.text_encoder, "trained|frozen"),
    ENUM("train.recompute", train.recompute, "none|attention|block"),

    STR("data.path", data.path, 0, 0),
    PROB("data.p_recaption", data.p_recaption),
    PROB("data.p_drop", data.p_drop),
    INT("data.prefetch", data.prefetch, 0, 64),
    STR("data.buckets", data.buckets, 0, 0),
    INT("data.tokens", data.tokens, 0, NOMAX),

    INT("parallel.tp", parallel.tp, 1, 65536),
    INT("parallel.sp", parallel.sp, 1, 65536),
    INT("parallel.dp", parallel.dp, 1, 65536),
    INT("parallel.ring", parallel.ring, 1, 65536),  // of sp: Ulysses degree = sp / ring
    FLT("parallel.bucket_mb", parallel.bucket_mb, 0, 1e6, 0),  // 0 = no overlap (docs/parallel_train.md)

    INT("sample.steps", sample.steps, 1, 100000),
    FLT("sample.cfg", sample.cfg, 0, INF, 0),
    FLT("sample.shift", sample.shift, 0, INF, FF_LO_OPEN),
    ENUM("sample.sampler", sample.sampler, "euler|heun"),
    U64("sample.seed", sample.seed),

    ENUM("run.device", run.device, "cpu|cuda"),
    ENUM("run.precision", run.precision, "fp32|bf16|auto"),
    INT("run.threads", run.threads, 0, 4096),  // train; 0 = OpenMP default
};
const int cfg_nfields = (int)(sizeof cfg_fields / sizeof cfg_fields[0]);

const Field *cfg_field(const char *key) {
  for (int i = 0; i < cfg_nfields; i++)
    if (!strcmp(cfg_fields[i].key, key)) return &cfg_fields[i];
  return NULL;
}

bool cfg_is_group(const char *key) {
  size_t n = strlen(key);
  for (int i = 0; i < cfg_nfields; i++)
    if (!strncmp(cfg_fields[i].key, key, n) && cfg_fields[i].key[n] == '.') return true;
  return false;
}

static int edit_distance(const char *a, const char *b) {
  int n = (int)strlen(b), row[64];
  if (n > 62 || strlen(a) > 62) return 99;
  for (int j = 0; j <= n; j++) row[j] = j;
  for (const char *p = a; *p; p++) {
    int diag = row[0]++;
    for (int j = 1; j <= n; j++) {
      int up = row[j], best = diag + (*p != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[n];
}

void cfg_unknown_hint(const char *group, const char *name, char *buf, size_t n) {
  char list[768] = "", near[64] = "", part[64], prev[64] = "";
  size_t glen = strlen(group);
  int best = 3;  // suggest only keys within two edits
  for (int i = 0; i < cfg_nfields; i++) {
    const char *k = cfg_fields[i].key;
    if (glen && (strncmp(k, group, glen) || k[glen] != '.')) continue;
    const char *s = glen ? k + glen + 1 : k;
    snprintf(part, sizeof part, "%.*s", (int)strcspn(s, "."), s);
    if (!strcmp(part, prev)) continue;  // rows of one sub-mapping are adjacent
    snprintf(prev, sizeof prev, "%s", part);
    size_t used = strlen(list);
    snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", part);
    int d = edit_distance(name, part);
    if (d < best && d < (int)strlen(name)) best = d, snprintf(near, sizeof near, "%s", part);
  }
  if (near[0]) snprintf(buf, n, "did you mean '%s'? valid keys: %s", near, list);
  else snprintf(buf, n, "valid keys: %s", list);
}

static void range_text(const Field *f, char *buf, size_t n) {
  bool is_int = f->type == FT_INT || f->type == FT_INT3;
  bool has_lo = f->lo > -INF, has_hi = is_int ? f->hi < NOMAX : f->hi < INF;
  const char *fmt = is_int ? "%.0f" : "%g";
  char lo[32], hi[32];
  snprintf(lo, sizeof lo, fmt, f->lo);
  snprintf(hi, sizeof hi, fmt, f->hi);
  if (has_lo && has_hi)
    snprintf(buf, n, " in %c%s, %s%c", f->flags & FF_LO_OPEN ? '(' : '[', lo, hi, f->flags & FF_HI_OPEN ? ')' : ']');
  else if (has_lo) snprintf(buf, n, " %s %s", f->flags & FF_LO_OPEN ? ">" : ">=", lo);
  else snprintf(buf, n, "%s", "");
}

void cfg_expected(const Field *f, char *buf, size_t n) {
  char r[80];
  range_text(f, r, sizeof r);
  switch (f->type) {
    case FT_INT: snprintf(buf, n, "an integer%s", r); break;
    case FT_INT3: snprintf(buf, n, "a sequence of 3 integers%s", r); break;
    case FT_U64: snprintf(buf, n, "a non-negative integer"); break;
    case FT_FLOAT: snprintf(buf, n, "a number%s", r); break;
    case FT_ENUM: snprintf(buf, n, "one of %s", f->choices); break;
    case FT_STR:
      snprintf(buf, n, "a %sstring of at most %zu characters", f->lo > 0 ? "non-empty " : "", f->size - 1);
      break;
  }
}

// "expected <what>, got <got>" into err; always returns false.
static bool fail(const Field *f, const char *got, char *err, size_t n) {
  char want[128];
  cfg_expected(f, want, sizeof want);
  snprintf(err, n, "expected %s, got %s", want, got);
  return false;
}

static bool fail_text(const Field *f, const char *text, bool quoted, char *err, size_t n) {
  char got[128];
  bool numeric = f->type != FT_STR && f->type != FT_ENUM;  // quotes make a YAML scalar a string
  if (!*text && !quoted) snprintf(got, sizeof got, "an empty value");
  else
    snprintf(got, sizeof got, "'%.60s%s'%s", text, strlen(text) > 60 ? "..." : "",
             quoted && numeric ? " (a quoted string)" : "");
  return fail(f, got, err, n);
}

static bool in_range(const Field *f, double v) {
  bool lo_ok = f->flags & FF_LO_OPEN ? v > f->lo : v >= f->lo;
  bool hi_ok = f->flags & FF_HI_OPEN ? v < f->hi : v <= f->hi;
  return lo_ok && hi_ok;
}

// Whole-string decimal integer; no floats, no hex.
static bool parse_ll(const char *s, long long *v) {
  if (!*s || strspn(s, "+-0123456789") != strlen(s)) return false;
  char *end;
  errno = 0;
  *v = strtoll(s, &end, 10);
  return !*end && errno == 0;
}

static bool is_null(const char *s) { return !*s || !strcmp(s, "~") || !strcmp(s, "null"); }

bool cfg_parse(const Field *f, Config *c, int elem, const char *text, bool quoted, char *err, size_t n) {
  char *dst = (char *)c + f->off;
  long long iv;
  switch (f->type) {
    case FT_INT:
    case FT_INT3:
      if (quoted || !parse_ll(text, &iv) || !in_range(f, (double)iv)) return fail_text(f, text, quoted, err, n);
      ((int *)dst)[elem] = (int)iv;
      return true;
    case FT_U64: {
      char *end;
      errno = 0;
      unsigned long long u = strtoull(text, &end, 10);
      if (quoted || !*text || strspn(text, "0123456789") != strlen(text) || *end || errno)
        return fail_text(f, text, quoted, err, n);
      *(uint64_t *)dst = u;
      return true;
    }
    case FT_FLOAT: {
      // Decimal only: strtod would also take "nan", "inf" and hex floats.
      bool decimal = *text && !quoted && strspn(text, "0123456789+-.eE") == strlen(text);
      char *end = NULL;
      float v = decimal ? (float)strtod(text, &end) : NAN;  // range-check what is stored (1e-50 -> 0)
      if (!decimal || *end || !isfinite(v) || !in_range(f, v)) return fail_text(f, text, quoted, err, n);
      *(float *)dst = v;
      return true;
    }
    case FT_STR: {
      if (!quoted && is_null(text)) text = "";
      size_t len = strlen(text);
      if (len >= f->size || (double)len < f->lo) return fail_text(f, text, quoted, err, n);
      memcpy(dst, text, len + 1);
      return true;
    }
    case FT_ENUM: {
      size_t len = strlen(text);
      for (const char *p = f->choices; *p;) {
        size_t plen = strcspn(p, "|");
        if (len && plen == len && !strncmp(p, text, len)) {
          memcpy(dst, text, len + 1);
          return true;
        }
        p += plen + (p[plen] == '|');
      }
      return fail_text(f, text, quoted, err, n);
    }
  }
  return false;
}

bool cfg_check(const Field *f, const Config *c, char *err, size_t n) {
  const char *src = (const char *)c + f->off;
  char got[64];
  if (f->type == FT_INT3) {
    const int *v = (const int *)src;
    snprintf(got, sizeof got, "[%d, %d, %d]", v[0], v[1], v[2]);
    for (int i = 0; i < 3; i++)
      if (!in_range(f, v[i])) return fail(f, got, err, n);
  } else if (f->type == FT_INT) {
    snprintf(got, sizeof got, "%d", *(const int *)src);
    if (!in_range(f, *(const int *)src)) return fail(f, got, err, n);
  } else if (f->type == FT_FLOAT) {
    snprintf(got, sizeof got, "%g", *(const float *)src);
    if (!in_range(f, *(const float *)src)) return fail(f, got, err, n);
  } else if (f->type == FT_STR && !memchr(src, 0, f->size)) {
    return fail(f, "an unterminated string", err, n);
  }
  return true;
}

// Shortest %g that reads back as the same float, so printed configs reload exactly.
static void print_float(float v, FILE *out) {
  char buf[32];
  for (int prec = 1; prec <= 9; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtof(buf, NULL) == v) break;
  }
  fputs(buf, out);
}

static void print_quoted(const char *s, FILE *out) {
  fputc('"', out);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(out, "\\%c", ch);
    else if (ch < 0x20) fprintf(out, "\\x%02x", ch);
    else fputc(ch, out);
  }
  fputc('"', out);
}

void cfg_print_value(const Field *f, const Config *c, FILE *out) {
  const char *src = (const char *)c + f->off;
  switch (f->type) {
    case FT_INT: fprintf(out, "%d", *(const int *)src); break;
    case FT_U64: fprintf(out, "%llu", (unsigned long long)*(const uint64_t *)src); break;
    case FT_FLOAT: print_float(*(const float *)src, out); break;
    case FT_STR: print_quoted(src, out); break;
    case FT_ENUM: fputs(src, out); break;
    case FT_INT3: {
      const int *v = (const int *)src;
      fprintf(out, "[%d, %d, %d]", v[0], v[1], v[2]);
      break;
    }
  }
}

// model.patch is read and written as int[3] starting at pt.
_Static_assert(offsetof(ModelConfig, pw) == offsetof(ModelConfig, pt) + 2 * sizeof(int), "pt, ph, pw adjacent");
