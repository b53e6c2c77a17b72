#!/usr/bin/env bash
# ZeRO's gradient reduce-scatter overlapped with the backward (parallel.bucket_mb,
# docs/parallel_train.md "Overlap") against the blocking path (bucket_mb 0), on
# the tiny model, 4 steps at dp 2, dp 2 x sp 2 (2 micro-batches) and dp 4 (ranks oversubscribed):
#  - parameters, EMA and both AdamW moments equal bit for bit (ckpt_compare with
#    zero tolerance) -- at dp 4 only because the comm layer's ring sums every
#    element in an order fixed by its owner, not by the bucket;
#  - the bytes each group sends per step are the blocking path's;
#  - the overlap really ran: several buckets per step, most started during the
#    backward (by the model's grad_ready hook), not after it.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/parallel_train_lib.sh overlap
steps=(train.steps=4 train.ckpt_every=0)
field() { $PY -c 'import json,sys; l=next(l for l in open(sys.argv[1]) if l.startswith("comm {")); print(json.loads(l[5:])[sys.argv[2]])' "$@"; }
# dp 2 x sp 2 with two micro-batches: only the last one's backward overlaps (the first accumulates)
for layout in "2 parallel.dp=2" "4 parallel.dp=2 parallel.sp=2 train.accum=2" "4 parallel.dp=4"; do
  set -- $layout; np=$1; shift
  name=$(echo "$*" | tr -d ' .=' | sed 's/parallel//g; s/train//g')
  train "$name-block" "$np" "$@" "${steps[@]}"
  [ $rc = 0 ] || fail "$name blocking run exit $rc: $(tail -3 $tmp/$name-block.log)"
  # 0.02 MiB: a bucket per block or two of the tiny model (67,840 floats)
  train "$name-overlap" "$np" "$@" "${steps[@]}" parallel.bucket_mb=0.02
  [ $rc = 0 ] || fail "$name overlap run exit $rc: $(tail -3 $tmp/$name-overlap.log)"
  $PY tests/ckpt_compare.py $tmp/$name-block/ckpt_4.h5 $tmp/$name-overlap/ckpt_4.h5 --abs 0 --rel 0 \
    >$tmp/$name-compare.log 2>&1 || fail "$name: overlap differs from blocking: $(head -4 $tmp/$name-compare.log)"
  [ "$(losses $tmp/$name-block/metrics.jsonl)" = "$(losses $tmp/$name-overlap/metrics.jsonl)" ] \
    || fail "$name: losses differ"
  b=$(field $tmp/$name-block.log comm_bytes_per_step) o=$(field $tmp/$name-overlap.log comm_bytes_per_step)
  [ "$b" = "$o" ] || fail "$name: bytes per step differ: blocking $b, overlap $o"
  nb=$(field $tmp/$name-overlap.log buckets_per_step) early=$(field $tmp/$name-overlap.log buckets_early_per_step)
  $PY -c "import sys; sys.exit(0 if $nb >= 3 and $early >= $nb - 1 else 1)" \
    || fail "$name: $nb buckets per step, $early started during the backward (want >= 3, all but the last)"
  echo "ok: $name overlap = blocking bit for bit (params, ema, m, v), bytes $o, $nb buckets/step ($early during the backward)"
done
echo "test_overlap: ok"
