#!/usr/bin/env python3
"""The PyTorch 2 peer of `tessera bench`: the reference model (tests/ref/model.py)
run as a skilled user would run it on a CPU under PyTorch 2: torch.compile
(default mode, inductor), F.scaled_dot_product_attention, RoPE in real
arithmetic (inductor fuses it; complex tensors it does not), fused AdamW,
float32 (or, with --autocast bf16, every matmul under torch.autocast on bf16,
as a user of a CPU with AVX512-BF16 would; master weights stay float32). Run
with the interpreter of the bench virtual environment (`make bench-peer`,
.bench-venv/bin/python):

    step      --model-yaml F [--batch 4] [--threads T]   train step and denoise step
    generate  --model-yaml F [--steps 30] [--threads T]  one clip, Euler, CFG 4 (batch 2)
    check     --model-yaml F | --config-json J [--batch 2]
              the compiled peer against the eager reference on the same weights and
              batch (output, loss, every gradient, the loss after one AdamW step),
              plus the parameter count and the FLOPs of a training step; exit 1 when
              a relative error is above --tol. --break-peer mask|rope makes a peer
              that must fail (checks the checker).

step/generate print ONE JSON line on stdout (details on stderr). Compile time is
reported apart (compile_*_s: the first call, which traces and compiles); the
timed calls come after --warmup more calls. peak_rss_mb = ru_maxrss of the
process (compilation included, as a user pays it); steady_rss_mb = the RSS
high-water mark of the timed calls alone (VmHWM reset after compiling).
"""
import argparse
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "ref"))
from torch_generate import prompt_inputs, sample  # noqa: E402
from torch_step import load_config, make_batch, time_median  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["step", "generate", "check"])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-yaml")
    src.add_argument("--config-json")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--break-peer", choices=["mask", "rope"])
    ap.add_argument("--autocast", choices=["bf16"], help="step/generate under torch.autocast (CPU, bfloat16)")
    a = ap.parse_args()
    a.iters = max(5, a.iters)
    return a


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_hwm():
    """Reset the RSS high-water mark (VmHWM) of this process (Linux clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def hwm_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def skilled(ref, torch, cfg, broken=None):
    """Switch the reference module to the PyTorch 2 idioms: SDPA for every attention
    (boolean key mask: True = attend) and RoPE as products with float32 cos/sin
    tables (the complex64 rotation the reference builds is then unused, and
    inductor drops it). Same math."""
    F = torch.nn.functional
    ang = ref.rope_angles(*ref.grid(cfg), cfg["rope"])
    cos, sin = torch.cos(ang).float(), torch.sin(ang).float()

    def attention(q, k, v, key_mask=None):
        m = None if key_mask is None or broken == "mask" else key_mask[:, None, None, :]
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m)

    def apply_rope_complex(x, rot):
        return x if broken == "rope" else ref.apply_rope(x, cos, sin)

    ref.attention = attention
    ref.apply_rope_complex = apply_rope_complex


def adamw(torch, groups):
    """Fused AdamW where this torch has it on the CPU, else the foreach one."""
    kw = dict(lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    try:
        return torch.optim.AdamW(groups, fused=True, **kw), "fused"
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, foreach=True, **kw), "foreach"


def compiled(torch, model, autocast=None):
    """(loss function, forward): the two graphs a user compiles, training (forward,
    loss and, through AOTAutograd, backward) and sampling; with autocast "bf16"
    both run under torch.autocast("cpu", bfloat16) and return float32."""
    if not autocast:
        def loss_fn(x, t, tokens, ntokens, cond, target):
            return model.loss(model(x, t, tokens, ntokens, cond), target, cond)
        return torch.compile(loss_fn), torch.compile(model)

    def loss_fn(x, t, tokens, ntokens, cond, target):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x, t, tokens, ntokens, cond)
        return model.loss(out.float(), target, cond)

    def forward(*args):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(*args).float()
    return torch.compile(loss_fn), torch.compile(forward)


def impl(a):
    return "pytorch2-compile" + ("-" + a.autocast if a.autocast else "")


def bench_step(a, torch, ref, cfg):
    model = ref.TesseraDiT(cfg).randomize_(0.05, seed=a.seed)
    x, t, tokens, ntokens, cond, target = make_batch(model, a.batch, a.seed)
    opt, kind = adamw(torch, ref.param_groups(model, 0.0))
    closs, cmodel = compiled(torch, model, a.autocast)

    def train_step():
        opt.zero_grad(set_to_none=True)
        closs(x, t, tokens, ntokens, cond, target).backward()
        opt.step()

    def denoise_step():
        with torch.inference_mode():
            return cmodel(x, t, tokens, ntokens, cond)

    t0 = time.perf_counter()
    train_step()
    t1 = time.perf_counter()
    denoise_step()
    t2 = time.perf_counter()
    reset = reset_hwm()
    train_s, train_all = time_median(train_step, a.warmup, a.iters)
    den_s, den_all = time_median(denoise_step, a.warmup, a.iters)
    print("torch %s, %d threads, AdamW %s, B=%d N=%d P=%d" % (torch.__version__, a.threads, kind, a.batch, model.N,
          model.P), file=sys.stderr)
    print("train ms: %s" % " ".join("%.1f" % (v * 1e3) for v in train_all), file=sys.stderr)
    print("denoise ms: %s" % " ".join("%.1f" % (v * 1e3) for v in den_all), file=sys.stderr)
    return {"impl": impl(a), "torch": torch.__version__, "threads": a.threads, "adamw": kind,
            "batch": a.batch, "train_step_ms": round(train_s * 1e3, 3), "denoise_step_ms": round(den_s * 1e3, 3),
            "train_step_min_ms": round(min(train_all) * 1e3, 3), "denoise_step_min_ms": round(min(den_all) * 1e3, 3),
            "compile_train_s": round(t1 - t0, 2), "compile_denoise_s": round(t2 - t1, 2),
            "tokens_per_s": round(a.batch * model.N / train_s, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
            "steady_rss_mb": round(hwm_mb(), 1) if reset else None}


def bench_generate(a, torch, ref, cfg):
    model = ref.TesseraDiT(cfg).randomize_(0.02, seed=0).eval()
    cmodel = compiled(torch, model, a.autocast)[1]
    inputs = prompt_inputs(model)
    t0 = time.perf_counter()
    sample(cmodel, 1, inputs, model.N, model.P)  # compiles the batch-2 forward
    t1 = time.perf_counter()
    sample(cmodel, 1, inputs, model.N, model.P)
    reset = reset_hwm()
    t2 = time.perf_counter()
    sample(cmodel, a.steps, inputs, model.N, model.P)
    secs = time.perf_counter() - t2
    return {"impl": impl(a), "torch": torch.__version__, "threads": a.threads, "frames": cfg["frames"],
            "steps": a.steps, "cfg": 4, "seconds_per_clip": round(secs, 3), "compile_s": round(t1 - t0, 2),
            "peak_rss_mb": round(peak_rss_mb(), 1), "steady_rss_mb": round(hwm_mb(), 1) if reset else None}


def train_once(torch, model, loss_fn, forward, batch, opt):
    """Denoiser output, loss, gradients and the loss after one AdamW step, at the
    model's current weights."""
    x, t, tokens, ntokens, cond, target = batch
    with torch.inference_mode():
        out = forward(x, t, tokens, ntokens, cond)
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(*batch)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    return out, loss.item(), grads, loss_fn(*batch).item()


