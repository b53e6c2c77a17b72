#!/usr/bin/env python3
"""Removes the C2PA manifest box from an MP4 (what anyone can do to a signed
file) and moves the chunk offsets back: the media exactly as encoded.
usage: strip_c2pa.py IN.mp4 OUT.mp4    (independent of tessera's own code)"""
import struct, sys

C2PA = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
data = bytearray(open(sys.argv[1], "rb").read())


def boxes(buf, start, end):
    pos = start
    while pos + 8 <= end:
        size, typ = struct.unpack(">I4s", buf[pos:pos + 8])
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack(">Q", buf[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        yield pos, size, hdr, typ.decode("latin1")
        pos += size


def shift(buf, start, end, delta):
    for pos, size, hdr, typ in boxes(buf, start, end):
        if typ in ("trak", "mdia", "minf", "stbl"):
            shift(buf, pos + hdr, pos + size, delta)
        elif typ in ("stco", "co64"):
            w, fmt = (4, ">I") if typ == "stco" else (8, ">Q")
            n = struct.unpack(">I", buf[pos + hdr + 4:pos + hdr + 8])[0]
            for i in range(n):
                o = pos + hdr + 8 + i * w
                buf[o:o + w] = struct.pack(fmt, struct.unpack(fmt, buf[o:o + w])[0] + delta)


top = list(boxes(data, 0, len(data)))
c2pa = [(p, s) for p, s, h, t in top if t == "uuid" and data[p + 8:p + 24] == C2PA]
for p, s in reversed(c2pa):
    for q, size, hdr, typ in top:
        if typ == "moov":  # chunk offsets point into mdat, past the removed box
            shift(data, q + hdr, q + size, -s)
    del data[p:p + s]
open(sys.argv[2], "wb").write(data)
