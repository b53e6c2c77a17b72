// vae_alloc: propagates the clip's shape through the nodes and lays out
// every activation (values and gradients), the norm statistics and the
// posterior noise in one arena, sized by a measuring pass over the same
// layout code.
#include <string.h>

#include "core/error.h"
#include "vae/vae_internal.h"

// Per-sample shapes of every tensor from the clip's, and each conv's sizes.
static void shapes(Vae *v) {
  VaeTensor *x = &v->t[v->t_x], *z = &v->t[v->t_z];
  x->d = v->T, x->h = v->H, x->w = v->W;
  z->d = vae_latent_t(&v->cfg, v->T), z->h = v->H / v->cfg.cs, z->w = v->W / v->cfg.cs;
  for (int i = 0; i < v->n_nodes; i++) {
    VaeNode *n = &v->nodes[i];
    const VaeTensor *in = &v->t[n->in];
    VaeTensor *out = &v->t[n->out];
    out->d = in->d, out->h = in->h, out->w = in->w;
    if (n->kind == VN_CONV) {
      n->g.n = v->B, n->g.d = in->d, n->g.h = in->h, n->g.w = in->w;
      out->d = conv3d_od(&n->g), out->h = conv3d_oh(&n->g), out->w = conv3d_ow(&n->g);
    } else if (n->kind == VN_UP) {
      out->d = 1 + (in->d - 1) * n->up[0], out->h = in->h * n->up[1], out->w = in->w * n->up[2];
    }
  }
  const VaeTensor *m = &v->t[v->t_moments], *r = &v->t[v->t_recon];
  TSR_ASSERT(m->d == z->d && m->h == z->h && m->w == z->w, "vae: encoder gives %dx%dx%d latents, expected %dx%dx%d",
             m->d, m->h, m->w, z->d, z->h, z->w);
  TSR_ASSERT(r->d == v->T && r->h == v->H && r->w == v->W, "vae: decoder gives %dx%dx%d clips, expected %dx%dx%d",
             r->d, r->h, r->w, v->T, v->H, v->W);
}

static size_t numel(const Vae *v, int id) {
  const VaeTensor *t = &v->t[id];
  return (size_t)v->B * t->c * t->d * t->h * t->w;
}

static void layout(Vae *v, Arena *a) {
  for (int i = 0; i < v->n_tensors; i++) {
    v->t[i].x = arena_floats(a, numel(v, i));
    v->t[i].g = v->mode == VAE_TRAIN ? arena_floats(a, numel(v, i)) : NULL;
  }
  for (int i = 0; i < v->n_nodes; i++)
    if (v->nodes[i].kind == VN_NORM) {  // frame-wise statistics [B, groups, frames]
      const size_t n = (size_t)v->B * v->cfg.groups * v->t[v->nodes[i].in].d;
      v->nodes[i].mean = arena_floats(a, n);
      v->nodes[i].rstd = arena_floats(a, n);
    }
  v->eps = arena_floats(a, numel(v, v->t_z));
  v->scalars = arena_floats(a, 2);
}

int vae_alloc(Vae *v, int B, int T, int H, int W, enum VaeMode mode, TsrErr *e) {
  if (vae_check_clip(&v->cfg, T, H, W, "vae clips", e)) return -1;
  TSR_ASSERT(B >= 1, "vae_alloc: batch %d", B);
  vae_chunk_release(v);
  arena_free(&v->arena);
  tsr_free(v->host_x), tsr_free(v->host_eps), tsr_free(v->host_lat);
  v->B = B, v->T = T, v->H = H, v->W = W, v->mode = mode;
  shapes(v);
  Arena m;
  arena_measure(&m);
  layout(v, &m);
  arena_init(&v->arena, &v->be->mem, m.peak);
  layout(v, &v->arena);
  v->host_x = tsr_calloc(numel(v, v->t_x), sizeof(float));
  v->host_eps = tsr_calloc(numel(v, v->t_z), sizeof(float));
  v->host_lat = tsr_calloc(numel(v, v->t_z), sizeof(float));
  return 0;
}

void vae_free(Vae *v) {
  vae_chunk_release(v);
  arena_free(&v->arena);
  tsr_free(v->host_x), tsr_free(v->host_eps), tsr_free(v->host_lat);
  params_free(&v->params);
  memset(v, 0, sizeof *v);
}

size_t vae_latent_floats(const Vae *v) { return numel(v, v->t_z) / (size_t)v->B; }
