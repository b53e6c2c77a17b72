#!/usr/bin/env bash
# Distributed `tessera generate` (src/infer/dist.h) against one rank, on a
# checkpoint made in seconds:
#  1. sequence parallel (--sp 2), CFG-parallel (--cfg-parallel), both at once
#     (4 ranks) and tensor parallel (--tp 2) make the single-rank clip: the
#     contact sheets (PNG, lossless, every frame) agree within one 8-bit level
#     (the float clips differ by reassociation only, ~1e-7 relative);
#  2. data parallel over a prompt list: 2 replicas write the same 3 clips as
#     one rank, each exactly once, with the layout in the provenance JSON;
#  3. activation memory per rank falls with sp (arena and peak RSS printed);
#  4. bad layouts: a world that does not split into replicas, sp not dividing
#     the tokens / heads: exit 2 with one message.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=build/tmp/generate_parallel; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
MPI() { local np=$1; shift; timeout 120 mpirun --oversubscribe -np "$np" "$@"; }
small=(model.depth=2 model.dim=64 model.heads=4 model.video.frames=8 model.video.height=16 model.video.width=16
       train.batch=2 train.warmup=1)

$T data synth --out $tmp/s.h5 --clips 8 --frames 8 --size 16x16 --seed 1 >$tmp/synth.log 2>&1 || fail "synth"
$T train configs/train/tiny.yaml "${small[@]}" train.steps=2 train.out=$tmp/run data.path=$tmp/s.h5 >$tmp/train.log 2>&1 \
  || fail "train: $(tail -2 $tmp/train.log)"
ckpt=$tmp/run/ckpt_2.h5
args=(--ckpt $ckpt --steps 3 --cfg 2.5 --seed 4 --sampler heun --upscale 1)
prompt="a red circle moves left"

# sheet A B WHAT: every pixel of the two contact sheets within one level
same_sheet() {
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY' || fail "$3: the clip differs from one rank's"
import sys, numpy as np, imageio as iio
a, b = (iio.imread(p).astype(int) for p in sys.argv[1:3])
d = np.abs(a - b)
print("  %-34s max |diff| %d/255, %d of %d values differ" % (sys.argv[3], d.max(), (d > 0).sum(), d.size))
assert a.shape == b.shape and d.max() <= 1 and (d > 0).mean() < 0.01, (a.shape, b.shape, d.max())
PY
}

# 1. one clip over several ranks
$T generate "${args[@]}" --prompt "$prompt" --out $tmp/one.mp4 >$tmp/one.log 2>&1 || fail "one rank: $(tail -2 $tmp/one.log)"
MPI 2 $T generate "${args[@]}" --prompt "$prompt" --sp 2 --out $tmp/sp2.mp4 >$tmp/sp2.log 2>&1 || fail "sp2: $(tail -3 $tmp/sp2.log)"
same_sheet $tmp/one.png $tmp/sp2.png "sp 2"
MPI 2 $T generate "${args[@]}" --prompt "$prompt" --cfg-parallel --out $tmp/cfg.mp4 >$tmp/cfg.log 2>&1 || fail "cfg-parallel: $(tail -3 $tmp/cfg.log)"
same_sheet $tmp/one.png $tmp/cfg.png "cfg-parallel"
MPI 4 $T generate "${args[@]}" --prompt "$prompt" --sp 2 --cfg-parallel --out $tmp/sp2cfg.mp4 >$tmp/sp2cfg.log 2>&1 \
  || fail "sp2 x cfg-parallel: $(tail -3 $tmp/sp2cfg.log)"
same_sheet $tmp/one.png $tmp/sp2cfg.png "sp 2 x cfg-parallel (4 ranks)"
MPI 2 $T generate "${args[@]}" --prompt "$prompt" --tp 2 --out $tmp/tp2.mp4 >$tmp/tp2.log 2>&1 || fail "tp2: $(tail -3 $tmp/tp2.log)"
same_sheet $tmp/one.png $tmp/tp2.png "tp 2"
MPI 2 $T generate "${args[@]}" --prompt "$prompt" --sp 2 --ring 2 --out $tmp/ring2.mp4 >$tmp/ring2.log 2>&1 || fail "ring2: $(tail -3 $tmp/ring2.log)"
same_sheet $tmp/one.png $tmp/ring2.png "sp 2 as ring attention (--ring 2)"
grep -q '"layout":{"ranks":4,"dp":1,"cfg_parallel":true,"sp":2,"tp":1}' $tmp/sp2cfg.json || fail "layout in the provenance: $(cat $tmp/sp2cfg.json)"
echo "ok  sp 2, ring 2, cfg-parallel, sp 2 x cfg-parallel and tp 2 make the single-rank clip"

