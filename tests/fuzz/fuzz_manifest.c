// The render manifest reader: the input is one writer's manifest file
// (JSON Lines) in an otherwise empty directory; manifest_load folds it.
#include <sys/stat.h>

#include "fuzz.h"
#include "infer/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char dir[256], path[512];
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "%s/tessera-fuzz-manifest-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/manifest-shard0of1-rank0.jsonl", dir);
  }
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f)) abort();
  ManifestState st = {0};
  manifest_load(dir, 0, &st);  // bad lines are ignored and counted, never an exit
  manifest_state_free(&st);
  return 0;
}
