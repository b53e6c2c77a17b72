"""Edit a tessera checkpoint the way a fault or an attacker would (tests only).

  ckpt_edit.py FILE flip TENSOR        flip one exponent bit of element 0 (checksum left alone)
  ckpt_edit.py FILE nan TENSOR         write NaN into element 0 and recompute the checksum
  ckpt_edit.py FILE attr NAME VALUE    set an integer file attribute
  ckpt_edit.py FILE sum TENSOR         print the stored and the recomputed checksum
  ckpt_edit.py FILE ohdr TENSOR...     break the object header of each (its version byte)
  ckpt_edit.py FILE config OLD NEW     replace the text OLD by NEW in the stored config (fixed-length)
  ckpt_edit.py FILE str NAME VALUE KIND  set a file attribute to a string, KIND fixed or vlen
  ckpt_edit.py FILE vocab int          /tokenizer/vocab becomes an int32 dataset
  ckpt_edit.py FILE vocab offset I V   set /tokenizer/vocab/offsets[I] to V
  ckpt_edit.py FILE vocab v2           the version 2 form: variable-length strings, version = 2

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

def words(f):  # the vocabulary (version 3: bytes + offsets; earlier: strings)
    g = f["tokenizer/vocab"]
    if isinstance(g, h5py.Dataset):
        return [w.decode() for w in g[...]]
    b, o = g["bytes"][...].tobytes(), g["offsets"][...]
    return [b[o[i]:o[i + 1]].decode() for i in range(len(o) - 1)]

def vocab(f, how):
    if how == "offset":
        o = f["tokenizer/vocab/offsets"]
        o[int(sys.argv[4])] = np.uint64(int(sys.argv[5]))
        return
    w = words(f)
    del f["tokenizer/vocab"]
    if how == "int":
        f["tokenizer/vocab"] = np.arange(len(w), dtype=np.int32)
    elif how == "v2":
        f.create_dataset("tokenizer/vocab", data=w, dtype=h5py.string_dtype())
        f.attrs["version"] = np.int64(2)
    else:
        sys.exit("unknown vocab edit " + how)

path, op = sys.argv[1], sys.argv[2]
if op == "ohdr":
    with h5py.File(path, "r") as f:
        addrs = [h5py.h5o.get_info(f[t].id).addr for t in sys.argv[3:]]
    with open(path, "r+b") as fh:
        for a in addrs:
            fh.seek(a)
            fh.write(b"\xff")
    sys.exit(0)
with np.errstate(over="ignore"), h5py.File(path, "r+") as f:
    if op == "attr":
        f.attrs[sys.argv[3]] = np.int64(int(sys.argv[4]))
        sys.exit(0)
    if op == "config":
        text = f.attrs["config"].decode()
        assert sys.argv[3] in text, text
        f.attrs["config"] = np.bytes_(text.replace(sys.argv[3], sys.argv[4]).encode())
        sys.exit(0)
    if op == "str":
        v = sys.argv[4]
        f.attrs[sys.argv[3]] = np.bytes_(v.encode()) if sys.argv[5] == "fixed" else v
        sys.exit(0)
    if op == "vocab":
        vocab(f, sys.argv[3])
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
