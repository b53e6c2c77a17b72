#!/usr/bin/env python3
"""The analytic communication model of docs/parallel.md, as code.

Bytes each rank sends per training step, by group, for a layout (dp, sp, tp),
and the time the alpha-beta model gives them. Plain Python, no dependencies:

  python3 docs/parallel_model.py                     # the worked example (xl, 64 nodes)
  python3 docs/parallel_model.py --example minute720p # one minute of 720p in latent space, 64 nodes
  python3 docs/parallel_model.py --dp 2 --sp 2 --tp 1 --dim 64 --depth 2 --heads 4 \
      --tokens 256 --batch 2 --text-len 16 --text-layers 1 --vocab 256 --patch-dim 48

The byte convention is the one src/comm counts (CommStats): ring algorithms,
bytes sent by one rank; allreduce 2(p-1)/p n, reduce-scatter / allgather
(p-1)/p of the full buffer, all-to-all (p-1)/p of the local buffer.
"""
import argparse


def params(D, depth, R, P, V, L, text_layers, F=256, hd=None):
    """Parameter count of docs/model.md: (total, tp-split part) per the Megatron cut of src/model/build.c."""
    hd = hd or 0
    lin = lambda i, o: i * o + o
    text_layer = 2 * D + lin(D, 3 * D) + lin(D, D) + 2 * D + lin(D, R * D) + lin(R * D, D)
    text = V * D + L * D + text_layers * text_layer + 2 * D
    embed = lin(P, D) + lin(F, D) + lin(D, D) + lin(D, D)
    block = (lin(D, 6 * D) + lin(D, 3 * D) + 2 * hd + lin(D, D) + 2 * D + lin(D, D) + lin(D, 2 * D) + 2 * hd
             + lin(D, D) + lin(D, R * D) + lin(R * D, D))
    final = lin(D, 2 * D) + lin(D, P)
    total = text + embed + depth * block + final
    # split over tp: qkv, cross.q, cross.kv, fc1 (weight + bias: column), proj, cross.proj, fc2 (weight: row)
    split = depth * ((8 + 2 * R) * D * D + (6 + R) * D)
    return total, split


def step_bytes(dp, sp, tp, D, depth, N, L, B, psi, psi_split, accum=1, e=4, hd=64, ring=1, recompute="none"):
    """Bytes one rank sends per optimizer step, per group (the groups of src/comm).

    sp is Ulysses x ring (docs/ring.md): U = sp/ring all-to-all, `ring` point-to-point.
    recompute: "none", "attention" (the backward redoes self-attention's
    exchanges) or "block" (it redoes the whole block forward: also TP's 3
    forward all-reduces)."""
    R = max(ring, 1)
    U = sp // R
    Nl = N // sp                  # tokens this rank holds
    psi_tp = psi - psi_split + psi_split // tp   # parameters this rank holds
    act = B * Nl * D              # one activation [B, N/sp, D]
    X = B * Nl * D // tp          # one head-split activation [B, N/sp, D/tp]
    redo_attn = recompute in ("attention", "block")
    tp_b = sp_b = ring_b = 0.0
    tp_calls = uly_calls = ring_calls = 0
    if tp > 1:  # 3 allreduces per block forward (attn.proj, cross.proj, mlp.fc2), 3 backward (qkv, cross.q, fc1 inputs)
        # + the context gradient of cross.kv, [B, L, D], summed over blocks and reduced once per backward
        # + the per-head norm weights' gradients (4*hd per block) in one call
        per = 9 if recompute == "block" else 6
        tp_b = 2 * (tp - 1) / tp * e * (per * depth * act + B * L * D + 4 * depth * hd)
        tp_calls = per * depth + 2
    if U > 1:  # Ulysses: 4 all-to-alls per self-attention forward (q, k, v in; out back), 4 backward
        per = 12 if redo_attn else 8
        sp_b = (U - 1) / U * e * per * depth * X
        uly_calls = per * depth
    if R > 1:  # ring: forward R-1 K/V blocks, backward R-1 K/V blocks and R dK/dV partial sums
        per = (4 * R - 3) if redo_attn else (3 * R - 2)
        ring_b = per * depth * 2 * X * e
        ring_calls = per * depth
    p = dp * sp  # ZeRO-1 over dp x sp: reduce-scatter grads + allgather params, once per optimizer step
    dpsp_b = 2 * (p - 1) / p * psi_tp * e if p > 1 else 0.0
    return {"tp": tp_b * accum, "sp": (sp_b + ring_b) * accum, "ulysses": sp_b * accum, "ring": ring_b * accum,
            "dpsp": dpsp_b,
            "counts": {"tp_allreduce": tp_calls * accum, "sp_alltoall": uly_calls * accum,
                       "ring_sendrecv": ring_calls * accum, "dpsp_rs_ag": 2 if p > 1 else 0},
            "psi_tp": psi_tp}


