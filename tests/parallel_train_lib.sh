# Shared by tests/test_parallel_train*.sh (sourced with the scratch directory
# name as $1): the tiny model, a train runner with and without mpirun, loss
# extraction and comparison.
T=${TESSERA:-bin/tessera}
PY=/usr/bin/python3
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=build/tmp/$1; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
# A model small enough that a run is seconds: 16 tokens, width 32, 2 blocks;
# grad_clip below the gradient norm (~0.2) so every step clips by the global norm.
small=(model.depth=2 model.dim=32 model.heads=4 model.mlp_ratio=2 model.video.frames=8 model.video.height=8
       model.video.width=8 model.text.length=8 model.text.layers=1 model.text.vocab=64 train.batch=4
       train.log_every=1 train.warmup=2 train.steps=8 train.ckpt_every=4 train.keep_ckpts=0 data.p_drop=0.2
       train.grad_clip=0.1)
# train NAME NP ARGS...: NP=0 runs without mpirun; sets $rc; log in $tmp/NAME.log.
# A run takes seconds; the timeout only turns a hang into a failure, and is
# generous because nice'd tests on a busy 2-core machine can crawl.
limit=${TEST_TIMEOUT:-300}
train() {
  local name=$1 np=$2; shift 2
  if [ "$np" = 0 ]; then timeout $limit $T train configs/train/tiny.yaml "${small[@]}" train.out=$tmp/$name "$@" >$tmp/$name.log 2>&1
  else timeout $limit mpirun --oversubscribe -np "$np" $T train configs/train/tiny.yaml "${small[@]}" train.out=$tmp/$name "$@" >$tmp/$name.log 2>&1; fi
  rc=$?
  [ $rc = 124 ] && fail "$name hung (timeout $limit s): $(tail -5 $tmp/$name.log)"
  return 0
}
losses() { $PY -c 'import json,sys; print(" ".join(repr(json.loads(l)["loss"]) for l in open(sys.argv[1])))' "$1"; }
norms() { $PY -c 'import json,sys; print(" ".join(repr(json.loads(l)["grad_norm"]) for l in open(sys.argv[1])))' "$1"; }
# close A B: the two loss lists have the same length and agree within 1e-5 relative
close() {
  $PY - "$1" "$2" <<'PY'
import sys
a, b = [list(map(float, s.split())) for s in sys.argv[1:3]]
rel = max(abs(x - y) / abs(x) for x, y in zip(a, b)) if a and len(a) == len(b) else float("inf")
print(f"{rel:.2e}")
sys.exit(0 if rel <= 1e-5 else 1)
PY
}

