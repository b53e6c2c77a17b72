#include "infer/eval_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/synth.h"

static const char *name_or(const char *const *names, int i, const char *none) { return i >= 0 ? names[i] : none; }

static void acc_add(EvalAcc *a, float v) {
  if (v >= 0) a->sum += v, a->n++;
}
static double acc_mean(const EvalAcc *a) { return a->n ? a->sum / a->n : -1.0; }

static void put_pct(char *buf, size_t n, const EvalAcc *a) {
  if (!a->n)
    snprintf(buf, n, "-");
  else
    snprintf(buf, n, "%.0f%%", 100.0 * a->sum / a->n);
}

static void totals_add(EvalTotals *t, const EvalItem *it, const EvalScore *s) {
  acc_add(&t->colour, s->colour);
  acc_add(&t->shape, s->shape);
  acc_add(&t->motion, s->motion);
  if (it->motion <= M_DOWN) acc_add(&t->direction, s->motion);
  acc_add(&t->consistency, s->consistency);
  acc_add(&t->permanence, s->permanence);
  acc_add(&t->first_frame, s->first_frame);
  acc_add(&t->seam, s->seam);
  acc_add(&t->kept, s->kept);
  acc_add(&t->continuity, s->continuity);
}

// ------------------------------------------------------------------ the run
static int check_suite(InferSession *s, const EvalSuite *suite, const EvalRunOptions *o, int nlead, TsrErr *err) {
  const ModelConfig *mc = &s->pixels;
  if (mc->channels != 3)
    return tsr_err(err, "eval: %s: the model makes %d-channel frames; eval scores RGB (3)", s->ckpt, mc->channels);
  for (int i = 0; i < suite->n; i++)
    if (suite->items[i].mode == EVAL_EXTEND && (nlead < 1 || nlead >= mc->frames))
      return tsr_err(err,
                     "%s:%d: items[%d]: mode extend: a window of %d frames leaves no room for a lead-in of whole "
                     "temporal patches (%d)",
                     o->suite_path, suite->items[i].line, i, mc->frames, mc->pt);
  for (int i = 0; i < suite->n; i++)
    if (suite->items[i].mode == EVAL_CONNECT && mc->frames < 3 * mc->pt)
      return tsr_err(err, "%s:%d: items[%d]: mode connect: a window of %d frames has no room between two inputs' %d frames",
                     o->suite_path, suite->items[i].line, i, mc->frames, mc->pt);
  for (int i = 0; i < suite->n; i++)  // every prompt passes the safety gate before anything is sampled
    if (s->gate && safety_gate_check(s->gate, suite->items[i].prompt, err))
      return tsr_err_prefix(err, "eval: %s:%d: items[%d]: ", o->suite_path, suite->items[i].line, i);
  for (int i = 0; i < suite->n; i++) {
    char cap[256];
    eval_item_caption(&suite->items[i], cap, sizeof cap);
    if (strcmp(cap, suite->items[i].prompt) &&
        (suite->items[i].objects == 1 || strncmp(suite->items[i].prompt, cap, strlen(cap))))
      log_warn("%s:%d: prompt '%s' is not the synth caption of its fields ('%s')", o->suite_path, suite->items[i].line,
               suite->items[i].prompt, cap);
  }
  return 0;
}

// Totals by kind of item and the motion confusion of single-object t2v.
static void sum_totals(EvalReport *r) {
  const EvalSuite *suite = r->suite;
  for (int i = 0; i < suite->n; i++) {
    const EvalItem *it = &suite->items[i];
    for (int k = 0; k < r->opt.seeds; k++) {
      const EvalScore *s = &r->scores[i * r->opt.seeds + k];
      EvalTotals *by_mode[EVAL_NMODES] = {&r->single, &r->i2v, &r->ext, &r->back, &r->loop, &r->conn, &r->remix,
                                            &r->image};
      EvalTotals *t = it->mode == EVAL_T2V && it->objects > 1 ? &r->two : by_mode[it->mode];
      totals_add(t, it, s);
      if (t == &r->single) r->confusion[it->motion][s->a.motion >= 0 ? s->a.motion : 6]++;
    }
  }
}

