#!/usr/bin/env python3
"""Let PyPI's CUDA build of PyTorch run on the CPU without the nvidia-* wheels.

PyPI has one torch wheel for Linux x86_64 and it is a CUDA build: its
libtorch_cpu.so, libtorch_cuda.so and libtorch_python.so are linked against
libcudart, libcublas, libcudnn, libnccl, ... which come from the nvidia-* and
cuda-* wheels (several GB). The CPU benchmark never calls them, but the
dynamic loader must find them, with the symbol versions the torch libraries
ask for, before `import torch` succeeds.

This script writes small stand-ins into torch/lib (found first: every torch
library has $ORIGIN in its RPATH): for each CUDA library that a torch library
needs and the wheel does not ship, a shared object with that soname that
defines every symbol the torch libraries import from it, under the same
version node. A stand-in function does nothing and returns 100
(cudaErrorNoDevice; for every CUDA library a non-zero status is a failure),
or a short message for the *ErrorString/*ErrorName functions, so PyTorch sees
"no CUDA device" (torch.cuda.is_available() is False) and stays on the CPU.
With TSR_CUDA_STUB_TRACE=1 in the environment each call is printed to stderr
(except the kernel registrations __cuda* that run when libtorch_cuda.so loads):
a CPU run of bench/torch2_peer.py calls only cudaGetDeviceCount and
cudaGetLastError.

    python bench/cuda_stubs.py VENV/lib/python3.X/site-packages/torch/lib

Needs readelf (binutils) and cc. Idempotent: stand-ins written before are
replaced; a library the wheel itself ships is never touched.
"""
import os
import re
import subprocess
import sys
import tempfile

# sonames of NVIDIA's libraries (cudart, cublas, cudnn, nccl, nvshmem, nvrtc, ...)
CUDA_SONAME = re.compile(r"^lib(cu|nv|nccl)[A-Za-z0-9_]*\.so(\.\d+)*$")
# libcuda.so.1 is the driver (dlopened by cudart, needed only by the lazily
# loaded libcaffe2_nvrtc.so): never faked.
SKIP_SONAMES = {"libcuda.so.1"}
SKIP_LIBS = {"libcaffe2_nvrtc.so"}
# unversioned imports that belong to NVIDIA libraries (nccl, cusparseLt, cuFile, ...)
CUDA_SYMBOL = re.compile(r"^(cuda|cublas|cudnn|cufft|cusparse|cusolver|curand|cupti|cuFile|nccl|nvshmem|nvrtc|nvJitLink|nvtx)")
RETURNS_STRING = re.compile(r"(ErrorString|ErrorName|StatusString|StatusName)$|^ncclGetLastError$")
MARK = b"tessera-cuda-stub"


def readelf(*args):
    return subprocess.run(["readelf", "-W", *args], check=True, capture_output=True, text=True).stdout


def needed(path):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf("-d", path))


def version_files(path):
    """version name -> file (soname) from the version-needs section."""
    out, cur = {}, None
    for line in readelf("-V", path).splitlines():
        m = re.search(r"File: (\S+)", line)
        if m:
            cur = m.group(1)
            continue
        m = re.search(r"Name: (\S+)", line)
        if m and cur:
            out[m.group(1)] = cur
    return out


def undefined(path):
    """[(name, version or None, type)] of the global undefined dynamic symbols."""
    out = []
    for line in readelf("--dyn-syms", path).splitlines():
        f = line.split()
        if len(f) < 8 or f[6] != "UND" or f[4] != "GLOBAL":
            continue
        name, _, ver = f[7].partition("@")
        out.append((name, ver.lstrip("@").split(" ")[0] or None, f[3]))
    return out


def is_stub(path):
    """A stand-in written by this script (small, carries MARK)."""
    try:
        if os.path.getsize(path) > (1 << 20):
            return False
        with open(path, "rb") as fh:
            return MARK in fh.read()
    except OSError:
        return False


def c_source(symbols):
    lines = ['#include <stdio.h>', '#include <stdlib.h>',
             'static const char tsr_stub_mark[] __attribute__((used)) = "%s";' % MARK.decode(),
             'static const char tsr_msg[] = "no CUDA library (CPU-only stand-in, bench/cuda_stubs.py)";',
             'static void tsr_trace(const char *name) {',
             '  if (getenv("TSR_CUDA_STUB_TRACE")) fprintf(stderr, "cuda stub called: %s\\n", name);',
             '}']
    for name, typ in sorted(symbols.items()):
        if typ == "OBJECT":
            lines.append("char %s[4096];" % name)
        elif RETURNS_STRING.search(name):
            lines.append('const char *%s(void) { tsr_trace("%s"); return tsr_msg; }' % (name, name))
        elif name.startswith("__cuda"):  # kernel (un)registration when libtorch_cuda loads and unloads
            lines.append('long %s(void) { return 100; }' % name)
        else:
            lines.append('long %s(void) { tsr_trace("%s"); return 100; }' % (name, name))
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: cuda_stubs.py TORCH_LIB_DIR")
    lib = sys.argv[1]
    shipped = {f for f in os.listdir(lib) if ".so" in f and not is_stub(os.path.join(lib, f))}
    # soname -> {version or None -> {symbol: type}}
    stubs = {}
    loose = {}  # unversioned NVIDIA symbols: defined in every stand-in
    for f in sorted(shipped):
        if f in SKIP_LIBS:
            continue
        path = os.path.join(lib, f)
        missing = [s for s in needed(path) if CUDA_SONAME.match(s) and s not in shipped and s not in SKIP_SONAMES]
        for s in missing:
            stubs.setdefault(s, {})
        vfile = version_files(path)
        for name, ver, typ in undefined(path):
            if ver and vfile.get(ver) in missing:
                stubs[vfile[ver]].setdefault(ver, {})[name] = typ
            elif not ver and CUDA_SYMBOL.match(name):
                loose[name] = typ
    if not stubs:
        print("cuda_stubs: torch needs no CUDA library outside its wheel; nothing to do")
        return
    cc = os.environ.get("CC_STUB", "cc")
    with tempfile.TemporaryDirectory() as tmp:
        for soname, versions in sorted(stubs.items()):
            syms = dict(loose)
            for v in versions.values():
                syms.update(v)
            src = os.path.join(tmp, soname + ".c")
            with open(src, "w") as fh:
                fh.write(c_source(syms))
            out = os.path.join(lib, soname + ".tmp")
            cmd = [cc, "-shared", "-fPIC", "-O1", "-w", "-o", out, src, "-Wl,-soname," + soname]
            if versions:
                # every version node the importers name; unversioned symbols go in the first
                vs = os.path.join(tmp, soname + ".map")
                with open(vs, "w") as fh:
                    for i, (ver, names) in enumerate(sorted(versions.items())):
                        body = sorted(names) + (sorted(loose) if i == 0 else [])
                        fh.write("%s {\n  global:\n%s%s};\n" % (
                            ver, "".join("    %s;\n" % n for n in body), "  local: *;\n" if i == 0 else ""))
                cmd.append("-Wl,--version-script=" + vs)
            subprocess.run(cmd, check=True)
            os.replace(out, os.path.join(lib, soname))
    n = sum(len(v) for vs in stubs.values() for v in vs.values())
    print("cuda_stubs: %d CPU-only stand-ins in %s (%s), %d versioned + %d unversioned symbols"
          % (len(stubs), lib, " ".join(sorted(stubs)), n, len(loose)))


if __name__ == "__main__":
    main()
