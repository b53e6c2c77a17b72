#!/usr/bin/env bash
# The MiniLM-L6 encoder in C against PyTorch (Debian's python3-torch) from the
# same weights: six sentences of 5 to 51 tokens in one padded batch; hidden
# states and pooled vectors within 1e-5 (max abs difference / max abs), and
# paraphrases closer than an unrelated sentence. tests/text/minilm_ref.py.
# Bad weights, vocabularies and ids: build/tests/test_minilm (no arguments).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=build/tmp/minilm; rm -rf "$tmp"; mkdir -p "$tmp"
if [ ! -f models/minilm-l6/model.safetensors ]; then
  echo "SKIP: models/minilm-l6 absent (make deps installs all-MiniLM-L6-v2)"
  exit 0
fi
build/tests/test_minilm --dump $tmp/c.bin
/usr/bin/python3 tests/text/minilm_ref.py models/minilm-l6 $tmp/c.bin
