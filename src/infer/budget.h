// How much more memory this process may allocate, for checks made before
// hours of work rather than an allocation failure after them.
#pragma once
#include <stdint.h>

// The least of: the machine's MemAvailable, the cgroup's limit less this process's resident size
// (Slurm confines jobs this way; cgroup v2 or v1), and the address-space and
// data rlimits (ulimit -v, -d) less what is mapped. UINT64_MAX when nothing
// can be read.
uint64_t mem_available(void);
