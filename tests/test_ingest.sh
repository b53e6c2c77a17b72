#!/usr/bin/env bash
# `tessera data ingest` and `tessera data recaption` end to end on the real
# clips of Debian's python3-imageio (cockatoo.mp4, realshort.mp4,
# newtonscradle.gif), checked with h5py; then every bad input: an empty
# directory, a JSONL line that is not JSON, a caption that is not UTF-8, a
# garbage video among good ones, nothing decodable, bad flags.
# TESSERA=path/to/binary overrides bin/tessera. Run from anywhere.
set -u
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
PY=/usr/bin/python3
IMAGEIO=/usr/lib/python3/dist-packages/imageio/resources/images
[ -x "$T" ] || { echo "missing $T (run make)"; exit 1; }
for f in cockatoo.mp4 realshort.mp4 newtonscradle.gif; do
  [ -f "$IMAGEIO/$f" ] || { echo "missing $IMAGEIO/$f (install python3-imageio: make deps)"; exit 1; }
done
$PY -c 'import h5py' 2>/dev/null || { echo "missing h5py for $PY (install python3-h5py: make deps)"; exit 1; }
mkdir -p build/tmp
tmp=$(mktemp -d build/tmp/ingest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
checks=0
failures=0
bad() { echo "FAIL $*"; failures=$((failures + 1)); }
ok() { echo "  ok  $*"; }

vids=$tmp/videos
mkdir -p "$vids"
cp "$IMAGEIO/cockatoo.mp4" "$IMAGEIO/realshort.mp4" "$IMAGEIO/newtonscradle.gif" "$vids/"
touch "$vids/.hidden.mp4"   # hidden files are not tried
# captions for two of the three; the second by a path with a directory (matched by base name), with \u escapes
cat >"$tmp/caps.jsonl" <<'EOF'
{"path": "cockatoo.mp4", "caption": "a white cockatoo on a perch turns its head", "source": "imageio", "n": [1, 2.5e3, null]}

{"path": "some/dir/newtonscradle.gif", "caption": "a Newton\u2019s cradle swings \ud83d\ude00"}
EOF

# run NAME WANT_RC ARGS...: runs tessera, keeps stdout/stderr in $tmp/NAME.{out,err}
run() {
  local name=$1 want=$2
  shift 2
  checks=$((checks + 1))
  "$T" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    bad "$name: exit code $rc, expected $want"
    sed 's/^/      /' "$tmp/$name.err" | head -n 5
    return 1
  fi
  return 0
}

# A corpus string column (datasets/README.md): NAME/bytes uint8 + NAME/offsets uint64 [n+1].
cat >"$tmp/corpus_text.py" <<'EOF'
def strings(g):
    b, o = bytes(g["bytes"][()]), g["offsets"][()]
    return [b[o[i]:o[i + 1]].decode() for i in range(len(o) - 1)]
EOF
export PYTHONPATH=$tmp

# ---------------------------------------------------------------- good input
out=$tmp/corpus.h5
if run ingest 0 data ingest --videos "$vids" --captions "$tmp/caps.jsonl" --out "$out" --frames 8 --size 32x32 --fps 12; then
  summary=$(grep '^ingested' "$tmp/ingest.out")
  if [[ "$summary" == "ingested 3 videos, 6 clips -> "* ]]; then ok "ingest: $summary"; else bad "ingest summary: '$summary'"; fi
  [ -e "$out.tmp" ] && bad "ingest left $out.tmp"
  cat "$tmp/ingest.out" | sed 's/^/      /'
  checks=$((checks + 1))
  if $PY - "$out" <<'EOF'; then ok "corpus contents (h5py)"; else bad "corpus contents"; fi
import sys, h5py
f = h5py.File(sys.argv[1], "r")
errors = []
def check(cond, msg):
    if not cond: errors.append(msg)
check(f.attrs["format"] in ("tessera-corpus", b"tessera-corpus"), "format attribute")
b = f["buckets"]
check(list(b.keys()) == ["8x32x32"], "buckets %s" % list(b.keys()))
g = b["8x32x32"]
n = g["patches"].shape[0]
check(g["patches"].shape == (6, 4 * 8 * 8, 2 * 4 * 4 * 3), "patches shape %s" % (g["patches"].shape,))
check(int(g.attrs["count"]) == 6, "count attribute")
from corpus_text import strings
src, cap, rec = strings(g["meta/source"]), strings(g["caption"]), strings(g["recaption"])
check(src == ["cockatoo.mp4"] * 4 + ["newtonscradle.gif", "realshort.mp4"], "sources %s" % src)
check(all(abs(x - 12) < 1e-6 for x in g["meta/fps"][:]), "fps %s" % g["meta/fps"][:])
check(cap[:4] == ["a white cockatoo on a perch turns its head"] * 4, "cockatoo captions %s" % cap[:4])
check(cap[4] == "a Newton\u2019s cradle swings \U0001F600", "gif caption %r" % cap[4])
check(cap[5].startswith("a ") and " video" in cap[5], "generated caption %r" % cap[5])
for c, r in zip(cap, rec):
    check(len(r) > len(c) and r.startswith(c) and "The scene is" in r, "recaption %r of caption %r" % (r, c))
check(any("camera" in r for r in rec), "no camera sentence")
check(g["tokens"].shape == (6, 32) and g["caption_tokens"].shape == (6, 32), "tokens shape")
check(all(t[0] == 1 for t in g["tokens"][:]), "tokens start with BOS")
v = strings(f["tokenizer/vocab"])
check(v[:4] == ["<pad>", "<bos>", "<unk>", "<eos>"] and "cockatoo" in v, "vocab %s" % v[:8])
p = g["patches"][:]
check(p.std() > 10, "patches look empty (std %.2f)" % p.std())
for e in errors: print("   ", e)
print("    e.g. %s: %s" % (src[0], rec[0]))
print("    e.g. %s: %s" % (src[5], rec[5]))
sys.exit(1 if errors else 0)
EOF
fi

# recaption: the same pixels measure the same, so an ingested corpus keeps its recaptions
if run recaption 0 data recaption "$out" --out "$tmp/re.h5"; then
  checks=$((checks + 1))
  if $PY - "$out" "$tmp/re.h5" <<'EOF'; then ok "recaption --out: same patches, captions, sources and recaptions"; else bad "recaption --out"; fi
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
ok = list(a["buckets"]) == list(b["buckets"])
for k in a["buckets"]:
    x, y = a["buckets"][k], b["buckets"][k]
    for d in ("patches", "caption/bytes", "caption/offsets", "recaption/bytes", "recaption/offsets",
              "meta/source/bytes", "meta/source/offsets", "meta/fps"):
        same = np.array_equal(x[d][:], y[d][:])
        if not same: print("    differs:", k, d)
        ok &= same
sys.exit(0 if ok else 1)
EOF
fi
cp "$out" "$tmp/inplace.h5"
if run recaption-inplace 0 data recaption "$tmp/inplace.h5"; then
  if [ -e "$tmp/inplace.h5.tmp" ] || ! cmp -s <($PY -c "import h5py,sys; print(h5py.File(sys.argv[1])['buckets/8x32x32/recaption/bytes'][:].tobytes())" "$tmp/inplace.h5") \
       <($PY -c "import h5py,sys; print(h5py.File(sys.argv[1])['buckets/8x32x32/recaption/bytes'][:].tobytes())" "$out"); then
    bad "recaption in place: temp file left or recaptions changed"
  else ok "recaption in place (temp + rename)"; fi
fi

# aspect-ratio buckets: 16:9 goes to 32x64, 4:3 to 32x32
if run buckets 0 data ingest --videos "$vids" --captions "$tmp/caps.jsonl" --out "$tmp/b.h5" --frames 8 --size 32x32 --size 32x64 --fps 12 --clips-per-video 2; then
  checks=$((checks + 1))
  if $PY - "$tmp/b.h5" <<'EOF'; then ok "aspect buckets: 8x32x64 (cockatoo, 2 clips) and 8x32x32 (2 clips)"; else bad "aspect buckets"; fi
import sys, h5py
f = h5py.File(sys.argv[1], "r")
b = f["buckets"]
ok = sorted(b.keys()) == ["8x32x32", "8x32x64"] and b["8x32x64"]["patches"].shape[0] == 2 and b["8x32x32"]["patches"].shape[0] == 2
from corpus_text import strings
src = strings(b["8x32x64"]["meta/source"])
ok &= src == ["cockatoo.mp4", "cockatoo.mp4"]
if not ok: print("    buckets:", {k: b[k]["patches"].shape for k in b}, src)
sys.exit(0 if ok else 1)
EOF
fi

# too short: at 8 fps the GIF (0.82 s) has 7 frames: warning, counted, the rest ingested
if run short 0 data ingest --videos "$vids" --out "$tmp/s.h5" --frames 8 --size 32x32 --fps 8 --clips-per-video 1; then
  checks=$((checks + 1))
  if grep -q "newtonscradle.gif: skipped (too short)" "$tmp/short.err" &&
     grep -q "^ingested 2 videos, 2 clips; skipped 1 (too short)" "$tmp/short.out"; then
    ok "too-short video: $(grep 'newtonscradle' "$tmp/short.err")"
  else bad "too-short video: $(cat "$tmp/short.err" "$tmp/short.out")"; fi
fi

# a garbage file named x.mp4 among good ones: warning naming it, counted, the rest ingested
mixed=$tmp/mixed
mkdir -p "$mixed"
cp "$vids"/realshort.mp4 "$vids"/cockatoo.mp4 "$mixed/"
head -c 20000 /dev/urandom >"$mixed/x.mp4"
if run garbage 0 data ingest --videos "$mixed" --out "$tmp/m.h5" --frames 8 --size 32x32 --clips-per-video 1; then
  checks=$((checks + 1))
  w=$(grep -c "x.mp4" "$tmp/garbage.err")
  if [ "$w" -eq 1 ] && grep -q "^tessera: warning: $mixed/x.mp4: skipped (undecodable): " "$tmp/garbage.err" &&
     grep -q "^ingested 2 videos, 2 clips; skipped 1 (undecodable)" "$tmp/garbage.out" && [ -f "$tmp/m.h5" ]; then
    ok "garbage x.mp4: $(grep x.mp4 "$tmp/garbage.err")"
  else bad "garbage x.mp4: $(cat "$tmp/garbage.err" "$tmp/garbage.out")"; fi
fi

# ---------------------------------------------------------------- bad input: exit 2, one line naming the file
# expect_error NAME WANT... -- ARGS: exit 2, the last stderr line "tessera: error: ..." holding every WANT,
# nothing but warnings before it, and no corpus (or temp file) written.
expect_error() {
  local name=$1
  shift
  local wants=()
  while [ "$1" != "--" ]; do wants+=("$1"); shift; done
  shift
  rm -f "$tmp/bad.h5" "$tmp/bad.h5.tmp"
  run "$name" 2 "$@" || return
  local line
  line=$(tail -n 1 "$tmp/$name.err")
  if [[ "$line" != "tessera: error: "* ]]; then bad "$name: last stderr line is not an error: $line"; return; fi
  if grep -v -q -e '^tessera: warning: ' -e '^tessera: error: ' "$tmp/$name.err"; then
    bad "$name: stray stderr lines: $(head -c 300 "$tmp/$name.err")"; return
  fi
  if [ "$(grep -c '^tessera: error: ' "$tmp/$name.err")" -ne 1 ]; then bad "$name: more than one error line"; return; fi
  for want in "${wants[@]}"; do
    if [[ "$line" != *"$want"* ]]; then bad "$name: expected '$want' in: $line"; return; fi
  done
  if [ -e "$tmp/bad.h5" ] || [ -e "$tmp/bad.h5.tmp" ]; then bad "$name: a corpus file was written"; return; fi
  ok "$name: $line"
}
ING=(data ingest --out "$tmp/bad.h5" --frames 8 --size 32x32)

mkdir -p "$tmp/empty"
expect_error empty-dir "$tmp/empty" "no video files" -- "${ING[@]}" --videos "$tmp/empty"
mkdir -p "$tmp/hidden" && cp "$vids/realshort.mp4" "$tmp/hidden/.realshort.mp4"
expect_error hidden-only "$tmp/hidden" "no video files" -- "${ING[@]}" --videos "$tmp/hidden"
expect_error missing-dir "$tmp/nope" -- "${ING[@]}" --videos "$tmp/nope"
mkdir -p "$tmp/junk" && head -c 5000 /dev/urandom >"$tmp/junk/a.mp4" && echo "not a video" >"$tmp/junk/b.avi"
expect_error nothing-decodable "$tmp/junk" "no decodable video" "2 undecodable" -- "${ING[@]}" --videos "$tmp/junk"
[ "$(grep -c 'skipped (undecodable)' "$tmp/nothing-decodable.err")" -eq 2 ] || bad "nothing-decodable: expected a warning per file"

printf '{"path": "cockatoo.mp4", "caption": "ok"}\nthis is not json\n' >"$tmp/notjson.jsonl"
expect_error jsonl-not-json "$tmp/notjson.jsonl:2: " "not a JSON object" "'[' or '{' expected near 'this' at column 4" -- "${ING[@]}" --videos "$vids" --captions "$tmp/notjson.jsonl"
printf '{"path": "cockatoo.mp4", "caption": "unterminated}\n' >"$tmp/unterminated.jsonl"
expect_error jsonl-unterminated "$tmp/unterminated.jsonl:1: " "not a JSON object" "premature end of input near '\"unterminated}' at column 50" -- "${ING[@]}" --videos "$vids" --captions "$tmp/unterminated.jsonl"
printf '{"path": "cockatoo.mp4", "caption": "a"} trailing\n' >"$tmp/trailing.jsonl"
expect_error jsonl-trailing "$tmp/trailing.jsonl:1: " "end of file expected near 'trailing' at column 49" -- "${ING[@]}" --videos "$vids" --captions "$tmp/trailing.jsonl"
printf '\n\n{"path": "realshort.mp4", "caption": "caf\xe9 au lait"}\n' >"$tmp/latin1.jsonl"
expect_error caption-not-utf8 "$tmp/latin1.jsonl:3: " "not valid UTF-8: unable to decode byte 0xe9" -- "${ING[@]}" --videos "$vids" --captions "$tmp/latin1.jsonl"
printf '{"path": "realshort.mp4", "caption": "bad \\ud800 surrogate"}\n' >"$tmp/surrogate.jsonl"
expect_error caption-lone-surrogate "$tmp/surrogate.jsonl:1: " "invalid Unicode '\\uD800'" -- "${ING[@]}" --videos "$vids" --captions "$tmp/surrogate.jsonl"
printf '{"path": "a.mp4", "path": "b.mp4", "caption": "x"}\n' >"$tmp/dupkey.jsonl"
expect_error jsonl-duplicate-key "$tmp/dupkey.jsonl:1: " "duplicate object key near '\"path\"' at column 24" -- "${ING[@]}" --videos "$vids" --captions "$tmp/dupkey.jsonl"
printf '{"path": "realshort.mp4"}\n' >"$tmp/nocaption.jsonl"
expect_error jsonl-missing-caption "$tmp/nocaption.jsonl:1: " '"caption" is missing' -- "${ING[@]}" --videos "$vids" --captions "$tmp/nocaption.jsonl"
printf '{"path": "realshort.mp4", "caption": 5}\n' >"$tmp/number.jsonl"
expect_error jsonl-caption-number "$tmp/number.jsonl:1: " '"caption": expected a string' -- "${ING[@]}" --videos "$vids" --captions "$tmp/number.jsonl"
printf '{"path": "a.mp4", "caption": "x"}\n{"path": "./a.mp4", "caption": "y"}\n' >"$tmp/dup.jsonl"
expect_error jsonl-duplicate "$tmp/dup.jsonl:2: " "line 1" -- "${ING[@]}" --videos "$vids" --captions "$tmp/dup.jsonl"
expect_error captions-missing "$tmp/none.jsonl" -- "${ING[@]}" --videos "$vids" --captions "$tmp/none.jsonl"
expect_error size-not-patch "--size 30x32" "multiples of the patch" -- data ingest --out "$tmp/bad.h5" --frames 8 --size 30x32 --videos "$vids"
expect_error frames-not-patch "--frames 7" -- data ingest --out "$tmp/bad.h5" --frames 7 --size 32x32 --videos "$vids"
expect_error unknown-flag "--colour" -- "${ING[@]}" --videos "$vids" --colour red
expect_error out-dir-missing "$tmp/nodir/c.h5" "does not exist" -- data ingest --out "$tmp/nodir/c.h5" --frames 8 --size 32x32 --videos "$vids"
expect_error recaption-missing "$tmp/none.h5" -- data recaption "$tmp/none.h5"
expect_error recaption-not-hdf5 "$tmp/caps.jsonl" -- data recaption "$tmp/caps.jsonl"

echo "test_ingest: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
