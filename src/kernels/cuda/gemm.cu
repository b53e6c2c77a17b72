// GEMMs and linear layers through cuBLAS / cuBLASLt.
// Row-major C[M,N] = op(A) op(B) is the column-major product
// C^T[N,M] = op(B)^T op(A)^T: cuBLAS gets (B, A) swapped, (tb, ta) as its
// (transa, transb), m = N, n = M, and the same leading dimensions.
#include "kernels/cuda/common.cuh"

static cublasHandle_t blas_of(const GpuCtx *cx) { return (cublasHandle_t)cx->blas; }
static cublasOperation_t op_of(int t) { return t ? CUBLAS_OP_T : CUBLAS_OP_N; }

static void gemm_ex(const GpuCtx *cx, int ta, int tb, int M, int N, int K, float alpha, const void *A,
                    cudaDataType_t at, int lda, const void *B, cudaDataType_t bt, int ldb, float beta, void *C,
                    cudaDataType_t ct, int ldc, cublasComputeType_t compute) {
  if (M <= 0 || N <= 0) return;
  CUBLAS_CHECK(cublasGemmEx(blas_of(cx), op_of(tb), op_of(ta), N, M, K, &alpha, B, bt, ldb, A, at, lda, &beta, C, ct,
                            ldc, compute, CUBLAS_GEMM_DEFAULT));
}

// float data: A and B rounded to bf16 (nearest even) into the context's
// buffers, then the bf16 tensor-core product with fp32 accumulation into
// float C. Two conversion passes cost far less than the product: handing the
// float operands to cuBLAS with CUBLAS_COMPUTE_32F_FAST_16BF instead ran at
// 50 TFLOP/s on an H200 (8192x4608x1152), against 700 for bf16 operands.
extern "C" void gpu_gemm(const GpuCtx *cx, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                         int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // C = beta C: nothing to convert
    gemm_ex(cx, ta, tb, M, N, K, alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, beta, C, CUDA_R_32F, ldc,
            CUBLAS_COMPUTE_32F);
    return;
  }
  // stored shapes: A is [M,K] (ta 0) or [K,M] (ta 1) at stride lda; B is [K,N] or [N,K]
  const int a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
  void *a16 = gpu_buffer(cx, BUF_GEMM_A, (size_t)a_rows * a_cols * 2);
  void *b16 = gpu_buffer(cx, BUF_GEMM_B, (size_t)b_rows * b_cols * 2);
  f32_to_bf16_2d(cx, a16, A, a_rows, a_cols, lda);
  f32_to_bf16_2d(cx, b16, B, b_rows, b_cols, ldb);
  gemm_ex(cx, ta, tb, M, N, K, alpha, a16, CUDA_R_16BF, a_cols, b16, CUDA_R_16BF, b_cols, beta, C, CUDA_R_32F, ldc,
          CUBLAS_COMPUTE_32F);
}

void gemm_batched_bf16(const GpuCtx *cx, int ta, int tb, int M, int N, int K, float alpha, const void *A, int lda,
                       long long sA, const void *B, int ldb, long long sB, float beta, void *C, int c_bf16, int ldc,
                       long long sC, int batch) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
  CUBLAS_CHECK(cublasGemmStridedBatchedEx(blas_of(cx), op_of(tb), op_of(ta), N, M, K, &alpha, B, CUDA_R_16BF, ldb,
                                          sB, A, CUDA_R_16BF, lda, sA, &beta, C,
                                          c_bf16 ? CUDA_R_16BF : CUDA_R_32F, ldc, sC, batch, CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT));
}

// full fp32 (the handle's math mode keeps TF32 off)
extern "C" void gpu_gemm_f32(const GpuCtx *cx, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                             int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  gemm_ex(cx, ta, tb, M, N, K, alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, beta, C, CUDA_R_32F, ldc,
          CUBLAS_COMPUTE_32F);
}

extern "C" void gpu_gemm_bf16(const GpuCtx *cx, int ta, int tb, int M, int N, int K, float alpha, const bf16_t *A,
                              int lda, const bf16_t *B, int ldb, float beta, void *C, int c_bf16, int ldc) {
  gemm_ex(cx, ta, tb, M, N, K, alpha, A, CUDA_R_16BF, lda, B, CUDA_R_16BF, ldb, beta, C,
          c_bf16 ? CUDA_R_16BF : CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F);
}

// ---------------------------------------------------------------- linear, float data
// out[M,O] = b[o] (row broadcast), before the GEMM adds in w^T (beta = 1)
__global__ void bias_rows_kernel(float *out, const float *b, int64_t M, int O) {
  GRID_STRIDE(i, M * O) out[i] = b[i % O];
}

typedef void (*GemmFn)(const GpuCtx *, int, int, int, int, int, float, const float *, int, const float *, int,
                       float, float *, int);

static void linear_forward_with(GemmFn g, const GpuCtx *cx, float *out, const float *in, const float *w,
                                const float *b, int M, int I, int O) {
  if (M <= 0 || O <= 0) return;
  if (b) {
    bias_rows_kernel<<<blocks_for((int64_t)M * O, 256), 256, 0, stream_of(cx)>>>(out, b, M, O);
    KERNEL_CHECK();
  }
  g(cx, 0, 1, M, O, I, 1.0f, in, I, w, I, b ? 1.0f : 0.0f, out, O);
}

