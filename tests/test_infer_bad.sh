#!/usr/bin/env bash
# Bad input and faults for `generate` and `render` (issue 14, items 6-9):
#  1. render: two items with the same id (or an id equal to another item's
#     default name) are refused up front; manifest records out of range (an
#     index of 99999999, a start record of 2^31 shards, wrong types) are
#     ignored with a message, never trusted; a torn last line is cut before
#     the next run appends; a NUL byte or invalid UTF-8 in a prompt list is
#     one line naming the file and line;
#  2. generate on a full disk (a small tmpfs sized from the real outputs: room
#     for the MP4 and sheet but not the record, for the MP4 only, for nothing):
#     one line naming the file and the reason, exit 2, no output and no
#     temporary left;
#  3. output validity: an invalid UTF-8 prompt is refused; quotes, backslashes,
#     control characters and emoji come back unchanged through Python's json;
#  4. generate's flags: --size 16x16garbage, --last alone, --frames 100000
#     (windows and memory: ulimit -v), --ckpt corpus.h5.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
tmp=build/tmp/infer_bad; mnt=$tmp/mnt
mountpoint -q $mnt 2>/dev/null && umount $mnt
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'mountpoint -q $mnt 2>/dev/null && umount $mnt || true' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMP_NUM_THREADS=1
one_line_error() {  # expected-text command...: exit 2 and one stderr line holding the text
  local want=$1; shift
  set +e; "$@" >$tmp/e.out 2>$tmp/e.err; local rc=$?; set -e
  [ $rc = 2 ] && [ "$(wc -l <$tmp/e.err)" = 1 ] && grep -qF -- "$want" $tmp/e.err ||
    fail "expected exit 2 and one line with '$want' from: $* (rc $rc: $(cat $tmp/e.err))"
}

$T data synth --out $tmp/s.h5 --clips 16 --frames 8 --size 16x16 --seed 1 >$tmp/synth.log 2>&1 || fail "synth"
$T train configs/train/tiny.yaml model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 model.video.width=16 \
  train.batch=2 train.warmup=1 train.steps=2 train.out=$tmp/run data.path=$tmp/s.h5 >$tmp/train.log 2>&1 || fail "train: $(tail -2 $tmp/train.log)"
ckpt=$tmp/run/ckpt_2.h5
G=($T generate --ckpt $ckpt --steps 2)
R=($T render --ckpt $ckpt --steps 2)

# 1. render queue
printf '%s\n' '{"prompt": "a red circle", "id": "same"}' '{"prompt": "a blue square"}' '{"prompt": "a green circle", "id": "same"}' >$tmp/dup.jsonl
one_line_error "$tmp/dup.jsonl: lines 1 and 3: the id 'same' is used twice" "${R[@]}" $tmp/dup.jsonl --out $tmp/dup
printf '%s\n' '- a red circle' '- a blue square' '- {prompt: a green circle, id: item00001}' >$tmp/dup.yaml
one_line_error "$tmp/dup.yaml: lines 2 and 3 both write item00001.mp4" "${R[@]}" $tmp/dup.yaml --out $tmp/dup
[ ! -e $tmp/dup ] || fail "a refused list left $tmp/dup"
echo "ok  duplicate ids, and an id equal to another item's default name: one line (file, lines, id), exit 2, nothing rendered"

printf '%s\n' '{"prompt": "a red circle moves left"}' '{"prompt": "a blue square"}' >$tmp/two.jsonl
"${R[@]}" $tmp/two.jsonl --out $tmp/q >$tmp/q1.log 2>&1 || fail "render: $(tail -2 $tmp/q1.log)"
man=$tmp/q/manifest-shard0of1-rank0.jsonl
key=$(grep -o '"key":"[0-9a-f]*"' $man | head -1)
echo '{"time":9e9,"event":"item","index":99999999,"line":1,'$key',"status":"done","output":"x.mp4","sha256":"'$(printf '0%.0s' $(seq 64))'"}' >>$man
set +e; $T render --status $tmp/q >$tmp/st.out 2>$tmp/st.err; rc=$?; set -e
[ $rc = 0 ] && grep -qE "^all +2 +2 +0 +0 +0 +0$" $tmp/st.out || fail "--status with an index of 99999999: rc $rc: $(cat $tmp/st.out $tmp/st.err)"
grep -qF "(1 manifest line ignored, the first: $man:6: item record: \"index\": 99999999 is not an item of the list (2 items))" $tmp/st.out ||
  fail "--status does not say what it ignored: $(cat $tmp/st.out)"
