// Sharded decoding in time with a recomputed halo (vae/vae_shard.h).
#include <stdlib.h>

#include "core/error.h"
#include "vae/vae_internal.h"
#include "vae/vae_shard.h"

void vae_shard_piece(int Tl, int r, int p, int *a, int *b) {
  *a = (int)((long)Tl * r / p);
  *b = (int)((long)Tl * (r + 1) / p);
}

// The first pixel frame that latent frame t gives.
static int first_frame(const Vae *v, int t) { return t == 0 ? 0 : 1 + (t - 1) * v->cfg.ct; }

int vae_decode_sharded(Vae *v, CommGroup *g, const float *latents, int Tl, float *clips) {
  TSR_ASSERT(v->passes & VAE_CHUNK_DECODE, "vae_decode_sharded: not laid out for chunked decoding");
  const size_t lat_f = (size_t)(v->H / v->cfg.cs) * (v->W / v->cfg.cs) * v->cfg.latent_channels;
  const size_t pix_f = (size_t)v->H * v->W * v->cfg.in_channels;
  const int T = first_frame(v, Tl), B = v->B;
  int a, b;
  vae_shard_piece(Tl, g->rank, g->size, &a, &b);
  const int F0 = first_frame(v, a), Fp = first_frame(v, b) - F0;
  float *piece = tsr_calloc((size_t)B * (Fp > 0 ? Fp : 1) * pix_f, sizeof(float));
  const int s = vae_decode_halo_start(v, a);
  vae_chunk_reset(v);
  for (int t0 = a < b ? s : b; t0 < b;) {  // the halo [s, a), then the piece; frames of the halo are dropped
    const int n = t0 == 0 ? 1 : (b - t0 < v->chunk ? b - t0 : v->chunk);
    vae_host_frames(v->host_in, n, 0, latents, Tl, t0, n, B, lat_f);
    const int F = vae_decode_chunk(v, v->host_in, t0, n, v->host_out), f0 = first_frame(v, t0);
    const int skip = f0 < F0 ? (F0 - f0 < F ? F0 - f0 : F) : 0;
    vae_host_frames(piece, Fp, f0 + skip - F0, v->host_out, F, skip, F - skip, B, pix_f);
    t0 += n;
  }
  // gather on rank 0: per clip, every rank's frames to their place in it
  const int p = g->size;
  size_t *cnt = tsr_calloc(4 * (size_t)p, sizeof(size_t)), *dis = cnt + p, *rcnt = cnt + 2 * p, *rdis = cnt + 3 * p;
  for (int bi = 0; bi < B; bi++) {
    cnt[0] = (size_t)Fp * pix_f;
    dis[0] = (size_t)bi * Fp * pix_f;
    for (int r = 0; r < p && g->rank == 0; r++) {
      int ra, rb;
      vae_shard_piece(Tl, r, p, &ra, &rb);
      rcnt[r] = (size_t)(first_frame(v, rb) - first_frame(v, ra)) * pix_f;
      rdis[r] = ((size_t)bi * T + first_frame(v, ra)) * pix_f;
    }
    comm_alltoallv(g, piece, cnt, dis, clips, rcnt, rdis, COMM_F32);
  }
  free(cnt);
  free(piece);
  return b - s;
}
