// The corpus reader: the input is a corpus.h5; it is opened and, for the
// first buckets, the first clips' patches, tokens and captions are read.
#include "data/corpus.h"
#include "fuzz.h"

static Corpus corpus;
static int opened;
static float *patches;
static int32_t *tokens;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) fuzz_h5_quiet(), init = 1;
  const char *path = fuzz_file("corpus", data, size);
  opened = 0;
  if (!setjmp(fuzz_jmp)) {
    corpus_open(&corpus, path);
    opened = 1;
    for (int b = 0; b < corpus.nbuckets && b < 4; b++) {
      const CorpusBucket *bk = &corpus.buckets[b];
      int n = bk->N < 64 ? bk->N : 64;
      if (n <= 0 || (double)n * bk->P > (1 << 22) || corpus.text_length > (1 << 16)) continue;  // the harness's bound
      patches = realloc(patches, (size_t)n * (size_t)bk->P * sizeof *patches);
      tokens = realloc(tokens, (size_t)(corpus.text_length + 1) * sizeof *tokens);
      for (int clip = 0; clip < bk->count && clip < 2; clip++) {
        corpus_read_patches(&corpus, bk, clip, 0, n, patches);
        int32_t ntok;
        for (int which = 0; which < 2; which++) {
          corpus_read_tokens(&corpus, bk, clip, which, tokens, &ntok);
          free(corpus_read_caption(&corpus, bk, clip, which));
        }
      }
    }
  }
  if (opened) corpus_close(&corpus);  // after a user error inside corpus_open, its handles are closed below
  fuzz_h5_close_all();
  return 0;
}
