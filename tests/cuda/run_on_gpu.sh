#!/usr/bin/env bash
# The GPU check of the CUDA backend (docs/cuda.md "The GPU check"), for a few
# minutes of a borrowed H100/H200. Prepare here, run there:
#   here:  make -j2 gpu-bundle        (the GPU programs, built with this machine's nvcc, in build/gpu)
#   there: bash tests/cuda/run_on_gpu.sh       (device tool: carry ["build/gpu", "bin"], timeout_s 600)
# Stages, each under its own timeout and all within BUDGET seconds (default
# 540); a stage that fails or is skipped is reported and the next one runs;
# the summary block is printed last, whatever happened:
#   env      the GPU, driver, nvcc, PyTorch
#   programs the carried build/gpu programs if they load there, else built
#            there (make build/cuda/...: needs nvcc, gcc and libyaml)
#   kernels  test_cuda_ops: every op of the backend table on the CPU backend,
#            the CUDA backend in fp32 (1e-5) and bf16 (1e-2 for the GEMMs)
#            mode, the CUDA-only functions, then kernel timings
#   model    test_model_backends --steps 200: the model's forward + backward on
#            the GPU vs the CPU backend (fp32 within 1e-4; bf16 within 2e-2
#            loss/output, 5e-2 gradients) and 200 AdamW steps whose losses
#            follow the CPU run's (fp32 1e-3 per step; bf16 1e-2 mean of the
#            last quarter)
#   peak     the card's bf16 GEMM rate (8192^3, cuBLAS)
#   bench    a training step at the b and xl sizes, bf16 mode: ms, TFLOP/s, MFU,
#            then (PROFILE=1, the default) the step's time per op
#   torch    the same models in the machine's PyTorch (scaled_dot_product_attention,
#            bf16 autocast): ms and MFU on tessera's FLOP count (TORCH=0: skipped)
#   memcheck compute-sanitizer memcheck over test_cuda_ops (no timings)
#   tessera  bin/tessera train / generate / bench step with run.device=cuda,
#            where bin/tessera loads there (its HDF5, MPI, FFmpeg libraries) and
#            accepts run.device: cuda
# Logs: build/gpu_check/<stage>.log; with $OUT set (device tool, which returns
# at most 8 files) $OUT/summary.txt and $OUT/gpu_check_logs.tgz. Exit status:
# 0 when every stage that ran passed.
# A dry run here, without a GPU, over the CPU stand-ins:
#   GPU_CHECK_BIN=DIR TIMINGS=0 bash tests/cuda/run_on_gpu.sh   (DIR: the three
#   program names linked to build/cuda/*_mock and a stub bench_model_gpu)
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
LOG=$ROOT/build/gpu_check  # one log per stage; $OUT gets summary.txt and them all in one .tgz
rm -rf "$LOG"; mkdir -p "$LOG"
BUDGET=${BUDGET:-540}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}  # the CPU backend side of the comparisons
T0=$(date +%s)
declare -a SUMMARY
FAILED=0
elapsed() { echo $(( $(date +%s) - T0 )); }
note() { SUMMARY+=("$(printf '%-11s %s' "$1" "$2")"); echo "== $1: $2"; }
detail() { SUMMARY+=("            $1"); }

