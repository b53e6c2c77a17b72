// corpus.h5 writer/reader, tokenizer, PNG I/O and the bitmap font.
// Run from the repository root; temporary files go to build/tmp/.
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "data/corpus.h"
#include "media/image_io.h"
#include "data/tokenizer.h"
#include "testlib.h"

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int ids_equal(const int32_t *a, const int32_t *b, int n) {
  for (int i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

// ---------------------------------------------------------------- tokenizer

static void test_tokenizer(void) {
  const char *caps[] = {"a red circle moves left", "A red square moves right.", "the RED circle's path"};
  Tokenizer t;
  tokenizer_build(&t, caps, 3, 4096);
  // red 3; a, moves 2; then alphabetical among count 1.
  const char *want[] = {"<pad>", "<bos>", "<unk>", "<eos>", "red", "a", "moves", "circle", "circle's",
                        "left", "path", "right", "square", "the"};
  int nw = (int)(sizeof want / sizeof *want);
  EXPECT(t.size == nw, "vocab size %d, expected %d", t.size, nw);
  for (int i = 0; i < nw && i < t.size; i++) EXPECT(!strcmp(t.words[i], want[i]), "word %d: '%s', expected '%s'", i, t.words[i], want[i]);

  int32_t tok[8];
  int tr = -1;
  int n = tokenizer_encode(&t, "Red circle, moves LEFT!", tok, 8, &tr);
  int32_t e1[8] = {1, 4, 7, 6, 9, 0, 0, 0};
  EXPECT(n == 5 && tr == 0 && ids_equal(tok, e1, 8), "known sentence: n %d trunc %d tokens %d %d %d %d %d %d", n, tr,
         tok[0], tok[1], tok[2], tok[3], tok[4], tok[5]);
  n = tokenizer_encode(&t, "a blue circle", tok, 8, &tr);
  int32_t e2[8] = {1, 5, TOK_UNK, 7, 0, 0, 0, 0};
  EXPECT(n == 4 && ids_equal(tok, e2, 8), "unknown word -> <unk>");
  n = tokenizer_encode(&t, "red circle moves left", tok, 3, &tr);
  EXPECT(n == 3 && tr == 1 && tok[0] == 1 && tok[1] == 4 && tok[2] == 7, "truncation to L=3: n %d trunc %d", n, tr);
  n = tokenizer_encode(&t, "red circle moves left", tok, 5, &tr);
  EXPECT(n == 5 && tr == 0, "exact fit is not truncation: n %d trunc %d", n, tr);
  n = tokenizer_encode(&t, "", tok, 4, &tr);
  EXPECT(n == 1 && tok[0] == TOK_BOS && tok[1] == 0 && tr == 0, "empty caption is BOS only");
  n = tokenizer_encode(&t, "'red' -- circle's' ''", tok, 8, &tr);
  EXPECT(n == 3 && tok[1] == 4 && tok[2] == 8, "apostrophes stripped at word ends: n %d %d %d", n, tok[1], tok[2]);
  n = tokenizer_encode(&t, "red\xe2\x80\x94" "circle", tok, 8, NULL);  // em dash separates
  EXPECT(n == 3 && tok[1] == 4 && tok[2] == 7, "em dash is a separator");

  // Determinism: another caption order gives the same vocabulary.
  const char *caps2[] = {"the RED circle's path", "A red square moves right.", "a red circle moves left"};
  Tokenizer t2;
  tokenizer_build(&t2, caps2, 3, 4096);
  int same = t2.size == t.size;
  for (int i = 0; same && i < t.size; i++) same = !strcmp(t.words[i], t2.words[i]);
  EXPECT(same, "vocabulary independent of caption order");
  tokenizer_free(&t2);

  // Cap: specials + the 2 most frequent.
  tokenizer_build(&t2, caps, 3, 6);
  EXPECT(t2.size == 6 && !strcmp(t2.words[4], "red") && !strcmp(t2.words[5], "a"), "max_vocab 6 keeps red, a");
  n = tokenizer_encode(&t2, "a red path", tok, 8, NULL);
  EXPECT(n == 4 && tok[1] == 5 && tok[2] == 4 && tok[3] == TOK_UNK, "capped vocab: dropped word -> <unk>");
  tokenizer_free(&t2);

  // From a stored vocabulary: same encoding.
  Tokenizer t3;
  tokenizer_from_vocab(&t3, t.words, t.size);
  int32_t a[16], b[16];
  int na = tokenizer_encode(&t, "The red circle's path moves left, a square right", a, 16, NULL);
  int nb = tokenizer_encode(&t3, "The red circle's path moves left, a square right", b, 16, NULL);
  EXPECT(na == nb && ids_equal(a, b, 16), "tokenizer_from_vocab encodes the same");
  tokenizer_free(&t3);
  tokenizer_free(&t);

  // UTF-8: accents stay in words, Latin-1 capitals fold, emoji is a word.
  const char *u[] = {"café ☕ CAFÉ", "Ünïcödé naïve café"};
  tokenizer_build(&t, u, 2, 100);
  EXPECT(t.size == 8 && !strcmp(t.words[4], "café"), "UTF-8 words: size %d first '%s'", t.size, t.size > 4 ? t.words[4] : "");
  n = tokenizer_encode(&t, "CAFÉ ☕", tok, 8, NULL);
  EXPECT(n == 3 && tok[1] == 4 && tok[2] >= TOK_FIRST_WORD, "UTF-8 encode: n %d", n);
  // Invalid UTF-8 (stray continuation, truncated sequence, overlong, 0xff) must not crash and stays in range.
  const char *bad[] = {"\xff\xfe red \x80\x80 caf\xc3", "\xe2\x98", "\xc0\xaf x\xed\xa0\x80y", "\xf4\x90\x80\x80"};
  int ok = 1;
  Tokenizer tb;
  tokenizer_build(&tb, bad, 4, 100);
  for (int i = 0; i < tb.size; i++) {  // every vocabulary word is valid UTF-8 (no bytes >= 0x80 here)
    for (const unsigned char *p = (const unsigned char *)tb.words[i]; *p; p++) ok &= *p < 0x80;
  }
  for (int i = 0; i < 4; i++) {
    n = tokenizer_encode(&t, bad[i], tok, 8, NULL);
    for (int k = 0; k < n; k++) ok &= tok[k] >= 0 && tok[k] < t.size;
  }
  EXPECT(ok, "invalid UTF-8 handled");
  EXPECT(tb.size == 8 && !strcmp(tb.words[4], "caf") && !strcmp(tb.words[5], "red") && !strcmp(tb.words[7], "y"),
         "invalid UTF-8 bytes are separators: %d words", tb.size);
  tokenizer_free(&tb);
  tokenizer_free(&t);
  printf("  ok  tokenizer\n");
}

// ---------------------------------------------------------------- corpus

enum { PT = 2, PH = 2, PW = 2, CH = 3, TL = 12 };

typedef struct {
  int T, H, W, n;
  uint8_t *px;  // [n, T, H, W, C]
} TestBucket;

static uint8_t pixel_of(const TestBucket *b, int clip, int t, int h, int w, int c) {
  return b->px[((((size_t)clip * b->T + t) * b->H + h) * b->W + w) * CH + c];
}

static const char *caption_of(int bucket, int i) {
  static const char *caps[] = {"a red circle moves left", "café ☕", "a green square bounces",
                               "the blue triangle stays still", "zwei Würfel"};
  return caps[(bucket * 3 + i) % 5];
}

static void make_recaption(int bucket, int i, char *out, size_t n) {
  snprintf(out, n, "%s. clip %d of bucket %d, a long descriptive recaption with many many words to be cut", caption_of(bucket, i), i, bucket);
}

static void test_corpus(void) {
  const char *path = "build/tmp/test_corpus.h5";
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  remove(path);
  remove(tmp);
  TestBucket tb[2] = {{4, 8, 8, 5, NULL}, {2, 4, 6, 3, NULL}};
  for (int k = 0; k < 2; k++) {
    size_t sz = (size_t)tb[k].n * tb[k].T * tb[k].H * tb[k].W * CH;
    tb[k].px = malloc(sz);
    for (size_t i = 0; i < sz; i++) tb[k].px[i] = (uint8_t)(rng_uniform(7, RNG_TEST, (uint32_t)k, 0, (uint32_t)i) * 256.0f);
    tb[k].px[0] = 0;  // both ends of the range appear
    tb[k].px[1] = 255;
  }
  CorpusWriter *w = MUST_PTR(corpus_writer_open(path, PT, PH, PW, CH, TL, &tl_err));
  corpus_writer_set_vocab(w, 64);
  EXPECT(exists(tmp) && !exists(path), "while open: only %s exists", tmp);
  // interleave the buckets
  int next[2] = {0, 0};
  for (int step = 0; step < tb[0].n + tb[1].n; step++) {
    int k = (step % 2 && next[1] < tb[1].n) || next[0] >= tb[0].n ? 1 : 0;
    int i = next[k]++;
    char rec[256];
    make_recaption(k, i, rec, sizeof rec);
    CorpusClip clip = {tb[k].px + (size_t)i * tb[k].T * tb[k].H * tb[k].W * CH, caption_of(k, i), rec, "synth", 8.0f + (float)i};
    MUST(corpus_writer_add(w, tb[k].T, tb[k].H, tb[k].W, &clip, &tl_err));
    float meta[2] = {(float)k, (float)i};
    corpus_writer_meta(w, tb[k].T, tb[k].H, tb[k].W, "ids", meta, 2);
  }
  EXPECT(!exists(path), "final name absent before close");
  MUST(corpus_writer_close(w, &tl_err));
  EXPECT(exists(path) && !exists(tmp), "after close: only %s exists", path);

  Corpus c;
  MUST(corpus_open(&c, path, &tl_err));
  EXPECT(c.pt == PT && c.ph == PH && c.pw == PW && c.channels == CH && c.text_length == TL, "corpus attributes");
  EXPECT(c.nbuckets == 2, "2 buckets, found %d", c.nbuckets);
  EXPECT(c.vocab_size > 4 && c.vocab_size <= 64 && !strcmp(c.vocab[0], "<pad>") && !strcmp(c.vocab[3], "<eos>"),
         "vocabulary: %d entries", c.vocab_size);
  Tokenizer tok;
  tokenizer_from_vocab(&tok, c.vocab, c.vocab_size);
  float lut[256];
  for (int v = 0; v < 256; v++) lut[v] = (float)v / 127.5f - 1.0f;
  EXPECT(lut[0] == -1.0f && lut[255] == 1.0f, "value mapping ends");
  for (int k = 0; k < 2; k++) {
    const TestBucket *t = &tb[k];
    const CorpusBucket *b = corpus_bucket(&c, t->T, t->H, t->W);
    EXPECT(b != NULL, "bucket %dx%dx%d present", t->T, t->H, t->W);
    if (!b) continue;
    const int N = (t->T / PT) * (t->H / PH) * (t->W / PW), P = PT * PH * PW * CH;
    EXPECT(b->count == t->n && b->N == N && b->P == P, "bucket %s: count %d N %d P %d", b->name, b->count, b->N, b->P);
    float *x = malloc((size_t)N * P * sizeof(float)), *y = malloc((size_t)N * P * sizeof(float));
    int exact = 1, slices = 1, caps = 1, toks = 1;
    for (int i = 0; i < t->n; i++) {
      MUST(corpus_read_patches(&c, b, i, 0, N, x, &tl_err));
      // independent unpatchify: element (n, p) -> pixel (t, h, w, c)
      const int nh = t->H / PH, nw = t->W / PW;
      for (int n = 0; n < N; n++)
        for (int p = 0; p < P; p++) {
          int tt = n / (nh * nw), hh = (n / nw) % nh, ww = n % nw;
          int a = p / (PH * PW * CH), bb = (p / (PW * CH)) % PH, d = (p / CH) % PW, ch = p % CH;
          uint8_t v = pixel_of(t, i, tt * PT + a, hh * PH + bb, ww * PW + d, ch);
          exact &= x[(size_t)n * P + p] == lut[v];
        }
      // token slices equal the slice of the full read
      const int cuts[][2] = {{0, 1}, {1, 2}, {N / 2, N - N / 2}, {N - 1, 1}, {0, N}, {3, 0}};
      for (size_t s = 0; s < sizeof cuts / sizeof *cuts; s++) {
        int n0 = cuts[s][0], nn = cuts[s][1];
        MUST(corpus_read_patches(&c, b, i, n0, nn, y, &tl_err));
        slices &= !memcmp(y, x + (size_t)n0 * P, (size_t)nn * P * sizeof(float));
      }
      char *cap = MUST_PTR(corpus_read_caption(&c, b, i, 0, &tl_err)), *rec = MUST_PTR(corpus_read_caption(&c, b, i, 1, &tl_err));
      char want[256];
      make_recaption(k, i, want, sizeof want);
      caps &= !strcmp(cap, caption_of(k, i)) && !strcmp(rec, want);
      int32_t t1[TL], t2[TL], nt, ne, trunc;
      MUST(corpus_read_tokens(&c, b, i, 0, t1, &nt, &tl_err));
      ne = tokenizer_encode(&tok, cap, t2, TL, NULL);
      toks &= nt == ne && ids_equal(t1, t2, TL);
      MUST(corpus_read_tokens(&c, b, i, 1, t1, &nt, &tl_err));
      ne = tokenizer_encode(&tok, rec, t2, TL, &trunc);
      toks &= nt == ne && ids_equal(t1, t2, TL) && trunc && nt == TL;
      free(cap);
      free(rec);
    }
    EXPECT(exact, "bucket %s: patches equal v/127.5-1 of the pixels in (t,h,w)/(pt,ph,pw,C) order", b->name);
    EXPECT(slices, "bucket %s: token-range reads equal the slice of the full read", b->name);
    EXPECT(caps, "bucket %s: captions round trip (UTF-8 included)", b->name);
    EXPECT(toks, "bucket %s: stored tokens equal the stored tokenizer's encoding", b->name);
    free(x);
    free(y);
  }
  // One hand-indexed element: bucket 4x8x8, clip 2, pixel (t=3, h=5, w=2, c=1) ->
  // token (1, 2, 1) = (1*4 + 2)*4 + 1 = 25, vector (1, 1, 0, 1) = ((1*2 + 1)*2 + 0)*3 + 1 = 19.
  {
    const CorpusBucket *b = corpus_bucket(&c, 4, 8, 8);
    float v[24];
    MUST(corpus_read_patches(&c, b, 2, 25, 1, v, &tl_err));
    EXPECT(v[19] == lut[pixel_of(&tb[0], 2, 3, 5, 2, 1)], "hand-indexed element: %g vs %g", v[19], lut[pixel_of(&tb[0], 2, 3, 5, 2, 1)]);
  }
  // The "café ☕" caption's tokens: BOS, café, ☕.
  {
    const CorpusBucket *b = corpus_bucket(&c, 4, 8, 8);
    int32_t t1[TL], nt;
    MUST(corpus_read_tokens(&c, b, 1, 0, t1, &nt, &tl_err));
    EXPECT(nt == 3 && !strcmp(c.vocab[t1[1]], "café") && !strcmp(c.vocab[t1[2]], "☕"), "UTF-8 caption tokens");
  }
  EXPECT(corpus_bucket(&c, 8, 8, 8) == NULL, "absent bucket is NULL");
  tokenizer_free(&tok);
  corpus_close(&c);

  // h5py can read it (format check from another implementation).
  if (access("/usr/bin/python3", X_OK) == 0 && system("/usr/bin/python3 -c 'import h5py' 2>/dev/null") == 0) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c '\n"
             "import h5py, sys\n"
             "f = h5py.File(sys.argv[1], \"r\")\n"
             "b = f[\"buckets/4x8x8\"]\n"
             "assert f.attrs[\"format\"] == b\"tessera-corpus\" and f.attrs[\"version\"] == 2\n"
             "assert b[\"patches\"].dtype == \"uint8\" and b[\"patches\"].shape == (5, 32, 24)\n"
             "assert b[\"tokens\"].dtype == \"int32\" and b[\"tokens\"].shape == (5, %d)\n"
             "text = lambda g, i: bytes(g[\"bytes\"][g[\"offsets\"][i]:g[\"offsets\"][i + 1]]).decode()\n"
             "assert text(b[\"caption\"], 1) == \"caf\\u00e9 \\u2615\", text(b[\"caption\"], 1)\n"
             "assert all(d.fletcher32 for d in (b[\"patches\"], b[\"tokens\"], b[\"caption/bytes\"], b[\"meta/fps\"]))\n"
             "assert b[\"meta/ids\"].shape == (5, 2) and b[\"meta/fps\"][2] == 10\n"
             "assert list(f[\"tokenizer\"].attrs[\"patch\"]) == [2, 2, 2]\n"
             "assert text(f[\"tokenizer/vocab\"], 2) == \"<unk>\"\n"
             "' %s",
             TL, path);
    EXPECT(system(cmd) == 0, "h5py reads the corpus");
  } else {
    printf("  skip h5py check (no /usr/bin/python3 with h5py)\n");
  }

  // A clip size that the patch does not divide: a returned error; abort removes the .tmp.
  {
    CorpusWriter *w2 = MUST_PTR(corpus_writer_open("build/tmp/test_corpus_bad.h5", PT, PH, PW, CH, TL, &tl_err));
    uint8_t px[3 * 4 * 4 * 3] = {0};
    CorpusClip clip = {px, "x", "x", "synth", 1};
    TsrErr err = {0};
    int rc = corpus_writer_add(w2, 3, 4, 4, &clip, &err);
    EXPECT(rc == -1 && err.code == TSR_EXIT_USER && strstr(err.msg, "3x4x4 (TxHxW): expected positive sizes divisible by the patch"),
           "indivisible clip size: rc %d, message: %s", rc, err.msg);
    EXPECT(exists("build/tmp/test_corpus_bad.h5.tmp"), "the .tmp exists until the writer is given up");
    corpus_writer_abort(w2);
    EXPECT(!exists("build/tmp/test_corpus_bad.h5.tmp") && !exists("build/tmp/test_corpus_bad.h5"),
           "corpus_writer_abort removes the .tmp");
    EXPECT(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0, "nothing left open in HDF5 after the abort");
  }

  // A dataset missing in the second bucket (after the first bucket and part
  // of this one are open): corpus_open fails, names it, and leaves nothing open.
  {
    const char *bad = "build/tmp/test_corpus_missing.h5";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s %s", path, bad);
    EXPECT(system(cmd) == 0, "copy the corpus");
    hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    EXPECT(f >= 0 && H5Ldelete(f, "/buckets/4x8x8/caption_ntokens", H5P_DEFAULT) >= 0 && H5Fclose(f) >= 0,
           "delete a dataset of the copy");
    Corpus c2;
    TsrErr err = {0};
    int rc = corpus_open(&c2, bad, &err);
    EXPECT(rc == -1 && strstr(err.msg, "/buckets/4x8x8/caption_ntokens: missing (expected a dataset)"),
           "missing dataset: rc %d, message: %s", rc, err.msg);
    EXPECT(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0, "a failed corpus_open leaves nothing open in HDF5 (%zd)",
           H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL));
    corpus_close(&c2);  // harmless on a failed open
    remove(bad);
  }

  for (int k = 0; k < 2; k++) free(tb[k].px);
  remove(path);
  printf("  ok  corpus round trip\n");
}

