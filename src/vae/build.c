// vae_build: declares the parameters (state-dict names, docs/vae.md) and the
// network as a list of nodes over tensors; sizes come later (vae_alloc).
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "vae/vae.h"

static int tensor(Vae *v, int c) {
  TSR_ASSERT(v->n_tensors < VAE_MAX_TENSORS, "vae: more than %d tensors", VAE_MAX_TENSORS);
  v->t[v->n_tensors] = (VaeTensor){.c = c};
  return v->n_tensors++;
}

static VaeNode *node(Vae *v, VaeNodeKind kind, int in, int out_c) {
  TSR_ASSERT(v->n_nodes < VAE_MAX_NODES, "vae: more than %d nodes", VAE_MAX_NODES);
  VaeNode *n = &v->nodes[v->n_nodes++];
  *n = (VaeNode){.kind = kind, .in = in, .in2 = -1, .out = tensor(v, out_c)};
  return n;
}

static size_t param(Vae *v, enum ParamInit init, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static size_t param(Vae *v, enum ParamInit init, int ndim, const int64_t *shape, const char *fmt, ...) {
  char name[PARAM_NAME_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  return params_add(&v->params, name, ndim, shape, init);
}

// Conv3d `prefix` (weight [cout,cin,k,k,k], bias [cout]), cubic kernel k,
// stride (st, ss, ss); causal in time (pd = {k-1, 0}); spatial padding
// (ph0, ph1) on both spatial axes.
static int conv(Vae *v, const char *prefix, int in, int cout, int k, int st, int ss, int ph0, int ph1) {
  const int cin = v->t[in].c;
  VaeNode *n = node(v, VN_CONV, in, cout);
  const int64_t ws[5] = {cout, cin, k, k, k}, bs[1] = {cout};
  n->w = param(v, INIT_FAN_IN, 5, ws, "%s.weight", prefix);
  n->b = param(v, INIT_ZERO, 1, bs, "%s.bias", prefix);
  n->g = (Conv3dGeom){.c = cin, .o = cout, .kd = k, .kh = k, .kw = k, .sd = st, .sh = ss, .sw = ss,
                      .pd = {k - 1, 0}, .ph = {ph0, ph1}, .pw = {ph0, ph1}};
  n->cache_frames = k - st;  // chunked inference: the input frames the next chunk's outputs still reach back to
  return n->out;
}
// The 3x3x3 causal convolution that keeps the size.
static int conv3(Vae *v, const char *prefix, int in, int cout) { return conv(v, prefix, in, cout, 3, 1, 1, 1, 1); }

static int norm(Vae *v, const char *prefix, int in) {
  const int c = v->t[in].c;
  VaeNode *n = node(v, VN_NORM, in, c);
  const int64_t s[1] = {c};
  n->w = param(v, INIT_ONE, 1, s, "%s.weight", prefix);
  n->b = param(v, INIT_ZERO, 1, s, "%s.bias", prefix);
  return n->out;
}

static int silu(Vae *v, int in) { return node(v, VN_SILU, in, v->t[in].c)->out; }

static int add(Vae *v, int a, int b) {
  VaeNode *n = node(v, VN_ADD, a, v->t[a].c);
  n->in2 = b;
  return n->out;
}

// x + conv2(SiLU(GN2(conv1(SiLU(GN1(x)))))), x through a 1x1x1 conv `skip` when the width changes.
static int resblock(Vae *v, const char *prefix, int in, int cout) {
  char p[PARAM_NAME_MAX];
  snprintf(p, sizeof p, "%s.norm1", prefix);
  int h = silu(v, norm(v, p, in));
  snprintf(p, sizeof p, "%s.conv1", prefix);
  h = conv3(v, p, h, cout);
  snprintf(p, sizeof p, "%s.norm2", prefix);
  h = silu(v, norm(v, p, h));
  snprintf(p, sizeof p, "%s.conv2", prefix);
  h = conv3(v, p, h, cout);
  int skip = in;
  if (v->t[in].c != cout) {
    snprintf(p, sizeof p, "%s.skip", prefix);
    skip = conv(v, p, in, cout, 1, 1, 1, 0, 0);
  }
  return add(v, skip, h);
}

void vae_build(Vae *v, const VaeConfig *cfg, const Backend *be) {
  memset(v, 0, sizeof *v);
  v->cfg = *cfg;
  v->be = be;
  v->params.mem = &be->mem;
  const VaeConfig *c = cfg;
  const int L = c->levels, Z = c->latent_channels;
  char p[PARAM_NAME_MAX];
  // encoder
  v->t_x = tensor(v, c->in_channels);
  int h = conv3(v, "encoder.conv_in", v->t_x, c->base_channels * c->channel_mult[0]);
  for (int l = 0; l < L; l++) {
    const int ch = c->base_channels * c->channel_mult[l];
    for (int r = 0; r < c->res_blocks; r++) {
      snprintf(p, sizeof p, "encoder.down.%d.block.%d", l, r);
      h = resblock(v, p, h, ch);
    }
    if (l + 1 < L) {  // kernel 3, stride (2 or 1, 2, 2), causal in time, spatial padding (0, 1)
      snprintf(p, sizeof p, "encoder.down.%d.downsample", l);
      h = conv(v, p, h, ch, 3, c->temporal_down[l] ? 2 : 1, 2, 0, 1);
    }
  }
  h = resblock(v, "encoder.mid.block", h, v->t[h].c);
  h = silu(v, norm(v, "encoder.norm_out", h));
  v->t_moments = conv3(v, "encoder.conv_out", h, 2 * Z);
  v->n_enc = v->n_nodes;
  // decoder
  v->t_z = tensor(v, Z);
  const int top = c->base_channels * c->channel_mult[L - 1];
  h = conv3(v, "decoder.conv_in", v->t_z, top);
  h = resblock(v, "decoder.mid.block", h, top);
  for (int l = L - 1; l >= 0; l--) {
    const int ch = c->base_channels * c->channel_mult[l];
    for (int r = 0; r < c->res_blocks; r++) {
      snprintf(p, sizeof p, "decoder.up.%d.block.%d", l, r);
      h = resblock(v, p, h, ch);
    }
    if (l > 0) {  // nearest (2 or 1, 2, 2), causal in time, then a 3x3x3 causal conv
      VaeNode *n = node(v, VN_UP, h, ch);
      n->up[0] = c->temporal_down[l - 1] ? 2 : 1, n->up[1] = 2, n->up[2] = 2;
      snprintf(p, sizeof p, "decoder.up.%d.upsample.conv", l);
      h = conv3(v, p, n->out, ch);
    }
  }
  h = silu(v, norm(v, "decoder.norm_out", h));
  v->t_recon = conv3(v, "decoder.conv_out", h, c->in_channels);
  params_alloc(&v->params);
}
