// corpus.h5: a recaptioned patch dataset (DESIGN.md "Formats"), one group per
// shape bucket. This is the only code that knows the file layout (user
// documentation: datasets/README.md).
//
//   attrs /: format = "tessera-corpus" (fixed-length string), version = 2
//   /buckets/<T>x<H>x<W>/                attrs: frames T, height H, width W, count n
//       patches          uint8 [n, N, P]   one clip per chunk; value v -> v/127.5 - 1
//       caption/         strings [n]       the original short caption
//       recaption/       strings [n]       the descriptive caption
//       tokens           int32 [n, L]      recaption tokens (BOS first, 0-padded)
//       ntokens          int32 [n]
//       caption_tokens   int32 [n, L]      short-caption tokens
//       caption_ntokens  int32 [n]
//       meta/source/     strings [n]       source file or "synth"
//       meta/fps         float32 [n]
//       meta/...         further per-clip facts (synthetic ground truth), float32 [n, ...]
//   /tokenizer/vocab/    strings [V]       ids 0 <pad>, 1 <bos>, 2 <unk>, 3 <eos>, then words
//   /tokenizer attrs: patch [3] (pt,ph,pw), channels, text_length L, value_range [2] (-1, 1)
//
// A latent corpus (`tessera data encode`, docs/vae.md "Latent corpora") is the
// same layout with buckets named by the latent grid T'xH'xW', `channels` the
// latent channels Z and
//       patches          float16 [n, N, P]  the VAE's posterior mean, not normalised
//   attrs /: vae_sha256 (fixed string, the checkpoint's SHA-256, 64 hex),
//            vae_compression int64 [3] (ct, cs, cs), latent_mean, latent_std
//            float32 [Z] (per channel over every latent value of the corpus)
// The reader returns its patches normalised, (z - latent_mean[c]) / latent_std[c].
//
// A string column ("strings [n]") is a group of two datasets: `bytes` uint8 [B]
// (the UTF-8 texts one after another, no terminators) and `offsets` uint64
// [n+1] (entry i is bytes [offsets[i], offsets[i+1])). Version 1 stored
// variable-length strings, whose reads follow pointers into HDF5's global heap:
// libhdf5 crashes on corrupt ones, so version 2 has no variable-length data.
// Every dataset is chunked with HDF5's fletcher32 checksum (patches: one
// chunk per clip), verified by HDF5 on every read; the file uses the HDF5
// 1.10 format, whose metadata (object headers, chunk indexes) is checksummed too.
//
// Token order (t,h,w) and patch vector (pt,ph,pw,C) as in DESIGN.md, so a
// token slice [n0, n0+n) of a clip is a contiguous hyperslab of `patches`.
#pragma once
#include <hdf5.h>
#include <stdint.h>

#include "core/error.h"

// A bucket of T = 1 holds images (docs/choices.md "Images"): with a temporal
// patch pt > 1 each is stored as one still temporal patch (the frame pt
// times), so its grid has t = 1 and its patch vectors are P long as any.
static inline int corpus_grid_t(int T, int pt) { return T == 1 ? 1 : T / pt; }

#define CORPUS_FORMAT "tessera-corpus"
#define CORPUS_VERSION 2

// Limits on what a corpus may declare (checked at open, before any allocation).
#define CORPUS_MAX_DIM 65536                     // T, H, W of a bucket
#define CORPUS_MAX_CLIP_BYTES ((int64_t)1 << 30)  // N * P of one clip
#define CORPUS_MAX_BUCKETS 65536
#define CORPUS_MAX_STRING ((int64_t)1 << 20)      // bytes of one caption / vocabulary entry
#define CORPUS_MAX_VOCAB (1 << 24)
#define CORPUS_MAX_META_WIDTH 65536

// One clip to write: pixels uint8 [T,H,W,C] (patchified by the writer); a
// latent corpus's clips come through corpus_writer_add_latent (pixels unused).
typedef struct {
  const uint8_t *pixels;
  const char *caption;    // short caption (UTF-8)
  const char *recaption;  // descriptive caption (UTF-8)
  const char *source;     // source file name or "synth"
  float fps;
} CorpusClip;

