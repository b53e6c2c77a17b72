// bin/tessera: git-style subcommands. Each subcommand lives with its layer
// (train/, infer/, data/); this file only dispatches.
#include <stdio.h>
#include <string.h>

#include "app/app_error.h"
#include "comm/comm.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fpenv.h"
#include "app/commands.h"

int cmd_train(int argc, char **argv);  // src/train/cmd_train.c
int cmd_bench(int argc, char **argv);  // src/train/cmd_bench.c
int cmd_generate(int argc, char **argv);  // src/infer/cmd_generate.c
int cmd_eval(int argc, char **argv);  // app/cmd_eval.c
int cmd_render(int argc, char **argv);  // src/infer/cmd_render.c

static int cmd_config(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help")) {
    printf("usage: tessera config CONFIG [key=value...]\n"
           "Loads and validates CONFIG with the overrides, prints the effective config.\n");
    return argc < 2 ? 2 : 0;
  }
  Config c;
  TsrErr err;
  if (config_load(&c, argv[1], argc - 2, argv + 2, &err)) app_fail(&err);
  config_print(&c);
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera <command> [args]\n"
          "  train CONFIG [key=value...]   train a model (configs/train/*.yaml)\n"
          "  generate --ckpt F --prompt P --out F.mp4 [...]  make a video (see generate --help)\n"
          "  eval --ckpt F [--suite F --out DIR]  generate a prompt suite and score it (see eval --help)\n"
          "  render PROMPTS --ckpt F --out DIR [--shard K/N]  render a prompt list, resumable (see render --help)\n"
          "  config CONFIG [key=value...]  validate a config and print it\n"
          "  data synth|ingest|recaption|inspect ...  build and look at corpus.h5 files\n"
          "  bench step --config F         time one train step and one denoise step (JSON)\n"
          "  vae train|eval|encode|decode ...  the causal 3D video autoencoder (see vae --help)\n"
          "  text encode --prompt P        the prompt's word pieces and pretrained text encoding\n"
          "  safety check PROMPTS          score a prompt list against the safety policy, without rendering\n"
          "  verify FILE.mp4 [--json]      check a video's C2PA manifest, signature and invisible watermark\n"
          "  keys init DIR                 a development signing key and certificate (for testing only)\n"
          "Run `tessera <command> --help` for a command's options.\n");
}

static int dispatch(int argc, char **argv) {
  if (argc < 2) { usage(stderr); return 2; }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
  if (!strcmp(cmd, "config")) return cmd_config(argc - 1, argv + 1);
  if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
  if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
  if (!strcmp(cmd, "data")) return cmd_data(argc - 1, argv + 1);
  if (!strcmp(cmd, "generate")) return cmd_generate(argc - 1, argv + 1);
  if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
  if (!strcmp(cmd, "render")) return cmd_render(argc - 1, argv + 1);
  if (!strcmp(cmd, "safety")) { int cmd_safety(int, char **); return cmd_safety(argc - 1, argv + 1); }  // src/app/cmd_safety.c
  if (!strcmp(cmd, "verify")) { int cmd_verify(int, char **); return cmd_verify(argc - 1, argv + 1); }  // src/app/cmd_verify.c
  if (!strcmp(cmd, "keys")) { int cmd_keys(int, char **); return cmd_keys(argc - 1, argv + 1); }  // src/app/cmd_keys.c
  if (!strcmp(cmd, "vae")) { int cmd_vae(int, char **); return cmd_vae(argc - 1, argv + 1); }  // src/app/cmd_vae.c
  if (!strcmp(cmd, "text")) { int cmd_text(int, char **); return cmd_text(argc - 1, argv + 1); }  // src/text/cmd_text.c
  app_user_error("unknown command '%s' (expected train, generate, eval, render, data, config, bench, text, safety, "
                 "verify or keys; see tessera --help)", cmd);
}

// Every command runs as an MPI process (a singleton without mpirun): the
// layers that shard work split the world with comm_layout.
int main(int argc, char **argv) {
  fpenv_flush_denormals_all_threads();  // before MPI, HDF5 or oneDNN start threads: they inherit it
  comm_init(&argc, &argv);
  int rc = dispatch(argc, argv);
  comm_finalize();
  return rc;
}