int eval_run(InferSession *s, const EvalSuite *suite, const EvalRunOptions *o, EvalReport *r, TsrErr *err) {
  memset(r, 0, sizeof *r);
  const ModelConfig *mc = &s->pixels;
  const int T = mc->frames, H = mc->height, W = mc->width, nlead = (T / 2) / mc->pt * mc->pt;
  *r = (EvalReport){.suite = suite, .opt = *o, .ckpt = s->ckpt, .ckpt_step = (long long)s->state.step, .T = T,
                    .H = H, .W = W, .nlead = nlead, .nv = suite->n * o->seeds};
  if (check_suite(s, suite, o, nlead, err)) return -1;
  if (pipeline_sampler(s, &o->flags, "eval", &r->so, &r->sampler, err)) return -1;
  r->base_seed = r->so.seed;
  OutputContext oc;
  if (pipeline_output_context(&oc, s, o->use_ema, r->sampler, &r->so, err)) return tsr_err_prefix(err, "eval: ");
  if (fs_mkdirs(o->out) != 0) return tsr_err(err, "eval: --out %s: cannot create the directory: %s", o->out, strerror(errno));
  log_info("eval: %d prompts x %d seed%s from %s (%s weights, step %lld), %d steps, cfg %g, %dx%dx%d", suite->n,
           o->seeds, o->seeds == 1 ? "" : "s", s->ckpt, o->use_ema ? "EMA" : "raw", r->ckpt_step, r->so.steps,
           r->so.cfg, T, H, W);

  uint8_t *clip = tsr_calloc((size_t)3 * T * H * W * 3, 1);  // an item's scene (an edit's: up to 3 windows)
  r->scores = tsr_calloc((size_t)r->nv, sizeof *r->scores);
  r->paths = tsr_calloc((size_t)r->nv, sizeof *r->paths);
  double t_start = timer_now();
  int rc = 0;
  for (int i = 0; i < suite->n && !rc; i++) {
    const EvalItem *it = &suite->items[i];
    char what[32];
    snprintf(what, sizeof what, "items[%d]", i);
    const uint8_t *cond = NULL;
    int ncond = 0;
    EvalEdit edit = {0};
    const int is_edit = it->mode >= EVAL_BACKWARD && it->mode <= EVAL_REMIX, image = it->mode == EVAL_IMAGE;
    if (is_edit) eval_edit_setup(it, T, mc->pt, H, W, clip, &edit);
    if (it->mode == EVAL_I2V || it->mode == EVAL_EXTEND) {  // the conditioning frames: the synth world's render of the item's scene
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
    for (int k = 0; k < o->seeds; k++) {
      const int v = i * o->seeds + k;
      VideoRequest rq = {.prompt = it->prompt, .what = what, .flag = "", .seed = r->base_seed + (uint64_t)k,
                         .frames = image ? 1 : ncond > 1 ? T - ncond : T, .keyframe = o->keyframe, .lead = cond, .nlead = ncond,
                         .upscale = o->upscale};
      if (is_edit)  // the edit's inputs cut from its scene (eval_edit.c)
        rq = (VideoRequest){.prompt = it->prompt, .what = what, .flag = "", .seed = rq.seed, .frames = edit.frames,
                            .lead = edit.lead_n ? clip : NULL, .nlead = edit.lead_n,
                            .tail = edit.tail_n ? clip + (size_t)edit.tail_at * H * W * 3 : NULL, .ntail = edit.tail_n,
                            .source = edit.source ? clip : NULL, .nsource = edit.source ? edit.ntruth : 0,
                            .strength = edit.source ? EVAL_REMIX_STRENGTH : 0.0f, .loop = edit.loop,
                            .upscale = o->upscale};
      Video vid;
      // an image: the window of one frame (one still temporal patch), then the suite's again
      int grc = image && infer_shape_flags(s, H, W, 1, "eval", err) ? -1 : pipeline_generate(s, &r->so, &rq, &vid, err);
      if (image && infer_shape_flags(s, H, W, T, "eval", err)) grc = -1;
      if (grc != 0) {
        rc = tsr_err_prefix(err, "eval: %s:%d: items[%d]: ", o->suite_path, it->line, i);
        break;
      }
      EvalScore *sc = &r->scores[v];
      if (is_edit)
        eval_score_edit(it, vid.frames, vid.n, H, W, &edit, sc);
      else
        eval_score_video(it, vid.frames, vid.n, H, W, cond, ncond, sc);
      sc->frames = vid.n;
      snprintf(r->paths[v], sizeof r->paths[v], "%s/%02d_%s_s%llu.%s", o->out, i, slug, (unsigned long long)rq.seed,
               image ? "png" : "mp4");
      WrittenVideo w;
      const double secs = vid.seconds;
      rc = pipeline_write(&oc, &rq, &vid, r->paths[v], 0, 0, &w, err);
      pipeline_video_free(&vid);
      if (rc) {
        tsr_err_prefix(err, "eval: ");
        break;
      }
      log_info("[%d/%d] %-44s seed %llu: colour %s shape %s motion %s (%.1fs)", v + 1, r->nv, it->prompt,
               (unsigned long long)rq.seed, name_or(SYNTH_COLOURS, sc->a.colour, "none"),
               name_or(SYNTH_SHAPES, sc->a.shape, "none"), name_or(EVAL_MOTION_SHORT, sc->a.motion, "none"),
               secs);
    }
  }
  tsr_free(clip);
  r->seconds = timer_now() - t_start;
  if (rc) return -1;
  sum_totals(r);
  return 0;
}

void eval_report_free(EvalReport *r) {
  tsr_free(r->scores);
  tsr_free(r->paths);
  memset(r, 0, sizeof *r);
}

// ------------------------------------------------------------------ the table
static void print_totals(const char *label, const EvalTotals *t) {
  if (!t->colour.n) return;
  char c[16], sh[16], m[16], d[16], p[16], ff[16], se[16], ke[16], co[16];
  put_pct(ke, sizeof ke, &t->kept), put_pct(co, sizeof co, &t->continuity);
  put_pct(c, sizeof c, &t->colour), put_pct(sh, sizeof sh, &t->shape), put_pct(m, sizeof m, &t->motion);
  put_pct(d, sizeof d, &t->direction), put_pct(p, sizeof p, &t->permanence), put_pct(ff, sizeof ff, &t->first_frame);
  put_pct(se, sizeof se, &t->seam);
  printf("%-30s %4d  colour %5s  shape %5s  motion %5s  direction %5s  consistency %.2f", label, t->colour.n, c, sh, m,
         d, acc_mean(&t->consistency));
  if (t->permanence.n) printf("  permanence %s", p);
  if (t->first_frame.n) printf("  first-frame %s", ff);
  if (t->seam.n) printf("  seam %s", se);
  if (t->kept.n) printf("  inputs kept %s", ke);
  if (t->continuity.n) printf("  continuity %s", co);
  printf("\n");
}

void eval_report_print(const EvalReport *r) {
  const EvalSuite *suite = r->suite;
  printf("\n%-3s %-8s %-46s %6s %6s %6s %7s %6s %6s %6s  %s\n", "#", "mode", "prompt", "colour", "shape", "motion",
         "consist", "perm", "cond", "kept", "found (first seed)");
  for (int i = 0; i < suite->n; i++) {  // one row per item, averaged over the seeds
    const EvalItem *it = &suite->items[i];
    EvalTotals row = {0};
    for (int k = 0; k < r->opt.seeds; k++) totals_add(&row, it, &r->scores[i * r->opt.seeds + k]);
    char c[16], sh[16], mo[16], pe[16], co[16], ke[16];
    put_pct(ke, sizeof ke, &row.kept);
    put_pct(c, sizeof c, &row.colour), put_pct(sh, sizeof sh, &row.shape), put_pct(mo, sizeof mo, &row.motion);
    put_pct(pe, sizeof pe, &row.permanence);
    // cond: the mode's own check (first frame, seam, or a connection's continuity)
    put_pct(co, sizeof co, it->mode == EVAL_I2V ? &row.first_frame : it->mode == EVAL_CONNECT ? &row.continuity : &row.seam);
    const EvalScore *s0 = &r->scores[i * r->opt.seeds];
    printf("%-3d %-8s %-46.46s %6s %6s %6s %7.2f %6s %6s %6s  %s %s %s\n", i, EVAL_MODES[it->mode], it->prompt, c, sh,
           mo, acc_mean(&row.consistency), pe, co, ke, name_or(SYNTH_COLOURS, s0->a.colour, "-"),
           name_or(SYNTH_SHAPES, s0->a.shape, "-"), name_or(EVAL_MOTION_SHORT, s0->a.motion, "-"));
  }
  printf("\ntotals (videos, share correct; consistency in [0,1]):\n");
  print_totals("single-object text-to-video", &r->single);
  print_totals("two objects (permanence)", &r->two);
  print_totals("image-to-video", &r->i2v);
  print_totals("extension", &r->ext);
  print_totals("backward extension", &r->back);
  print_totals("loop", &r->loop);
  print_totals("connection of two videos", &r->conn);
  print_totals("long remix", &r->remix);
  print_totals("image (one frame)", &r->image);
  int off = 0;
  for (int e = 0; e < 6; e++)
    for (int f = 0; f < 7; f++)
      if (e != f && r->confusion[e][f])
        printf("%s%s->%s %d", off++ ? ", " : "motion confusions (expected->found): ", EVAL_MOTION_SHORT[e],
               f < 6 ? EVAL_MOTION_SHORT[f] : "none", r->confusion[e][f]);
  if (off) printf("\n");
  const double cacc = acc_mean(&r->single.colour), dacc = acc_mean(&r->single.direction);
  if (r->single.colour.n)
    printf(
        "targets (single-object t2v): colour %.1f%% (>= 90%%: %s), direction left/right/up/down %.1f%% (>= 80%%: %s)\n",
        100.0 * cacc, cacc >= 0.9 ? "met" : "NOT met", 100.0 * (dacc < 0 ? 0 : dacc), dacc >= 0.8 ? "met" : "NOT met");
}

// ------------------------------------------------------------------ eval.json
// A metric's value in JSON: null where it does not apply.
static json_t *metric(float v) { return v < 0 ? json_null() : jx_round(v, 6); }

static json_t *totals_json(const EvalTotals *t) {
  json_t *o = json_pack("{s:i}", "videos", t->colour.n);
  const EvalAcc *a[10] = {&t->colour,      &t->shape,      &t->motion,      &t->direction, &t->consistency,
                          &t->permanence, &t->first_frame, &t->seam,        &t->kept,      &t->continuity};
  const char *names[10] = {"colour",     "shape",       "motion", "direction", "consistency",
                           "permanence", "first_frame", "seam",   "kept",      "continuity"};
  for (int i = 0; i < 10; i++) json_object_set_new(o, names[i], metric((float)acc_mean(a[i])));
  return o;
}

int eval_report_write_json(const EvalReport *r, const char *path, TsrErr *err) {
  const double cacc = acc_mean(&r->single.colour), dacc = acc_mean(&r->single.direction);
  json_t *doc = json_pack("{s:o, s:o, s:o, s:I, s:s, s:i, s:o, s:o, s:s, s:b, s:I, s:i, s:i, s:[i,i], s:o}",
                          "suite", jx_string(r->opt.suite_path), "suite_name", jx_string(r->suite->name), "checkpoint",
                          jx_string(r->ckpt), "checkpoint_step", (json_int_t)r->ckpt_step, "weights",
                          r->opt.use_ema ? "ema" : "raw", "steps", r->so.steps, "cfg", jx_round(r->so.cfg, 6), "shift",
                          jx_round(r->so.shift, 6), "sampler", r->so.heun ? "heun" : "euler", "keyframe", r->opt.keyframe,
                          "seed", (json_int_t)r->base_seed, "seeds", r->opt.seeds, "frames", r->T, "size", r->H, r->W, "seconds",
                          jx_fixed(r->seconds, 2));
  TSR_ASSERT(doc, "json_pack failed");
  json_t *th = json_object();
  const struct { const char *name; double v; } thresholds[] = {
      {"mask_dist", EVAL_MASK_DIST},       {"colour_dist", EVAL_COLOUR_DIST},   {"max_mask_frac", EVAL_MAX_MASK_FRAC},
      {"still_frac", EVAL_STILL_FRAC},     {"reversal_frac", EVAL_REVERSAL_FRAC}, {"diag_min", EVAL_DIAG_MIN},
      {"diag_ratio", EVAL_DIAG_RATIO},     {"first_frame_mae", EVAL_FIRST_FRAME_MAE}, {"seam_factor", EVAL_SEAM_FACTOR},
      {"seam_eps", EVAL_SEAM_EPS},         {"consistency_band", EVAL_CONSIST_BAND}};
  for (size_t k = 0; k < sizeof thresholds / sizeof *thresholds; k++)
    json_object_set_new(th, thresholds[k].name, jx_round(thresholds[k].v, 6));
  json_object_set_new(th, "min_pixels", json_integer(eval_min_pixels(r->H, r->W)));
  json_object_set_new(doc, "thresholds", th);
  json_t *items = json_array();
  for (int i = 0; i < r->suite->n; i++) {
    const EvalItem *it = &r->suite->items[i];
    json_t *jo = json_pack("{s:i, s:i, s:o, s:s, s:i, s:s, s:s, s:s}", "index", i, "line", it->line, "prompt",
                           jx_string(it->prompt), "mode", EVAL_MODES[it->mode], "objects", it->objects, "colour",
                           SYNTH_COLOURS[it->colour], "shape", SYNTH_SHAPES[it->shape], "motion",
                           EVAL_MOTION_SHORT[it->motion]);
    if (it->colour2 >= 0) json_object_set_new(jo, "colour2", json_string(SYNTH_COLOURS[it->colour2]));
    if (it->mode != EVAL_T2V) {
      json_object_set_new(jo, "background", json_string(SYNTH_BACKGROUNDS[it->background]));
      json_object_set_new(jo, "size", json_string(SYNTH_SIZES[it->size]));
      if (it->mode == EVAL_I2V || it->mode == EVAL_EXTEND)
        json_object_set_new(jo, "conditioning_frames", json_integer(it->mode == EVAL_I2V ? 1 : r->nlead));
    }
    json_t *videos = json_array();
    for (int k = 0; k < r->opt.seeds; k++) {
      const EvalScore *s = &r->scores[i * r->opt.seeds + k];
      const EvalAnalysis *an = &s->a;
      json_t *found = json_pack(
          "{s:s, s:s, s:o, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:i, s:i, s:i, s:i, s:s}", "background",
          SYNTH_BACKGROUNDS[an->background], "colour", name_or(SYNTH_COLOURS, an->colour, "none"), "colour_dist",
          jx_fixed(an->colour_dist, 1), "shape", name_or(SYNTH_SHAPES, an->shape, "none"), "fill", jx_fixed(an->fill, 3),
          "fill45", jx_fixed(an->fill45, 3), "motion", name_or(EVAL_MOTION_SHORT, an->motion, "none"), "dx",
          jx_fixed(an->dx, 3), "dy", jx_fixed(an->dy, 3), "range_x", jx_fixed(an->range_x, 3), "range_y",
          jx_fixed(an->range_y, 3), "reversals", an->reversals, "tracked_frames", an->tracked, "clean_frames",
          an->clean_frames, "colour_frames", an->colour_frames, "tracked_on", an->on_colour ? "colour" : "mask");
      if (it->objects > 1) json_object_set_new(found, "occluded", json_boolean(s->permanence_occluded));
      if (it->mode == EVAL_I2V) json_object_set_new(found, "first_frame_mae", jx_fixed(s->first_frame_mae, 3));
      if (it->mode == EVAL_CONNECT) json_object_set_new(found, "continuity_dist", jx_fixed(s->continuity_dist, 3));
      if (it->mode == EVAL_EXTEND || it->mode == EVAL_BACKWARD || it->mode == EVAL_LOOP) {
        json_object_set_new(found, "seam_diff", jx_fixed(s->seam_diff, 3));
        json_object_set_new(found, "seam_median", jx_fixed(s->seam_median, 3));
      }
      json_t *vo = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "seed",
                             (json_int_t)(r->base_seed + (uint64_t)k), "video", jx_string(r->paths[i * r->opt.seeds + k]),
                             "colour", metric(s->colour), "shape", metric(s->shape), "motion", metric(s->motion),
                             "consistency", metric(s->consistency), "permanence", metric(s->permanence),
                             "first_frame", metric(s->first_frame), "seam", metric(s->seam), "found", found);
      json_object_set_new(vo, "kept", metric(s->kept));
      json_object_set_new(vo, "continuity", metric(s->continuity));
      json_object_set_new(vo, "frames", json_integer(s->frames));
      json_array_append_new(videos, vo);
    }
    json_object_set_new(jo, "videos", videos);
    json_array_append_new(items, jo);
  }
  json_object_set_new(doc, "items", items);
  json_object_set_new(doc, "totals",
                      json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "single_object_t2v", totals_json(&r->single),
                                "two_objects", totals_json(&r->two), "i2v", totals_json(&r->i2v), "extend",
                                totals_json(&r->ext), "backward", totals_json(&r->back), "loop", totals_json(&r->loop),
                                "connect", totals_json(&r->conn), "remix", totals_json(&r->remix), "image",
                                totals_json(&r->image)));
  json_t *counts = json_array();
  for (int e = 0; e < 6; e++) {
    json_t *row = json_array();
    for (int c = 0; c < 7; c++) json_array_append_new(row, json_integer(r->confusion[e][c]));
    json_array_append_new(counts, row);
  }
  json_object_set_new(doc, "motion_confusion",
                      json_pack("{s:s, s:[s,s,s,s,s,s,s], s:o}", "rows", "expected", "cols", "left", "right", "up",
                                "down", "still", "bounce", "none", "counts", counts));
  json_object_set_new(doc, "targets", json_pack("{s:f, s:f, s:b, s:b}", "colour", 0.9, "direction", 0.8, "colour_met",
                                                r->single.colour.n && cacc >= 0.9, "direction_met",
                                                r->single.direction.n && dacc >= 0.8));
  char why[700];
  int rc = jx_write_file(doc, path, why, sizeof why);
  json_decref(doc);
  return rc ? tsr_err(err, "eval: %s", why) : 0;
}
