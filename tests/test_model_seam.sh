#!/usr/bin/env bash
# The seam rule (docs/kernels.md): src/model computes only through the
# backend table. No file there indexes an activation buffer or a parameter /
# gradient slice on the host, nor moves one with memcpy / memset / memmove:
# on the CUDA backend those are device pointers, and such a line would crash
# or silently read garbage. The activation buffers are every float / int /
# uint8 pointer field of the activation structs in model_internal.h (the
# host mirrors, HostBatch, excepted), found here rather than listed.
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 - <<'PY'
import re, sys, glob
hdr = open('src/model/model_internal.h').read()
fields = set()
for struct in re.findall(r'typedef struct \{(.*?)\} (?:BlockActs|TextActs|GradScratch);', hdr, re.S) + \
              re.findall(r'struct ModelActs \{(.*?)\};', hdr, re.S):
    body = re.sub(r'//[^\n]*', '', struct)
    for decl in re.findall(r'(?:float|int|int32_t|uint8_t)\s*\*([^;]+);', body):
        for name in re.split(r',\s*\*?', decl):
            fields.add(name.strip().lstrip('*'))
fields.discard('')
if len(fields) < 40:
    sys.exit(f'FAIL: found only {len(fields)} activation fields in model_internal.h: the parser is broken')
# h-> and .host. are the host mirrors of HostBatch, meant to be indexed
index = re.compile(r'(?<!\bh)(?<!host)(?:->|\.)(' + '|'.join(sorted(fields)) + r')\s*\[')
param = re.compile(r'\bP[WG]\([^()]*\)\s*\[')
move = re.compile(r'\b(memcpy|memset|memmove)\s*\(([^;]*)\)')
one_object = re.compile(r'.*,\s*sizeof\s*\*?\s*\w+\s*$')  # size of one struct / scalar
# The checkpoint files are host-side I/O: they work on host copies of the
# tensors (downloaded before a save, uploaded after a load).
host_io = {'src/model/checkpoint.c', 'src/model/ckpt_sum.c'}
bad = []
for path in sorted(glob.glob('src/model/*.c')):
    for no, line in enumerate(open(path), 1):
        code = line.split('//')[0]
        if index.search(code) or param.search(code):
            bad.append(f'{path}:{no}: host access to a device buffer: {line.strip()}')
        for fn, args in move.findall(code) if path not in host_io else []:
            if not one_object.match(args):  # one host struct or scalar is fine
                bad.append(f'{path}:{no}: {fn} in src/model (use be_copy / be_zero): {line.strip()}')
for b in bad:
    print('FAIL', b)
if bad:
    sys.exit(1)
print(f'ok  src/model computes only through the backend ({len(fields)} activation buffers checked, '
      f'{len(glob.glob("src/model/*.c"))} files)')
PY
