// Geometry of a 3D convolution over NCDHW tensors (docs/vae.md "Ops"):
// input [n,c,d,h,w], weight [o,c,kd,kh,kw] (PyTorch's Conv3d layout),
// output [n,o,od,oh,ow]. Zero padding is given per axis and side
// (pd[0] before the first frame, pd[1] after the last, ...), so a causal
// convolution is pd = {kd-1, 0}. No dilation, no groups.
//   od = (d + pd[0] + pd[1] - kd) / sd + 1   (likewise oh, ow)
// Passed by (host) pointer to every backend's conv3d ops.
#pragma once

typedef struct Conv3dGeom {
  int n, c, d, h, w;   // input
  int o, kd, kh, kw;   // output channels, kernel
  int sd, sh, sw;      // strides
  int pd[2], ph[2], pw[2];  // zero padding before / after, per axis
} Conv3dGeom;

static inline int conv3d_od(const Conv3dGeom *g) { return (g->d + g->pd[0] + g->pd[1] - g->kd) / g->sd + 1; }
static inline int conv3d_oh(const Conv3dGeom *g) { return (g->h + g->ph[0] + g->ph[1] - g->kh) / g->sh + 1; }
static inline int conv3d_ow(const Conv3dGeom *g) { return (g->w + g->pw[0] + g->pw[1] - g->kw) / g->sw + 1; }
