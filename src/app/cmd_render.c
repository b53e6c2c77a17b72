// `tessera render PROMPTS --ckpt F --out DIR`: a prompt list rendered item by
// item into DIR, with a manifest that makes the queue resumable, and
// `tessera render --status DIR`: the progress of the whole queue.
//
// Work split: item i belongs to shard i mod N (--shard K/N, one Slurm array
// task each); inside a shard, the ranks of the job form dp replicas of
// cfg x sp x tp ranks (infer/dist.h: --cfg-parallel, --sp, --tp) and the
// shard's j-th item goes to replica j mod dp. Replicas never talk to each
// other: each renders its items and its writer rank appends to its own
// manifest file. The ranks of a replica take the same skip decisions (same
// manifests, same files, read before the item is touched) and generate each
// item together.
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm/comm.h"
#include "core/error.h"
#include "core/jsonx.h"
#include "core/sha256.h"
#include "core/fs.h"
#include "core/log.h"
#include "app/flags.h"
#include "core/parse.h"
#include "core/timer.h"
#include "infer/dist.h"
#include "infer/manifest.h"
#include "infer/render.h"
#include "app/app_error.h"
#include "app/device_flag.h"
#include "infer/session.h"

typedef struct {
  const char *prompts, *ckpt, *out, *status_dir, *sampler, *policy;
  int shard, shards, steps, upscale, use_ema, sp, ring, tp, cfg_parallel;
  InferDevice dev;
  long long seed;
  float cfg, shift;
} RenderArgs;

static void usage(void) {
  printf("usage: tessera render PROMPTS --ckpt F --out DIR [options]\n"
         "       tessera render --status DIR\n"
         "Renders every item of PROMPTS (JSON Lines: one {\"prompt\": ...} per line; or a YAML list)\n"
         "to DIR/item<index>.mp4 (or DIR/<id>.mp4) with a contact sheet .png and a provenance .json\n"
         "(an item of frames 1 is an image: DIR/<name>.png and its .json).\n"
         "Item keys: prompt, seed, frames, size, image, extend, extend_frames, backward, first, last,\n"
         "new_only, loop, remix, strength, id (backward, new_only, loop: true or false, as generate's\n"
         "flags). DIR/manifest-*.jsonl record each item's status and output checksum: run the same\n"
         "command again and finished items are skipped, interrupted ones redone.\n"
         "  --shard K/N       render only items with index %% N == K (one Slurm array task each)\n"
         "  --steps N --cfg G --shift S --sampler euler|heun --seed N   (defaults: the checkpoint's;\n"
         "                    an item without a seed uses seed + its index)\n"
         "  --upscale K       nearest-neighbour upscale of the MP4 frames (default: to >= 256 px)\n"
         "  --raw             sample with the raw weights instead of the EMA\n"
         DEVICE_FLAG_HELP
         "  --policy F        the prompt safety policy (default: the shipped one; docs/safety.md); a refused\n"
         "                    item is recorded as refused and the rest renders\n"
         "  --sp S --ring R --tp T --cfg-parallel   each item made by a replica of (2 x) S x T ranks (as generate);\n"
         "                    the job's ranks / replica size = dp replicas split the shard's items\n"
         "  --status DIR      print done/failed/running/pending counts per shard from DIR's manifests\n"
         "Exit status: 0 all items of this shard done, 1 some failed (see the manifest), 2 bad usage.\n");
}

