// Unit tests of src/core: YAML config (good files, overrides, derived
// fields), Philox4x32-10 against the Random123 known answers, normal draws,
// the parameter table and the activation arena. Run from the repository root
// (tests/run.sh does): the config tests read configs/.
// Bad configs are tested end to end by tests/test_config.sh.
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/params.h"
#include "core/rng.h"
#include "testlib.h"

static void test_config_tiny(void) {
  Config c;
  MUST(config_load(&c, "configs/train/tiny.yaml", 0, NULL, &tl_err));
  const ModelConfig *m = &c.model;
  EXPECT(!strcmp(m->name, "tiny"), "model.name %s", m->name);
  EXPECT(m->frames == 16 && m->height == 32 && m->width == 32 && m->channels == 3, "video %dx%dx%dx%d", m->frames,
         m->height, m->width, m->channels);
  EXPECT(m->pt == 2 && m->ph == 4 && m->pw == 4, "patch %d %d %d", m->pt, m->ph, m->pw);
  EXPECT(m->dim == 256 && m->depth == 6 && m->heads == 4 && m->mlp_ratio == 4, "sizes");
  EXPECT(m->text_length == 32 && m->text_layers == 2 && m->vocab == 4096, "text");
  EXPECT(m->tokens == 512, "N = %d, expected 512", m->tokens);
  EXPECT(m->patch_dim == 96, "P = %d, expected 96", m->patch_dim);
  EXPECT(m->grid_t == 8 && m->grid_h == 8 && m->grid_w == 8, "grid");
  EXPECT(m->head_dim == 64 && m->freq_dim == 256, "head_dim %d freq_dim %d", m->head_dim, m->freq_dim);
  EXPECT(m->rope[0] == 16 && m->rope[1] == 24 && m->rope[2] == 24, "rope %d/%d/%d", m->rope[0], m->rope[1],
         m->rope[2]);
  EXPECT(c.train.steps == 50 && c.train.batch == 4 && c.train.warmup == 10 && c.train.log_every == 5, "train ints");
  EXPECT(c.train.lr == 1e-3f && c.train.min_lr == 1e-4f, "lr %g min_lr %g", c.train.lr, c.train.min_lr);
  EXPECT(!strcmp(c.train.out, "runs/tiny") && c.train.resume[0] == 0, "out '%s'", c.train.out);
  EXPECT(c.data.path[0] == 0 && c.data.p_drop == 0.1f, "data");
  EXPECT(c.parallel.tp == 1 && c.parallel.sp == 1 && c.parallel.dp == 1, "parallel");
  EXPECT(!strcmp(c.sample.sampler, "euler") && c.sample.steps == 30 && c.sample.cfg == 4.0f, "sample");
  EXPECT(!strcmp(c.run.device, "cpu") && !strcmp(c.run.precision, "fp32"), "run");
  EXPECT(!strcmp(c.path, "configs/train/tiny.yaml"), "path %s", c.path);
  // Defaults where the file is silent.
  EXPECT(c.train.beta2 == 0.999f && c.train.eps == 1e-8f && c.train.keep_ckpts == 3, "train defaults");
  EXPECT(c.train.p_cond_none == 0.6f && c.train.max_bad_steps == 5, "conditioning defaults");
}

static void test_config_overrides(void) {
  Config c;
  char *ov[] = {"train.lr=2e-3", "model.video.frames=8", "model.patch=[1,2,2]", "train.out=runs/x y",
                "train.seed=12345678901", "sample.sampler=heun", "parallel.tp=2", "parallel.sp=2"};
  MUST(config_load(&c, "configs/train/tiny.yaml", (int)(sizeof ov / sizeof ov[0]), ov, &tl_err));
  EXPECT(c.train.lr == 2e-3f, "override lr %g", c.train.lr);
  EXPECT(c.model.frames == 8 && c.model.pt == 1 && c.model.ph == 2, "override frames/patch");
  EXPECT(c.model.tokens == 8 * 16 * 16 && c.model.patch_dim == 12, "N %d P %d", c.model.tokens, c.model.patch_dim);
  EXPECT(!strcmp(c.train.out, "runs/x y"), "override out '%s'", c.train.out);
  EXPECT(c.train.seed == 12345678901ull, "override seed");
  EXPECT(!strcmp(c.sample.sampler, "heun") && c.parallel.tp == 2 && c.parallel.sp == 2, "override enum / ints");
  // Later overrides win; a model file replaces the model section.
  char *ov2[] = {"train.steps=3", "train.steps=4", "model=configs/model/xl.yaml"};
  MUST(config_load(&c, "configs/train/tiny.yaml", 3, ov2, &tl_err));
  EXPECT(c.train.steps == 4, "last override wins: %d", c.train.steps);
  EXPECT(!strcmp(c.model.name, "xl") && c.model.dim == 1152 && c.model.depth == 28, "model=FILE override");
}