def rel(torch, a, b):
    return (torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp(min=1e-30)).item()


def check(a, torch, ref, cfg):
    """The compiled PyTorch 2 peer against the eager reference (run first, before the
    module is switched to SDPA), same weights and batch."""
    from torch.utils.flop_counter import FlopCounterMode
    eager = ref.TesseraDiT(cfg).randomize_(0.05, seed=a.seed)
    state = {k: v.clone() for k, v in eager.state_dict().items()}
    batch = make_batch(eager, a.batch, a.seed)
    nparams = sum(p.numel() for p in eager.parameters())
    with FlopCounterMode(display=False) as fc:
        x, t, tokens, ntokens, cond, target = batch
        eager.loss(eager(x, t, tokens, ntokens, cond), target, cond).backward()
    flops = fc.get_total_flops()
    eager.zero_grad(set_to_none=True)
    opt_ref = torch.optim.AdamW(ref.param_groups(eager, 0.01), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, foreach=False)
    want = train_once(torch, eager, lambda *b: eager.loss(eager(*b[:5]), b[5], b[4]), eager, batch, opt_ref)

    skilled(ref, torch, cfg, a.break_peer)
    peer = ref.TesseraDiT(cfg)
    peer.load_state_dict(state)
    opt, kind = adamw(torch, ref.param_groups(peer, 0.01))
    for g in opt.param_groups:
        g["lr"] = 1e-3
    closs, cmodel = compiled(torch, peer)
    got = train_once(torch, peer, closs, cmodel, batch, opt)
    errs = {"out": rel(torch, got[0], want[0]),
            "loss": abs(got[1] - want[1]) / abs(want[1]),
            "grad_max": max(rel(torch, got[2][n], want[2][n]) for n in want[2]),
            "loss_after_adamw": abs(got[3] - want[3]) / abs(want[3])}
    worst = max(errs.values())
    return {"impl": "pytorch2-compile", "torch": torch.__version__, "check": "compiled SDPA peer vs eager reference",
            "adamw": kind, "batch": a.batch, "params": nparams, "train_gflop_per_step": round(flops * 1e-9, 3),
            "loss": want[1], "rel_err": {k: float("%.3g" % v) for k, v in errs.items()}, "tol": a.tol,
            "ok": worst <= a.tol}


def main():
    a = parse_args()
    # MKL / OpenMP read these at load time
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import torch
    import model as ref
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    cfg = load_config(a.model_yaml, a.config_json)
    if a.mode == "check":
        res = check(a, torch, ref, cfg)
        print(json.dumps(res))
        sys.exit(0 if res["ok"] else 1)
    skilled(ref, torch, cfg)
    res = bench_step(a, torch, ref, cfg) if a.mode == "step" else bench_generate(a, torch, ref, cfg)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
