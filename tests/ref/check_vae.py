#!/usr/bin/python3
"""Compare a C autoencoder case file (tests/unit/test_vae_vs_torch.c) against
the independent PyTorch reference tests/ref/vae.py, in float64.

    /usr/bin/python3 tests/ref/check_vae.py CASE.h5 [--tol 1e-4]

Case: root attributes `config` (JSON of the docs/vae.md keys) and
`param_names` (the C parameter table's order, one name a line); datasets
/params/<name>, /grads/<name> (float32, the parameter's shape),
/inputs/x [B,T,H,W,C], /inputs/eps [B,Z,T',H',W'], /outputs/out [B,T,H,W,C],
/outputs/moments [B,2Z,T',H',W'], /outputs/loss, /outputs/recon, /outputs/kl [1].
Exit 0 and `vae-vs-torch: PASS` when every C tensor is within tol (relative L2
error against the reference); 1 and `FAIL` otherwise, also when the case is
vacuous (a reference gradient all zero) or the names differ.
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vae import TesseraVAE  # noqa: E402


def rel(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    f = h5py.File(a.case, "r")
    def text(v):
        return v.decode() if isinstance(v, (bytes, np.bytes_)) else str(v)
    cfg = json.loads(text(f.attrs["config"]))
    names_c = [n for n in text(f.attrs["param_names"]).split("\n") if n]
    torch.set_default_dtype(torch.float64)
    m = TesseraVAE(cfg)
    named = m.named_doc_params()
    names_ref = [n for n, _ in named]
    bad = []
    if names_c != names_ref:
        for i, (x, y) in enumerate(zip(names_c, names_ref)):
            if x != y:
                bad.append("parameter %d: C has %s, docs/vae.md order has %s" % (i, x, y))
                break
        if len(names_c) != len(names_ref):
            bad.append("C has %d parameters, the reference %d" % (len(names_c), len(names_ref)))
        print("vae-vs-torch: FAIL (%s)" % "; ".join(bad))
        return 1
    with torch.no_grad():
        for n, p in named:
            v = f["params/" + n][()]
            if tuple(v.shape) != tuple(p.shape):
                print("vae-vs-torch: FAIL (%s has shape %s, expected %s)" % (n, v.shape, tuple(p.shape)))
                return 1
            p.copy_(torch.from_numpy(v.astype(np.float64)))
    x = torch.from_numpy(f["inputs/x"][()].astype(np.float64)).permute(0, 4, 1, 2, 3).contiguous()
    eps = torch.from_numpy(f["inputs/eps"][()].astype(np.float64))
    r = m.loss(x, eps)
    r["loss"].backward()
    checks = [
        ("out", f["outputs/out"][()], r["out"].permute(0, 2, 3, 4, 1).detach().numpy()),
        ("moments", f["outputs/moments"][()], r["moments"].detach().numpy()),
        ("loss", f["outputs/loss"][()], [r["loss"].item()]),
        ("recon", f["outputs/recon"][()], [r["recon"].item()]),
        ("kl", f["outputs/kl"][()], [r["kl"].item()]),
    ]
    for n, p in named:
        g = p.grad.detach().numpy()
        if not np.any(g):
            bad.append("reference gradient of %s is all zero (vacuous case)" % n)
        checks.append(("grad " + n, f["grads/" + n][()], g))
    worst = ("", 0.0)
    for name, got, want in checks:
        e = rel(got, want)
        if e > worst[1]:
            worst = (name, e)
        if not e <= a.tol:
            bad.append("%s: rel err %.3g > %.0e" % (name, e, a.tol))
    print("  vae-vs-torch: %d tensors compared, worst %s (%.2e); loss C %.8f torch %.8f" %
          (len(checks), worst[0], worst[1], float(f["outputs/loss"][0]), r["loss"].item()))
    if bad:
        print("vae-vs-torch: FAIL (%s)" % "; ".join(bad[:6]))
        return 1
    print("vae-vs-torch: PASS (%s)" % a.case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
