#!/usr/bin/env bash
# Nsight Compute on the flash attention kernels at the xl timing shape (GPU machine; docs/cuda.md):
#   bash tests/cuda/ncu_attention.sh   (device tool: carry ["build/gpu"]; full reports in $OUT/ncu_<kernel>.txt)
OUT=${OUT:-build/ncu}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$PWD/build/gpu/lib
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
echo "ncu: $NCU"
for k in attn_fwd_mma attn_bwd_dkdv attn_bwd_dq; do
  timeout 100 $NCU --clock-control none -k regex:$k --launch-skip 1 --launch-count 1 --section SpeedOfLight --section Occupancy --section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis build/gpu/test_cuda_ops --timings-only > $OUT/ncu_$k.txt 2>&1
  grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit|Stall|Warp Cycles Per Issued|Issued Warp|L1/TEX Hit|L2 Hit|Eligible|No Eligible|Active Warps Per" $OUT/ncu_$k.txt | head -30
  grep -E "^    (OPT|WRN)" -A2 $OUT/ncu_$k.txt | head -30
done
