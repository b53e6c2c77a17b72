// `tessera data ingest`: real videos into a corpus.h5 (data/ingest.h,
// datasets/ingest.md). Bad flags, bad sidecars and empty inputs are one-line
// errors (exit 2); a single undecodable or too-short video is a warning and a
// count in the summary.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_error.h"
#include "app/commands.h"
#include "core/log.h"
#include "core/parse.h"
#include "core/timer.h"
#include "data/ingest.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera data ingest --videos DIR --out FILE --frames T --size HxW [options]\n"
          "Cuts every video FFmpeg can decode in DIR (sorted, not recursive, hidden files skipped)\n"
          "into clips of T frames, scales and centre-crops them to a size bucket, and writes a\n"
          "corpus.h5 with short captions and measured recaptions (datasets/ingest.md).\n"
          "  --videos DIR            directory of videos (required)\n"
          "  --captions F.jsonl      sidecar, one {\"path\": ..., \"caption\": ...} per line; videos\n"
          "                          without an entry get a caption from the recaptioner\n"
          "  --out FILE              corpus to write (required; FILE.tmp, then renamed)\n"
          "  --frames T              frames per clip (required; a multiple of the patch's t)\n"
          "  --size HxW              clip size (required); give it several times for aspect-ratio\n"
          "                          buckets: each video goes to the one closest to its aspect\n"
          "  --buckets TxHxW,...     buckets of aspect ratios and lengths instead of --frames/--size\n"
          "                          (e.g. 8x16x16,16x16x32,8x32x16): the closest aspect, then the\n"
          "                          longest length the video fills (resize + minimal centre crop)\n"
          "  --fps F                 frame rate clips are sampled at (8)\n"
          "  --patch TxHxW           spacetime patch (2x4x4)\n"
          "  --text-length L         caption tokens stored per clip (32)\n"
          "  --clips-per-video K     at most K clips per video, from its start (4; 0 = all)\n");
}

// ------------------------------------------------------------------ option parsing

