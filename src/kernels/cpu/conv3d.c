// 3D convolution, fast version: oneDNN's convolution primitives (forward
// training, backward data, backward weights + bias). The tensors are plain
// NCDHW / OIDHW (PyTorch's layouts); the primitives are created with format
// `any`, so oneDNN picks its preferred (blocked, nCdhw8c on AVX2) layouts and
// its direct JIT kernels, and operands are reordered into scratch at the
// boundary (measured 2-5x faster than the GEMM-based kernels oneDNN uses on
// plain layouts, reorders included: docs/vae.md "Measured"). Primitive
// descriptors are created per call; oneDNN's primitive cache makes a
// repeated shape cheap. The backward ops accumulate (`+=`, ops.h): backward
// data comes back through a reorder into scratch and is added with axpy;
// backward weights is an im2col + sgemm (below: oneDNN has no fast kernel for it).
// Scratch is grow-only and per thread. Without oneDNN (TSR_HAVE_DNNL
// undefined) these are the references.
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

// Memory descriptors of one call (plain layouts, and `any` for the primitive); strides, paddings.
typedef struct {
  dnnl_memory_desc_t src, wei, bias, dst;          // plain ncdhw / oidhw / x
  dnnl_memory_desc_t src_any, wei_any, dst_any;    // format any
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
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&d.src_any, 5, src, dnnl_f32, dnnl_format_tag_any));
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&d.wei_any, 5, wei, dnnl_f32, dnnl_format_tag_any));
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&d.dst_any, 5, dst, dnnl_f32, dnnl_format_tag_any));
  d.strides[0] = g->sd, d.strides[1] = g->sh, d.strides[2] = g->sw;
  d.pad_l[0] = g->pd[0], d.pad_l[1] = g->ph[0], d.pad_l[2] = g->pw[0];
  d.pad_r[0] = g->pd[1], d.pad_r[1] = g->ph[1], d.pad_r[2] = g->pw[1];
  return d;
}

static dnnl_primitive_desc_t fwd_pd(const Descs *d, int with_bias) {
  dnnl_convolution_desc_t cd;
  DNNL_CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &d->src_any,
                                                &d->wei_any, with_bias ? &d->bias : NULL, &d->dst_any, d->strides,
                                                d->pad_l, d->pad_r));
  dnnl_primitive_desc_t pd;
  DNNL_CHECK(dnnl_primitive_desc_create(&pd, &cd, NULL, engine, NULL));
  return pd;
}

// Grow-only scratch per thread and slot (freed when the thread exits): the
// reordered operands and the results the backward ops add to their outputs.
enum { SLOTS = 4 };
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
typedef struct {
  void *p[SLOTS];
  size_t n[SLOTS];
} Scratch;
static void scratch_drop(void *v) {
  Scratch *s = v;
  for (int i = 0; i < SLOTS; i++) tsr_free(s->p[i]);
  tsr_free(s);
}
static void scratch_make(void) { pthread_key_create(&scratch_key, scratch_drop); }
static void *scratch(int slot, size_t bytes) {
  pthread_once(&scratch_once, scratch_make);
  Scratch *s = pthread_getspecific(scratch_key);
  if (!s) {
    s = tsr_calloc(1, sizeof *s);
    pthread_setspecific(scratch_key, s);
  }
  if (s->n[slot] < bytes) {
    tsr_free(s->p[slot]);
    s->p[slot] = tsr_calloc(bytes, 1);
    s->n[slot] = bytes;
  }
  return s->p[slot];
}

