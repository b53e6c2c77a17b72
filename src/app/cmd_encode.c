// `tessera data encode --vae VAE.h5 IN.h5 --out OUT.h5 [--patch 1x2x2]`: a
// pixel corpus -> a latent corpus (latent/latent_encode.h, docs/vae.md
// "Latent corpora"). Under mpirun every rank encodes its share of the clips
// and rank 0 writes the file.
#include <stdio.h>
#include <string.h>

#include "app/app_error.h"
#include "app/commands.h"
#include "app/flags.h"
#include "comm/comm.h"
#include "core/log.h"
#include "core/parse.h"
#include "core/timer.h"
#include "latent/latent_encode.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera data encode --vae VAE.h5 IN.h5 --out OUT.h5 [--patch TxHxW] [--per-rank K]\n"
          "Encodes every clip of the pixel corpus IN through the VAE checkpoint (its posterior mean) into\n"
          "a latent corpus OUT: the same format, buckets named by the latent grid, float16 latent patches,\n"
          "the per-channel latent mean/std and the VAE's SHA-256 as attributes; captions, recaptions,\n"
          "tokens and meta/ carried over (docs/vae.md \"Latent corpora\"). Every bucket must fit the\n"
          "VAE's compression: T = 1 + k*ct frames, H and W multiples of cs.\n"
          "  --patch TxHxW   the DiT's patch over the latent grid (default 1x2x2)\n"
          "  --per-rank K    clips each rank encodes between exchanges (default 4)\n"
          "Under mpirun each rank encodes its share; the file equals the one-rank file.\n");
}

int data_cmd_encode(int argc, char **argv) {
  LatentEncodeOptions o = {0};
  TsrErr err = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strncmp(a, "--", 2)) {
      if (strcmp(a, "--vae") && strcmp(a, "--out") && strcmp(a, "--patch") && strcmp(a, "--per-rank"))
        app_user_error("data encode: unknown option '%s' (see tessera data encode --help)", a);
      if (i + 1 >= argc || !argv[i + 1][0]) app_user_error("data encode: %s: expected a value after it", a);
      const char *v = argv[++i];
      if (!strcmp(a, "--vae")) o.vae = v;
      else if (!strcmp(a, "--out")) o.out = v;
      else if (!strcmp(a, "--per-rank")) o.per_rank = parse_flag_int("data encode", a, v, 1, 4096);
      else {
        int d[3];
        if (parse_dims(v, 3, d) || d[0] < 1 || d[1] < 1 || d[2] < 1 || d[0] > 64 || d[1] > 64 || d[2] > 64)
          app_user_error("data encode: --patch: expected TxHxW with sizes in [1, 64] (e.g. 1x2x2), got '%s'", v);
        o.pt = d[0], o.ph = d[1], o.pw = d[2];
      }
    } else if (o.in) {
      app_user_error("data encode: unexpected argument '%s' (one corpus at a time)", a);
    } else {
      o.in = a;
    }
  }
  if (!o.in || !o.vae || !o.out) {
    usage(stderr);
    return 2;
  }
  const double t0 = timer_now();
  CommContext cc;
  comm_layout(&cc, comm_world_size(), 1, 1, "data encode");
  LatentEncodeReport rep;
  if (latent_encode_corpus(&o, &cc.world, &rep, &err)) app_check(err.code != 0, &err);
  log_info("encoded %lld clip%s in %d bucket%s through %s -> %s (%d latent channels, %d rank%s, %.2f s)",
           (long long)rep.clips, rep.clips == 1 ? "" : "s", rep.buckets, rep.buckets == 1 ? "" : "s", o.vae, o.out, rep.Z,
           cc.world_size, cc.world_size == 1 ? "" : "s", timer_now() - t0);
  comm_free(&cc);
  return 0;
}