static void test_config_models(void) {
  const struct { const char *path; int dim, heads, hd, rt, rh, n, p; } want[] = {
      {"configs/model/tiny.yaml", 256, 4, 64, 16, 24, 512, 96},
      {"configs/model/s.yaml", 384, 6, 64, 16, 24, 4096, 16},
      {"configs/model/b.yaml", 768, 12, 64, 16, 24, 4096, 16},
      {"configs/model/xl.yaml", 1152, 16, 72, 20, 26, 4096, 16},
  };
  for (int i = 0; i < 4; i++) {
    Config c;
    MUST(config_load(&c, want[i].path, 0, NULL, &tl_err));  // a model file is itself a valid config
    const ModelConfig *m = &c.model;
    EXPECT(m->dim == want[i].dim && m->heads == want[i].heads && m->head_dim == want[i].hd, "%s sizes", want[i].path);
    EXPECT(m->rope[0] == want[i].rt && m->rope[1] == want[i].rh && m->rope[2] == want[i].rh, "%s rope %d/%d/%d",
           want[i].path, m->rope[0], m->rope[1], m->rope[2]);
    EXPECT(m->tokens == want[i].n && m->patch_dim == want[i].p, "%s N %d P %d", want[i].path, m->tokens,
           m->patch_dim);
    EXPECT(m->rope[0] + m->rope[1] + m->rope[2] == m->head_dim, "%s rope sum", want[i].path);
  }
}

static ModelConfig hand_model(void) {
  return (ModelConfig){.name = "hand", .frames = 4, .height = 8, .width = 8, .channels = 3, .pt = 1, .ph = 2, .pw = 2,
                       .dim = 48, .depth = 1, .heads = 4, .mlp_ratio = 2, .text_length = 4, .text_layers = 1,
                       .vocab = 16};
}

// The exit code a command would end with: 0 when m is valid, else the
// returned error's code (2 = user error).
static int exit_status_of_finalize(ModelConfig m) {
  TsrErr e;
  return model_config_finalize(&m, "test", &e) ? e.code : 0;
}

static void test_model_finalize(void) {
  ModelConfig m = hand_model();
  MUST(model_config_finalize(&m, "test", &tl_err));
  EXPECT(m.head_dim == 12 && m.freq_dim == 256, "hand head_dim %d freq %d", m.head_dim, m.freq_dim);
  EXPECT(m.rope[1] == 4 && m.rope[2] == 4 && m.rope[0] == 4, "hand rope %d/%d/%d", m.rope[0], m.rope[1], m.rope[2]);
  EXPECT(m.tokens == 4 * 4 * 4 && m.patch_dim == 12 && m.grid_h == 4, "hand N %d P %d", m.tokens, m.patch_dim);
  ModelConfig bad = hand_model();
  bad.frames = 5, bad.pt = 2;
  EXPECT(exit_status_of_finalize(bad) == 2, "frames %% pt must be refused with exit 2");
  bad = hand_model(), bad.heads = 5;
  EXPECT(exit_status_of_finalize(bad) == 2, "dim %% heads must be refused");
  bad = hand_model(), bad.rope[0] = 2, bad.rope[1] = 4, bad.rope[2] = 4;
  EXPECT(exit_status_of_finalize(bad) == 2, "rope not summing to head_dim must be refused");
  bad = hand_model(), bad.vocab = 3;
  EXPECT(exit_status_of_finalize(bad) == 2, "vocab < 4 must be refused");
  EXPECT(exit_status_of_finalize(hand_model()) == 0, "a good hand-built model passes");
}

// Random123 kat_vectors, "philox4x32 10": counter[4], key[2] -> out[4].
static void test_philox_kat(void) {
  static const uint32_t kat[3][10] = {
      {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
       0x6d5451fd},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
       0x24126ea1},
  };
  for (int i = 0; i < 3; i++) {
    uint32_t out[4];
    uint64_t seed = (uint64_t)kat[i][4] | (uint64_t)kat[i][5] << 32;  // key lo = low word of the seed
    philox4x32(seed, kat[i], out);
    for (int j = 0; j < 4; j++)
      EXPECT(out[j] == kat[i][6 + j], "philox kat %d word %d: %08x, expected %08x", i, j, out[j], kat[i][6 + j]);
  }
}

static void test_rng_moments(void) {
  const int n = 100000;
  double s = 0, s2 = 0, us = 0;
  float umin = 1, umax = 0;
  for (int i = 0; i < n; i++) {
    double x = rng_normal(42, RNG_TEST, 7, 0, (uint32_t)i);
    s += x, s2 += x * x;
    float u = rng_uniform(42, RNG_TEST, 8, 0, (uint32_t)i);
    us += u;
    umin = u < umin ? u : umin, umax = u > umax ? u : umax;
  }
  double mean = s / n, var = s2 / n - mean * mean;
  printf("  normal: mean %.4f var %.4f; uniform mean %.4f in [%g, %g]\n", mean, var, us / n, umin, umax);
  EXPECT(fabs(mean) < 0.02, "normal mean %g", mean);  // standard error 0.003
  EXPECT(fabs(var - 1) < 0.03, "normal variance %g", var);  // standard error 0.0045
  EXPECT(fabs(us / n - 0.5) < 0.01 && umin > 0 && umax < 1, "uniform mean / range");
  EXPECT(rng_normal(42, RNG_TEST, 7, 0, 5) == rng_normal(42, RNG_TEST, 7, 0, 5), "draws are pure functions");
  EXPECT(rng_normal(42, RNG_TEST, 7, 0, 5) != rng_normal(43, RNG_TEST, 7, 0, 5), "seed changes the draw");
  float buf[8];
  rng_normal_fill(buf, 8, 42, RNG_TEST, 7, 0, 3);
  EXPECT(buf[2] == rng_normal(42, RNG_TEST, 7, 0, 5), "rng_normal_fill matches rng_normal");
}

