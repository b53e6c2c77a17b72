#!/usr/bin/env bash
# Writing a corpus where it cannot be written (issue 14 items 6 and 9):
# - `data synth` onto a full disk (a 1 MiB tmpfs; skipped where mounting is not
#   allowed): one line "tessera: error: ...", exit 2, no .tmp left behind, and
#   for sizes that fit, a corpus that inspects; at least one size must not fit;
# - `data synth --out DIR` (a directory), into a missing directory, or over a
#   FIFO: refused before any work (one line, exit 2, nothing rendered).
# TESSERA=path/to/binary overrides bin/tessera.
set -u
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
[ -x "$T" ] || { echo "missing $T (run make)"; exit 1; }
mkdir -p build/tmp
tmp=$(mktemp -d build/tmp/corpus_write.XXXXXX)
mnt=$tmp/full
mkdir -p "$mnt"
mounted=0
cleanup() { [ $mounted = 1 ] && umount "$mnt"; rm -rf "$tmp"; }
trap cleanup EXIT
checks=0
failures=0
bad() { echo "FAIL $*"; failures=$((failures + 1)); }

# one_line NAME RC: exit code 2 and exactly one stderr line "tessera: error: ...".
one_line() {
  local name=$1 rc=$2 n
  n=$(wc -l <"$tmp/err")
  if [ "$rc" -ne 2 ]; then bad "$name: exit $rc, expected 2: $(head -c 300 "$tmp/err")"; return 1; fi
  if [ "$n" -ne 1 ] || ! grep -q '^tessera: error: ' "$tmp/err"; then bad "$name: $n stderr lines: $(head -c 600 "$tmp/err")"; return 1; fi
  return 0
}

# ---- output path refused before the work
for case in dir missing fifo; do
  checks=$((checks + 1))
  case $case in
    dir) out=$tmp; want="is a directory" ;;
    missing) out=$tmp/nodir/x.h5; want="does not exist" ;;
    fifo) mkfifo "$tmp/fifo.h5"; out=$tmp/fifo.h5; want="not a regular file" ;;
  esac
  "$T" data synth --out "$out" --clips 20000 --frames 16 --size 32x32 >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if one_line "--out $case" $rc; then
    if ! grep -q "$want" "$tmp/err"; then bad "--out $case: expected '$want' in: $(cat "$tmp/err")"
    elif [ -s "$tmp/out" ]; then bad "--out $case: work was done: $(head -c 200 "$tmp/out")"
    elif ls "$tmp"/*.tmp >/dev/null 2>&1; then bad "--out $case: left $(ls "$tmp"/*.tmp)"
    else echo "  ok  --out $case refused first: $(cat "$tmp/err")"; fi
  fi
done

# ---- a full disk
if mount -t tmpfs -o size=1m tmpfs "$mnt" 2>/dev/null; then
  mounted=1
  failed=0
  for clips in 50 400 900 3000; do
    checks=$((checks + 1))
    rm -f "$mnt"/*
    "$T" data synth --out "$mnt/c.h5" --clips $clips --frames 8 --size 32x32 --seed 1 >"$tmp/out" 2>"$tmp/err"
    rc=$?
    left=$(ls -A "$mnt")
    if [ $rc -eq 0 ]; then
      if [ "$left" != c.h5 ]; then bad "disk full, $clips clips: exit 0 but the directory holds '$left'"
      elif ! "$T" data inspect "$mnt/c.h5" --no-sheet >/dev/null 2>"$tmp/err2"; then bad "disk full, $clips clips: written corpus does not inspect: $(cat "$tmp/err2")"
      else echo "  ok  $clips clips fit in 1 MiB: a valid corpus"; fi
    elif one_line "disk full, $clips clips" $rc; then
      failed=$((failed + 1))
      if [ -n "$left" ]; then bad "disk full, $clips clips: left '$left' on the full disk"
      elif ! grep -q "no space left on device" "$tmp/err"; then bad "disk full, $clips clips: message: $(cat "$tmp/err")"
      else echo "  ok  $clips clips on a 1 MiB disk: $(cat "$tmp/err")"; fi
    fi
  done
  checks=$((checks + 1))
  [ $failed -ge 1 ] || bad "disk full: no size failed to fit (the tmpfs is larger than expected?)"
else
  echo "  skip disk full (cannot mount a tmpfs here)"
fi

echo "test_corpus_write: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
