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
from torch_step import load_yaml  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-yaml", required=True)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import resource

    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
    from model import TesseraDiT, normalize_config

    torch.set_num_threads(a.threads)
    doc = load_yaml(a.model_yaml)
    cfg = normalize_config(doc["model"])
    model = TesseraDiT(cfg).randomize_(0.02, seed=0).eval()
    N, P, L, gt = model.N, model.P, cfg["text_length"], model.gt
    tokens = torch.zeros(2, L, dtype=torch.int32)
    tokens[0, :4] = torch.tensor([1, 4, 7, 10])
    tokens[1, 0] = 1
    ntokens = torch.tensor([4, 1], dtype=torch.int32)
    cond = torch.zeros(2, gt, dtype=torch.uint8)

    def sample(steps):
        x = torch.randn(1, N, P)
        ts = torch.linspace(1.0, 0.0, steps + 1)
        with torch.no_grad():
            for i in range(steps):
                out = model(x.expand(2, N, P), ts[i].repeat(2), tokens, ntokens, cond)
                v = out[1:] + 4.0 * (out[:1] - out[1:])
                x = x + (ts[i + 1] - ts[i]) * v
        return x

    sample(1)
    t0 = time.perf_counter()
    sample(a.steps)
    secs = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch", "frames": cfg["frames"], "steps": a.steps, "cfg": 4,
                      "seconds_per_clip": round(secs, 3),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)}))


if __name__ == "__main__":
    main()
