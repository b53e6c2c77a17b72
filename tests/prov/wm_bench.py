#!/usr/bin/env python3
"""Watermark statistics (docs/provenance.md), run on demand: `make wm-bench`.

Marked videos: N clips at tessera's own size (16x16, 8 frames, a coloured
shape moving on a plain background as the demo model draws them, marked at
16x16 then upscaled x16 to the 256x256 MP4 tessera writes) and N windows of
real video (Debian python3-imageio's sample videos, 16 frames at 256x256).
Each is marked with a random 32-bit payload by `tessera verify --embed`,
then attacked with the ffmpeg command line: libx264 CRF 28 re-encode, scaling
to half size, cropping 10% of each dimension (5% per side); `tessera verify
--json` reads the bits from the pixels. Unmarked: the same sources without
the mark, plus random-noise clips, counted as false detections when the
detector says "detected".

usage: wm_bench.py TESSERA OUTDIR [N [NOISE]]   (N marked videos of each kind, default 50;
       NOISE noise clips, default: enough for 220 unmarked videos in all)
"""
import json, os, subprocess, sys
import numpy as np

T = sys.argv[1]
out = sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 50
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
RES = "/usr/lib/python3/dist-packages/imageio/resources/images/"


def run(*a):
    subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def write_lossless(path, frames):
    t, h, w, _ = frames.shape
    p = subprocess.Popen(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                          "-r", "8", "-i", "-", "-c:v", "libx264rgb", "-crf", "0", path], stdin=subprocess.PIPE)
    p.communicate(frames.astype(np.uint8).tobytes())
    assert p.returncode == 0


def read(path):
    w, h = map(int, subprocess.check_output(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                             "stream=width,height", "-of", "csv=p=0", path], text=True).split(","))
    raw = subprocess.check_output(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def shape_clip():
    """16x16, 8 frames: a disc or square of a random colour moving across a plain background."""
    bg = rng.integers(0, 90, 3)
    fg = rng.integers(60, 256, 3)
    y, x = np.mgrid[0:16, 0:16]
    cy, cx = rng.uniform(4, 12, 2)
    vy, vx = rng.uniform(-1, 1, 2)
    r = rng.uniform(2.5, 4.5)
    sq = rng.random() < 0.5
    f = np.zeros((8, 16, 16, 3))
    for t in range(8):
        py, px = cy + vy * t, cx + vx * t
        m = (np.maximum(abs(y - py), abs(x - px)) < r) if sq else ((y - py) ** 2 + (x - px) ** 2 < r * r)
        f[t] = np.where(m[..., None], fg, bg)
    return f


sources = [read(RES + n) for n in ("cockatoo.mp4", "realshort.mp4")]


def real_clip():
    """16 frames, 256x256, a random window of a sample video (scaled so its short side is 256-320)."""
    v = sources[rng.integers(len(sources))]
    t0 = rng.integers(0, v.shape[0] - 16)
    h, w = v.shape[1:3]
    s = rng.uniform(256, 320) / min(h, w)
    hh, ww = int(h * s), int(w * s)
    y0, x0 = rng.integers(0, hh - 255), rng.integers(0, ww - 255)
    clip = v[t0:t0 + 16]
    # nearest-neighbour resample then crop (numpy only)
    yi = (np.arange(y0, y0 + 256) / s).astype(int).clip(0, h - 1)
    xi = (np.arange(x0, x0 + 256) / s).astype(int).clip(0, w - 1)
    return clip[:, yi][:, :, xi].astype(float)


ATTACKS = {"none": None, "crf28": ["-c:v", "libx264", "-crf", "28"], "half": ["-vf", "scale=iw/2:ih/2"],
           "crop10": ["-vf", "crop=trunc(iw*0.9/2)*2:trunc(ih*0.9/2)*2"]}


def detect(path):
    for _ in range(3):  # an MPI singleton start can fail on a loaded machine: try again
        r = subprocess.run([T, "verify", "--json", path], capture_output=True, text=True)
        try:
            return json.loads(r.stdout)["watermark"]
        except ValueError:
            err = r.stderr
    sys.exit("verify %s failed: %s" % (path, err[-300:]))


results = {}
unmarked = []
for kind, make, up in (("tessera 16x16 x16", shape_clip, 16), ("real 256x256", real_clip, 1)):
    acc = {a: [] for a in ATTACKS}
    det = {a: 0 for a in ATTACKS}
    psnr = {"marked": [], "unmarked": []}
    for i in range(N):
        src = f"{out}/src.mp4"
        clip = make()
        write_lossless(src, clip)
        payload = int(rng.integers(0, 2 ** 32))
        marked = f"{out}/marked.mp4"
        run(T, "verify", "--embed", "%08x" % payload, src, marked, "--upscale", str(up))
        for a, args in ATTACKS.items():
            p = marked
            if args:
                p = f"{out}/att.mp4"
                run("ffmpeg", "-v", "error", "-y", "-i", marked, *args, p)
            w = detect(p)
            got = int(w.get("payload", "0"), 16)
            acc[a].append(32 - bin(got ^ payload).count("1"))
            det[a] += bool(w.get("detected"))
        # the same clip unmarked (upscaled the same way) for the false-detection count
        plain = f"{out}/plain.mp4"
        run("ffmpeg", "-v", "error", "-y", "-i", src, "-vf", f"scale=iw*{up}:ih*{up}:flags=neighbor", "-c:v", "libx264",
            "-crf", "18", plain)
        unmarked.append(detect(plain))
        # what the mark costs: PSNR of the marked and of the unmarked encodes (both CRF 18) against the clip
        ref = np.repeat(np.repeat(clip, up, 1), up, 2)
        for key, path in (("marked", marked), ("unmarked", plain)):
            mse = ((read(path).astype(float) - ref) ** 2).mean()
            psnr[key].append(10 * np.log10(255 ** 2 / max(mse, 1e-9)))
    results[kind] = {a: {"bit_accuracy": sum(acc[a]) / (32.0 * N), "detected": det[a], "videos": N,
                         "min_bits": min(acc[a])} for a in ATTACKS}
    results[kind]["psnr_db"] = {k: float(np.mean(v)) for k, v in psnr.items()}
# more unmarked: noise clips and half-size / cropped unmarked real clips
NOISE = int(sys.argv[4]) if len(sys.argv) > 4 else max(0, 200 - len(unmarked)) + 20
for i in range(NOISE):
    p = f"{out}/noise.mp4"
    noise = rng.normal(128, rng.uniform(5, 60), (8, 64, 64, 3)).clip(0, 255)
    write_lossless(p, noise if i % 2 else np.repeat(np.repeat(noise[:, :16, :16], 4, 1), 4, 2))
    unmarked.append(detect(p))
fd = sum(bool(w.get("detected")) for w in unmarked)
print(json.dumps({"marked": results, "unmarked": {"videos": len(unmarked), "false_detections": fd,
                  "max_score": max(w.get("score", 0) for w in unmarked), "scores_over_half_threshold":
                  sum(w.get("score", 0) > 0.5 * w.get("threshold", 1e9) for w in unmarked),
                  "threshold": unmarked[0].get("threshold")}}, indent=1))
