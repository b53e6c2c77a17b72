// GpuCtx: device selection, stream, cuBLAS / cuBLASLt handles and their
// workspace, reduction scratch; plus the memory helpers of cuda_ops.h.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/common.cuh"

// cuBLASLt asks for up to 32 MiB on Hopper for its best kernels; the row
// reductions need segments x 2 variants x Q x columns doubles per chunk.
static const size_t BLAS_WS_BYTES = 32u << 20, SCRATCH_BYTES = 64u << 20;

struct GpuBuffers {
  void *p[GPU_BUFFER_SLOTS];
  size_t bytes[GPU_BUFFER_SLOTS];
};

extern "C" int gpu_device_count(char *why, size_t why_size) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear it: a later call must not see it
    if (why && why_size)
      snprintf(why, why_size, "no usable CUDA device: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    return 0;
  }
  if (n == 0 && why && why_size) snprintf(why, why_size, "no CUDA device visible (CUDA_VISIBLE_DEVICES?)");
  if (n > 0 && why && why_size) snprintf(why, why_size, "%d CUDA device(s)", n);
  return n;
}

extern "C" void gpu_init(GpuCtx *cx, int device) {
  memset(cx, 0, sizeof *cx);
  cx->device = device;
  CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  snprintf(cx->name, sizeof cx->name, "%s", prop.name);
  cx->cc_major = prop.major;
  cx->cc_minor = prop.minor;
  cx->num_sms = prop.multiProcessorCount;
  cx->mem_total = prop.totalGlobalMem;
  cudaStream_t s;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  cx->stream = s;
  cx->blas_ws_bytes = BLAS_WS_BYTES;
  cx->blas_ws = gpu_alloc(BLAS_WS_BYTES);
  cx->scratch_bytes = SCRATCH_BYTES;
  cx->scratch = gpu_alloc(SCRATCH_BYTES);
  cublasHandle_t h;
  CUBLAS_CHECK(cublasCreate(&h));
  CUBLAS_CHECK(cublasSetStream(h, s));
  CUBLAS_CHECK(cublasSetWorkspace(h, cx->blas_ws, cx->blas_ws_bytes));
  CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));  // no TF32 unless a call asks for it
  cx->blas = h;
  cublasLtHandle_t lt;
  CUBLAS_CHECK(cublasLtCreate(&lt));
  cx->blaslt = lt;
  cx->buffers = (struct GpuBuffers *)calloc(1, sizeof(struct GpuBuffers));
  TSR_CUDA_ASSERT(cx->buffers, "gpu_init: out of host memory");
  const char *sync = getenv("TSR_CUDA_SYNC");
  cx->debug_sync = sync && *sync && strcmp(sync, "0") != 0;
}

void kernel_check(const GpuCtx *cx, const char *file, int line) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    tsr_fatal(file, line, "CUDA", "kernel launch: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
  if (cx->debug_sync) {
    e = cudaStreamSynchronize(stream_of(cx));
    if (e != cudaSuccess)
      tsr_fatal(file, line, "CUDA", "kernel (checked right after it ran: debug_sync): %s (%s)", cudaGetErrorString(e),
                cudaGetErrorName(e));
  }
}

extern "C" void gpu_shutdown(GpuCtx *cx) {
  if (!cx->stream) return;
  gpu_sync(cx);
  CUBLAS_CHECK(cublasLtDestroy((cublasLtHandle_t)cx->blaslt));
  CUBLAS_CHECK(cublasDestroy((cublasHandle_t)cx->blas));
  for (int i = 0; i < GPU_BUFFER_SLOTS; i++) gpu_free(cx->buffers->p[i]);
  free(cx->buffers);
  gpu_free(cx->scratch);
  gpu_free(cx->blas_ws);
  CUDA_CHECK(cudaStreamDestroy(stream_of(cx)));
  memset(cx, 0, sizeof *cx);
}

void *gpu_buffer(const GpuCtx *cx, int slot, size_t bytes) {
  struct GpuBuffers *b = cx->buffers;
  if (bytes > b->bytes[slot]) {
    const size_t grown = bytes + bytes / 4;  // a little headroom: the next larger shape need not regrow
    gpu_sync(cx);                             // a queued kernel may still read the old one
    gpu_free(b->p[slot]);
    b->p[slot] = gpu_alloc(grown);
    b->bytes[slot] = grown;
  }
  return b->p[slot];
}

extern "C" void gpu_sync(const GpuCtx *cx) { CUDA_CHECK(cudaStreamSynchronize(stream_of(cx))); }

extern "C" void gpu_describe(const GpuCtx *cx, char *buf, size_t size) {
  int blas_version = 0;
  CUBLAS_CHECK(cublasGetVersion((cublasHandle_t)cx->blas, &blas_version));
  int rt = 0;
  CUDA_CHECK(cudaRuntimeGetVersion(&rt));
  snprintf(buf, size, "%s, sm_%d%d, %d SMs, %.1f GiB, CUDA runtime %d, cuBLAS %d", cx->name, cx->cc_major,
           cx->cc_minor, cx->num_sms, cx->mem_total / 1073741824.0, rt, blas_version);
}

extern "C" void *gpu_alloc(size_t bytes) {
  void *p = NULL;
  CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
  return p;
}

extern "C" void gpu_free(void *p) {
  if (p) CUDA_CHECK(cudaFree(p));
}

extern "C" void gpu_upload(const GpuCtx *cx, void *dst_dev, const void *src_host, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst_dev, src_host, bytes, cudaMemcpyHostToDevice, stream_of(cx)));
  gpu_sync(cx);
}

extern "C" void gpu_download(const GpuCtx *cx, void *dst_host, const void *src_dev, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst_host, src_dev, bytes, cudaMemcpyDeviceToHost, stream_of(cx)));
  gpu_sync(cx);
}

extern "C" void gpu_zero(const GpuCtx *cx, void *p, size_t bytes) {
  if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_of(cx)));
}

extern "C" void gpu_copy(const GpuCtx *cx, void *dst, const void *src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_of(cx)));
}

__global__ void fill_kernel(float *x, float value, int64_t n) {
  GRID_STRIDE(i, n) x[i] = value;
}

extern "C" void gpu_fill_f32(const GpuCtx *cx, float *x, float value, int64_t n) {
  if (n <= 0) return;
  if (value == 0.0f && !signbit(value)) {  // +0.0 is all zero bits: the copy engine's memset
    CUDA_CHECK(cudaMemsetAsync(x, 0, (size_t)n * sizeof(float), stream_of(cx)));
    return;
  }
  fill_kernel<<<blocks_for(n, 256), 256, 0, stream_of(cx)>>>(x, value, n);
  KERNEL_CHECK();
}