// db[o] += sum_m dout[m,o]
struct BiasGrad {
  const float *dout;
  float *db;
  int O;
  __device__ void load(int64_t r, int c, double q[1]) const { q[0] = dout[r * O + c]; }
  __device__ void store(int, int, int c, const double q[1]) const { db[c] += (float)q[0]; }
};

static void linear_backward_with(GemmFn g, const GpuCtx *cx, float *din, float *dw, float *db, const float *dout,
                                 const float *in, const float *w, int M, int I, int O) {
  if (din) g(cx, 0, 0, M, I, O, 1.0f, dout, O, w, I, 1.0f, din, I);  // din[M,I] += dout[M,O] w[O,I]
  if (dw) g(cx, 1, 0, O, I, M, 1.0f, dout, O, in, I, 1.0f, dw, I);   // dw[O,I] += dout^T in
  if (db) colreduce<BiasGrad, 1>(cx, BiasGrad{dout, db, O}, NULL, 1, M, O);  // fixed order, double partials
}

static int linear_lt(const GpuCtx *cx, void *out, cudaDataType_t io, bf16_t *pre, const bf16_t *in, const bf16_t *w,
                     const void *b, int gelu, int M, int I, int O);

// bf16 tensor-core products, fp32 accumulation: in and w rounded to bf16
// once, then one cuBLASLt call with the bias in its epilogue writing fp32
// out (no pre-fill of out with b, no read of it back); gpu_gemm's path where
// cuBLASLt has no algorithm.
extern "C" void gpu_linear_forward(const GpuCtx *cx, float *out, const float *in, const float *w, const float *b,
                                   int M, int I, int O) {
  if (M <= 0 || O <= 0) return;
  if (I > 0) {
    bf16_t *in16 = (bf16_t *)gpu_buffer(cx, BUF_GEMM_A, (size_t)M * I * 2);
    bf16_t *w16 = (bf16_t *)gpu_buffer(cx, BUF_GEMM_B, (size_t)O * I * 2);
    f32_to_bf16_2d(cx, in16, in, M, I, I);
    f32_to_bf16_2d(cx, w16, w, O, I, I);
    if (linear_lt(cx, out, CUDA_R_32F, NULL, in16, w16, b, 0, M, I, O)) return;
  }
  linear_forward_with(gpu_gemm, cx, out, in, w, b, M, I, O);
}
// dout rounded to bf16 once for both products (din += dout w, dw += dout^T in)
extern "C" void gpu_linear_backward(const GpuCtx *cx, float *din, float *dw, float *db, const float *dout,
                                    const float *in, const float *w, int M, int I, int O) {
  if ((din || dw) && M > 0 && O > 0 && I > 0) {
    bf16_t *g16 = (bf16_t *)gpu_buffer(cx, BUF_GEMM_A, (size_t)M * O * 2);
    f32_to_bf16_2d(cx, g16, dout, M, O, O);
    if (din) {
      bf16_t *w16 = (bf16_t *)gpu_buffer(cx, BUF_GEMM_B, (size_t)O * I * 2);
      f32_to_bf16_2d(cx, w16, w, O, I, I);
      gemm_ex(cx, 0, 0, M, I, O, 1.0f, g16, CUDA_R_16BF, O, w16, CUDA_R_16BF, I, 1.0f, din, CUDA_R_32F, I,
              CUBLAS_COMPUTE_32F);
    }
    if (dw) {
      bf16_t *in16 = (bf16_t *)gpu_buffer(cx, BUF_GEMM_C, (size_t)M * I * 2);
      f32_to_bf16_2d(cx, in16, in, M, I, I);
      gemm_ex(cx, 1, 0, O, I, M, 1.0f, g16, CUDA_R_16BF, O, in16, CUDA_R_16BF, I, 1.0f, dw, CUDA_R_32F, I,
              CUBLAS_COMPUTE_32F);
    }
  }
  if (db && M > 0 && O > 0) colreduce<BiasGrad, 1>(cx, BiasGrad{dout, db, O}, NULL, 1, M, O);
}

// full fp32 products (gpu_gemm_f32, no TF32): run.precision fp32
extern "C" void gpu_linear_forward_f32(const GpuCtx *cx, float *out, const float *in, const float *w,
                                       const float *b, int M, int I, int O) {
  linear_forward_with(gpu_gemm_f32, cx, out, in, w, b, M, I, O);
}
extern "C" void gpu_linear_backward_f32(const GpuCtx *cx, float *din, float *dw, float *db, const float *dout,
                                        const float *in, const float *w, int M, int I, int O) {
  linear_backward_with(gpu_gemm_f32, cx, din, dw, db, dout, in, w, M, I, O);
}

