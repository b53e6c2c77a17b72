// `tessera train CONFIG [key=value...]`
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "train/trainer.h"

int cmd_train(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    printf("usage: tessera train CONFIG [key=value...]\n"
           "Trains the model of CONFIG (e.g. configs/train/tiny.yaml). Overrides such as\n"
           "train.steps=100 train.lr=1e-3 train.batch=8 replace values of the file.\n"
           "Each log line holds `step <n>` and `loss <x>`, with grad norm, lr, tokens/s, MFU, ETA.\n");
    return argc < 2 ? 2 : 0;
  }
  Config cfg;
  config_load(&cfg, argv[1], argc - 2, argv + 2);
  log_info("effective config:");
  config_print(&cfg);
  train_run(&cfg);
  return 0;
}
