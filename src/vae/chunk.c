// Chunked inference in time with a causal feature cache (docs/vae.md "Long
// videos: chunks and shards"). A chunk runs the same node list as a whole
// clip, on tensors holding only the chunk's frames; two nodes differ:
// - a causal conv (kd > 1) reads the window [cache | chunk] of its input,
//   cache = the last kd - sd input frames of the previous chunk (zeros at a
//   video's start, where the remaining kd - 1 - cache frames are the op's own
//   zero padding), with no padding in time, then keeps the window's last
//   frames as the next cache;
// - the causal upsampling repeats every frame of a chunk after the first
//   `s` times (out[t] = in[ceil(t/s)]: only frame 0 gives one frame), as a
//   spatial upsampling into the window scratch and s strided copies.
// GroupNorm is frame-wise, SiLU and the residual add pointwise: chunk-safe.
// Everything lives in one arena sized for the largest chunk.
#include <limits.h>
#include <string.h>

#include "core/error.h"
#include "vae/vae_internal.h"

#define PW(off) (v->params.data + (off))

static size_t numel(const Vae *v, int id) {
  const VaeTensor *t = &v->t[id];
  return (size_t)v->B * t->c * t->d * t->h * t->w;
}
static int frame_sites(const VaeTensor *t) { return t->h * t->w; }

// Tensors and nodes of each pass: the encoder's (the clip to the moments,
// and the latent its mean goes to) and the decoder's (the latent on).
static int tensor_in(const Vae *v, int id, int passes) {
  return ((passes & VAE_CHUNK_ENCODE) && id <= v->t_z) || ((passes & VAE_CHUNK_DECODE) && id >= v->t_z);
}
static int node_in(const Vae *v, int i, int passes) {
  return ((passes & VAE_CHUNK_ENCODE) && i < v->n_enc) || ((passes & VAE_CHUNK_DECODE) && i >= v->n_enc);
}

// A conv's geometry over its window of d_in chunk frames (first: the chunk
// holding the video's frame 0, its cache all zeros).
static Conv3dGeom chunk_geom(const Vae *v, const VaeNode *n, int d_in, int first) {
  const VaeTensor *in = &v->t[n->in];
  Conv3dGeom g = n->g;
  g.n = v->B, g.d = n->cache_frames + d_in, g.h = in->h, g.w = in->w;
  g.pd[0] = first ? g.kd - 1 - n->cache_frames : 0, g.pd[1] = 0;
  return g;
}

// Shapes of the pass's tensors [from, to) for a chunk, from its input's.
static void chunk_shapes(Vae *v, int from, int to, int first) {
  for (int i = from; i < to; i++) {
    const VaeNode *n = &v->nodes[i];
    const VaeTensor *in = &v->t[n->in];
    VaeTensor *out = &v->t[n->out];
    out->d = in->d, out->h = in->h, out->w = in->w;
    if (n->kind == VN_CONV) {
      const Conv3dGeom g = chunk_geom(v, n, in->d, first);
      out->d = conv3d_od(&g), out->h = conv3d_oh(&g), out->w = conv3d_ow(&g);
    } else if (n->kind == VN_UP) {
      out->d = first ? 1 : in->d * n->up[0], out->h = in->h * n->up[1], out->w = in->w * n->up[2];
    }
  }
}

// Shapes of a full (not first) chunk of every laid-out pass.
static void full_chunk_shapes(Vae *v) {
  VaeTensor *x = &v->t[v->t_x], *z = &v->t[v->t_z];
  x->d = v->chunk * v->cfg.ct, x->h = v->H, x->w = v->W;
  z->d = v->chunk, z->h = v->H / v->cfg.cs, z->w = v->W / v->cfg.cs;
  chunk_shapes(v, 0, v->n_nodes, 0);
}

