// The safetensors reader (src/text/safetensors.h): the input is the file.
// st_open checks the layout; every float tensor it accepts is then read at
// its own shape (bounded, so a huge but consistent header is not a finding).
#include "fuzz.h"
#include "text/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("safetensors", data, size);
  SafeTensors st;
  TsrErr err;
  if (st_open(&st, path, &err)) return 0;
  for (int i = 0; i < st.n; i++) {
    const StTensor *t = &st.t[i];
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    if (n > (1u << 20)) continue;
    float *out = malloc(n * sizeof(float) + 1);
    st_read_f32(&st, t->name, t->ndim, t->shape, out, &err);
    free(out);
  }
  st_close(&st);
  return 0;
}