static void test_params(void) {
  ParamTable t = {0};
  int64_t w1[2] = {37, 19}, b1[1] = {37}, w2[2] = {300, 200}, n1[1] = {5}, e1[2] = {50, 64};
  params_add(&t, "a.weight", 2, w1, INIT_XAVIER);
  params_add(&t, "a.bias", 1, b1, INIT_ZERO);
  params_add(&t, "b.weight", 2, w2, INIT_XAVIER);
  params_add(&t, "norm.weight", 1, n1, INIT_ONE);
  params_add(&t, "emb", 2, e1, INIT_NORMAL);
  params_alloc(&t);
  params_init(&t, 7);
  size_t end = 0;
  for (int i = 0; i < t.count; i++) {
    const ParamInfo *p = &t.items[i];
    EXPECT(p->offset % 16 == 0, "%s offset %zu not 64-byte aligned", p->name, p->offset);
    EXPECT(p->offset >= end, "%s overlaps the previous parameter", p->name);
    end = p->offset + p->numel;
  }
  EXPECT(t.total == end, "total %zu, last end %zu", t.total, end);
  EXPECT(params_find(&t, "b.weight") == &t.items[2] && !params_find(&t, "nope"), "params_find");
  for (int k = 0; k < 2; k++) {  // the two Xavier tensors
    const ParamInfo *p = params_find(&t, k ? "b.weight" : "a.weight");
    float bound = sqrtf(6.0f / (float)(p->shape[0] + p->shape[1])), mx = 0;
    for (size_t e = 0; e < p->numel; e++) mx = fmaxf(mx, fabsf(t.data[p->offset + e]));
    EXPECT(mx <= bound && mx > 0.9f * bound, "%s: max |w| %g, Xavier bound %g", p->name, mx, bound);
  }
  const ParamInfo *z = params_find(&t, "a.bias"), *o = params_find(&t, "norm.weight"), *e = params_find(&t, "emb");
  int ok = 1;
  for (size_t i = 0; i < z->numel; i++) ok &= t.data[z->offset + i] == 0.0f;
  for (size_t i = 0; i < o->numel; i++) ok &= t.data[o->offset + i] == 1.0f;
  EXPECT(ok, "zero / one init");
  double s2 = 0;
  for (size_t i = 0; i < e->numel; i++) s2 += (double)t.data[e->offset + i] * t.data[e->offset + i];
  double sd = sqrt(s2 / (double)e->numel);
  EXPECT(fabs(sd - 0.02) < 0.002, "normal init std %g, expected 0.02", sd);
  float first = t.data[0];
  params_init(&t, 7);
  EXPECT(t.data[0] == first, "init is deterministic");
  params_free(&t);
}

// The same layout code runs on a measuring arena and on a real one.
static void layout(Arena *a, float **ptrs, size_t *ends) {
  const size_t sizes[5] = {1, 100, 17, 4096, 3};
  for (int i = 0; i < 5; i++) {
    ptrs[i] = arena_floats(a, sizes[i]);
    ends[i] = a->used;
  }
}

static void test_arena(void) {
  Arena a;
  float *p[5], *q[5];
  size_t m_end[5], r_end[5], r2_end[5];
  arena_measure(&a);
  layout(&a, p, m_end);
  EXPECT(p[0] == NULL && a.peak == m_end[4], "measuring arena: NULL pointers, peak %zu", a.peak);
  size_t peak = a.peak;
  arena_init(&a, NULL, peak);
  layout(&a, p, r_end);
  for (int i = 0; i < 5; i++) {
    EXPECT(r_end[i] == m_end[i], "allocation %d ends at %zu, measured %zu", i, r_end[i], m_end[i]);
    EXPECT(((uintptr_t)p[i] & 63) == 0, "allocation %d not 64-byte aligned", i);
  }
  EXPECT(p[1] - p[0] >= 16 && (char *)p[4] + 3 * sizeof(float) <= a.base + a.size, "allocations inside the arena");
  arena_reset(&a);
  layout(&a, q, r2_end);
  EXPECT(!memcmp(p, q, sizeof p) && a.peak == peak, "after reset the same pointers");
  arena_free(&a);
}

int main(void) {
  test_config_tiny();
  test_config_overrides();
  test_config_models();
  test_model_finalize();
  test_philox_kat();
  test_rng_moments();
  test_params();
  test_arena();
  return tl_finish("test_core");
}
