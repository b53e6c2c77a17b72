// Tensor and sequence parallel model against the single-rank model, run
// under mpirun (tests/test_model_parallel.sh: 2 and 4 ranks). For each layout
// (tp, sp; the remaining ranks are dp and take different samples) every rank
// builds the sharded model and, in the same process, the tp = sp = 1 model
// with the same logical weights (params_init_uniform draws by logical index),
// runs forward + backward on its share of one batch, and checks:
//  - the output, gathered over sp, equals the single-rank output;
//  - the losses summed over dp x sp equal the single-rank loss;
//  - every parameter gradient, summed over dp x sp (the trainer's job), equals
//    the matching slice of the single-rank gradient (the local shard under tp);
//  - replicated parameters get the same gradient on every tp rank.
// Sequence parallelism is Ulysses x ring (layout.ring, docs/ring.md): ring
// alone, Ulysses x ring and tp x ring on the 4-head model, and ring alone on
// a 3-head model (which Ulysses cannot split); the ring's point-to-point bytes
// and the Ulysses all-to-all bytes per step are checked against docs/ring.md.
// Then the sampler: sequence-parallel sampling and CFG-parallel (the two
// guidance branches on two ranks), on forward-only activations, give the
// single-rank clip (made with the training activations).
// Without mpirun (one rank) there is nothing to compare: it says so, exit 0.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/params.h"
#include "infer/sampler.h"
#include "model/model.h"
#include "testlib.h"

// relative error allowed: float reassociation of sharded sums only
#define TOL 1e-5

static ModelConfig small_config(int heads) {
  ModelConfig c = {0};
  strcpy(c.name, "parallel");
  c.frames = 4, c.height = 8, c.width = 8, c.channels = 3;
  c.pt = 1, c.ph = 4, c.pw = 4;  // grid 4x2x2: 16 tokens, 4 per latent frame
  c.dim = 48, c.depth = 2, c.heads = heads, c.mlp_ratio = 2;
  c.text_length = 6, c.text_layers = 1, c.vocab = 30, c.freq_dim = 32;
  MUST(model_config_finalize(&c, "test_model_parallel", &tl_err));
  return c;
}

