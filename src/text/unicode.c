// Lookups in the generated tables (binary search over sorted ranges).
#include "text/unicode.h"

#include <string.h>

// The index of the entry of T[0..n) (sorted by lo) whose [lo, hi] holds cp, or -1.
#define FIND(T, n, cp)                                      \
  ({                                                        \
    int lo_ = 0, hi_ = (n)-1, at_ = -1;                     \
    while (lo_ <= hi_) {                                    \
      int mid_ = (lo_ + hi_) / 2;                           \
      if ((cp) < (T)[mid_].lo) hi_ = mid_ - 1;              \
      else if ((cp) > (T)[mid_].hi) lo_ = mid_ + 1;         \
      else { at_ = mid_; break; }                           \
    }                                                       \
    at_;                                                    \
  })

int uni_is_control(uint32_t cp) { return FIND(uni_control, uni_control_n, cp) >= 0; }

int uni_is_whitespace(uint32_t cp) {
  return (cp >= 9 && cp <= 13) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int uni_is_punct(uint32_t cp) {
  if (cp < 128) return cp > 32 && cp < 127 && !((cp >= '0' && cp <= '9') || ((cp | 32) >= 'a' && (cp | 32) <= 'z'));
  return FIND(uni_punct, uni_punct_n, cp) >= 0;
}

int uni_is_cjk(uint32_t cp) {
  // The reference's ranges (tokenizers' BertNormalizer; Google's BERT has 0x2B820 for 0x2B920).
  static const UniRange cjk[] = {{0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xF900, 0xFAFF},   {0x20000, 0x2A6DF},
                                 {0x2A700, 0x2B73F}, {0x2B740, 0x2B81F}, {0x2B920, 0x2CEAF}, {0x2F800, 0x2FA1F}};
  return FIND(cjk, (int)(sizeof cjk / sizeof *cjk), cp) >= 0;
}

int uni_fold(uint32_t cp, uint32_t out[UNI_FOLD_MAX]) {
  if (cp >= 0xAC00 && cp <= 0xD7A3) {  // Hangul syllable: NFD by formula (Unicode 3.12)
    uint32_t s = cp - 0xAC00;
    out[0] = 0x1100 + s / 588, out[1] = 0x1161 + (s % 588) / 28;
    if (s % 28 == 0) return 2;
    out[2] = 0x11A7 + s % 28;
    return 3;
  }
  int k = FIND(uni_fold_run, uni_fold_run_n, cp);
  if (k >= 0 && (cp - uni_fold_run[k].lo) % (uint32_t)uni_fold_run[k].step == 0) {
    out[0] = (uint32_t)((int32_t)cp + uni_fold_run[k].delta);
    return 1;
  }
  k = FIND(uni_fold_span, uni_fold_span_n, cp);
  if (k >= 0) {
    memcpy(out, uni_fold_pool + uni_fold_span[k].off, (size_t)uni_fold_span[k].len * sizeof *out);
    return uni_fold_span[k].len;
  }
  out[0] = cp;
  return 1;
}
