#include "text/basic_tok.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/parse.h"
#include "core/utf8.h"
#include "text/unicode.h"

static void *grow(void *p, size_t n) {
  p = realloc(p, n);
  TSR_ASSERT(p, "out of memory");
  return p;
}

typedef struct {
  BasicWords *w;
  size_t used;    // bytes used in w->buf
  int open;       // a word is being written
} Builder;

static void end_word(Builder *b) {
  if (!b->open) return;
  b->w->buf[b->used++] = 0;
  b->w->n++;
  b->open = 0;
}

static void put_char(Builder *b, uint32_t cp) {
  BasicWords *w = b->w;
  if (b->used + 5 > w->buf_cap) w->buf_cap = 2 * w->buf_cap + 64, w->buf = grow(w->buf, w->buf_cap);
  if (!b->open) {
    if (w->n == w->word_cap) {
      w->word_cap = 2 * w->word_cap + 16;
      w->start = grow(w->start, (size_t)w->word_cap * sizeof(int));
      w->len = grow(w->len, (size_t)w->word_cap * sizeof(int));
      w->nchars = grow(w->nchars, (size_t)w->word_cap * sizeof(int));
    }
    w->start[w->n] = (int)b->used, w->len[w->n] = 0, w->nchars[w->n] = 0;
    b->open = 1;
  }
  int k = utf8_encode(cp, w->buf + b->used);
  b->used += (size_t)k;
  w->len[w->n] += k;
  w->nchars[w->n]++;
}

// Step 4 for one normalised code point.
static void split(Builder *b, uint32_t cp) {
  if (uni_is_whitespace(cp)) end_word(b);
  else if (uni_is_punct(cp)) end_word(b), put_char(b, cp), end_word(b);
  else put_char(b, cp);
}

int text_utf8_check(const char *text, size_t len, const char *item, TsrErr *err) {
  long at = utf8_invalid_at(text, len);
  if (at < 0) return 0;
  return tsr_err(err, "%s: invalid UTF-8 (byte 0x%02x) at byte %ld, expected UTF-8 text", item, (unsigned char)text[at], at);
}

int basic_tokenize(const char *text, size_t len, const char *item, BasicWords *w, TsrErr *err) {
  w->n = 0;
  if (text_utf8_check(text, len, item, err)) return -1;
  Builder b = {w, 0, 0};
  const unsigned char *s = (const unsigned char *)text;
  for (size_t i = 0; i < len;) {
    int k = utf8_seq_len(s + i, len - i);
    uint32_t cp = utf8_decode(s + i, k), f[UNI_FOLD_MAX];
    i += (size_t)k;
    if (cp == 0 || cp == 0xFFFD || uni_is_control(cp)) continue;
    if (uni_is_whitespace(cp)) { end_word(&b); continue; }
    int cjk = uni_is_cjk(cp), nf = uni_fold(cp, f);
    if (cjk) end_word(&b);
    for (int j = 0; j < nf; j++) split(&b, f[j]);
    if (cjk) end_word(&b);
  }
  end_word(&b);
  return 0;
}

void basic_words_free(BasicWords *w) {
  free(w->buf), free(w->start), free(w->len), free(w->nchars);
  memset(w, 0, sizeof *w);
}