def step_flops(D, depth, N, L, B, R_mlp=4, text_layers=0):
    """FLOPs of one training step of the video transformer for B samples (forward x 3):
    the linears (2 per multiply-add over the block's weights) and both attentions."""
    lin = 2 * N * (D * 6 * D + D * 3 * D + D * D + D * D + D * D + 2 * R_mlp * D * D) + 2 * L * 2 * D * D
    attn = 4 * N * N * D + 4 * N * L * D
    return 3 * B * depth * (lin + attn)


def step_time(dp, sp, tp, D, depth, N, L, B, psi, psi_split, flops_per_s, links, gpus_per_node, accum=1,
              ring=1, recompute="none", hd=64, overlap=True):
    """Compute and communication seconds of one optimizer step on one rank, and what overlap hides.

    links: {"intra": (alpha, beta), "inter": (alpha, beta)}. Overlap (docs/parallel.md):
    each ring transfer hides behind the attention of the block in hand; ZeRO's
    reduce-scatter behind the backward (bucketed) and its allgather behind the
    next forward; TP and Ulysses stay on the critical path."""
    R = max(ring, 1)
    U = sp // R
    W = dp * sp * tp
    v = step_bytes(dp, sp, tp, D, depth, N, L, B, psi, psi_split, accum, hd=hd, ring=R, recompute=recompute)
    fl = step_flops(D, depth, N, L, B) * accum / (sp * tp)
    if recompute == "block":
        fl *= 4 / 3
    elif recompute == "attention":
        fl += accum * B * depth * 4 * N * N * D / (sp * tp)
    compute = fl / flops_per_s

    def link(stride, size):
        return links["intra" if stride * size <= gpus_per_node else "inter"]

    out = {"compute": compute, "bytes": v}
    a, b = link(1, tp)
    out["tp"] = v["counts"]["tp_allreduce"] * 2 * (tp - 1) * a + v["tp"] / b if tp > 1 else 0.0
    a, b = link(tp, U)
    out["ulysses"] = v["counts"]["sp_alltoall"] * (U - 1) * a + v["ulysses"] / b if U > 1 else 0.0
    a, b = link(tp * U, R)
    ring_t = v["counts"]["ring_sendrecv"] * a + v["ring"] / b if R > 1 else 0.0
    out["ring"] = ring_t
    a, b = links["intra" if W <= gpus_per_node else "inter"]
    p = dp * sp
    out["dpsp"] = 2 * (p - 1) * a + v["dpsp"] / b if p > 1 else 0.0
    exposed = out["tp"] + out["ulysses"]
    if overlap:
        # one ring hop against one block pair's attention: (N/R)^2 of the (N)^2 per head shard
        attn_hop = accum * B * depth * 4 * (N / R) ** 2 * D / (U * tp) * 3 / flops_per_s
        exposed += max(0.0, ring_t - attn_hop * (R - 1)) if R > 1 else 0.0
        exposed += max(0.0, out["dpsp"] - compute * 2 / 3)   # the backward is ~2/3 of the step
    else:
        exposed += ring_t + out["dpsp"]
    out["exposed"] = exposed
    out["step"] = compute + exposed
    return out


# One minute of 720p (1441 frames at 24 fps: 1 + 4k for the causal VAE) through
# the standard 4x8x8 VAE with 16 channels: a latent of 361 x 90 x 160 x 16,
# patches of 1x2x2 -> 361 x 45 x 80 = 1,299,600 tokens of P = 64, one sample.
MINUTE_720P = dict(tokens=361 * 45 * 80, patch_dim=64, batch=1, dp=1, sp=64, ring=32, tp=8,
                   recompute="block")
# Layouts of 512 ranks (64 nodes x 8) the example compares (tp, Ulysses, ring, dp).
MINUTE_720P_LAYOUTS = [(8, 2, 32, 1), (8, 1, 64, 1), (4, 4, 32, 1), (1, 8, 64, 1), (8, 2, 16, 2)]