static void parse(RenderArgs *a, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
      usage();
      exit(0);
    }
    if (!strcmp(k, "--raw")) { a->use_ema = 0; continue; }
    if (!strcmp(k, "--cfg-parallel")) { a->cfg_parallel = 1; continue; }
    if (k[0] != '-') {
      if (a->prompts) app_user_error("render: one prompt list expected, got '%s' and '%s'", a->prompts, k);
      a->prompts = k;
      continue;
    }
    if (device_flag(&a->dev, "render", argc, argv, &i)) continue;
    if (i + 1 >= argc) app_user_error("render: %s: expected a value after it", k);
    const char *v = argv[++i];
    if (!strcmp(k, "--ckpt")) a->ckpt = v;
    else if (!strcmp(k, "--policy")) a->policy = v;
    else if (!strcmp(k, "--out")) a->out = v;
    else if (!strcmp(k, "--status")) a->status_dir = v;
    else if (!strcmp(k, "--sampler")) {
      if (strcmp(v, "euler") && strcmp(v, "heun")) app_user_error("render: --sampler: expected euler or heun, got '%s'", v);
      a->sampler = v;
    } else if (!strcmp(k, "--shard")) {
      char tail;
      if (sscanf(v, "%d/%d%c", &a->shard, &a->shards, &tail) != 2 || a->shards < 1 || a->shard < 0 ||
          a->shard >= a->shards || a->shards > MANIFEST_MAX_SHARDS)
        app_user_error("render: --shard: expected K/N with 0 <= K < N <= %d, got '%s'", MANIFEST_MAX_SHARDS, v);
    } else if (!strcmp(k, "--steps")) a->steps = parse_flag_int("render", k, v, 1, 10000);
    else if (!strcmp(k, "--seed")) a->seed = parse_flag_int("render", k, v, 0, 2147483647L);
    else if (!strcmp(k, "--upscale")) a->upscale = parse_flag_int("render", k, v, 1, 64);
    else if (!strcmp(k, "--sp")) a->sp = parse_flag_int("render", k, v, 1, 1024);
    else if (!strcmp(k, "--ring")) a->ring = parse_flag_int("render", k, v, 1, 1024);
    else if (!strcmp(k, "--tp")) a->tp = parse_flag_int("render", k, v, 1, 1024);
    else if (!strcmp(k, "--cfg")) a->cfg = parse_flag_float("render", k, v, 0.0f, 100.0f);
    else if (!strcmp(k, "--shift")) a->shift = parse_flag_float("render", k, v, 0.01f, 100.0f);
    else app_user_error("render: unknown option '%s' (see tessera render --help)", k);
  }
}

// ------------------------------------------------------------------ --status
static int show_status(const char *dir) {
  ManifestState st;
  manifest_load(dir, 0, &st);
  if (st.nfiles == 0) app_user_error("render --status: %s: no manifest-*.jsonl files (nothing rendered there yet)", dir);
  if (st.nstarts == 0)
    app_user_error("render --status: %s: no valid start record in its manifests%s%s", dir, st.bad_lines ? "; the first bad line: " : "",
                   st.first_bad);
  // The latest start record says how the queue is cut (a restart may change N).
  const ShardStart *latest = &st.starts[0];
  for (int i = 1; i < st.nstarts; i++)
    if (st.starts[i].time > latest->time) latest = &st.starts[i];
  const int N = latest->shards, total = st.total;
  int(*count)[6] = tsr_calloc((size_t)N + 1, sizeof *count);  // per shard: items, pending, running, done, failed, refused
  for (int k = 0; k < N; k++) count[k][0] = total / N + (k < total % N), count[N][0] += count[k][0];
  for (int i = 0; i < st.nitems; i++) {  // every record is of an item below total (manifest_load)
    const int s = st.items[i].status, k = st.items[i].index % N;
    count[k][1 + s]++, count[N][1 + s]++;
  }
  for (int k = 0; k <= N; k++) count[k][1] = count[k][0] - count[k][2] - count[k][3] - count[k][4] - count[k][5];
  printf("render queue %s: %d items in %d shard%s (%d manifest file%s)\n", dir, total, N, N > 1 ? "s" : "", st.nfiles,
         st.nfiles > 1 ? "s" : "");
  printf("%-8s %7s %7s %7s %7s %7s %7s\n", "shard", "items", "done", "failed", "running", "pending", "refused");
  for (int k = 0; k <= N; k++) {
    char name[32];
    if (k < N) snprintf(name, sizeof name, "%d/%d", k, N);
    else snprintf(name, sizeof name, "all");
    printf("%-8s %7d %7d %7d %7d %7d %7d\n", name, count[k][0], count[k][3], count[k][4], count[k][2], count[k][1],
           count[k][5]);
  }
  for (int i = 0; i < st.nitems; i++)
    if (st.items[i].status == ITEM_FAILED || st.items[i].status == ITEM_REFUSED)
      printf("%s: item %d: %s\n", item_status_name(st.items[i].status), st.items[i].index, st.items[i].error);
  if (count[N][2])
    printf("(running: started and not finished; an item of a job that was killed stays running until a restart redoes it)\n");
  if (st.torn) printf("(%d unfinished last line%s of killed writers skipped)\n", st.torn, st.torn > 1 ? "s" : "");
  if (st.bad_lines)
    printf("(%d manifest line%s ignored, the first: %s)\n", st.bad_lines, st.bad_lines > 1 ? "s" : "", st.first_bad);
  tsr_free(count);
  manifest_state_free(&st);
  return 0;
}

