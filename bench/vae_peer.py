#!/usr/bin/python3
"""PyTorch peer of `make bench`'s autoencoder line: the reference VAE of
tests/ref/vae.py (written from docs/vae.md) in float32, eval mode, no grad,
encoding a clip to its posterior mean and decoding a latent of the same
clip, whole clip at once (the reference has no chunking). Best of --rounds.

    /usr/bin/python3 bench/vae_peer.py --config configs/vae/demo.yaml --frames 97 --size 64 --threads 2

Prints one JSON line: {"torch", "threads", "frames", "size", "encode_fps", "decode_fps"}.
"""
import argparse
import json
import os
import sys
import time

import torch
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from vae import TesseraVAE  # noqa: E402


def best(fn, rounds):
    t = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--frames", type=int, default=97)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = yaml.safe_load(open(a.config))["vae"]
    m = TesseraVAE(cfg).float().eval()
    ct = 2 ** sum(cfg["temporal_down"])
    cs = 2 ** (len(cfg["channel_mult"]) - 1)
    assert (a.frames - 1) % ct == 0 and a.size % cs == 0, "clip does not fit the compression"
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, cfg["in_channels"], a.frames, a.size, a.size, generator=g) * 2 - 1
    with torch.no_grad():
        z = m.encode(x)[:, :cfg["latent_channels"]].contiguous()
        te = best(lambda: m.encode(x), a.rounds)
        td = best(lambda: m.decode(z), a.rounds)
    print(json.dumps(dict(torch=torch.__version__, threads=a.threads, frames=a.frames, size=a.size,
                          encode_fps=round(a.frames / te, 2), decode_fps=round(a.frames / td, 2))))


if __name__ == "__main__":
    main()
