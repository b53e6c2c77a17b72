#!/usr/bin/python3
"""tessera against its PyTorch peers, interleaved in one run (make bench).

    bench/peers.py --model-yaml configs/model/tiny.yaml [--batch 4] [--rounds 3]
                   [--threads "1 2"] [--steps 30] [--venv .bench-venv] [--out F]

Peers: PyTorch 2 from PyPI with torch.compile, SDPA and fused AdamW
(bench/torch2_peer.py, in the virtual environment of `make bench-peer`) and
Debian's PyTorch 1.13, eager, on OpenBLAS (bench/torch_step.py,
bench/torch_generate.py). Each round runs tessera, then every peer, each at
every thread count of --threads, as separate processes; a process reports the
median of its timed steps; the table shows the median over the rounds, for each
program at its fastest thread count (named), per column. Generation (one clip,
--steps Euler steps, CFG) runs the same way after the step rounds. First, torch2_peer.py check: the compiled peer against the eager reference
on the same weights, and its parameter count and FLOPs against tessera's.
Writes every JSON line and the summary to --out. Timings are reported, never
asserted.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd, allow_fail=False, threads=None):
    """Run cmd (with OMP_NUM_THREADS=threads when given); return (its last JSON line
    on stdout, exit code). When it fails (or, with allow_fail, prints no JSON), show
    the tail of its stderr and exit."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads)) if threads else None
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines or (p.returncode != 0 and not allow_fail):
        sys.exit("peers: %s failed (exit %d):\n%s" % (" ".join(cmd), p.returncode, p.stderr[-3000:]))
    return json.loads(lines[-1]), p.returncode