cat >>$man <<EOF
{"time":9e9,"event":"item","index":1.5,"line":1,$key,"status":"failed"}
{"time":9e9,"event":"item","index":-1,"line":1,$key,"status":"failed"}
{"time":9e9,"event":"item","index":0,"line":1,$key,"status":"finished"}
{"time":9e9,"event":"item","index":1,"line":2,"key":"zz","status":"failed"}
{"time":9e9,"event":"start","shard":0,"shards":2147483647,"rank":0,"ranks":1,"items":1,"total":2000000000}
EOF
set +e; $T render --status $tmp/q >$tmp/st.out 2>$tmp/st.err; rc=$?; set -e
[ $rc = 0 ] && grep -qE "^all +2 +2 +0 +0 +0 +0$" $tmp/st.out && grep -qF "(6 manifest lines ignored, the first: $man:" $tmp/st.out ||
  fail "--status with bad manifest lines: rc $rc: $(cat $tmp/st.out $tmp/st.err)"
"${R[@]}" $tmp/two.jsonl --out $tmp/q >$tmp/q2.log 2>$tmp/q2.err || fail "resume with bad manifest lines: $(tail -2 $tmp/q2.err)"
[ "$(grep -c 'checksum verified: skipped' $tmp/q2.log)" = 2 ] || fail "resume did not skip both items: $(cat $tmp/q2.log)"
grep -q "warning: render: 6 lines of the manifests in $tmp/q ignored" $tmp/q2.err || fail "resume: no warning: $(cat $tmp/q2.err)"
echo "ok  manifest records out of range (index 99999999, 2^31 shards, bad types): --status and a resume ignore them and say so"

# A manifest of tessera before 0.2 (FNV-1a checksums): read, its items redone, and said so.
mkdir -p $tmp/old && echo '{"time":1,"event":"item","index":0,"line":1,"key":"0123456789abcdef","status":"done","output":"x.mp4","fnv1a64":"0123456789abcdef"}' >$tmp/old/manifest-shard0of1-rank0.jsonl
set +e; $T render --status $tmp/old >$tmp/st.out 2>$tmp/st.err; rc=$?; set -e
cat $tmp/st.out $tmp/st.err | grep -qF "item record: a record of tessera before 0.2 (FNV-1a checksums; now SHA-256): its item is rendered again" ||
  fail "--status on an FNV-1a manifest: rc $rc: $(cat $tmp/st.out $tmp/st.err)"
echo "ok  a manifest of tessera before 0.2 (FNV-1a): its records ignored with that reason, the items rendered again"

# a writer killed mid-record: its torn line is cut before the next run appends
printf '{"time":9e9,"event":"item","ind' >>$man
"${R[@]}" $tmp/two.jsonl --out $tmp/q >$tmp/q3.log 2>&1 || fail "resume after a torn line: $(tail -2 $tmp/q3.log)"
tail -c 1 $man | od -c | grep -q '\\n' && ! grep -q '"ind{' $man || fail "the next record was glued to the torn line"
echo "ok  a torn last line is cut off before the next run appends (no record glued to it)"

printf '{"prompt": "a red circle"}\n{"prompt": "a blue\0 square"}\n' >$tmp/nul.jsonl
one_line_error "$tmp/nul.jsonl:2: a NUL byte at column 19 (a prompt list is UTF-8 text)" "${R[@]}" $tmp/nul.jsonl --out $tmp/x
printf -- '- a red circle\n- a blue\0 square\n' >$tmp/nul.yaml
one_line_error "$tmp/nul.yaml:2: a NUL byte at column 9" "${R[@]}" $tmp/nul.yaml --out $tmp/x
printf '{"prompt": "a red circle"}\n\n{"prompt": "caf\xe9"}\n' >$tmp/latin1.jsonl
one_line_error "$tmp/latin1.jsonl:3: invalid UTF-8 (byte 0xe9) at column 16" "${R[@]}" $tmp/latin1.jsonl --out $tmp/x
printf 'a red circle\n\0\n' >$tmp/nul.txt
one_line_error "generate: --prompts $tmp/nul.txt:2: a NUL byte at column 1" "${G[@]}" --prompts $tmp/nul.txt --out $tmp/x
echo "ok  a NUL byte or invalid UTF-8 in a prompt list (JSONL, YAML, generate --prompts): one line naming file and line"