static void chunk_layout(Vae *v, Arena *a) {
  size_t window = 0;
  for (int i = 0; i < v->n_tensors; i++) {
    v->t[i].x = tensor_in(v, i, v->passes) ? arena_floats(a, numel(v, i)) : NULL;
    v->t[i].g = NULL;
  }
  for (int i = 0; i < v->n_nodes; i++) {
    VaeNode *n = &v->nodes[i];
    const VaeTensor *in = &v->t[n->in];
    n->mean = n->rstd = n->cache = NULL;
    if (!node_in(v, i, v->passes)) continue;
    const size_t frame = (size_t)v->B * in->c * frame_sites(in);
    if (n->kind == VN_NORM) {
      n->mean = arena_floats(a, (size_t)v->B * v->cfg.groups * in->d);
      n->rstd = arena_floats(a, (size_t)v->B * v->cfg.groups * in->d);
    } else if (n->kind == VN_CONV && n->cache_frames > 0) {
      n->cache = arena_floats(a, frame * n->cache_frames);
      if (frame * (n->cache_frames + in->d) > window) window = frame * (n->cache_frames + in->d);
    } else if (n->kind == VN_UP && numel(v, n->out) / n->up[0] > window) {
      window = numel(v, n->out) / n->up[0];
    }
  }
  v->window = arena_floats(a, window);
  v->eps = v->scalars = NULL;
}

int vae_alloc_chunked(Vae *v, int B, int chunk, int H, int W, int passes, TsrErr *e) {
  if (vae_check_clip(&v->cfg, 1 + v->cfg.ct, H, W, "vae chunks", e)) return -1;
  TSR_ASSERT(B >= 1 && chunk >= 1 && passes >= 1 && passes <= 3, "vae_alloc_chunked: batch %d, chunk %d, passes %d",
             B, chunk, passes);
  vae_chunk_release(v);
  arena_free(&v->arena);
  tsr_free(v->host_x), tsr_free(v->host_eps), tsr_free(v->host_lat);
  v->host_eps = NULL;
  v->B = B, v->T = 0, v->H = H, v->W = W, v->mode = VAE_INFER, v->chunk = chunk, v->passes = passes;
  full_chunk_shapes(v);
  Arena m;
  arena_measure(&m);
  chunk_layout(v, &m);
  arena_init(&v->arena, &v->be->mem, m.peak);
  chunk_layout(v, &v->arena);
  // host staging of one chunk: NCDHW (host_x, host_lat) and channels-last (host_in, host_out)
  const size_t px = numel(v, v->t_x), lat = numel(v, v->t_z), big = px > lat ? px : lat;
  v->host_x = tsr_calloc(px, sizeof(float));
  v->host_lat = tsr_calloc(lat, sizeof(float));
  v->host_in = tsr_calloc(big, sizeof(float));
  v->host_out = tsr_calloc(big, sizeof(float));
  vae_chunk_reset(v);
  return 0;
}

void vae_chunk_release(Vae *v) {
  tsr_free(v->host_in), tsr_free(v->host_out);
  v->host_in = v->host_out = v->window = NULL;
  v->chunk = v->passes = 0;
  for (int i = 0; i < v->n_nodes; i++) v->nodes[i].cache = NULL;
}

void vae_chunk_reset(Vae *v) {
  TSR_ASSERT(v->chunk > 0, "vae_chunk_reset: activations not laid out by vae_alloc_chunked");
  for (int i = 0; i < v->n_nodes; i++) {
    const VaeNode *n = &v->nodes[i];
    const VaeTensor *in = &v->t[n->in];
    if (n->cache) be_zero(v->be, n->cache, (size_t)v->B * in->c * n->cache_frames * frame_sites(in));
  }
}

static void conv_chunk(Vae *v, VaeNode *n, int first) {
  const Backend *be = v->be;
  const VaeTensor *in = &v->t[n->in], *out = &v->t[n->out];
  const Conv3dGeom g = chunk_geom(v, n, in->d, first);
  const int C = n->cache_frames;
  if (C == 0) {
    be_conv3d_forward(be, out->x, in->x, PW(n->w), PW(n->b), &g);
    return;
  }
  const int f = frame_sites(in), rows = v->B * in->c, ld = (C + in->d) * f;
  be_copy2d(be, v->window, ld, n->cache, C * f, rows, C * f);
  be_copy2d(be, v->window + (size_t)C * f, ld, in->x, in->d * f, rows, in->d * f);
  be_conv3d_forward(be, out->x, v->window, PW(n->w), PW(n->b), &g);
  be_copy2d(be, n->cache, C * f, v->window + (size_t)in->d * f, ld, rows, C * f);  // the window's last C frames
}

