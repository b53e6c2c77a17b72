// The floating-point environment of the threads that compute.
//
// Denormal (subnormal) floats are slow on x86: every instruction that reads
// or produces one can take ~100 cycles. They arise inside a training step as
// the model sharpens (softmax probabilities, products of small gradients),
// and made `make demo` 2.3x slower late in a run on an AVX-512 Xeon (issue
// 19). tessera runs with flush-to-zero (results) and denormals-are-zero
// (inputs) in every thread that computes; the largest value this changes is
// FLT_MIN ~ 1.2e-38, far below any tolerance the model's numbers are held to.
#pragma once

// Sets FTZ and DAZ in the calling thread. Threads it creates afterwards
// inherit them (pthread_create copies the floating-point environment).
void fpenv_flush_denormals(void);

// The same in the calling thread and in every thread of the OpenMP pool.
void fpenv_flush_denormals_all_threads(void);

// 1 if the calling thread flushes denormals, observed by arithmetic (a
// subnormal input reads as zero, a subnormal result becomes zero), not by
// reading control bits: it is what a kernel would see.
int fpenv_denormals_flushed(void);

// How many threads of the OpenMP pool flush denormals; *nthreads gets the
// pool's size. The trainer logs it; tests read the log.
int fpenv_flushing_omp_threads(int *nthreads);
