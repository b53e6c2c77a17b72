#!/usr/bin/env bash
# run.precision: bf16 on the CPU (kernels/cpu/gemm_bf16.c: GEMMs on bf16
# operands, fp32 accumulation, fp32 master weights): a small model trained 40
# steps in bf16 follows the fp32 run (mean relative loss difference over the
# last quarter <= 5e-2, and not bit-identical: the products really are
# bf16), and the log names the mode. On a CPU without AVX512-BF16 the run is
# refused in one line naming the reason, exit 2.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/parallel_train_lib.sh train_bf16_cpu
long=(train.steps=40 train.ckpt_every=40 train.grad_clip=1.0)
train fp32 0 "${long[@]}"
[ $rc = 0 ] || fail "fp32 run: exit $rc: $(tail -3 $tmp/fp32.log)"
train bf16 0 "${long[@]}" run.precision=bf16
if grep -q "AVX512-BF16" $tmp/bf16.log && [ $rc = 2 ]; then
  [ "$(grep -c 'tessera: error' $tmp/bf16.log)" = 1 ] || fail "the refusal is not one line: $(cat $tmp/bf16.log)"
  echo "ok  no AVX512-BF16 here: refused, exit 2: $(grep -m1 'tessera: error' $tmp/bf16.log | cut -c1-160)"
  exit 0
fi
[ $rc = 0 ] || fail "bf16 run: exit $rc: $(tail -3 $tmp/bf16.log)"
grep -q "bf16 operands" $tmp/bf16.log || fail "the bf16 run's log does not name the mode: $(grep -m3 -i 'backend\|gemm' $tmp/bf16.log)"
r=$($PY - $tmp/fp32/metrics.jsonl $tmp/bf16/metrics.jsonl <<'PY'
import json, sys
a, b = ([json.loads(l)["loss"] for l in open(p)] for p in sys.argv[1:3])
if len(a) != len(b) or not a:
    print(f"{len(a)} vs {len(b)} losses"); sys.exit(1)
tail = range(len(a) - len(a) // 4, len(a))
d = sum(abs(b[i] - a[i]) / abs(a[i]) for i in tail) / len(tail)
print(f"loss {a[0]:.4f} -> {a[-1]:.4f} (fp32) / {b[0]:.4f} -> {b[-1]:.4f} (bf16), last quarter mean rel diff {d:.2e}")
sys.exit(0 if 0 < d <= 5e-2 and b[-1] < b[0] else 1)
PY
) || fail "bf16 does not follow fp32 (or is bit-identical): $r"
echo "ok  run.precision=bf16 on the CPU follows fp32 over 40 steps: $r"
echo "    $(grep -m1 'bf16 operands' $tmp/bf16.log | sed 's/^ *//' | cut -c1-150)"
