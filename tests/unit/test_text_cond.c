// The frozen encoder's cache (text/text_cond.h) against the encoder itself:
//  - states of a padded batch of captions = the encoder's own forward of that
//    batch, rounded to float16 (within 1e-3 of the largest state);
//  - a second lookup returns the very same bits and encodes nothing;
//  - a caption twice in one batch is encoded once; padding rows are zero;
//  - the null caption is [CLS] [SEP];
//  - opened on the CPU's bf16 backend (where the CPU has AVX512-BF16), the
//    states are the fp32 ones, bit for bit (the encoder stays fp32).
// Needs the weights `make deps` installs (models/minilm-l6).
#include <string.h>

#include "text/text_cond.h"
#include "testlib.h"

int main(void) {
  TsrErr err;
  enum { L = 16, B = 4 };
  TextCond *tc = text_cond_open(L, (size_t)64 << 20, backend_cpu(), &err);
  EXPECT(tc != NULL, "text_cond_open: %s", err.msg);
  if (!tc) return tl_finish("test_text_cond");
  const int W = text_cond_width(tc);
  const char *texts[B] = {"a red circle moves left", "a crimson disc glides leftward", "a red circle moves left",
                          "the orange square is slowly drifting toward the top of the frame"};
  int32_t ids[B * L], n[B];
  for (int b = 0; b < B; b++) {
    int cut = 0;
    EXPECT(text_cond_tokenize(tc, texts[b], "caption", ids + b * L, &n[b], &cut, &err) == 0, "tokenize: %s", err.msg);
  }
  float *states = calloc((size_t)B * L * W, sizeof(float)), *again = calloc((size_t)B * L * W, sizeof(float));
  float *direct = calloc((size_t)B * L * W, sizeof(float));
  EXPECT(text_cond_states(tc, ids, n, B, states, &err) == 0, "states: %s", err.msg);
  TextCondStats st = text_cond_stats(tc);
  EXPECT(st.misses == 3 && st.hits == 1, "a repeated caption is encoded once: %llu misses, %llu hits",
         (unsigned long long)st.misses, (unsigned long long)st.hits);
  // the encoder directly, on the same padded batch
  TextEncoder te;
  EXPECT(minilm_load(&te, text_cond_dir(tc), &err) == 0, "minilm_load: %s", err.msg);
  int nv[B];
  for (int b = 0; b < B; b++) nv[b] = n[b];
  EXPECT(text_encoder_forward(&te, ids, nv, B, L, direct, NULL, &err) == 0, "forward: %s", err.msg);
  double worst = 0, maxabs = 0;
  int pad_nonzero = 0;
  for (int b = 0; b < B; b++)
    for (int l = 0; l < L; l++)
      for (int c = 0; c < W; c++) {
        const size_t i = ((size_t)b * L + l) * W + c;
        if (l >= n[b]) {
          pad_nonzero += states[i] != 0.0f;
          continue;
        }
        worst = fmax(worst, fabs((double)states[i] - direct[i]));
        maxabs = fmax(maxabs, fabs(direct[i]));
      }
  EXPECT(worst <= 1e-3 * maxabs, "cached states off the encoder by %.3g (max |state| %.3g)", worst, maxabs);
  EXPECT(pad_nonzero == 0, "%d padding states are not zero", pad_nonzero);
  printf("  ok  cached states vs the encoder: max diff %.2e of max |state| %.2f (float16)\n", worst, maxabs);
  // a second lookup: from the cache, the same bits
  EXPECT(text_cond_states(tc, ids, n, B, again, &err) == 0, "states again: %s", err.msg);
  st = text_cond_stats(tc);
  EXPECT(st.misses == 3 && memcmp(states, again, (size_t)B * L * W * sizeof(float)) == 0,
         "second lookup: %llu misses (3 expected), identical %d", (unsigned long long)st.misses,
         !memcmp(states, again, (size_t)B * L * W * sizeof(float)));
  int32_t null_ids[L], null_n;
  text_cond_null(tc, null_ids, &null_n);
  WordPiece *wp = text_cond_wordpiece(tc);
  EXPECT(null_n == 2 && null_ids[0] == wp->cls && null_ids[1] == wp->sep, "null caption: %d ids", null_n);
  char why[256];
  const Backend *bf16 = backend_cpu_bf16(why, sizeof why);
  if (bf16) {
    TextCond *tb = text_cond_open(L, (size_t)64 << 20, bf16, &err);
    EXPECT(tb != NULL, "text_cond_open on the bf16 backend: %s", err.msg);
    if (tb) {
      EXPECT(text_cond_states(tb, ids, n, B, again, &err) == 0, "states (bf16 backend): %s", err.msg);
      EXPECT(!memcmp(states, again, (size_t)B * L * W * sizeof(float)),
             "the bf16 backend's text states differ from the fp32 ones (the frozen encoder must stay fp32)");
      text_cond_close(tb);
    }
  } else {
    printf("  SKIPPED the bf16 backend's states: %s\n", why);
  }
  text_encoder_free(&te);
  text_cond_close(tc);
  free(states), free(again), free(direct);
  return tl_finish("test_text_cond");
}
