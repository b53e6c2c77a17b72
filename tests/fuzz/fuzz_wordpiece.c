// The WordPiece tokenizer (src/text/wordpiece.h) on any bytes: the input is
// the text (after a first byte that picks the window, 2 to 257 ids), with a
// small vocabulary written once. Invalid UTF-8 must be an error, never a crash.
#include "fuzz.h"
#include "text/wordpiece.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static WordPiece wp;
  static int loaded;
  if (!loaded) {
    static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nab\n##b\n##c\n,\n\xc3\xa9\n##\xe6\x9d\xb1\n\xe6\x9d\xb1\n";
    const char *path = fuzz_file("wordpiece-vocab", (const uint8_t *)vocab, sizeof vocab - 1);
    TsrErr err;
    if (wordpiece_load(&wp, path, &err)) {
      fprintf(stderr, "%s\n", err.msg);
      abort();
    }
    loaded = 1;
  }
  if (size < 1) return 0;
  int L = 2 + data[0];
  int32_t ids[258];
  WpResult r;
  TsrErr err;
  if (!wordpiece_encode(&wp, (const char *)data + 1, size - 1, "fuzz", ids, L, &r, &err)) {
    if (r.n < 2 || r.n > L || ids[0] != wp.cls || ids[r.n - 1] != wp.sep) abort();
    for (int i = 0; i < r.n; i++)
      if (ids[i] < 0 || ids[i] >= wp.size) abort();
  }
  return 0;
}