// ---------------------------------------------------------------- linear backward, bf16 operands
// db[o] += sum_m dout[m,o], dout bf16
struct BiasGradBf16 {
  const __nv_bfloat16 *dout;
  float *db;
  int O;
  __device__ void load(int64_t r, int c, double q[1]) const { q[0] = __bfloat162float(dout[r * O + c]); }
  __device__ void store(int, int, int c, const double q[1]) const { db[c] += (float)q[0]; }
};

extern "C" void gpu_linear_backward_bf16(const GpuCtx *cx, float *din, float *dw, float *db, const bf16_t *dout,
                                         const bf16_t *in, const bf16_t *w, int M, int I, int O) {
  if (din) gpu_gemm_bf16(cx, 0, 0, M, I, O, 1.0f, dout, O, w, I, 1.0f, din, 0, I);  // din[M,I] += dout w
  if (dw) gpu_gemm_bf16(cx, 1, 0, O, I, M, 1.0f, dout, O, in, I, 1.0f, dw, 0, I);   // dw[O,I] += dout^T in
  if (db) colreduce<BiasGradBf16, 1>(cx, BiasGradBf16{(const __nv_bfloat16 *)dout, db, O}, NULL, 1, M, O);
}

// ---------------------------------------------------------------- linear, bf16, cuBLASLt epilogues
__device__ __forceinline__ float gelu_tanh(float x) {
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + tanhf(u));
}

// Fallback epilogue: out = act(out + b); pre = out + b before the activation.
__global__ void bias_gelu_bf16_kernel(__nv_bfloat16 *out, __nv_bfloat16 *pre, const __nv_bfloat16 *b, int gelu,
                                      int64_t M, int O) {
  GRID_STRIDE(i, M * O) {
    float x = __bfloat162float(out[i]) + (b ? __bfloat162float(b[i % O]) : 0.0f);
    if (gelu) {
      if (pre) pre[i] = __float2bfloat16_rn(x);
      x = gelu_tanh(x);
    }
    out[i] = __float2bfloat16_rn(x);
  }
}

// out[M,O] = act(in[M,I] w[O,I]^T + b) in one cuBLASLt call (bf16 in, w;
// out and b of type io: bf16, or fp32 with fp32 accumulation written as is).
// Returns 0 when cuBLASLt has no algorithm for this case (the caller falls back).
static int linear_lt(const GpuCtx *cx, void *out, cudaDataType_t io, bf16_t *pre, const bf16_t *in, const bf16_t *w,
                     const void *b, int gelu, int M, int I, int O) {
  if (gelu && pre && O % 8 != 0) return 0;  // the aux matrix's leading dimension must be a multiple of 8
  cublasLtHandle_t lt = (cublasLtHandle_t)cx->blaslt;
  cublasLtMatmulDesc_t op = NULL;
  cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
  cublasLtMatmulPreference_t pref = NULL;
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t tA = CUBLAS_OP_T, tB = CUBLAS_OP_N;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &tA, sizeof tA));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tB, sizeof tB));
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  if (gelu)
    epi = b ? (pre ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_BIAS)
            : (pre ? CUBLASLT_EPILOGUE_GELU_AUX : CUBLASLT_EPILOGUE_GELU);
  else if (b)
    epi = CUBLASLT_EPILOGUE_BIAS;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
  if (b) {
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b, sizeof b));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &io, sizeof io));
  }
  if (gelu && pre) {
    const int64_t ld = O;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &pre, sizeof pre));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof ld));
  }
  // column-major views: w as [I,O] (ld I, transposed by the op), in as [I,M], out as [O,M]
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, I, O, I));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, I, M, I));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lc, io, O, M, O));
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws = cx->blas_ws_bytes;
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  cublasLtMatmulHeuristicResult_t res;
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 1, &res, &found);
  int ok = st == CUBLAS_STATUS_SUCCESS && found > 0;
  if (ok) {
    const float alpha = 1.0f, beta = 0.0f;
    CUBLAS_CHECK(cublasLtMatmul(lt, op, &alpha, w, la, in, lb, &beta, out, lc, out, lc, &res.algo, cx->blas_ws, ws,
                                stream_of(cx)));
  }
  CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
  CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(lc));
  CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(lb));
  CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(la));
  CUBLAS_CHECK(cublasLtMatmulDescDestroy(op));
  return ok;
}

extern "C" void gpu_linear_forward_bf16(const GpuCtx *cx, bf16_t *out, bf16_t *pre, const bf16_t *in,
                                        const bf16_t *w, const bf16_t *b, int gelu, int M, int I, int O) {
  if (M <= 0 || O <= 0) return;
  if (I > 0 && linear_lt(cx, out, CUDA_R_16BF, pre, in, w, b, gelu, M, I, O)) return;
  gpu_gemm_bf16(cx, 0, 1, M, O, I, 1.0f, in, I, w, I, 0.0f, out, 1, O);
  if (b || gelu) {
    bias_gelu_bf16_kernel<<<blocks_for((int64_t)M * O, 256), 256, 0, stream_of(cx)>>>(
        (__nv_bfloat16 *)out, (__nv_bfloat16 *)pre, (const __nv_bfloat16 *)b, gelu, M, O);
    KERNEL_CHECK();
  }
}
