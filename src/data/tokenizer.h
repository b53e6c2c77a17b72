// Word-level tokenizer built from corpus captions. Lower-cased words
// (letters, digits, apostrophes); punctuation dropped. Ids 0 <pad>, 1 <bos>,
// 2 <unk>, 3 <eos>, then words by descending frequency (ties alphabetical).
// Unknown words map to <unk>; encoding never fails.
#pragma once
#include <stdint.h>

typedef struct {
  int size;      // vocabulary size V
  char **words;  // [V]
  // open-addressing hash of words -> id
  int *table;
  int table_size;
} Tokenizer;

enum { TOK_PAD = 0, TOK_BOS = 1, TOK_UNK = 2, TOK_EOS = 3, TOK_FIRST_WORD = 4 };

// Build from n captions, keeping at most max_vocab entries (specials included).
void tokenizer_build(Tokenizer *t, const char *const *captions, int n, int max_vocab);
// From a stored vocabulary (words[0..V-1], specials first).
void tokenizer_from_vocab(Tokenizer *t, char *const *words, int V);
void tokenizer_free(Tokenizer *t);
// BOS, words..., truncated to L; writes tokens[L] (0-padded) and returns ntokens.
// *truncated (may be NULL) is set when words were dropped.
int tokenizer_encode(const Tokenizer *t, const char *text, int32_t *tokens, int L, int *truncated);