# 3. output validity (before the disk-full part, which reuses these files' sizes)
weird=$(printf 'a "quoted" back\\slash tab\there bell\a del\x7f and 🎉 é')
"${G[@]}" --prompt "$weird" --out $tmp/w.mp4 >$tmp/w.log 2>&1 || fail "generate with quotes, control chars, emoji: $(tail -1 $tmp/w.log)"
printf '%s\n' "$weird" >$tmp/weird.txt
/usr/bin/python3 - $tmp/w.json $tmp/weird.txt <<'PY' || fail "provenance JSON of the odd prompt"
import json, sys
want = open(sys.argv[2], encoding="utf-8").read().rstrip("\n")
assert json.load(open(sys.argv[1], encoding="utf-8"))["prompt"] == want
PY
/usr/bin/python3 -c 'import json; print(json.dumps({"prompt": "say \"hi\" \\ \u0001 \t 🎉 end", "id": "w"}))' >$tmp/weird.jsonl
"${R[@]}" $tmp/weird.jsonl --out $tmp/wr >$tmp/wr.log 2>&1 || fail "render of the odd prompt: $(tail -1 $tmp/wr.log)"
/usr/bin/python3 -c '
import json, sys
want = json.loads(open(sys.argv[1]).read())["prompt"]
assert json.load(open(sys.argv[2], encoding="utf-8"))["prompt"] == want
for line in open(sys.argv[3], encoding="utf-8"): json.loads(line)
' $tmp/weird.jsonl $tmp/wr/w.json $tmp/wr/manifest-shard0of1-rank0.jsonl || fail "render provenance/manifest JSON of the odd prompt"
one_line_error "generate: --prompt: invalid UTF-8 (byte 0xff) at column 7" "${G[@]}" --prompt "$(printf 'a red \xff circle')" --out $tmp/u.mp4
[ ! -e $tmp/u.json ] || fail "an invalid prompt left $tmp/u.json"
echo "ok  quotes, backslashes, control characters, emoji: valid JSON, same text back (generate, render, manifest); invalid UTF-8 refused"

printf '%s\n' '{"prompt": "x", "last": "w.png"}' '{"prompt": "x", "frames": 100000}' >$tmp/items.jsonl
set +e; "${R[@]}" $tmp/items.jsonl --out $tmp/it >/dev/null 2>$tmp/it.err; rc=$?; set -e
[ $rc = 1 ] && grep -qF "$tmp/items.jsonl:1: last needs first" $tmp/it.err &&
  grep -qF "$tmp/items.jsonl:2: item 1: frames 100000: at most 4100 frames" $tmp/it.err || fail "render items: rc $rc: $(cat $tmp/it.err)"
echo "ok  render items: last without first, frames 100000: the item fails with the reason"


# 4. generate's flags
one_line_error "generate: --size: expected HxW (e.g. 32x48), got '16x16garbage'" "${G[@]}" --prompt x --size 16x16garbage --out $tmp/x.mp4
one_line_error "generate: --last needs --first" "${G[@]}" --prompt x --last $tmp/w.png --out $tmp/x.mp4
one_line_error "generate: --frames 100000: at most 4100 frames (a long video is at most 1024 windows" "${G[@]}" --prompt x --frames 100000 --out $tmp/x.mp4
# memory: 4100 frames upscaled x32 (786 KB a frame) = 3.2 GB, in 2.5 GB of address space
(ulimit -v 2500000; one_line_error "generate: --frames 4100: at most" "${G[@]}" --prompt x --frames 4100 --upscale 32 --out $tmp/x.mp4)
grep -qF "here: the video and its x32 upscale for the MP4 take 787 KB a frame" $tmp/e.err || fail "memory message: $(cat $tmp/e.err)"
one_line_error "$tmp/s.h5: not a tessera checkpoint but a corpus" "${G[@]}" --prompt x --out $tmp/x.mp4 --ckpt $tmp/s.h5
[ ! -e $tmp/x.mp4 ] || fail "a refused generate left $tmp/x.mp4"
echo "ok  --size 16x16garbage, --last alone, --frames 100000 (windows; memory under ulimit -v), --ckpt corpus.h5: one line, exit 2"

# 2. disk full: a tmpfs with room for exactly the pages the outputs need
if [ "$(id -u)" != 0 ]; then echo "skip disk full (needs root for a tmpfs)"; exit 0; fi
"${G[@]}" --prompt "a red circle" --out $tmp/ref.mp4 >/dev/null 2>&1 || fail "reference generate"
pages() { echo $(( ($(stat -c %s "$1") + 4095) / 4096 )); }
mp4=$(pages $tmp/ref.mp4) png=$(pages $tmp/ref.png)
full() {  # pages-of-room file-that-cannot-be-written
  mkdir -p $mnt; mount -t tmpfs -o size=$(($1 * 4096)) tmpfs $mnt
  one_line_error "generate: $mnt/out/v.$2: cannot write:" "${G[@]}" --prompt "a red circle" --out $mnt/out/v.mp4
  grep -qE "No space left on device|Write Error" $tmp/e.err || fail "no reason given: $(cat $tmp/e.err)"
  [ -z "$(ls -A $mnt/out)" ] || fail "room for $1 pages: left $(ls -A $mnt/out)"
  umount $mnt
}
full $((mp4 + png)) json
full $mp4 png
full 2 mp4
echo "ok  disk full after the MP4 and sheet ($mp4+$png pages), after the MP4, at once: one line naming the file, exit 2, nothing left"
