"""Philox4x32-10 and the draws of src/core/rng.c, written from the Salmon et al.
paper's definition (numpy, vectorised over counters), so Python can reproduce
tessera's noise: normal(seed, purpose, sample, token, channel)."""
import numpy as np

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = np.uint64(0xFFFFFFFF)


def philox4x32(seed, c0, c1, c2, c3):
    """Arrays of uint32 counters (broadcast) -> 4 arrays of uint32 outputs."""
    c = [np.asarray(x, dtype=np.uint64) & MASK for x in (c0, c1, c2, c3)]
    c = np.broadcast_arrays(*c)
    c = [x.copy() for x in c]
    k0, k1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    for _ in range(10):
        p0 = M0 * c[0]
        p1 = M1 * c[2]
        hi0, lo0 = p0 >> np.uint64(32), p0 & MASK
        hi1, lo1 = p1 >> np.uint64(32), p1 & MASK
        c = [hi1 ^ c[1] ^ np.uint64(k0), lo1, hi0 ^ c[3] ^ np.uint64(k1), lo0]
        k0 = (k0 + W0) & 0xFFFFFFFF
        k1 = (k1 + W1) & 0xFFFFFFFF
    return c


def to_unit(x):
    return ((x >> np.uint64(8)).astype(np.float64) + 0.5) / 16777216.0


def normal(seed, purpose, sample, token, channel):
    o = philox4x32(seed, purpose, sample, token, channel)
    u1, u2 = to_unit(o[0]), to_unit(o[1])
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


RNG_SAMPLE = 7
