#!/usr/bin/env python3
"""Compare two tessera checkpoints tensor by tensor (tests/test_parallel_train*.sh).

usage: ckpt_compare.py A.h5 B.h5 [--abs X] [--rel Y]

Weights (/params, /ema) must agree within X absolute (Adam turns reassociation
noise in gradients that are ~0 into updates of up to lr, so a relative bound is
meaningless for them); moments (/optim/m, /optim/v) within Y times the largest
magnitude of their tensor. Prints the worst difference per group and exits 1
when a bound is broken, when a tensor is missing or shaped differently, or when
the step attributes differ.
"""
import sys

import h5py
import numpy as np


def main():
    args = sys.argv[1:]
    tol_abs, tol_rel = 1e-5, 1e-4
    if "--abs" in args:
        i = args.index("--abs"); tol_abs = float(args[i + 1]); del args[i:i + 2]
    if "--rel" in args:
        i = args.index("--rel"); tol_rel = float(args[i + 1]); del args[i:i + 2]
    a, b = h5py.File(args[0], "r"), h5py.File(args[1], "r")
    bad = []
    if a.attrs["step"] != b.attrs["step"] or a.attrs["adam_step"] != b.attrs["adam_step"]:
        bad.append(f"step {a.attrs['step']}/{a.attrs['adam_step']} vs {b.attrs['step']}/{b.attrs['adam_step']}")
    worst = {}
    for group in ("params", "ema", "optim/m", "optim/v"):
        names = []
        a[group].visit(lambda n: names.append(n) if isinstance(a[group][n], h5py.Dataset) else None)
        names_b = []
        b[group].visit(lambda n: names_b.append(n) if isinstance(b[group][n], h5py.Dataset) else None)
        if sorted(names) != sorted(names_b):
            bad.append(f"/{group}: different tensors")
            continue
        w = (0.0, "")
        for n in names:
            x, y = a[group][n][...], b[group][n][...]
            if x.shape != y.shape:
                bad.append(f"/{group}/{n}: shape {x.shape} vs {y.shape}")
                continue
            d = float(np.abs(x.astype(np.float64) - y).max())
            if group.startswith("optim"):
                scale = float(np.abs(x).max())
                d = d / scale if scale > 0 else d
            if d > w[0]:
                w = (d, n)
        worst[group] = w
        limit = tol_rel if group.startswith("optim") else tol_abs
        if w[0] > limit:
            bad.append(f"/{group}/{w[1]}: difference {w[0]:.3g} > {limit:g}")
    print("  worst: " + ", ".join(f"{g} {v[0]:.2e} ({'rel' if g.startswith('optim') else 'abs'})" for g, v in worst.items()))
    if bad:
        print("  " + "\n  ".join(bad))
        sys.exit(1)


if __name__ == "__main__":
    main()
