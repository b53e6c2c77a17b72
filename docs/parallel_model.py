#!/usr/bin/env python3
"""The analytic communication model of docs/parallel.md, as code.

Bytes each rank sends per training step, by group, for a layout (dp, sp, tp),
and the time the alpha-beta model gives them. Plain Python, no dependencies:

  python3 docs/parallel_model.py                     # the worked example (xl, 64 nodes)
  python3 docs/parallel_model.py --example minute720p # one minute of 720p in latent space, 64 nodes
  python3 docs/parallel_model.py --example minute720p --flops 400e12 --table   # layouts x memory x bytes x time
  python3 docs/parallel_model.py --example here --table # the tiny model's bench layouts on this 2-core machine
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


def tpsp_hidden(tp, U, D, depth, N_local, B, P, flops_per_s, mem_bw, t_ar, t_a2a, t_ctx, accum=1, R_mlp=4,
                recompute="none"):
    """Seconds of TP and Ulysses communication that the overlap built in src/model hides, per optimizer step.

    Each overlapped collective hides min(its time, the independent work the code puts beside it)
    (model/parallel.c col_linear_backward, model/backward.c, model/forward.c self_attention_forward):
      tp, per block backward: the dX all-reduce of qkv, cross.q, fc1 ([B, N/sp, D] each, time t_ar)
          beside that Linear's dW GEMM (2 M D (3, 1, R) D/tp FLOPs, M = B N/sp);
          once per step: dctx and the norm gradients (t_ctx) beside x_embed's dW (2 M P D);
          not hidden: the forward's 3 row-parallel all-reduces (and their recomputation).
      Ulysses (t_a2a per [B, N/sp, D/tp] all-to-all), per block:
          forward: v's beside q/k's RMSNorm and RoPE (memory-bound: ~8 M D/tp e bytes at mem_bw),
          again in the backward's recomputation (recompute attention or block);
          backward: d(att) beside attn.proj's dW (2 M D D/tp FLOPs), dv beside the RoPE and norm
          backward of dq, dk (~10 M D/tp e bytes);
          not hidden: q's, k's, the output's forward ones, dq's and dk's (the next op needs them).
    Returns (tp_hidden, ulysses_hidden) in seconds."""
    e = 4
    M = B * N_local
    Dt = D / tp
    tp_h = uly_h = 0.0
    if tp > 1:
        covers = [2 * M * D * 3 * Dt, 2 * M * D * Dt, 2 * M * D * R_mlp * Dt]
        tp_h = depth * sum(min(t_ar, c / flops_per_s) for c in covers)
        tp_h += min(t_ctx, 2 * M * P * D / flops_per_s)
    if U > 1:
        v_fwd = min(t_a2a, 8 * M * Dt * e / mem_bw)
        redo = 1 if recompute in ("attention", "block") else 0
        uly_h = depth * (v_fwd * (1 + redo) + min(t_a2a, 2 * M * Dt * D / flops_per_s)
                         + min(t_a2a, 10 * M * Dt * e / mem_bw))
    return tp_h * accum, uly_h * accum


def memory_per_rank(dp, sp, tp, D, depth, N, B, psi, psi_split, R_mlp=4, ring=1, recompute="none", e=4):
    """Bytes one rank holds in training (fp32, ZeRO-1 over dp x sp), by part.

    params and grads: Psi_tp each; AdamW's two moments: 2 Psi_tp / (dp sp). Activations of the
    M = B N/sp local tokens (src/model/acts.c): per block 10 [M, D] (residual stream, norms,
    modulated inputs, row-parallel outputs) + (9 + 2R) [M, D/tp] (qkv, q, k, att, cross q/q-norm/att,
    fc1, gelu); Ulysses keeps 2 more [M, D/tp] per block (head-layout v and attention output);
    recompute block keeps each block's input and one block's set, attention drops q, k, att.
    Scratch (gradients and loss buffers): 21 [M, D], calibrated on bench/train_mem.sh's
    arena at sp 1 (depth 4, D 256, 4,096 tokens: model 516 / 208 MiB, measured 523 / 209 MiB for
    recompute none / block). The sequence-parallel scratch (X = [M, D/tp]) lies in the pool of
    dh, dh2, dm1, dm2 (2 [M, D] + 2 [M, R D/tp]): the ring's 10X from its start, Ulysses'
    all-to-all buffers 2X past dh; only what does not fit is extra (src/model/acts.c; Ulysses'
    head-layout gradients live in datt and dqkv). At sp 2, 4, 8 (ring 2) see docs/parallel.md for the
    model against the measured arena."""
    R = max(ring, 1)
    U = sp // R
    M = B * N // sp
    Dt = D / tp
    psi_tp = psi - psi_split + psi_split // tp
    per_block = M * (10 * D + (9 + 2 * R_mlp) * Dt + (2 * Dt if U > 1 else 0)) * e
    if recompute == "block":
        kept = depth * M * D * e + per_block
    elif recompute == "attention":
        kept = depth * (per_block - 3 * M * Dt * e) + 3 * M * Dt * e
    else:
        kept = depth * per_block
    pool = 2 * M * D + 2 * R_mlp * M * Dt
    need = max(M * (D + 2 * Dt) if U > 1 else 0, 10 * M * Dt if R > 1 else 0)
    acts = kept + 21 * M * D * e + max(0, need - pool) * e
    out = {"params": psi_tp * e, "grads": psi_tp * e, "adam": 2 * psi_tp * e / (dp * sp), "acts": acts}
    out["total"] = sum(out.values())
    return out


def step_time(dp, sp, tp, D, depth, N, L, B, psi, psi_split, flops_per_s, links, gpus_per_node, accum=1,
              ring=1, recompute="none", hd=64, overlap=True, tpsp_overlap=False, mem_bw=3.35e12, P=64):
    """Compute and communication seconds of one optimizer step on one rank, and what overlap hides.

    links: {"intra": (alpha, beta), "inter": (alpha, beta)}. Overlap (docs/parallel.md):
    each ring transfer hides behind the attention of the block in hand; ZeRO's
    reduce-scatter behind the backward (bucketed) and its allgather behind the
    next forward; TP and Ulysses stay on the critical path unless tpsp_overlap (then the
    part tpsp_hidden finds independent work for is taken off: the overlap built in src/model)."""
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
    out["tp_hidden"] = out["ulysses_hidden"] = 0.0
    if tpsp_overlap and (tp > 1 or U > 1):
        a, b = link(1, tp)
        e = 4
        Nl = N // sp
        t_ar = 2 * (tp - 1) * a + 2 * (tp - 1) / tp * B * Nl * D * e / b if tp > 1 else 0.0
        t_ctx = 2 * (2 * (tp - 1) * a) + 2 * (tp - 1) / tp * (B * L * D + 4 * depth * hd) * e / b if tp > 1 else 0.0
        a, b = link(tp, U)
        t_a2a = (U - 1) * a + (U - 1) / U * B * Nl * D / tp * e / b if U > 1 else 0.0
        th, uh = tpsp_hidden(tp, U, D, depth, Nl, B, P, flops_per_s, mem_bw, t_ar, t_a2a, t_ctx, accum,
                             recompute=recompute)
        out["tp_hidden"], out["ulysses_hidden"] = th, uh
        exposed -= th + uh
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
# This machine (2-core AMD EPYC, shared): the tiny model (configs/model/tiny.yaml) at the layouts
# bench/run.sh's comm_bench trains (global batch 4), one rank per core at most 2 busy at once:
# per-rank FLOP/s = 53% MFU of one 103.5 GFLOP/s core (docs/performance.md) x min(1, 2 / ranks);
# shared-memory links: 0.37 GB/s per rank (bench/overlap_bench.sh's ring reduce-scatter under
# load ~6, docs/parallel.md), alpha 10 us and memory 20 GB/s assumed, not measured.
HERE = dict(dim=256, depth=6, heads=4, mlp_ratio=4, patch_dim=96, vocab=4096, text_len=32, text_layers=2,
            tokens=512, batch=4, dp=2, sp=1, ring=1, tp=1, recompute="none", gpus_per_node=64,
            bw_intra=0.37e9, alpha_intra=10e-6, mem_bw=20e9, flops=0.53 * 103.5e9)
# (tp, Ulysses, ring, dp, recompute)
HERE_LAYOUTS = [(1, 1, 1, 2, "none"), (2, 2, 1, 1, "none"), (1, 1, 2, 1, "none"), (1, 2, 2, 1, "block"),
                (2, 1, 1, 1, "none"), (4, 1, 1, 1, "none")]


def table(a, psi, psi_split, hd, layouts, batch_global=None):
    """Layouts x memory per rank x bytes per step x predicted step time (without and with the TP/SP overlap)."""
    print(f"  {'tp x U x ring x dp':19s} {'recomp':6s} {'tok/rank':>9s} {'mem GB':>7s} {'(acts)':>7s} "
          f"{'tp GB':>7s} {'uly GB':>7s} {'ring GB':>8s} {'dpsp GB':>8s} {'compute s':>9s} "
          f"{'exp. s':>7s} {'exp.+ov s':>9s} {'step s':>7s} {'hidden':>6s}")
    rows = []
    for tp, U, R, dp, rc in layouts:
        b = argparse.Namespace(**vars(a))
        b.tp, b.sp, b.ring, b.dp, b.recompute = tp, U * R, R, dp, rc
        if batch_global:
            b.batch = batch_global // dp
        W = dp * U * R * tp
        if a.example == "here":
            b.flops = a.flops * min(1.0, 2.0 / W)
        b.tpsp_overlap = False
        t0 = report(b, psi, psi_split, hd, quiet=True)
        b.tpsp_overlap = True
        t1 = report(b, psi, psi_split, hd, quiet=True)
        m = memory_per_rank(b.dp, b.sp, b.tp, b.dim, b.depth, b.tokens, b.batch, psi, psi_split, b.mlp_ratio,
                            b.ring, b.recompute)
        r = t1["bytes"]
        tpsp = t0["tp"] + t0["ulysses"]
        hid = (t1["tp_hidden"] + t1["ulysses_hidden"]) / tpsp if tpsp else 0.0
        ok = "" if a.heads % (tp * U) == 0 else "  (heads do not divide: refused)"
        print(f"  {f'{tp} x {U} x {R} x {dp}':19s} {rc:6s} {b.tokens // (U * R):9,d} {m['total'] / 1e9:7.2f} "
              f"{m['acts'] / 1e9:7.2f} {r['tp'] / 1e9:7.3f} {r['ulysses'] / 1e9:7.3f} {r['ring'] / 1e9:8.3f} "
              f"{r['dpsp'] / 1e9:8.3f} {t1['compute']:9.3f} {t0['exposed']:7.3f} {t1['exposed']:9.3f} "
              f"{t1['step']:7.3f} {hid:6.0%}{ok}")
        rows.append((tp, U, R, dp, rc, m, t0, t1))
    return rows


def report(a, psi, psi_split, hd, quiet=False):
    """The per-group lines (and the step time with overlap) of one layout; returns step_time's dict."""
    links = {"intra": (a.alpha_intra, a.bw_intra), "inter": (a.alpha_inter, a.bw_inter)}
    t = step_time(a.dp, a.sp, a.tp, a.dim, a.depth, a.tokens, a.text_len, a.batch, psi, psi_split, a.flops,
                  links, a.gpus_per_node, a.accum, ring=a.ring, recompute=a.recompute, hd=hd,
                  tpsp_overlap=a.tpsp_overlap, mem_bw=a.mem_bw, P=a.patch_dim)
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
    if a.tpsp_overlap:
        print(f"  TP/Ulysses overlap (built): hides {t['tp_hidden'] * 1e3:.1f} ms of tp's {t['tp'] * 1e3:.1f}, "
              f"{t['ulysses_hidden'] * 1e3:.1f} ms of Ulysses' {t['ulysses'] * 1e3:.1f}")
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--example", choices=["xl64", "minute720p", "here"], default="xl64",
                    help="defaults of a worked example (explicit flags still win)")
    ap.add_argument("--dp", type=int)
    ap.add_argument("--sp", type=int)
    ap.add_argument("--ring", type=int, help="ring-attention degree inside sp (1: Ulysses only)")
    ap.add_argument("--tp", type=int)
    ap.add_argument("--recompute", choices=["none", "attention", "block"])
    ap.add_argument("--dim", type=int)
    ap.add_argument("--depth", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--mlp-ratio", type=int)
    ap.add_argument("--patch-dim", type=int)
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--text-len", type=int)
    ap.add_argument("--text-layers", type=int)
    ap.add_argument("--tokens", type=int, help="tokens N of one sample")
    ap.add_argument("--batch", type=int, help="samples per model replica (mp group) per micro-step")
    ap.add_argument("--accum", type=int, default=1, help="micro-steps per optimizer step")
    ap.add_argument("--gpus-per-node", type=int)
    ap.add_argument("--bw-intra", type=float, help="bytes/s per GPU inside a node (400e9)")
    ap.add_argument("--bw-inter", type=float, help="bytes/s per GPU between nodes (50e9)")
    ap.add_argument("--alpha-intra", type=float, help="(3e-6)")
    ap.add_argument("--alpha-inter", type=float, help="(10e-6)")
    ap.add_argument("--flops", type=float, help="sustained FLOP/s of one rank (100e12)")
    ap.add_argument("--mem-bw", type=float, help="memory bytes/s of one rank, for the elementwise work "
                    "the Ulysses overlap hides behind (3.35e12)")
    ap.add_argument("--tpsp-overlap", action="store_true",
                    help="take off the TP/Ulysses time the overlap built in src/model hides (tpsp_hidden)")
    ap.add_argument("--table", action="store_true",
                    help="the example's layouts x memory per rank x bytes per step x step time, "
                    "without and with the TP/SP overlap")
    a = ap.parse_args()
    base = dict(tokens=4096, patch_dim=16, batch=2, dp=16, sp=4, ring=1, tp=8, recompute="none",
                dim=1152, depth=28, heads=16, mlp_ratio=4, vocab=8192, text_len=77, text_layers=6,
                gpus_per_node=8, bw_intra=400e9, bw_inter=50e9, alpha_intra=3e-6, alpha_inter=10e-6,
                flops=100e12, mem_bw=3.35e12)
    if a.example == "minute720p":
        base.update(MINUTE_720P)
    if a.example == "here":
        base.update(HERE)
    for k, v in base.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    hd = a.dim // a.heads
    psi, psi_split = params(a.dim, a.depth, a.mlp_ratio, a.patch_dim, a.vocab, a.text_len, a.text_layers, hd=hd)
    if a.table:
        if a.example == "minute720p":
            print(f"one minute of 720p ({a.tokens:,} tokens, B 1), 512 ranks = 64 nodes x 8, "
                  f"{a.flops / 1e12:g} TFLOP/s and {a.mem_bw / 1e12:g} TB/s per rank; links "
                  f"{a.bw_intra / 1e9:g} / {a.bw_inter / 1e9:g} GB/s; memory fp32 + AdamW, ZeRO-1 over dp x sp:")
            table(a, psi, psi_split, hd, [(tp, U, R, dp, a.recompute) for tp, U, R, dp in MINUTE_720P_LAYOUTS])
        elif a.example == "here":
            print(f"this machine (2-core AMD EPYC, shared): tiny model, {a.tokens} tokens per clip, global batch 4; "
                  f"{a.flops / 1e9:.0f} GFLOP/s per rank x min(1, 2/ranks), links {a.bw_intra / 1e9:g} GB/s:")
            table(a, psi, psi_split, hd, HERE_LAYOUTS, batch_global=4)
        else:
            table(a, psi, psi_split, hd, [(a.tp, a.sp // a.ring, a.ring, a.dp, a.recompute)])
        return
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
