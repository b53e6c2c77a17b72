// The caption JSONL sidecar of `data ingest --captions` (load_captions, a
// static function of ingest.c: the file is included here, and the archive's
// ingest.o is then not linked).
#include "../../src/data/ingest.c"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("captions", data, size);
  Captions cs = {0};
  if (!setjmp(fuzz_jmp)) {
    load_captions(path, &cs);
    for (int k = 0; k < cs.n; k++) free(cs.v[k].path), free(cs.v[k].caption);
    free(cs.v);
  }
  return 0;
}
