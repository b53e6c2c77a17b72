#!/usr/bin/python3
"""The MiniLM-L6 encoder of tessera (src/text/minilm.c) against PyTorch.

Reads the batch tessera encoded (build/tests/test_minilm --dump: token ids
[B,L], valid counts, last hidden states [B,L,H], mean-pooled [B,H]) and
computes the same BERT forward with torch in float64 from the weights, read
from model.safetensors with json + numpy (no tessera code): word + position +
token-type embeddings, LayerNorm, post-norm layers with a key-padding mask and
exact-erf GELU. Checks, as max |C - ref| / max |ref|:
  hidden states (every row, padding included) and pooled vectors <= 1e-5;
and, as a check that the weights mean what they should, that the pooled
vectors of two paraphrases are closer (cosine) than either is to an unrelated
sentence.

usage: minilm_ref.py MODEL_DIR DUMP [--f32]
  --f32: also report PyTorch's own float32 error against float64 (measured
  1.5e-6 for this batch; left out by default: Debian's torch uses the
  reference BLAS, so each forward costs seconds)
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

TOL = 1e-5
DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=DTYPES[t["dtype"]]).reshape(t["shape"]).astype(np.float64))
    return out


def bert(W, cfg, ids, valid):
    B, L = ids.shape
    H, NH = cfg["hidden_size"], cfg["num_attention_heads"]
    D, eps = H // NH, cfg["layer_norm_eps"]
    mask = torch.arange(L)[None, :] < valid[:, None]  # [B,L] valid keys

    def ln(x, p):
        return F.layer_norm(x, (H,), W[p + ".weight"], W[p + ".bias"], eps)

    def lin(x, p):
        return F.linear(x, W[p + ".weight"], W[p + ".bias"])

    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:L][None] + \
        W["embeddings.token_type_embeddings.weight"][0]
    x = ln(x, "embeddings.LayerNorm")
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        q, k, v = (lin(x, p + "attention.self." + n).view(B, L, NH, D).transpose(1, 2) for n in ("query", "key", "value"))
        s = q @ k.transpose(-1, -2) / D ** 0.5
        s = s.masked_fill(~mask[:, None, None, :], float("-inf"))
        ctx = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, L, H)
        x = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        m = F.gelu(lin(x, p + "intermediate.dense"))  # exact erf form (approximate='none')
        x = ln(lin(m, p + "output.dense") + x, p + "output.LayerNorm")
    pooled = (x * mask[..., None]).sum(1) / valid[:, None]
    return x, pooled


def read_dump(path):
    raw = open(path, "rb").read()
    B, L, H = struct.unpack("<3i", raw[:12])
    at = 12

    def take(n, dt):
        nonlocal at
        a = np.frombuffer(raw, dtype=dt, count=n, offset=at)
        at += a.nbytes
        return a

    ids = take(B * L, np.int32).reshape(B, L)
    valid = take(B, np.int32)
    hidden = take(B * L * H, np.float32).reshape(B, L, H)
    pooled = take(B * H, np.float32).reshape(B, H)
    assert at == len(raw), "dump: %d bytes left over" % (len(raw) - at)
    return ids, valid, hidden, pooled


def rel(a, ref):
    return float((a - ref).abs().max() / ref.abs().max())


def main():
    model, dump = sys.argv[1:3]
    cfg = json.load(open(model + "/config.json"))
    W = read_safetensors(model + "/model.safetensors")
    ids, valid, hidden, pooled = read_dump(dump)
    ids_t, valid_t = torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(valid.astype(np.int64))
    ref_h, ref_p = bert(W, cfg, ids_t, valid_t)
    c_h, c_p = torch.from_numpy(hidden.astype(np.float64)), torch.from_numpy(pooled.astype(np.float64))
    eh, ep = rel(c_h, ref_h), rel(c_p, ref_p)
    f32 = ""
    if "--f32" in sys.argv:
        f32_h, _ = bert({k: v.float() for k, v in W.items()}, cfg, ids_t, valid_t)
        f32 = "; PyTorch float32 itself: %.2e" % rel(f32_h.double(), ref_h)
    valid_rows = torch.arange(ids.shape[1])[None, :] < valid_t[:, None]
    ev = rel(c_h[valid_rows], ref_h[valid_rows])
    print("batch %d x %d tokens (valid %s), width %d" % (ids.shape[0], ids.shape[1], list(valid), hidden.shape[2]))
    print("hidden states: max|C - ref| / max|ref| = %.2e (valid rows %.2e%s), tolerance %.0e" % (eh, ev, f32, TOL))
    print("pooled:        max|C - ref| / max|ref| = %.2e" % ep)
    ok = eh <= TOL and ep <= TOL
    cos = F.normalize(c_p, dim=1) @ F.normalize(c_p, dim=1).T
    # rows 0 and 1 are paraphrases, row 5 is unrelated (tests/unit/test_minilm.c)
    sem = cos[0, 1] > cos[0, 5] + 0.2 and cos[0, 1] > cos[1, 5] + 0.2
    print("cosine: paraphrases %.3f, unrelated %.3f and %.3f" % (cos[0, 1], cos[0, 5], cos[1, 5]))
    if not ok:
        print("FAIL: C encoder differs from the PyTorch reference by more than %.0e" % TOL)
    if not sem:
        print("FAIL: the paraphrases are not closer than the unrelated sentence")
    sys.exit(0 if ok and sem else 1)


if __name__ == "__main__":
    main()
