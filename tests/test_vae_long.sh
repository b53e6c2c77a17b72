#!/usr/bin/env bash
# `tessera vae encode|decode` through the chunked path (docs/vae.md "Long
# videos: chunks and shards"): on a 41-frame video, the latent file of
# chunked encoding (chunks of 1 and 3 latent frames) holds the same floats as
# the whole clip at once (--chunk 0), and the MP4 of chunked decoding, alone
# and over 2 ranks (mpirun), is byte for byte the whole-clip one; --help of
# each subcommand prints the usage and exits 0.
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=build/tmp/vae_long; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
for sub in train eval encode decode; do
  bin/tessera vae $sub --help >"$tmp/help.txt" 2>&1 || fail "vae $sub --help: exit $?: $(head -2 "$tmp/help.txt")"
  grep -q "^usage: tessera vae" "$tmp/help.txt" || fail "vae $sub --help printed no usage"
done
bin/tessera vae train configs/vae/demo.yaml train.steps=1 train.out="$tmp/run" >"$tmp/train.log" 2>&1 || fail "vae train"
ck=$tmp/run/vae.h5
ffmpeg -v error -y -f lavfi -i testsrc=size=32x32:rate=24 -frames:v 41 -pix_fmt yuv420p "$tmp/in.mp4" || fail ffmpeg
for c in 0 1 3; do
  bin/tessera vae encode --ckpt "$ck" "$tmp/in.mp4" --out "$tmp/z$c.h5" --chunk $c >"$tmp/enc$c.log" 2>&1 \
    || fail "encode --chunk $c: $(tail -1 "$tmp/enc$c.log")"
done
/usr/bin/python3 - "$tmp" <<'PY' || exit 1
import sys, h5py, numpy as np
t = sys.argv[1]
w = h5py.File(t + "/z0.h5")["latent"][()]
assert w.shape == (11, 8, 8, 4), w.shape
for c in (1, 3):
    d = float(np.abs(h5py.File(t + "/z%d.h5" % c)["latent"][()] - w).max())
    print("  encode chunks of %d latent frames vs whole clip: max |diff| %g over %s" % (c, d, w.shape))
    if d != 0:
        sys.exit("FAIL: chunked encode differs")
PY
for c in 0 2; do
  bin/tessera vae decode --ckpt "$ck" "$tmp/z0.h5" --out "$tmp/o$c.mp4" --chunk $c >"$tmp/dec$c.log" 2>&1 \
    || fail "decode --chunk $c: $(tail -1 "$tmp/dec$c.log")"
done
timeout 120 mpirun --oversubscribe --bind-to none -np 2 bin/tessera vae decode --ckpt "$ck" "$tmp/z0.h5" \
  --out "$tmp/o_np2.mp4" --chunk 2 >"$tmp/dec_np2.log" 2>&1 || fail "decode on 2 ranks: $(tail -2 "$tmp/dec_np2.log")"
grep -q "on 2 rank(s)" "$tmp/dec_np2.log" || fail "decode under mpirun -np 2 did not run on 2 ranks"
cmp -s "$tmp/o0.mp4" "$tmp/o2.mp4" || fail "chunked decode MP4 differs from the whole-clip one"
cmp -s "$tmp/o0.mp4" "$tmp/o_np2.mp4" || fail "decode over 2 ranks: MP4 differs from the one-rank one"
bin/tessera vae decode --ckpt "$ck" "$tmp/z0.h5" --out "$tmp/x.mp4" --chunk -1 >"$tmp/bad.log" 2>&1; rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$tmp/bad.log")" = 1 ] || fail "--chunk -1: exit $rc, want 2 and one line: $(cat "$tmp/bad.log")"
echo "  decode chunked, on 2 ranks and whole clip: the same MP4 ($(stat -c %s "$tmp/o0.mp4") bytes, 41 frames)"
echo "PASS test_vae_long"
