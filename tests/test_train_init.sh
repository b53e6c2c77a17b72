#!/usr/bin/env bash
# train.init_from (fine-tuning, a curriculum's next stage): a fresh run whose
# weights and EMA start as a checkpoint's, with fresh AdamW state, step and
# schedule. Checked against the source checkpoint itself (h5py):
#  1. one step at a learning rate of 1e-30 keeps the parameters equal to the
#     source's, the EMA is the step's blend of the source EMA and parameters
#     (decay 2/11 at the first step), the step is 1 and the AdamW moments are
#     one step's (m = (1 - beta1) g: |m| <= 0.1 |g|-sized, not the source's);
#     at one rank and at dp=2 (ZeRO shards of the EMA);
#  2. a run that resumes continues its own checkpoint and ignores init_from;
#  3. a checkpoint of another model, or no file: one line, exit 2.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/parallel_train_lib.sh train_init

train src 0
[ $rc = 0 ] || fail "source run: exit $rc: $(tail -3 $tmp/src.log)"
srcckpt=$tmp/src/ckpt_8.h5
[ -f $srcckpt ] || fail "no source checkpoint"

check() {  # check NAME: the run's ckpt_1.h5 against the source
  $PY - $srcckpt $tmp/$1/ckpt_1.h5 <<'PY'
import sys, h5py, numpy as np
src, new = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert int(new.attrs["step"]) == 1, "step %r" % new.attrs["step"]
d = 2.0 / 11.0  # min(ema_decay, (1 + n) / (10 + n)) at the first update
worst_p = worst_e = 0.0
moved_m = 0
for n in src["params"]:
    p0, e0 = src["params"][n][...], src["ema"][n][...]
    p1, e1 = new["params"][n][...], new["ema"][n][...]
    worst_p = max(worst_p, float(np.max(np.abs(p1 - p0), initial=0)))
    want = d * e0 + (1 - d) * p0
    worst_e = max(worst_e, float(np.max(np.abs(e1 - want) / (np.abs(want) + 1e-6), initial=0)))
    m_src, m_new = src["optim/m"][n][...], new["optim/m"][n][...]
    moved_m += int(np.any(m_src != 0) and not np.allclose(m_new, m_src))
ema_differs = any(not np.array_equal(src["ema"][n][...], src["params"][n][...]) for n in src["params"])
print("params max abs change %.1e, EMA max rel err %.1e, %d tensors with fresh moments, source EMA != params: %s"
      % (worst_p, worst_e, moved_m, ema_differs))
sys.exit(0 if worst_p <= 1e-20 and worst_e <= 1e-5 and moved_m > 0 and ema_differs else 1)
PY
}

one=(train.steps=1 train.lr=1e-30 train.min_lr=1e-30 train.warmup=0 train.ckpt_every=1 train.init_from=$srcckpt)
train init 0 "${one[@]}"
[ $rc = 0 ] || fail "init_from run: exit $rc: $(tail -3 $tmp/init.log)"
grep -q "weights and EMA from $srcckpt (its step 8)" $tmp/init.log || fail "the log does not name the source: $(grep -m3 -i 'from\|resumed' $tmp/init.log)"
r=$(check init) || fail "init_from at one rank: $r"
echo "ok  init_from at one rank: $r"

train init_dp2 2 "${one[@]}" parallel.dp=2
[ $rc = 0 ] || fail "init_from at dp=2: exit $rc: $(tail -3 $tmp/init_dp2.log)"
r=$(check init_dp2) || fail "init_from at dp=2: $r"
echo "ok  init_from at dp=2 (ZeRO shards): $r"

# 2. resuming wins: the run continues at its own step 1, not the source's weights again
train init 0 "${one[@]/train.steps=1/train.steps=2}" train.resume=auto
[ $rc = 0 ] || fail "resumed init_from run: exit $rc: $(tail -3 $tmp/init.log)"
grep -q "resumed from $tmp/init/ckpt_1.h5 at step 1" $tmp/init.log || fail "did not resume its own checkpoint: $(tail -3 $tmp/init.log)"
grep -q "weights and EMA from" $tmp/init.log && fail "init_from applied to a resumed run"
echo "ok  a resumed run continues its own checkpoint (init_from ignored)"

# 3. bad input
bad() {  # bad NAME PATTERN ARGS...
  local name=$1 pat=$2; shift 2
  train $name 0 train.steps=1 "$@"
  local n; n=$(grep -c "tessera: error:" $tmp/$name.log)
  [ $rc = 2 ] && [ "$n" = 1 ] && grep -q -- "$pat" $tmp/$name.log || fail "$name: exit $rc, $n error lines (want 2, 1 matching '$pat'):
$(grep -v '^ ' $tmp/$name.log | tail -5)"
  echo "ok  $name: exit 2, one line: $(grep "tessera: error:" $tmp/$name.log | cut -c1-150)"
}
bad other_model "blocks.2" model.depth=3 train.init_from=$srcckpt
bad missing "$tmp/nothing.h5" train.init_from=$tmp/nothing.h5
echo "test_train_init: all ok"
