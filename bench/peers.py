#!/usr/bin/python3
"""tessera against its PyTorch peers, interleaved in one run (make bench).

    bench/peers.py --model-yaml configs/model/tiny.yaml [--batch 4] [--rounds 3]
                   [--threads "1 2"] [--steps 30] [--venv .bench-venv] [--out F]

Peers: PyTorch 2 from PyPI with torch.compile, SDPA and fused AdamW
(bench/torch2_peer.py, in the virtual environment of `make bench-peer`) and
Debian's PyTorch 1.13, eager, on OpenBLAS (bench/torch_step.py,
bench/torch_generate.py). Each round runs tessera, then every peer at every
thread count of --threads, as separate processes; a process reports the median
of its timed steps; the table shows the median over the rounds, for each peer
at its fastest thread count (named). Generation (one clip, --steps Euler steps,
CFG) runs the same way with each peer at the thread count of its fastest train
step. First, torch2_peer.py check: the compiled peer against the eager reference
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


def run_json(cmd, allow_fail=False):
    """Run cmd; return (its last JSON line on stdout, exit code). When it fails (or,
    with allow_fail, prints no JSON), show the tail of its stderr and exit."""
    p = subprocess.run(cmd, capture_output=True, text=True)
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

    steps = {"tessera": []}
    steps.update({(p, t): [] for p in peers for t in threads})
    for r in range(a.rounds):
        steps["tessera"].append(record("step round %d" % (r + 1), run_json(ours_step)[0]))
        for p, (cmd, _) in peers.items():
            for t in threads:
                steps[(p, t)].append(record("step round %d" % (r + 1), run_json(cmd(t))[0]))

    def best(p, key):
        return min(threads, key=lambda t: median_of(steps[(p, t)], key))

    best_t = {p: best(p, "train_step_ms") for p in peers}
    gens = {"tessera": [], **{p: [] for p in peers}}
    for r in range(a.rounds):
        gens["tessera"].append(record("generate round %d" % (r + 1), run_json(ours_gen)[0]))
        for p, (_, cmd) in peers.items():
            gens[p].append(record("generate round %d" % (r + 1), run_json(cmd(best_t[p]))[0]))

    ours = steps["tessera"]
    t_train, t_den = median_of(ours, "train_step_ms"), median_of(ours, "denoise_step_ms")
    t_gen, t_rss = median_of(gens["tessera"], "seconds_per_clip"), median_of(ours, "peak_rss_mb")
    last = ours[-1]
    names = {"pytorch2": "PyTorch %s, torch.compile, SDPA, %s AdamW" % (steps[("pytorch2", threads[0])][0]["torch"],
                                                                      steps[("pytorch2", threads[0])][0]["adamw"]),
             "pytorch1": "PyTorch 1.13 (Debian), eager, OpenBLAS"}
    out = ["%s batch %d, %s (%d CPUs), float32; medians of %d interleaved rounds, each round's value the median of "
           "its steps; speed-up = peer time / tessera time" % (last["model"], a.batch, cpu_name(), os.cpu_count(), a.rounds),
           "  tessera: %.1f ms/step, %.1f GFLOP/step, MFU %.1f%% of %.0f GFLOP/s (%s); GEMM %s %.0f GFLOP/s at 1024^3"
           % (t_train, last["gflop_per_step"], 100 * last["mfu"], last["peak_gflops"], last["peak"], last["gemm"],
              last["gemm_gflops"]),
           "  %-46s %16s %16s %22s %16s" % ("", "train step", "denoise step", "clip (%d steps, CFG)" % a.steps,
                                              "peak RSS")]
    out.append("  %-46s %13.1f ms %13.1f ms %20.2f s %13.0f MB" % ("tessera (%s threads)" % os.environ.get(
        "OMP_NUM_THREADS", os.cpu_count()), t_train, t_den, t_gen, t_rss))
    summary = {"model": last["model"], "batch": a.batch, "cpu": cpu_name(), "rounds": a.rounds,
               "tessera": {"train_step_ms": t_train, "denoise_step_ms": t_den, "seconds_per_clip": t_gen,
                           "peak_rss_mb": t_rss}}
    for p in peers:
        bt, bd = best(p, "train_step_ms"), best(p, "denoise_step_ms")
        tr, de = median_of(steps[(p, bt)], "train_step_ms"), median_of(steps[(p, bd)], "denoise_step_ms")
        ge = median_of(gens[p], "seconds_per_clip")
        rss = max(median_of(steps[(p, t)], "peak_rss_mb") for t in threads)
        out.append("  %-46s %8.1f ms x%.2f %8.1f ms x%.2f %14.2f s x%.2f %8.0f MB x%.2f" % (
            names[p], tr, tr / t_train, de, de / t_den, ge, ge / t_gen, rss, rss / t_rss))
        out.append("  %-46s %13s %16s %22s" % ("  fastest thread count", "%d" % bt, "%d" % bd, "%d" % best_t[p]))
        summary[p] = {"train_step_ms": tr, "train_threads": bt, "denoise_step_ms": de, "denoise_threads": bd,
                      "seconds_per_clip": ge, "generate_threads": best_t[p], "peak_rss_mb": rss,
                      "speedup_train": tr / t_train, "speedup_denoise": de / t_den, "speedup_clip": ge / t_gen,
                      "rss_ratio": rss / t_rss}
    p2 = steps[("pytorch2", best_t["pytorch2"])]
    out.append("  PyTorch 2 compile time (apart from the timings): train %.0f s, denoise %.0f s, generate %.0f s; "
               "RSS high-water of its timed steps alone %.0f MB" % (
                   median_of(p2, "compile_train_s"), median_of(p2, "compile_denoise_s"),
                   median_of(gens["pytorch2"], "compile_s"), median_of(p2, "steady_rss_mb") or float("nan")))
    fl = chk["train_gflop_per_step"]
    out.append("  same model: %s parameters; training step %.3f GFLOP (torch FlopCounterMode: matmuls and attention, "
               "forward + backward) vs tessera %.3f (ratio %.4f); compiled peer vs eager reference, same weights: "
               "max rel err %s (tol %g)" % (f"{chk['params']:,}", fl, last["gflop_per_step"], fl / last["gflop_per_step"],
                                            max(chk["rel_err"].values()), chk["tol"]))
    summary["check"] = chk
    print("\n".join(out))
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as fh:
            for res in log:
                fh.write(json.dumps(res) + "\n")
            fh.write(json.dumps({"summary": summary, "table": out}) + "\n")
        os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
