// The MFU denominator (train/peak.h) against an independent measurement of
// the same machine: no GEMM can run faster than the FMA peak, so a peak
// below the GEMM's FLOP/s would print MFU above 100% (the bug it replaced);
// a loop that spills its accumulators to memory measured 28 GFLOP/s here
// against a 55 GFLOP/s GEMM and fails this.
#include <omp.h>
#include <string.h>

#include "testlib.h"
#include "train/peak.h"

int main(void) {
  omp_set_num_threads(1);
  const Peak p = peak_fp32(1);
  const double gemm = measure_gemm_gflops();
  char text[128];
  peak_describe(&p, text, sizeof text);
  printf("  %s; GEMM 1024^3 on one thread %.1f GFLOP/s (%.0f%% of it)\n", text, gemm, 100.0 * gemm / p.gflops);
  EXPECT(p.gflops >= gemm, "peak %.1f GFLOP/s below a GEMM's %.1f: MFU would exceed 100%%", p.gflops, gemm);
  EXPECT(p.threads == 1 && p.gflops == p.per_thread_gflops, "one thread's peak is the per-thread peak");
  const Peak p4 = peak_fp32(4);
  EXPECT(p4.threads == 4 && p4.gflops == 4 * p4.per_thread_gflops, "the peak scales with the compute threads");
  EXPECT(strstr(text, p.isa) != NULL, "the description names the vector unit");
  return tl_finish("test_peak");
}