# 2. data parallel over a prompt list
printf '%s\n' "# three prompts" "a red circle moves left" "" "a blue square moves right" "a green triangle" >$tmp/prompts.txt
$T generate "${args[@]}" --prompts $tmp/prompts.txt --out $tmp/list1 >$tmp/list1.log 2>&1 || fail "list on one rank: $(tail -2 $tmp/list1.log)"
MPI 2 $T generate "${args[@]}" --prompts $tmp/prompts.txt --out $tmp/list2 >$tmp/list2.log 2>&1 || fail "list on 2 replicas: $(tail -3 $tmp/list2.log)"
for i in 000 001 002; do
  [ -s $tmp/list2/$i.mp4 ] && [ -s $tmp/list2/$i.json ] || fail "dp 2: no $tmp/list2/$i.mp4"
  [ "$(grep -c "wrote $tmp/list2/$i.mp4" $tmp/list2.log)" = 1 ] || fail "dp 2: $i.mp4 not written exactly once"
  same_sheet $tmp/list1/$i.png $tmp/list2/$i.png "prompt $i on replica $((10#$i % 2)) of 2"
done
[ ! -e $tmp/list2/003.mp4 ] || fail "dp 2: a fourth clip from three prompts"
grep -q '"prompt":"a blue square moves right","seed":5,' $tmp/list2/001.json || fail "prompt 1: seed + 1 in the provenance"
echo "ok  2 replicas split a prompt list and make the single-rank clips"

# 3. memory per rank falls with sp: activations (the arena) exactly, RSS as measured,
# on a longer clip (64 frames: 512 tokens, random-data checkpoint)
$T train configs/train/tiny.yaml "${small[@]}" model.video.frames=64 train.steps=1 train.out=$tmp/long >$tmp/long.log 2>&1 \
  || fail "train the long-clip model: $(tail -2 $tmp/long.log)"
long=(--ckpt $tmp/long/ckpt_1.h5 --steps 1 --cfg 2 --upscale 1)
printf 'one\ntwo\n' >$tmp/two.txt
for sp in 1 2 4; do  # sp 1 also runs as 2 replicas of one rank, so every run logs the per-rank numbers
  if [ $sp = 1 ]; then MPI 2 $T generate "${long[@]}" --prompts $tmp/two.txt --out $tmp/mem1 >$tmp/mem$sp.log 2>&1 || fail "memory sp 1"
  else MPI $sp $T generate "${long[@]}" --prompt "$prompt" --sp $sp --out $tmp/mem$sp.mp4 >$tmp/mem$sp.log 2>&1 \
    || fail "memory sp $sp: $(tail -3 $tmp/mem$sp.log)"; fi
  act=$(sed -n 's/.*activations \([0-9.]*\) MiB per rank.*/\1/p' $tmp/mem$sp.log)
  rss=$(sed -n 's/.*peak RSS per rank (MiB): //p' $tmp/mem$sp.log)
  [ -n "$act" ] && [ -n "$rss" ] || fail "memory sp $sp: no measurement in $tmp/mem$sp.log"
  echo "  sp $sp: activations $act MiB per rank, peak RSS per rank $rss MiB"
  eval "act$sp=$act"
done
/usr/bin/python3 -c "import sys; a1, a2, a4 = map(float, sys.argv[1:]); assert a2 < 0.6 * a1 and a4 < 0.6 * a2, (a1, a2, a4)" \
  "$act1" "$act2" "$act4" || fail "activations per rank do not fall with sp: $act1 $act2 $act4"
echo "ok  activation memory per rank falls with sp"

# 4. bad layouts: exit 2, one message
bad() {  # NP WANT ARGS...
  local np=$1 want=$2; shift 2
  set +e; MPI "$np" "$@" >$tmp/bad.out 2>$tmp/bad.err; local rc=$?; set -e
  [ $rc = 2 ] && [ "$(grep -c 'tessera: error' $tmp/bad.err)" = 1 ] && grep -q -- "$want" $tmp/bad.err \
    || fail "expected exit 2 and one error with '$want' from $np ranks: $* (rc $rc: $(cat $tmp/bad.err))"
}
bad 3 "do not split into replicas of cfg 1 x sp 2 x tp 1" $T generate "${args[@]}" --prompt x --sp 2 --out $tmp/x.mp4
bad 3 "model.heads=4: parallel.tp=1 x parallel.sp=3" $T generate "${args[@]}" --prompt x --sp 3 --out $tmp/x.mp4
bad 2 "cfg-parallel needs classifier-free guidance" $T generate "${args[@]}" --cfg 1 --prompt x --cfg-parallel --out $tmp/x.mp4
[ ! -e $tmp/x.mp4 ] || fail "a refused layout left $tmp/x.mp4"
echo "ok  bad layouts refused with one message and exit 2"
