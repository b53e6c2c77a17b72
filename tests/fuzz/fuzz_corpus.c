// The corpus reader: the input is a corpus.h5; it is opened and, for the
// first buckets, the first clips' patches, tokens and captions are read.
// Errors are returned (data/corpus.h); after each input nothing may be left
// open in HDF5 (a failed open or read releases what it opened).
#define FUZZ_RETURNED_ERRORS
#include "data/corpus.h"
#include "fuzz.h"

static float *patches;
static int32_t *tokens;

static void read_some(const Corpus *corpus) {
  TsrErr err;
  for (int b = 0; b < corpus->nbuckets && b < 4; b++) {
    const CorpusBucket *bk = &corpus->buckets[b];
    int n = bk->N < 64 ? bk->N : 64;
    if (n <= 0 || (double)n * bk->P > (1 << 22) || corpus->text_length > (1 << 16)) continue;  // the harness's bound
    patches = realloc(patches, (size_t)n * (size_t)bk->P * sizeof *patches);
    tokens = realloc(tokens, (size_t)(corpus->text_length + 1) * sizeof *tokens);
    for (int clip = 0; clip < bk->count && clip < 2; clip++) {
      if (corpus_read_patches(corpus, bk, clip, 0, n, patches, &err)) continue;
      int32_t ntok;
      for (int which = 0; which < 2; which++) {
        if (corpus_read_tokens(corpus, bk, clip, which, tokens, &ntok, &err)) continue;
        free(corpus_read_caption(corpus, bk, clip, which, &err));
      }
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) fuzz_h5_quiet(), init = 1;
  const char *path = fuzz_file("corpus", data, size);
  Corpus corpus;
  TsrErr err;
  if (corpus_open(&corpus, path, &err) == 0) read_some(&corpus);
  corpus_close(&corpus);
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) {
    fprintf(stderr, "fuzz: %zd HDF5 objects left open (%s)\n", H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), err.msg);
    abort();
  }
  return 0;
}
