#include "text/wordpiece.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/parse.h"

#define WP_NSPECIAL 5
static const char *const SPECIAL[WP_NSPECIAL] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

static uint32_t fnv1a(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

int wordpiece_id(const WordPiece *wp, const char *tok, size_t len) {
  for (uint32_t i = fnv1a(tok, len) & (wp->nslot - 1);; i = (i + 1) & (wp->nslot - 1)) {
    int id = wp->slot[i] - 1;
    if (id < 0) return -1;
    const char *t = wp->blob + wp->tok[id];
    if (!strncmp(t, tok, len) && !t[len]) return id;
  }
}

const char *wordpiece_token(const WordPiece *wp, int id) { return id >= 0 && id < wp->size ? wp->blob + wp->tok[id] : "?"; }

static char *slurp(const char *path, size_t *n, TsrErr *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return tsr_err(err, "%s: cannot open (%s), expected a vocab.txt (one token per line)", path, strerror(errno)), NULL;
  char *buf = NULL;
  size_t cap = 0;
  *n = 0;
  for (;;) {
    if (*n + 65536 + 1 > cap) {
      cap = 2 * cap + 65536 + 1;
      buf = realloc(buf, cap);
      TSR_ASSERT(buf, "out of memory");
    }
    size_t got = fread(buf + *n, 1, 65536, f);
    *n += got;
    if (got < 65536) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) { free(buf); return tsr_err(err, "%s: read error", path), NULL; }
  buf[*n] = 0;
  return buf;
}

// Each line of the file -> one token; checks and indexes them.
static int index_tokens(WordPiece *wp, size_t n, TsrErr *err) {
  char *b = wp->blob;
  if (n && b[n - 1] == '\n') n--;  // the last line's newline
  int lines = 1;
  for (size_t i = 0; i < n; i++) lines += b[i] == '\n';
  wp->tok = tsr_calloc((size_t)lines, sizeof *wp->tok);
  for (wp->nslot = 64; wp->nslot < 2u * (uint32_t)lines; wp->nslot *= 2) {}
  wp->slot = tsr_calloc(wp->nslot, sizeof *wp->slot);
  size_t at = 0;
  for (int id = 0; id < lines; id++) {
    char *nl = memchr(b + at, '\n', n - at);
    size_t len = (nl ? (size_t)(nl - b) : n) - at;
    if (len && b[at + len - 1] == '\r') b[at + len - 1] = 0, len--;  // CRLF files
    b[at + len] = 0;
    if (!len) return tsr_err(err, "%s: line %d: empty token, expected one token per line", wp->path, id + 1);
    if (len > WP_MAX_TOKEN_BYTES || utf8_invalid_at(b + at, len) >= 0 || memchr(b + at, 0, len))
      return tsr_err(err, "%s: line %d: expected a token of at most %d bytes of UTF-8", wp->path, id + 1, WP_MAX_TOKEN_BYTES);
    int dup = wordpiece_id(wp, b + at, len);
    if (dup >= 0)
      return tsr_err(err, "%s: line %d: token '%s' repeats line %d, expected each token once", wp->path, id + 1, b + at, dup + 1);
    wp->tok[id] = (int)at;
    uint32_t i = fnv1a(b + at, len) & (wp->nslot - 1);
    while (wp->slot[i]) i = (i + 1) & (wp->nslot - 1);
    wp->slot[i] = id + 1;
    wp->size = id + 1;
    at = nl ? (size_t)(nl - b) + 1 : n;
  }
  return 0;
}

int wordpiece_load(WordPiece *wp, const char *path, TsrErr *err) {
  memset(wp, 0, sizeof *wp);
  wp->path = strdup(path);
  TSR_ASSERT(wp->path, "out of memory");
  size_t n;
  wp->blob = slurp(path, &n, err);
  int rc = wp->blob ? 0 : -1;
  if (!rc && n == 0) rc = tsr_err(err, "%s: empty, expected a vocab.txt (one token per line)", path);
  if (!rc) rc = index_tokens(wp, n, err);
  for (int k = 0; k < WP_NSPECIAL && !rc; k++) wp->special[k] = wordpiece_id(wp, SPECIAL[k], strlen(SPECIAL[k]));
  for (int k = 0; k < 4 && !rc; k++)  // all but [MASK] are needed
    if (wp->special[k] < 0)
      rc = tsr_err(err, "%s: no token %s, expected BERT's special tokens [PAD] [UNK] [CLS] [SEP]", path, SPECIAL[k]);
  if (!rc) wp->pad = wp->special[0], wp->unk = wp->special[1], wp->cls = wp->special[2], wp->sep = wp->special[3];
  if (rc) wordpiece_free(wp);
  return rc;
}

void wordpiece_free(WordPiece *wp) {
  free(wp->path), free(wp->blob);
  tsr_free(wp->tok), tsr_free(wp->slot);
  basic_words_free(&wp->words);
  memset(wp, 0, sizeof *wp);
}

// Greedy longest-match-first pieces of one word; emits them through ids
// (only while *n < cap) and returns how many, or -1 when the word is [UNK].
static int word_pieces(const WordPiece *wp, const char *word, int len, int nchars, int32_t *ids, int *n, int cap) {
  if (nchars > WP_MAX_WORD_CHARS) return -1;
  int bound[WP_MAX_WORD_CHARS + 1], nb = 0;  // byte offsets of the code points, and the end
  for (int i = 0; i < len; i++)
    if (((unsigned char)word[i] & 0xC0) != 0x80) bound[nb++] = i;
  bound[nb] = len;
  char buf[2 + 4 * WP_MAX_WORD_CHARS];
  int found[WP_MAX_WORD_CHARS], count = 0;
  for (int s = 0; s < nb;) {
    int e = nb, id = -1;
    for (; e > s; e--) {
      int pre = s ? 2 : 0, m = bound[e] - bound[s];
      memcpy(buf, "##", 2);
      memcpy(buf + pre, word + bound[s], (size_t)m);
      if ((id = wordpiece_id(wp, buf, (size_t)(pre + m))) >= 0) break;
    }
    if (id < 0) return -1;
    found[count++] = id;
    s = e;
  }
  for (int i = 0; i < count; i++)
    if (*n < cap) ids[(*n)++] = found[i];
  return count;
}

// The special token written at text[0..len), or -1.
static int special_at(const WordPiece *wp, const char *text, size_t len, size_t *toklen) {
  if (!len || text[0] != '[') return -1;
  for (int k = 0; k < WP_NSPECIAL; k++) {
    size_t n = strlen(SPECIAL[k]);
    if (wp->special[k] >= 0 && n <= len && !memcmp(text, SPECIAL[k], n)) return *toklen = n, wp->special[k];
  }
  return -1;
}

// Appends one piece id (if the window has room) and counts it.
static void emit(int32_t *ids, int *n, int cap, WpResult *r, int id) {
  if (*n < cap) ids[(*n)++] = id;
  r->pieces++;
}

// The pieces of text[0..len), which holds no special token.
static void encode_plain(WordPiece *wp, const char *text, size_t len, int32_t *ids, int *n, int cap, WpResult *r) {
  TsrErr unused;
  basic_tokenize(text, len, "", &wp->words, &unused);  // valid UTF-8: checked by the caller
  const BasicWords *w = &wp->words;
  for (int i = 0; i < w->n; i++) {
    int k = word_pieces(wp, w->buf + w->start[i], w->len[i], w->nchars[i], ids, n, cap);
    if (k < 0) emit(ids, n, cap, r, wp->unk);
    else r->pieces += k;
  }
}

int wordpiece_encode(WordPiece *wp, const char *text, size_t len, const char *item, int32_t *ids, int L, WpResult *r,
                     TsrErr *err) {
  TSR_ASSERT(L >= 2, "wordpiece_encode: window %d < 2", L);
  memset(r, 0, sizeof *r);
  if (text_utf8_check(text, len, item, err)) return -1;
  int n = 0;
  ids[n++] = wp->cls;
  size_t from = 0;
  for (size_t i = 0; i < len; i++) {
    size_t toklen;
    int id = special_at(wp, text + i, len - i, &toklen);
    if (id < 0) continue;
    encode_plain(wp, text + from, i - from, ids, &n, L - 1, r);
    emit(ids, &n, L - 1, r, id);
    from = i + toklen;
    i = from - 1;
  }
  encode_plain(wp, text + from, len - from, ids, &n, L - 1, r);
  ids[n++] = wp->sep;
  r->n = n;
  r->truncated = r->pieces > L - 2;
  return 0;
}
