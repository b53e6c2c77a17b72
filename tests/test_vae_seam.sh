#!/usr/bin/env bash
# The seam rule for src/vae (docs/kernels.md, as tests/test_model_seam.sh for
# src/model): the autoencoder computes only through the backend table. No
# file there indexes an activation buffer, a parameter or gradient slice on
# the host, or moves one with memcpy / memset / memmove: on a GPU backend
# those are device pointers. The activation buffers are every float pointer
# field of VaeTensor, VaeNode and Vae in src/vae/vae.h (the host_* staging
# buffers excepted), found here rather than listed.
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 - <<'PY'
import re, sys, glob
hdr = open('src/vae/vae.h').read()
fields = set()
for body in re.findall(r'typedef struct \{(.*?)\} (?:VaeNode|VaeTensor|Vae);', hdr, re.S):
    body = re.sub(r'//[^\n]*', '', body)
    for decl in re.findall(r'float\s*\*([^;]+);', body):
        for name in re.split(r',\s*\*?', decl):
            fields.add(name.strip().lstrip('*'))
fields = {f for f in fields if f and not f.startswith('host')}
if len(fields) < 6:
    sys.exit(f'FAIL: found only {len(fields)} activation fields in src/vae/vae.h: the parser is broken')
index = re.compile(r'(?:->|\.)(' + '|'.join(sorted(fields)) + r')\s*\[')
param = re.compile(r'\bP[WG]\([^()]*\)\s*\[|\bparams\.(?:data|grad)\s*\[')
move = re.compile(r'\b(memcpy|memset|memmove)\s*\(([^;]*)\)')
one_object = re.compile(r'.*,\s*sizeof\s*\*?\s*\w+\s*$')  # one struct / scalar
bad = []
files = sorted(glob.glob('src/vae/*.c'))
for path in files:
    for no, line in enumerate(open(path), 1):
        code = line.split('//')[0]
        if index.search(code) or param.search(code):
            bad.append(f'{path}:{no}: host access to a device buffer: {line.strip()}')
        for fn, args in move.findall(code):
            if not one_object.match(args):
                bad.append(f'{path}:{no}: {fn} in src/vae (use be_copy / be_zero): {line.strip()}')
for b in bad:
    print('FAIL', b)
if bad:
    sys.exit(1)
print(f'ok  src/vae computes only through the backend ({len(fields)} activation buffers: '
      f'{", ".join(sorted(fields))}; {len(files)} files)')
PY
