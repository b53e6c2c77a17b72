// The WordPiece tokenizer (src/text/wordpiece.h, basic_tok.h, unicode.h).
// Without arguments: bad vocabularies and texts (one line naming the file or
// item and what was expected), the truncation flag, and pieces against
// hand-checked answers. The comparison with the reference tokenizer on
// thousands of texts is tests/test_wordpiece.sh, which runs this binary in
// its batch modes (texts are hex-encoded UTF-8, one per line, so any byte fits):
//   --ids VOCAB IN OUT   IN lines "L HEX" -> OUT lines "n pieces truncated id..."
//   --words IN OUT       IN lines "HEX"   -> OUT lines of the words, hex, space-separated
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testlib.h"
#include "text/basic_tok.h"
#include "text/wordpiece.h"

#define TMP "build/tmp/test_wordpiece"
#define REAL_VOCAB "models/minilm-l6/vocab.txt"

static size_t unhex(const char *h, char *out) {
  size_t n = 0;
  for (; h[0] && h[1] && h[0] != '\n'; h += 2) {
    unsigned v;
    sscanf(h, "%2x", &v);
    out[n++] = (char)v;
  }
  return n;
}

static void put_hex(FILE *f, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) fprintf(f, "%02x", (unsigned char)s[i]);
}

static FILE *open_or_die(const char *path, const char *mode) {
  FILE *f = fopen(path, mode);
  if (!f) { perror(path); exit(2); }
  return f;
}

static int batch_ids(const char *vocab, const char *in, const char *out) {
  WordPiece wp;
  TsrErr err;
  if (wordpiece_load(&wp, vocab, &err)) { fprintf(stderr, "%s\n", err.msg); return 2; }
  FILE *fi = open_or_die(in, "r"), *fo = open_or_die(out, "w");
  static char line[1 << 20], text[1 << 19];
  int32_t ids[4096];
  for (int no = 1; fgets(line, sizeof line, fi); no++) {
    int L = atoi(line);
    char *h = strchr(line, ' ');
    if (L < 2 || L > 4096 || !h) { fprintf(stderr, "%s:%d: expected 'L HEX'\n", in, no); return 2; }
    size_t n = unhex(h + 1, text);
    WpResult r;
    char item[32];
    snprintf(item, sizeof item, "line %d", no);
    if (wordpiece_encode(&wp, text, n, item, ids, L, &r, &err)) { fprintf(fo, "error %s\n", err.msg); continue; }
    fprintf(fo, "%d %d %d", r.n, r.pieces, r.truncated);
    for (int i = 0; i < r.n; i++) fprintf(fo, " %d", ids[i]);
    fputc('\n', fo);
  }
  fclose(fi), fclose(fo);
  wordpiece_free(&wp);
  return 0;
}

static int batch_words(const char *in, const char *out) {
  FILE *fi = open_or_die(in, "r"), *fo = open_or_die(out, "w");
  static char line[1 << 16], text[1 << 15];
  BasicWords w = {0};
  TsrErr err;
  while (fgets(line, sizeof line, fi)) {
    size_t n = unhex(line, text);
    if (basic_tokenize(text, n, "line", &w, &err)) { fprintf(fo, "error\n"); continue; }
    for (int i = 0; i < w.n; i++) {
      if (i) fputc(' ', fo);
      put_hex(fo, w.buf + w.start[i], (size_t)w.len[i]);
    }
    fputc('\n', fo);
  }
  fclose(fi), fclose(fo);
  basic_words_free(&w);
  return 0;
}

// ------------------------------------------------------------------ unit checks
static void write_file(const char *path, const char *s, size_t n) {
  FILE *f = open_or_die(path, "wb");
  fwrite(s, 1, n, f);
  fclose(f);
}

#define SPECIAL "[PAD]\n[UNK]\n[CLS]\n[SEP]\n"

// A vocabulary that must be refused with a message holding `want`.
static void bad_vocab(const char *name, const char *body, size_t n, const char *want) {
  char path[256];
  snprintf(path, sizeof path, TMP "/%s.txt", name);
  write_file(path, body, n);
  WordPiece wp;
  TsrErr err = {0};
  int rc = wordpiece_load(&wp, path, &err);
  EXPECT(rc == -1 && strstr(err.msg, path) && strstr(err.msg, want), "vocab %s: rc %d, message '%s', expected '%s'", name, rc,
         err.msg, want);
  if (!rc) wordpiece_free(&wp);
  else printf("  ok  vocab %-10s %s\n", name, err.msg);
}

static void test_bad_vocab(void) {
  bad_vocab("empty", "", 0, "empty, expected a vocab.txt");
  bad_vocab("emptyline", SPECIAL "a\n\nb\n", strlen(SPECIAL) + 5, "line 6: empty token");
  bad_vocab("dup", SPECIAL "red\nblue\nred\n", strlen(SPECIAL) + 13, "line 7: token 'red' repeats line 5");
  bad_vocab("utf8", SPECIAL "r\xff" "d\n", strlen(SPECIAL) + 4, "line 5: expected a token of at most 256 bytes of UTF-8");
  bad_vocab("nul", SPECIAL "r\0d\n", strlen(SPECIAL) + 4, "line 5: expected a token");
  bad_vocab("nounk", "[PAD]\n[CLS]\n[SEP]\nred\n", 22, "no token [UNK]");
  WordPiece wp;
  TsrErr err;
  EXPECT(wordpiece_load(&wp, TMP "/missing.txt", &err) == -1 && strstr(err.msg, TMP "/missing.txt: cannot open"),
         "missing vocab: '%s'", err.msg);
}

