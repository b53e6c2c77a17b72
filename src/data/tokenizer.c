// Word-level tokenizer (tokenizer.h). The word rules, in order, per code point
// of the UTF-8 text (datasets/README.md repeats them for people who build
// corpora themselves):
//   - ASCII letters and digits are word characters; A-Z are lower-cased.
//   - ASCII apostrophe ' and the typographic quotes U+2018/U+2019 are word
//     characters written as '; apostrophes at the start or end of a word are
//     stripped ("'tis" -> "tis", "dogs'" -> "dogs"), a word of only
//     apostrophes is dropped.
//   - Every other ASCII character is a separator.
//   - Non-ASCII code points are word characters (accents stay in their word,
//     "café" is one word), except these separators: U+0080-U+00BF (controls,
//     no-break space, Latin-1 punctuation such as « » ¿ ¡), U+00D7 ×, U+00F7 ÷,
//     U+2000-U+206F (general punctuation: dashes, quotes, ellipsis),
//     U+2E00-U+2E7F, U+3000-U+303F (CJK punctuation), U+FEFF and U+FFF0-U+FFFF.
//   - Latin-1 capitals U+00C0-U+00DE are lower-cased (+0x20); no other case folding.
//   - Bytes that are not valid UTF-8 (stray continuation bytes, overlong forms,
//     surrogates, truncated sequences) are separators, so every vocabulary
//     word is valid UTF-8 and encoding never fails.
#include "data/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const char *const SPECIALS[TOK_FIRST_WORD] = {"<pad>", "<bos>", "<unk>", "<eos>"};

// ---------------------------------------------------------------- UTF-8 and splitting

// Length (1..4) of the valid UTF-8 sequence at s, with its code point; 0 if invalid.
static int utf8_decode(const unsigned char *s, uint32_t *cp) {
  unsigned c = s[0];
  if (c < 0x80) { *cp = c; return 1; }
  int len;
  uint32_t v, min;
  if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
  else return 0;
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;  // also stops at the terminating NUL
    v = (v << 6) | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

static int utf8_encode(uint32_t cp, char *out) {
  if (cp < 0x80) { out[0] = (char)cp; return 1; }
  if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F)); return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static int is_separator(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0xBF) || cp == 0xD7 || cp == 0xF7 || (cp >= 0x2000 && cp <= 0x206F) ||
         (cp >= 0x2E00 && cp <= 0x2E7F) || (cp >= 0x3000 && cp <= 0x303F) || cp == 0xFEFF || (cp >= 0xFFF0 && cp <= 0xFFFF);
}

typedef struct {
  char *buf;
  size_t len, cap;
} WordBuf;

static void wb_put(WordBuf *b, const char *s, int n) {
  if (b->len + (size_t)n + 1 > b->cap) {
    b->cap = (b->len + (size_t)n + 1) * 2 + 32;
    b->buf = realloc(b->buf, b->cap);
    TSR_ASSERT(b->buf, "out of memory");
  }
  memcpy(b->buf + b->len, s, (size_t)n);
  b->len += (size_t)n;
  b->buf[b->len] = 0;
}

// Calls fn(word, ctx) for each word of text (a NUL-terminated, lower-cased,
// valid UTF-8 string); stops early when fn returns non-zero.
typedef int (*WordFn)(const char *word, void *ctx);

static int emit(WordBuf *b, WordFn fn, void *ctx) {
  size_t s = 0, e = b->len;
  while (s < e && b->buf[s] == '\'') s++;
  while (e > s && b->buf[e - 1] == '\'') e--;
  int stop = 0;
  if (e > s) {
    b->buf[e] = 0;
    stop = fn(b->buf + s, ctx);
  }
  b->len = 0;
  return stop;
}

static void split_words(const char *text, WordFn fn, void *ctx) {
  if (!text) return;
  WordBuf b = {0};
  wb_put(&b, "", 0);
  const unsigned char *s = (const unsigned char *)text;
  while (*s) {
    uint32_t cp;
    int n = utf8_decode(s, &cp);
    if (n == 0) {  // invalid byte: a separator
      if (emit(&b, fn, ctx)) break;
      s++;
      continue;
    }
    s += n;
    if (cp < 0x80) {
      char ch = (char)cp;
      if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
      if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '\'') wb_put(&b, &ch, 1);
      else if (emit(&b, fn, ctx)) break;
    } else if (cp == 0x2018 || cp == 0x2019) {
      wb_put(&b, "'", 1);
    } else if (is_separator(cp)) {
      if (emit(&b, fn, ctx)) break;
    } else {
      if (cp >= 0xC0 && cp <= 0xDE) cp += 0x20;  // Latin-1 capitals (0xD7 × is a separator)
      char enc[4];
      wb_put(&b, enc, utf8_encode(cp, enc));
    }
  }
  if (b.len) emit(&b, fn, ctx);
  free(b.buf);
}

// ---------------------------------------------------------------- hashing

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h ^ (h >> 29);
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  TSR_ASSERT(d, "out of memory");
  memcpy(d, s, n);
  return d;
}

// Word counts while building.
typedef struct {
  char *word;
  int64_t count;
} Count;

typedef struct {
  Count *slots;
  int64_t size, used;
} CountTable;

