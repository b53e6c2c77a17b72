// CPU ops the pretrained text encoders need beyond kernels/ops.h (same
// conventions: row-major float32, a plain `_ref` reference and the fast
// version without suffix). Forward only: the encoders are frozen.
#pragma once
#include <stdint.h>

// LayerNorm over the last dim C of in[M,C] with a given eps (BERT: 1e-12):
// out = (x - mean) / sqrt(var + eps) * w + b, var biased. w, b [C] required.
// out may equal in.
void layernorm_eps_forward(float *out, const float *in, const float *w, const float *b, int M, int C, float eps);
void layernorm_eps_forward_ref(float *out, const float *in, const float *w, const float *b, int M, int C, float eps);

// GELU, exact (BERT, PyTorch's default): 0.5 x (1 + erf(x / sqrt 2)). out may equal in.
void gelu_erf_forward(float *out, const float *in, int64_t n);
void gelu_erf_forward_ref(float *out, const float *in, int64_t n);
