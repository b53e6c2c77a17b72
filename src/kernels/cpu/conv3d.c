// 3D convolution, fast version: oneDNN's convolution primitives (forward
// training, backward data, backward weights + bias) on the plain NCDHW /
// OIDHW layouts, so no reorder is needed around them (docs/vae.md "Ops").
// Primitive descriptors are created per call; oneDNN's primitive cache
// (on by default) makes a repeated geometry cheap. oneDNN writes its
// results (`=`): the backward ops, which accumulate (`+=`, ops.h), write
// into a grow-only per-thread scratch and add it. Without oneDNN
// (TSR_HAVE_DNNL undefined) these are the references.
#include <stddef.h>
#include <string.h>

#include "core/error.h"
#include "kernels/ops.h"

#ifndef TSR_HAVE_DNNL
void conv3d_forward(float *out, const float *in, const float *w, const float *b, const Conv3dGeom *g) {
  conv3d_forward_ref(out, in, w, b, g);
}
void conv3d_backward_data(float *din, const float *dout, const float *w, const Conv3dGeom *g) {
  conv3d_backward_data_ref(din, dout, w, g);
}
void conv3d_backward_weights(float *dw, float *db, const float *dout, const float *in, const Conv3dGeom *g) {
  conv3d_backward_weights_ref(dw, db, dout, in, g);
}
#else
#include <dnnl.h>
#include <pthread.h>

#define DNNL_CHECK(call)                                                                          \
  do {                                                                                            \
    dnnl_status_t st_ = (call);                                                                   \
    if (st_ != dnnl_success) tsr_fatal(__FILE__, __LINE__, "oneDNN", "%s: status %d", #call, (int)st_); \
  } while (0)

static dnnl_engine_t engine;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static void engine_make(void) { DNNL_CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0)); }

// Memory descriptors of one call: src, weights, bias, dst; strides, paddings.
typedef struct {
  dnnl_memory_desc_t src, wei, bias, dst;
  dnnl_dims_t strides, pad_l, pad_r;
} Descs;

static Descs descs(const Conv3dGeom *g) {
  Descs d;
  dnnl_dims_t src = {g->n, g->c, g->d, g->h, g->w}, wei = {g->o, g->c, g->kd, g->kh, g->kw}, bias = {g->o},
              dst = {g->n, g->o, conv3d_od(g), conv3d_oh(g), conv3d_ow(g)};
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&d.src, 5, src, dnnl_f32, dnnl_ncdhw));
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&d.wei, 5, wei, dnnl_f32, dnnl_oidhw));
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&d.bias, 1, bias, dnnl_f32, dnnl_x));
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&d.dst, 5, dst, dnnl_f32, dnnl_ncdhw));
  d.strides[0] = g->sd, d.strides[1] = g->sh, d.strides[2] = g->sw;
  d.pad_l[0] = g->pd[0], d.pad_l[1] = g->ph[0], d.pad_l[2] = g->pw[0];
  d.pad_r[0] = g->pd[1], d.pad_r[1] = g->ph[1], d.pad_r[2] = g->pw[1];
  return d;
}

static dnnl_primitive_desc_t fwd_pd(const Descs *d, int with_bias) {
  dnnl_convolution_desc_t cd;
  DNNL_CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &d->src,
                                                &d->wei, with_bias ? &d->bias : NULL, &d->dst, d->strides,
                                                d->pad_l, d->pad_r));
  dnnl_primitive_desc_t pd;
  DNNL_CHECK(dnnl_primitive_desc_create(&pd, &cd, NULL, engine, NULL));
  return pd;
}