static void up_chunk(Vae *v, const VaeNode *n, int first) {
  if (first) {  // frame 0 gives one frame, as in the whole clip
    vae_node_forward(v, n);
    return;
  }
  const VaeTensor *in = &v->t[n->in], *out = &v->t[n->out];
  const int s = n->up[0], f = frame_sites(out);
  be_upsample3d_forward(v->be, v->window, in->x, v->B * in->c, in->d, in->h, in->w, 1, n->up[1], n->up[2]);
  for (int r = 0; r < s; r++)  // input frame i -> output frames i s .. i s + s - 1
    be_copy2d(v->be, out->x + (size_t)r * f, s * f, v->window, f, v->B * in->c * in->d, f);
}

static void run_chunk(Vae *v, int from, int to, int first) {
  chunk_shapes(v, from, to, first);
  for (int i = from; i < to; i++) {
    VaeNode *n = &v->nodes[i];
    if (n->kind == VN_CONV) conv_chunk(v, n, first);
    else if (n->kind == VN_UP) up_chunk(v, n, first);
    else vae_node_forward(v, n);
  }
}

int vae_decode_chunk(Vae *v, const float *latents, int t0, int n, float *clips) {
  TSR_ASSERT(v->passes & VAE_CHUNK_DECODE, "vae_decode_chunk: not laid out for chunked decoding");
  TSR_ASSERT(t0 >= 0 && n >= 1 && n <= v->chunk && (t0 > 0 || n == 1),
             "vae_decode_chunk: latent frames [%d, %d) with chunks of %d (frame 0 alone)", t0, t0 + n, v->chunk);
  VaeTensor *z = &v->t[v->t_z];
  const VaeTensor *r = &v->t[v->t_recon];
  z->d = n;
  vae_host_to_ncdhw(v->host_lat, latents, v->B, z->d, z->h, z->w, z->c);
  be_upload(v->be, z->x, v->host_lat, numel(v, v->t_z) * sizeof(float));
  run_chunk(v, v->n_enc, v->n_nodes, t0 == 0);
  be_download(v->be, v->host_x, r->x, numel(v, v->t_recon) * sizeof(float));
  vae_host_from_ncdhw(clips, v->host_x, v->B, r->d, r->h, r->w, r->c);
  return r->d;
}

int vae_encode_chunk(Vae *v, const float *clips, int f0, int n, float *latents) {
  const int ct = v->cfg.ct;
  TSR_ASSERT(v->passes & VAE_CHUNK_ENCODE, "vae_encode_chunk: not laid out for chunked encoding");
  TSR_ASSERT(f0 == 0 ? n == 1 : (f0 - 1) % ct == 0 && n % ct == 0 && n >= ct && n <= v->chunk * ct,
             "vae_encode_chunk: frames [%d, %d) with chunks of %d x %d (frame 0 alone)", f0, f0 + n, v->chunk, ct);
  VaeTensor *x = &v->t[v->t_x], *z = &v->t[v->t_z];
  const VaeTensor *mom = &v->t[v->t_moments];
  x->d = n;
  vae_host_to_ncdhw(v->host_x, clips, v->B, x->d, x->h, x->w, x->c);
  be_upload(v->be, x->x, v->host_x, numel(v, v->t_x) * sizeof(float));
  run_chunk(v, 0, v->n_enc, f0 == 0);
  z->d = mom->d;
  be_gauss_sample_forward(v->be, z->x, NULL, mom->x, NULL, v->B, z->c, z->d * frame_sites(z));  // z = mean
  be_download(v->be, v->host_lat, z->x, numel(v, v->t_z) * sizeof(float));
  vae_host_from_ncdhw(latents, v->host_lat, v->B, z->d, z->h, z->w, z->c);
  return z->d;
}

