// The provenance building blocks: CBOR against the examples of RFC 8949
// appendix A, ISO-BMFF box walking on truncated input, and the watermark on
// clean frames (bits exact, unmarked and other-key frames not detected,
// the threshold's false-detection bound).
#include <string.h>

#include "data/synth.h"
#include "infer/eval.h"
#include "media/bmff.h"
#include "media/cbor.h"
#include "media/watermark.h"
#include "testlib.h"

static void hex(const Bytes *b, char *out) {
  for (size_t i = 0; i < b->n; i++) sprintf(out + 2 * i, "%02x", b->p[i]);
  out[2 * b->n] = 0;
}

#define ENC(expr, want)                                              \
  do {                                                               \
    Bytes b_ = {0};                                                  \
    char h_[256];                                                    \
    expr;                                                            \
    hex(&b_, h_);                                                    \
    EXPECT(!strcmp(h_, want), "%s: got %s, want %s", #expr, h_, want); \
    bytes_free(&b_);                                                 \
  } while (0)

static void test_cbor(void) {
  ENC(cbor_uint(&b_, 0), "00");
  ENC(cbor_uint(&b_, 23), "17");
  ENC(cbor_uint(&b_, 24), "1818");
  ENC(cbor_uint(&b_, 100), "1864");
  ENC(cbor_uint(&b_, 1000), "1903e8");
  ENC(cbor_uint(&b_, 1000000), "1a000f4240");
  ENC(cbor_uint(&b_, 1000000000000ull), "1b000000e8d4a51000");
  ENC(cbor_int(&b_, -1), "20");
  ENC(cbor_int(&b_, -1000), "3903e7");
  ENC(cbor_tstr(&b_, "IETF"), "6449455446");
  ENC(cbor_bstr(&b_, "\x01\x02\x03\x04", 4), "4401020304");
  ENC((cbor_array(&b_, 2), cbor_uint(&b_, 1), cbor_array(&b_, 2), cbor_uint(&b_, 2), cbor_uint(&b_, 3)), "8201820203");
  ENC((cbor_map(&b_, 1), cbor_tstr(&b_, "a"), cbor_uint(&b_, 1)), "a1616101");
  ENC((cbor_tag(&b_, 18), cbor_null(&b_)), "d2f6");
  // decoding: {"a": 1, "b": [2, 3]}, half and single floats, a truncated string
  static const uint8_t m[] = {0xa2, 0x61, 0x61, 0x01, 0x61, 0x62, 0x82, 0x02, 0x03};
  CborReader r = {m, sizeof m, 0};
  json_t *j = cbor_to_json(&r);
  char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  EXPECT(s && !strcmp(s, "{\"a\":1,\"b\":[2,3]}") && r.pos == sizeof m, "decode map: %s", s ? s : "NULL");
  free(s);
  json_decref(j);
  static const uint8_t f[] = {0x82, 0xf9, 0x3c, 0x00, 0xfa, 0x47, 0xc3, 0x50, 0x00};
  r = (CborReader){f, sizeof f, 0};
  j = cbor_to_json(&r);
  EXPECT(j && json_real_value(json_array_get(j, 0)) == 1.0 && json_real_value(json_array_get(j, 1)) == 100000.0,
         "decode floats");
  json_decref(j);
  static const uint8_t bad[] = {0x65, 0x61, 0x62};  // a 5-byte text with 2 bytes
  r = (CborReader){bad, sizeof bad, 0};
  EXPECT(cbor_to_json(&r) == NULL, "truncated text accepted");
  r = (CborReader){m, sizeof m, 0};
  EXPECT(cbor_map_find(&r, "b") == 0 && r.p[r.pos] == 0x82, "map_find b");
  printf("  ok  CBOR: RFC 8949 appendix A examples, decoding, truncation\n");
}

static void test_bmff(void) {
  uint8_t f[40] = {0, 0, 0, 16, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 0, 0,
                   0, 0, 0, 24, 'm', 'd', 'a', 't'};
  BmffBox b[4];
  int n = 0;
  TsrErr e = {0};
  EXPECT(bmff_boxes(f, 40, 0, b, 4, &n, "x", &e) == 0 && n == 2 && b[1].off == 16 && b[1].size == 24, "two boxes");
  EXPECT(bmff_boxes(f, 30, 0, b, 4, &n, "x", &e) != 0 && strstr(e.msg, "truncated"), "truncated: %s", e.msg);
  printf("  ok  BMFF: boxes, truncation named\n");
}

// Smooth frames like the demo's: a plain background and a moving disc.
static void scene(uint8_t *v, int T, int H, int W, int seed) {
  for (int t = 0; t < T; t++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        float cx = W * (0.3f + 0.05f * t + 0.1f * (seed % 3)), cy = H * 0.5f, r = W * 0.2f;
        int in = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r;
        uint8_t *p = v + (((size_t)t * H + y) * W + x) * 3;
        p[0] = in ? 220 : (uint8_t)(20 + seed * 7 % 40 + y * 30 / H);
        p[1] = in ? 40 : 30;
        p[2] = in ? 40 : (uint8_t)(60 + x * 40 / W);
      }
}

static void test_watermark(void) {
  WmKey k, other;
  wm_key_from_string(&k, "test key");
  wm_key_from_string(&other, "another key");
  int sizes[3][3] = {{8, 32, 32}, {16, 64, 64}, {8, 256, 256}};
  for (int s = 0; s < 3; s++) {
    int T = sizes[s][0], H = sizes[s][1], W = sizes[s][2];
    uint8_t *v = malloc((size_t)T * H * W * 3);
    for (int seed = 0; seed < 3; seed++) {
      uint32_t payload = 0x9e3779b9u * (uint32_t)(seed + 1 + s * 7);
      scene(v, T, H, W, seed);
      WmResult r;
      wm_detect(&k, v, T, H, W, &r);
      EXPECT(!r.detected && r.score < r.threshold, "%dx%d unmarked: detected (S %.1f)", H, W, r.score);
      wm_embed(&k, payload, v, T, H, W, WM_AMP);
      wm_detect(&k, v, T, H, W, &r);
      EXPECT(r.detected && r.payload == payload, "%dx%dx%d: detected %d payload %08x want %08x (S %.1f, thr %.1f)", T,
             H, W, r.detected, r.payload, payload, r.score, r.threshold);
      wm_detect(&other, v, T, H, W, &r);
      EXPECT(!r.detected, "%dx%d: another key detects it (S %.1f)", H, W, r.score);
    }
    free(v);
  }
  // The threshold: the Chernoff bound of chi-square(32) times the hypotheses
  // is 1e-6 there; a larger set of hypotheses needs a higher threshold.
  double t = wm_threshold(1e-6, 5000), k32 = WM_BITS;
  double bound = 5000 * pow(t / k32, k32 / 2) * exp((k32 - t) / 2);
  EXPECT(fabs(bound / 1e-6 - 1) < 1e-3 && wm_threshold(1e-6, 50000) > t, "threshold %.2f bound %.3g", t, bound);
  printf("  ok  watermark: 32 bits exact at 32x32, 64x64, 256x256; unmarked and other-key frames not detected; "
         "threshold %.1f\n", t);
}

// The mark's cost to the eval's scores: every item of the eval suite rendered
// as its ground-truth clip (16x16, 8 frames, as the demo model makes them),
// scored unmarked and marked; the totals may differ by at most 1 point.
static void test_eval_cost(void) {
  EvalSuite suite;
  char err[512];
  if (eval_suite_load("configs/eval/shapes.yaml", &suite, err, sizeof err) != 0) {
    EXPECT(0, "suite: %s", err);
    return;
  }
  const int T = 8, H = 16, W = 16;
  uint8_t *v = malloc((size_t)T * H * W * 3);
  double sum[2][3] = {{0}};
  int n[3] = {0}, changed = 0;
  WmKey k;
  wm_key_from_string(&k, "eval");
  for (int i = 0; i < suite.n; i++) {
    const EvalItem *it = &suite.items[i];
    if (it->mode != EVAL_T2V) continue;
    SynthScene sc;
    eval_item_scene(it, T, H, W, &sc);
    synth_render(&sc, T, H, W, v);
    EvalScore a, b;
    eval_score_video(it, v, T, H, W, NULL, 0, &a);
    wm_embed(&k, 0x5eed0000u + (uint32_t)i, v, T, H, W, WM_AMP);
    eval_score_video(it, v, T, H, W, NULL, 0, &b);
    float va[3] = {a.colour, a.shape, a.motion}, vb[3] = {b.colour, b.shape, b.motion};
    for (int m = 0; m < 3; m++)
      if (va[m] >= 0) {
        sum[0][m] += va[m];
        sum[1][m] += vb[m];
        n[m]++;
        changed += va[m] != vb[m];
      }
  }
  const char *names[3] = {"colour", "shape", "motion"};
  for (int m = 0; m < 3; m++) {
    double pa = 100 * sum[0][m] / (n[m] ? n[m] : 1), pb = 100 * sum[1][m] / (n[m] ? n[m] : 1);
    EXPECT(fabs(pa - pb) <= 1.0, "%s: %.1f%% unmarked, %.1f%% marked", names[m], pa, pb);
    printf("  ok  eval %-6s on %d ground-truth clips: %.1f%% unmarked, %.1f%% marked\n", names[m], n[m], pa, pb);
  }
  printf("      (%d item scores changed by the mark)\n", changed);
  free(v);
  eval_suite_free(&suite);
}

int main(void) {
  test_cbor();
  test_bmff();
  test_watermark();
  test_eval_cost();
  return tl_finish("test_prov");
}
