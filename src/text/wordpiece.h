// WordPiece (BERT): the basic tokenizer's words (basic_tok.h), each split
// greedily into the longest vocabulary pieces from its start, later pieces
// prefixed "##"; a word with a part no piece matches, or longer than
// WP_MAX_WORD_CHARS code points, becomes [UNK]. A text becomes
// [CLS] pieces... [SEP], cut to a window of L ids. As in the reference, the
// special tokens written in a text ("[SEP]", exactly so, anywhere) are those
// tokens, not words.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "text/basic_tok.h"
#include "core/error.h"

#define WP_MAX_WORD_CHARS 100
#define WP_MAX_TOKEN_BYTES 256

typedef struct {
  char *path;
  int size;           // vocabulary size (ids 0..size-1, the lines of vocab.txt)
  char *blob;         // the tokens, NUL-separated
  int *tok;           // token id -> offset in blob
  int *slot;          // open-addressing hash table: id + 1, 0 = empty
  uint32_t nslot;     // a power of two
  int unk, cls, sep, pad;
  int special[5];     // ids of [PAD] [UNK] [CLS] [SEP] [MASK] (-1: not in the vocabulary)
  BasicWords words;   // scratch of wordpiece_encode
} WordPiece;

typedef struct {
  int n;          // ids written: [CLS], min(pieces, L-2) pieces, [SEP]
  int pieces;     // word pieces of the whole text
  int truncated;  // pieces > L-2: the caller warns
} WpResult;

// Reads a vocab.txt (one token per line, the line number is the id, UTF-8,
// no empty or repeated token; [UNK], [CLS], [SEP] and [PAD] present).
// 0, or -1 naming the file, the line and what was expected.
int wordpiece_load(WordPiece *wp, const char *path, TsrErr *err);
void wordpiece_free(WordPiece *wp);
// The id of a token (its bytes), or -1.
int wordpiece_id(const WordPiece *wp, const char *tok, size_t len);
const char *wordpiece_token(const WordPiece *wp, int id);
// text[0..len) -> ids[0..r->n), at most L (>= 2) ids. `item` names the text
// in errors ("prompt", "caption 17"). 0, or -1 when the text is not UTF-8.
// Not thread-safe (scratch in wp): one WordPiece per thread.
int wordpiece_encode(WordPiece *wp, const char *text, size_t len, const char *item, int32_t *ids, int L, WpResult *r,
                     TsrErr *err);
