// `tessera eval`: generate every prompt of a suite (configs/eval/shapes.yaml)
// from a checkpoint, score each video against the prompt's ground truth
// (eval_score.c), print a table and write DIR/eval.json (docs/eval.md).
#include "infer/eval.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "core/parse.h"
#include "core//config.h"
#include "core/error.h"
#include "core/jsonx.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/synth.h"
#include "data/tokenizer.h"
#include "media/video_io.h"
#include "infer/pipeline.h"
#include "infer/session.h"

enum { M_LEFT, M_RIGHT, M_UP, M_DOWN, M_STILL, M_BOUNCE };
static const char *const MOTION_SHORT[6] = {"left", "right", "up", "down", "still", "bounce"};

// ------------------------------------------------------------------ suite YAML

typedef struct {
  const char *path;
  char *err;
  int errlen;
} Ctx;

__attribute__((format(printf, 3, 4))) static int fail(Ctx *c, const yaml_node_t *n, const char *fmt, ...) {
  char msg[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n)
    snprintf(c->err, (size_t)c->errlen, "%s:%zu:%zu: %s", c->path, n->start_mark.line + 1, n->start_mark.column + 1,
             msg);
  else
    snprintf(c->err, (size_t)c->errlen, "%s: %s", c->path, msg);
  return -1;
}

static const char *scalar(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

// Index of v in names[n] (or in alt[n] when given), -1 if absent.
static int lookup(const char *v, const char *const *names, const char *const *alt, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v, names[i]) || (alt && !strcmp(v, alt[i]))) return i;
  return -1;
}

