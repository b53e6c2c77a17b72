// conv3d throughput on the demo autoencoder's shapes (configs/vae/demo.yaml,
// clips of 17x32x32): GFLOP/s of the op (oneDNN on plain ncdhw/oidhw, what
// the backend calls), of its plain reference, and of oneDNN's forward on
// the layouts it prefers (format `any`: blocked nCdhw8c, the primitive alone,
// without the reorders a caller would add) to show what plain layouts cost.
// Build and run (docs/vae.md "Measured"):
//   make conv3d-bench   (mk/vaechunk.mk: built against build/libtessera.a with
//   the project's flags, run with OMP_NUM_THREADS, default 1)
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/ops.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float *rnd(size_t n) {
  float *x = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
  return x;
}

// best of `reps` runs of fn, seconds
#define BEST(reps, CALL)                              \
  ({                                                  \
    double best_ = 1e30;                              \
    for (int r_ = 0; r_ < (reps); r_++) {             \
      double t0_ = now();                             \
      CALL;                                           \
      double dt_ = now() - t0_;                       \
      if (dt_ < best_) best_ = dt_;                   \
    }                                                 \
    best_;                                            \
  })

// oneDNN forward with `any` layouts: the primitive's own time on its preferred layouts.
static double blocked_forward(const Conv3dGeom *g, int reps, char *impl, size_t implsz) {
  dnnl_engine_t eng;
  dnnl_engine_create(&eng, dnnl_cpu, 0);
  dnnl_memory_desc_t s, w, b, d;
  dnnl_dims_t sd = {g->n, g->c, g->d, g->h, g->w}, wd = {g->o, g->c, g->kd, g->kh, g->kw}, bd = {g->o},
              dd = {g->n, g->o, conv3d_od(g), conv3d_oh(g), conv3d_ow(g)};
  dnnl_memory_desc_init_by_tag(&s, 5, sd, dnnl_f32, dnnl_format_tag_any);
  dnnl_memory_desc_init_by_tag(&w, 5, wd, dnnl_f32, dnnl_format_tag_any);
  dnnl_memory_desc_init_by_tag(&b, 1, bd, dnnl_f32, dnnl_x);
  dnnl_memory_desc_init_by_tag(&d, 5, dd, dnnl_f32, dnnl_format_tag_any);
  dnnl_dims_t st = {g->sd, g->sh, g->sw}, pl = {g->pd[0], g->ph[0], g->pw[0]}, pr = {g->pd[1], g->ph[1], g->pw[1]};
  dnnl_convolution_desc_t cd;
  dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &s, &w, &b, &d, st, pl, pr);
  dnnl_primitive_desc_t pd;
  dnnl_primitive_desc_create(&pd, &cd, NULL, eng, NULL);
  const char *name = "?";
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
  snprintf(impl, implsz, "%s", name);
  dnnl_primitive_t prim;
  dnnl_primitive_create(&prim, pd);
  dnnl_stream_t stream;
  dnnl_stream_create(&stream, eng, dnnl_stream_default_flags);
  int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
  dnnl_exec_arg_t ex[4];
  for (int i = 0; i < 4; i++) {
    dnnl_memory_t m;
    dnnl_memory_create(&m, dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, args[i]), eng, DNNL_MEMORY_ALLOCATE);
    ex[i] = (dnnl_exec_arg_t){args[i], m};
  }
  double t = BEST(reps, (dnnl_primitive_execute(prim, stream, 4, ex), dnnl_stream_wait(stream)));
  for (int i = 0; i < 4; i++) dnnl_memory_destroy(ex[i].memory);
  dnnl_primitive_destroy(prim);
  dnnl_primitive_desc_destroy(pd);
  dnnl_stream_destroy(stream);
  dnnl_engine_destroy(eng);
  return t;
}

static void bench(const char *name, Conv3dGeom g, int ref) {
  const size_t nin = (size_t)g.n * g.c * g.d * g.h * g.w, nw = (size_t)g.o * g.c * g.kd * g.kh * g.kw,
               nout = (size_t)g.n * g.o * conv3d_od(&g) * conv3d_oh(&g) * conv3d_ow(&g);
  float *x = rnd(nin), *w = rnd(nw), *b = rnd(g.o), *y = rnd(nout), *dx = rnd(nin), *dw = rnd(nw), *db = rnd(g.o);
  const double flop = 2.0 * nout * g.c * g.kd * g.kh * g.kw;
  conv3d_forward(y, x, w, b, &g);  // first call: primitive creation (then cached by oneDNN)
  double t0 = now();
  conv3d_forward(y, x, w, b, &g);
  const double tf = BEST(5, conv3d_forward(y, x, w, b, &g));
  const double tbd = BEST(5, conv3d_backward_data(dx, y, w, &g));
  const double tbw = BEST(5, conv3d_backward_weights(dw, db, y, x, &g));
  (void)t0;
  char impl[128];
  const double tblk = blocked_forward(&g, 5, impl, sizeof impl);
  printf("%-28s fwd %7.2f ms %6.1f GF/s | bwd-data %7.2f ms %6.1f | bwd-w %7.2f ms %6.1f | any-layout fwd %7.2f ms %6.1f (%s)",
         name, tf * 1e3, flop / tf * 1e-9, tbd * 1e3, flop / tbd * 1e-9, tbw * 1e3, flop / tbw * 1e-9, tblk * 1e3,
         flop / tblk * 1e-9, impl);
  if (ref) {
    const double tr = BEST(1, conv3d_forward_ref(y, x, w, b, &g));
    printf(" | ref fwd %7.1f ms %5.2f", tr * 1e3, flop / tr * 1e-9);
  }
  printf("\n");
  free(x), free(w), free(b), free(y), free(dx), free(dw), free(db);
}

int main(void) {
  // the demo (base 32, mult [1,2,2], 4x4x4) on 2 clips of 17x32x32
  bench("L0 32->32 17x32x32", (Conv3dGeom){2, 32, 17, 32, 32, 32, 3, 3, 3, 1, 1, 1, {2, 0}, {1, 1}, {1, 1}}, 1);
  bench("down0 32 s2 17x32x32", (Conv3dGeom){2, 32, 17, 32, 32, 32, 3, 3, 3, 2, 2, 2, {2, 0}, {0, 1}, {0, 1}}, 0);
  bench("L1 64->64 9x16x16", (Conv3dGeom){2, 64, 9, 16, 16, 64, 3, 3, 3, 1, 1, 1, {2, 0}, {1, 1}, {1, 1}}, 0);
  bench("L2 64->64 5x8x8", (Conv3dGeom){2, 64, 5, 8, 8, 64, 3, 3, 3, 1, 1, 1, {2, 0}, {1, 1}, {1, 1}}, 0);
  bench("conv_in 3->32 17x32x32", (Conv3dGeom){2, 3, 17, 32, 32, 32, 3, 3, 3, 1, 1, 1, {2, 0}, {1, 1}, {1, 1}}, 0);
  return 0;
}
