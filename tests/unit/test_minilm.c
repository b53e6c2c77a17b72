// The MiniLM-L6 text encoder (src/text/minilm.h) on the real weights that
// `make deps` installs (skipped, saying so, when they are absent):
//  - bad input: a missing weights file, a hash mismatch, a truncated file, a
//    tensor of the wrong shape, a vocabulary that does not match the
//    embedding rows, a config that is not BERT's, out-of-range ids and
//    counts: -1 and one line naming the file or item and what was expected;
//  - key-padding mask: a sentence alone and inside a padded batch give the
//    same states for its tokens;
//  - `--dump FILE` encodes the sentences below in one padded batch and writes
//    ids, counts, hidden states and pooled vectors for tests/text/minilm_ref.py
//    (PyTorch), which tests/test_minilm.sh runs.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/timer.h"
#include "testlib.h"
#include "text/minilm.h"
#include "text/minilm_weights.h"

#define TMP "build/tmp/test_minilm"
#define REAL MINILM_L6_DIR

// Rows 0 and 1 are paraphrases, row 5 unrelated (minilm_ref.py checks their cosines).
static const char *const SENTENCES[] = {
    "a red circle moves left",
    "A crimson disc glides leftward.",
    "the ball drifts toward the top of the frame",
    "Héllo 東京 😀",
    "In the first frame a small blue square sits near the bottom-left corner; over the next seconds it slides "
    "smoothly to the right, passes behind a large green triangle, and stops at the right edge of the frame.",
    "quarterly earnings of the bank fell sharply",
};
#define NS (int)(sizeof SENTENCES / sizeof *SENTENCES)

static void die(const char *what) {
  perror(what);
  exit(2);
}

// Copies src to dst: the first `keep` bytes (SIZE_MAX: all), then `patch`
// (plen bytes) written over offset `at` (plen 0: none).
static void copy_file(const char *src, const char *dst, size_t keep, size_t at, const char *patch, size_t plen) {
  FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
  if (!in || !out) die(dst);
  static char buf[1 << 20];
  size_t n, done = 0;
  while (done < keep && (n = fread(buf, 1, sizeof buf, in)) > 0) {
    if (n > keep - done) n = keep - done;
    for (size_t i = 0; i < plen; i++)
      if (at + i >= done && at + i < done + n) buf[at + i - done] = patch[i];
    if (fwrite(buf, 1, n, out) != n) die(dst);
    done += n;
  }
  fclose(in), fclose(out);
}

// A model folder TMP/<name> whose files link to the real ones (replace some after).
static const char *model_dir(const char *name) {
  static char dir[256];
  snprintf(dir, sizeof dir, TMP "/%s", name);
  mkdir(dir, 0755);
  const char *files[] = {"config.json", "model.safetensors", "vocab.txt"};
  for (int i = 0; i < 3; i++) {
    char dst[320], src[320];
    snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
    snprintf(src, sizeof src, "../../../../" REAL "/%s", files[i]);
    unlink(dst);
    if (symlink(src, dst)) die(dst);
  }
  return dir;
}

static void replace(const char *dir, const char *file, size_t keep, size_t at, const char *patch, size_t plen) {
  char dst[320];
  snprintf(dst, sizeof dst, "%s/%s", dir, file);
  unlink(dst);
  char src[320];
  snprintf(src, sizeof src, REAL "/%s", file);
  copy_file(src, dst, keep, at, patch, plen);
}

// Loading dir must fail with a message holding each of want[0..n).
static void expect_load_error(const char *what, const char *dir, int hashed, const char *const *want, int n) {
  TextEncoder te;
  TsrErr err = {0};
  int rc = hashed ? minilm_load(&te, dir, &err) : text_encoder_load(&te, dir, NULL, NULL, &err);
  int all = rc == -1 && !strchr(err.msg, '\n');
  for (int i = 0; i < n; i++) all = all && strstr(err.msg, want[i]);
  EXPECT(all, "%s: rc %d, message '%s', expected '%s'", what, rc, err.msg, want[0]);
  if (!rc) text_encoder_free(&te);
  else printf("  ok  %-18s %s\n", what, err.msg);
}

#define EXPECT_LOAD_ERROR(what, dir, hashed, ...)                                    \
  do {                                                                               \
    const char *const w_[] = {__VA_ARGS__};                                          \
    expect_load_error(what, dir, hashed, w_, (int)(sizeof w_ / sizeof *w_));         \
  } while (0)

static size_t file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) ? 0 : (size_t)sb.st_size;
}

