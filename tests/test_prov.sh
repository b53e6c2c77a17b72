#!/usr/bin/env bash
# Provenance end to end (docs/provenance.md), against the C2PA reference
# implementation (c2pa-rs through c2pa-python from PyPI, `make prov-deps`):
#  1. `keys init` makes a development CA and signing key (warning, 0600, no overwrite);
#  2. every MP4 that `generate` and `render` write is valid for c2pa-python
#     (signature, hashed URIs, BMFF hard binding; Trusted with the dev CA as
#     trust anchor) and for `tessera verify` (exit 0); the watermark bits are the
#     signed ones (in an image-to-video clip: the test model draws noise); without a key: a warning, a throwaway key, still valid;
#  3. one byte of the video stream changed, the manifest's prompt edited, the
#     manifest removed: invalid for both (exit 1, one line), the watermark still
#     found in the stripped and in a CRF 28 re-encoded copy;
#  4. bad input: missing/unreadable key, a certificate for another key, an
#     expired certificate, one variable of the two: one line, exit 2, no MP4
#     under the final name; verify on a PNG, a truncated MP4, a missing file: exit 2.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
PY=models/c2pa-venv/bin/python
tmp=build/tmp/prov_test; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -x $PY ] || ! $PY -c 'import c2pa' 2>/dev/null; then
  echo "SKIP: c2pa-python absent (make prov-deps installs it into models/c2pa-venv)"; exit 0
fi
unset TSR_SIGNING_KEY TSR_SIGNING_CERT TSR_WATERMARK_KEY
small=(model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 model.video.width=16 train.batch=2 train.warmup=1)
$T data synth --out $tmp/s.h5 --clips 16 --frames 8 --size 16x16 --seed 1 >$tmp/synth.log 2>&1 || fail "synth"
$T train configs/train/tiny.yaml "${small[@]}" train.steps=2 train.out=$tmp/run data.path=$tmp/s.h5 >$tmp/train.log 2>&1 || fail "train: $(tail -2 $tmp/train.log)"
G() { $T generate --ckpt $tmp/run/ckpt_2.h5 --steps 2 "$@"; }
check() { $PY tests/prov/c2pa_check.py "$@"; }
one_line() { [ "$(wc -l <"$1")" = 1 ] && grep -q "^tessera: error: .*$2" "$1" || fail "expected one line with '$2', got: $(cat "$1")"; }

# 1. keys
$T keys init $tmp/keys >$tmp/k.out 2>$tmp/k.err || fail "keys init: $(cat $tmp/k.err)"
grep -q "FOR TESTING ONLY" $tmp/k.err || fail "keys init: no warning"
[ "$(stat -c %a $tmp/keys/signing.key)" = 600 ] || fail "signing.key is not mode 0600"
openssl verify -CAfile $tmp/keys/ca.pem $tmp/keys/signing.pem >/dev/null || fail "signing.pem not issued by ca.pem"
set +e; $T keys init $tmp/keys >/dev/null 2>$tmp/k2.err; rc=$?; set -e
[ $rc = 2 ] || fail "keys init over an existing key: exit $rc"; one_line $tmp/k2.err "exists"
echo "ok  keys init: CA + signer (openssl verify), 0600, warning, refuses to overwrite"

