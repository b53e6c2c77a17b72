// The render prompt-list reader: the first byte picks the form ('y': YAML,
// else JSON Lines, as the file's extension does), the rest is the file.
#include "fuzz.h"
#include "infer/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char jsonl[256], yaml[256];
  if (!jsonl[0]) {
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(jsonl, sizeof jsonl, "%s/tessera-fuzz-prompts-%d.jsonl", tmp, (int)getpid());
    snprintf(yaml, sizeof yaml, "%s/tessera-fuzz-prompts-%d.yaml", tmp, (int)getpid());
  }
  if (size < 1) return 0;
  const char *path = data[0] == 'y' ? yaml : jsonl;
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data + 1, 1, size - 1, f) != size - 1 || fclose(f)) abort();
  PromptList pl = {0};
  TsrErr err;  // a bad list is a returned error; a failed list is freed by the reader
  if (prompt_list_read(path, &pl, &err) == 0) prompt_list_free(&pl);
  return 0;
}
