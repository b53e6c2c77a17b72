// The autoencoder's forward and backward passes: the node list run in order
// (and in reverse for the gradients), every step a backend op; the clip and
// the noise are staged on the host and uploaded, the loss downloaded.
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "vae/vae_internal.h"

#define PW(off) (v->params.data + (off))
#define PG(off) (v->params.grad + (off))

static size_t numel(const Vae *v, const VaeTensor *t) { return (size_t)v->B * t->c * t->d * t->h * t->w; }
static int sites(const VaeTensor *t) { return t->d * t->h * t->w; }

void vae_node_forward(Vae *v, const VaeNode *n) {
  const Backend *be = v->be;
  const VaeTensor *in = &v->t[n->in], *out = &v->t[n->out];
  switch (n->kind) {
    case VN_CONV: be_conv3d_forward(be, out->x, in->x, PW(n->w), PW(n->b), &n->g); break;
    case VN_NORM:
      be_groupnorm_forward(be, out->x, n->mean, n->rstd, in->x, PW(n->w), PW(n->b), v->B, in->c, in->d,
                           in->h * in->w, v->cfg.groups);
      break;
    case VN_SILU: be_silu_forward(be, out->x, in->x, (int64_t)numel(v, in)); break;
    case VN_UP:
      be_upsample3d_forward(be, out->x, in->x, v->B * in->c, in->d, in->h, in->w, n->up[0], n->up[1], n->up[2]);
      break;
    case VN_ADD:
      be_copy(be, out->x, in->x, numel(v, in) * sizeof(float));
      be_axpy(be, out->x, 1.0f, v->t[n->in2].x, (int64_t)numel(v, in));
      break;
  }
}

// Gradients of node n's inputs and parameters from its output's gradient;
// the clip's own gradient (tensor t_x) is not needed and skipped.
static void node_backward(Vae *v, const VaeNode *n) {
  const Backend *be = v->be;
  const VaeTensor *in = &v->t[n->in], *out = &v->t[n->out];
  float *din = n->in == v->t_x ? NULL : in->g;
  switch (n->kind) {
    case VN_CONV:
      be_conv3d_backward_data(be, din, out->g, PW(n->w), &n->g);
      be_conv3d_backward_weights(be, PG(n->w), PG(n->b), out->g, in->x, &n->g);
      break;
    case VN_NORM:
      be_groupnorm_backward(be, din, PG(n->w), PG(n->b), out->g, in->x, PW(n->w), n->mean, n->rstd, v->B, in->c,
                            in->d, in->h * in->w, v->cfg.groups);
      break;
    case VN_SILU: be_silu_backward(be, din, out->g, in->x, (int64_t)numel(v, in)); break;
    case VN_UP:
      be_upsample3d_backward(be, din, out->g, v->B * in->c, in->d, in->h, in->w, n->up[0], n->up[1], n->up[2]);
      break;
    case VN_ADD:
      be_axpy(be, din, 1.0f, out->g, (int64_t)numel(v, out));
      be_axpy(be, v->t[n->in2].g, 1.0f, out->g, (int64_t)numel(v, out));
      break;
  }
}

static void upload_clips(Vae *v, const float *clips) {
  TSR_ASSERT(!v->chunk, "vae: activations laid out for chunks (vae_alloc_chunked): call vae_alloc first");
  const VaeTensor *x = &v->t[v->t_x];
  vae_host_to_ncdhw(v->host_x, clips, v->B, x->d, x->h, x->w, x->c);
  be_upload(v->be, x->x, v->host_x, numel(v, x) * sizeof(float));
}

static void run_nodes(Vae *v, int from, int to) {
  for (int i = from; i < to; i++) vae_node_forward(v, &v->nodes[i]);
}

float vae_forward(Vae *v, const float *clips, uint32_t sample0, uint64_t seed) {
  const Backend *be = v->be;
  const VaeTensor *z = &v->t[v->t_z], *mom = &v->t[v->t_moments], *rec = &v->t[v->t_recon], *x = &v->t[v->t_x];
  upload_clips(v, clips);
  run_nodes(v, 0, v->n_enc);
  // eps[b, c, site] = N(0,1) keyed by (clip, latent site, channel): independent of the batch split
  const int S = sites(z);
  for (int b = 0; b < v->B; b++)
    for (int c = 0; c < z->c; c++)
      for (int s = 0; s < S; s++)
        v->host_eps[((size_t)b * z->c + c) * S + s] = rng_normal(seed, RNG_VAE, sample0 + (uint32_t)b, (uint32_t)s, (uint32_t)c);
  be_upload(be, v->eps, v->host_eps, numel(v, z) * sizeof(float));
  be_gauss_sample_forward(be, z->x, v->scalars + 1, mom->x, v->eps, v->B, z->c, S);
  run_nodes(v, v->n_enc, v->n_nodes);
  // recon = mean (x_hat - x)^2; its gradient goes straight into the reconstruction's g (NULL: VAE_INFER)
  be_mse_loss(be, v->scalars, rec->g, rec->x, x->x, NULL, v->B, (int)(numel(v, x) / (size_t)v->B));
  float s[2];
  be_download(be, s, v->scalars, sizeof s);
  v->recon_loss = s[0], v->kl = s[1];
  return s[0] + v->cfg.kl_weight * s[1];
}

void vae_backward(Vae *v) {
  TSR_ASSERT(v->mode == VAE_TRAIN, "vae_backward on activations laid out for VAE_INFER");
  const Backend *be = v->be;
  for (int i = 0; i < v->n_tensors; i++)
    if (i != v->t_recon) be_zero(be, v->t[i].g, numel(v, &v->t[i]));
  for (int i = v->n_nodes - 1; i >= v->n_enc; i--) node_backward(v, &v->nodes[i]);
  const VaeTensor *z = &v->t[v->t_z], *mom = &v->t[v->t_moments];
  be_gauss_sample_backward(be, mom->g, z->g, v->cfg.kl_weight, mom->x, v->eps, v->B, z->c, sites(z));
  for (int i = v->n_enc - 1; i >= 0; i--) node_backward(v, &v->nodes[i]);
}

void vae_encode(Vae *v, const float *clips, float *latents) {
  const VaeTensor *z = &v->t[v->t_z], *mom = &v->t[v->t_moments];
  upload_clips(v, clips);
  run_nodes(v, 0, v->n_enc);
  be_gauss_sample_forward(v->be, z->x, NULL, mom->x, NULL, v->B, z->c, sites(z));  // z = mean
  be_download(v->be, v->host_lat, z->x, numel(v, z) * sizeof(float));
  vae_host_from_ncdhw(latents, v->host_lat, v->B, z->d, z->h, z->w, z->c);
}

void vae_decode(Vae *v, const float *latents, float *clips) {
  TSR_ASSERT(!v->chunk, "vae_decode: activations laid out for chunks (vae_alloc_chunked): call vae_alloc first");
  const VaeTensor *z = &v->t[v->t_z];
  vae_host_to_ncdhw(v->host_lat, latents, v->B, z->d, z->h, z->w, z->c);
  be_upload(v->be, z->x, v->host_lat, numel(v, z) * sizeof(float));
  run_nodes(v, v->n_enc, v->n_nodes);
  vae_read_recon(v, clips);
}

void vae_read_recon(const Vae *v, float *clips) {
  const VaeTensor *r = &v->t[v->t_recon];
  be_download(v->be, v->host_x, r->x, numel(v, r) * sizeof(float));
  vae_host_from_ncdhw(clips, v->host_x, v->B, r->d, r->h, r->w, r->c);
}