// Runs the primitive of pd on (arg, pointer) pairs and waits for it.
static void run(dnnl_primitive_desc_t pd, int nargs, const int *args, void *const *ptrs) {
  dnnl_primitive_t prim;
  DNNL_CHECK(dnnl_primitive_create(&prim, pd));
  dnnl_stream_t stream;
  DNNL_CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
  dnnl_exec_arg_t ex[8];
  dnnl_memory_t mem[8];
  for (int i = 0; i < nargs; i++) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, args[i]);
    DNNL_CHECK(dnnl_memory_create(&mem[i], md, engine, ptrs[i]));
    ex[i] = (dnnl_exec_arg_t){args[i], mem[i]};
  }
  DNNL_CHECK(dnnl_primitive_execute(prim, stream, nargs, ex));
  DNNL_CHECK(dnnl_stream_wait(stream));
  for (int i = 0; i < nargs; i++) dnnl_memory_destroy(mem[i]);
  dnnl_stream_destroy(stream);
  dnnl_primitive_destroy(prim);
}

// Grow-only scratch per thread (freed when the thread exits) for the
// results the backward ops add to their outputs.
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
typedef struct {
  float *p;
  size_t n;
} Scratch;
static void scratch_drop(void *s) {
  tsr_free(((Scratch *)s)->p);
  tsr_free(s);
}
static void scratch_make(void) { pthread_key_create(&scratch_key, scratch_drop); }
static float *scratch(size_t n) {
  pthread_once(&scratch_once, scratch_make);
  Scratch *s = pthread_getspecific(scratch_key);
  if (!s) {
    s = tsr_calloc(1, sizeof *s);
    pthread_setspecific(scratch_key, s);
  }
  if (s->n < n) {
    tsr_free(s->p);
    s->p = tsr_calloc(n, sizeof(float));
    s->n = n;
  }
  return s->p;
}

void conv3d_forward(float *out, const float *in, const float *w, const float *b, const Conv3dGeom *g) {
  pthread_once(&engine_once, engine_make);
  Descs d = descs(g);
  dnnl_primitive_desc_t pd = fwd_pd(&d, b != NULL);
  int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
  void *ptrs[4] = {(void *)in, (void *)w, out, (void *)b};
  run(pd, b ? 4 : 3, args, ptrs);
  dnnl_primitive_desc_destroy(pd);
}

void conv3d_backward_data(float *din, const float *dout, const float *w, const Conv3dGeom *g) {
  if (!din) return;
  pthread_once(&engine_once, engine_make);
  Descs d = descs(g);
  dnnl_primitive_desc_t hint = fwd_pd(&d, 0), pd;
  dnnl_convolution_desc_t cd;
  DNNL_CHECK(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &d.src, &d.wei, &d.dst,
                                                      d.strides, d.pad_l, d.pad_r));
  DNNL_CHECK(dnnl_primitive_desc_create(&pd, &cd, NULL, engine, hint));
  const size_t n = (size_t)g->n * g->c * g->d * g->h * g->w;
  float *tmp = scratch(n);
  int args[3] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC};
  void *ptrs[3] = {(void *)dout, (void *)w, tmp};
  run(pd, 3, args, ptrs);
  axpy(din, 1.0f, tmp, (int64_t)n);
  dnnl_primitive_desc_destroy(pd);
  dnnl_primitive_desc_destroy(hint);
}

void conv3d_backward_weights(float *dw, float *db, const float *dout, const float *in, const Conv3dGeom *g) {
  if (!dw && !db) return;
  pthread_once(&engine_once, engine_make);
  Descs d = descs(g);
  dnnl_primitive_desc_t hint = fwd_pd(&d, 1), pd;
  dnnl_convolution_desc_t cd;
  DNNL_CHECK(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &d.src, &d.wei, &d.bias,
                                                         &d.dst, d.strides, d.pad_l, d.pad_r));
  DNNL_CHECK(dnnl_primitive_desc_create(&pd, &cd, NULL, engine, hint));
  const size_t nw = (size_t)g->o * g->c * g->kd * g->kh * g->kw;
  float *tmp = scratch(nw + (size_t)g->o);
  int args[4] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS};
  void *ptrs[4] = {(void *)in, (void *)dout, tmp, tmp + nw};
  run(pd, 4, args, ptrs);
  if (dw) axpy(dw, 1.0f, tmp, (int64_t)nw);
  if (db) axpy(db, 1.0f, tmp + nw, g->o);
  dnnl_primitive_desc_destroy(pd);
  dnnl_primitive_desc_destroy(hint);
}
#endif