// Executes the primitive of pd on (arg, md, pointer) triples and waits.
static void run(dnnl_primitive_desc_t pd, int nargs, const int *args, const dnnl_memory_desc_t *const *mds,
                void *const *ptrs) {
  dnnl_primitive_t prim;
  DNNL_CHECK(dnnl_primitive_create(&prim, pd));
  dnnl_stream_t stream;
  DNNL_CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
  dnnl_exec_arg_t ex[8];
  for (int i = 0; i < nargs; i++) {
    dnnl_memory_t m;
    DNNL_CHECK(dnnl_memory_create(&m, mds[i], engine, ptrs[i]));
    ex[i] = (dnnl_exec_arg_t){args[i], m};
  }
  DNNL_CHECK(dnnl_primitive_execute(prim, stream, nargs, ex));
  DNNL_CHECK(dnnl_stream_wait(stream));
  for (int i = 0; i < nargs; i++) dnnl_memory_destroy(ex[i].memory);
  dnnl_stream_destroy(stream);
  dnnl_primitive_destroy(prim);
}

// Copies `from` (layout from_md) to `to` (layout to_md) with a reorder primitive.
static void reorder(const dnnl_memory_desc_t *from_md, const void *from, const dnnl_memory_desc_t *to_md, void *to) {
  dnnl_primitive_desc_t pd;
  DNNL_CHECK(dnnl_reorder_primitive_desc_create(&pd, from_md, engine, to_md, engine, NULL));
  const int args[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
  const dnnl_memory_desc_t *mds[2] = {from_md, to_md};
  void *ptrs[2] = {(void *)from, to};
  run(pd, 2, args, mds, ptrs);
  dnnl_primitive_desc_destroy(pd);
}

// The primitive's layout of argument `arg` of pd.
static const dnnl_memory_desc_t *md_of(dnnl_primitive_desc_t pd, int arg) {
  return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

// An input in the primitive's layout: the plain tensor itself when the
// layouts agree, else its reorder into scratch `slot`.
static void *input_as(const dnnl_memory_desc_t *want, const dnnl_memory_desc_t *plain, const float *x, int slot) {
  if (dnnl_memory_desc_equal(want, plain)) return (void *)x;
  void *buf = scratch(slot, dnnl_memory_desc_get_size(want));
  reorder(plain, x, want, buf);
  return buf;
}

void conv3d_forward(float *out, const float *in, const float *w, const float *b, const Conv3dGeom *g) {
  pthread_once(&engine_once, engine_make);
  Descs d = descs(g);
  dnnl_primitive_desc_t pd = fwd_pd(&d, b != NULL);
  const dnnl_memory_desc_t *src = md_of(pd, DNNL_ARG_SRC), *wei = md_of(pd, DNNL_ARG_WEIGHTS),
                           *dst = md_of(pd, DNNL_ARG_DST);
  const int dst_plain = dnnl_memory_desc_equal(dst, &d.dst);
  void *y = dst_plain ? (void *)out : scratch(2, dnnl_memory_desc_get_size(dst));
  const int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
  const dnnl_memory_desc_t *mds[4] = {src, wei, dst, &d.bias};
  void *ptrs[4] = {input_as(src, &d.src, in, 0), input_as(wei, &d.wei, w, 1), y, (void *)b};
  run(pd, b ? 4 : 3, args, mds, ptrs);
  if (!dst_plain) reorder(dst, y, &d.dst, out);
  dnnl_primitive_desc_destroy(pd);
}

void conv3d_backward_data(float *din, const float *dout, const float *w, const Conv3dGeom *g) {
  if (!din) return;
  pthread_once(&engine_once, engine_make);
  Descs d = descs(g);
  dnnl_primitive_desc_t hint = fwd_pd(&d, 0), pd;
  dnnl_convolution_desc_t cd;
  DNNL_CHECK(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &d.src_any, &d.wei_any,
                                                      &d.dst_any, d.strides, d.pad_l, d.pad_r));
  DNNL_CHECK(dnnl_primitive_desc_create(&pd, &cd, NULL, engine, hint));
  const dnnl_memory_desc_t *ddst = md_of(pd, DNNL_ARG_DIFF_DST), *wei = md_of(pd, DNNL_ARG_WEIGHTS),
                           *dsrc = md_of(pd, DNNL_ARG_DIFF_SRC);
  const size_t n = (size_t)g->n * g->c * g->d * g->h * g->w;
  void *res = scratch(2, dnnl_memory_desc_get_size(dsrc));
  const int args[3] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC};
  const dnnl_memory_desc_t *mds[3] = {ddst, wei, dsrc};
  void *ptrs[3] = {input_as(ddst, &d.dst, dout, 0), input_as(wei, &d.wei, w, 1), res};
  run(pd, 3, args, mds, ptrs);
  float *plain = res;
  if (!dnnl_memory_desc_equal(dsrc, &d.src)) reorder(dsrc, res, &d.src, plain = scratch(3, n * sizeof(float)));
  axpy(din, 1.0f, plain, (int64_t)n);
  dnnl_primitive_desc_destroy(pd);
  dnnl_primitive_desc_destroy(hint);
}

