#!/usr/bin/python3
"""Time the PyTorch reference (tests/ref/model.py) on CPU: the peer tessera's
C trainer is compared against.

    /usr/bin/python3 bench/torch_step.py --model-yaml configs/model/tiny.yaml --batch 4 --threads 2
    /usr/bin/python3 bench/torch_step.py --config-json '{"frames":16,...}' --batch 4 --threads 2

train step   = zero_grad + forward + loss + backward + AdamW step (float32)
denoise step = one forward under torch.inference_mode() at batch B
               (what a sampler does per step without CFG; CFG = one forward at 2B)
Each is warmed up, then timed --iters times (>= 5); the median is reported.
Prints ONE JSON line on stdout:
  {"impl":"pytorch","train_step_ms":..,"denoise_step_ms":..,"tokens_per_s":..,"peak_rss_mb":..}
tokens_per_s = B*N / train step seconds; peak_rss_mb = ru_maxrss of this process.
Details (config, torch build, per-iteration times) go to stderr.
"""
import argparse
import json
import os
import sys


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--config-json", help="model config as JSON (flat keys or YAML-style layout)")
    src.add_argument("--model-yaml", help="YAML file with a top-level `model:` mapping")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=7, help="timed iterations (>= 5)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    a.iters = max(5, a.iters)
    return a


def _scalar(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    if s.startswith("{") and s.endswith("}"):  # flat flow mapping {a: 1, b: [2, 3]}
        out, depth, cur, parts = {}, 0, "", []
        for ch in s[1:-1]:
            depth += ch in "[{"
            depth -= ch in "]}"
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        for part in parts:
            if part.strip():
                k, _, v = part.partition(":")
                out[k.strip()] = _scalar(v)
        return out
    if s.startswith("[") and s.endswith("]"):
        inner = s[1:-1].strip()
        return [_scalar(v) for v in inner.split(",")] if inner else []
    if s in ("true", "True"):
        return True
    if s in ("false", "False"):
        return False
    if s in ("null", "~", ""):
        return None
    for conv in (int, float):
        try:
            return conv(s)
        except ValueError:
            pass
    return s


def mini_yaml(text):
    """Minimal YAML subset: nested block mappings by indentation, `key: scalar`,
    inline lists [a, b], flat flow mappings {a: 1}, `#` comments. Used only when PyYAML is absent."""
    root = {}
    stack = [(-1, root)]
    for raw in text.splitlines():
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        key, sep, val = line.strip().partition(":")
        if not sep:
            raise ValueError("unsupported YAML line: %r" % raw)
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if val.strip() == "":
            parent[key.strip()] = {}
            stack.append((indent, parent[key.strip()]))
        else:
            parent[key.strip()] = _scalar(val)
    return root


def load_yaml(path):
    text = open(path).read()
    try:
        import yaml
        return yaml.safe_load(text)
    except ImportError:
        return mini_yaml(text)


def load_config(model_yaml=None, config_json=None):
    """The normalized model config from a YAML file (top-level `model:`
    mapping, or `model: other.yaml`) or a JSON string."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
    from model import normalize_config
    if not model_yaml:
        return normalize_config(json.loads(config_json))
    doc = load_yaml(model_yaml)
    m = doc["model"] if isinstance(doc, dict) and "model" in doc else doc
    if isinstance(m, str):  # model: path/to/model.yaml (relative to the file)
        m = load_yaml(os.path.join(os.path.dirname(model_yaml), m))["model"]
    return normalize_config(m)


def make_batch(model, B, seed):
    """Inputs of one training step at batch B: x, t, tokens, ntokens, cond, target."""
    import torch
    N, P, L = model.N, model.P, model.cfg["text_length"]
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(B, N, P, generator=g)
    t = torch.rand(B, generator=g)
    target = torch.randn(B, N, P, generator=g)
    ntokens = torch.randint(1, L + 1, (B,), generator=g, dtype=torch.int32)
    tokens = torch.randint(1, model.cfg["vocab"], (B, L), generator=g, dtype=torch.int32)
    tokens[torch.arange(L)[None, :] >= ntokens[:, None].long()] = 0
    cond = torch.zeros(B, model.gt, dtype=torch.uint8)
    cond[0, 0] = 1  # one image-to-video sample: exercises the per-token adaLN selection
    return x, t, tokens, ntokens, cond, target


def time_median(fn, warmup, iters):
    """(median seconds, all seconds) of `iters` calls of fn after `warmup` calls."""
    import statistics
    import time
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts


def main():
    a = parse_args()
    # OpenBLAS (Debian's torch BLAS) and OpenMP read these at load time.
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    import resource

    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
    from model import TesseraDiT, param_groups

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    cfg = load_config(a.model_yaml, a.config_json)
    torch.manual_seed(a.seed)
    model = TesseraDiT(cfg)
    model.randomize_(0.05, seed=a.seed)  # non-degenerate values; timing does not depend on them
    B, N, P = a.batch, model.N, model.P
    x, t, tokens, ntokens, cond, target = make_batch(model, B, a.seed)
    opt = torch.optim.AdamW(param_groups(model, 0.0), lr=1e-4, betas=(0.9, 0.95), eps=1e-8,
                            foreach=True)

    def train_step():
        opt.zero_grad(set_to_none=True)
        out = model(x, t, tokens, ntokens, cond)
        loss = model.loss(out, target, cond)
        loss.backward()
        opt.step()
        return loss

    def denoise_step():
        with torch.inference_mode():
            return model(x, t, tokens, ntokens, cond)

    train_s, train_all = time_median(train_step, a.warmup, a.iters)
    den_s, den_all = time_median(denoise_step, a.warmup, a.iters)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    nparam = sum(p.numel() for p in model.parameters())
    print("torch %s, threads %d, config %s, B=%d N=%d P=%d, %.2fM params" %
          (torch.__version__, a.threads, json.dumps(cfg), B, N, P, nparam / 1e6), file=sys.stderr)
    print("train ms (median %.1f, min %.1f): %s" % (train_s * 1e3, min(train_all) * 1e3, " ".join("%.1f" % (v * 1e3) for v in train_all)), file=sys.stderr)
    print("denoise ms (median %.1f, min %.1f): %s" % (den_s * 1e3, min(den_all) * 1e3,
          " ".join("%.1f" % (v * 1e3) for v in den_all)), file=sys.stderr)
    print(json.dumps({"impl": "pytorch",
                      "train_step_ms": round(train_s * 1e3, 3),
                      "denoise_step_ms": round(den_s * 1e3, 3),
                      "tokens_per_s": round(B * N / train_s, 1),
                      "peak_rss_mb": round(rss_mb, 1)}))


if __name__ == "__main__":
    main()
