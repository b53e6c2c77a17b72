// `tessera train CONFIG [key=value...]`
#include <stdio.h>
#include <string.h>

#include "comm/comm.h"
#include "core/config.h"
#include "app/app_error.h"
#include "core/error.h"
#include "core/log.h"
#include "train/trainer.h"

int cmd_train(int argc, char **argv) {
  TrainOptions opt = {0};
  if (argc >= 2 && !strcmp(argv[1], "--overwrite")) opt.overwrite = 1, argc--, argv++;
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    printf("usage: tessera train [--overwrite] CONFIG [key=value...]\n"
           "Trains the model of CONFIG (e.g. configs/train/tiny.yaml). Overrides such as\n"
           "train.steps=100 train.lr=1e-3 train.batch=8 replace values of the file.\n"
           "Each log line holds `step <n>` and `loss <x>`, with grad norm, lr, tokens/s, MFU, ETA.\n"
           "On several ranks: mpirun -n R tessera train CONFIG parallel.dp=D parallel.sp=S parallel.tp=T\n"
           "with D*S*T = R; train.batch is the global batch (docs/parallel_train.md).\n"
           "train.out belongs to one run: a fresh run refuses a directory holding another run's\n"
           "checkpoints or metrics; train.resume=auto continues that run, --overwrite deletes them.\n");
    return argc < 2 ? 2 : 0;
  }
  Config cfg;
  TsrErr cerr;
  if (config_load(&cfg, argv[1], argc - 2, argv + 2, &cerr)) app_fail(&cerr);  // alike on every rank
  // run.device and run.precision are checked when the trainer opens the
  // backend (a GPU per rank; bf16 on a CPU only with AVX512-BF16). The layout (parallel.dp x sp x tp = the mpirun world size) is checked by
  // the trainer's comm_layout, collectively.
  log_info("effective config:");
  if (comm_world_rank() == 0) config_print(&cfg);
  TsrErr err = {0};
  if (train_run(&cfg, &opt, NULL, &err) != 0) app_check(err.code != 0, &err);
  return 0;
}
