#!/usr/bin/env bash
# tessera render without Slurm, against `tessera generate` as the ground truth:
#  1. a JSONL and a YAML list of the same items render the same MP4s, and each
#     equals, byte for byte, `generate` with the same request (t2v with and
#     without a seed, a long video, image-to-video, an id);
#  2. restart: a second run skips every item (checksums verified); a deleted or
#     altered output and an edited prompt are the only items rendered again;
#  3. sharding (--shard 0/2 + 1/2) and 2 MPI ranks give the same files as one run;
#     4 ranks as 2 CFG-parallel replicas equal `generate --cfg-parallel` on 2;
#  4. bad input: a malformed line and a missing image fail only their items
#     (file:line in stderr and in the manifest, exit 1, the rest done);
#     an unwritable output directory, a YAML syntax error, an empty list and
#     a bad --shard are one-line errors with exit 2; --status counts it all.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
tmp=build/tmp/render; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
# Two MP4s hold the same media: compared without their C2PA manifests (each
# signed file carries its own signature and time; docs/provenance.md).
same_video() { cmp -s <(/usr/bin/python3 tests/prov/strip_c2pa.py "$1" /dev/stdout) <(/usr/bin/python3 tests/prov/strip_c2pa.py "$2" /dev/stdout); }
export OMP_NUM_THREADS=1

# A small checkpoint with a tokenizer: a few steps on a tiny synth corpus.
$T data synth --out $tmp/shapes.h5 --clips 16 --frames 8 --size 16x16 --seed 0 >$tmp/synth.log 2>&1 || fail "synth: $(tail -1 $tmp/synth.log)"
$T train configs/train/tiny.yaml model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 model.video.width=16 \
  train.batch=2 train.steps=4 train.warmup=1 train.log_every=4 data.path=$tmp/shapes.h5 train.out=$tmp/run >$tmp/train.log 2>&1 ||
  fail "train: $(tail -2 $tmp/train.log)"
ckpt=$tmp/run/ckpt_4.h5
ffmpeg -v error -f lavfi -i color=c=blue:s=24x20 -frames:v 1 $tmp/blue.png

cat >$tmp/list.jsonl <<'EOF'
{"prompt": "a red circle moves left", "seed": 7}
# comments and blank lines are not items

{"prompt": "a green square moves up on a white background"}
{"prompt": "a blue triangle moves right", "seed": 3, "frames": 16}
{"prompt": "a yellow circle stays still", "image": "blue.png", "seed": 4, "id": "i2v"}
EOF
cat >$tmp/list.yaml <<'EOF'
prompts:
  - {prompt: a red circle moves left, seed: 7}
  - a green square moves up on a white background
  - prompt: a blue triangle moves right
    seed: 3
    frames: 16
  - {prompt: a yellow circle stays still, image: blue.png, seed: 4, id: i2v}
EOF
R=(--ckpt $ckpt --steps 3 --seed 20)
$T render $tmp/list.jsonl "${R[@]}" --out $tmp/a >$tmp/a.log 2>&1 || fail "render jsonl: $(tail -3 $tmp/a.log)"
$T render $tmp/list.yaml "${R[@]}" --out $tmp/y >$tmp/y.log 2>&1 || fail "render yaml: $(tail -3 $tmp/y.log)"
names=(item00000 item00001 item00002 i2v)
for n in "${names[@]}"; do same_video $tmp/a/$n.mp4 $tmp/y/$n.mp4 || fail "$n: JSONL and YAML lists rendered differently"; done
# generate with the same requests (item 1 has no seed: --seed 20 + index 1 = 21)
G=(--ckpt $ckpt --steps 3)
$T generate "${G[@]}" --prompt "a red circle moves left" --seed 7 --out $tmp/g0.mp4 >/dev/null 2>&1
$T generate "${G[@]}" --prompt "a green square moves up on a white background" --seed 21 --out $tmp/g1.mp4 >/dev/null 2>&1
$T generate "${G[@]}" --prompt "a blue triangle moves right" --seed 3 --frames 16 --out $tmp/g2.mp4 >/dev/null 2>&1
$T generate "${G[@]}" --prompt "a yellow circle stays still" --image $tmp/blue.png --seed 4 --out $tmp/g3.mp4 >/dev/null 2>&1
for i in 0 1 2 3; do
  same_video $tmp/g$i.mp4 $tmp/a/${names[$i]}.mp4 || fail "item $i differs from tessera generate with the same request"
  cmp -s $tmp/g$i.png $tmp/a/${names[$i]}.png || fail "item $i: contact sheet differs from generate's"