enum { B = 4 };
// Sample s's caption and conditioned latent frames: some samples have none,
// one has its first two frames given (a whole sp=2 slice with no loss tokens).
static const int32_t TOKENS[B * 6] = {1, 5, 9, 13, 0, 0, 1, 7, 0, 0, 0, 0, 1, 3, 4, 5, 6, 2, 1, 0, 0, 0, 0, 0};
static const int32_t NTOKENS[B] = {4, 2, 6, 1};
static const uint8_t COND[B * 4] = {1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

// Logical (full-tensor) row-major index of local element e of a sharded
// parameter, restated from the contract in core/params.h.
static size_t logical_of(const ParamInfo *p, size_t e) {
  if (p->split_dim < 0) return e;
  int64_t idx[PARAM_MAX_DIM];
  for (int i = p->ndim - 1; i >= 0; i--) {
    idx[i] = (int64_t)(e % (size_t)p->shape[i]);
    e /= (size_t)p->shape[i];
  }
  const int d = p->split_dim;
  const int64_t part_len = p->full[d] / p->split_parts, slice = part_len / p->split_ways;
  idx[d] = idx[d] / slice * part_len + p->split_index * slice + idx[d] % slice;
  size_t g = 0;
  for (int i = 0; i < p->ndim; i++) g = g * (size_t)p->full[i] + (size_t)idx[i];
  return g;
}

// The worst error over all ranks, so every rank agrees on the verdict.
static double worst(CommGroup *world, double e) {
  comm_allreduce(world, &e, 1, COMM_F64, COMM_MAX);
  return e;
}

typedef struct {
  float *x, *target, *t;  // [B,N,P] x2, [B]
  float *out;             // [B,N,P] single-rank output
  float loss;
  ParamTable ref;         // single-rank parameters and gradients
} Reference;

static void reference(const ModelConfig *c, Reference *r) {
  const size_t NP = (size_t)c->tokens * c->patch_dim;
  r->x = calloc(B * NP, sizeof(float));
  r->target = calloc(B * NP, sizeof(float));
  r->out = calloc(B * NP, sizeof(float));
  r->t = calloc(B, sizeof(float));
  tl_fill(r->x, (int64_t)(B * NP), 1);
  tl_fill(r->target, (int64_t)(B * NP), 2);
  for (int s = 0; s < B; s++) r->t[s] = 0.2f + 0.2f * (float)s;
  Model m;
  model_build(&m, c, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
  params_init_uniform(&m.params, 7, 0.3f);
  model_alloc_acts(&m, B);
  Batch b = {.B = B, .x = r->x, .t = r->t, .tokens = (int32_t *)TOKENS, .ntokens = (int32_t *)NTOKENS,
             .cond = (uint8_t *)COND, .target = r->target};
  params_zero_grad(&m.params);
  r->loss = model_forward(&m, &b);
  model_backward(&m, &b);
  memcpy(r->out, m.out, B * NP * sizeof(float));
  // keep the table (values and gradients); drop the rest of the model
  r->ref = m.params;
  m.params = (ParamTable){0};
  model_free(&m);
}

// One layout: this rank's dp coordinate picks samples dp_rank*Bl .. of the
// batch (Bl = B/dp), its sp coordinate the token slice.
// built: the config the sharded model is built with (NULL: c). A larger one is
// a maximum (docs/choices.md "Native sizes"): the model then runs at c's
// window (model_set_window) against the single-rank model built at c.
static void check_layout(CommContext *world_cc, const ModelConfig *c, const Reference *r, int tp, int sp, int ring,
                         const ModelConfig *built) {
  const int W = comm_world_size(), dp = W / (tp * sp);
  CommContext cc;
  comm_layout(&cc, dp, sp, tp, "test_model_parallel");
  CommGroup *world = &world_cc->world;
  const int N = c->tokens / sp, Nf = c->tokens, P = c->patch_dim, L = c->text_length, gt = c->grid_t;
  const int Bl = B / dp, s0 = cc.dp_rank * Bl, n0 = cc.sp_rank * N;
  char name[64];
  snprintf(name, sizeof name, "%dh tp%d x sp%d(ring%d) x dp%d%s", c->heads, tp, sp, ring, dp, built ? " 8x8 of 8x16" : "");

  Model m;
  model_build(&m, built ? built : c,
              (ModelLayout){.tp = tp, .sp = sp, .tp_rank = cc.tp_rank, .sp_rank = cc.sp_rank, .tp_group = &cc.tp_group,
                            .sp_group = &cc.sp_group, .ring = ring}, backend_cpu());
  params_init_uniform(&m.params, 7, 0.3f);
  if (built) MUST(model_set_window(&m, c->frames, c->height, c->width, &tl_err));
  model_alloc_acts(&m, Bl);

  // this rank's share of the batch
  float *x = calloc((size_t)Bl * N * P, sizeof(float)), *target = calloc((size_t)Bl * N * P, sizeof(float));
  for (int s = 0; s < Bl; s++) {
    memcpy(x + (size_t)s * N * P, r->x + ((size_t)(s0 + s) * Nf + n0) * P, (size_t)N * P * sizeof(float));
    memcpy(target + (size_t)s * N * P, r->target + ((size_t)(s0 + s) * Nf + n0) * P, (size_t)N * P * sizeof(float));
  }
  double loss_tokens = 0.0;  // dp > 1: the global count (the trainer's job); else counted over sp
  for (int s = 0; s < B; s++)
    for (int f = 0; f < gt; f++) loss_tokens += COND[s * gt + f] ? 0.0 : (double)Nf / gt;
  Batch b = {.B = Bl, .x = x, .t = r->t + s0, .tokens = (int32_t *)TOKENS + s0 * L, .ntokens = (int32_t *)NTOKENS + s0,
             .cond = (uint8_t *)COND + s0 * gt, .target = target, .loss_tokens = dp > 1 ? loss_tokens : 0.0};
  params_zero_grad(&m.params);
  if (m.ring_group) comm_stats_reset(m.ring_group);
  if (m.ulysses_group) comm_stats_reset(m.ulysses_group);
  double loss = model_forward(&m, &b);
  model_backward(&m, &b);

  // bytes (docs/ring.md): per block, the forward sends R-1 K/V blocks, the
  // backward R-1 K/V blocks and R dK/dV sums, each 2*X floats with X =
  // Bl*(Nf/R)*(H/(tp*U)) *hd; Ulysses 8 all-to-alls of (U-1) blocks of Bl*N*hd*H/(tp*U)
  const int R = ring, U = sp / ring, hd = c->dim / c->heads, Wh = c->heads / (tp * U) * hd;
  const uint64_t X = (uint64_t)Bl * (Nf / R) * Wh;
  const uint64_t want_ring = R > 1 ? (uint64_t)c->depth * ((R - 1) + (R - 1) + R) * 2 * X * 4 : 0;
  const uint64_t want_uly = U > 1 ? (uint64_t)c->depth * 8 * (U - 1) * ((uint64_t)Bl * N * Wh) * 4 : 0;
  const uint64_t got_ring = m.ring_group ? m.ring_group->stats.bytes[COMM_STAT_P2P] : 0;
  const uint64_t got_uly = m.ulysses_group ? m.ulysses_group->stats.bytes[COMM_STAT_ALLTOALL] : 0;
  EXPECT(got_ring == want_ring, "%s: ring sent %llu bytes, docs/ring.md says %llu", name, (unsigned long long)got_ring,
         (unsigned long long)want_ring);
  EXPECT(got_uly == want_uly, "%s: Ulysses sent %llu bytes, docs/ring.md says %llu", name, (unsigned long long)got_uly,
         (unsigned long long)want_uly);

  // output: gather the token slices over sp
  float *gathered = calloc((size_t)sp * Bl * N * P, sizeof(float)), *out = calloc((size_t)Bl * Nf * P, sizeof(float));
  comm_allgather(&cc.sp_group, m.out, gathered, (size_t)Bl * N * P, COMM_F32);
  for (int j = 0; j < sp; j++)
    for (int s = 0; s < Bl; s++)
      memcpy(out + ((size_t)s * Nf + (size_t)j * N) * P, gathered + (((size_t)j * Bl + s) * N) * P,
             (size_t)N * P * sizeof(float));
  double e_out = worst(world, tl_rel_err(out, r->out + (size_t)s0 * Nf * P, (int64_t)Bl * Nf * P));
  EXPECT(e_out <= TOL, "%s: output rel err %.3g", name, e_out);

  // loss: the shares over dp x sp add up to the single-rank loss
  comm_allreduce(&cc.dpsp_group, &loss, 1, COMM_F64, COMM_SUM);
  double e_loss = worst(world, fabs(loss - r->loss) / fabs(r->loss));
  EXPECT(e_loss <= TOL, "%s: loss %.9g vs %.9g", name, loss, r->loss);

  // gradients: summed over dp x sp (one call for the whole table: the ranks
  // of one tp_rank hold the same shards), against the single-rank slice
  const ParamTable *pt = &m.params;
  float *gsum = calloc(pt->total, sizeof(float)), *gmax = calloc(pt->total, sizeof(float));
  memcpy(gsum, pt->grad, pt->total * sizeof(float));
  comm_allreduce(&cc.dpsp_group, gsum, pt->total, COMM_F32, COMM_SUM);
  memcpy(gmax, gsum, pt->total * sizeof(float));
  comm_allreduce(&cc.tp_group, gmax, pt->total, COMM_F32, COMM_MAX);
  double e_grad = 0.0, e_tp = 0.0;
  const char *worst_name = "";
  for (int i = 0; i < pt->count; i++) {
    const ParamInfo *p = &pt->items[i], *q = params_find(&r->ref, p->name);
    TSR_ASSERT(q && q->numel == (size_t)p->full[0] * (p->ndim > 1 ? (size_t)p->full[1] : 1), "param %s", p->name);
    const float *g = gsum + p->offset;
    float *want = calloc(p->numel, sizeof(float));
    for (size_t e = 0; e < p->numel; e++) want[e] = r->ref.grad[q->offset + logical_of(p, e)];
    double e = tl_rel_err(g, want, (int64_t)p->numel);
    if (e > e_grad) e_grad = e, worst_name = p->name;
    if (e > TOL) printf("  rank %d %s: %s gradient rel err %.3g\n", comm_world_rank(), name, p->name, e);
    if (p->split_dim < 0) {  // replicated: the same gradient on every tp rank
      double d = tl_rel_err(g, gmax + p->offset, (int64_t)p->numel);
      if (d > e_tp) e_tp = d;
    }
    free(want);
  }
  free(gsum);
  free(gmax);
  e_grad = worst(world, e_grad);
  e_tp = worst(world, e_tp);
  EXPECT(e_grad <= TOL, "%s: gradient rel err %.3g (worst on rank %d: %s)", name, e_grad, comm_world_rank(), worst_name);
  EXPECT(e_tp <= 1e-6, "%s: replicated gradients differ over tp ranks (rel %.3g)", name, e_tp);
  if (comm_world_rank() == 0)
    printf("  %-30s output %.2e  loss %.2e  grads %.2e  tp-replicated %.1e  (tol %.0e); ring %llu B, Ulysses %llu B\n",
           name, e_out, e_loss, e_grad, e_tp, TOL, (unsigned long long)got_ring, (unsigned long long)got_uly);
  free(x);
  free(target);
  free(gathered);
  free(out);
  model_free(&m);
  comm_free(&cc);
}

// The sampler under a layout: sp splits the tokens, cfg_parallel puts the two
// guidance branches on two ranks (the pair is the sp group of a second layout
// dp/2 x 2 x (sp*tp), whose ranks differ only in the branch coordinate).
static void check_sampler(CommContext *world_cc, const ModelConfig *c, const ParamTable *ref_params, int sp, int ring,
                          int cfg_parallel, const float *want, const SamplerOptions *so, const float *x_src) {
  const int W = comm_world_size(), dp = W / sp;
  CommContext cc, pair;
  comm_layout(&cc, dp, sp, 1, "test_model_parallel");
  if (cfg_parallel) comm_layout(&pair, dp / 2, 2, sp, "test_model_parallel cfg pair");
  Model m;
  model_build(&m, c, (ModelLayout){.tp = 1, .sp = sp, .sp_rank = cc.sp_rank, .sp_group = &cc.sp_group, .ring = ring},
              backend_cpu());
  memcpy(m.params.data, ref_params->data, ref_params->total * sizeof(float));  // replicated: same table
  const int Bs = 2;
  model_alloc_acts_forward(&m, cfg_parallel ? Bs : 2 * Bs);  // sampling needs no backward
  SamplerOptions o = *so;
  o.cfg_group = cfg_parallel ? &pair.sp_group : NULL;
  const size_t n = (size_t)Bs * c->tokens * c->patch_dim;
  float *out = calloc(n, sizeof(float));
  sample_flow(&m, &o, Bs, TOKENS, NTOKENS, COND, x_src, out);
  double e = worst(&world_cc->world, tl_rel_err(out, want, (int64_t)n));
  char name[64];
  snprintf(name, sizeof name, "%dh sampler sp%d ring%d%s", c->heads, sp, ring, cfg_parallel ? " cfg-parallel" : "");
  EXPECT(e <= TOL, "%s: clip rel err %.3g", name, e);
  if (comm_world_rank() == 0) printf("  %-28s clip rel err %.2e (tol %.0e)\n", name, e, TOL);
  free(out);
  model_free(&m);
  if (cfg_parallel) comm_free(&pair);
  comm_free(&cc);
}

int main(int argc, char **argv) {
  comm_init(&argc, &argv);
  const int W = comm_world_size();
  if (W == 1) {
    printf("test_model_parallel: one rank, nothing to compare (tests/test_model_parallel.sh runs it under mpirun)\n");
    return 0;
  }
  CommContext wc;
  comm_layout(&wc, W, 1, 1, "test_model_parallel");
  ModelConfig c = small_config(4);
  Reference r;
  reference(&c, &r);

  // (tp, sp, ring) layouts of this world size; ranks left over are dp
  const int layouts[][3] = {{2, 1, 1}, {1, 2, 1}, {2, 2, 1}, {1, 4, 1}, {4, 1, 1},
                            {1, 2, 2}, {1, 4, 2}, {1, 4, 4}, {2, 2, 2}};
  for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
    const int tp = layouts[i][0], sp = layouts[i][1], ring = layouts[i][2];
    if (W % (tp * sp) || B % (W / (tp * sp))) continue;
    check_layout(&wc, &c, &r, tp, sp, ring, NULL);
  }
  // a model whose maximum is 4x8x16 (32 tokens) run at 4x8x8 (RoPE, masks and
  // the sp/ring/tp token split on the smaller grid)
  ModelConfig wide = c;
  wide.width = 16;
  MUST(model_config_finalize(&wide, "test_model_parallel", &tl_err));
  const int smaller[][3] = {{1, 2, 1}, {2, 2, 1}, {1, 2, 2}, {1, 4, 2}};
  for (size_t i = 0; i < sizeof smaller / sizeof smaller[0]; i++) {
    const int tp = smaller[i][0], sp = smaller[i][1], ring = smaller[i][2];
    if (W % (tp * sp) || B % (W / (tp * sp))) continue;
    check_layout(&wc, &c, &r, tp, sp, ring, &wide);
  }
  // 3 heads (the demo model's count): no Ulysses degree but 1 divides them; ring does
  ModelConfig c3 = small_config(3);
  Reference r3;
  reference(&c3, &r3);
  for (int ring = 2; ring <= W; ring *= 2) check_layout(&wc, &c3, &r3, 1, ring, ring, NULL);

  // sampler: t2v/i2v mix with guidance and Heun, against one rank
  SamplerOptions so = {.steps = 3, .cfg = 2.5f, .shift = 2.0f, .heun = 1, .seed = 5, .t0 = 1.0f};
  const size_t n = (size_t)2 * c.tokens * c.patch_dim;
  float *x_src = calloc(n, sizeof(float)), *want = calloc(n, sizeof(float));
  tl_fill(x_src, (int64_t)n, 3);
  Model one;
  model_build(&one, &c, (ModelLayout){.tp = 1, .sp = 1}, backend_cpu());
  memcpy(one.params.data, r.ref.data, r.ref.total * sizeof(float));
  model_alloc_acts(&one, 4);
  sample_flow(&one, &so, 2, TOKENS, NTOKENS, COND, x_src, want);
  model_free(&one);
  check_sampler(&wc, &c, &r.ref, W, 1, 0, want, &so, x_src);
  check_sampler(&wc, &c, &r.ref, W, W, 0, want, &so, x_src);  // ring alone, forward-only activations
  if (W == 4) check_sampler(&wc, &c, &r.ref, 4, 2, 0, want, &so, x_src);
  check_sampler(&wc, &c, &r.ref, 1, 1, 1, want, &so, x_src);
  if (W == 4) check_sampler(&wc, &c, &r.ref, 2, 1, 1, want, &so, x_src);
  if (W == 4) check_sampler(&wc, &c, &r.ref, 2, 2, 1, want, &so, x_src);

  int failed = tl_failures;
  comm_allreduce(&wc.world, &failed, 1, COMM_I32, COMM_MAX);
  if (comm_world_rank() == 0) tl_finish("test_model_parallel");
  params_free(&r.ref);
  params_free(&r3.ref);
  comm_free(&wc);
  return failed ? 1 : 0;
}
