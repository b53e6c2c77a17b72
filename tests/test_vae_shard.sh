#!/usr/bin/env bash
# Sharded decoding in time (vae/vae_shard.h, docs/vae.md "Long videos: chunks
# and shards"): at 2 and 4 ranks (and 1) vae_decode_sharded equals one rank's
# chunked decode and the whole-clip decode; the max abs difference is printed
# by build/tests/test_vae_chunk --shard (tests/unit/test_vae_chunk.c).
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=build/tmp/vae_shard; rm -rf "$tmp"; mkdir -p "$tmp"
for np in 1 2 4; do
  timeout 120 mpirun --oversubscribe --bind-to none -np $np build/tests/test_vae_chunk --shard >"$tmp/np$np.log" 2>&1
  rc=$?
  grep "sharded over" "$tmp/np$np.log"
  [ $rc = 0 ] || { echo "FAIL: sharded decode at $np ranks: exit $rc"; grep -m5 "FAIL\|error\|assert" "$tmp/np$np.log"; exit 1; }
  [ "$(grep -c "sharded over $np ranks" "$tmp/np$np.log")" = 2 ] || { echo "FAIL: $np ranks: no result line"; exit 1; }
done
echo "ok  sharded VAE decode at 1, 2, 4 ranks equals one rank"