static void ct_grow(CountTable *t) {
  int64_t nsize = t->size ? t->size * 2 : 1024;
  Count *ns = calloc((size_t)nsize, sizeof *ns);
  TSR_ASSERT(ns, "out of memory");
  for (int64_t i = 0; i < t->size; i++) {
    if (!t->slots[i].word) continue;
    uint64_t h = hash_str(t->slots[i].word) & (uint64_t)(nsize - 1);
    while (ns[h].word) h = (h + 1) & (uint64_t)(nsize - 1);
    ns[h] = t->slots[i];
  }
  free(t->slots);
  t->slots = ns;
  t->size = nsize;
}

static int count_word(const char *word, void *ctx) {
  CountTable *t = ctx;
  if (2 * (t->used + 1) > t->size) ct_grow(t);
  uint64_t h = hash_str(word) & (uint64_t)(t->size - 1);
  while (t->slots[h].word && strcmp(t->slots[h].word, word)) h = (h + 1) & (uint64_t)(t->size - 1);
  if (!t->slots[h].word) {
    t->slots[h].word = xstrdup(word);
    t->used++;
  }
  t->slots[h].count++;
  return 0;
}

static int by_count_then_word(const void *a, const void *b) {
  const Count *x = a, *y = b;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  return strcmp(x->word, y->word);
}

// Lookup table word -> id over t->words (first occurrence wins).
static void build_table(Tokenizer *t) {
  int size = 16;
  while (size < 2 * t->size) size *= 2;
  t->table_size = size;
  t->table = malloc((size_t)size * sizeof *t->table);
  TSR_ASSERT(t->table, "out of memory");
  for (int i = 0; i < size; i++) t->table[i] = -1;
  for (int id = 0; id < t->size; id++) {
    uint64_t h = hash_str(t->words[id]) & (uint64_t)(size - 1);
    int dup = 0;
    while (t->table[h] >= 0) {
      if (!strcmp(t->words[t->table[h]], t->words[id])) { dup = 1; break; }
      h = (h + 1) & (uint64_t)(size - 1);
    }
    if (!dup) t->table[h] = id;
  }
}

static int lookup(const Tokenizer *t, const char *word) {
  uint64_t h = hash_str(word) & (uint64_t)(t->table_size - 1);
  while (t->table[h] >= 0) {
    if (!strcmp(t->words[t->table[h]], word)) return t->table[h];
    h = (h + 1) & (uint64_t)(t->table_size - 1);
  }
  return -1;
}

// ---------------------------------------------------------------- API

void tokenizer_build(Tokenizer *t, const char *const *captions, int n, int max_vocab) {
  memset(t, 0, sizeof *t);
  if (max_vocab < TOK_FIRST_WORD) max_vocab = TOK_FIRST_WORD;
  CountTable ct = {0};
  ct_grow(&ct);
  for (int i = 0; i < n; i++) split_words(captions[i], count_word, &ct);
  Count *all = malloc((size_t)(ct.used ? ct.used : 1) * sizeof *all);
  TSR_ASSERT(all, "out of memory");
  int64_t m = 0;
  for (int64_t i = 0; i < ct.size; i++)
    if (ct.slots[i].word) all[m++] = ct.slots[i];
  qsort(all, (size_t)m, sizeof *all, by_count_then_word);
  int64_t keep = m < max_vocab - TOK_FIRST_WORD ? m : max_vocab - TOK_FIRST_WORD;
  t->size = TOK_FIRST_WORD + (int)keep;
  t->words = malloc((size_t)t->size * sizeof *t->words);
  TSR_ASSERT(t->words, "out of memory");
  for (int i = 0; i < TOK_FIRST_WORD; i++) t->words[i] = xstrdup(SPECIALS[i]);
  for (int64_t i = 0; i < m; i++) {
    if (i < keep) t->words[TOK_FIRST_WORD + i] = all[i].word;  // ownership moves
    else free(all[i].word);
  }
  free(all);
  free(ct.slots);
  build_table(t);
}

void tokenizer_from_vocab(Tokenizer *t, char *const *words, int V) {
  memset(t, 0, sizeof *t);
  t->size = V;
  t->words = malloc((size_t)(V > 0 ? V : 1) * sizeof *t->words);
  TSR_ASSERT(t->words, "out of memory");
  for (int i = 0; i < V; i++) t->words[i] = xstrdup(words[i] ? words[i] : "");
  build_table(t);
}

void tokenizer_free(Tokenizer *t) {
  for (int i = 0; i < t->size; i++) free(t->words[i]);
  free(t->words);
  free(t->table);
  memset(t, 0, sizeof *t);
}

typedef struct {
  const Tokenizer *t;
  int32_t *tokens;
  int L, n, truncated;
} EncodeCtx;

static int encode_word(const char *word, void *ctx) {
  EncodeCtx *e = ctx;
  if (e->n >= e->L) { e->truncated = 1; return 1; }
  int id = lookup(e->t, word);
  e->tokens[e->n++] = id >= TOK_FIRST_WORD ? id : TOK_UNK;
  return 0;
}

int tokenizer_encode(const Tokenizer *t, const char *text, int32_t *tokens, int L, int *truncated) {
  if (truncated) *truncated = 0;
  if (L <= 0) return 0;
  memset(tokens, 0, (size_t)L * sizeof *tokens);
  EncodeCtx e = {t, tokens, L, 0, 0};
  tokens[e.n++] = TOK_BOS;
  split_words(text, encode_word, &e);
  if (truncated) *truncated = e.truncated;
  return e.n;
}
