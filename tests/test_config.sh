#!/usr/bin/env bash
# Config loading and validation through `tessera config` (see docs/config.md).
# - Every tests/config_bad/*.yaml must fail with exit code 2, print nothing on
#   stdout and exactly one line on stderr: "tessera: error: FILE:L:C: ..."
#   where FILE is the file itself (or its `# in:` model file), L:C is its
#   `# at:` header and the line holds its `# expect:` header (key + what was expected).
# - Bad overrides and a missing file fail the same way ("command line" / the name).
# - The shipped configs load, overrides land, and the printed config reloads to itself.
# TESSERA=path/to/binary overrides bin/tessera (any program with `config FILE [k=v...]`).
set -u
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
[ -x "$T" ] || { echo "missing $T (run make)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
checks=0
failures=0

bad() { echo "FAIL $*"; failures=$((failures + 1)); }

# expect_error NAME WANT_LOC WANT_TEXT ARGS...: exit 2, empty stdout, one stderr line
# starting "tessera: error: WANT_LOC" and containing WANT_TEXT.
expect_error() {
  local name=$1 loc=$2 want=$3
  shift 3
  checks=$((checks + 1))
  "$T" config "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$? nlines line
  nlines=$(wc -l <"$tmp/err")
  line=$(head -n 1 "$tmp/err")
  if [ "$rc" -ne 2 ]; then bad "$name: exit code $rc, expected 2"
  elif [ -s "$tmp/out" ]; then bad "$name: printed to stdout"
  elif [ "$nlines" -ne 1 ]; then bad "$name: $nlines lines on stderr, expected 1"
  elif [[ "$line" != "tessera: error: $loc"* ]]; then bad "$name: expected location '$loc' in: $line"
  elif [[ "$line" != *"$want"* ]]; then bad "$name: expected '$want' in: $line"
  else echo "  ok  $name"; return; fi
  echo "      stderr: $(head -c 400 "$tmp/err")"
}

header() { sed -n "s/^# $1: //p" "$2" | head -n 1; }

# ---- bad files
nbad=0
for f in tests/config_bad/*.yaml; do
  want=$(header expect "$f") at=$(header at "$f") in=$(header in "$f")
  if [ -z "$want" ] || [ -z "$at" ]; then bad "$f: needs '# expect:' and '# at:' headers"; continue; fi
  expect_error "$(basename "$f")" "${in:-$f}:$at: " "$want" "$f"
  nbad=$((nbad + 1))
done
[ "$nbad" -ge 15 ] || bad "only $nbad bad config files"

# ---- bad overrides and a missing file
good=configs/train/tiny.yaml
expect_error override-unknown "command line: " "train.lrr: unknown key (did you mean 'lr'?" $good train.lrr=1
expect_error override-unknown-section "command line: " "trian.lr: unknown key (did you mean 'train'?" $good trian.lr=1
expect_error override-bad-value "command line: " "train.lr: expected a number > 0, got 'fast'" $good train.lr=fast
expect_error override-range "command line: " "data.p_drop: expected a number in [0, 1], got '2'" $good data.p_drop=2
expect_error override-float-for-int "command line: " "train.steps: expected an integer >= 1, got '1.5'" $good train.steps=1.5
expect_error override-no-equals "command line: " "'train.lr': expected key=value" $good train.lr
expect_error override-empty "command line: " "train.steps: expected a value after '='" $good train.steps=
expect_error override-enum "command line: " "run.device: expected one of cpu|cuda, got 'tpu'" $good run.device=tpu
expect_error override-patch "command line: " "model.patch: expected a sequence of 3 integers in [1, 1024], got a sequence of 2 items" $good 'model.patch=[1,2]'
expect_error override-shape "command line: " "model.video.frames: expected a multiple of the patch size pt = 2, got 15" $good model.video.frames=15
expect_error override-yaml "command line: " "train.lr: invalid YAML value '[1'" $good 'train.lr=[1'
expect_error override-model-file "command line: " "model: cannot open model file 'configs/model/nope.yaml'" $good model=configs/model/nope.yaml
expect_error missing-file "tests/config_bad/no_such_file.yaml: " "cannot open config file" tests/config_bad/no_such_file.yaml
# Explicit tags are respected ("!!str 5" is a string); one value per override;
# control characters in quoted input are escaped, so the message stays one line.
expect_error override-tag-str "command line: " "train.steps: expected an integer >= 1, got '5' tagged !!str" $good 'train.steps=!!str 5'
expect_error override-two-documents "command line: " "train.steps: expected one YAML value, found a second document" $good $'train.steps=5\n--- 6'
expect_error override-newline "command line: " "train.lr: invalid YAML value '[1\\n'" $good $'train.lr=[1\n'
expect_error override-newline-key "command line: " "train.l\\nr: unknown key" $good $'train.l\nr=1'
expect_error override-deep "command line: " "model.patch: expected at most 32 nested levels" $good "model.patch=$(head -c 20000 /dev/zero | tr '\0' '[')"
expect_error override-model-dot "command line: " "model: expected a mapping or a path to a model file, got '.', a directory" $good model=.
# Size and depth are capped before libyaml builds the document (200 KB of '['
# took minutes of CPU); a config from a pipe still loads.
{ printf 'model: '; head -c 200000 /dev/zero | tr '\0' '['; echo; } >"$tmp/deep.yaml"
expect_error deep-200k "$tmp/deep.yaml:1:39: " "expected at most 32 nested levels" "$tmp/deep.yaml"
{ cat configs/model/tiny.yaml; head -c 1100000 /dev/zero | tr '\0' '#'; echo; } >"$tmp/big.yaml"
expect_error big-file "$tmp/big.yaml:1:1: " "expected at most 1048576 bytes of YAML" "$tmp/big.yaml"

# ---- good configs
expect_ok() {  # expect_ok NAME GREP_PATTERN ARGS...: exit 0, silent stderr, stdout matches
  local name=$1 pat=$2
  shift 2
  checks=$((checks + 1))
  if ! "$T" config "$@" >"$tmp/out" 2>"$tmp/err"; then bad "$name: failed: $(head -c 400 "$tmp/err")"
  elif [ -s "$tmp/err" ]; then bad "$name: wrote to stderr: $(head -c 400 "$tmp/err")"
  elif ! grep -qE -- "$pat" "$tmp/out"; then bad "$name: output lacks /$pat/"
  else echo "  ok  $name"; fi
}
expect_ok train-tiny "tokens N = 512, patch_dim P = 96" $good
expect_ok train-tiny-steps "^  steps: 50$" $good
expect_ok override-lr "^  lr: 0.002$" $good train.lr=2e-3
expect_ok override-steps "^  steps: 7$" $good train.steps=7 train.warmup=2
expect_ok override-patch "^  patch: \[2, 2, 2\]  # grid 8x16x16 -> tokens N = 2048" $good 'model.patch=[2,2,2]'
expect_ok override-string "^  out: \"runs/a b#c\"$" $good 'train.out=runs/a b#c'
expect_ok override-model-file "^  name: \"xl\"$" $good model=configs/model/xl.yaml
expect_ok override-mapping "^    frames: 8$" $good 'model.video={frames: 8}'
expect_ok override-tag-int "^  steps: 7$" $good 'train.steps=!!int 7'
expect_ok from-pipe "^  rope: \[16, 24, 24\]" <(cat configs/model/tiny.yaml)
expect_ok tiny-rope "^  rope: \[16, 24, 24\]" configs/model/tiny.yaml
expect_ok s-tokens "tokens N = 4096, patch_dim P = 16" configs/model/s.yaml
expect_ok b-heads "^  heads: 12  # head_dim 64$" configs/model/b.yaml
expect_ok xl-rope "^  rope: \[20, 26, 26\]" configs/model/xl.yaml

# The printed config is valid input and reloads to the same config.
checks=$((checks + 1))
if "$T" config $good train.lr=3.3e-4 'model.rope=[32,16,16]' >"$tmp/a.yaml" 2>&1 &&
   grep -q "^  lr: 0.00033$" "$tmp/a.yaml" && grep -q "^  rope: \[32, 16, 16\]" "$tmp/a.yaml" &&
   "$T" config "$tmp/a.yaml" >"$tmp/b.yaml" 2>&1 &&
   diff <(tail -n +2 "$tmp/a.yaml") <(tail -n +2 "$tmp/b.yaml") >/dev/null; then
  echo "  ok  print-reload round trip"
else
  bad "print-reload round trip: $(head -c 400 "$tmp/b.yaml")"
fi

echo "test_config: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
