#!/usr/bin/python3
"""Compare a C model case file (forward, loss, gradients, AdamW losses) against
the independent PyTorch reference tests/ref/model.py. The case format is in
tests/ref/README.md.

    /usr/bin/python3 tests/ref/check_model.py CASE.h5 [--tol 1e-4] [--adam-tol 1e-4]

Exit 0 and `model-vs-torch: PASS (...)` when every C tensor is within tol
(relative L2 error vs the float64 reference); exit 1 and `model-vs-torch: FAIL
(...)` otherwise, also when the case is vacuous (a reference gradient is all
zero, the output is all zero, the AdamW losses do not move) or malformed.
"""
import argparse
import json
import math
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import TesseraDiT, doc_param_names, normalize_config, param_groups  # noqa: E402


class CaseError(Exception):
    pass


def attr(f, key, kind):
    if key not in f.attrs:
        raise CaseError("root attribute '%s' missing" % key)
    v = f.attrs[key]
    if isinstance(v, np.ndarray):
        if v.size != 1:
            raise CaseError("attribute '%s' must be a scalar, got shape %s" % (key, v.shape))
        v = v.reshape(-1)[0]
    if isinstance(v, (bytes, np.bytes_)):
        v = v.decode()
    if kind is str:
        return str(v).rstrip("\x00")
    return kind(v)


def dataset(f, path, dtype, shape=None):
    if path not in f:
        raise CaseError("dataset '%s' missing" % path)
    d = f[path]
    if not isinstance(d, h5py.Dataset):
        raise CaseError("'%s' is not a dataset" % path)
    a = d[()]
    a = np.asarray(a)
    if a.dtype != np.dtype(dtype):
        raise CaseError("dataset '%s' has dtype %s, expected %s" % (path, a.dtype, np.dtype(dtype)))
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise CaseError("dataset '%s' has shape %s, expected %s" % (path, tuple(a.shape), tuple(shape)))
    return a


def rel_err(a, ref):
    a = a.double()
    ref = ref.double()
    n = ref.norm().item()
    d = (a - ref).norm().item()
    if n == 0.0:
        return 0.0 if d == 0.0 else math.inf
    return d / n


def forward_backward(model, inp):
    model.zero_grad(set_to_none=False)
    out = model(inp["x"], inp["t"], inp["tokens"], inp["ntokens"], inp["cond"])
    loss = model.loss(out, inp["target"], inp["cond"])
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    return out.detach(), loss.detach(), grads


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case")
    ap.add_argument("--tol", type=float, default=1e-4, help="rel L2 err vs float64 for out/loss/grads")
    ap.add_argument("--adam-tol", type=float, default=1e-4, help="rel err of each AdamW-step loss")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quiet", action="store_true", help="print only failing rows and the summary")
    ap.add_argument("--allow-partial", action="store_true",
                    help="accept a batch without conditioning frames or without text padding")
    a = ap.parse_args()
    torch.set_num_threads(max(1, a.threads))
    try:
        return check(a)
    except CaseError as e:
        print("case error: %s" % e)
        print("model-vs-torch: FAIL (malformed case file %s)" % a.case)
        return 1


