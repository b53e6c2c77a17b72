#!/usr/bin/env python3
"""Lists the GPU code embedded in object files built by nvcc, without
cuobjdump (not shipped in every CUDA install): reads the .nv_fatbin section
(via objcopy) and walks the fatbin container's entry headers.

Usage: fatbin_archs.py FILE.o...   prints "FILE: sm_80 sm_90 (+ptx compute_90)"
Exit 1 if a file has no fatbin or cannot be parsed.
Container: header {u32 magic 0xBA55ED50, u16 version, u16 header_size,
u64 size}; then entries {u16 kind (1 PTX, 2 ELF), u16, u32 header_size,
u64 payload_size, ..., u32 arch at offset 28}, each followed by its payload.
"""
import os, struct, subprocess, sys, tempfile

MAGIC = 0xBA55ED50


def archs(path):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "fatbin")
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.nv_fatbin", path, out], check=True,
                       stderr=subprocess.DEVNULL)
        data = open(out, "rb").read() if os.path.exists(out) else b""
    if len(data) < 16:
        raise ValueError("no .nv_fatbin section")
    found = []
    off = 0
    while off + 16 <= len(data):
        magic, _version, hsize, fsize = struct.unpack_from("<IHHQ", data, off)
        if magic != MAGIC:
            break  # alignment padding after the last container
        pos, end = off + hsize, off + hsize + fsize
        while pos + 32 <= end:
            kind, _u, ehsize, payload = struct.unpack_from("<HHIQ", data, pos)
            arch = struct.unpack_from("<I", data, pos + 28)[0]
            if kind == 2:
                found.append("sm_%d" % arch)
            elif kind == 1:
                found.append("ptx compute_%d" % arch)
            if ehsize == 0:
                raise ValueError("corrupt entry header")
            pos += ehsize + payload
        off = end
        off = (off + 7) & ~7
    if not found:
        raise ValueError("no entries in the fatbin")
    return found


def main():
    rc = 0
    for path in sys.argv[1:]:
        try:
            print("%s: %s" % (path, " ".join(sorted(set(archs(path))))))
        except Exception as e:  # report and go on
            print("%s: ERROR %s" % (path, e))
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
