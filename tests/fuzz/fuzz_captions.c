// The caption JSONL sidecar of `data ingest --captions` (captions_load,
// data/captions.h): every input is read or refused with a returned error.
#define FUZZ_RETURNED_ERRORS
#include "data/captions.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("captions", data, size);
  Captions cs;
  TsrErr err;
  if (captions_load(path, &cs, &err) == 0) {
    for (int k = 0; k < cs.n; k++)  // what was read is usable: a path and a caption
      if (!cs.v[k].path[0] || !captions_find(&cs, cs.v[k].path)) abort();
    captions_free(&cs);
  } else if (!err.msg[0] || strchr(err.msg, '\n') || cs.n != 0) {
    abort();  // one line, and nothing kept
  }
  return 0;
}