def median_of(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-yaml", required=True)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1 2")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--venv", default=".bench-venv")
    ap.add_argument("--tessera", default="bin/tessera")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split()]
    py2 = os.path.join(a.venv, "bin", "python")
    if not os.access(py2, os.X_OK):
        sys.exit("peers: %s not found: run `make bench-peer` first" % py2)
    peer2 = [py2, os.path.join(HERE, "torch2_peer.py")]
    cfg, B = ["--model-yaml", a.model_yaml], ["--batch", str(a.batch)]
    peers = {  # name -> (step command for T threads, generate command for T threads)
        "pytorch2": (lambda t: peer2 + ["step"] + cfg + B + ["--threads", str(t)],
                     lambda t: peer2 + ["generate"] + cfg + ["--steps", str(a.steps), "--threads", str(t)]),
        "pytorch1": (lambda t: ["/usr/bin/python3", os.path.join(HERE, "torch_step.py")] + cfg + B + ["--threads", str(t)],
                     lambda t: ["/usr/bin/python3", os.path.join(HERE, "torch_generate.py")] + cfg +
                     ["--steps", str(a.steps), "--threads", str(t)]),
    }
    ours_step = [a.tessera, "bench", "step", "--config", a.model_yaml, "--batch", str(a.batch)]
    ours_gen = [a.tessera, "bench", "generate", "--config", a.model_yaml, "--steps", str(a.steps)]
    # tessera's bf16 mode (GEMM operands in bf16, fp32 accumulation) as a row of its own where the
    # CPU has AVX512-BF16: a one-step probe is refused (exit 2) elsewhere
    variants = {"tessera": []}
    probe = subprocess.run(ours_step[:5] + ["--batch", "1", "--iters", "1", "run.precision=bf16"],
                           capture_output=True, text=True)
    if probe.returncode == 0:
        variants["tessera-bf16"] = ["run.precision=bf16"]
        # and PyTorch 2 as a user of such a CPU would run it: the same compiled model under autocast(bf16)
        ac = ["--autocast", "bf16"]
        peers["pytorch2-bf16"] = (lambda t: peers["pytorch2"][0](t) + ac, lambda t: peers["pytorch2"][1](t) + ac)
    else:
        print("  (no bf16 row: %s)" % (probe.stderr.strip().splitlines() or ["?"])[-1], flush=True)
    log = []

    def record(tag, res):
        res = dict(res, run=tag)
        log.append(res)
        print("  " + json.dumps(res), flush=True)
        return res

    # The model check: same computation as the reference (and so as tessera), same FLOPs.
    chk, rc = run_json(peer2 + ["check"] + cfg + B, allow_fail=True)
    record("check", chk)
    if rc != 0:
        sys.exit("peers: the compiled PyTorch 2 peer does not compute the reference model (see rel_err)")

    steps = {(p, t): [] for p in [*variants, *peers] for t in threads}
    for r in range(a.rounds):
        for name, extra in variants.items():
            for t in threads:
                steps[(name, t)].append(record("step round %d" % (r + 1), dict(
                    run_json(ours_step + extra, threads=t)[0], threads=t)))
        for p, (cmd, _) in peers.items():
            for t in threads:
                steps[(p, t)].append(record("step round %d" % (r + 1), run_json(cmd(t))[0]))

    gens = {(p, t): [] for p in [*variants, *peers] for t in threads}
    for r in range(a.rounds):
        for name, extra in variants.items():
            for t in threads:
                gens[(name, t)].append(record("generate round %d" % (r + 1), dict(
                    run_json(ours_gen + extra, threads=t)[0], threads=t)))
        for p, (_, cmd) in peers.items():
            for t in threads:
                gens[(p, t)].append(record("generate round %d" % (r + 1), dict(run_json(cmd(t))[0], threads=t)))

    def best(p, key, runs=steps):
        return min(threads, key=lambda t: median_of(runs[(p, t)], key))

    best_t = {p: best(p, "train_step_ms") for p in [*variants, *peers]}

    ours = steps[("tessera", best_t["tessera"])]
    last = ours[-1]
    p2 = steps[("pytorch2", best_t["pytorch2"])][-1]
    names = {"tessera": "tessera", "tessera-bf16": "tessera, bf16 GEMM operands (run.precision=bf16)",
             "pytorch2": "PyTorch %s (PyPI), torch.compile, SDPA, %s AdamW" % (p2["torch"].split("+")[0], p2["adamw"]),
             "pytorch2-bf16": "PyTorch %s, the same, under torch.autocast(bf16)" % p2["torch"].split("+")[0],
             "pytorch1": "PyTorch 1.13 (Debian), eager, OpenBLAS"}
    def row(p):
        bt, bd, bg = best(p, "train_step_ms"), best(p, "denoise_step_ms"), best(p, "seconds_per_clip", gens)
        return {"train_step_ms": median_of(steps[(p, bt)], "train_step_ms"), "train_threads": bt,
                "denoise_step_ms": median_of(steps[(p, bd)], "denoise_step_ms"), "denoise_threads": bd,
                "seconds_per_clip": median_of(gens[(p, bg)], "seconds_per_clip"), "generate_threads": bg,
                "peak_rss_mb": max(median_of(steps[(p, t)], "peak_rss_mb") for t in threads)}

    summary = {"model": last["model"], "batch": a.batch, "cpu": cpu_name(), "rounds": a.rounds, "threads": threads}
    us = summary["tessera"] = row("tessera")
    out = ["%s batch %d, %s (%d CPUs), float32 but the bf16 rows; medians of %d interleaved rounds (each value a process's median "
           "step), each at its fastest thread count of %s; xN = its time (or memory) / tessera's"
           % (last["model"], a.batch, cpu_name(), os.cpu_count(), a.rounds, "/".join(map(str, threads))),
           "  tessera: %.1f GFLOP/step, MFU %.1f%% of %.0f GFLOP/s (%s); GEMM %s %.0f GFLOP/s at 1024^3"
           % (last["gflop_per_step"], 100 * last["mfu"], last["peak_gflops"], last["peak"], last["gemm"],
              last["gemm_gflops"]),
           "  %-56s %16s %16s %22s %16s" % ("", "train step", "denoise step", "clip (%d steps, CFG)" % a.steps,
                                              "peak RSS")]
    for p in [*variants, *peers]:
        r = summary[p] = row(p)
        x = (lambda k: "" if p == "tessera" else " x%.2f" % (r[k] / us[k]))
        out.append("  %-56s %10.1f ms%-6s %10.1f ms%-6s %14.2f s%-6s %10.0f MB%-6s" % (
            names[p], r["train_step_ms"], x("train_step_ms"), r["denoise_step_ms"], x("denoise_step_ms"),
            r["seconds_per_clip"], x("seconds_per_clip"), r["peak_rss_mb"], x("peak_rss_mb")))
        out.append("  %-56s %13s %16s %22s" % ("  threads", r["train_threads"], r["denoise_threads"],
                                               r["generate_threads"]))
        if p != "tessera":
            for k in ("train_step_ms", "denoise_step_ms", "seconds_per_clip", "peak_rss_mb"):
                r["ratio_" + k] = r[k] / us[k]
    if "tessera-bf16" in summary:
        b = summary["tessera-bf16"]
        for p in ("pytorch2", "pytorch2-bf16"):
            p2r = summary[p]
            r = summary["ratio_%s_over_tessera_bf16" % p] = {
                k: p2r[k] / b[k] for k in ("train_step_ms", "denoise_step_ms", "seconds_per_clip", "peak_rss_mb")}
            out.append("  %s / tessera bf16: train x%.2f, denoise x%.2f, clip x%.2f, memory x%.2f" % (
                "PyTorch 2 compiled" + (", autocast bf16," if p.endswith("bf16") else ", fp32,"),
                r["train_step_ms"], r["denoise_step_ms"], r["seconds_per_clip"], r["peak_rss_mb"]))
        out.append("  (tessera bf16 against its bf16 peak: MFU %.1f%%)"
                   % (100 * steps[("tessera-bf16", best_t["tessera-bf16"])][-1]["mfu"]))
    p2 = steps[("pytorch2", best_t["pytorch2"])]
    out.append("  PyTorch 2 compile time (apart from the timings): train %.0f s, denoise %.0f s, generate %.0f s; "
               "RSS high-water of its timed steps alone %.0f MB" % (
                   median_of(p2, "compile_train_s"), median_of(p2, "compile_denoise_s"),
                   median_of(gens[("pytorch2", best("pytorch2", "seconds_per_clip", gens))], "compile_s"), median_of(p2, "steady_rss_mb") or float("nan")))
    fl = chk["train_gflop_per_step"]
    out.append("  same model: %s parameters; training step %.3f GFLOP (torch FlopCounterMode: matmuls and attention, "
               "forward + backward) vs tessera %.3f (ratio %.4f); compiled peer vs eager reference, same weights: "
               "max rel err %s (tol %g)" % (f"{chk['params']:,}", fl, last["gflop_per_step"], fl / last["gflop_per_step"],
                                            max(chk["rel_err"].values()), chk["tol"]))
    summary["check"] = chk
    print("\n".join(out), flush=True)
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        tmp = a.out + ".tmp"
        with open(tmp, "w") as fh:
            for res in log:
                fh.write(json.dumps(res) + "\n")
            fh.write(json.dumps({"summary": summary, "table": out}) + "\n")
        os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
