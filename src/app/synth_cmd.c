// `tessera data synth`: writes a shapes-world corpus (datasets/shapes.md).
// The options, the YAML recipe and the writing are the library's
// (data/synth_recipe.h, data/synth_corpus.h); this parses the flags.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "app/app_error.h"
#include "app/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/corpus.h"
#include "data/synth_corpus.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera data synth --out FILE [options]\n"
          "Writes a corpus.h5 of procedural shapes-world clips with captions, recaptions\n"
          "and ground truth (datasets/shapes.md). Defaults are datasets/shapes.yaml's.\n"
          "  --out FILE          corpus to write (required; written as FILE.tmp, then renamed)\n"
          "  --recipe FILE       YAML recipe (datasets/shapes.yaml); flags override it\n"
          "  --clips N           number of clips (10000)\n"
          "  --frames T          frames per clip (16; a multiple of the patch's t, or 1: images of still objects)\n"
          "  --size HxW          frame size (32x32; multiples of the patch's h and w)\n"
          "  --seed S            RNG seed (0); clip i depends only on (S, i)\n"
          "  --patch TxHxW       spacetime patch (2x4x4)\n"
          "  --text-length L     caption tokens stored per clip (32)\n"
          "  --objects A-B       objects per clip, drawn uniformly from A..B within 1..3 (1-3)\n"
          "  --fps F             frame rate recorded in meta/fps (8)\n"
          "  --caption-variety P share of short captions said in other words (0: canonical only)\n"
          "  --buckets TxHxW[:N],...  several shape buckets in one corpus, N clips each (default --clips),\n"
          "                      instead of --frames/--size (e.g. 8x16x32:600,8x32x16:600,16x16x32:300)\n"
          "Threads: OMP_NUM_THREADS.\n");
}

int data_cmd_synth(int argc, char **argv) {
  SynthOptions o;
  synth_options_default(&o);
  TsrErr err;
  int first = argc > 0 && strncmp(argv[0], "--", 2) != 0 ? 1 : 0;  // argv[0] is "synth"
  // Pass 1: --help and --recipe (the recipe first, so flags override it wherever they stand).
  for (int i = first; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "--recipe")) {
      if (i + 1 >= argc) app_user_error("data synth: --recipe: expected a file name after it");
      APP_TRY(synth_recipe_load(&o, argv[++i], &err), &err);
    } else if (!strncmp(argv[i], "--recipe=", 9)) {
      APP_TRY(synth_recipe_load(&o, argv[i] + 9, &err), &err);
    }
  }
  // Pass 2: flags, "--key value" or "--key=value".
  for (int i = first; i < argc; i++) {
    const char *a = argv[i], *v;
    char key[64], where[96];
    if (strncmp(a, "--", 2) || !a[2])
      app_user_error("data synth: unexpected argument '%s' (see tessera data synth --help)", a);
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (len >= sizeof key) app_user_error("data synth: unknown option '%s' (see tessera data synth --help)", a);
    memcpy(key, a + 2, len);
    key[len] = 0;
    if (eq)
      v = eq + 1;
    else {
      if (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2))
        app_user_error("data synth: --%s: expected a value after it", key);
      v = argv[++i];
    }
    if (!strcmp(key, "recipe")) continue;
    snprintf(where, sizeof where, "data synth: --%s", key);
    int set = strchr(key, '_') ? 0 : synth_option_set(&o, key, v, where, &err);
    if (set < 0) app_fail(&err);
    if (set == 0) app_user_error("data synth: unknown option '--%s' (see tessera data synth --help)", key);
  }
  if (!o.out[0]) app_user_error("data synth: --out FILE is required (the corpus.h5 to write)");
  for (int b = 0; b < synth_bucket_count(&o); b++) {
    int T, H, W;
    long n;
    synth_bucket(&o, b, &T, &H, &W, &n);
    char what[128];
    if (o.nbuckets)
      snprintf(what, sizeof what, "--buckets %dx%dx%d", T, H, W);
    if (T % o.pt && T != 1)  // 1: images (a still temporal patch each; docs/choices.md "Images")
      app_user_error("data synth: %s %d: expected a multiple of the patch's t size %d (%s %dx%dx%d)",
                     o.nbuckets ? what : o.from_frames, T, o.pt, o.from_patch, o.pt, o.ph, o.pw);
    if (H % o.ph || W % o.pw)
      app_user_error("data synth: %s %dx%d: expected multiples of the patch's h and w sizes %dx%d (%s %dx%dx%d)",
                     o.nbuckets ? what : o.from_size, H, W, o.ph, o.pw, o.from_patch, o.pt, o.ph, o.pw);
  }
  APP_TRY(corpus_writer_check_path(o.out, &err), &err);  // before the work: a directory or a missing one fails now

  double t0 = timer_now(), render_s = 0;
  APP_TRY(synth_write_corpus(&o, &render_s, &err), &err);
  double total = timer_now() - t0;
  long clips = 0;
  char shapes[SYNTH_MAX_BUCKETS * 32] = "";
  for (int b = 0; b < synth_bucket_count(&o); b++) {
    int T, H, W;
    long n;
    synth_bucket(&o, b, &T, &H, &W, &n);
    clips += n;
    size_t l = strlen(shapes);
    if (o.nbuckets)
      snprintf(shapes + l, sizeof shapes - l, "%s%ld of %dx%dx%d", b ? ", " : "", n, T, H, W);
    else
      snprintf(shapes + l, sizeof shapes - l, "%dx%dx%d", T, H, W);
  }
  log_info("data synth: %ld clips %s (%d-%d objects, seed %" PRIu64
           ") -> %s in %.2f s: %.0f clips/s "
           "(render %.2f s, %.0f clips/s)",
           clips, shapes, o.min_objects, o.max_objects, o.seed, o.out, total,
           (double)clips / (total > 0 ? total : 1e-9), render_s, (double)clips / (render_s > 0 ? render_s : 1e-9));
  return 0;
}