// Writer: clips are added bucket by bucket (any order); captions are kept in
// memory and the tokenizer is built from all of them at close, then tokens
// are written. The file is written as PATH.tmp and renamed at close. Any
// failure (a full disk) returns -1 with one line in err, the file closed and
// the .tmp removed; after a failed add the caller gives the writer back with
// corpus_writer_abort (which also removes the .tmp of a writer it stops).
typedef struct CorpusWriter CorpusWriter;
// Checks that a corpus can be written at path (not a directory or other
// non-file, its directory exists and is writable): commands call it before
// their work; corpus_writer_open calls it too.
int corpus_writer_check_path(const char *path, TsrErr *err);
CorpusWriter *corpus_writer_open(const char *path, int pt, int ph, int pw, int channels, int text_length, TsrErr *err);
// Optional, before the first add: vocabulary size cap, specials included
// (default 4096), and the deflate level of `patches` (0 off .. 9; default 1).
void corpus_writer_set_vocab(CorpusWriter *w, int max_vocab);
void corpus_writer_set_deflate(CorpusWriter *w, int level);
// Optional, before the first add: the vocabulary to keep (words[0..V-1],
// specials first; copied) instead of one built from the captions at close.
void corpus_writer_set_vocab_words(CorpusWriter *w, char *const *words, int V);
// A latent corpus: before the first add (patches become float16, clips come
// through corpus_writer_add_latent); the statistics any time before close (copied, [channels]).
void corpus_writer_set_latent(CorpusWriter *w, const char *vae_sha256, int ct, int cs);
void corpus_writer_set_latent_stats(CorpusWriter *w, const float *mean, const float *std);
int corpus_writer_add(CorpusWriter *w, int T, int H, int W, const CorpusClip *clip, TsrErr *err);
// A latent corpus's clip: latent float [T,H,W,Z] of the latent grid T x H x W (stored as float16).
int corpus_writer_add_latent(CorpusWriter *w, int T, int H, int W, const CorpusClip *clip, const float *latent,
                             TsrErr *err);
// Per-clip ground-truth rows for meta/<name> (float32, `width` values per clip),
// appended in clip order of bucket TxHxW. Optional; kept in memory (cannot fail).
void corpus_writer_meta(CorpusWriter *w, int T, int H, int W, const char *name, const float *values, int width);
// Builds the tokenizer, writes tokens, renames; frees w whatever the outcome.
int corpus_writer_close(CorpusWriter *w, TsrErr *err);
// Gives up: the .tmp removed, w freed (NULL: nothing).
void corpus_writer_abort(CorpusWriter *w);

// Reader (read-only; validated at open: format, version, shapes, dtypes,
// checksum filters, sizes against the limits above and the stored extents).
// Every function that reads the file returns 0, or -1 with one line in err
// naming the file and the item (a checksum mismatch when a clip is read
// names the file, bucket and clip); a failed corpus_open leaves nothing open.
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
  // a latent corpus (latent = 1): the attributes above; mean/std [channels]
  int latent, ct, cs;
  char vae_sha256[65];
  float *latent_mean, *latent_std;
  struct CorpusHandles *priv;  // open dataset handles and scratch (corpus_read.c)
} Corpus;

int corpus_open(Corpus *c, const char *path, TsrErr *err);
void corpus_close(Corpus *c);  // also on a Corpus that failed to open or was zeroed
const CorpusBucket *corpus_bucket(const Corpus *c, int T, int H, int W);  // NULL if absent
// Patches of clip i, tokens [n0, n0+n), as floats in [-1,1]: out [n, P]. For a
// latent corpus the normalised latents (above); a value that is not finite
// is an error naming the clip.
int corpus_read_patches(const Corpus *c, const CorpusBucket *b, int clip, int n0, int n, float *out, TsrErr *err);
// Tokens of clip i: which = 0 short caption, 1 recaption. tokens [L].
int corpus_read_tokens(const Corpus *c, const CorpusBucket *b, int clip, int which, int32_t *tokens, int32_t *ntokens,
                       TsrErr *err);
// A string of clip i: which = 0 short caption, 1 recaption, 2 meta/source ("" when
// the corpus has none); caller frees with free(). NULL on error.
enum { CORPUS_CAPTION = 0, CORPUS_RECAPTION = 1, CORPUS_SOURCE = 2 };
char *corpus_read_caption(const Corpus *c, const CorpusBucket *b, int clip, int which, TsrErr *err);
// The numeric meta/ columns of a bucket (meta/fps included): how many, the
// name and width (values per clip) of column k, and all its rows as floats
// (out [count * width]).
int corpus_meta_count(const Corpus *c, const CorpusBucket *b);
const char *corpus_meta_name(const Corpus *c, const CorpusBucket *b, int k, int *width);
int corpus_read_meta(const Corpus *c, const CorpusBucket *b, int k, float *out, TsrErr *err);
