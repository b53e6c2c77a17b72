// Run directories (docs/checkpoint.md "Run directories"): train.out belongs to
// one run, named by a random run id that every checkpoint (attribute run_id)
// and every metrics.jsonl line ("run") carries. Rank 0 calls these.
#pragma once
#include "core/error.h"
#include <stddef.h>

// mkdir -p, check that files can be created there, remove the temporaries
// (ckpt_*.h5.tmp) a killed write left; a problem is a one-line user error.
int run_dir_prepare(const char *dir, TsrErr *err);
// A new run id: 16 random hex digits.
void run_id_new(char *out, size_t n);
// Once resume has decided which run this is (run_id), the directory must hold
// no checkpoint and no metrics of another run: a one-line user error (exit 2)
// otherwise, unless `overwrite`, which deletes them. A run started by
// train.resume=auto in a directory without checkpoints replaces a
// metrics.jsonl left there (that run cannot be continued), with a warning.
int run_dir_claim(const char *dir, const char *run_id, int resumed, int auto_start, int overwrite, TsrErr *err);
