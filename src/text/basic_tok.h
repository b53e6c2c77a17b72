// BERT's basic tokenizer, as the reference (Hugging Face tokenizers:
// BertNormalizer with clean_text, handle_chinese_chars, strip_accents and
// lowercase, then BertPreTokenizer) applies it, code point by code point:
//   1. clean: drop NUL, U+FFFD and controls (uni_is_control); whitespace -> ' '
//   2. a CJK ideograph becomes a word of its own (spaces around it)
//   3. strip accents (NFD, drop Mn) and lower-case (uni_fold)
//   4. split on whitespace; each punctuation character is a word of its own
// The words are the input of WordPiece (wordpiece.h). docs/text_encoder.md.
#pragma once
#include <stddef.h>

#include "core/error.h"

typedef struct {
  char *buf;     // the words' UTF-8 bytes, each followed by a NUL
  int *start;    // word i: buf + start[i], len[i] bytes, nchars[i] code points
  int *len;
  int *nchars;
  int n;
  size_t buf_cap;
  int word_cap;
} BasicWords;

// Splits text[0..len) into w (its buffers grow and are reused across calls).
// 0, or -1 when the text is not UTF-8: "<item>: invalid UTF-8 (byte 0xNN) at
// byte B, expected UTF-8 text".
int basic_tokenize(const char *text, size_t len, const char *item, BasicWords *w, TsrErr *err);
void basic_words_free(BasicWords *w);
// 0 when text[0..len) is UTF-8, else -1 with the message above.
int text_utf8_check(const char *text, size_t len, const char *item, TsrErr *err);
