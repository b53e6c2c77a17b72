"""Edit a tessera checkpoint the way a fault or an attacker would (tests only).

  ckpt_edit.py FILE flip TENSOR        flip one exponent bit of element 0 (checksum left alone)
  ckpt_edit.py FILE nan TENSOR         write NaN into element 0 and recompute the checksum
  ckpt_edit.py FILE attr NAME VALUE    set an integer file attribute
  ckpt_edit.py FILE sum TENSOR         print the stored and the recomputed checksum

The checksum is that of src/model/ckpt_sum.h (docs/checkpoint.md), written
here from the documentation.
"""
import sys
import numpy as np, h5py

M = (1 << 64) - 1

def checksum(x):
    bits = np.ascontiguousarray(x, dtype=np.float32).reshape(-1).view(np.uint32).astype(np.uint64)
    idx = np.arange(bits.size, dtype=np.uint64)
    z = ((idx << np.uint64(32)) | bits) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return [int((z & np.uint64(0xFFFFFFFF)).sum(dtype=np.uint64)), int((z >> np.uint64(32)).sum(dtype=np.uint64))]

path, op = sys.argv[1], sys.argv[2]
with np.errstate(over="ignore"), h5py.File(path, "r+") as f:
    if op == "attr":
        f.attrs[sys.argv[3]] = np.int64(int(sys.argv[4]))
        sys.exit(0)
    ds = f[sys.argv[3]]
    x = ds[...]
    if op == "sum":
        print(list(ds.attrs["checksum"]), checksum(x))
    elif op == "flip":
        flat = x.reshape(-1).view(np.uint32)
        flat[0] ^= np.uint32(1 << 29)
        ds[...] = flat.view(np.float32).reshape(x.shape)
    elif op == "nan":
        x.reshape(-1)[0] = np.nan
        ds[...] = x
        ds.attrs["checksum"] = np.array(checksum(x), dtype=np.int64)
    else:
        sys.exit("unknown op " + op)