done
/usr/bin/python3 - "$tmp" <<'EOF' || fail "provenance records differ from generate's"
import json, sys
t = sys.argv[1]
for i, n in enumerate(["item00000", "item00001", "item00002", "i2v"]):
    g, r = json.load(open(f"{t}/g{i}.json")), json.load(open(f"{t}/a/{n}.json"))
    assert r.pop("render") == {"prompts": f"{t}/list.jsonl", "index": i, "line": [1, 4, 5, 6][i]}, n
    g.pop("seconds"), r.pop("seconds")
    assert g == r, (n, g, r)
EOF
echo "ok  JSONL and YAML lists: 4 items (t2v, default seed, 16-frame long video, i2v with id) equal tessera generate: MP4, sheet, provenance"

# 2. restart
$T render $tmp/list.jsonl "${R[@]}" --out $tmp/a >$tmp/a2.log 2>&1 || fail "second run: $(tail -2 $tmp/a2.log)"
[ "$(grep -c 'checksum verified: skipped' $tmp/a2.log)" = 4 ] && ! grep -q ') \[[0-9]*/[0-9]*\]:' $tmp/a2.log || fail "second run rendered again: $(cat $tmp/a2.log)"
rm $tmp/a/item00001.mp4
printf 'x' >>$tmp/a/item00002.mp4
sed -i 's/a red circle moves left/a red circle moves right/' $tmp/list.jsonl
$T render $tmp/list.jsonl "${R[@]}" --out $tmp/a >$tmp/a3.log 2>&1 || fail "third run: $(tail -2 $tmp/a3.log)"
rendered=$(grep -o 'item [0-9]* (line [0-9]*) \[' $tmp/a3.log | grep -o '^item [0-9]*' | tr '\n' ' ')
[ "$rendered" = "item 0 item 1 item 2 " ] && grep -q "item 3 (line 6): done earlier" $tmp/a3.log || fail "third run rendered: '$rendered' ($(cat $tmp/a3.log))"
grep -q "item 2: .*does not match its recorded checksum" $tmp/a3.log && grep -q "item 1: recorded as done but .* is missing" $tmp/a3.log ||
  fail "third run did not say why it rendered again: $(cat $tmp/a3.log)"
same_video $tmp/a/item00002.mp4 $tmp/g2.mp4 || fail "re-rendered item 2 differs from generate"
echo "ok  restart: all 4 skipped (checksums); then only the deleted, the altered and the edited item rendered again"

# 3. shards and ranks
sed -i 's/a red circle moves right/a red circle moves left/' $tmp/list.jsonl
$T render $tmp/list.jsonl "${R[@]}" --out $tmp/s --shard 0/2 >$tmp/s0.log 2>&1 || fail "shard 0/2: $(tail -2 $tmp/s0.log)"
$T render $tmp/list.jsonl "${R[@]}" --out $tmp/s --shard 1/2 >$tmp/s1.log 2>&1 || fail "shard 1/2: $(tail -2 $tmp/s1.log)"
grep -q "shard 0/2 has 2, this rank renders 2" $tmp/s0.log || fail "shard 0/2: $(head -1 $tmp/s0.log)"
# --bind-to none: x264 sizes its thread pool by the CPUs a process may use, and
# its bytes depend on that (the frames before encoding are the same either way).
timeout 120 mpirun --allow-run-as-root --oversubscribe --bind-to none -n 2 $T render $tmp/list.jsonl "${R[@]}" --out $tmp/m >$tmp/m.log 2>&1 ||
  fail "mpirun -n 2 render: $(tail -3 $tmp/m.log)"
[ -f $tmp/m/manifest-shard0of1-rank0.jsonl ] && [ -f $tmp/m/manifest-shard0of1-rank1.jsonl ] || fail "2 ranks: expected a manifest per rank: $(ls $tmp/m)"
grep -q '"index":1,.*"status":"done"' $tmp/m/manifest-shard0of1-rank1.jsonl && grep -q '"index":2,.*"status":"done"' $tmp/m/manifest-shard0of1-rank0.jsonl ||
  fail "2 ranks: items not split j mod 2"
for n in "${names[@]}"; do
  same_video $tmp/s/$n.mp4 $tmp/y/$n.mp4 || fail "$n: --shard run differs"
  same_video $tmp/m/$n.mp4 $tmp/y/$n.mp4 || fail "$n: 2-rank run differs"
done
$T render --status $tmp/m | grep -qE "^all +4 +4 +0 +0 +0 +0$" || fail "status of the 2-rank run: $($T render --status $tmp/m)"
echo "ok  --shard 0/2 + 1/2 and mpirun -n 2 (one manifest per rank, items j mod 2) give the same 4 files"

