#!/usr/bin/python3
"""PyTorch peer of `tessera bench generate`: seconds to sample one clip of the
model window with the reference model (tests/ref/model.py), N Euler steps and
classifier-free guidance (conditional and unconditional passes batched as 2).
Prints one JSON line."""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_step import load_config  # noqa: E402


def prompt_inputs(model):
    """Tokens, ntokens and cond of a CFG pair: row 0 the prompt, row 1 the empty prompt."""
    import torch
    L = model.cfg["text_length"]
    tokens = torch.zeros(2, L, dtype=torch.int32)
    tokens[0, :4] = torch.tensor([1, 4, 7, 10])
    tokens[1, 0] = 1
    ntokens = torch.tensor([4, 1], dtype=torch.int32)
    cond = torch.zeros(2, model.gt, dtype=torch.uint8)
    return tokens, ntokens, cond


def sample(model, steps, inputs, N, P):
    """One clip: `steps` Euler steps from t=1 to 0, guidance 4, both passes in one batch of 2."""
    import torch
    tokens, ntokens, cond = inputs
    x = torch.randn(1, N, P)
    ts = torch.linspace(1.0, 0.0, steps + 1)
    with torch.no_grad():
        for i in range(steps):
            out = model(x.expand(2, N, P), ts[i].repeat(2), tokens, ntokens, cond)
            v = out[1:] + 4.0 * (out[:1] - out[1:])
            x = x + (ts[i + 1] - ts[i]) * v
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-yaml", required=True)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    import resource

    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
    from model import TesseraDiT

    torch.set_num_threads(a.threads)
    cfg = load_config(a.model_yaml)
    model = TesseraDiT(cfg).randomize_(0.02, seed=0).eval()
    inputs = prompt_inputs(model)
    sample(model, 1, inputs, model.N, model.P)
    t0 = time.perf_counter()
    sample(model, a.steps, inputs, model.N, model.P)
    secs = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch", "frames": cfg["frames"], "steps": a.steps, "cfg": 4,
                      "seconds_per_clip": round(secs, 3),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)}))


if __name__ == "__main__":
    main()
