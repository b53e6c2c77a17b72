// Megatron tensor parallel and Ulysses sequence parallel building blocks.
#include "model/parallel.h"

#include <string.h>

#include "core/error.h"
#include "kernels/ops.h"

void tp_allreduce(const Model *m, float *x, size_t n) {
  if (m->layout.tp > 1) comm_allreduce(m->layout.tp_group, x, n, COMM_F32, COMM_SUM);
}

void row_linear_forward(const Model *m, float *out, const float *in, const float *w, const float *b, int M, int I,
                        int O) {
  if (m->layout.tp == 1) {
    linear_forward(out, in, w, b, M, I, O);
    return;
  }
  linear_forward(out, in, w, NULL, M, I, O);  // this rank's partial sum over its input slice
  tp_allreduce(m, out, (size_t)M * O);
  if (!b) return;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; r++)
    for (int o = 0; o < O; o++) out[(size_t)r * O + o] += b[o];
}

// One all-to-all per tensor (buffers of one tensor's size: [B,N,Dt] floats);
// block j of the send buffer goes to sp rank j, [B][N][W] floats each way
// (N = tokens per rank, W = Ha*hd = one rank's heads slice).
void sp_tokens_to_heads(const Model *m, int B, int nt, const float *const tok[], const int ld[], float *const head[]) {
  const Dims d = m->acts->d;
  const int sp = d.sp, N = d.N, W = d.Ha * d.hd;
  const size_t block = (size_t)B * N * W;
  float *send = m->acts->gs.sp_send, *recv = m->acts->gs.sp_recv;
  for (int k = 0; k < nt; k++) {
    // pack: to rank j, the columns of its heads slice j*W .. (j+1)*W of every local token
#pragma omp parallel for collapse(2) schedule(static)
    for (int j = 0; j < sp; j++)
      for (int r = 0; r < B * N; r++)
        memcpy(send + j * block + (size_t)r * W, tok[k] + (size_t)r * ld[k] + (size_t)j * W, (size_t)W * sizeof(float));
    comm_alltoall(m->layout.sp_group, send, recv, block, COMM_F32);
    // unpack: from rank i, its N tokens (global i*N ..) of this rank's heads slice
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < sp; i++)
      for (int b = 0; b < B; b++)
        memcpy(head[k] + ((size_t)b * d.Nf + (size_t)i * N) * W, recv + i * block + (size_t)b * N * W,
               (size_t)N * W * sizeof(float));
  }
}

void sp_heads_to_tokens(const Model *m, int B, int nt, const float *const head[], float *const tok[], const int ld[]) {
  const Dims d = m->acts->d;
  const int sp = d.sp, N = d.N, W = d.Ha * d.hd;
  const size_t block = (size_t)B * N * W;
  float *send = m->acts->gs.sp_send, *recv = m->acts->gs.sp_recv;
  for (int k = 0; k < nt; k++) {
    // pack: to rank j, the tokens it holds (global j*N ..) of this rank's heads slice
#pragma omp parallel for collapse(2) schedule(static)
    for (int j = 0; j < sp; j++)
      for (int b = 0; b < B; b++)
        memcpy(send + j * block + (size_t)b * N * W, head[k] + ((size_t)b * d.Nf + (size_t)j * N) * W,
               (size_t)N * W * sizeof(float));
    comm_alltoall(m->layout.sp_group, send, recv, block, COMM_F32);
    // unpack: from rank i, heads slice i of this rank's tokens
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < sp; i++)
      for (int r = 0; r < B * N; r++)
        memcpy(tok[k] + (size_t)r * ld[k] + (size_t)i * W, recv + i * block + (size_t)r * W, (size_t)W * sizeof(float));
  }
}
