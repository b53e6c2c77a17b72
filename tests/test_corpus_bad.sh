#!/usr/bin/env bash
# Bad corpus files through `tessera data inspect` (format: src/data/corpus.h,
# datasets/README.md). A good corpus is written here with h5py from the
# format documentation alone (no tessera code), so this also checks that the
# documentation is complete: inspect must accept it and draw its contact sheet.
# Then each broken variant (truncated, random bytes, HDF5 but not a corpus,
# wrong dtypes and shapes, missing items, sizes that overflow or are declared
# but not stored, variable-length strings, missing or failing checksums, a
# FIFO, a version 1 corpus, missing file) must
# exit 2, print nothing on stdout and exactly one stderr line
# "tessera: error: FILE: ..." that names the item.
# TESSERA=path/to/binary overrides bin/tessera.
set -u
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
PY=/usr/bin/python3
[ -x "$T" ] || { echo "missing $T (run make)"; exit 1; }
"$PY" -c 'import h5py, numpy' 2>/dev/null || { echo "missing python3-h5py / python3-numpy (run make deps)"; exit 1; }
mkdir -p build/tmp
tmp=$(mktemp -d build/tmp/corpus_bad.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
checks=0
failures=0
bad() { echo "FAIL $*"; failures=$((failures + 1)); }

# make.py PATH VARIANT: a corpus per the documented format, then one change.
cat >"$tmp/make.py" <<'EOF'
import sys, collections
import numpy as np, h5py

path, variant = sys.argv[1], sys.argv[2]
pt, ph, pw, C, L = 1, 2, 2, 3, 16
T, H, W, n = 4, 16, 16, 3
N, P = (T // pt) * (H // ph) * (W // pw), pt * ph * pw * C

# Tokenizer rules of datasets/README.md (ASCII and the characters used here).
SEP = lambda cp: (0x80 <= cp <= 0xBF or cp in (0xD7, 0xF7) or 0x2000 <= cp <= 0x206F or 0x2E00 <= cp <= 0x2E7F
                  or 0x3000 <= cp <= 0x303F or cp == 0xFEFF or 0xFFF0 <= cp <= 0xFFFF)
def words(text):
    out, cur = [], ""
    for ch in text + " ":
        cp = ord(ch)
        if cp < 0x80:
            ch = ch.lower()
            if ch.isascii() and (ch.isalnum() or ch == "'"):
                cur += ch; continue
        elif cp in (0x2018, 0x2019):
            cur += "'"; continue
        elif not SEP(cp):
            cur += chr(cp + 0x20) if 0xC0 <= cp <= 0xDE else ch; continue
        w = cur.strip("'")
        if w: out.append(w)
        cur = ""
    return out

caps = ["a red circle moves left", "a blue square moves up", "Café ☕ stays still"]
recs = [c + ". A longer descriptive caption: the object is large and the background is black." for c in caps]
count = collections.Counter(w for t in caps + recs for w in words(t))
vocab = ["<pad>", "<bos>", "<unk>", "<eos>"] + sorted(count, key=lambda w: (-count[w], w.encode()))
ids = {w: i for i, w in enumerate(vocab)}
def encode(text):
    t = [1] + [ids.get(w, 2) for w in words(text)]
    t = t[:L]
    return t + [0] * (L - len(t)), len(t)

rng = np.random.default_rng(1)
px = rng.integers(0, 256, (n, T, H, W, C), dtype=np.uint8)          # [n,T,H,W,C]
patches = (px.reshape(n, T // pt, pt, H // ph, ph, W // pw, pw, C)    # token (t,h,w), vector (pt,ph,pw,C)
             .transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(n, N, P))
text = h5py.string_dtype("utf-8")   # variable-length strings: only in refused variants

# Every dataset: chunked, with the fletcher32 checksum.
def put(g, name, data, **kw):
    kw.setdefault("chunks", True)
    kw.setdefault("maxshape", (None,) + np.shape(data)[1:])
    return g.create_dataset(name, data=data, fletcher32=True, **kw)

# A string column: NAME/bytes uint8 (UTF-8, concatenated), NAME/offsets uint64 [n+1].
def put_strings(g, name, texts):
    b = [t.encode() for t in texts]
    put(g, name + "/bytes", np.frombuffer(b"".join(b), dtype=np.uint8))
    put(g, name + "/offsets", np.cumsum([0] + [len(x) for x in b], dtype=np.uint64))

if variant == "notcorpus":
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    sys.exit(0)

f = h5py.File(path, "w", libver=("v110", "v110"))   # the 1.10 format: checksummed metadata
f.attrs["format"] = np.bytes_("tessera-corpus")     # a fixed-length string
f.attrs["version"] = 2
g = f.create_group(f"buckets/{T}x{H}x{W}")
g.attrs.update(frames=T, height=H, width=W, count=n)
put(g, "patches", patches, chunks=(1, N, P), compression="gzip")
put_strings(g, "caption", caps)
put_strings(g, "recaption", recs)
tok = [encode(t) for t in recs]
put(g, "tokens", np.array([t for t, _ in tok], dtype=np.int32))
put(g, "ntokens", np.array([k for _, k in tok], dtype=np.int32))
tok = [encode(t) for t in caps]
put(g, "caption_tokens", np.array([t for t, _ in tok], dtype=np.int32))
put(g, "caption_ntokens", np.array([k for _, k in tok], dtype=np.int32))
put_strings(g, "meta/source", ["handmade"] * n)
put(g, "meta/fps", np.full(n, 8, dtype=np.float32))
t = f.create_group("tokenizer")
put_strings(t, "vocab", vocab)
t.attrs["patch"] = np.array([pt, ph, pw])
t.attrs["channels"] = C
t.attrs["text_length"] = L
t.attrs["value_range"] = np.array([-1, 1], dtype=np.float32)

def replace(name, data, checksum=True, **kw):
    del g[name]
    if checksum: put(g, name, data, **kw)
    else: g.create_dataset(name, data=data, **kw)

# Overwrites bytes inside the first stored chunk of dataset d (after the file is closed).
def corrupt(d, chunk=0):
    info = d.id.get_chunk_info(chunk)
    f.close()
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + min(4, info.size // 2))
        fh.write(bytes(range(256))[: max(1, min(256, info.size - 8))])
    sys.exit(0)

# A bucket TxHxW (attributes right) whose patches are declared but never stored: a tiny file
# that declares gigabytes.
def declared_bucket(T, H, W, count=1):
    b = f.create_group(f"buckets/{T}x{H}x{W}")
    b.attrs.update(frames=T, height=H, width=W, count=count)
    N = (T // pt) * (H // ph) * (W // pw)
    b.create_dataset("patches", shape=(count, N, P), dtype=np.uint8, chunks=(1, min(N, 1 << 20), P), fletcher32=True)

if variant == "patches_float32": replace("patches", patches.astype(np.float32) / 127.5 - 1)
elif variant == "patches_shape": replace("patches", patches[:, :, : P - 1])
elif variant == "patches_missing": del g["patches"]
elif variant == "patches_no_checksum": replace("patches", patches, checksum=False, chunks=(1, N, P))
elif variant == "patches_chunked_by_3": replace("patches", patches, chunks=(3, N, P))
elif variant == "patches_not_stored":
    del g["patches"]; g.create_dataset("patches", shape=(n, N, P), dtype=np.uint8, chunks=(1, N, P), fletcher32=True)
elif variant == "tokens_float32": replace("tokens", g["tokens"][()].astype(np.float32))
elif variant == "tokens_int64": replace("tokens", g["tokens"][()].astype(np.int64))
elif variant == "tokens_length": replace("tokens", g["tokens"][:, : L - 2])
elif variant == "tokens_no_checksum": replace("tokens", g["tokens"][()], checksum=False)
elif variant == "token_id_range":
    x = g["tokens"][()]; x[1, 2] = len(vocab) + 7; replace("tokens", x)
elif variant == "caption_not_text": del g["caption"]; put(g, "caption", np.arange(n, dtype=np.int32))
elif variant == "caption_vlen": del g["caption"]; g.create_dataset("caption", data=caps, dtype=text)
elif variant == "caption_offsets_int32":
    o = g["caption/offsets"][()]; del g["caption/offsets"]; put(g, "caption/offsets", o.astype(np.int32))
elif variant == "caption_offsets_past_end":
    o = g["caption/offsets"][()]; o[2] = 1 << 40; del g["caption/offsets"]; put(g, "caption/offsets", o)
elif variant == "recaption_missing": del g["recaption"]
elif variant == "count_mismatch": g.attrs["count"] = n + 2
elif variant == "count_2g": g.attrs["count"] = 2**31 - 1
elif variant == "version": f.attrs["version"] = 7
elif variant == "version1":                         # what tessera wrote before: vlen strings
    f.attrs["format"] = "tessera-corpus"; f.attrs["version"] = 1
elif variant == "format": f.attrs["format"] = np.bytes_("something-else")
elif variant == "format_vlen": f.attrs["format"] = "tessera-corpus"
elif variant == "format_int": f.attrs["format"] = 5
elif variant == "vocab_specials":
    del t["vocab"]; put_strings(t, "vocab", ["pad"] + vocab[1:])
elif variant == "vocab_int": del t["vocab"]; put(t, "vocab", np.arange(len(vocab), dtype=np.int32))
elif variant == "vocab_bytes_vlen":
    del t["vocab/bytes"]; t.create_dataset("vocab/bytes", data=vocab, dtype=text)
elif variant == "meta_source_vlen": del g["meta/source"]; g.create_dataset("meta/source", data=["x"] * n, dtype=text)
elif variant == "patch_attr": t.attrs["patch"] = np.array([1, 2])
elif variant == "bucket_name": f.move(f"buckets/{T}x{H}x{W}", "buckets/sixteen")
elif variant == "bucket_name_huge": f.move(f"buckets/{T}x{H}x{W}", "buckets/4x16x99999999999999999999")
elif variant == "bucket_indivisible": t.attrs["patch"] = np.array([3, 2, 2])
elif variant == "bucket_overflow": declared_bucket(4096, 8192, 8192)    # N*P wraps a 32-bit int to 0
elif variant == "bucket_1024cubed": declared_bucket(1024, 1024, 1024)   # 3 GiB a clip
elif variant == "bucket_sparse": declared_bucket(64, 1024, 1024)        # 192 MiB a clip, none stored
elif variant == "corrupt_chunk": corrupt(g["patches"], 1)
elif variant == "corrupt_caption": corrupt(g["caption/bytes"])
elif variant == "corrupt_tokens": corrupt(g["tokens"])
elif variant != "good": sys.exit("unknown variant " + variant)
f.close()
EOF

make() { "$PY" "$tmp/make.py" "$1" "$2" || { bad "make.py $2 failed"; return 1; }; }

# ---- the good corpus: inspect accepts it and draws the sheet
checks=$((checks + 1))
good=$tmp/good.h5
if make "$good" good; then
  "$T" data inspect "$good" --clips 3 >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc -ne 0 ]; then bad "good corpus: exit $rc: $(head -c 400 "$tmp/err")"
  elif [ -s "$tmp/err" ]; then bad "good corpus: stderr: $(head -c 400 "$tmp/err")"
  elif ! grep -q "bucket 4x16x16: 3 clips, N 256 tokens x P 12 values" "$tmp/out"; then bad "good corpus: bucket line missing: $(cat "$tmp/out")"
  elif ! grep -q "unknown words 0.0%" "$tmp/out"; then bad "good corpus: words unknown to its own vocabulary"
  elif ! grep -q "Café ☕ stays still" "$tmp/out"; then bad "good corpus: UTF-8 caption not printed"
  elif [ ! -s "$tmp/good_sheet.png" ]; then bad "good corpus: no contact sheet $tmp/good_sheet.png"
  else echo "  ok  good corpus (h5py-written from the documented format) inspects; sheet written"; fi
fi

# expect_error NAME ITEM FILE [inspect args...]: exit 2, one stderr line
# "tessera: error: FILE: ..." containing ITEM, and an empty stdout (problems
# found at open, before anything is printed). READ_TIME=1: the problem is only
# seen when the item is read (token ids, chunk contents), so stdout may hold
# what inspect printed before it.
READ_TIME=0
expect_error() {
  local name=$1 item=$2 file=$3
  shift 3
  [ $# -gt 0 ] || set -- --no-sheet
  checks=$((checks + 1))
  "$T" data inspect "$file" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$? nlines line
  nlines=$(wc -l <"$tmp/err")
  line=$(head -n 1 "$tmp/err")
  if [ "$rc" -ne 2 ]; then bad "$name: exit code $rc, expected 2"
  elif [ "$READ_TIME" = 0 ] && [ -s "$tmp/out" ]; then bad "$name: printed to stdout: $(head -c 200 "$tmp/out")"
  elif [ "$nlines" -ne 1 ]; then bad "$name: $nlines lines on stderr, expected 1"
  elif [[ "$line" != "tessera: error: $file: "* ]]; then bad "$name: file not named first in: $line"
  elif [[ "$line" != *"$item"* ]]; then bad "$name: expected '$item' in: $line"
  else echo "  ok  $name: $line"; return; fi
  echo "      stderr: $(head -c 600 "$tmp/err")"
}

# variant NAME ITEM [inspect args]: build the variant with make.py and expect the error.
variant() {
  local name=$1 item=$2 f=$tmp/$1.h5
  shift 2
  make "$f" "$name" && expect_error "$name" "$item" "$f" "$@"
}

B=/buckets/4x16x16
head -c $(($(stat -c %s "$good") / 2)) "$good" >"$tmp/truncated.h5"
expect_error truncated "not an HDF5 file (truncated or corrupt?)" "$tmp/truncated.h5"
head -c 100 "$good" >"$tmp/truncated_header.h5"
expect_error truncated_header "not an HDF5 file" "$tmp/truncated_header.h5"
head -c 65536 /dev/urandom >"$tmp/random.h5"
expect_error random_bytes "not an HDF5 file" "$tmp/random.h5"
: >"$tmp/empty.h5"
expect_error empty_file "not an HDF5 file" "$tmp/empty.h5"
expect_error missing_file "cannot open: No such file" "$tmp/nonexistent.h5"
expect_error directory "is a directory" "$tmp"
variant notcorpus "/format missing"
variant format "/format: expected \"tessera-corpus\", found \"something-else\""
variant format_vlen "/format: expected the fixed-length string"
variant format_int "attribute 'format': expected a string, found int64"
variant version "/version: expected 2"
variant version1 "corpus format version 1 is no longer read"
variant patches_float32 "$B/patches: expected uint8, found float32"
variant patches_shape "$B/patches: expected shape [3, 256, 12] (n, N, P), found [3, 256, 11]"
variant patches_missing "$B/patches: missing"
variant patches_no_checksum "$B/patches: expected a checksum"
variant patches_chunked_by_3 "$B/patches: expected 1 row per chunk, found 3"
variant patches_not_stored "$B/patches: declares shape [3, 256, 12] (3 chunks) but stores 0 chunks"
variant tokens_float32 "$B/tokens: expected int32, found float32"
variant tokens_int64 "$B/tokens: expected int32, found int64"
variant tokens_length "$B/tokens: expected shape [3, 16] (n, text_length), found [3, 14]"
variant tokens_no_checksum "$B/tokens: expected a checksum"
variant caption_not_text "$B/caption: expected a group, found a dataset"
variant caption_vlen "$B/caption: expected a group, found a dataset"
variant caption_offsets_int32 "$B/caption/offsets: expected uint64, found int32"
variant recaption_missing "$B/recaption: missing"
variant meta_source_vlen "$B/meta/source: expected a group, found a dataset"
variant count_mismatch "$B/patches: expected shape [5, 256, 12]"
variant count_2g "$B: attribute 'count': expected a clip count below 2^31 - 1, found 2147483647"
variant vocab_specials "/tokenizer/vocab: entry 0: expected \"<pad>\""
variant vocab_int "/tokenizer/vocab: expected a group, found a dataset"
variant vocab_bytes_vlen "/tokenizer/vocab/bytes: expected uint8, found a variable-length string"
variant patch_attr "/tokenizer: attribute 'patch': expected 3 integers"
variant bucket_name "/buckets/sixteen: expected a bucket group named TxHxW"
variant bucket_name_huge "/buckets/4x16x99999999999999999999: expected a bucket group named TxHxW"
variant bucket_indivisible "$B: bucket size not divisible by the patch 3x2x2"
variant bucket_overflow "/buckets/4096x8192x8192: a clip of N 68719476736 tokens x P 12 values is more than"
variant bucket_1024cubed "/buckets/1024x1024x1024: a clip of N 268435456 tokens x P 12 values is more than the 1073741824 bytes"
variant bucket_sparse "/buckets/64x1024x1024/patches: declares shape [1, 16777216, 12] (16 chunks) but stores 0 chunks"
mkfifo "$tmp/fifo.h5"
expect_error fifo "not a regular file" "$tmp/fifo.h5"
READ_TIME=1
variant token_id_range "$B/tokens: clip 1: token 2 is id"
variant caption_offsets_past_end "$B/caption/offsets: clip 1: expected offsets in [0,"
variant corrupt_chunk "$B/patches: clip 1: checksum mismatch" --sheet "$tmp/corrupt_sheet.png" --clips 3
variant corrupt_caption "$B/caption: clip 0: checksum mismatch"
variant corrupt_tokens "$B/tokens: clip 0: checksum mismatch"
READ_TIME=0

# bad inspect arguments: one line, exit 2
checks=$((checks + 1))
"$T" data inspect "$good" --clips zero >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -ne 2 ] || [ "$(wc -l <"$tmp/err")" -ne 1 ] || ! grep -q -- "--clips: expected a positive integer" "$tmp/err"; then
  bad "--clips zero: exit $rc, stderr $(head -c 300 "$tmp/err")"
else echo "  ok  bad --clips value"; fi

echo "test_corpus_bad: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