// Write/read speed for 16x32x32x3 clips (printed, not checked).
static void bench_corpus(int n) {
  const char *path = "build/tmp/test_corpus_speed.h5";
  const int T = 16, H = 32, W = 32;
  size_t sz = (size_t)T * H * W * 3;
  uint8_t *px = malloc(sz);
  for (size_t i = 0; i < sz; i++) px[i] = (uint8_t)((i / 3) % 7 == 0 ? 200 : 30);  // flat-ish, like the shapes world
  double t0 = now();
  CorpusWriter *w = MUST_PTR(corpus_writer_open(path, 1, 2, 2, 3, 64, &tl_err));
  for (int i = 0; i < n; i++) {
    px[i % sz] ^= 0x55;
    CorpusClip clip = {px, "a red circle moves left", "a large red circle moves left across a black background", "synth", 8};
    MUST(corpus_writer_add(w, T, H, W, &clip, &tl_err));
  }
  MUST(corpus_writer_close(w, &tl_err));
  double t1 = now();
  Corpus c;
  MUST(corpus_open(&c, path, &tl_err));
  const CorpusBucket *b = corpus_bucket(&c, T, H, W);
  float *x = malloc((size_t)b->N * b->P * sizeof(float));
  int32_t tok[64], nt;
  for (int i = 0; i < n; i++) {
    MUST(corpus_read_patches(&c, b, i, 0, b->N, x, &tl_err));
    MUST(corpus_read_tokens(&c, b, i, 1, tok, &nt, &tl_err));
  }
  double t2 = now();
  corpus_close(&c);
  struct stat st;
  stat(path, &st);
  printf("  speed: %d clips 16x32x32x3: write %.0f clips/s, read (patches+tokens) %.0f clips/s, %.1f KiB/clip on disk\n", n,
         n / (t1 - t0), n / (t2 - t1), (double)st.st_size / 1024.0 / n);
  free(x);
  free(px);
  remove(path);
}

