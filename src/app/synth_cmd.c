// `tessera data synth`: writes a shapes-world corpus (datasets/shapes.md).
// Clips are rendered in parallel (OpenMP) a chunk at a time into a buffer,
// then handed to the corpus writer in clip order, so the file does not
// depend on the thread count.
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "app/app_error.h"
#include "core/error.h"
#include "core/parse.h"
#include "core/log.h"
#include "core/timer.h"
#include "app/commands.h"
#include "data/corpus.h"
#include "data/synth.h"

#define CAPTION_MAX 256
#define RECAPTION_MAX 4096
#define OBJ_FIELDS 8  // meta/objects per slot: present, shape, colour, size, motion, depth, vx, vy
#define CHUNK_BYTES (64u << 20)

typedef struct {
  char out[PATH_MAX];
  long clips;
  int T, H, W;
  uint64_t seed;
  int pt, ph, pw;
  int text_length;
  int min_objects, max_objects;
  float fps;
  // where frames, size and patch were last set, for the cross-checks' messages
  char from_frames[PATH_MAX + 96], from_size[PATH_MAX + 96], from_patch[PATH_MAX + 96];
} SynthOptions;

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera data synth --out FILE [options]\n"
          "Writes a corpus.h5 of procedural shapes-world clips with captions, recaptions\n"
          "and ground truth (datasets/shapes.md). Defaults are datasets/shapes.yaml's.\n"
          "  --out FILE          corpus to write (required; written as FILE.tmp, then renamed)\n"
          "  --recipe FILE       YAML recipe (datasets/shapes.yaml); flags override it\n"
          "  --clips N           number of clips (10000)\n"
          "  --frames T          frames per clip (16; a multiple of the patch's t)\n"
          "  --size HxW          frame size (32x32; multiples of the patch's h and w)\n"
          "  --seed S            RNG seed (0); clip i depends only on (S, i)\n"
          "  --patch TxHxW       spacetime patch (2x4x4)\n"
          "  --text-length L     caption tokens stored per clip (32)\n"
          "  --objects A-B       objects per clip, drawn uniformly from A..B within 1..3 (1-3)\n"
          "  --fps F             frame rate recorded in meta/fps (8)\n"
          "Threads: OMP_NUM_THREADS.\n");
}

// ------------------------------------------------------------------ value parsing

// Parsers return 0 on success; `what` names the flag or recipe key in messages.
static int parse_objects(const char *s, int *lo, int *hi) {  // "A-B" or "A"
  long a, b;
  const char *dash = strchr(s, '-');
  if (!dash) {
    if (parse_long(s, 1, SYNTH_MAX_OBJECTS, &a)) return -1;
    *lo = *hi = (int)a;
    return 0;
  }
  char first[32];
  size_t n = (size_t)(dash - s);
  if (n == 0 || n >= sizeof first) return -1;
  memcpy(first, s, n);
  first[n] = 0;
  if (parse_long(first, 1, SYNTH_MAX_OBJECTS, &a) || parse_long(dash + 1, 1, SYNTH_MAX_OBJECTS, &b) || b < a) return -1;
  *lo = (int)a;
  *hi = (int)b;
  return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  if (!*s || *s == '-' || *s == '+' || *s == ' ') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = (uint64_t)v;
  return 0;
}

