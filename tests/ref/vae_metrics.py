#!/usr/bin/env python3
# usage: vae_metrics.py CLIPS.h5 EVAL.json  (tessera vae eval --dump): recomputes
# every clip's PSNR and SSIM and compares them with eval.json (exit 1 beyond
# 1e-4 dB / 1e-5).
# Independent PSNR and SSIM (scikit-image's formulas, written again in numpy):
# the Gaussian-weighted moments come from filtering the whole frame with
# reflect padding (as skimage's gaussian filter does), then the border of
# (win-1)/2 is cropped before the mean -- a different route from the C code's
# valid-window loop.
import sys, json, h5py, numpy as np
def gauss_filter(img, sigma=1.5, r=5):
    g = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma * sigma)); g /= g.sum()
    p = np.pad(img, r, mode='symmetric')
    h = sum(g[i] * p[:, i:i + img.shape[1]] for i in range(2 * r + 1))
    return sum(g[i] * h[i:i + img.shape[0], :] for i in range(2 * r + 1))
def ssim2d(a, b):
    C1, C2 = 0.01 ** 2, 0.03 ** 2
    ux, uy = gauss_filter(a), gauss_filter(b)
    vx = gauss_filter(a * a) - ux * ux; vy = gauss_filter(b * b) - uy * uy; vxy = gauss_filter(a * b) - ux * uy
    S = (2 * ux * uy + C1) * (2 * vxy + C2) / ((ux ** 2 + uy ** 2 + C1) * (vx + vy + C2))
    return S[5:-5, 5:-5].mean()
f = h5py.File(sys.argv[1]); X = f['input'][()].astype(np.float64); Y = f['recon'][()].astype(np.float64)
ev = json.load(open(sys.argv[2]))['per_clip']
worst = 0
for i in range(X.shape[0]):
    x, y = (X[i] + 1) / 2, (Y[i] + 1) / 2
    psnr = 10 * np.log10(1 / np.mean((x - y) ** 2))
    ssim = np.mean([ssim2d(x[t, :, :, c], y[t, :, :, c]) for t in range(x.shape[0]) for c in range(x.shape[3])])
    dp, ds = abs(psnr - ev[i]['psnr']), abs(ssim - ev[i]['ssim'])
    print(f"clip {i}: psnr {psnr:.5f} vs {ev[i]['psnr']:.5f}, ssim {ssim:.6f} vs {ev[i]['ssim']:.6f}")
    worst = max(worst, dp / 1e-4, ds / 1e-5)
sys.exit(0 if worst <= 1 else 1)
