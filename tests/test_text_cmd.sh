#!/usr/bin/env bash
# `tessera text encode` end to end: a prompt's pieces and ids (those of the
# reference tokenizer, read off it once), the truncation warning, and bad
# input: an empty, blank or non-UTF-8 prompt, a missing model folder, missing
# or truncated weights, a vocabulary that does not match the embedding rows,
# bad flags: one line naming the file or item and what was expected, exit 2.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
tmp=build/tmp/text_cmd; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -f models/minilm-l6/model.safetensors ]; then
  echo "SKIP: models/minilm-l6 absent (make deps installs all-MiniLM-L6-v2)"; exit 0
fi
one_line_error() {  # expected-text command...: exit 2 and one stderr line holding the text
  local want=$1; shift
  set +e; "$@" >$tmp/e.out 2>$tmp/e.err; local rc=$?; set -e
  [ $rc = 2 ] && [ "$(wc -l <$tmp/e.err)" = 1 ] && grep -qF -- "$want" $tmp/e.err ||
    fail "expected exit 2 and one line with '$want' from: $* (rc $rc: $(cat $tmp/e.err))"
  echo "ok  $(cat $tmp/e.err)"
}

$T text encode --prompt "A crimson disc glides leftward." >$tmp/ok.out 2>$tmp/ok.err || fail "encode: $(cat $tmp/ok.err)"
grep -qx "pieces: \[CLS\] a crimson disc glide ##s left ##ward . \[SEP\]" $tmp/ok.out || fail "pieces: $(cat $tmp/ok.out)"
grep -qx "ids: 101 1037 11466 5860 21096 2015 2187 7652 1012 102" $tmp/ok.out || fail "ids: $(cat $tmp/ok.out)"
grep -qE "^pooled\[0:8\]:( -?[0-9]+\.[0-9]{6}){8}$" $tmp/ok.out || fail "pooled: $(cat $tmp/ok.out)"
echo "ok  pieces and ids of 'A crimson disc glides leftward.' equal the reference tokenizer's"
$T text encode --prompt "the ball drifts toward the top of the frame" --window 6 >$tmp/cut.out 2>$tmp/cut.err || fail "cut"
grep -qF "prompt: 10 word pieces, cut to the window of 6 (4 pieces and [CLS], [SEP])" $tmp/cut.err || fail "no warning: $(cat $tmp/cut.err)"
grep -qx "ids: 101 1996 3608 11852 2015 102" $tmp/cut.out || fail "cut ids: $(cat $tmp/cut.out)"
echo "ok  a prompt longer than the window: cut, with a warning"

one_line_error "prompt: no words (empty, or only spaces and control characters), expected text" $T text encode --prompt ""
one_line_error "prompt: no words" $T text encode --prompt $' \t\u200b\n'
one_line_error "prompt: invalid UTF-8 (byte 0xff) at byte 2, expected UTF-8 text" $T text encode --prompt $'ab\xff'
one_line_error "prompt: invalid UTF-8 (byte 0xc0) at byte 0" $T text encode --prompt $'\xc0\xafetc'
one_line_error "$tmp/none: no such folder" $T text encode --prompt x --model $tmp/none
one_line_error "text encode: --prompt: expected the text to encode" $T text encode
one_line_error "text encode: --window: expected an integer in [2, 512], got '1'" $T text encode --prompt x --window 1
one_line_error "text encode: unknown option '--promt'" $T text encode --promt x
one_line_error "unknown text command 'decode'" $T text decode

m=$tmp/model; mkdir -p $m
for f in config.json vocab.txt; do ln -s ../../../../models/minilm-l6/$f $m/$f; done
one_line_error "$m/model.safetensors: cannot open (No such file or directory), expected a safetensors file" $T text encode --prompt x --model $m
head -c 70000000 models/minilm-l6/model.safetensors >$m/model.safetensors
one_line_error "run past the end of the data (69988584 bytes): truncated file?" $T text encode --prompt x --model $m
rm $m/model.safetensors; ln -s ../../../../models/minilm-l6/model.safetensors $m/model.safetensors
rm $m/vocab.txt; head -n 30000 models/minilm-l6/vocab.txt >$m/vocab.txt
one_line_error "$m/vocab.txt: 30000 tokens, expected 30522 (the rows of embeddings.word_embeddings.weight in $m/model.safetensors)" \
  $T text encode --prompt x --model $m
