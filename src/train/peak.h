#pragma once
// The machine's fp32 peak: the denominator of MFU.
//
// It is the throughput of fused multiply-adds on the widest vector unit the
// CPU has (AVX-512, AVX2+FMA, else SSE multiply+add), measured on one thread
// with independent accumulators in registers (no memory traffic, so no GEMM
// can beat it), best of 200 short repetitions (a busy machine delays some,
// not the best), times the threads that compute. A GEMM reaches ~80-90% of it;
// load on the machine lowers the achieved FLOP/s, never the peak, so MFU stays
// below 100%. (The earlier denominator, a GEMM timed at start-up, fell on a
// busy machine and printed MFU above 100%.)
typedef struct {
  double gflops;          // threads x per_thread_gflops
  double per_thread_gflops;
  int threads;
  const char *isa;        // "avx512", "avx2+fma", "sse", "avx512-bf16"
  const char *kind;       // "fp32 FMA" or "bf16 dot-product"
} Peak;

// threads: the compute threads of this process (omp_get_max_threads()).
Peak peak_fp32(int threads);
// The bf16 peak, the denominator of MFU in the CPU backend's bf16 mode: the
// throughput of AVX512-BF16 dot products (vdpbf16ps: 32 bf16 products summed
// into 16 fp32 lanes), measured as peak_fp32; peak_fp32 where the CPU has none.
Peak peak_bf16(int threads);
// The peak for a backend: bf16 on a host backend in bf16 mode, else fp32.
Peak peak_for(int bf16_host, int threads);
// One phrase for logs: "fp32 FMA peak 2 x 96.1 GFLOP/s (avx2+fma, measured)".
void peak_describe(const Peak *p, char *buf, int n);

// fp32 GEMM throughput through gemm() with the threads OpenMP will use
// (GFLOP/s): what the GEMM library reaches of the peak.
double measure_gemm_gflops(void);