# 2. generate and render, signed
export TSR_SIGNING_KEY=$tmp/keys/signing.key TSR_SIGNING_CERT=$tmp/keys/signing.pem
# the 2-step test model draws noise (std ~80 levels), where a mark of a few levels cannot be found;
# image-to-video starts from a picture (as a trained model's videos look), where it must be
/usr/bin/python3 -c '
import sys, numpy as np, imageio as iio
img = np.zeros((16, 16, 3), np.uint8); img[:] = (20, 24, 70); img[4:10, 3:9] = (230, 40, 40)
iio.imwrite(sys.argv[1], img)' $tmp/first.png
G --prompt "a red circle moves left" --image $tmp/first.png --out $tmp/a.mp4 >$tmp/a.log 2>&1 || fail "generate: $(tail -2 $tmp/a.log)"
G --prompt "a blue square moves up" --out $tmp/small.mp4 --upscale 4 >/dev/null 2>&1 || fail "generate --upscale 4"
printf '{"prompt": "a red circle moves right"}\n{"prompt": "a green square moves down", "seed": 3}\n' >$tmp/list.jsonl
$T render $tmp/list.jsonl --ckpt $tmp/run/ckpt_2.h5 --steps 2 --out $tmp/r >$tmp/r.log 2>&1 || fail "render: $(tail -3 $tmp/r.log)"
files=($tmp/a.mp4 $tmp/small.mp4 $tmp/r/*.mp4)
[ ${#files[@]} = 4 ] || fail "render wrote ${#files[@]} files"
check --trust $tmp/keys/ca.pem "${files[@]}" >$tmp/check.log || fail "c2pa-python: $(cat $tmp/check.log)"
[ "$(grep -c ' Trusted$' $tmp/check.log)" = 4 ] || fail "c2pa-python: not Trusted: $(cat $tmp/check.log)"
for f in "${files[@]}"; do
  $T verify $f >$tmp/v.out 2>$tmp/v.err || fail "verify $f: $(cat $tmp/v.err)"
  grep -q "C2PA manifest:  valid" $tmp/v.out || fail "verify $f: $(cat $tmp/v.out)"
done
# The mark from the pixels alone, against the payload the manifest signed. The
# keyed pattern depends on the key `keys init` made at random, and this clip is
# a 16x16 image-to-video (nearly the smallest the detector reads): allow one
# of the 32 bits wrong (>= 96.9%, the issue asks >= 95%; make wm-bench measures
# 50-video accuracy); seen once in about ten fresh keys.
$T verify --json $tmp/a.mp4 | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin); w = d["watermark"]
signed = d["c2pa"]["manifest"]["assertions"]["org.tessera.watermark"]["payload"]
assert w["detected"], w
errors = bin(int(w["payload"], 16) ^ int(signed, 16)).count("1")
assert errors <= 1, ("bit errors", errors, w["payload"], signed)
' || fail "watermark: $($T verify $tmp/a.mp4)"
$T verify --json $tmp/a.mp4 | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin); c = d["c2pa"]; a = c["manifest"]["assertions"]
assert d["valid"] and c["signature_valid"] and c["hard_binding_valid"] and c["development_certificate"], d
act = a["c2pa.actions"]["actions"][0]
assert act["action"] == "c2pa.created" and act["digitalSourceType"].endswith("/trainedAlgorithmicMedia"), act
assert act["softwareAgent"].startswith("tessera "), act
g = a["org.tessera.generation"]
assert g["prompt"] == "a red circle moves left", g
import hashlib
assert g["conditioning_sha256"]["image"] == hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest(), g
# the payload against the signed one: the check above (one bit of 32 may flip at this size)
assert d["watermark"]["detected"] and "org.tessera.watermark" in a, d["watermark"]
' $tmp/first.png || fail "verify --json"
echo "ok  generate + render: 4 MP4s Trusted by c2pa-python (dev CA as anchor), valid for tessera verify; watermark bits as signed (i2v)"
(unset TSR_SIGNING_KEY TSR_SIGNING_CERT; G --prompt "a red circle moves left" --out $tmp/nokey.mp4 >/dev/null 2>$tmp/nokey.err) ||
  fail "generate without a key: $(cat $tmp/nokey.err)"
grep -q "warning: no signing key configured" $tmp/nokey.err || fail "no warning without a key"
check $tmp/nokey.mp4 >/dev/null || fail "no key: c2pa-python: $(check $tmp/nokey.mp4)"
echo "ok  no key configured: warning, signed with a throwaway key, valid (untrusted)"

# 3. tampering
/usr/bin/python3 - $tmp <<'PY' || fail "could not make tampered copies"
import sys
d = sys.argv[1]
b = bytearray(open(d + "/a.mp4", "rb").read())
i = b.find(b"mdat") + 4 + 200          # a byte of the H.264 stream
b2 = bytearray(b); b2[i] ^= 0x01
open(d + "/byte.mp4", "wb").write(b2)
j = b.find(b"a red circle moves left")  # the prompt inside the signed generation assertion
assert j > 0
b3 = bytearray(b); b3[j + 2:j + 5] = b"blu"
open(d + "/edit.mp4", "wb").write(b3)
PY
/usr/bin/python3 tests/prov/strip_c2pa.py $tmp/a.mp4 $tmp/stripped.mp4
ffmpeg -v error -y -i $tmp/a.mp4 -c:v libx264 -crf 28 $tmp/crf28.mp4
for c in "byte:hard binding" "edit:assertion org.tessera.generation" "stripped:unsigned" "crf28:unsigned"; do
  f=$tmp/${c%%:*}.mp4
  ! check $f >$tmp/c.log || fail "c2pa-python accepted $f: $(cat $tmp/c.log)"
  set +e; $T verify $f >$tmp/v.out 2>$tmp/v.err; rc=$?; set -e
  [ $rc = 1 ] || fail "verify $f: exit $rc (expected 1)"; one_line $tmp/v.err "${c#*:}"
done
for f in stripped crf28; do grep -q "watermark:      detected" <($T verify $tmp/$f.mp4 2>/dev/null) || fail "$f: watermark lost"; done
echo "ok  one video byte, the prompt in the manifest, the manifest removed, re-encoded: invalid for c2pa-python and verify (exit 1); watermark still found"

# 4. bad input
gen_bad() {  # env..., expected message
  local want=${!#}; rm -f $tmp/bad.mp4
  set +e; env "${@:1:$#-1}" $T generate --ckpt $tmp/run/ckpt_2.h5 --steps 2 --prompt "a red circle" --out $tmp/bad.mp4 >/dev/null 2>$tmp/bad.err; rc=$?; set -e
  [ $rc = 2 ] || fail "generate with ${*:1:$#-1}: exit $rc ($(cat $tmp/bad.err))"
  one_line $tmp/bad.err "$want"
  [ ! -e $tmp/bad.mp4 ] && [ -z "$(ls $tmp | grep 'bad.*part')" ] || fail "an output was left after failed signing"
}
$T keys init $tmp/keys2 >/dev/null 2>&1
$PY - $tmp <<'PY' || fail "could not make an expired certificate"
import datetime as dt, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
d = sys.argv[1]
key = serialization.load_pem_private_key(open(d + "/keys/signing.key", "rb").read(), None)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired")])
now = dt.datetime.now(dt.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(7).not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now - dt.timedelta(days=1))
        .sign(key, hashes.SHA256()))
open(d + "/expired.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
PY
chmod 000 $tmp/keys2/signing.key 2>/dev/null || true
gen_bad TSR_SIGNING_KEY=$tmp/nope.key TSR_SIGNING_CERT=$tmp/keys/signing.pem "nope.key: signing key: cannot read"
gen_bad TSR_SIGNING_KEY=$tmp/keys/signing.key TSR_SIGNING_CERT=$tmp/keys2/signing.pem "does not match the key"
gen_bad TSR_SIGNING_KEY=$tmp/keys/signing.key TSR_SIGNING_CERT=$tmp/expired.pem "expired"
gen_bad TSR_SIGNING_KEY=$tmp/keys/ca.pem TSR_SIGNING_CERT=$tmp/keys/signing.pem "not a PEM private key"
gen_bad TSR_SIGNING_KEY= TSR_SIGNING_CERT=$tmp/keys/signing.pem "must be set together"
[ "$(id -u)" = 0 ] || gen_bad TSR_SIGNING_KEY=$tmp/keys2/signing.key TSR_SIGNING_CERT=$tmp/keys2/signing.pem "cannot read"
head -c 3000 $tmp/a.mp4 >$tmp/trunc.mp4
for c in "$tmp/a.png:not an MP4" "$tmp/trunc.mp4:truncated" "$tmp/missing.mp4:cannot read"; do
  set +e; $T verify ${c%%:*} >/dev/null 2>$tmp/v.err; rc=$?; set -e
  [ $rc = 2 ] || fail "verify ${c%%:*}: exit $rc"; one_line $tmp/v.err "${c#*:}"
done
echo "ok  bad keys/certificates (missing, another key's, expired, not a key, half-configured): one line, exit 2, nothing written; verify on PNG/truncated/missing: exit 2"