static int parse_float(const char *s, float lo, float hi, float *out) {
  char *end;
  errno = 0;
  float v = strtof(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
  *out = v;
  return 0;
}

// Set option `key` (flag name without dashes, '_' or '-' alike) from text `v`;
// `where` prefixes the message ("data synth: --frames" or "FILE:L:C: frames").
// Returns 0 if the key is unknown.
static int set_option(SynthOptions *o, const char *key, const char *v, const char *where) {
  char k[32];
  snprintf(k, sizeof k, "%s", key);
  for (char *p = k; *p; p++)
    if (*p == '_') *p = '-';
  long n;
  if (!strcmp(k, "out")) {
    if (!*v || strlen(v) >= sizeof o->out) tsr_user_error("%s '%s': expected a file name", where, v);
    snprintf(o->out, sizeof o->out, "%s", v);
  } else if (!strcmp(k, "clips")) {
    if (parse_long(v, 1, INT32_MAX, &n)) tsr_user_error("%s '%s': expected an integer >= 1", where, v);
    o->clips = n;
  } else if (!strcmp(k, "frames")) {
    if (parse_long(v, 1, 4096, &n)) tsr_user_error("%s '%s': expected an integer in 1..4096", where, v);
    o->T = (int)n;
    snprintf(o->from_frames, sizeof o->from_frames, "%s", strncmp(where, "data synth: ", 12) ? where : where + 12);
  } else if (!strcmp(k, "size")) {
    int d[2];
    if (parse_dims(v, 2, d) || d[0] < 4 || d[1] < 4 || d[0] > 4096 || d[1] > 4096)
      tsr_user_error("%s '%s': expected HxW with H and W in 4..4096 (e.g. 32x32)", where, v);
    o->H = d[0];
    o->W = d[1];
    snprintf(o->from_size, sizeof o->from_size, "%s", strncmp(where, "data synth: ", 12) ? where : where + 12);
  } else if (!strcmp(k, "seed")) {
    if (parse_u64(v, &o->seed)) tsr_user_error("%s '%s': expected a non-negative integer", where, v);
  } else if (!strcmp(k, "patch")) {
    int d[3];
    if (parse_dims(v, 3, d) || d[0] > 64 || d[1] > 64 || d[2] > 64)
      tsr_user_error("%s '%s': expected TxHxW with each in 1..64 (e.g. 2x4x4)", where, v);
    o->pt = d[0];
    o->ph = d[1];
    o->pw = d[2];
    snprintf(o->from_patch, sizeof o->from_patch, "%s", strncmp(where, "data synth: ", 12) ? where : where + 12);
  } else if (!strcmp(k, "text-length")) {
    if (parse_long(v, 2, 4096, &n)) tsr_user_error("%s '%s': expected an integer in 2..4096", where, v);
    o->text_length = (int)n;
  } else if (!strcmp(k, "objects")) {
    if (parse_objects(v, &o->min_objects, &o->max_objects))
      tsr_user_error("%s '%s': expected A-B or A with 1 <= A <= B <= %d (e.g. 1-3)", where, v, SYNTH_MAX_OBJECTS);
  } else if (!strcmp(k, "fps")) {
    if (parse_float(v, 0.001f, 1000.0f, &o->fps)) tsr_user_error("%s '%s': expected a number in (0, 1000]", where, v);
  } else {
    return 0;
  }
  return 1;
}

// ------------------------------------------------------------------ recipe

typedef struct {
  const char *file;
  yaml_document_t *doc;
} Recipe;

static const char *loc(const Recipe *r, const yaml_node_t *n, char *buf, size_t size) {
  snprintf(buf, size, "%s:%zu:%zu", r->file, n->start_mark.line + 1, n->start_mark.column + 1);
  return buf;
}

static yaml_node_t *node(const Recipe *r, int id) { return yaml_document_get_node(r->doc, id); }
static int n_items(const yaml_node_t *n) { return (int)(n->data.sequence.items.top - n->data.sequence.items.start); }

// The recipe documents the built-in palettes; they must agree with the code.
static void check_rgb_table(const Recipe *r, const char *key, yaml_node_t *n, const char *const *names,
                            const uint8_t (*rgb)[3], int count) {
  char where[PATH_MAX + 64];
  if (n->type != YAML_MAPPING_NODE)
    tsr_user_error("%s: %s: expected a mapping of name: [r, g, b]", loc(r, n, where, sizeof where), key);
  int seen = 0;
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
    const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
    int i = 0;
    while (i < count && strcmp(names[i], name)) i++;
    if (i == count) {
      char list[256] = "";
      for (int j = 0; j < count; j++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", names[j]);
      tsr_user_error("%s: %s.%s: not a built-in name (the shapes world has %s)", loc(r, k, where, sizeof where), key,
                     name, list);
    }
    int ok = v->type == YAML_SEQUENCE_NODE && n_items(v) == 3;
    for (int c = 0; ok && c < 3; c++) {
      yaml_node_t *e = node(r, v->data.sequence.items.start[c]);
      long x;
      ok = e->type == YAML_SCALAR_NODE && !parse_long((const char *)e->data.scalar.value, 0, 255, &x) && x == rgb[i][c];
    }
    if (!ok)
      tsr_user_error("%s: %s.%s: expected [%d, %d, %d] (the palette is built into tessera; the recipe documents it)",
                     loc(r, v, where, sizeof where), key, name, rgb[i][0], rgb[i][1], rgb[i][2]);
    seen |= 1 << i;
  }
  if (seen != (1 << count) - 1)
    tsr_user_error("%s: %s: expected all %d built-in entries", loc(r, n, where, sizeof where), key, count);
}

static void check_names(const Recipe *r, const char *key, yaml_node_t *n, const char *const *names, int count) {
  char where[PATH_MAX + 64];
  int ok = n->type == YAML_SEQUENCE_NODE && n_items(n) == count;
  for (int i = 0; ok && i < count; i++) {
    yaml_node_t *e = node(r, n->data.sequence.items.start[i]);
    ok = e->type == YAML_SCALAR_NODE && !strcmp((const char *)e->data.scalar.value, names[i]);
  }
  if (!ok) {
    char list[256] = "";
    for (int j = 0; j < count; j++)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", names[j]);
    tsr_user_error("%s: %s: expected the built-in list [%s]", loc(r, n, where, sizeof where), key, list);
  }
}

static void load_recipe(SynthOptions *o, const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) tsr_user_error("%s: cannot open recipe: %s", path, strerror(errno));
  yaml_parser_t parser;
  yaml_document_t doc;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_file(&parser, fp);
  if (!yaml_parser_load(&parser, &doc)) {
    size_t line = parser.problem_mark.line + 1, col = parser.problem_mark.column + 1;
    tsr_user_error("%s:%zu:%zu: YAML syntax error: %s", path, line, col, parser.problem ? parser.problem : "unknown");
  }
  Recipe r = {path, &doc};
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  char where[PATH_MAX + 128];
  if (!root || root->type != YAML_MAPPING_NODE)
    tsr_user_error("%s: expected a mapping of recipe keys (see datasets/shapes.yaml)", path);
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
    yaml_node_t *k = node(&r, p->key), *v = node(&r, p->value);
    if (k->type != YAML_SCALAR_NODE) tsr_user_error("%s: expected a key name", loc(&r, k, where, sizeof where));
    const char *key = (const char *)k->data.scalar.value;
    if (!strcmp(key, "backgrounds"))
      check_rgb_table(&r, key, v, SYNTH_BACKGROUNDS, SYNTH_BACKGROUND_RGB, 3);
    else if (!strcmp(key, "colours") || !strcmp(key, "colors"))
      check_rgb_table(&r, key, v, SYNTH_COLOURS, SYNTH_COLOUR_RGB, 8);
    else if (!strcmp(key, "shapes"))
      check_names(&r, key, v, SYNTH_SHAPES, 3);
    else if (!strcmp(key, "sizes"))
      check_names(&r, key, v, SYNTH_SIZES, 2);
    else if (!strcmp(key, "motions"))
      check_names(&r, key, v, SYNTH_MOTIONS, 6);
    else {
      loc(&r, v, where, sizeof where);
      snprintf(where + strlen(where), sizeof where - strlen(where), ": %s", key);
      static const char *const keys[] = {"clips", "frames", "size", "seed", "patch", "text_length", "objects", "fps"};
      int known = 0;
      for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) known |= !strcmp(key, keys[i]);
      if (!known) goto unknown;
      if (v->type != YAML_SCALAR_NODE)
        tsr_user_error("%s: expected a single value, got a %s", where,
                       v->type == YAML_MAPPING_NODE ? "mapping" : "sequence");
      set_option(o, key, (const char *)v->data.scalar.value, where);
    }
    continue;
  unknown:
    tsr_user_error(
        "%s: unknown recipe key '%s' (expected clips, frames, size, seed, patch, text_length, objects, fps, "
        "backgrounds, colours, shapes, sizes, motions)",
        loc(&r, k, where, sizeof where), key);
  }
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  fclose(fp);
}