static void test_bad_files(void) {
  char d[256];
  snprintf(d, sizeof d, "%s", model_dir("missing"));
  unlink(TMP "/missing/model.safetensors");
  EXPECT_LOAD_ERROR("missing weights", d, 1, TMP "/missing/model.safetensors: cannot open (No such file or directory)",
                    "expected a safetensors file");

  snprintf(d, sizeof d, "%s", model_dir("flipped"));
  replace(d, "model.safetensors", SIZE_MAX, 50000000, "\x7f", 1);  // one byte inside a weight
  EXPECT_LOAD_ERROR("hash mismatch", d, 1, TMP "/flipped/model.safetensors: SHA-256 ",
                    ", expected " MINILM_L6_WEIGHTS_SHA256);

  snprintf(d, sizeof d, "%s", model_dir("truncated"));
  replace(d, "model.safetensors", 60000000, 0, NULL, 0);
  EXPECT_LOAD_ERROR("truncated weights", d, 0, TMP "/truncated/model.safetensors: tensor 'encoder.layer.",
                    "run past the end of the data", "truncated file?");
  replace(d, "model.safetensors", 5, 0, NULL, 0);
  EXPECT_LOAD_ERROR("truncated length", d, 0, TMP "/truncated/model.safetensors: truncated: 5 bytes, expected at least 8");
  replace(d, "model.safetensors", 4000, 0, NULL, 0);
  EXPECT_LOAD_ERROR("truncated header", d, 0, "header length 11408 runs past the end of the file (4000 bytes)");

  // query.weight of layer 0 declared [192,768]: the same bytes, the wrong shape
  FILE *f = fopen(REAL "/model.safetensors", "rb");
  char head[12000] = {0};
  if (!f || fread(head, 1, sizeof head - 1, f) < 11416) die("header");
  fclose(f);
  const char *key = strstr(head + 8, "\"encoder.layer.0.attention.self.query.weight\"");
  const char *shape = key ? strstr(key, "[384,384]") : NULL;
  EXPECT(shape != NULL, "the real header lists query.weight as [384,384]");
  if (shape) {
    snprintf(d, sizeof d, "%s", model_dir("shape"));
    replace(d, "model.safetensors", SIZE_MAX, (size_t)(shape - head), "[192,768]", 9);
    EXPECT_LOAD_ERROR("wrong shape", d, 0,
                      TMP "/shape/model.safetensors: tensor 'encoder.layer.0.attention.self.query.weight' has shape "
                          "[192, 768], expected [384, 384]");
  }

  snprintf(d, sizeof d, "%s", model_dir("vocab"));
  replace(d, "vocab.txt", file_size(REAL "/vocab.txt") - 6, 0, NULL, 0);  // without its last line, "##～\n"
  EXPECT_LOAD_ERROR("vocab rows", d, 0, TMP "/vocab/vocab.txt: 30521 tokens, expected 30522 (the rows of "
                                        "embeddings.word_embeddings.weight in " TMP "/vocab/model.safetensors)");
  EXPECT_LOAD_ERROR("vocab hash", d, 1, TMP "/vocab/vocab.txt: SHA-256 ", "expected " MINILM_L6_VOCAB_SHA256);

  snprintf(d, sizeof d, "%s", model_dir("config"));
  unlink(TMP "/config/config.json");
  f = fopen(TMP "/config/config.json", "w");
  fputs("{\"model_type\": \"bert\", \"hidden_act\": \"relu\"}", f);
  fclose(f);
  EXPECT_LOAD_ERROR("config act", d, 0, TMP "/config/config.json: \"hidden_act\" is \"relu\", expected \"gelu\"");
  f = fopen(TMP "/config/config.json", "w");
  fputs("{\"model_type\": \"bert\", \"vocab_size\": 30522, \"hidden_size\": 384.5}", f);
  fclose(f);
  EXPECT_LOAD_ERROR("config size", d, 0, TMP "/config/config.json: \"hidden_size\" out of range or not an integer");
}

// Tokenises SENTENCES into a padded batch ids[NS, *L] (pad id 0).
static int32_t *batch(TextEncoder *te, int *valid, int *L) {
  static int32_t one[NS][128];
  *L = 0;
  for (int b = 0; b < NS; b++) {
    WpResult r;
    TsrErr err;
    EXPECT(!wordpiece_encode(&te->wp, SENTENCES[b], strlen(SENTENCES[b]), "sentence", one[b], 128, &r, &err), "%s", err.msg);
    valid[b] = r.n;
    if (r.n > *L) *L = r.n;
  }
  int32_t *ids = calloc((size_t)NS * *L, sizeof *ids);
  for (int b = 0; b < NS; b++) memcpy(ids + b * *L, one[b], (size_t)valid[b] * sizeof *ids);
  return ids;
}