# run_stage NAME TIMEOUT CMD...: runs CMD under min(TIMEOUT, what is left of the
# budget), output to $LOG/NAME.log (and the terminal); returns its status
# (124: timed out; 125: not started, no time left).
run_stage() {
  local name=$1 limit=$2; shift 2
  local left=$(( BUDGET - $(elapsed) - 10 ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 15 ]; then
    echo "== $name: not started (budget of $BUDGET s used up)"
    echo "not started: time budget" >"$LOG/$name.log"
    return 125
  fi
  echo "== $name (limit ${limit}s, at $(elapsed)s)"
  rm -f "$LOG/$name.log"
  timeout --kill-after=10 "$limit" "$@" >"$LOG/$name.log" 2>&1
  local rc=$?
  tail -n 40 "$LOG/$name.log"
  return $rc
}
verdict() {  # NAME RC TEXT: the summary line of a stage
  case $2 in
    0) note "$1" "ok   $3" ;;
    124|137) note "$1" "TIMEOUT $3"; FAILED=1 ;;
    125) note "$1" "not run (time budget)" ;;
    *) note "$1" "FAIL (exit $2) $3"; FAILED=1 ;;
  esac
}
json_field() { /usr/bin/env python3 -c 'import json,sys
for line in open(sys.argv[1]):
    line=line.strip()
    if line.startswith("{"):
        d=json.loads(line); print(d.get(sys.argv[2],"")); break' "$1" "$2" 2>/dev/null; }

# ---------------------------------------------------------------- env
{
  echo "date: $(date -u)  host: $(hostname)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 | head -2
  command -v nvcc >/dev/null && nvcc --version | tail -1
  gcc --version 2>/dev/null | head -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' 2>&1 | tail -1
} >"$LOG/env.log" 2>&1
cat "$LOG/env.log"
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
note env "${GPU:-no GPU seen by nvidia-smi}; $(grep -m1 '^torch' "$LOG/env.log")"

# ---------------------------------------------------------------- programs
# The CUDA libraries: the toolkit's, else those PyTorch ships (nvidia-* wheels).
cuda_libs() {
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda-*/lib64 /usr/lib/x86_64-linux-gnu; do
    [ -e "$d/libcublasLt.so.13" ] && { echo "$d"; return; }
  done
  python3 - <<'PY' 2>/dev/null
import glob, os, site
for s in site.getsitepackages():
    for lib in ("cublas", "cuda_runtime"):
        for d in glob.glob(os.path.join(s, "nvidia", lib, "lib")) + glob.glob(os.path.join(s, "nvidia", "cu13", "lib")):
            print(d)
PY
}
export LD_LIBRARY_PATH="$(cuda_libs | tr '\n' ':')$ROOT/build/gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
PROGS="test_cuda_ops test_model_backends bench_model_gpu"
BIN=${GPU_CHECK_BIN:-$ROOT/build/gpu}  # GPU_CHECK_BIN: other programs (a dry run of this script)
loads() {  # every program there and its libraries found (no grep -q in a pipe: pipefail)
  local p
  for p in $PROGS; do
    [ -x "$BIN/$p" ] && [[ "$(ldd "$BIN/$p" 2>&1)" != *"not found"* ]] || return 1
  done
}
if loads; then
  note programs "ok   carried build/gpu (built with $(strings "$BIN/test_cuda_ops" | grep -m1 -o 'GCC: ([^)]*) [0-9.]*'))"
else
  echo "carried programs missing or not loadable here: $(for p in $PROGS; do ldd "$BIN/$p" 2>&1 | grep 'not found'; done | sort -u | tr '\n' ' ')"
  run_stage build 300 make -j"$(nproc)" CUDA_WERROR=0 $(for p in $PROGS; do echo build/cuda/$p; done)
  rc=$?
  BIN=$ROOT/build/cuda
  if [ $rc = 0 ] && loads; then note programs "ok   built here ($(grep -c nvcc "$LOG/build.log") nvcc runs)"
  else verdict programs "$rc" "no GPU programs: see build.log"; fi
fi

# Is there a GPU the CUDA backend can open? Without one, the GPU stages would
# only fail one after the other: say why once.
probe=$("$BIN/test_cuda_ops" --probe 2>&1 | tail -1)
if [ $? != 0 ] || [[ "$probe" != GPU:* ]]; then
  note gpu "NONE: ${probe:-test_cuda_ops --probe printed nothing}: the GPU stages were not run"
  FAILED=1
  GPU_STAGES=0
else
  note gpu "$probe"
  GPU_STAGES=1
fi
if [ $GPU_STAGES = 1 ]; then
  # ---------------------------------------------------------------- kernels
  run_stage kernels 150 "$BIN/test_cuda_ops" --require-gpu $([ "${TIMINGS:-1}" = 0 ] && echo --no-timings)
  rc=$?
  verdict kernels $rc "$(grep '^test_cuda_ops:' "$LOG/kernels.log" | sed 's/^test_cuda_ops: //')"
  while read -r l; do detail "$l"; done < <(grep '^FAIL' "$LOG/kernels.log" | head -5)
  while read -r l; do detail "$l"; done < <(grep '^time ' "$LOG/kernels.log")

  # ---------------------------------------------------------------- model
  run_stage model 150 "$BIN/test_model_backends" --steps 200 --require-gpu
  rc=$?
  verdict model $rc "$(grep '^test_model_backends:' "$LOG/model.log" | sed 's/^test_model_backends: //')"
  while read -r l; do detail "$l"; done < <(grep '^  ' "$LOG/model.log")

  # ---------------------------------------------------------------- peak, bench
  run_stage peak 60 "$BIN/bench_model_gpu" --peak
  rc=$?
  PEAK=$(json_field "$LOG/peak.log" gemm_bf16_8192_tflops)
  verdict peak $rc "bf16 GEMM 8192^3: ${PEAK:-?} TFLOP/s"
  for spec in b:4 xl:2; do
    size=${spec%%:*} batch=${spec##*:}
    run_stage "bench_$size" 120 "$BIN/bench_model_gpu" --config "configs/model/$size.yaml" --batch "$batch" --iters 5 \
      ${PEAK:+--peak-tflops "$PEAK"} $([ "${PROFILE:-1}" = 1 ] && echo --profile)
    rc=$?
    f="$LOG/bench_$size.log"
    verdict "bench_$size" $rc "B=$batch: $(json_field "$f" train_step_ms) ms/step, $(json_field "$f" tflops) TFLOP/s, MFU $(json_field "$f" mfu)"
    while read -r l; do detail "$l"; done < <(grep '^profile' "$f" | head -12)
    # the same model in PyTorch, MFU on tessera's FLOP count (TORCH=0: skipped)
    [ "${TORCH:-1}" = 0 ] && continue
    TF=$(json_field "$f" tflop_per_step)
    run_stage "torch_$size" 150 python3 tests/cuda/torch_gpu_step.py --model-yaml "configs/model/$size.yaml" \
      --batch "$batch" --iters 5 ${TF:+--tflop-per-step "$TF"} ${PEAK:+--peak-tflops "$PEAK"}
    rc=$?
    g="$LOG/torch_$size.log"
    [ $rc = 3 ] && { note "torch_$size" "skipped: $(grep -m1 SKIPPED "$g")"; continue; }
    verdict "torch_$size" $rc "$(json_field "$g" impl): $(json_field "$g" train_step_ms) ms/step, MFU $(json_field "$g" mfu)"
  done

  # ---------------------------------------------------------------- memcheck
  # compute-sanitizer (Firecracker machines have it): out-of-bounds and
  # misaligned accesses in every kernel of the op table, no timings.
  CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
  if [ -n "$CS" ]; then
    run_stage memcheck 120 "$CS" --tool memcheck --error-exitcode 9 \
      "$BIN/test_cuda_ops" --require-gpu --no-timings
    verdict memcheck $? "$(grep -m1 'ERROR SUMMARY' "$LOG/memcheck.log")"
  else
    note memcheck "not run: no compute-sanitizer found"
  fi

  # ---------------------------------------------------------------- tessera itself
  TB=$ROOT/bin/tessera
  if [ ! -x "$TB" ]; then
    note tessera "not run: bin/tessera not carried (carry [\"build/gpu\", \"bin\"])"
  elif missing=$(ldd "$TB" 2>&1 | grep 'not found' | awk '{print $1}' | tr '\n' ' ') && [ -n "$missing" ]; then
    note tessera "not run: bin/tessera lacks libraries here: $missing"
  else
    RUN=$ROOT/build/gpu_check_run; rm -rf "$RUN"  # checkpoints: not in the logs archive
    run_stage train_gpu 150 "$TB" train configs/train/tiny.yaml run.device=cuda run.precision=bf16 train.steps=200 \
      train.log_every=1 train.ckpt_every=200 "train.out=$RUN/gpu"
    rc=$?
    if [ $rc = 125 ]; then
    verdict tessera 125 ""
  elif grep -q "run.device" "$LOG/train_gpu.log" && grep -q "expected cpu" "$LOG/train_gpu.log"; then
      note tessera "not run: this bin/tessera refuses run.device: cuda (the command wiring is not in yet)"
    else
      verdict train_gpu $rc "$(grep 'step 200 ' "$LOG/train_gpu.log" | head -1)"
      run_stage train_cpu 150 "$TB" train configs/train/tiny.yaml train.steps=200 train.log_every=1 train.ckpt_every=200 \
        "train.out=$RUN/cpu"
      rc=$?
      verdict train_cpu $rc "$(python3 tests/cuda/loss_follow.py "$LOG/train_cpu.log" "$LOG/train_gpu.log" 2>&1 | tail -1)"
      ck=$(ls "$RUN"/gpu/ckpt_*.h5 2>/dev/null | tail -1)
      run_stage generate 90 "$TB" generate --ckpt "${ck:-none}" --prompt "a red ball rolls left" --steps 10 \
        --device cuda --out "$LOG/generate.mp4"
      verdict generate $? "$(tail -1 "$LOG/generate.log")"
      run_stage bench_step 120 "$TB" bench step --config configs/model/b.yaml --batch 4 run.device=cuda
      verdict bench_step $? "$(grep -m1 '^{' "$LOG/bench_step.log")"
    fi
  fi

fi  # GPU_STAGES

# ---------------------------------------------------------------- summary
{
  echo "================ tessera GPU check: ${GPU:-no GPU} ($(elapsed) s of $BUDGET) ================"
  for l in "${SUMMARY[@]}"; do echo "$l"; done
  echo "verdict: $([ $FAILED = 0 ] && echo 'every stage that ran passed' || echo 'FAILURES above') (logs: $LOG)"
} | tee "$LOG/summary.txt"
if [ -n "${OUT:-}" ]; then
  cp "$LOG/summary.txt" "$OUT/" && tar czf "$OUT/gpu_check_logs.tgz" -C "$ROOT/build" gpu_check 2>/dev/null
fi
exit $FAILED