static int name_field(Ctx *c, const yaml_node_t *val, const char *item, const char *key, const char *const *names,
                      const char *const *alt, int n, int *out) {
  const char *v = scalar(val);
  int i = v ? lookup(v, names, alt, n) : -1;
  if (i >= 0) {
    *out = i;
    return 0;
  }
  char list[256] = "";
  for (int k = 0; k < n; k++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", alt ? alt[k] : names[k]);
  return fail(c, val, "%s.%s: expected one of %s, got %s%s%s", item, key, list, v ? "'" : "",
              v                                ? v
              : val->type == YAML_MAPPING_NODE ? "a mapping"
                                               : "a sequence",
              v ? "'" : "");
}

static int parse_item(Ctx *c, yaml_document_t *doc, const yaml_node_t *node, int idx, EvalItem *it) {
  char item[32];
  snprintf(item, sizeof item, "items[%d]", idx);
  memset(it, 0, sizeof *it);
  it->colour = it->shape = it->motion = it->colour2 = it->shape2 = it->motion2 = -1;
  it->objects = 1, it->mode = EVAL_T2V, it->background = 0, it->size = 0;
  it->line = (int)node->start_mark.line + 1;
  if (node->type != YAML_MAPPING_NODE)
    return fail(c, node, "%s: expected a mapping {prompt, colour, shape, motion, ...}", item);
  int have_prompt = 0, have_bg = 0;
  for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
    yaml_node_t *kn = yaml_document_get_node(doc, p->key), *vn = yaml_document_get_node(doc, p->value);
    const char *k = scalar(kn), *v = scalar(vn);
    if (!k) return fail(c, kn, "%s: expected a plain key", item);
    int rc = 0;
    if (!strcmp(k, "prompt")) {
      if (!v || !v[0]) return fail(c, vn, "%s.prompt: expected a non-empty string", item);
      if (strlen(v) >= sizeof it->prompt)
        return fail(c, vn, "%s.prompt: longer than %zu characters", item, sizeof it->prompt - 1);
      snprintf(it->prompt, sizeof it->prompt, "%s", v);
      have_prompt = 1;
    } else if (!strcmp(k, "colour") || !strcmp(k, "color"))
      rc = name_field(c, vn, item, k, SYNTH_COLOURS, NULL, 8, &it->colour);
    else if (!strcmp(k, "shape"))
      rc = name_field(c, vn, item, k, SYNTH_SHAPES, NULL, 3, &it->shape);
    else if (!strcmp(k, "motion"))
      rc = name_field(c, vn, item, k, SYNTH_MOTIONS, MOTION_SHORT, 6, &it->motion);
    else if (!strcmp(k, "colour2") || !strcmp(k, "color2"))
      rc = name_field(c, vn, item, k, SYNTH_COLOURS, NULL, 8, &it->colour2);
    else if (!strcmp(k, "shape2"))
      rc = name_field(c, vn, item, k, SYNTH_SHAPES, NULL, 3, &it->shape2);
    else if (!strcmp(k, "motion2"))
      rc = name_field(c, vn, item, k, SYNTH_MOTIONS, MOTION_SHORT, 6, &it->motion2);
    else if (!strcmp(k, "mode"))
      rc = name_field(c, vn, item, k, EVAL_MODES, NULL, 3, &it->mode);
    else if (!strcmp(k, "background"))
      rc = name_field(c, vn, item, k, SYNTH_BACKGROUNDS, NULL, 3, &it->background), have_bg = 1;
    else if (!strcmp(k, "size"))
      rc = name_field(c, vn, item, k, SYNTH_SIZES, NULL, 2, &it->size);
    else if (!strcmp(k, "objects")) {
      if (!v || (strcmp(v, "1") && strcmp(v, "2")))
        return fail(c, vn, "%s.objects: expected 1 or 2, got '%s'", item, v ? v : "?");
      it->objects = v[0] - '0';
    } else
      return fail(c, kn,
                  "%s: unknown key '%s' (expected prompt, colour, shape, motion, objects, mode, colour2, shape2, "
                  "motion2, background, size)",
                  item, k);
    if (rc) return rc;
  }
  if (!have_prompt) return fail(c, node, "%s: prompt: missing", item);
  if (it->colour < 0) return fail(c, node, "%s: colour: missing", item);
  if (it->shape < 0) return fail(c, node, "%s: shape: missing", item);
  if (it->motion < 0) return fail(c, node, "%s: motion: missing", item);
  if (it->objects == 1 && (it->colour2 >= 0 || it->shape2 >= 0 || it->motion2 >= 0))
    return fail(c, node, "%s: colour2/shape2/motion2 describe a second object: set objects: 2", item);
  if (it->colour2 >= 0 && it->colour2 == it->colour)
    return fail(c, node, "%s: colour2: the two objects must have different colours (both %s)", item,
                SYNTH_COLOURS[it->colour]);
  if (it->mode != EVAL_T2V && it->objects != 1)
    return fail(c, node, "%s: mode %s: conditioning scenes hold one object (objects: 1)", item, EVAL_MODES[it->mode]);
  if (have_bg && it->mode == EVAL_T2V)
    return fail(c, node, "%s: background: only for i2v / extend (it sets the conditioning scene)", item);
  return 0;
}

