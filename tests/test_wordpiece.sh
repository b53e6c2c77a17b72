#!/usr/bin/env bash
# The WordPiece tokenizer against the reference (Hugging Face tokenizers from
# PyPI, installed by `make deps` into models/venv with the weights' own
# tokenizer.json): 3,000 generated texts (ids, piece counts, truncation) and
# every code point of the planes that hold characters (the words before
# WordPiece). tests/text/wordpiece_ref.py says what is generated and checked.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=build/tmp/wordpiece; rm -rf "$tmp"; mkdir -p "$tmp"
py=models/venv/bin/python
if [ ! -x $py ] || [ ! -f models/minilm-l6/tokenizer.json ]; then
  echo "SKIP: models/venv or models/minilm-l6 absent (make deps installs the reference tokenizer and the vocabulary)"
  exit 0
fi
$py tests/text/wordpiece_ref.py build/tests/test_wordpiece models/minilm-l6/vocab.txt models/minilm-l6/tokenizer.json $tmp
