// The MFU denominator (train/peak.h): one thread's measured FMA throughput,
// times the compute threads, on the vector unit the CPU reports. Speeds are
// not asserted here (no timing asserts in tests): `make bench` prints the peak
// beside a GEMM measured in the same run (bench step: peak_gflops, gemm_gflops).
#include <math.h>
#include <string.h>

#include "testlib.h"
#include "train/peak.h"

int main(void) {
  const Peak p = peak_fp32(1);
  char text[128];
  peak_describe(&p, text, sizeof text);
  printf("  %s\n", text);
  EXPECT(isfinite(p.gflops) && p.gflops > 0, "a finite, positive peak: %g", p.gflops);
  EXPECT(p.threads == 1 && p.gflops == p.per_thread_gflops, "one thread's peak is the per-thread peak");
  const Peak p4 = peak_fp32(4);
  EXPECT(p4.threads == 4 && p4.gflops == 4 * p4.per_thread_gflops, "the peak scales with the compute threads");
  EXPECT(peak_fp32(0).threads == 1, "no fewer than one thread");
#if defined(__x86_64__)
  __builtin_cpu_init();
  const char *want = __builtin_cpu_supports("avx512f") ? "avx512"
                     : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? "avx2+fma" : "sse";
  EXPECT(!strcmp(p.isa, want), "the widest vector unit the CPU reports: %s, measured on %s", want, p.isa);
#endif
  EXPECT(strstr(text, p.isa) != NULL, "the description names the vector unit");
  // the bf16 peak (the CPU's bf16 mode): AVX512-BF16 dot products where the CPU
  // has them, else the fp32 peak; the description says which
  const Peak b = peak_bf16(2);
  peak_describe(&b, text, sizeof text);
  printf("  %s\n", text);
  EXPECT(isfinite(b.gflops) && b.gflops > 0 && b.gflops == 2 * b.per_thread_gflops, "a finite bf16 peak for 2 threads");
#if defined(__x86_64__)
  const int has_bf16 = __builtin_cpu_supports("avx512bf16");
  EXPECT(!strcmp(b.kind, has_bf16 ? "bf16 dot-product" : "fp32 FMA") && strstr(text, b.kind),
         "bf16 peak on %s: kind '%s' (named in '%s')", has_bf16 ? "AVX512-BF16" : "a CPU without it", b.kind, text);
#endif
  EXPECT(peak_for(0, 1).kind == peak_fp32(1).kind && peak_for(1, 1).kind == b.kind, "peak_for picks by mode");
  return tl_finish("test_peak");
}
