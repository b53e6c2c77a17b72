#!/usr/bin/env python3
"""The per-bucket eval table of scripts/buckets_demo.sh: one row per eval.json
(one bucket's shape), the single-object text-to-video totals (colour, shape,
motion over all motions, direction over left/right/up/down, consistency), in percent.
  scripts/buckets_table.py CKPT EVAL_JSON..."""
import json
import sys


def pct(v):
    return "  -  " if v is None else "%5.1f" % (100 * v)


ckpt, paths = sys.argv[1], sys.argv[2:]
print("checkpoint %s" % ckpt)
print("| bucket (T x H x W) | step | t2v videos | colour | shape | motion | direction | consistency |")
print("|---|---|---|---|---|---|---|---|")
for p in paths:
    d = json.load(open(p))
    one = d["totals"]["single_object_t2v"]
    h, w = d["size"]
    print("| %dx%dx%d | %d | %d | %s | %s | %s | %s | %s |" % (
        d["frames"], h, w, d["checkpoint_step"], one["videos"], pct(one["colour"]), pct(one["shape"]),
        pct(one["motion"]), pct(one["direction"]), pct(one["consistency"])))