def report(a, psi, psi_split, hd, quiet=False):
    """The per-group lines (and the step time with overlap) of one layout; returns step_time's dict."""
    links = {"intra": (a.alpha_intra, a.bw_intra), "inter": (a.alpha_inter, a.bw_inter)}
    t = step_time(a.dp, a.sp, a.tp, a.dim, a.depth, a.tokens, a.text_len, a.batch, psi, psi_split, a.flops,
                  links, a.gpus_per_node, a.accum, ring=a.ring, recompute=a.recompute, hd=hd)
    if quiet:
        return t
    r = t["bytes"]
    W = a.dp * a.sp * a.tp
    U = a.sp // a.ring
    print(f"layout dp {a.dp} x sp {a.sp} (Ulysses {U} x ring {a.ring}) x tp {a.tp} = {W} ranks "
          f"({W / a.gpus_per_node:g} nodes of {a.gpus_per_node}); N {a.tokens:,} tokens, B {a.batch}, "
          f"recompute {a.recompute}")
    if a.heads % (a.tp * U):
        print(f"  note: heads {a.heads} do not divide by tp*Ulysses = {a.tp * U}: tessera refuses this layout "
              f"(the bytes below do not depend on the head count)")
    print(f"parameters {psi:,} (tp-split {psi_split:,}); per rank {r['psi_tp']:,}")
    for name, calls in (("tp", r["counts"]["tp_allreduce"]), ("ulysses", r["counts"]["sp_alltoall"]),
                        ("ring", r["counts"]["ring_sendrecv"]), ("dpsp", r["counts"]["dpsp_rs_ag"])):
        b = r[name]
        if not b:
            continue
        print(f"  {name:8s} {b / 1e9:9.3f} GB sent per rank per step in {calls:5d} calls -> {t[name] * 1e3:9.2f} ms")
    print(f"  communication, not overlapped: {(t['tp'] + t['ulysses'] + t['ring'] + t['dpsp']) * 1e3:.1f} ms; "
          f"compute at {a.flops / 1e12:g} TFLOP/s per rank: {t['compute'] * 1e3:.1f} ms; "
          f"exposed with overlap: {t['exposed'] * 1e3:.1f} ms; step {t['step'] * 1e3:.1f} ms")
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--example", choices=["xl64", "minute720p"], default="xl64",
                    help="defaults of a worked example (explicit flags still win)")
    ap.add_argument("--dp", type=int)
    ap.add_argument("--sp", type=int)
    ap.add_argument("--ring", type=int, help="ring-attention degree inside sp (1: Ulysses only)")
    ap.add_argument("--tp", type=int)
    ap.add_argument("--recompute", choices=["none", "attention", "block"])
    ap.add_argument("--dim", type=int, default=1152)
    ap.add_argument("--depth", type=int, default=28)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--mlp-ratio", type=int, default=4)
    ap.add_argument("--patch-dim", type=int)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--text-len", type=int, default=77)
    ap.add_argument("--text-layers", type=int, default=6)
    ap.add_argument("--tokens", type=int, help="tokens N of one sample")
    ap.add_argument("--batch", type=int, help="samples per model replica (mp group) per micro-step")
    ap.add_argument("--accum", type=int, default=1, help="micro-steps per optimizer step")
    ap.add_argument("--gpus-per-node", type=int, default=8)
    ap.add_argument("--bw-intra", type=float, default=400e9, help="bytes/s per GPU inside a node")
    ap.add_argument("--bw-inter", type=float, default=50e9, help="bytes/s per GPU between nodes")
    ap.add_argument("--alpha-intra", type=float, default=3e-6)
    ap.add_argument("--alpha-inter", type=float, default=10e-6)
    ap.add_argument("--flops", type=float, default=100e12, help="sustained FLOP/s of one rank")
    a = ap.parse_args()
    base = dict(tokens=4096, patch_dim=16, batch=2, dp=16, sp=4, ring=1, tp=8, recompute="none")
    if a.example == "minute720p":
        base.update(MINUTE_720P)
    for k, v in base.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    hd = a.dim // a.heads
    psi, psi_split = params(a.dim, a.depth, a.mlp_ratio, a.patch_dim, a.vocab, a.text_len, a.text_layers, hd=hd)
    report(a, psi, psi_split, hd)
    if a.example == "minute720p":
        print("\nlayouts of the same 512 ranks (tp x Ulysses x ring x dp), block recomputation, B 1 per replica:")
        print(f"  {'layout':22s} {'tokens/rank':>11s} {'ring GB':>8s} {'uly GB':>7s} {'tp GB':>7s} {'dpsp GB':>8s} "
              f"{'compute s':>9s} {'exposed s':>9s} {'step s':>7s}")
        for tp, U, R, dp in MINUTE_720P_LAYOUTS:
            b = argparse.Namespace(**vars(a))
            b.tp, b.sp, b.ring, b.dp = tp, U * R, R, dp
            t = report(b, psi, psi_split, hd, quiet=True)
            r = t["bytes"]
            ok = "" if a.heads % (tp * U) == 0 else "  (heads do not divide: refused)"
            print(f"  {f'{tp} x {U} x {R} x {dp}':22s} {a.tokens // (U * R):11,d} {r['ring'] / 1e9:8.2f} "
                  f"{r['ulysses'] / 1e9:7.2f} {r['tp'] / 1e9:7.2f} {r['dpsp'] / 1e9:8.2f} {t['compute']:9.2f} "
                  f"{t['exposed']:9.2f} {t['step']:7.2f}{ok}")


if __name__ == "__main__":
    main()
