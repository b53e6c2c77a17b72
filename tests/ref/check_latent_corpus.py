#!/usr/bin/python3
"""Check a latent corpus (`tessera data encode`) against an independent path.

    /usr/bin/python3 tests/ref/check_latent_corpus.py PIXELS.h5 VAE.h5 LATENT.h5
    /usr/bin/python3 tests/ref/check_latent_corpus.py --same A.h5 B.h5
    /usr/bin/python3 tests/ref/check_latent_corpus.py --codec CASE.h5 VAE.h5

First form: every clip of every bucket of PIXELS is put back into frames by a
numpy reshape of its uint8 patches, encoded by the PyTorch reference of the
autoencoder (tests/ref/vae.py, float64, weights from VAE.h5) to its posterior
mean, patchified by a numpy reshape with LATENT's patch size and compared
with LATENT's float16 patches (within float16 rounding); the per-channel
latent_mean / latent_std attributes are recomputed from the stored float16
values (float64, population std); vae_sha256 is hashlib's SHA-256 of VAE.h5;
captions, recaptions, tokens, meta/ and the vocabulary equal PIXELS'.
Second form: every dataset and attribute of A equals B's (a 2-rank file
against the 1-rank one). Third form (tests/unit/test_latent_codec.c): the
codec's uint8 frames equal (within one level) the reference decode of the
case's latent patches (numpy unpatchify, * std + mean), and its normalised
latents of the case's image and three frames the reference encode of them.
Prints `latent-corpus: PASS` or FAIL lines, exit 1.
"""
import hashlib
import os
import sys

import h5py
import numpy as np
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vae import TesseraVAE  # noqa: E402

bad = []