int eval_suite_load(const char *path, EvalSuite *s, char *err, int errlen) {
  memset(s, 0, sizeof *s);
  snprintf(s->path, sizeof s->path, "%s", path);
  Ctx c = {path, err, errlen};
  struct stat st;
  FILE *fp = NULL;
  if (!stat(path, &st) && S_ISDIR(st.st_mode))
    errno = EISDIR;
  else
    fp = fopen(path, "rb");
  if (!fp) return fail(&c, NULL, "cannot open the eval suite: %s", strerror(errno));
  yaml_parser_t parser;
  yaml_document_t doc;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_file(&parser, fp);
  int rc = 0;
  if (!yaml_parser_load(&parser, &doc)) {
    snprintf(err, (size_t)errlen, "%s:%zu:%zu: invalid YAML: %s%s%s", path, parser.problem_mark.line + 1,
             parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error",
             parser.context ? " " : "", parser.context ? parser.context : "");
    yaml_parser_delete(&parser);
    fclose(fp);
    return -1;
  }
  yaml_node_t *root = yaml_document_get_root_node(&doc), *items = root;
  if (!root) {
    rc = -1;
    snprintf(err, (size_t)errlen, "%s:1:1: expected a list of items (or a mapping with 'items'), got an empty file",
             path);
    goto done;
  }
  if (root->type == YAML_MAPPING_NODE) {
    items = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
      yaml_node_t *kn = yaml_document_get_node(&doc, p->key), *vn = yaml_document_get_node(&doc, p->value);
      const char *k = scalar(kn);
      if (k && !strcmp(k, "items"))
        items = vn;
      else if (k && !strcmp(k, "name") && scalar(vn))
        snprintf(s->name, sizeof s->name, "%s", scalar(vn));
      else {
        rc = fail(&c, kn, "unknown key '%s' (expected name, items)", k ? k : "?");
        goto done;
      }
    }
    if (!items) {
      rc = fail(&c, root, "items: missing (a list of {prompt, colour, shape, motion, ...})");
      goto done;
    }
  }
  if (items->type != YAML_SEQUENCE_NODE) {
    rc = fail(&c, items, "items: expected a list of {prompt, colour, shape, motion, ...}");
    goto done;
  }
  int n = (int)(items->data.sequence.items.top - items->data.sequence.items.start);
  if (n == 0) {
    rc = fail(&c, items, "items: the list is empty");
    goto done;
  }
  s->items = calloc((size_t)n, sizeof(EvalItem));
  for (int i = 0; i < n && !rc; i++) {
    yaml_node_t *in = yaml_document_get_node(&doc, items->data.sequence.items.start[i]);
    rc = parse_item(&c, &doc, in, i, &s->items[i]);
  }
  s->n = rc ? 0 : n;
  if (rc) {
    free(s->items);
    s->items = NULL;
  }
  if (!s->name[0]) {
    const char *b = strrchr(path, '/');
    snprintf(s->name, sizeof s->name, "%s", b ? b + 1 : path);
  }
done:
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  fclose(fp);
  return rc;
}

void eval_suite_free(EvalSuite *s) {
  free(s->items);
  s->items = NULL;
  s->n = 0;
}

// ------------------------------------------------------------------ command

typedef struct {
  const char *ckpt, *suite, *out, *sampler;
  int steps, seeds, seed, use_ema, upscale, keyframe;
  float cfg, shift;
  InferDevice dev;
} EvalArgs;

static void usage(void) {
  printf(
      "usage: tessera eval --ckpt F [options]\n"
      "Generates every prompt of a suite and scores the videos against the prompts' ground truth\n"
      "(colour, shape, motion, permanence, consistency, first frame kept, seam); prints a table,\n"
      "writes DIR/eval.json and one MP4 per video (docs/eval.md).\n"
      "  --suite F     suite YAML (default configs/eval/shapes.yaml)\n"
      "  --out DIR     output directory (default runs/eval)\n"
      "  --steps N --cfg G --shift S --sampler euler|heun\n"
      "                sampler settings (default: the checkpoint's sample config)\n"
      "  --seeds K     videos per prompt, seeds S..S+K-1 (default 1)\n"
      "  --seed S      first seed (default: the checkpoint's sample seed)\n"
      "  --upscale K   nearest-neighbour upscale of the MP4 frames (default 4)\n"
      "  --raw         sample with the raw weights instead of the EMA\n"
      INFER_DEVICE_HELP
      "  --keyframe    text-to-video items through a keyframe: make a clip, keep its first frame,\n"
      "                make the video again from it (docs/eval.md)\n");
}

static int parse_int(const char *flag, const char *v, int lo, int hi) {
  char *end;
  long x = strtol(v, &end, 10);
  if (!*v || *end || x < lo || x > hi)
    tsr_user_error("eval: %s: expected an integer in [%d, %d], got '%s'", flag, lo, hi, v);
  return (int)x;
}