def check(a):
    problems = []
    with h5py.File(a.case, "r") as f:
        try:
            cfg = normalize_config(json.loads(attr(f, "config", str)))
        except (ValueError, AssertionError, KeyError) as e:
            raise CaseError("bad config attribute: %s" % e)
        hp = {k: attr(f, k, float) for k in ("lr", "beta1", "beta2", "eps", "weight_decay")}
        adam_steps = attr(f, "adam_steps", int)
        m64 = TesseraDiT(cfg).double()
        m32 = TesseraDiT(cfg)
        names = doc_param_names(cfg)
        sd = dict(m64.named_parameters())
        assert sorted(names) == sorted(sd)
        if "params" not in f or "grads" not in f:
            raise CaseError("groups /params and /grads are required")
        fparams = set(f["params"].keys())
        fgrads = set(f["grads"].keys())
        missing = [n for n in names if n not in fparams]
        extra = sorted(fparams - set(names))
        gmissing = [n for n in names if n not in fgrads]
        gextra = sorted(fgrads - set(names))
        for lst, what in ((missing, "missing from /params"), (extra, "in /params but not in the model"),
                          (gmissing, "missing from /grads"), (gextra, "in /grads but not in the model")):
            if lst:
                print("names %s (%d): %s" % (what, len(lst), ", ".join(lst)))
        if missing or extra or gmissing or gextra:
            raise CaseError("parameter names differ (see above)")
        params, cgrads = {}, {}
        for n in names:
            shape = tuple(sd[n].shape)
            params[n] = torch.from_numpy(dataset(f, "params/" + n, np.float32, shape))
            cgrads[n] = torch.from_numpy(dataset(f, "grads/" + n, np.float32, shape))
        x = dataset(f, "inputs/x", np.float32)
        if x.ndim != 3 or x.shape[1:] != (m64.N, m64.P):
            raise CaseError("inputs/x shape %s, expected [B,%d,%d]" % (x.shape, m64.N, m64.P))
        B = x.shape[0]
        L = cfg["text_length"]
        inp = {
            "x": torch.from_numpy(x),
            "t": torch.from_numpy(dataset(f, "inputs/t", np.float32, (B,))),
            "tokens": torch.from_numpy(dataset(f, "inputs/tokens", np.int32, (B, L))),
            "ntokens": torch.from_numpy(dataset(f, "inputs/ntokens", np.int32, (B,))),
            "cond": torch.from_numpy(dataset(f, "inputs/cond", np.uint8, (B, m64.gt))),
            "target": torch.from_numpy(dataset(f, "inputs/target", np.float32, (B, m64.N, m64.P))),
        }
        c_out = torch.from_numpy(dataset(f, "outputs/out", np.float32, (B, m64.N, m64.P)))
        lo = dataset(f, "outputs/loss", np.float32)
        if lo.size != 1:
            raise CaseError("outputs/loss must hold one value, shape %s" % (lo.shape,))
        c_loss = torch.tensor([float(lo.reshape(-1)[0])], dtype=torch.float32)
        c_adam = None
        if adam_steps > 0:
            c_adam = torch.from_numpy(dataset(f, "adam/losses", np.float32, (adam_steps,)))

    # input sanity (the C side must produce a valid batch)
    nt, tok = inp["ntokens"], inp["tokens"]
    if (nt < 1).any() or (nt > L).any():
        raise CaseError("ntokens must be in [1, L=%d], got %s" % (L, nt.tolist()))
    if (tok < 0).any() or (tok >= cfg["vocab"]).any():
        raise CaseError("tokens must be in [0, vocab=%d)" % cfg["vocab"])
    if ((inp["cond"] != 0) & (inp["cond"] != 1)).any():
        raise CaseError("cond must be 0/1")
    if bool(inp["cond"].all()):
        problems.append("every frame is conditioned: the loss is empty")
    if not a.allow_partial:
        if not bool(inp["cond"].any()):
            problems.append("no conditioning frame (cond all 0): the t=0 adaLN variant and the loss mask "
                            "are not exercised (--allow-partial to accept)")
        if bool((nt == L).all()):
            problems.append("every ntokens == L: the text padding mask is not exercised (--allow-partial to accept)")

    with torch.no_grad():
        for n, p in m64.named_parameters():
            p.copy_(params[n].double())
        for n, p in m32.named_parameters():
            p.copy_(params[n])
    print("case %s: B=%d N=%d P=%d D=%d depth=%d heads=%d rope=%s, %d tensors, adam_steps=%d"
          % (a.case, B, m64.N, m64.P, cfg["dim"], cfg["depth"], cfg["heads"], cfg["rope"], len(names),
             adam_steps))

    out64, loss64, g64 = forward_backward(m64, inp)
    out32, loss32, g32 = forward_backward(m32, inp)

    rows = [("out", c_out, out32, out64), ("loss", c_loss, loss32.reshape(1), loss64.reshape(1))]
    rows += [("grad " + n, cgrads[n], g32[n], g64[n]) for n in names]
    print("%-44s %10s %11s %11s %11s  %s" % ("tensor", "numel", "|ref|", "C rel err", "f32 rel err", ""))
    worst, worst_name, nfail = 0.0, "", 0
    for name, c, t32, t64 in rows:
        status = ""
        if not torch.isfinite(c).all():
            e = math.inf
            status = "FAIL non-finite"
        else:
            e = rel_err(c, t64)
            if t64.norm().item() == 0.0:
                status = "FAIL reference all zero (vacuous: case does not exercise it)"
            elif e > a.tol:
                status = "FAIL > tol %.0e" % a.tol
        e32 = rel_err(t32, t64)
        if status:
            nfail += 1
        if e > worst:
            worst, worst_name = e, name
        if status or not a.quiet:
            print("%-44s %10d %11.3e %11.3e %11.3e  %s" % (name, c.numel(), t64.norm().item(), e, e32, status))

    # AdamW steps on the fixed batch, float64
    if adam_steps > 0:
        m = TesseraDiT(cfg).double()
        with torch.no_grad():
            for n, p in m.named_parameters():
                p.copy_(params[n].double())
        opt = torch.optim.AdamW(param_groups(m, hp["weight_decay"]), lr=hp["lr"],
                                betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])
        ref = []
        for _ in range(adam_steps):
            opt.zero_grad(set_to_none=False)
            out = m(inp["x"], inp["t"], inp["tokens"], inp["ntokens"], inp["cond"])
            loss = m.loss(out, inp["target"], inp["cond"])
            ref.append(loss.item())
            loss.backward()
            opt.step()
        print("AdamW lr=%g betas=(%g,%g) eps=%g wd=%g" % (hp["lr"], hp["beta1"], hp["beta2"], hp["eps"],
                                                         hp["weight_decay"]))
        print("%-6s %15s %15s %11s" % ("step", "C loss", "torch f64", "rel err"))
        aworst, abad = 0.0, False
        for i in range(adam_steps):
            c = float(c_adam[i])
            e = abs(c - ref[i]) / abs(ref[i]) if ref[i] != 0 else (0.0 if c == 0 else math.inf)
            if not math.isfinite(c):
                e = math.inf
            bad = e > a.adam_tol
            aworst = max(aworst, e)
            abad = abad or bad
            print("%-6d %15.8g %15.8g %11.3e  %s" % (i, c, ref[i], e, "FAIL > tol %.0e" % a.adam_tol if bad else ""))
        nfail += abad
        if adam_steps > 1 and abs(ref[-1] - ref[0]) <= 1e-6 * abs(ref[0]):
            problems.append("AdamW losses do not move (lr too small?): the check is vacuous")
        if aworst > worst:
            worst, worst_name = aworst, "adam losses"
    else:
        print("AdamW: adam_steps = 0, not checked")

    ntensors = len(rows) + (1 if adam_steps > 0 else 0)
    for p in problems:
        print("problem: %s" % p)
    if nfail or problems:
        print("model-vs-torch: FAIL (%d of %d checks failed%s; max rel err %.3e at %s)"
              % (nfail, ntensors, ", %d problem(s)" % len(problems) if problems else "", worst, worst_name))
        return 1
    print("largest rel err: %s" % worst_name)
    print("model-vs-torch: PASS (max rel err %.3e over %d tensors)" % (worst, ntensors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