// ---------------------------------------------------------------- PNG and font

static int write_png_raw(const char *path, int W, int H, int color_type, int depth, const uint8_t *data, int rowbytes,
                         const png_color *palette, int npal) {
  FILE *fp = fopen(path, "wb");
  if (!fp) return -1;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) { fclose(fp); return -1; }
  png_init_io(png, fp);
  png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)H, depth, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (palette) png_set_PLTE(png, info, palette, npal);
  png_write_info(png, info);
  for (int y = 0; y < H; y++) png_write_row(png, (png_const_bytep)(data + (size_t)y * rowbytes));
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  fclose(fp);
  return 0;
}

static void test_png(void) {
  const int H = 13, W = 17;
  uint8_t img[13 * 17 * 3];
  for (int i = 0; i < H * W * 3; i++) img[i] = (uint8_t)(rng_uniform(3, RNG_TEST, 0, 0, (uint32_t)i) * 256.0f);
  char err[256];
  const char *p = "build/tmp/test_corpus.png";
  EXPECT(png_write_rgb(p, img, H, W, err, sizeof err) == 0, "png_write_rgb: %s", err);
  EXPECT(!exists("build/tmp/test_corpus.png.tmp"), "png temporary renamed");
  uint8_t *back = NULL;
  int h = 0, w = 0;
  EXPECT(png_read_rgb(p, &back, &h, &w, err, sizeof err) == 0, "png_read_rgb: %s", err);
  EXPECT(back && h == H && w == W && !memcmp(back, img, sizeof img), "PNG round trip");
  free(back);

  // 16-bit gray + alpha -> RGB8 (high byte, alpha dropped)
  uint8_t ga[2 * 3 * 4];
  for (int i = 0; i < 6; i++) {
    ga[4 * i] = (uint8_t)(40 * i), ga[4 * i + 1] = 0x77, ga[4 * i + 2] = 0xFF, ga[4 * i + 3] = 0x00;
  }
  write_png_raw("build/tmp/test_corpus_ga16.png", 3, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 16, ga, 12, NULL, 0);
  int ok = png_read_rgb("build/tmp/test_corpus_ga16.png", &back, &h, &w, err, sizeof err) == 0 && h == 2 && w == 3;
  for (int i = 0; ok && i < 6; i++) ok = back[3 * i] == 40 * i && back[3 * i + 1] == 40 * i && back[3 * i + 2] == 40 * i;
  EXPECT(ok, "gray16+alpha PNG -> RGB8: %s", err);
  free(back);
  // palette, 4-bit
  png_color pal[3] = {{10, 20, 30}, {200, 100, 50}, {1, 2, 3}};
  uint8_t idx[2 * 2] = {0x01, 0x20, 0x12, 0x00};  // 3 px per row: 0,1,2 / 1,2,0
  write_png_raw("build/tmp/test_corpus_pal.png", 3, 2, PNG_COLOR_TYPE_PALETTE, 4, idx, 2, pal, 3);
  ok = png_read_rgb("build/tmp/test_corpus_pal.png", &back, &h, &w, err, sizeof err) == 0 && h == 2 && w == 3;
  const int want[6] = {0, 1, 2, 1, 2, 0};
  for (int i = 0; ok && i < 6; i++)
    ok = back[3 * i] == pal[want[i]].red && back[3 * i + 1] == pal[want[i]].green && back[3 * i + 2] == pal[want[i]].blue;
  EXPECT(ok, "palette PNG -> RGB8: %s", err);
  free(back);
  // not a PNG, truncated PNG
  FILE *f = fopen("build/tmp/test_corpus_not.png", "wb");
  fputs("hello", f);
  fclose(f);
  EXPECT(png_read_rgb("build/tmp/test_corpus_not.png", &back, &h, &w, err, sizeof err) == -1 && back == NULL, "not a PNG: -1");
  EXPECT(strstr(err, "not a PNG") != NULL, "not a PNG message: %s", err);
  EXPECT(truncate(p, 40) == 0, "truncate %s", p);
  EXPECT(png_read_rgb(p, &back, &h, &w, err, sizeof err) == -1, "truncated PNG: -1 (%s)", err);
  EXPECT(png_write_rgb("build/tmp/no/such/dir/x.png", img, H, W, err, sizeof err) == -1, "unwritable PNG path: -1");
  remove(p);
  remove("build/tmp/test_corpus_ga16.png");
  remove("build/tmp/test_corpus_pal.png");
  remove("build/tmp/test_corpus_not.png");

  // draw_text: inside an image framed by guard bytes; only pixels in the
  // image (and in the text's box) change, wherever the text is placed.
  const int IH = 20, IW = 30, G = 64;
  uint8_t *buf = malloc((size_t)IH * IW * 3 + 2 * G), *im = buf + G;
  const uint8_t red[3] = {255, 0, 0};
  const int pos[][3] = {{2, 2, 1}, {-7, -3, 1}, {25, 15, 1}, {-100, 5, 2}, {10, -40, 3}, {28, 18, 4}, {3, 3, 2}};
  int guard_ok = 1, box_ok = 1, touched_any = 0;
  for (size_t k = 0; k < sizeof pos / sizeof *pos; k++) {
    memset(buf, 0xAB, (size_t)IH * IW * 3 + 2 * G);
    memset(im, 0, (size_t)IH * IW * 3);
    const char *text = "Hi! 5x7 {~}\xc3\xa9";
    int x = pos[k][0], y = pos[k][1], s = pos[k][2];
    draw_text(im, IH, IW, x, y, s, red, text);
    for (int i = 0; i < G; i++) guard_ok &= buf[i] == 0xAB && im[IH * IW * 3 + i] == 0xAB;
    int len = 12;  // glyphs in text (é is one)
    for (int yy = 0; yy < IH; yy++)
      for (int xx = 0; xx < IW; xx++) {
        const uint8_t *px = im + ((size_t)yy * IW + xx) * 3;
        if (px[0] || px[1] || px[2]) {
          touched_any = 1;
          box_ok &= xx >= x && xx < x + len * 6 * s && yy >= y && yy < y + 7 * s && px[0] == 255 && !px[1] && !px[2];
        }
      }
  }
  EXPECT(guard_ok, "draw_text writes nothing outside the image");
  EXPECT(box_ok, "draw_text writes only inside the text's box");
  EXPECT(touched_any, "draw_text draws something");
  // every printable glyph has ink except space
  int blank = 0;
  for (int ch = 33; ch < 127; ch++) {
    memset(im, 0, (size_t)IH * IW * 3);
    char s[2] = {(char)ch, 0};
    draw_text(im, IH, IW, 0, 0, 1, red, s);
    int any = 0;
    for (int i = 0; i < IH * IW * 3; i++) any |= im[i];
    blank += !any;
  }
  EXPECT(blank == 0, "%d printable glyphs are blank", blank);
  free(buf);
  printf("  ok  png and font\n");
}

int main(void) {
  mkdir("build", 0755);
  mkdir("build/tmp", 0755);
  test_tokenizer();
  test_corpus();
  test_png();
  bench_corpus(500);
  return tl_finish("test_corpus");
}