static void parse(EvalArgs *a, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
      usage();
      exit(0);
    }
    if (!strcmp(k, "--raw")) {
      a->use_ema = 0;
      continue;
    }
    if (!strcmp(k, "--keyframe")) {
      a->keyframe = 1;
      continue;
    }
    if (infer_device_flag(&a->dev, "eval", argc, argv, &i)) continue;
    if (i + 1 >= argc) tsr_user_error("eval: %s: expected a value after it", k);
    const char *v = argv[++i];
    if (!strcmp(k, "--ckpt"))
      a->ckpt = v;
    else if (!strcmp(k, "--suite"))
      a->suite = v;
    else if (!strcmp(k, "--out"))
      a->out = v;
    else if (!strcmp(k, "--steps"))
      a->steps = parse_int(k, v, 1, 10000);
    else if (!strcmp(k, "--seeds"))
      a->seeds = parse_int(k, v, 1, 1000);
    else if (!strcmp(k, "--seed"))
      a->seed = parse_int(k, v, 0, 2147483647);
    else if (!strcmp(k, "--upscale"))
      a->upscale = parse_int(k, v, 1, 64);
    else if (!strcmp(k, "--sampler"))
      a->sampler = v;
    else if (!strcmp(k, "--shift"))
      a->shift = parse_flag_float("eval", k, v, 0.01f, 100.0f);
    else if (!strcmp(k, "--cfg")) {
      char *end;
      float x = strtof(v, &end);
      if (!*v || *end || !isfinite(x) || x < 0.0f || x > 100.0f)
        tsr_user_error("eval: --cfg: expected a number in [0, 100], got '%s'", v);
      a->cfg = x;
    } else
      tsr_user_error("eval: unknown option '%s' (see tessera eval --help)", k);
  }
}

// A metric's value in JSON: null where it does not apply.
static json_t *metric(float v) { return v < 0 ? json_null() : jx_round(v, 6); }

static const char *name_or(const char *const *names, int i, const char *none) { return i >= 0 ? names[i] : none; }

// Sums of a metric over videos (a value < 0 is "does not apply").
typedef struct {
  double sum;
  int n;
} Acc;
static void acc_add(Acc *a, float v) {
  if (v >= 0) a->sum += v, a->n++;
}
static double acc_mean(const Acc *a) { return a->n ? a->sum / a->n : -1.0; }

static void put_pct(char *buf, size_t n, const Acc *a) {
  if (!a->n)
    snprintf(buf, n, "-");
  else
    snprintf(buf, n, "%.0f%%", 100.0 * a->sum / a->n);
}

typedef struct {
  Acc colour, shape, motion, direction, consistency, permanence, first_frame, seam;
} Totals;

static void totals_add(Totals *t, const EvalItem *it, const EvalScore *s) {
  acc_add(&t->colour, s->colour);
  acc_add(&t->shape, s->shape);
  acc_add(&t->motion, s->motion);
  if (it->motion <= M_DOWN) acc_add(&t->direction, s->motion);
  acc_add(&t->consistency, s->consistency);
  acc_add(&t->permanence, s->permanence);
  acc_add(&t->first_frame, s->first_frame);
  acc_add(&t->seam, s->seam);
}

static json_t *totals_json(const Totals *t) {
  json_t *o = json_pack("{s:i}", "videos", t->colour.n);
  const Acc *a[8] = {&t->colour,      &t->shape,      &t->motion,      &t->direction,
                     &t->consistency, &t->permanence, &t->first_frame, &t->seam};
  const char *names[8] = {"colour", "shape", "motion", "direction", "consistency", "permanence", "first_frame", "seam"};
  for (int i = 0; i < 8; i++) json_object_set_new(o, names[i], metric((float)acc_mean(a[i])));
  return o;
}

static void print_totals(const char *label, const Totals *t) {
  if (!t->colour.n) return;
  char c[16], sh[16], m[16], d[16], p[16], ff[16], se[16];
  put_pct(c, sizeof c, &t->colour), put_pct(sh, sizeof sh, &t->shape), put_pct(m, sizeof m, &t->motion);
  put_pct(d, sizeof d, &t->direction), put_pct(p, sizeof p, &t->permanence), put_pct(ff, sizeof ff, &t->first_frame);
  put_pct(se, sizeof se, &t->seam);
  printf("%-30s %4d  colour %5s  shape %5s  motion %5s  direction %5s  consistency %.2f", label, t->colour.n, c, sh, m,
         d, acc_mean(&t->consistency));
  if (t->permanence.n) printf("  permanence %s", p);
  if (t->first_frame.n) printf("  first-frame %s", ff);
  if (t->seam.n) printf("  seam %s", se);
  printf("\n");
}