static void test_forward(TextEncoder *te) {
  int valid[NS], L;
  int32_t *ids = batch(te, valid, &L);
  const int H = te->cfg.hidden;
  float *h = malloc(sizeof(float) * NS * L * H), *p = malloc(sizeof(float) * NS * H);
  TsrErr err;
  EXPECT(!text_encoder_forward(te, ids, valid, NS, L, h, p, &err), "forward: %s", err.msg);
  // sentence 0 alone, in a window of its own length: the same states as in the batch
  float *h0 = malloc(sizeof(float) * valid[0] * H);
  EXPECT(!text_encoder_forward(te, ids, valid, 1, valid[0], h0, NULL, &err), "forward alone: %s", err.msg);
  EXPECT_CLOSE(h0, h, valid[0] * H, 1e-5, "sentence alone = its rows in the padded batch");
  int bad_valid[2] = {3, 0};
  EXPECT(text_encoder_forward(te, ids, bad_valid, 2, L, h, p, &err) == -1 &&
             strstr(err.msg, "sample 1 has 0 valid tokens, expected 1 to"),
         "a count of 0: '%s'", err.msg);
  ids[3] = 30522;
  EXPECT(text_encoder_forward(te, ids, valid, 1, L, h, p, &err) == -1 &&
             strstr(err.msg, "sample 0 token 3 has id 30522, expected 0 to 30521"),
         "an id past the vocabulary: '%s'", err.msg);
  EXPECT(text_encoder_forward(te, ids, valid, 1, 513, h, p, &err) == -1 && strstr(err.msg, "at most 512 tokens"),
         "a window past the positions: '%s'", err.msg);
  free(ids), free(h), free(p), free(h0);
}

static int dump(const char *path) {
  TextEncoder te;
  TsrErr err;
  if (minilm_load(&te, NULL, &err)) { fprintf(stderr, "%s\n", err.msg); return 2; }
  int valid[NS], L;
  int32_t *ids = batch(&te, valid, &L);
  const int H = te.cfg.hidden, B = NS;
  float *h = malloc(sizeof(float) * B * L * H), *p = malloc(sizeof(float) * B * H);
  double t0 = timer_now();
  if (text_encoder_forward(&te, ids, valid, B, L, h, p, &err)) { fprintf(stderr, "%s\n", err.msg); return 2; }
  printf("encoded %d sentences in a batch of %d x %d tokens in %.1f ms\n", B, B, L, 1e3 * (timer_now() - t0));
  FILE *f = fopen(path, "wb");
  if (!f) die(path);
  int head[3] = {B, L, H};
  fwrite(head, sizeof head, 1, f);
  fwrite(ids, sizeof *ids, (size_t)B * L, f);
  fwrite(valid, sizeof *valid, (size_t)B, f);
  fwrite(h, sizeof *h, (size_t)B * L * H, f);
  fwrite(p, sizeof *p, (size_t)B * H, f);
  if (fclose(f)) die(path);
  free(ids), free(h), free(p);
  text_encoder_free(&te);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--dump")) return dump(argv[2]);
  if (argc != 1) { fprintf(stderr, "usage: test_minilm [--dump FILE]\n"); return 2; }
  if (file_size(REAL "/model.safetensors") == 0) {
    printf("SKIP: %s absent (make deps installs all-MiniLM-L6-v2)\n", REAL);
    return 0;
  }
  mkdir("build/tmp", 0755);
  mkdir(TMP, 0755);
  TextEncoder te;
  TsrErr err;
  double t0 = timer_now();
  EXPECT(!minilm_load(&te, NULL, &err), "load %s: %s", REAL, err.msg);
  printf("  ok  loaded %s (%zu floats, SHA-256 checked) in %.2f s\n", REAL, te.nparams, timer_now() - t0);
  EXPECT(te.cfg.hidden == 384 && te.cfg.layers == 6 && te.cfg.heads == 12 && te.cfg.inter == 1536 && te.cfg.vocab == 30522 &&
             te.cfg.ln_eps == 1e-12f,
         "config");
  test_forward(&te);
  text_encoder_free(&te);
  test_bad_files();
  return tl_finish("test_minilm");
}
