// `tessera data <sub> ...`: dispatches to the data subcommands (commands.h).
// Each data_cmd_* gets argv[0] = the subcommand name ("synth", ...), its
// options after it, and returns the exit code.
#include <stdio.h>
#include <string.h>

#include "app/app_error.h"
#include "app/commands.h"
#include "core/error.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera data <command> [args]\n"
          "Build and look at corpus.h5 files (recaptioned spacetime-patch corpora; format in datasets/README.md).\n"
          "  synth --out F --clips N --frames T --size HxW --seed S\n"
          "        procedural shapes world with ground truth in meta/\n"
          "  ingest --videos DIR [--captions F.jsonl] --out F --frames T --size HxW\n"
          "        real videos (anything FFmpeg decodes) cut into clips, captions from the JSONL sidecar\n"
          "  recaption F\n"
          "        rewrite the descriptive captions of F from measured attributes of its pixels\n"
          "  inspect F [--sheet OUT.png] [--clips K] [--frames F] [--no-sheet]\n"
          "        buckets, caption statistics, samples, and a PNG contact sheet\n"
          "  encode --vae VAE.h5 IN.h5 --out OUT.h5 [--patch TxHxW]\n"
          "        a pixel corpus encoded through a VAE checkpoint into a latent corpus\n"
          "Run `tessera data <command> --help` for a command's options.\n");
}

int cmd_data(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *sub = argv[1];
  if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(sub, "synth")) return data_cmd_synth(argc - 1, argv + 1);
  if (!strcmp(sub, "ingest")) return data_cmd_ingest(argc - 1, argv + 1);
  if (!strcmp(sub, "recaption")) return data_cmd_recaption(argc - 1, argv + 1);
  if (!strcmp(sub, "inspect")) return data_cmd_inspect(argc - 1, argv + 1);
  if (!strcmp(sub, "encode")) return data_cmd_encode(argc - 1, argv + 1);
  app_user_error("unknown data command '%s' (expected synth, ingest, recaption, inspect or encode; see tessera data --help)", sub);
}