// Backward weights: oneDNN 2.6 has no JIT backward-weights kernel for 3D f32
// on AVX2 (format any gives its GEMM-based one; blocked layouts give `ref`),
// and its GEMM-based one ran at ~11 GFLOP/s on the demo's largest layer. So
// this one is an im2col per output frame and one sgemm (the library's) per
// frame, accumulating straight into dw (beta = 1): measured 2-4x faster
// (docs/vae.md "Measured"). col[(c,a,b,e), (y,x)] = in[n, c, t*sd+a-pd0,
// y*sh+b-ph0, x*sw+e-pw0] (0 in the padding); dw[o, (c,a,b,e)] +=
// dout[n, o, t, (y,x)] col^T.
static void im2col_frame(float *col, const float *in, const Conv3dGeom *g, int n, int t, int oh, int ow) {
  const int k3 = g->kd * g->kh * g->kw, rows = g->c * k3;
#pragma omp parallel for schedule(static) if ((int64_t)rows * oh * ow > 65536)
  for (int r = 0; r < rows; r++) {
    const int c = r / k3, a = r / (g->kh * g->kw) % g->kd, b = r / g->kw % g->kh, e = r % g->kw;
    float *dst = col + (size_t)r * oh * ow;
    const int it = t * g->sd + a - g->pd[0];
    if (it < 0 || it >= g->d) {
      for (int i = 0; i < oh * ow; i++) dst[i] = 0.0f;
      continue;
    }
    const float *src = in + (((size_t)n * g->c + c) * g->d + it) * g->h * g->w;
    for (int y = 0; y < oh; y++) {
      const int iy = y * g->sh + b - g->ph[0];
      float *row = dst + (size_t)y * ow;
      if (iy < 0 || iy >= g->h) {
        for (int x = 0; x < ow; x++) row[x] = 0.0f;
        continue;
      }
      const float *srow = src + (size_t)iy * g->w;
      for (int x = 0; x < ow; x++) {
        const int ix = x * g->sw + e - g->pw[0];
        row[x] = ix >= 0 && ix < g->w ? srow[ix] : 0.0f;
      }
    }
  }
}

void conv3d_backward_weights(float *dw, float *db, const float *dout, const float *in, const Conv3dGeom *g) {
  const int od = conv3d_od(g), oh = conv3d_oh(g), ow = conv3d_ow(g), k = g->c * g->kd * g->kh * g->kw;
  const size_t osites = (size_t)od * oh * ow;
  if (dw) {
    float *col = scratch(0, (size_t)k * oh * ow * sizeof(float));
    for (int n = 0; n < g->n; n++)
      for (int t = 0; t < od; t++) {
        im2col_frame(col, in, g, n, t, oh, ow);
        gemm(0, 1, g->o, k, oh * ow, 1.0f, dout + (size_t)n * g->o * osites + (size_t)t * oh * ow, (int)osites, col,
             oh * ow, 1.0f, dw, k);
      }
  }
  if (db) {
#pragma omp parallel for schedule(static) if (g->o > 1 && (int64_t)g->n * g->o * osites > 65536)
    for (int o = 0; o < g->o; o++) {
      double s = 0;
      for (int n = 0; n < g->n; n++) {
        const float *d = dout + ((size_t)n * g->o + o) * osites;
        for (size_t i = 0; i < osites; i++) s += d[i];
      }
      db[o] += (float)s;
    }
  }
}
#endif
