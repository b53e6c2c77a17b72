#pragma once
// Measured fp32 GEMM throughput of this machine (GFLOP/s) through gemm(),
// with the threads OpenMP will use: the denominator of MFU.
double measure_gemm_peak_gflops(void);
