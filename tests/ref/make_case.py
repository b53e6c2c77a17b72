#!/usr/bin/python3
"""Write a case file in the format check_model.py reads, produced by the
float32 PyTorch reference itself (stand-in for the C side). Used to test the
checker, and as a known-good example of the layout for the C writer.

    /usr/bin/python3 tests/ref/make_case.py OUT.h5 [--config JSON] [--batch 2]
        [--adam-steps 3] [--perturb NAME] [--perturb-rel 1e-3] [--zero-init]

--perturb NAME adds noise of relative size --perturb-rel to one written tensor
(`out`, `loss`, `adam`, or a parameter name = its gradient): check_model.py
must then FAIL. --zero-init keeps the docs/model.md init (adaLN and final zero),
which makes most gradients zero: check_model.py must FAIL as vacuous.
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import TesseraDiT, doc_param_names, param_groups  # noqa: E402

DEFAULT = dict(frames=4, height=8, width=8, channels=3, patch=[2, 4, 4], dim=32, depth=2, heads=2,
               mlp_ratio=2, text_length=6, text_layers=1, vocab=50)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--config", default=json.dumps(DEFAULT))
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=float, default=0.3, help="U(-scale,scale) parameters")
    ap.add_argument("--adam-steps", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--perturb", default=None)
    ap.add_argument("--perturb-rel", type=float, default=1e-3)
    ap.add_argument("--zero-init", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    m = TesseraDiT(json.loads(a.config))
    if not a.zero_init:
        m.randomize_(a.scale, seed=a.seed)
    cfg = m.cfg
    B, L = a.batch, cfg["text_length"]
    g = torch.Generator().manual_seed(a.seed + 1)
    x0 = torch.randn(B, m.N, m.P, generator=g)
    eps = torch.randn(B, m.N, m.P, generator=g)
    t = torch.rand(B, generator=g)
    cond = torch.zeros(B, m.gt, dtype=torch.uint8)
    cond[0, 0] = 1
    sel = m.token_cond(cond)[:, :, None]
    xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
    x = torch.where(sel, x0, xt)
    target = eps - x0
    ntokens = torch.tensor([max(1, L - 1 - b) for b in range(B)], dtype=torch.int32)
    tokens = torch.zeros(B, L, dtype=torch.int32)
    for b in range(B):
        tokens[b, : ntokens[b]] = torch.randint(1, cfg["vocab"], (int(ntokens[b]),), generator=g)

    params = {n: p.detach().clone() for n, p in m.named_parameters()}
    out = m(x, t, tokens, ntokens, cond)
    loss = m.loss(out, target, cond)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in m.named_parameters()}
    opt = torch.optim.AdamW(param_groups(m, 0.01), lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    losses = []
    for _ in range(a.adam_steps):
        opt.zero_grad()
        lo = m.loss(m(x, t, tokens, ntokens, cond), target, cond)
        losses.append(lo.item())
        lo.backward()
        opt.step()

    out = out.detach()
    loss_arr = np.array([loss.item()], dtype=np.float32)
    adam = np.array(losses, dtype=np.float32)
    if a.perturb:
        gp = torch.Generator().manual_seed(99)

        def perturb(v):
            noise = torch.randn(v.shape, generator=gp)
            return v + a.perturb_rel * v.norm() / noise.norm() * noise
        if a.perturb == "out":
            out = perturb(out)
        elif a.perturb == "loss":
            loss_arr *= 1 + a.perturb_rel
        elif a.perturb == "adam":
            adam[-1] *= 1 + a.perturb_rel
        elif a.perturb in grads:
            grads[a.perturb] = perturb(grads[a.perturb])
        else:
            sys.exit("unknown --perturb %s" % a.perturb)

    with h5py.File(a.out, "w") as f:
        f.attrs["config"] = json.dumps(cfg)
        f.attrs["lr"] = np.float32(a.lr)
        f.attrs["beta1"] = np.float32(0.9)
        f.attrs["beta2"] = np.float32(0.95)
        f.attrs["eps"] = np.float32(1e-8)
        f.attrs["weight_decay"] = np.float32(0.01)
        f.attrs["adam_steps"] = np.int32(a.adam_steps)
        for n in doc_param_names(cfg):
            f.create_dataset("params/" + n, data=params[n].numpy().astype(np.float32))
            f.create_dataset("grads/" + n, data=grads[n].numpy().astype(np.float32))
        f.create_dataset("inputs/x", data=x.numpy())
        f.create_dataset("inputs/t", data=t.numpy())
        f.create_dataset("inputs/tokens", data=tokens.numpy())
        f.create_dataset("inputs/ntokens", data=ntokens.numpy())
        f.create_dataset("inputs/cond", data=cond.numpy())
        f.create_dataset("inputs/target", data=target.numpy())
        f.create_dataset("outputs/out", data=out.numpy())
        f.create_dataset("outputs/loss", data=loss_arr)
        f.create_dataset("adam/losses", data=adam)
    print("wrote %s (B=%d N=%d P=%d, %d params)" % (a.out, B, m.N, m.P, len(params)))


if __name__ == "__main__":
    main()