// ------------------------------------------------------------------ command

// Ground truth of one clip as the meta rows of corpus.h5 (datasets/shapes.md).
static void meta_rows(const SynthScene *s, int T, int H, int W, float *objects, float *positions, float *background,
                      float *occlusion) {
  int behind[SYNTH_MAX_OBJECTS];
  synth_occlusions(s, T, H, W, behind);
  for (int i = 0; i < SYNTH_MAX_OBJECTS; i++) {
    float *r = objects + i * OBJ_FIELDS;
    if (i < s->nobjects) {
      const SynthObject *o = &s->obj[i];
      r[0] = 1;
      r[1] = (float)o->shape;
      r[2] = (float)o->colour;
      r[3] = (float)o->size;
      r[4] = (float)o->motion;
      r[5] = (float)o->depth;
      r[6] = o->vx;
      r[7] = o->vy;
    } else {
      r[0] = 0;
      r[1] = r[2] = r[3] = r[4] = r[5] = -1;
      r[6] = r[7] = 0;
    }
    occlusion[i] = (float)behind[i];
  }
  for (int f = 0; f < T; f++)
    for (int i = 0; i < SYNTH_MAX_OBJECTS; i++) {
      float *p = positions + ((size_t)f * SYNTH_MAX_OBJECTS + i) * 2;
      if (i < s->nobjects)
        synth_position(&s->obj[i], f, H, W, &p[0], &p[1]);
      else
        p[0] = p[1] = -1;
    }
  background[0] = (float)s->background;
}