int cmd_eval(int argc, char **argv) {
  EvalArgs a = {.suite = "configs/eval/shapes.yaml",
                .out = "runs/eval",
                .seeds = 1,
                .seed = -1,
                .use_ema = 1,
                .cfg = -1.0f,
                .shift = -1.0f,
                .upscale = 4};
  if (argc < 2) {
    usage();
    return 2;
  }
  parse(&a, argc, argv);
  if (!a.ckpt) tsr_user_error("eval: --ckpt is required (see tessera eval --help)");
  EvalSuite suite;
  char err[512];
  if (eval_suite_load(a.suite, &suite, err, sizeof err) != 0) tsr_user_error("%s", err);

  InferSession ses;
  infer_open(&ses, a.ckpt, a.use_ema, a.dev);
  const Config cfg = ses.cfg;
  const ModelConfig *mc = &cfg.model;
  const int T = mc->frames, H = mc->height, W = mc->width;
  if (mc->channels != 3)
    tsr_user_error("eval: %s: the model makes %d-channel frames; eval scores RGB (3)", a.ckpt, mc->channels);
  const int nlead = (T / 2) / mc->pt * mc->pt;
  for (int i = 0; i < suite.n; i++)
    if (suite.items[i].mode == EVAL_EXTEND && (nlead < 1 || nlead >= T))
      tsr_user_error(
          "%s:%d: items[%d]: mode extend: a window of %d frames leaves no room for a lead-in of whole "
          "temporal patches (%d)",
          a.suite, suite.items[i].line, i, T, mc->pt);
  const SamplerFlags flags = {.steps = a.steps, .cfg = a.cfg, .shift = a.shift, .sampler = a.sampler, .seed = a.seed};
  SamplerOptions so;
  const char *sampler;
  TsrErr perr;
  if (pipeline_sampler(&ses, &flags, "eval", &so, &sampler, &perr)) tsr_user_error("%s", perr.msg);
  const uint64_t base_seed = so.seed;
  OutputContext oc;
  if (pipeline_output_context(&oc, &ses, a.use_ema, sampler, &so, &perr)) tsr_user_error("eval: %s", perr.msg);

  const CkptState st = ses.state;
  if (fs_mkdirs(a.out) != 0) tsr_user_error("eval: --out %s: cannot create the directory: %s", a.out, strerror(errno));

  for (int i = 0; i < suite.n; i++) {
    char cap[256];
    eval_item_caption(&suite.items[i], cap, sizeof cap);
    if (strcmp(cap, suite.items[i].prompt) &&
        (suite.items[i].objects == 1 || strncmp(suite.items[i].prompt, cap, strlen(cap))))
      log_warn("%s:%d: prompt '%s' is not the synth caption of its fields ('%s')", a.suite, suite.items[i].line,
               suite.items[i].prompt, cap);
  }
  log_info("eval: %d prompts x %d seed%s from %s (%s weights, step %lld), %d steps, cfg %g, %dx%dx%d", suite.n, a.seeds,
           a.seeds == 1 ? "" : "s", a.ckpt, a.use_ema ? "EMA" : "raw", (long long)st.step, so.steps, so.cfg, T, H, W);

  const size_t fpx = (size_t)H * W * 3;
  uint8_t *clip = tsr_calloc((size_t)T * fpx, 1);
  const int nv = suite.n * a.seeds;
  EvalScore *scores = calloc((size_t)nv, sizeof(EvalScore));
  char(*paths)[512] = calloc((size_t)nv, sizeof *paths);
  double t_start = timer_now();
  for (int i = 0; i < suite.n; i++) {
    const EvalItem *it = &suite.items[i];
    char what[32];
    snprintf(what, sizeof what, "items[%d]", i);
    const uint8_t *cond = NULL;
    int ncond = 0;
    if (it->mode != EVAL_T2V) {
      SynthScene sc;
      eval_item_scene(it, T, H, W, &sc);
      synth_render(&sc, T, H, W, clip);
      cond = clip;
      ncond = it->mode == EVAL_I2V ? 1 : nlead;
    }
    char slug[64];
    int sl = 0;
    for (const char *p = it->prompt; *p && sl < 48; p++)
      slug[sl++] = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? *p : '_';
    slug[sl] = 0;
    for (int k = 0; k < a.seeds; k++) {
      const int v = i * a.seeds + k;
      const VideoRequest rq = {.prompt = it->prompt, .what = what, .flag = "", .seed = base_seed + (uint64_t)k,
                               .frames = T, .keyframe = a.keyframe, .lead = cond, .nlead = ncond, .upscale = a.upscale};
      Video vid;
      if (pipeline_generate(&ses, &so, &rq, &vid, &perr) != 0)
        tsr_user_error("eval: %s:%d: items[%d]: %s", a.suite, it->line, i, perr.msg);
      const double secs = vid.seconds;
      EvalScore *s = &scores[v];
      eval_score_video(it, vid.frames, T, H, W, cond, ncond, s);
      snprintf(paths[v], sizeof paths[v], "%s/%02d_%s_s%llu.mp4", a.out, i, slug, (unsigned long long)rq.seed);
      WrittenVideo w;
      if (pipeline_write(&oc, &rq, &vid, paths[v], 0, 0, &w, &perr) != 0) tsr_user_error("eval: %s", perr.msg);
      pipeline_video_free(&vid);
      log_info("[%d/%d] %-44s seed %llu: colour %s shape %s motion %s (%.1fs)", v + 1, nv, it->prompt,
               (unsigned long long)rq.seed, name_or(SYNTH_COLOURS, s->a.colour, "none"),
               name_or(SYNTH_SHAPES, s->a.shape, "none"), name_or(MOTION_SHORT, s->a.motion, "none"), secs);
    }
  }
  double total_secs = timer_now() - t_start;

  // Table: one row per item, averaged over the seeds.
  Totals single = {0}, two = {0}, i2v = {0}, ext = {0};
  int confusion[6][7] = {{0}};  // single-object t2v: expected motion x found (6: none)
  printf("\n%-3s %-6s %-46s %6s %6s %6s %7s %6s %6s  %s\n", "#", "mode", "prompt", "colour", "shape", "motion",
         "consist", "perm", "cond", "found (first seed)");
  for (int i = 0; i < suite.n; i++) {
    const EvalItem *it = &suite.items[i];
    Totals row = {0};
    for (int k = 0; k < a.seeds; k++) {
      const EvalScore *s = &scores[i * a.seeds + k];
      totals_add(&row, it, s);
      Totals *t = it->mode == EVAL_I2V ? &i2v : it->mode == EVAL_EXTEND ? &ext : it->objects > 1 ? &two : &single;
      totals_add(t, it, s);
      if (t == &single) confusion[it->motion][s->a.motion >= 0 ? s->a.motion : 6]++;
    }
    char c[16], sh[16], mo[16], pe[16], co[16];
    put_pct(c, sizeof c, &row.colour), put_pct(sh, sizeof sh, &row.shape), put_pct(mo, sizeof mo, &row.motion);
    put_pct(pe, sizeof pe, &row.permanence);
    put_pct(co, sizeof co, it->mode == EVAL_I2V ? &row.first_frame : &row.seam);
    const EvalScore *s0 = &scores[i * a.seeds];
    printf("%-3d %-6s %-46.46s %6s %6s %6s %7.2f %6s %6s  %s %s %s\n", i, EVAL_MODES[it->mode], it->prompt, c, sh, mo,
           acc_mean(&row.consistency), pe, co, name_or(SYNTH_COLOURS, s0->a.colour, "-"),
           name_or(SYNTH_SHAPES, s0->a.shape, "-"), name_or(MOTION_SHORT, s0->a.motion, "-"));
  }
  printf("\ntotals (videos, share correct; consistency in [0,1]):\n");
  print_totals("single-object text-to-video", &single);
  print_totals("two objects (permanence)", &two);
  print_totals("image-to-video", &i2v);
  print_totals("extension", &ext);
  int off = 0;
  for (int e = 0; e < 6; e++)
    for (int f = 0; f < 7; f++)
      if (e != f && confusion[e][f]) {
        printf("%s%s->%s %d", off++ ? ", " : "motion confusions (expected->found): ", MOTION_SHORT[e],
               f < 6 ? MOTION_SHORT[f] : "none", confusion[e][f]);
      }
  if (off) printf("\n");
  double cacc = acc_mean(&single.colour), dacc = acc_mean(&single.direction);
  if (single.colour.n)
    printf(
        "targets (single-object t2v): colour %.1f%% (>= 90%%: %s), direction left/right/up/down %.1f%% (>= 80%%: %s)\n",
        100.0 * cacc, cacc >= 0.9 ? "met" : "NOT met", 100.0 * (dacc < 0 ? 0 : dacc), dacc >= 0.8 ? "met" : "NOT met");

  // eval.json
  json_t *doc = json_pack("{s:o, s:o, s:o, s:I, s:s, s:i, s:o, s:o, s:s, s:b, s:I, s:i, s:i, s:[i,i], s:o}",
                          "suite", jx_string(a.suite), "suite_name", jx_string(suite.name), "checkpoint",
                          jx_string(a.ckpt), "checkpoint_step", (json_int_t)st.step, "weights",
                          a.use_ema ? "ema" : "raw", "steps", so.steps, "cfg", jx_round(so.cfg, 6), "shift",
                          jx_round(so.shift, 6), "sampler", so.heun ? "heun" : "euler", "keyframe", a.keyframe,
                          "seed", (json_int_t)base_seed, "seeds", a.seeds, "frames", T, "size", H, W, "seconds",
                          jx_fixed(total_secs, 2));
  TSR_ASSERT(doc, "json_pack failed");
  json_t *th = json_object();
  const struct { const char *name; double v; } thresholds[] = {
      {"mask_dist", EVAL_MASK_DIST},       {"colour_dist", EVAL_COLOUR_DIST},   {"max_mask_frac", EVAL_MAX_MASK_FRAC},
      {"still_frac", EVAL_STILL_FRAC},     {"reversal_frac", EVAL_REVERSAL_FRAC}, {"diag_min", EVAL_DIAG_MIN},
      {"diag_ratio", EVAL_DIAG_RATIO},     {"first_frame_mae", EVAL_FIRST_FRAME_MAE}, {"seam_factor", EVAL_SEAM_FACTOR},
      {"seam_eps", EVAL_SEAM_EPS},         {"consistency_band", EVAL_CONSIST_BAND}};
  for (size_t k = 0; k < sizeof thresholds / sizeof *thresholds; k++)
    json_object_set_new(th, thresholds[k].name, jx_round(thresholds[k].v, 6));
  json_object_set_new(th, "min_pixels", json_integer(eval_min_pixels(H, W)));
  json_object_set_new(doc, "thresholds", th);
  json_t *items = json_array();
  for (int i = 0; i < suite.n; i++) {
    const EvalItem *it = &suite.items[i];
    json_t *jo = json_pack("{s:i, s:i, s:o, s:s, s:i, s:s, s:s, s:s}", "index", i, "line", it->line, "prompt",
                           jx_string(it->prompt), "mode", EVAL_MODES[it->mode], "objects", it->objects, "colour",
                           SYNTH_COLOURS[it->colour], "shape", SYNTH_SHAPES[it->shape], "motion",
                           MOTION_SHORT[it->motion]);
    if (it->colour2 >= 0) json_object_set_new(jo, "colour2", json_string(SYNTH_COLOURS[it->colour2]));
    if (it->mode != EVAL_T2V) {
      json_object_set_new(jo, "background", json_string(SYNTH_BACKGROUNDS[it->background]));
      json_object_set_new(jo, "size", json_string(SYNTH_SIZES[it->size]));
      json_object_set_new(jo, "conditioning_frames", json_integer(it->mode == EVAL_I2V ? 1 : nlead));
    }
    json_t *videos = json_array();
    for (int k = 0; k < a.seeds; k++) {
      const EvalScore *s = &scores[i * a.seeds + k];
      const EvalAnalysis *an = &s->a;
      json_t *found = json_pack(
          "{s:s, s:s, s:o, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:i, s:i, s:i, s:i, s:s}", "background",
          SYNTH_BACKGROUNDS[an->background], "colour", name_or(SYNTH_COLOURS, an->colour, "none"), "colour_dist",
          jx_fixed(an->colour_dist, 1), "shape", name_or(SYNTH_SHAPES, an->shape, "none"), "fill", jx_fixed(an->fill, 3),
          "fill45", jx_fixed(an->fill45, 3), "motion", name_or(MOTION_SHORT, an->motion, "none"), "dx",
          jx_fixed(an->dx, 3), "dy", jx_fixed(an->dy, 3), "range_x", jx_fixed(an->range_x, 3), "range_y",
          jx_fixed(an->range_y, 3), "reversals", an->reversals, "tracked_frames", an->tracked, "clean_frames",
          an->clean_frames, "colour_frames", an->colour_frames, "tracked_on", an->on_colour ? "colour" : "mask");
      if (it->objects > 1) json_object_set_new(found, "occluded", json_boolean(s->permanence_occluded));
      if (it->mode == EVAL_I2V) json_object_set_new(found, "first_frame_mae", jx_fixed(s->first_frame_mae, 3));
      if (it->mode == EVAL_EXTEND) {
        json_object_set_new(found, "seam_diff", jx_fixed(s->seam_diff, 3));
        json_object_set_new(found, "seam_median", jx_fixed(s->seam_median, 3));
      }
      json_t *vo = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "seed",
                             (json_int_t)(base_seed + (uint64_t)k), "video", jx_string(paths[i * a.seeds + k]),
                             "colour", metric(s->colour), "shape", metric(s->shape), "motion", metric(s->motion),
                             "consistency", metric(s->consistency), "permanence", metric(s->permanence),
                             "first_frame", metric(s->first_frame), "seam", metric(s->seam), "found", found);
      json_array_append_new(videos, vo);
    }
    json_object_set_new(jo, "videos", videos);
    json_array_append_new(items, jo);
  }
  json_object_set_new(doc, "items", items);
  json_object_set_new(doc, "totals", json_pack("{s:o, s:o, s:o, s:o}", "single_object_t2v", totals_json(&single),
                                               "two_objects", totals_json(&two), "i2v", totals_json(&i2v), "extend",
                                               totals_json(&ext)));
  json_t *counts = json_array();
  for (int e = 0; e < 6; e++) {
    json_t *row = json_array();
    for (int c = 0; c < 7; c++) json_array_append_new(row, json_integer(confusion[e][c]));
    json_array_append_new(counts, row);
  }
  json_object_set_new(doc, "motion_confusion",
                      json_pack("{s:s, s:[s,s,s,s,s,s,s], s:o}", "rows", "expected", "cols", "left", "right", "up",
                                "down", "still", "bounce", "none", "counts", counts));
  json_object_set_new(doc, "targets", json_pack("{s:f, s:f, s:b, s:b}", "colour", 0.9, "direction", 0.8, "colour_met",
                                                single.colour.n && cacc >= 0.9, "direction_met",
                                                single.direction.n && dacc >= 0.8));
  char json_path[600], why[700];
  snprintf(json_path, sizeof json_path, "%s/eval.json", a.out);
  if (jx_write_file(doc, json_path, why, sizeof why) != 0) tsr_user_error("eval: %s", why);
  json_decref(doc);
  printf("wrote %s and %d videos under %s/ (%.1fs)\n", json_path, nv, a.out, total_secs);

  free(paths);
  free(scores);
  tsr_free(clip);
  eval_suite_free(&suite);
  infer_close(&ses);
  return 0;
}
