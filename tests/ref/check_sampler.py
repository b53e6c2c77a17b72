#!/usr/bin/python3
"""Re-run tessera's sampler (src/infer/sampler.h: Euler/Heun, CFG, time shift,
conditioning frames, remix start) with the PyTorch reference model in float64
on a case file written by build/tests/test_sampler, and compare the outputs.

Case: attrs config (JSON), steps, cfg, shift, heun, seed, t0; /params/<name>;
/inputs/tokens [B,L] int32, ntokens [B] int32, cond [B,gt] uint8, x_src [B,N,P];
/outputs/out [B,N,P].  Exit 1 if rel err > --tol."""
import argparse
import json
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import TesseraDiT  # noqa: E402
import philox  # noqa: E402


PREDICT_X_T_MIN = 0.05  # x-prediction: v = (x - x0_hat) / max(t, 0.05)


def timesteps(steps, shift, t0):
    u = t0 * (1.0 - np.arange(steps + 1) / steps)
    return shift * u / (1.0 + (shift - 1.0) * u)


def sample(model, a, tokens, ntokens, cond, x_src):
    B, N, P = x_src.shape
    gt = cond.shape[1]
    frame_tokens = N // gt
    s, n, p = np.meshgrid(np.arange(B), np.arange(N), np.arange(P), indexing="ij")
    eps = torch.from_numpy(philox.normal(a["seed"], philox.RNG_SAMPLE, s, n, p))
    x = eps if a["t0"] >= 1.0 else a["t0"] * eps + (1 - a["t0"]) * x_src
    keep = cond.bool()[:, torch.arange(N) // frame_tokens][..., None]  # [B,N,1]

    def clamp(x):
        return torch.where(keep, x_src, x)

    null_tok = torch.zeros_like(tokens)
    null_tok[:, 0] = 1
    null_n = torch.ones_like(ntokens)

    def to_velocity(x, t, out):  # docs/model.md "Prediction target"
        if model.cfg["predict"] == "x":
            return (x - out) / max(float(t), PREDICT_X_T_MIN)
        return out

    def velocity(x, t):
        tt = torch.full((B,), float(t), dtype=torch.float64)
        vc = model(x, tt, tokens, ntokens, cond)
        if a["cfg"] == 1.0:
            return to_velocity(x, t, vc)
        vu = model(x, tt, null_tok, null_n, cond)
        return to_velocity(x, t, vu + a["cfg"] * (vc - vu))

    t = timesteps(a["steps"], a["shift"], a["t0"])
    x = clamp(x)
    with torch.no_grad():
        for i in range(a["steps"]):
            dt = t[i + 1] - t[i]
            v = velocity(x, t[i])
            if a["heun"] and t[i + 1] > 0:
                xe = clamp(x + dt * v)
                x = x + dt * 0.5 * (v + velocity(xe, t[i + 1]))
            else:
                x = x + dt * v
            x = clamp(x)
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    torch.set_num_threads(2)
    with h5py.File(args.case, "r") as f:
        cfg = json.loads(f.attrs["config"])
        a = {k: f.attrs[k].item() for k in ("steps", "cfg", "shift", "heun", "seed", "t0")}
        model = TesseraDiT(cfg).double()
        sd = {k: torch.from_numpy(f["params"][k][()]).double() for k in f["params"]}
        model.load_state_dict(sd, strict=True)
        tokens = torch.from_numpy(f["inputs/tokens"][()])
        ntokens = torch.from_numpy(f["inputs/ntokens"][()])
        cond = torch.from_numpy(f["inputs/cond"][()])
        x_src = torch.from_numpy(f["inputs/x_src"][()]).double()
        out_c = torch.from_numpy(f["outputs/out"][()]).double()
    ref = sample(model, a, tokens, ntokens, cond, x_src)
    err = ((out_c - ref).norm() / ref.norm()).item()
    ok = err <= args.tol
    print("sampler-vs-torch: %s (steps %d cfg %g shift %g %s t0 %g: rel err %.3e, tol %.0e)" % (
        "PASS" if ok else "FAIL", a["steps"], a["cfg"], a["shift"], "heun" if a["heun"] else "euler", a["t0"],
        err, args.tol))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