int data_cmd_synth(int argc, char **argv) {
  SynthOptions o = {.out = "",
                    .clips = 10000,
                    .T = 16,
                    .H = 32,
                    .W = 32,
                    .seed = 0,
                    .pt = 2,
                    .ph = 4,
                    .pw = 4,
                    .text_length = 32,
                    .min_objects = 1,
                    .max_objects = SYNTH_MAX_OBJECTS,
                    .fps = 8.0f,
                    .from_frames = "--frames",
                    .from_size = "--size",
                    .from_patch = "default --patch"};
  int first = argc > 0 && strncmp(argv[0], "--", 2) != 0 ? 1 : 0;  // argv[0] is "synth"
  // Pass 1: --help and --recipe (the recipe first, so flags override it wherever they stand).
  for (int i = first; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "--recipe")) {
      if (i + 1 >= argc) tsr_user_error("data synth: --recipe: expected a file name after it");
      load_recipe(&o, argv[++i]);
    } else if (!strncmp(argv[i], "--recipe=", 9)) {
      load_recipe(&o, argv[i] + 9);
    }
  }
  // Pass 2: flags, "--key value" or "--key=value".
  for (int i = first; i < argc; i++) {
    const char *a = argv[i], *v;
    char key[64], where[96];
    if (strncmp(a, "--", 2) || !a[2])
      tsr_user_error("data synth: unexpected argument '%s' (see tessera data synth --help)", a);
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (len >= sizeof key) tsr_user_error("data synth: unknown option '%s' (see tessera data synth --help)", a);
    memcpy(key, a + 2, len);
    key[len] = 0;
    if (eq)
      v = eq + 1;
    else {
      if (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2))
        tsr_user_error("data synth: --%s: expected a value after it", key);
      v = argv[++i];
    }
    if (!strcmp(key, "recipe")) continue;
    snprintf(where, sizeof where, "data synth: --%s", key);
    if (strchr(key, '_') || !set_option(&o, key, v, where))
      tsr_user_error("data synth: unknown option '--%s' (see tessera data synth --help)", key);
  }
  if (!o.out[0]) tsr_user_error("data synth: --out FILE is required (the corpus.h5 to write)");
  if (o.T % o.pt)
    tsr_user_error("data synth: %s %d: expected a multiple of the patch's t size %d (%s %dx%dx%d)", o.from_frames, o.T,
                   o.pt, o.from_patch, o.pt, o.ph, o.pw);
  if (o.H % o.ph || o.W % o.pw)
    tsr_user_error("data synth: %s %dx%d: expected multiples of the patch's h and w sizes %dx%d (%s %dx%dx%d)",
                   o.from_size, o.H, o.W, o.ph, o.pw, o.from_patch, o.pt, o.ph, o.pw);
  TsrErr err;
  APP_TRY(corpus_writer_check_path(o.out, &err), &err);  // before the work: a directory or a missing one fails now

  const int T = o.T, H = o.H, W = o.W;
  const size_t clip_bytes = (size_t)T * H * W * 3, pos_width = (size_t)T * SYNTH_MAX_OBJECTS * 2;
  long chunk = (long)(CHUNK_BYTES / clip_bytes);
  if (chunk < 1) chunk = 1;
  if (chunk > 512) chunk = 512;
  if (chunk > o.clips) chunk = o.clips;
  uint8_t *pixels = tsr_calloc((size_t)chunk, clip_bytes);
  char *captions = tsr_calloc((size_t)chunk, CAPTION_MAX), *recaptions = tsr_calloc((size_t)chunk, RECAPTION_MAX);
  float *objects = tsr_calloc((size_t)chunk * SYNTH_MAX_OBJECTS * OBJ_FIELDS, sizeof(float));
  float *positions = tsr_calloc((size_t)chunk * pos_width, sizeof(float));
  float *background = tsr_calloc((size_t)chunk, sizeof(float));
  float *occlusion = tsr_calloc((size_t)chunk * SYNTH_MAX_OBJECTS, sizeof(float));

  double t0 = timer_now(), render_s = 0;
  CorpusWriter *w = corpus_writer_open(o.out, o.pt, o.ph, o.pw, 3, o.text_length, &err);
  if (!w) app_fail(&err);
  for (long start = 0; start < o.clips; start += chunk) {
    long n = o.clips - start < chunk ? o.clips - start : chunk;
    double r0 = timer_now();
#pragma omp parallel for schedule(dynamic, 8)
    for (long c = 0; c < n; c++) {
      SynthScene s;
      synth_scene_range(&s, o.seed, (uint64_t)(start + c), T, H, W, o.min_objects, o.max_objects);
      synth_render(&s, T, H, W, pixels + (size_t)c * clip_bytes);
      synth_caption(&s, captions + (size_t)c * CAPTION_MAX, CAPTION_MAX);
      synth_recaption(&s, T, H, W, recaptions + (size_t)c * RECAPTION_MAX, RECAPTION_MAX);
      meta_rows(&s, T, H, W, objects + (size_t)c * SYNTH_MAX_OBJECTS * OBJ_FIELDS, positions + (size_t)c * pos_width,
                background + c, occlusion + (size_t)c * SYNTH_MAX_OBJECTS);
    }
    render_s += timer_now() - r0;
    for (long c = 0; c < n; c++) {
      CorpusClip clip = {pixels + (size_t)c * clip_bytes, captions + (size_t)c * CAPTION_MAX,
                         recaptions + (size_t)c * RECAPTION_MAX, "synth", o.fps};
      if (corpus_writer_add(w, T, H, W, &clip, &err)) {
        corpus_writer_abort(w);
        app_fail(&err);
      }
      corpus_writer_meta(w, T, H, W, "objects", objects + (size_t)c * SYNTH_MAX_OBJECTS * OBJ_FIELDS,
                         SYNTH_MAX_OBJECTS * OBJ_FIELDS);
      corpus_writer_meta(w, T, H, W, "positions", positions + (size_t)c * pos_width, (int)pos_width);
      corpus_writer_meta(w, T, H, W, "background", background + c, 1);
      corpus_writer_meta(w, T, H, W, "occlusion", occlusion + (size_t)c * SYNTH_MAX_OBJECTS, SYNTH_MAX_OBJECTS);
    }
  }
  APP_TRY(corpus_writer_close(w, &err), &err);
  double total = timer_now() - t0;
  log_info("data synth: %ld clips %dx%dx%d (%d-%d objects, seed %" PRIu64
           ") -> %s in %.2f s: %.0f clips/s "
           "(render %.2f s, %.0f clips/s)",
           o.clips, T, H, W, o.min_objects, o.max_objects, o.seed, o.out, total,
           (double)o.clips / (total > 0 ? total : 1e-9), render_s, (double)o.clips / (render_s > 0 ? render_s : 1e-9));
  tsr_free(pixels);
  tsr_free(captions);
  tsr_free(recaptions);
  tsr_free(objects);
  tsr_free(positions);
  tsr_free(background);
  tsr_free(occlusion);
  return 0;
}
