// Megatron tensor parallel and Ulysses sequence parallel building blocks.
#include "model/parallel.h"

#include "core/error.h"
#include "kernels/backend.h"

void tp_allreduce(const Model *m, float *x, size_t n) {
  if (m->layout.tp > 1) comm_allreduce(m->layout.tp_group, x, n, COMM_F32, COMM_SUM);
}

void col_linear_backward(const Model *m, float *din, float *dw, float *db, const float *dout, const float *in,
                         const float *w, int M, int I, int O) {
  if (m->layout.tp == 1 || m->layout.comm_blocking) {
    be_linear_backward(m->be, din, dw, db, dout, in, w, M, I, O);
    tp_allreduce(m, din, (size_t)M * I);
    return;
  }
  CommRequest req;
  be_linear_backward(m->be, din, NULL, NULL, dout, in, w, M, I, O);
  comm_iallreduce(m->layout.tp_group, din, (size_t)M * I, COMM_F32, COMM_SUM, &req);
  be_linear_backward(m->be, NULL, dw, NULL, dout, in, w, M, I, O);
  comm_test(&req);  // Open MPI progresses a non-blocking collective only inside MPI calls
  if (db) be_linear_backward(m->be, NULL, NULL, db, dout, in, w, M, I, O);
  comm_wait(&req);
}

void row_linear_forward(const Model *m, float *out, const float *in, const float *w, const float *b, int M, int I,
                        int O) {
  if (m->layout.tp == 1) {
    be_linear_forward(m->be, out, in, w, b, M, I, O);
    return;
  }
  be_linear_forward(m->be, out, in, w, NULL, M, I, O);  // this rank's partial sum over its input slice
  tp_allreduce(m, out, (size_t)M * O);
  if (b) be_add_broadcast(m->be, out, out, b, M, M, O);  // every row + b
}

// One all-to-all per tensor (buffers of one tensor's size: [B,N,Dt] floats);
// block j of the send buffer goes to Ulysses rank j, [B][N][W] floats each way
// (N = tokens per rank, W = Ha*hd = one rank's heads slice).
void sp_tokens_to_heads(const Model *m, int B, int nt, const float *const tok[], const int ld[], float *const head[]) {
  const Dims d = m->acts->d;
  const int U = d.U, N = d.N, W = d.Ha * d.hd;
  const size_t block = (size_t)B * N * W;
  float *send = m->acts->gs.sp_send, *recv = m->acts->gs.sp_recv;
  for (int k = 0; k < nt; k++) {
    // pack: to rank j, the columns of its heads slice j*W .. (j+1)*W of every local token
    for (int j = 0; j < U; j++) be_copy2d(m->be, send + j * block, W, tok[k] + (size_t)j * W, ld[k], B * N, W);
    comm_alltoall(m->ulysses_group, send, recv, block, COMM_F32);
    // unpack: from rank i, its N tokens (global i*N ..) of this rank's heads slice
    for (int i = 0; i < U; i++)  // rows b of N*W floats, at stride Nu*W in head
      be_copy2d(m->be, head[k] + (size_t)i * N * W, d.Nu * W, recv + i * block, N * W, B, N * W);
  }
}

void sp_heads_to_tokens(const Model *m, int B, int nt, const float *const head[], float *const tok[], const int ld[]) {
  const Dims d = m->acts->d;
  const int U = d.U, N = d.N, W = d.Ha * d.hd;
  const size_t block = (size_t)B * N * W;
  float *send = m->acts->gs.sp_send, *recv = m->acts->gs.sp_recv;
  for (int k = 0; k < nt; k++) {
    // pack: to rank j, the tokens it holds (global j*N ..) of this rank's heads slice
    for (int j = 0; j < U; j++)
      be_copy2d(m->be, send + j * block, N * W, head[k] + (size_t)j * N * W, d.Nu * W, B, N * W);
    comm_alltoall(m->ulysses_group, send, recv, block, COMM_F32);
    // unpack: from rank i, heads slice i of this rank's tokens
    for (int i = 0; i < U; i++) be_copy2d(m->be, tok[k] + (size_t)i * W, ld[k], recv + i * block, W, B * N, W);
  }
}

void sp_tokens_to_heads_start(const Model *m, int B, const float *tok, int ld, CommRequest *req) {
  const Dims d = m->acts->d;
  const int U = d.U, N = d.N, W = d.Ha * d.hd;
  const size_t block = (size_t)B * N * W;
  float *send = m->acts->gs.sp_send;
  for (int j = 0; j < U; j++) be_copy2d(m->be, send + j * block, W, tok + (size_t)j * W, ld, B * N, W);
  comm_ialltoall(m->ulysses_group, send, m->acts->gs.sp_recv, block, COMM_F32, req);
}

void sp_tokens_to_heads_finish(const Model *m, int B, float *head, CommRequest *req) {
  const Dims d = m->acts->d;
  const int U = d.U, N = d.N, W = d.Ha * d.hd;
  const size_t block = (size_t)B * N * W;
  const float *recv = m->acts->gs.sp_recv;
  comm_wait(req);
  for (int i = 0; i < U; i++) be_copy2d(m->be, head + (size_t)i * N * W, d.Nu * W, recv + i * block, N * W, B, N * W);
}

void sp_heads_to_tokens_start(const Model *m, int B, const float *head, CommRequest *req) {
  const Dims d = m->acts->d;
  const int U = d.U, N = d.N, W = d.Ha * d.hd;
  const size_t block = (size_t)B * N * W;
  float *send = m->acts->gs.sp_send;
  for (int j = 0; j < U; j++) be_copy2d(m->be, send + j * block, N * W, head + (size_t)j * N * W, d.Nu * W, B, N * W);
  if (req)
    comm_ialltoall(m->ulysses_group, send, m->acts->gs.sp_recv, block, COMM_F32, req);
  else
    comm_alltoall(m->ulysses_group, send, m->acts->gs.sp_recv, block, COMM_F32);
}

void sp_heads_to_tokens_finish(const Model *m, int B, float *tok, int ld, CommRequest *req) {
  const Dims d = m->acts->d;
  const int U = d.U, N = d.N, W = d.Ha * d.hd;
  const size_t block = (size_t)B * N * W;
  const float *recv = m->acts->gs.sp_recv;
  if (req) comm_wait(req);
  for (int i = 0; i < U; i++) be_copy2d(m->be, tok + (size_t)i * W, ld, recv + i * block, W, B * N, W);
}
