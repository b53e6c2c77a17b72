#!/usr/bin/python3
"""The safety classifier of tessera against numpy (tests/test_safety.sh).

Reads the policy (YAML), the unit sentence vectors tessera wrote
(`safety check --vectors`: int32 rows, int32 width, float32 rows: each
category's examples in order, the allowed examples, the prompts) and its
--json verdicts, and recomputes in float64: every vector has unit length;
the nearest example of each category and of the allowed list (index and
cosine, to 1e-5; the score is the mean cosine of the policy's `neighbours`
nearest); and the decision: refused when a rule fired, else by the category
whose score reaches its threshold and beats the allowed examples' score by
the margin (the highest such score), else allowed.

usage: check_classifier.py POLICY VECTORS VERDICTS.jsonl
"""
import json
import sys

import numpy as np
import yaml

TOL = 1e-5


def main():
    pol = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
    raw = open(sys.argv[2], "rb").read()
    rows, width = np.frombuffer(raw[:8], dtype="<i4")
    V = np.frombuffer(raw[8:], dtype="<f4").reshape(rows, width).astype(np.float64)
    verdicts = [json.loads(l) for l in open(sys.argv[3], encoding="utf-8")]
    cats = list(pol["categories"])
    blocks, at = {}, 0
    for c in cats:
        n = len(pol["categories"][c]["examples"])
        blocks[c], at = V[at:at + n], at + n
    n = len(pol.get("allowed", {}).get("examples", []))
    blocks["allowed"], at = V[at:at + n], at + n
    P = V[at:]
    assert len(P) == len(verdicts), (len(P), len(verdicts))
    norms = np.linalg.norm(V, axis=1)
    assert np.all(np.abs(norms - 1) < 1e-5), "vectors not of unit length: %s" % norms
    k = pol.get("neighbours", 1)
    worst = 0.0
    for p, v in zip(P, verdicts):
        best = None
        scores = {}
        for c in cats + ["allowed"]:
            cos = blocks[c] @ p
            i = int(np.argmax(cos))
            scores[c] = np.sort(cos)[::-1][:k].mean()
            worst = max(worst, abs(scores[c] - v["scores"][c]))
            assert abs(scores[c] - v["scores"][c]) < TOL, (v["prompt"], c, scores[c], v["scores"][c])
            assert i == v["nearest"][c] or abs(cos[v["nearest"][c]] - cos[i]) < TOL, (v["prompt"], c, i, v["nearest"][c])
        for c in cats:
            thr = pol["categories"][c].get("threshold", pol.get("threshold"))
            if scores[c] >= thr and scores[c] - scores["allowed"] >= pol.get("margin", 0) and \
                    (best is None or scores[c] > scores[best]):
                best = c
        if v["by"] == "rule":
            want = ("refused", v["category"])
        else:
            want = ("refused", best) if best else ("allowed", "")
        got = (v["status"], v["category"])
        assert got == want, "%r: tessera %s, numpy %s (scores %s)" % (v["prompt"], got, want, scores)
        if v["by"] == "example":
            ex = pol["categories"][best]["examples"][v["nearest"][best]]
            assert ex in v["reason"] and ("%.3f" % scores[best]) in v["reason"], (v["reason"], ex)
        print("ok  %-8s %-10s %-48s %s" % (v["status"], v["category"], v["prompt"][:48],
                                           " ".join("%s=%.3f" % (c[:6], s) for c, s in scores.items())))
    print("classifier: %d prompts, decisions equal numpy's, cosines within %.1e (tol %.0e)" % (len(P), worst, TOL))


if __name__ == "__main__":
    main()