static void parse_options(IngestOptions *o, int argc, char **argv) {
  ingest_defaults(o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    }
    if (strncmp(a, "--", 2))
      app_user_error("data ingest: unexpected argument '%s' (options start with --; see tessera data ingest --help)", a);
    char key[64];
    const char *v;
    const char *eq = strchr(a, '=');
    if (eq) {
      snprintf(key, sizeof key, "%.*s", (int)(eq - a), a);
      v = eq + 1;
    } else {
      snprintf(key, sizeof key, "%s", a);
      if (i + 1 >= argc) app_user_error("data ingest: %s: expected a value after it", key);
      v = argv[++i];
    }
    long n;
    if (!strcmp(key, "--videos")) {
      if (!*v) app_user_error("data ingest: --videos: expected a directory");
      o->videos = v;
    } else if (!strcmp(key, "--captions")) {
      if (!*v) app_user_error("data ingest: --captions: expected a JSONL file");
      o->captions = v;
    } else if (!strcmp(key, "--out")) {
      if (!*v) app_user_error("data ingest: --out: expected a file name");
      o->out = v;
    } else if (!strcmp(key, "--frames")) {
      if (parse_long(v, 1, 4096, &n)) app_user_error("data ingest: --frames '%s': expected an integer in 1..4096", v);
      o->T = (int)n;
    } else if (!strcmp(key, "--size")) {
      int d[2];
      if (parse_dims(v, 2, d) || d[0] > 8192 || d[1] > 8192)
        app_user_error("data ingest: --size '%s': expected HxW with H and W in 1..8192 (e.g. 32x32)", v);
      int dup = 0;
      for (int k = 0; k < o->nsizes; k++) dup |= o->size[k][0] == d[0] && o->size[k][1] == d[1];
      if (dup) continue;
      if (o->nsizes == INGEST_MAX_SIZES) app_user_error("data ingest: --size '%s': at most %d sizes", v, INGEST_MAX_SIZES);
      o->size[o->nsizes][0] = d[0];
      o->size[o->nsizes][1] = d[1];
      o->nsizes++;
    } else if (!strcmp(key, "--buckets")) {
      char spec[1024];
      snprintf(spec, sizeof spec, "%s", v);
      for (char *save = NULL, *it = strtok_r(spec, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        int d[3];
        if (parse_dims(it, 3, d) || d[0] > 4096 || d[1] > 8192 || d[2] > 8192)
          app_user_error("data ingest: --buckets '%s': item '%s': expected TxHxW (frames x height x width, e.g. "
                         "8x16x32)", v, it);
        if (o->nsizes == INGEST_MAX_SIZES) app_user_error("data ingest: --buckets '%s': at most %d buckets", v, INGEST_MAX_SIZES);
        for (int k = 0; k < o->nsizes; k++)
          if (o->frames[k] == d[0] && o->size[k][0] == d[1] && o->size[k][1] == d[2])
            app_user_error("data ingest: --buckets '%s': bucket %s given twice", v, it);
        o->frames[o->nsizes] = d[0], o->size[o->nsizes][0] = d[1], o->size[o->nsizes][1] = d[2];
        o->nsizes++;
      }
    } else if (!strcmp(key, "--fps")) {
      char *end;
      errno = 0;
      float f = strtof(v, &end);
      if (errno || end == v || *end || !(f > 0.0f && f <= 1000.0f))
        app_user_error("data ingest: --fps '%s': expected a number in (0, 1000]", v);
      o->fps = f;
    } else if (!strcmp(key, "--patch")) {
      int d[3];
      if (parse_dims(v, 3, d) || d[0] > 64 || d[1] > 64 || d[2] > 64)
        app_user_error("data ingest: --patch '%s': expected TxHxW with each in 1..64 (e.g. 2x4x4)", v);
      o->pt = d[0], o->ph = d[1], o->pw = d[2];
    } else if (!strcmp(key, "--text-length")) {
      if (parse_long(v, 2, 4096, &n)) app_user_error("data ingest: --text-length '%s': expected an integer in 2..4096", v);
      o->text_length = (int)n;
    } else if (!strcmp(key, "--clips-per-video")) {
      if (parse_long(v, 0, 1 << 20, &n))
        app_user_error("data ingest: --clips-per-video '%s': expected an integer >= 0 (0 = all)", v);
      o->clips_per_video = (int)n;
    } else {
      app_user_error("data ingest: unknown option '%s' (see tessera data ingest --help)", key);
    }
  }
  if (!o->videos) app_user_error("data ingest: --videos DIR is required");
  if (!o->out) app_user_error("data ingest: --out FILE is required");
  int lengths = 0, sizes = 0;  // --buckets items carry their own frames; --size ones take --frames
  for (int k = 0; k < o->nsizes; k++) lengths += o->frames[k] > 0, sizes += o->frames[k] == 0;
  if (!o->T && sizes) app_user_error("data ingest: --frames T is required with --size");
  if (!o->nsizes) app_user_error("data ingest: --size HxW (with --frames T) or --buckets TxHxW,... is required");
  if (lengths && sizes) app_user_error("data ingest: --buckets and --size: expected one of them");
  for (int k = 0; k < o->nsizes; k++)
    if ((o->frames[k] ? o->frames[k] : o->T) % o->pt && (o->frames[k] ? o->frames[k] : o->T) != 1)  // 1: images
      app_user_error("data ingest: %s %d: expected a multiple of the patch's t (%d, --patch %dx%dx%d), or 1 (images)",
                     o->frames[k] ? "--buckets frames" : "--frames", o->frames[k] ? o->frames[k] : o->T, o->pt, o->pt,
                     o->ph, o->pw);
  for (int k = 0; k < o->nsizes; k++)
    if (o->size[k][0] % o->ph || o->size[k][1] % o->pw)
      app_user_error("data ingest: %s %dx%d: expected H and W multiples of the patch's h and w (%d, %d; --patch %dx%dx%d)",
                     o->frames[k] ? "--buckets size" : "--size", o->size[k][0], o->size[k][1], o->ph, o->pw, o->pt,
                     o->ph, o->pw);
}

static void print_summary(const IngestOptions *o, const IngestStats *st, double dt) {
  char skipped[160] = "";
  int nskip = st->undecodable + st->too_short;
  if (nskip) {
    if (st->undecodable && st->too_short)
      snprintf(skipped, sizeof skipped, "; skipped %d (%d undecodable, %d too short)", nskip, st->undecodable,
               st->too_short);
    else
      snprintf(skipped, sizeof skipped, "; skipped %d (%s)", nskip, st->undecodable ? "undecodable" : "too short");
  }
  char buckets[512] = "";
  for (int k = 0; k < o->nsizes; k++)
    if (st->bucket_clips[k])
      snprintf(buckets + strlen(buckets), sizeof buckets - strlen(buckets), "%s%dx%dx%d: %ld", buckets[0] ? ", " : "",
               o->frames[k] ? o->frames[k] : o->T, o->size[k][0], o->size[k][1], st->bucket_clips[k]);
  log_info("ingested %d video%s, %ld clip%s%s -> %s [%s]", st->videos, st->videos == 1 ? "" : "s", st->clips,
           st->clips == 1 ? "" : "s", skipped, o->out, buckets);
  log_info("%.2f s (decoding %.2f s), %.0f frames/s", dt, st->decode_s, dt > 0 ? st->frames / dt : 0.0);
}

int data_cmd_ingest(int argc, char **argv) {
  IngestOptions o;
  parse_options(&o, argc, argv);
  const double t0 = timer_now();
  IngestStats st;
  TsrErr err;
  if (ingest_run(&o, &st, &err)) app_fail(&err);
  print_summary(&o, &st, timer_now() - t0);
  return 0;
}