void vae_decode_chunked(Vae *v, const float *latents, int Tl, float *clips) {
  const size_t lat_f = (size_t)(v->H / v->cfg.cs) * (v->W / v->cfg.cs) * v->cfg.latent_channels;
  const size_t pix_f = (size_t)v->H * v->W * v->cfg.in_channels;
  const int T = 1 + (Tl - 1) * v->cfg.ct;
  vae_chunk_reset(v);
  for (int t0 = 0, f0 = 0; t0 < Tl;) {
    const int n = t0 == 0 ? 1 : (Tl - t0 < v->chunk ? Tl - t0 : v->chunk);
    vae_host_frames(v->host_in, n, 0, latents, Tl, t0, n, v->B, lat_f);
    const int F = vae_decode_chunk(v, v->host_in, t0, n, v->host_out);
    vae_host_frames(clips, T, f0, v->host_out, F, 0, F, v->B, pix_f);
    t0 += n, f0 += F;
  }
}

void vae_encode_chunked(Vae *v, const float *clips, int T, float *latents) {
  const int ct = v->cfg.ct, Tl = vae_latent_t(&v->cfg, T);
  TSR_ASSERT((T - 1) % ct == 0, "vae_encode_chunked: %d frames, expected 1 + k * %d", T, ct);
  const size_t lat_f = (size_t)(v->H / v->cfg.cs) * (v->W / v->cfg.cs) * v->cfg.latent_channels;
  const size_t pix_f = (size_t)v->H * v->W * v->cfg.in_channels;
  vae_chunk_reset(v);
  for (int f0 = 0, t0 = 0; f0 < T;) {
    const int n = f0 == 0 ? 1 : (T - f0 < v->chunk * ct ? T - f0 : v->chunk * ct);
    vae_host_frames(v->host_in, n, 0, clips, T, f0, n, v->B, pix_f);
    const int m = vae_encode_chunk(v, v->host_in, f0, n, v->host_out);
    vae_host_frames(latents, Tl, t0, v->host_out, m, 0, m, v->B, lat_f);
    f0 += n, t0 += m;
  }
}

// Whether a run from latent frame s (caches zeroed) decodes every frame of
// latent frames >= a as a run from 0 does: going back from the first such
// output frame through the graph, no tensor needs a frame before the first
// one the run computes (start: s at the latent, (start - 1) s + 1 after a
// causal upsampling by s).
static int halo_ok(const Vae *v, int s, int a) {
  int start[VAE_MAX_TENSORS], need[VAE_MAX_TENSORS];
  for (int i = 0; i < v->n_tensors; i++) need[i] = INT_MAX;
  start[v->t_z] = s;
  for (int i = v->n_enc; i < v->n_nodes; i++) {
    const VaeNode *n = &v->nodes[i];
    TSR_ASSERT(n->kind != VN_CONV || n->g.sd == 1, "vae halo: a decoder conv with stride %d in time", n->g.sd);
    start[n->out] = n->kind == VN_UP ? (start[n->in] - 1) * n->up[0] + 1 : start[n->in];
  }
  need[v->t_recon] = 1 + (a - 1) * v->cfg.ct;
  for (int i = v->n_nodes - 1; i >= v->n_enc; i--) {
    const VaeNode *n = &v->nodes[i];
    const int e = need[n->out];
    if (e == INT_MAX) continue;
    int in = e;
    if (n->kind == VN_CONV) in = e - (n->g.kd - 1);  // causal: out frame j reads in frames j - kd + 1 .. j
    else if (n->kind == VN_UP) in = (e + n->up[0] - 1) / n->up[0];
    if (in < need[n->in]) need[n->in] = in;
    if (n->kind == VN_ADD && e < need[n->in2]) need[n->in2] = e;
  }
  for (int i = v->t_z; i < v->n_tensors; i++)
    if (need[i] != INT_MAX && need[i] < start[i]) return 0;
  return 1;
}

int vae_decode_halo_start(const Vae *v, int a) {
  int s = a;
  while (s > 0 && !halo_ok(v, s, a)) s--;
  return s;
}
