// The C2PA reader behind `tessera verify` (media/c2pa.h): the input is an MP4
// file a user hands in; a bad file is a returned error or a report with its
// problem, never a crash or an exit.
#include "fuzz.h"
#include "media/c2pa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("c2pa", data, size);
  C2paReport rep;
  TsrErr err;
  if (c2pa_verify_mp4(path, &rep, &err) == 0) c2pa_report_free(&rep);
  return 0;
}
