// corpus.h5: a recaptioned patch dataset (DESIGN.md "Formats"), one group per
// shape bucket. This is the only code that knows the file layout.
//
//   attrs /: format = "tessera-corpus", version = 1
//   /buckets/<T>x<H>x<W>/                attrs: frames T, height H, width W, count n
//       patches          uint8 [n, N, P]   chunked one clip per chunk; value v -> v/127.5 - 1
//       caption          utf-8 vlen [n]    the original short caption
//       recaption        utf-8 vlen [n]    the descriptive caption
//       tokens           int32 [n, L]      recaption tokens (BOS first, 0-padded)
//       ntokens          int32 [n]
//       caption_tokens   int32 [n, L]      short-caption tokens
//       caption_ntokens  int32 [n]
//       meta/source      utf-8 vlen [n]    source file or "synth"
//       meta/fps         float32 [n]
//       meta/...         further per-clip facts (synthetic ground truth), [n, ...]
//   /tokenizer/vocab     utf-8 vlen [V]    ids 0 <pad>, 1 <bos>, 2 <unk>, 3 <eos>, then words
//   /tokenizer attrs: patch [3] (pt,ph,pw), channels, text_length L, value_range [2] (-1, 1)
//
// Token order (t,h,w) and patch vector (pt,ph,pw,C) as in DESIGN.md, so a
// token slice [n0, n0+n) of a clip is a contiguous hyperslab of `patches`.
#pragma once
#include <hdf5.h>
#include <stdint.h>

#define CORPUS_FORMAT "tessera-corpus"
#define CORPUS_VERSION 1

// One clip to write: pixels uint8 [T,H,W,C] (patchified by the writer).
typedef struct {
  const uint8_t *pixels;
  const char *caption;    // short caption (UTF-8)
  const char *recaption;  // descriptive caption (UTF-8)
  const char *source;     // source file name or "synth"
  float fps;
} CorpusClip;

// Writer: clips are added bucket by bucket (any order); captions are kept in
// memory and the tokenizer is built from all of them at close, then tokens
// are written. The file is written as PATH.tmp and renamed at close.
typedef struct CorpusWriter CorpusWriter;
CorpusWriter *corpus_writer_open(const char *path, int pt, int ph, int pw, int channels, int text_length);
// Optional, before the first add: vocabulary size cap, specials included
// (default 4096), and the deflate level of `patches` (0 off .. 9; default 1).
void corpus_writer_set_vocab(CorpusWriter *w, int max_vocab);
void corpus_writer_set_deflate(CorpusWriter *w, int level);
void corpus_writer_add(CorpusWriter *w, int T, int H, int W, const CorpusClip *clip);
// Per-clip ground-truth rows for meta/<name> (float32, `width` values per clip),
// appended in clip order of bucket TxHxW. Optional.
void corpus_writer_meta(CorpusWriter *w, int T, int H, int W, const char *name, const float *values, int width);
void corpus_writer_close(CorpusWriter *w);  // builds the tokenizer, writes tokens, renames

// Reader (read-only; validated at open: format, version, shapes, dtypes —
// any problem is a one-line user error naming the file and the item).
// Not thread-safe: this HDF5 build has no thread-safety, so while one thread
// uses a Corpus no other thread may call HDF5 at all (any file).
typedef struct {
  char name[32];          // "16x32x32"
  int T, H, W, count;
  int N, P;               // tokens per clip, patch vector length
} CorpusBucket;

typedef struct {
  char path[256];
  hid_t file;
  int pt, ph, pw, channels, text_length;
  int nbuckets;
  CorpusBucket *buckets;
  int vocab_size;
  char **vocab;           // [vocab_size]
  struct CorpusHandles *priv;  // open dataset handles and scratch (corpus.c)
} Corpus;

void corpus_open(Corpus *c, const char *path);
void corpus_close(Corpus *c);
const CorpusBucket *corpus_bucket(const Corpus *c, int T, int H, int W);  // NULL if absent
// Patches of clip i, tokens [n0, n0+n), as floats in [-1,1]: out [n, P].
void corpus_read_patches(const Corpus *c, const CorpusBucket *b, int clip, int n0, int n, float *out);
// Tokens of clip i: which = 0 short caption, 1 recaption. tokens [L].
void corpus_read_tokens(const Corpus *c, const CorpusBucket *b, int clip, int which, int32_t *tokens, int32_t *ntokens);
// A caption string (which = 0 short, 1 recaption); caller frees with free().
char *corpus_read_caption(const Corpus *c, const CorpusBucket *b, int clip, int which);