// ------------------------------------------------------------------ render
static int g_rank, g_writer = 1, g_ranks;

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...) {
  char msg[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!g_writer) return;  // a replica speaks through its writer
  if (g_ranks > 1) printf("render[rank %d]: %s\n", g_rank, msg);
  else printf("render: %s\n", msg);
  fflush(stdout);
}

static void job_id(char *buf, size_t n) {
  const char *aj = getenv("SLURM_ARRAY_JOB_ID"), *at = getenv("SLURM_ARRAY_TASK_ID"), *j = getenv("SLURM_JOB_ID");
  if (aj && at) snprintf(buf, n, "%s_%s", aj, at);
  else snprintf(buf, n, "%s", j ? j : "");
}

static void record_item(Manifest *m, const RenderItem *it, const char *key, const char *status, const RenderResult *res,
                        const char *error, const char *job) {
  if (!g_writer) return;
  json_t *r = json_pack("{s:s, s:i, s:i, s:s, s:s, s:i, s:o}", "event", "item", "index", it->index, "line", it->line,
                        "key", key, "status", status, "rank", g_rank, "job", jx_string(job));
  TSR_ASSERT(r, "json_pack failed");
  if (res) {
    const WrittenVideo *w = &res->out;
    json_object_set_new(r, "output", jx_string(w->paths.mp4));
    json_object_set_new(r, "sheet", jx_string(w->paths.sheet));
    json_object_set_new(r, "provenance", jx_string(w->paths.json));
    json_object_set_new(r, "sha256", json_string(w->sha256));
    json_object_set_new(r, "bytes", json_integer(w->bytes));
    json_object_set_new(r, "frames", json_integer(res->frames));
    json_object_set_new(r, "seconds", json_real(res->seconds));
  }
  if (error) json_object_set_new(r, "error", jx_string(error));
  if (manifest_append(m, r) != 0)
    tsr_fatal(__FILE__, __LINE__, "render", "%s: cannot append: %s", m->path, strerror(errno));
  json_decref(r);
}

// A finished item whose output is still there with the recorded checksum.
static int done_earlier(const ManifestState *st, const RenderItem *it, const char *key) {
  const ItemRecord *r = manifest_item(st, it->index);
  if (!r || r->status != ITEM_DONE || strcmp(r->key, key)) return 0;
  char h[65];
  if (sha256_file(r->output, h, NULL) != 0) {
    say("item %d: recorded as done but %s is missing: rendering it again", it->index, r->output);
    return 0;
  }
  if (strcmp(h, r->sha256)) {
    say("item %d: %s does not match its recorded checksum: rendering it again", it->index, r->output);
    return 0;
  }
  return 1;
}