// A toy vocabulary: the greedy longest match, "##", [UNK] and truncation.
static void test_toy(void) {
  const char *v = SPECIAL "un\n##aff\n##able\naff\n##a\n##b\n##ble\n,\nhi\n##z\n";
  write_file(TMP "/toy.txt", v, strlen(v));
  WordPiece wp;
  TsrErr err;
  EXPECT(!wordpiece_load(&wp, TMP "/toy.txt", &err), "toy vocab: %s", err.msg);
  int32_t ids[16];
  WpResult r;
  const char *text = "UnAffable, hi unz";
  EXPECT(!wordpiece_encode(&wp, text, strlen(text), "toy", ids, 16, &r, &err), "encode: %s", err.msg);
  int want[] = {2, 4, 5, 6, 11, 12, 4, 13, 3};  // [CLS] un ##aff ##able , hi un ##z [SEP]
  int same = r.n == 9;
  for (int i = 0; same && i < 9; i++) same = ids[i] == want[i];
  EXPECT(same && r.pieces == 7 && !r.truncated, "toy: n %d pieces %d", r.n, r.pieces);
  text = "hiq affable";  // "hiq": no piece for "q", so the whole word is [UNK]; aff ##able (not ##a ##ble)
  EXPECT(!wordpiece_encode(&wp, text, strlen(text), "toy", ids, 16, &r, &err) && r.n == 5 && ids[1] == 1 && ids[2] == 7 &&
             ids[3] == 6,
         "toy [UNK] word: n %d ids %d %d %d", r.n, ids[1], ids[2], ids[3]);
  text = "hi hi hi hi hi";  // 5 pieces into a window of 4: [CLS] hi hi [SEP], truncated
  EXPECT(!wordpiece_encode(&wp, text, strlen(text), "toy", ids, 4, &r, &err) && r.n == 4 && r.pieces == 5 && r.truncated &&
             ids[0] == 2 && ids[1] == 12 && ids[2] == 12 && ids[3] == 3,
         "truncation: n %d pieces %d truncated %d", r.n, r.pieces, r.truncated);
  EXPECT(!wordpiece_encode(&wp, "hi hi", 5, "toy", ids, 4, &r, &err) && r.n == 4 && !r.truncated, "a text that fits exactly");
  EXPECT(!wordpiece_encode(&wp, "", 0, "toy", ids, 4, &r, &err) && r.n == 2 && r.pieces == 0, "empty text: [CLS] [SEP]");
  // not UTF-8: a stray continuation byte, an overlong '/', a surrogate, a cut sequence
  static const char *const bad[] = {"red \x80", "a \xc0\xaf", "x\xed\xa0\x80", "ok \xe2\x82"};
  static const char *const want_msg[] = {"byte 0x80) at byte 4", "byte 0xc0) at byte 2", "byte 0xed) at byte 1",
                                         "byte 0xe2) at byte 3"};
  for (int k = 0; k < 4; k++) {
    int rc = wordpiece_encode(&wp, bad[k], strlen(bad[k]), "prompt 3", ids, 16, &r, &err);
    EXPECT(rc == -1 && strstr(err.msg, "prompt 3: invalid UTF-8 (") && strstr(err.msg, want_msg[k]) &&
               strstr(err.msg, "expected UTF-8 text"),
           "non-UTF-8 text %d: rc %d '%s'", k, rc, err.msg);
  }
  printf("  ok  non-UTF-8: %s\n", err.msg);
  wordpiece_free(&wp);
}

// The real vocabulary on texts whose pieces were read off the reference by hand.
static void test_real(void) {
  struct stat sb;
  if (stat(REAL_VOCAB, &sb)) { printf("  skip real vocabulary: %s absent (make deps)\n", REAL_VOCAB); return; }
  WordPiece wp;
  TsrErr err;
  EXPECT(!wordpiece_load(&wp, REAL_VOCAB, &err) && wp.size == 30522 && wp.pad == 0 && wp.unk == 100 && wp.cls == 101 &&
             wp.sep == 102,
         "vocab.txt: size %d unk %d cls %d sep %d: %s", wp.size, wp.unk, wp.cls, wp.sep, err.msg);
  const char *text = "Héllo, WORLD! naïve café 東京タワー 😀";
  int want[] = {101, 7592, 1010, 2088, 999, 15743, 7668, 1879, 1755, 1709, 30262, 30265, 100, 102};
  int32_t ids[64];
  WpResult r;
  EXPECT(!wordpiece_encode(&wp, text, strlen(text), "t", ids, 64, &r, &err) && r.n == 14, "n %d", r.n);
  int same = 1;
  for (int i = 0; i < 14; i++) same &= ids[i] == want[i];
  EXPECT(same, "ids of '%s'", text);
  wordpiece_free(&wp);
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "--ids")) return batch_ids(argv[2], argv[3], argv[4]);
  if (argc == 4 && !strcmp(argv[1], "--words")) return batch_words(argv[2], argv[3]);
  if (argc != 1) { fprintf(stderr, "usage: test_wordpiece [--ids VOCAB IN OUT | --words IN OUT]\n"); return 2; }
  mkdir("build/tmp", 0755);
  mkdir(TMP, 0755);
  test_bad_vocab();
  test_toy();
  test_real();
  return tl_finish("test_wordpiece");
}