# 4 ranks as 2 CFG-parallel replicas: each item equals `generate --cfg-parallel` on 2 ranks.
MPI=(timeout 180 mpirun --allow-run-as-root --oversubscribe --bind-to none)
"${MPI[@]}" -n 4 $T render $tmp/list.jsonl "${R[@]}" --cfg-parallel --out $tmp/c >$tmp/c.log 2>&1 || fail "mpirun -n 4 render --cfg-parallel: $(tail -3 $tmp/c.log)"
ls $tmp/c/manifest-*.jsonl | sed 's|.*/||' | tr '\n' ' ' | grep -qx "manifest-shard0of1-rank0.jsonl manifest-shard0of1-rank2.jsonl " ||
  fail "2 replicas of 2 ranks: expected manifests of writers 0 and 2: $(ls $tmp/c)"
"${MPI[@]}" -n 2 $T generate "${G[@]}" --cfg-parallel --prompt "a red circle moves left" --seed 7 --out $tmp/gc0.mp4 >$tmp/gc.log 2>&1 || fail "generate --cfg-parallel: $(tail -2 $tmp/gc.log)"
"${MPI[@]}" -n 2 $T generate "${G[@]}" --cfg-parallel --prompt "a blue triangle moves right" --seed 3 --frames 16 --out $tmp/gc2.mp4 >$tmp/gc.log 2>&1 || fail "generate --cfg-parallel: $(tail -2 $tmp/gc.log)"
same_video $tmp/c/item00000.mp4 $tmp/gc0.mp4 && same_video $tmp/c/item00002.mp4 $tmp/gc2.mp4 || fail "render --cfg-parallel on 4 ranks differs from generate --cfg-parallel on 2"
grep -q '"layout":{"ranks":4,"dp":2,"cfg_parallel":true,"sp":1,"tp":1}' $tmp/c/item00001.json || fail "layout in provenance: $(cat $tmp/c/item00001.json)"
[ "$(grep -c '"status":"done"' $tmp/c/manifest-shard0of1-rank2.jsonl)" = 2 ] || fail "replica 1 did not record its 2 items"
echo "ok  mpirun -n 4 --cfg-parallel: 2 replicas x 2 ranks, writers' manifests only, items equal generate --cfg-parallel (2 ranks)"

# 4. bad input
printf '%s\n' '{"prompt": "a red circle moves left", "seed": 7}' '{"prompt": "broken", "seed": 1,' \
  '{"prompt": "i2v", "image": "gone.png"}' '{"prompt": "x", "colour": "red"}' '{"prompt": "a green square moves up", "seed": 21}' >$tmp/bad.jsonl
set +e; $T render $tmp/bad.jsonl "${R[@]}" --out $tmp/b >$tmp/b.out 2>$tmp/b.err; rc=$?; set -e
[ $rc = 1 ] || fail "bad items: exit $rc, expected 1: $(cat $tmp/b.err)"
grep -q "^tessera: error: $tmp/bad.jsonl:2: not a JSON object" $tmp/b.err &&
  grep -q "^tessera: error: $tmp/bad.jsonl:3: item 2: image: $tmp/gone.png: No such file or directory" $tmp/b.err &&
  grep -q "^tessera: error: $tmp/bad.jsonl:4: unknown key 'colour'" $tmp/b.err || fail "bad items: stderr: $(cat $tmp/b.err)"
same_video $tmp/b/item00000.mp4 $tmp/g0.mp4 || fail "good item 0 of the bad list not rendered right"
st=$($T render --status $tmp/b)
echo "$st" | grep -qE "^all +5 +2 +3 +0 +0 +0$" && echo "$st" | grep -q "failed: item 2: .*bad.jsonl:3: item 2: image:" || fail "status: $st"
echo "ok  malformed line, missing image, unknown key: those 3 items failed (file:line), 2 done, exit 1"
one_line_error() {  # expected-text command...
  local want=$1; shift
  set +e; "$@" >/dev/null 2>$tmp/e.err; local rc=$?; set -e
  [ $rc = 2 ] && [ "$(wc -l <$tmp/e.err)" = 1 ] && grep -q "$want" $tmp/e.err || fail "$*: rc $rc, stderr: $(cat $tmp/e.err)"
}
touch $tmp/afile
one_line_error "render: --out $tmp/afile/out: cannot create the output directory" $T render $tmp/list.jsonl "${R[@]}" --out $tmp/afile/out
printf 'prompts:\n  - {prompt: "unclosed\n' >$tmp/syntax.yaml
one_line_error "$tmp/syntax.yaml:[0-9]*: invalid YAML" $T render $tmp/syntax.yaml "${R[@]}" --out $tmp/x
printf '# nothing\n' >$tmp/empty.jsonl
one_line_error "$tmp/empty.jsonl: the prompt list is empty" $T render $tmp/empty.jsonl "${R[@]}" --out $tmp/x
one_line_error "render: --shard: expected K/N" $T render $tmp/list.jsonl "${R[@]}" --out $tmp/x --shard 2/2
one_line_error "render --status: $tmp/none: no manifest" $T render --status $tmp/none
echo "ok  unwritable --out, YAML syntax error, empty list, bad --shard, --status of nothing: one line, exit 2"
