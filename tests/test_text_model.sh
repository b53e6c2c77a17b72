#!/usr/bin/env bash
# The DiT on the pretrained text encoder (model.text.encoder: minilm), end to
# end on a tiny model: training writes the encoder's hash into the checkpoint,
# generate reads a prompt in words no caption used, and the bad cases each give
# one line naming the file or item with exit 2: the weights missing, a
# checkpoint of the other encoder resumed, --device / run.device asking for
# what this machine or build lacks.
set -uo pipefail
cd "$(dirname "$0")/.."
T=bin/tessera
export OMP_NUM_THREADS=1
tmp=build/tmp/text_model; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
small=(model.depth=1 model.dim=32 model.heads=2 model.mlp_ratio=2 model.video.frames=4 model.video.height=8
       model.video.width=8 train.batch=2 train.steps=2 train.log_every=1 train.warmup=1)
minilm=(model.text.encoder=minilm model.text.layers=0 model.text.length=16 model.text.vocab=30522)
one_line() {  # name, expected exit, pattern, command...
  local name=$1 want=$2 pat=$3; shift 3
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  local rc=$? n
  n=$(grep -c 'error' "$tmp/$name.err")
  [ $rc = "$want" ] && [ "$n" = 1 ] && grep -q "$pat" "$tmp/$name.err" ||
    fail "$name: exit $rc (want $want), $n error lines, expected '$pat': $(head -3 "$tmp/$name.err")"
  echo "ok  $name: $(grep error "$tmp/$name.err" | cut -c1-140)"
}
$T train configs/train/tiny.yaml "${small[@]}" "${minilm[@]}" train.out=$tmp/run >$tmp/train.log 2>&1 ||
  fail "minilm training: $(tail -3 $tmp/train.log)"
grep -q "text encoder: all-MiniLM-L6-v2" $tmp/train.log || fail "the trainer did not report the encoder"
/usr/bin/python3 -c 'import h5py,sys; a=h5py.File(sys.argv[1]).attrs["text_encoder_sha256"]; sys.exit(0 if (a.decode() if isinstance(a,bytes) else a).startswith("53aa5117") else 1)' \
  $tmp/run/ckpt_2.h5 || fail "the checkpoint does not record the encoder's SHA-256"
$T generate --ckpt $tmp/run/ckpt_2.h5 --prompt "a crimson disc glides leftward" --steps 2 --out $tmp/g.mp4 >$tmp/gen.log 2>&1 ||
  fail "generate: $(tail -3 $tmp/gen.log)"
echo "ok  trained 2 steps on MiniLM states (hash recorded) and generated from a paraphrase"
one_line no_weights 2 "no such folder" env TSR_MINILM_DIR=$tmp/nowhere $T generate --ckpt $tmp/run/ckpt_2.h5 \
  --prompt "a red circle" --steps 2 --out $tmp/h.mp4
one_line other_encoder 2 "trained with model.text.encoder minilm" $T train configs/train/tiny.yaml "${small[@]}" \
  train.steps=3 train.out=$tmp/run train.resume=$tmp/run/ckpt_2.h5 train.out=$tmp/other
one_line bad_device 2 "expected cpu or cuda" $T generate --ckpt $tmp/run/ckpt_2.h5 --prompt p --device tpu --out $tmp/x.mp4
one_line cuda_here 2 "run.device cuda" $T train configs/train/tiny.yaml "${small[@]}" run.device=cuda train.out=$tmp/cu
# bf16 on the CPU: refused where the CPU has no AVX512-BF16 (test_train_bf16_cpu.sh trains with it)
grep -qw avx512_bf16 /proc/cpuinfo ||
  one_line bf16_cpu 2 "no AVX512-BF16" $T train configs/train/tiny.yaml "${small[@]}" run.precision=bf16 \
    train.out=$tmp/bf
