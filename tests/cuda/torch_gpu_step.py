#!/usr/bin/env python3
"""The same model in PyTorch on the GPU: the peer of `bench_model_gpu`
(tests/cuda/run_on_gpu.sh). The model is the independent reference
tests/ref/model.py, with its attention replaced by
torch.nn.functional.scaled_dot_product_attention (flash / memory-efficient
kernels), fp32 master weights under bf16 autocast, and fused AdamW.

    python3 tests/cuda/torch_gpu_step.py --model-yaml configs/model/xl.yaml --batch 2 \\
        [--tflop-per-step X --peak-tflops Y]   (MFU on tessera's FLOP count and measured peak)

train step = zero_grad + forward + loss + backward + AdamW step, timed with
torch.cuda.synchronize() around it; the median of --iters after --warmup.
Prints ONE JSON line on stdout; details to stderr. Without CUDA: exit 3.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-yaml", required=True)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--tflop-per-step", type=float, default=0.0, help="tessera's count (model_train_flops)")
    ap.add_argument("--peak-tflops", type=float, default=0.0)
    ap.add_argument("--device", default="cuda", help="cuda; cpu only to check this script")
    a = ap.parse_args()

    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import model as ref
    from torch_step import load_yaml

    if a.device == "cuda" and not torch.cuda.is_available():
        print("SKIPPED: torch %s sees no CUDA device" % torch.__version__)
        return 3

    def sdpa(q, k, v, key_mask=None):  # q [B,h,Nq,hd], k/v [B,h,Nk,hd]; key_mask [B,Nk] True = attend
        mask = None if key_mask is None else key_mask[:, None, None, :]
        dt = torch.bfloat16
        return F.scaled_dot_product_attention(q.to(dt), k.to(dt), v.to(dt), attn_mask=mask)

    have_sdpa = hasattr(F, "scaled_dot_product_attention")  # torch >= 2.0
    if have_sdpa:
        ref.attention = sdpa  # the blocks look it up in the module at call time

    doc = load_yaml(a.model_yaml)
    cfg = ref.normalize_config(doc["model"] if "model" in doc else doc)
    dev = torch.device(a.device)
    torch.manual_seed(0)
    m = ref.TesseraDiT(cfg).randomize_(0.02, seed=0).to(dev)
    B, N, P, L = a.batch, m.N, m.P, cfg["text_length"]
    g = torch.Generator(device="cpu").manual_seed(1)
    x = torch.randn(B, N, P, generator=g).to(dev)
    t = torch.rand(B, generator=g).to(dev)
    target = torch.randn(B, N, P, generator=g).to(dev)
    ntokens = torch.randint(1, L + 1, (B,), generator=g, dtype=torch.int32).to(dev)
    tokens = torch.randint(1, cfg["vocab"], (B, L), generator=g, dtype=torch.int32).to(dev)
    cond = torch.zeros(B, m.gt, dtype=torch.uint8, device=dev)
    cond[0, 0] = 1
    fused = {"fused": True} if a.device == "cuda" else {}
    opt = torch.optim.AdamW(ref.param_groups(m, 0.0), lr=1e-5, betas=(0.9, 0.95), eps=1e-8, **fused)

    amp = {"on": a.device == "cuda"}  # bf16 autocast on the GPU; the CPU run only checks this script

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp["on"]):
            out = m(x, t, tokens, ntokens, cond)
            loss = m.loss(out.float(), target, cond)
        loss.backward()
        opt.step()
        return loss

    def sync():
        if a.device == "cuda":
            torch.cuda.synchronize()

    try:
        step()
    except RuntimeError as e:  # a dtype mix autocast does not cover: measure fp32 (TF32) rather than nothing
        if not amp["on"]:
            raise
        print("bf16 autocast failed (%s): fp32 with TF32 instead" % e, file=sys.stderr)
        amp["on"] = False
        torch.backends.cuda.matmul.allow_tf32 = True
        step()
    for _ in range(a.warmup - 1):
        step()
    ts = []
    for _ in range(max(1, a.iters)):
        sync()
        t0 = time.perf_counter()
        loss = step()
        sync()
        ts.append(time.perf_counter() - t0)
    s = statistics.median(ts)
    nparam = sum(p.numel() for p in m.parameters())
    res = {"impl": "pytorch-%s-%s" % ("sdpa" if have_sdpa else "matmul-attention",
                                      "bf16-autocast" if amp["on"] else "fp32"), "torch": torch.__version__, "model": cfg.get("name", ""),
           "batch": B, "tokens": N, "params_m": round(nparam / 1e6, 1), "train_step_ms": round(s * 1e3, 2),
           "loss": round(float(loss), 5)}
    if a.device == "cuda":
        res["device"] = torch.cuda.get_device_name(0)
        res["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    if a.tflop_per_step > 0:
        res["tflops"] = round(a.tflop_per_step / s, 1)
        if a.peak_tflops > 0:
            res["mfu"] = round(a.tflop_per_step / s / a.peak_tflops, 4)
    print("step ms: " + " ".join("%.1f" % (v * 1e3) for v in ts), file=sys.stderr)
    print(json.dumps(res))
    return 0 if math.isfinite(float(loss)) else 1


if __name__ == "__main__":
    sys.exit(main())
