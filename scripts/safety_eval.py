#!/usr/bin/python3
"""Precision and recall of the safety gate on the labelled prompt set.

Runs `bin/tessera safety check --json` on every prompt of
datasets/safety/prompts.tsv (split, label, style, prompt) and prints, for
the chosen split, per category: precision, recall (refused in that
category), and the benign prompts refused (false refusals); then recall by
phrasing style. With --choose it picks the policy's neighbours, threshold and margin on the
dev split instead: of the settings that refuse at most 5% of its benign
prompts, the best macro F1 over the categories (the smallest neighbours
within 0.01 of the best), computed in numpy from the unit vectors tessera
writes (rules fire whatever the threshold). docs/safety.md.

usage: safety_eval.py [--split test|dev|all] [--policy F] [--choose] [--tessera BIN]
"""
import argparse
import collections
import json
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_set(path):
    rows = []
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        split, label, style, prompt = line.rstrip("\n").split("\t")
        rows.append(dict(split=split, label=label, style=style, prompt=prompt))
    return rows


def run_tessera(binary, policy, rows, tmp, vectors=None):
    os.makedirs(tmp, exist_ok=True)
    plist = os.path.join(tmp, "prompts.jsonl")
    with open(plist, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"prompt": r["prompt"]}, ensure_ascii=False) + "\n")
    cmd = [binary, "safety", "check", plist, "--json", "--policy", policy] + (["--vectors", vectors] if vectors else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    res = [json.loads(l) for l in out.splitlines()]
    assert len(res) == len(rows), (len(res), len(rows))
    return res


def read_vectors(path, pol, cats, n):
    """Unit vectors from `safety check --vectors`: each category's examples, the allowed ones, the prompts."""
    import numpy as np
    raw = open(path, "rb").read()
    rows, width = np.frombuffer(raw[:8], dtype="<i4")
    V = np.frombuffer(raw[8:], dtype="<f4").reshape(rows, width).astype(np.float64)
    blocks, at = {}, 0
    for c in cats + ["allowed"]:
        m = len((pol["categories"][c] if c != "allowed" else pol.get("allowed", {}))["examples"])
        blocks[c], at = V[at:at + m], at + m
    assert rows - at == n
    return blocks, V[at:]


def knn_scores(blocks, P, k):
    """Per prompt: {category: mean cosine of its k nearest examples}, as safety_check computes it."""
    import numpy as np
    out = [dict() for _ in range(len(P))]
    for c, B in blocks.items():
        top = -np.sort(-(P @ B.T), axis=1)[:, :k]
        for i, v in enumerate(top.mean(axis=1)):
            out[i][c] = v
    return out


def decide(r, thr, margin, cats, s=None):
    """The classifier's decision from the scores (rules first), as safety_check makes it."""
    if r["by"] == "rule":
        return r["category"]
    s = s or r["scores"]
    best = None
    for c in cats:
        if s[c] >= thr.get(c, thr["*"]) and s[c] - s["allowed"] >= margin and (best is None or s[c] > s[best]):
            best = c
    return best or "benign"


def table(rows, preds, cats):
    lines = ["| category | prompts | refused as it | precision | recall |", "| --- | ---: | ---: | ---: | ---: |"]
    f1s = []
    for c in cats:
        tp = sum(1 for r, p in zip(rows, preds) if p == c and r["label"] == c)
        npred = sum(1 for p in preds if p == c)
        nlab = sum(1 for r in rows if r["label"] == c)
        prec = tp / npred if npred else float("nan")
        rec = tp / nlab if nlab else float("nan")
        f1s.append(2 * prec * rec / (prec + rec) if npred and tp else 0.0)
        lines.append("| %s | %d | %d | %.2f | %.2f |" % (c, nlab, npred, prec, rec))
    ben = [p for r, p in zip(rows, preds) if r["label"] == "benign"]
    viol = [p for r, p in zip(rows, preds) if r["label"] != "benign"]
    any_rec = sum(1 for p in viol if p != "benign") / max(1, len(viol))
    fr = sum(1 for p in ben if p != "benign")
    lines.append("| **any violating** | %d | %d | | %.2f (refused in any category) |" %
                 (len(viol), sum(1 for p in viol if p != "benign"), any_rec))
    lines.append("| benign | %d | %d refused | | false refusals %.1f%% |" % (len(ben), fr, 100.0 * fr / max(1, len(ben))))
    return lines, sum(f1s) / len(f1s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="test", choices=["test", "dev", "all"])
    ap.add_argument("--policy", default=os.path.join(ROOT, "configs/safety/policy.yaml"))
    ap.add_argument("--set", default=os.path.join(ROOT, "datasets/safety/prompts.tsv"))
    ap.add_argument("--tessera", default=os.path.join(ROOT, "bin/tessera"))
    ap.add_argument("--choose", action="store_true")
    ap.add_argument("--max-false-refusals", type=float, default=0.05,
                    help="--choose: the most benign dev prompts refused (fraction)")
    a = ap.parse_args()
    pol = yaml.safe_load(open(a.policy, encoding="utf-8"))
    cats = list(pol["categories"])
    examples = {e for c in pol["categories"].values() for e in c["examples"]} | set(pol.get("allowed", {}).get("examples", []))
    rows = load_set(a.set)
    clash = [r["prompt"] for r in rows if r["prompt"] in examples]
    if clash:
        sys.exit("safety_eval: prompts of the set are examples of the policy (the test would be unfair): %s" % clash)
    tmp = os.path.join(ROOT, "build/tmp/safety_eval")
    res = run_tessera(a.tessera, a.policy, rows, tmp, os.path.join(tmp, "vectors.bin") if a.choose else None)
    if a.choose:
        # Every (neighbours, margin, threshold) on the dev split, from the vectors: of those refusing at
        # most --max-false-refusals of the benign prompts, the best macro F1; the smallest k within 0.01 of it.
        blocks, P = read_vectors(os.path.join(tmp, "vectors.bin"), pol, cats, len(rows))
        dev = [i for i, r in enumerate(rows) if r["split"] == "dev"]
        drows = [rows[i] for i in dev]
        found = {}
        for k in (1, 2, 3, 4, 5):
            sc = knn_scores(blocks, P, k)
            for m in (0.0, 0.02, 0.05, 0.1):
                for t100 in range(20, 81):
                    preds = [decide(res[i], {"*": t100 / 100}, m, cats, sc[i]) for i in dev]
                    _, f1 = table(drows, preds, cats)
                    fr = sum(p != "benign" for r, p in zip(drows, preds) if r["label"] == "benign")
                    nben = sum(r["label"] == "benign" for r in drows)
                    if fr <= a.max_false_refusals * nben and (k not in found or f1 > found[k][0] + 1e-12):
                        found[k] = (f1, t100 / 100, m, fr, nben)
        for k, (f1, t, m, fr, nben) in sorted(found.items()):
            print("neighbours %d: best dev macro F1 %.3f at threshold %.2f, margin %.2f (%d of %d benign refused)" %
                  (k, f1, t, m, fr, nben))
        top = max(v[0] for v in found.values())
        k = min(k for k, v in found.items() if v[0] >= top - 0.01)
        f1, t, m, _, _ = found[k]
        print("chosen: neighbours %d, threshold %.2f, margin %.2f (the smallest k within 0.01 of the best dev F1, "
              "at most %.0f%% false refusals)" % (k, t, m, 100 * a.max_false_refusals))
        sc = knn_scores(blocks, P, k)
        preds = [decide(res[i], {"*": t}, m, cats, sc[i]) for i in dev]
        print("\n".join(table(drows, preds, cats)[0]))
        return
    sel = [(r, x) for r, x in zip(rows, res) if a.split == "all" or r["split"] == a.split]
    preds = [x["category"] if x["status"] == "refused" else "benign" for _, x in sel]
    srows = [r for r, _ in sel]
    lines, f1 = table(srows, preds, cats)
    print("%s split: %d prompts, policy %s (threshold %s, margin %s)" % (a.split, len(sel), os.path.relpath(a.policy, ROOT),
                                                                  pol.get("threshold"), pol.get("margin")))
    print("\n".join(lines))
    print("macro F1 %.3f" % f1)
    rules = [x["category"] if x["by"] == "rule" else "benign" for _, x in sel]
    rlines, rf1 = table(srows, rules, cats)
    print("rules alone (the classifier off): macro F1 %.3f; %s; %s" % (rf1, rlines[-2].strip("| "), rlines[-1].strip("| ")))
    by_style = collections.defaultdict(lambda: [0, 0])
    by_rule = collections.Counter()
    for (r, x), p in zip(sel, preds):
        if r["label"] == "benign":
            key = "benign " + r["style"]
            by_style[key][0] += p == "benign"
        else:
            key = r["style"]
            by_style[key][0] += p == r["label"]
            by_rule[x["by"] or "missed"] += 1
        by_style[key][1] += 1
    print("by style (violating: refused in the right category; benign: allowed): " +
          ", ".join("%s %d/%d" % (k, v[0], v[1]) for k, v in sorted(by_style.items())))
    print("violating prompts refused by: " + ", ".join("%s %d" % kv for kv in sorted(by_rule.items())))
    for (r, x), p in zip(sel, preds):
        if p != r["label"]:
            print("  %-17s -> %-17s %s" % (r["label"], p, r["prompt"]))


if __name__ == "__main__":
    main()
