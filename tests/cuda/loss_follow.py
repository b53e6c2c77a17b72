#!/usr/bin/env python3
"""Does a training run's loss follow another's? (tests/cuda/run_on_gpu.sh)

    python3 tests/cuda/loss_follow.py CPU.log GPU.log [--tol 0.05]

Reads the `step <n> ... loss <x>` lines of `tessera train` from both logs and
compares the losses step by step: the mean relative difference over the last
quarter of the common steps must be within --tol (bf16 GEMMs on the GPU
against the fp32 CPU run; the data and noise are the same by seed). Prints
one line; exit 1 when they do not follow, 2 when a log has no loss lines.
"""
import argparse
import re
import sys


def losses(path):
    out = {}
    pat = re.compile(r"\bstep\s+(\d+)\b.*?\bloss\s+([-+0-9.eE]+|nan|inf)")
    for line in open(path, errors="replace"):
        m = pat.search(line)
        if m:
            out[int(m.group(1))] = float(m.group(2))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ref_log")
    ap.add_argument("log")
    ap.add_argument("--tol", type=float, default=0.05)
    a = ap.parse_args()
    tol = a.tol
    ref, got = losses(a.ref_log), losses(a.log)
    steps = sorted(set(ref) & set(got))
    if not steps:
        print("no common `step N ... loss X` lines (cpu %d, gpu %d)" % (len(ref), len(got)))
        return 2
    tail = steps[len(steps) - max(1, len(steps) // 4):]
    diff = sum(abs(got[s] - ref[s]) / max(abs(ref[s]), 1e-12) for s in tail) / len(tail)
    ok = diff <= tol
    print("loss follows the CPU run: %s (steps %d..%d: cpu %.4f -> %.4f, gpu %.4f -> %.4f; mean rel diff over "
          "the last %d steps %.2e, tol %.0e)" % ("yes" if ok else "NO", steps[0], steps[-1], ref[steps[0]],
                                                  ref[steps[-1]], got[steps[0]], got[steps[-1]], len(tail), diff, tol))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