static void open_session(InferSession *ses, const RenderArgs *a, GenLayout *gl, const RenderSettings *rs) {
  TsrErr err = {0};
  if (infer_open_layout(ses, a->ckpt, a->use_ema, gen_model_layout(gl), gl->cfg == 2 ? 1 : 2, a->dev, &err))
    app_check(err.code != 0, &err);
  if (infer_gate_open(ses, a->policy, &err)) app_fail(&err);
  float cfg = rs->flags.cfg >= 0 ? rs->flags.cfg : ses->cfg.sample.cfg;
  if (gl->cfg == 2 && cfg == 1.0f)
    app_fail(&(TsrErr){TSR_EXIT_USER, "render: --cfg-parallel needs classifier-free guidance (--cfg other than 1)"});
}

int cmd_render(int argc, char **argv) {
  RenderArgs a = {.use_ema = 1, .shards = 1, .seed = -1, .cfg = -1, .shift = -1, .sp = 1, .ring = 1, .tp = 1};
  if (argc < 2) {
    usage();
    return 2;
  }
  parse(&a, argc, argv);
  if (a.status_dir) return show_status(a.status_dir);
  if (!a.prompts || !a.ckpt || !a.out) app_user_error("render: PROMPTS, --ckpt and --out are required (see tessera render --help)");
  g_rank = comm_world_rank(), g_ranks = comm_world_size();
  GenLayout gl;
  TsrErr lerr;
  if (gen_layout_init(&gl, a.sp, a.ring, a.tp, a.cfg_parallel, "render", &lerr)) app_fail(&lerr);
  const int dp = gl.dp, group = gl.replica;
  g_writer = gl.writer;

  // Everything a user can get wrong is checked before the model is loaded.
  PromptList pl;
  if (prompt_list_read(a.prompts, &pl, &lerr)) app_fail(&lerr);
  if (access(a.ckpt, R_OK) != 0) tsr_user_error("render: --ckpt %s: %s", a.ckpt, strerror(errno));
  if (fs_mkdirs(a.out) != 0) tsr_user_error("render: --out %s: cannot create the output directory: %s", a.out, strerror(errno));
  Manifest man = {.fd = -1};
  char err[1024] = "";
  if (access(a.out, W_OK) != 0 || (g_writer && manifest_open(&man, a.out, a.shard, a.shards, g_rank, err, sizeof err) != 0))
    tsr_user_error("render: --out %s: the output directory is not writable (%s)", a.out, err[0] ? err : strerror(errno));

  RenderSettings rs = {.flags = {.steps = a.steps, .cfg = a.cfg, .shift = a.shift, .sampler = a.sampler, .seed = a.seed},
                       .upscale = a.upscale, .use_ema = a.use_ema, .ckpt = a.ckpt, .prompts = a.prompts,
                       .writer = g_writer, .cfg_group = gen_cfg_group(&gl),
                       .layout = {.ranks = g_ranks, .dp = gl.dp, .cfg = gl.cfg, .sp = gl.sp, .tp = gl.tp}};
  if (sha256_file(a.ckpt, rs.ckpt_sha256, NULL) != 0) tsr_user_error("render: --ckpt %s: cannot read", a.ckpt);

  // This writer's items: shard K of N, then group g of dp inside the shard.
  int shard_items = 0, nmine = 0;
  int *mine = tsr_calloc((size_t)pl.n, sizeof(int));
  for (int i = 0; i < pl.n; i++) {
    if (i % a.shards != a.shard) continue;
    if (shard_items++ % dp == group) mine[nmine++] = i;
  }
  char job[64];
  job_id(job, sizeof job);
  json_t *start = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "event", "start",
                            "shard", a.shard, "shards", a.shards, "rank", g_rank, "ranks", g_ranks, "dp", dp, "group",
                            group, "cfg", gl.cfg, "sp", gl.sp, "tp", gl.tp, "items", shard_items, "total", pl.n,
                            "assigned", nmine);
  TSR_ASSERT(start, "json_pack failed");
  json_object_set_new(start, "prompts", jx_string(a.prompts));
  json_object_set_new(start, "prompts_sha256", json_string(pl.sha256));
  json_object_set_new(start, "ckpt", jx_string(a.ckpt));
  json_object_set_new(start, "ckpt_sha256", json_string(rs.ckpt_sha256));
  json_object_set_new(start, "job", jx_string(job));
  if (g_writer && manifest_append(&man, start) != 0) tsr_user_error("render: %s: cannot write: %s", man.path, strerror(errno));
  json_decref(start);

  ManifestState st;
  manifest_load(a.out, pl.n, &st);
  if (st.bad_lines)
    log_warn("render: %d line%s of the manifests in %s ignored (their items are rendered again unless done elsewhere); "
             "the first: %s", st.bad_lines, st.bad_lines > 1 ? "s" : "", a.out, st.first_bad);
  say("%s: %d items; shard %d/%d has %d, this rank renders %d into %s", a.prompts, pl.n, a.shard, a.shards,
      shard_items, nmine, a.out);

  InferSession ses;
  int opened = 0, ndone = 0, nskip = 0, nfail = 0, nrefused = 0;
  // One rank loads the model only when there is something to render; ranks
  // that shard a model load it together, up front (the load is collective).
  if (g_ranks > 1) open_session(&ses, &a, &gl, &rs), opened = 1;
  double t_begin = timer_now();
  for (int m = 0; m < nmine; m++) {
    const RenderItem *it = &pl.items[mine[m]];
    char key[65];
    render_item_key(it, &rs, key);
    if (it->error[0]) {  // malformed in the prompt file: fails here, the rest goes on
      if (g_writer) fprintf(stderr, "tessera: error: %s\n", it->error);
      record_item(&man, it, key, "failed", NULL, it->error, job);
      nfail++;
      continue;
    }
    if (done_earlier(&st, it, key)) {
      say("item %d (line %d): done earlier, %s checksum verified: skipped", it->index, it->line,
          manifest_item(&st, it->index)->output);
      nskip++;
      continue;
    }
    if (!opened) open_session(&ses, &a, &gl, &rs), opened = 1;
    record_item(&man, it, key, "running", NULL, NULL, job);
    RenderResult res;
    TsrErr ierr = {0};
    const int rc = render_item(&ses, it, &rs, a.out, &res, &ierr);
    if (rc != 0 && ierr.code == TSR_EXIT_REFUSED) {
      // refused by the safety policy before any sampling: recorded, not a failure; the rest goes on
      if (g_writer) fprintf(stderr, "tessera: error: %s:%d: item %d: %s\n", a.prompts, it->line, it->index, ierr.msg);
      record_item(&man, it, key, "refused", NULL, ierr.msg, job);
      nrefused++;
      continue;
    }
    if (rc != 0) {
      char where[1400];  // the manifest's error names the prompt file and line, as parse errors do
      snprintf(where, sizeof where, "%s:%d: item %d: %s", a.prompts, it->line, it->index, ierr.msg);
      if (g_writer) fprintf(stderr, "tessera: error: %s\n", where);
      fflush(stderr);
      record_item(&man, it, key, "failed", NULL, where, job);
      nfail++;
      continue;
    }
    record_item(&man, it, key, "done", &res, NULL, job);
    ndone++;
    say("item %d (line %d) [%d/%d]: %s (%d frames, %.1fs)", it->index, it->line, m + 1, nmine, res.out.paths.mp4, res.frames,
        res.seconds);
  }
  say("shard %d/%d: %d rendered, %d done earlier, %d failed, %d refused, in %.1fs%s", a.shard, a.shards, ndone, nskip,
      nfail, nrefused, timer_now() - t_begin, nfail ? " (see the manifest and `tessera render --status`)" : "");
  if (opened) infer_close(&ses);
  gen_layout_free(&gl);
  manifest_state_free(&st);
  manifest_close(&man);
  tsr_free(mine);
  prompt_list_free(&pl);
  return nfail ? 1 : 0;
}
