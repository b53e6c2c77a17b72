#!/usr/bin/env python3
"""The analytic communication model of docs/parallel.md, as code.

Bytes each rank sends per training step, by group, for a layout (dp, sp, tp),
and the time the alpha-beta model gives them. Plain Python, no dependencies:

  python3 docs/parallel_model.py                     # the worked example (xl, 64 nodes)
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


def step_bytes(dp, sp, tp, D, depth, N, L, B, psi, psi_split, accum=1, e=4, hd=64):
    """Bytes one rank sends per optimizer step, per group (the groups of src/comm)."""
    Nl = N // sp                  # tokens this rank holds
    psi_tp = psi - psi_split + psi_split // tp   # parameters this rank holds
    act = B * Nl * D              # one activation [B, N/sp, D]
    tp_b = sp_b = 0.0
    if tp > 1:  # 3 allreduces per block forward (attn.proj, cross.proj, mlp.fc2), 3 backward (qkv, cross.q, fc1 inputs)
        # + the context gradient of cross.kv, [B, L, D], summed over blocks and reduced once per backward
        # + the per-head norm weights' gradients (4*hd per block) in one call
        tp_b = 2 * (tp - 1) / tp * e * (6 * depth * act + B * L * D + 4 * depth * hd)
    if sp > 1:  # Ulysses: 4 all-to-alls per self-attention forward (q, k, v in; out back), 4 backward
        sp_b = (sp - 1) / sp * e * 8 * depth * B * Nl * D / tp
    p = dp * sp  # ZeRO-1 over dp x sp: reduce-scatter grads + allgather params, once per optimizer step
    dpsp_b = 2 * (p - 1) / p * psi_tp * e if p > 1 else 0.0
    return {"tp": tp_b * accum, "sp": sp_b * accum, "dpsp": dpsp_b,
            "counts": {"tp_allreduce": (6 * depth + 2) * accum if tp > 1 else 0,
                       "sp_alltoall": 8 * depth * accum if sp > 1 else 0,
                       "dpsp_rs_ag": 2 if p > 1 else 0},
            "psi_tp": psi_tp}


def alpha_beta(p, n_bytes_sent, steps, alpha, beta):
    """Time of one collective: `steps` latency terms plus the bytes this rank sends over its link."""
    return steps * alpha + n_bytes_sent / beta


def where(stride, size, gpus_per_node):
    """Does a group whose members are `stride` ranks apart stay inside one node?"""
    return "intra" if stride * size <= gpus_per_node else "inter"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dp", type=int, default=16)
    ap.add_argument("--sp", type=int, default=4)
    ap.add_argument("--tp", type=int, default=8)
    ap.add_argument("--dim", type=int, default=1152)
    ap.add_argument("--depth", type=int, default=28)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--mlp-ratio", type=int, default=4)
    ap.add_argument("--patch-dim", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--text-len", type=int, default=77)
    ap.add_argument("--text-layers", type=int, default=6)
    ap.add_argument("--tokens", type=int, default=4096, help="tokens N of one sample")
    ap.add_argument("--batch", type=int, default=2, help="samples per model replica (mp group) per micro-step")
    ap.add_argument("--accum", type=int, default=1, help="micro-steps per optimizer step")
    ap.add_argument("--gpus-per-node", type=int, default=8)
    ap.add_argument("--bw-intra", type=float, default=400e9, help="bytes/s per GPU inside a node")
    ap.add_argument("--bw-inter", type=float, default=50e9, help="bytes/s per GPU between nodes")
    ap.add_argument("--alpha-intra", type=float, default=3e-6)
    ap.add_argument("--alpha-inter", type=float, default=10e-6)
    a = ap.parse_args()
    hd = a.dim // a.heads
    psi, psi_split = params(a.dim, a.depth, a.mlp_ratio, a.patch_dim, a.vocab, a.text_len, a.text_layers, hd=hd)
    r = step_bytes(a.dp, a.sp, a.tp, a.dim, a.depth, a.tokens, a.text_len, a.batch, psi, psi_split, a.accum, hd=hd)
    W = a.dp * a.sp * a.tp
    print(f"layout dp {a.dp} x sp {a.sp} x tp {a.tp} = {W} ranks ({W / a.gpus_per_node:g} nodes of {a.gpus_per_node})")
    if a.heads % (a.tp * a.sp):
        print(f"  note: heads {a.heads} do not divide by tp*sp = {a.tp * a.sp}: tessera refuses this layout "
              f"(the bytes below do not depend on the head count)")
    print(f"parameters {psi:,} (tp-split {psi_split:,}); per rank {r['psi_tp']:,}")
    groups = [("tp", a.tp, 1, r["tp"], r["counts"]["tp_allreduce"], lambda p: 2 * (p - 1)),
              ("sp", a.sp, a.tp, r["sp"], r["counts"]["sp_alltoall"], lambda p: p - 1),
              ("dpsp", a.dp * a.sp, a.tp, r["dpsp"], r["counts"]["dpsp_rs_ag"], lambda p: p - 1)]
    total_t = 0.0
    for name, p, stride, b, calls, steps in groups:
        if p == 1 or b == 0:
            print(f"  {name:5s} size {p:3d}: nothing to send")
            continue
        # dpsp = dp x sp is not one stride: it stays in a node only if the whole world does
        loc = where(stride, p, a.gpus_per_node) if name != "dpsp" else ("intra" if W <= a.gpus_per_node else "inter")
        alpha, beta = (a.alpha_intra, a.bw_intra) if loc == "intra" else (a.alpha_inter, a.bw_inter)
        t = calls * steps(p) * alpha + b / beta
        total_t += t
        print(f"  {name:5s} size {p:3d} ({loc}-node, {beta / 1e9:.0f} GB/s): {b / 1e9:8.3f} GB sent per rank per step "
              f"in {calls} calls -> {t * 1e3:8.2f} ms  (latency {calls * steps(p) * alpha * 1e3:.2f} ms)")
    print(f"  communication per step, not overlapped: {total_t * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