def unpatch(p, T, H, W, C, pt, ph, pw):
    """patches [n, N, P] -> clips [n, T, H, W, C] (tokens (t,h,w), vector (pt,ph,pw,C))."""
    n = p.shape[0]
    x = p.reshape(n, T // pt, H // ph, W // pw, pt, ph, pw, C)
    return x.transpose(0, 1, 4, 2, 5, 3, 6, 7).reshape(n, T, H, W, C)


def patch(x, pt, ph, pw):
    n, T, H, W, C = x.shape
    y = x.reshape(n, T // pt, pt, H // ph, ph, W // pw, pw, C).transpose(0, 1, 3, 5, 2, 4, 6, 7)
    return y.reshape(n, (T // pt) * (H // ph) * (W // pw), pt * ph * pw * C)


def walk(f):
    out = {}
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]
        out[name + "@attrs"] = {k: obj.attrs[k] for k in obj.attrs}
    f.visititems(visit)
    out["/@attrs"] = {k: f.attrs[k] for k in f.attrs}
    return out


def same(a, b):
    A, B = walk(h5py.File(a, "r")), walk(h5py.File(b, "r"))
    if sorted(A) != sorted(B):
        bad.append("objects differ: %s" % sorted(set(A) ^ set(B)))
    for k in sorted(set(A) & set(B)):
        x, y = A[k], B[k]
        if isinstance(x, dict):
            if sorted(x) != sorted(y) or any(not np.array_equal(np.asarray(x[i]), np.asarray(y[i])) for i in x):
                bad.append("%s differ" % k)
        elif not np.array_equal(x, y):
            bad.append("%s differs" % k)
    print("compared %d objects of %s and %s" % (len(A), a, b))


def load_vae(vae_path):
    V = h5py.File(vae_path, "r")
    cfg = yaml.safe_load(V.attrs["config"].decode())["vae"]
    torch.set_default_dtype(torch.float64)
    m = TesseraVAE(cfg)
    with torch.no_grad():
        for name, t in m.named_doc_params():
            t.copy_(torch.from_numpy(V["params/" + name][()].astype(np.float64)))
    return m, cfg


def codec(case, vae_path):
    m, cfg = load_vae(vae_path)
    c = h5py.File(case, "r")
    mean, std = c["mean"][()].astype(np.float64), c["std"][()].astype(np.float64)
    T, H, W, _ = c["frames"].shape
    ct, cs = 2 ** sum(cfg["temporal_down"]), 2 ** (len(cfg["channel_mult"]) - 1)
    t, h, w = 1 + (T - 1) // ct, H // cs, W // cs
    z = unpatch(c["patches"][()][None].astype(np.float64), t, h, w, len(mean), 1, 2, 2)[0] * std + mean
    with torch.no_grad():
        x = m.decode(torch.from_numpy(z).permute(3, 0, 1, 2)[None])[0].permute(1, 2, 3, 0).numpy()
    ref = np.clip((x + 1.0) * 127.5, 0, 255)
    d = np.abs(c["frames"][()].astype(np.float64) - ref)
    if d.max() > 1.0:
        bad.append("decoded frames differ from the reference by up to %.3g levels" % d.max())
    img = c["image"][()].astype(np.float64) / 127.5 - 1.0
    with torch.no_grad():
        mo = m.encode(torch.from_numpy(img).permute(2, 0, 1)[None, :, None])[0, :len(mean), 0].permute(1, 2, 0).numpy()
    e = np.abs(c["latent"][()] - (mo - mean) / std).max()
    if e > 1e-4:
        bad.append("the image's latent differs from the reference by %.3g" % e)
    clip = c["clip3"][()].astype(np.float64) / 127.5 - 1.0
    with torch.no_grad():
        mo3 = m.encode(torch.from_numpy(clip).permute(3, 0, 1, 2)[None])[0, :len(mean)].permute(1, 2, 3, 0).numpy()
    e3 = np.abs(c["latent3"][()] - (mo3 - mean) / std).max()
    if e3 > 1e-4:
        bad.append("three frames' latents differ from the reference by %.3g" % e3)
    e = max(e, e3)
    print("codec: frames within %.3f levels of the reference decode, image latent within %.2g" % (d.max(), e))


def check(pix, vae_path, lat):
    P, L = h5py.File(pix, "r"), h5py.File(lat, "r")
    m, cfg = load_vae(vae_path)
    ct = 2 ** sum(cfg["temporal_down"])
    cs = 2 ** (len(cfg["channel_mult"]) - 1)
    Z = cfg["latent_channels"]
    ppt, pph, ppw = (int(v) for v in P["tokenizer"].attrs["patch"])
    lpt, lph, lpw = (int(v) for v in L["tokenizer"].attrs["patch"])
    C = int(P["tokenizer"].attrs["channels"])
    if int(L["tokenizer"].attrs["channels"]) != Z:
        bad.append("channels %d, expected Z = %d" % (L["tokenizer"].attrs["channels"], Z))
    if list(L.attrs["vae_compression"]) != [ct, cs, cs]:
        bad.append("vae_compression %s, expected %s" % (list(L.attrs["vae_compression"]), [ct, cs, cs]))
    sha = hashlib.sha256(open(vae_path, "rb").read()).hexdigest()
    if L.attrs["vae_sha256"].decode() != sha:
        bad.append("vae_sha256 %s, expected %s" % (L.attrs["vae_sha256"], sha))
    if list(L["tokenizer/vocab/bytes"][()]) != list(P["tokenizer/vocab/bytes"][()]):
        bad.append("vocabulary differs")
    values, worst = [], 0.0
    names = sorted(k for k in P["buckets"] if P["buckets"][k].attrs["count"] > 0)
    for name in names:
        T, H, W = (int(v) for v in name.split("x"))
        t, h, w = 1 + (T - 1) // ct, H // cs, W // cs
        lname = "%dx%dx%d" % (t, h, w)
        if lname not in L["buckets"]:
            bad.append("bucket %s: no latent bucket %s" % (name, lname))
            continue
        pb, lb = P["buckets"][name], L["buckets"][lname]
        x = unpatch(pb["patches"][()].astype(np.float64) / 127.5 - 1.0, T, H, W, C, ppt, pph, ppw)
        with torch.no_grad():
            mom = m.encode(torch.from_numpy(x).permute(0, 4, 1, 2, 3))  # NCDHW
        ref = patch(mom[:, :Z].permute(0, 2, 3, 4, 1).numpy(), lpt, lph, lpw)
        got = lb["patches"][()]
        if got.dtype != np.float16 or got.shape != ref.shape:
            bad.append("bucket %s: patches %s %s, expected float16 %s" % (lname, got.dtype, got.shape, ref.shape))
            continue
        err = np.abs(got.astype(np.float64) - ref)
        tol = 2.0 ** -10 * np.abs(ref) + 1e-5  # float16 rounding (11 significant bits) and float32 arithmetic
        worst = max(worst, float((err / tol).max()))
        if (err > tol).any():
            bad.append("bucket %s: latent differs from the PyTorch encoder's by up to %.3g" % (lname, err.max()))
        values.append(got.astype(np.float64).reshape(-1, Z))
        for k in ("caption/bytes", "caption/offsets", "recaption/bytes", "recaption/offsets", "tokens", "ntokens",
                  "caption_tokens", "caption_ntokens", "meta/source/bytes", "meta/fps"):
            if not np.array_equal(pb[k][()], lb[k][()]):
                bad.append("bucket %s: %s not carried over" % (lname, k))
        for k in pb["meta"]:
            if isinstance(pb["meta"][k], h5py.Dataset) and not np.array_equal(pb["meta"][k][()], lb["meta"][k][()]):
                bad.append("bucket %s: meta/%s not carried over" % (lname, k))
    v = np.concatenate(values)
    mean, std = v.mean(0), v.std(0)
    if not np.allclose(L.attrs["latent_mean"], mean, rtol=1e-5, atol=1e-6):
        bad.append("latent_mean %s, numpy %s" % (L.attrs["latent_mean"], mean))
    if not np.allclose(L.attrs["latent_std"], std, rtol=1e-5, atol=1e-6):
        bad.append("latent_std %s, numpy %s" % (L.attrs["latent_std"], std))
    print("%d buckets, %d latent values; worst error %.2f of the float16 tolerance; mean %s std %s" %
          (len(names), v.size, worst, np.round(mean, 4), np.round(std, 4)))


if __name__ == "__main__":
    if sys.argv[1] == "--same":
        same(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "--codec":
        codec(sys.argv[2], sys.argv[3])
    else:
        check(sys.argv[1], sys.argv[2], sys.argv[3])
    for b in bad:
        print("FAIL", b)
    print("latent-corpus: %s" % ("FAIL" if bad else "PASS"))
    sys.exit(1 if bad else 0)
