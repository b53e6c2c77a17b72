#!/usr/bin/python3
"""Independent PyTorch reference of tessera's causal 3D video autoencoder,
written from docs/vae.md alone (not from src/vae). float64 by default.

    TesseraVAE(cfg)            cfg: the docs/vae.md keys (dict)
      .encode(x)               x [B,C,T,H,W] -> moments [B,2Z,T',H',W']
      .decode(z)               z [B,Z,T',H',W'] -> x_hat [B,C,T,H,W]
      .loss(x, eps)            -> dict(out, moments, z, recon, kl, loss)
    doc_param_names(cfg)       the parameter-table order of docs/vae.md
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

EPS_NORM = 1e-6


class CausalConv(nn.Module):
    """Zero padding k-1 frames before (none after), (p0, p1) on each spatial axis, then Conv3d."""

    def __init__(self, cin, cout, k=3, stride=(1, 1, 1), pad=(1, 1)):
        super().__init__()
        self.k, self.pad = k, pad
        self.conv = nn.Conv3d(cin, cout, k, stride=stride, padding=0)

    def forward(self, x):
        p0, p1 = self.pad
        # F.pad order: (w_left, w_right, h_top, h_bottom, t_front, t_back)
        x = F.pad(x, (p0, p1, p0, p1, self.k - 1, 0))
        return self.conv(x)

    def params(self, prefix):
        return [(prefix + ".weight", self.conv.weight), (prefix + ".bias", self.conv.bias)]


def conv3(cin, cout):
    return CausalConv(cin, cout, 3, (1, 1, 1), (1, 1))


class Norm(nn.Module):
    """Frame-wise GroupNorm: statistics per (sample, group, frame) over the group's channels and h*w."""

    def __init__(self, c, groups):
        super().__init__()
        self.gn = nn.GroupNorm(groups, c, eps=EPS_NORM, affine=True)

    def forward(self, x):
        B, C, T, H, W = x.shape
        y = self.gn(x.transpose(1, 2).reshape(B * T, C, H, W))  # frames as images
        return y.reshape(B, T, C, H, W).transpose(1, 2)

    def params(self, prefix):
        return [(prefix + ".weight", self.gn.weight), (prefix + ".bias", self.gn.bias)]


class ResBlock(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1, self.conv1 = Norm(cin, groups), conv3(cin, cout)
        self.norm2, self.conv2 = Norm(cout, groups), conv3(cout, cout)
        self.skip = CausalConv(cin, cout, 1, (1, 1, 1), (0, 0)) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h

    def params(self, p):
        out = self.norm1.params(p + ".norm1") + self.conv1.params(p + ".conv1") + \
            self.norm2.params(p + ".norm2") + self.conv2.params(p + ".conv2")
        if self.skip is not None:
            out += self.skip.params(p + ".skip")
        return out


def causal_upsample(x, s):
    """Nearest x(s,2,2), causal in time: out[t] = in[ceil(t/s)], 1 + (T-1) s frames."""
    x = x.repeat_interleave(s, dim=2)[:, :, s - 1:]  # nearest xs in time, drop the first s-1 frames
    return x.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)


class TesseraVAE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        C, base, mult = cfg["in_channels"], cfg["base_channels"], cfg["channel_mult"]
        td, nres, Z, G = cfg["temporal_down"], cfg["res_blocks"], cfg["latent_channels"], cfg["groups"]
        L = len(mult)
        assert len(td) == L - 1
        ch = [base * m for m in mult]
        self.L, self.td, self.Z = L, td, Z
        self.enc_in = conv3(C, ch[0])
        self.enc_blocks = nn.ModuleList()
        self.enc_down = nn.ModuleList()
        prev = ch[0]
        for l in range(L):
            blocks = nn.ModuleList()
            for _ in range(nres):
                blocks.append(ResBlock(prev, ch[l], G))
                prev = ch[l]
            self.enc_blocks.append(blocks)
            if l < L - 1:
                self.enc_down.append(CausalConv(ch[l], ch[l], 3, (2 if td[l] else 1, 2, 2), (0, 1)))
        self.enc_mid = ResBlock(prev, prev, G)
        self.enc_norm = Norm(prev, G)
        self.enc_out = conv3(prev, 2 * Z)
        self.dec_in = conv3(Z, ch[L - 1])
        self.dec_mid = ResBlock(ch[L - 1], ch[L - 1], G)
        self.dec_blocks = nn.ModuleList()
        self.dec_up = nn.ModuleList()
        prev = ch[L - 1]
        for l in range(L - 1, -1, -1):
            blocks = nn.ModuleList()
            for _ in range(nres):
                blocks.append(ResBlock(prev, ch[l], G))
                prev = ch[l]
            self.dec_blocks.append(blocks)
            if l > 0:
                self.dec_up.append(conv3(ch[l], ch[l]))
        self.dec_norm = Norm(prev, G)
        self.dec_out = conv3(prev, C)

    def named_doc_params(self):
        """(name, tensor) in the docs/vae.md parameter-table order."""
        out = self.enc_in.params("encoder.conv_in")
        for l in range(self.L):
            for r, b in enumerate(self.enc_blocks[l]):
                out += b.params("encoder.down.%d.block.%d" % (l, r))
            if l < self.L - 1:
                out += self.enc_down[l].params("encoder.down.%d.downsample" % l)
        out += self.enc_mid.params("encoder.mid.block")
        out += self.enc_norm.params("encoder.norm_out")
        out += self.enc_out.params("encoder.conv_out")
        out += self.dec_in.params("decoder.conv_in")
        out += self.dec_mid.params("decoder.mid.block")
        for i, l in enumerate(range(self.L - 1, -1, -1)):
            for r, b in enumerate(self.dec_blocks[i]):
                out += b.params("decoder.up.%d.block.%d" % (l, r))
            if l > 0:
                out += self.dec_up[i].params("decoder.up.%d.upsample.conv" % l)
        out += self.dec_norm.params("decoder.norm_out")
        out += self.dec_out.params("decoder.conv_out")
        return out

    def encode(self, x):
        h = self.enc_in(x)
        for l in range(self.L):
            for b in self.enc_blocks[l]:
                h = b(h)
            if l < self.L - 1:
                h = self.enc_down[l](h)
        h = self.enc_mid(h)
        return self.enc_out(F.silu(self.enc_norm(h)))

    def decode(self, z):
        h = self.dec_mid(self.dec_in(z))
        for i, l in enumerate(range(self.L - 1, -1, -1)):
            for b in self.dec_blocks[i]:
                h = b(h)
            if l > 0:
                h = self.dec_up[i](causal_upsample(h, 2 if self.td[l - 1] else 1))
        return self.dec_out(F.silu(self.dec_norm(h)))

    def loss(self, x, eps):
        moments = self.encode(x)
        mean, logvar = moments[:, :self.Z], moments[:, self.Z:]
        lv = logvar.clamp(-30.0, 20.0)
        z = mean + torch.exp(0.5 * lv) * eps
        out = self.decode(z)
        recon = ((out - x) ** 2).mean()
        kl = (0.5 * (mean ** 2 + torch.exp(lv) - 1.0 - lv)).mean()
        loss = recon + self.cfg["kl_weight"] * kl
        return dict(out=out, moments=moments, z=z, recon=recon, kl=kl, loss=loss)


def doc_param_names(cfg):
    return [n for n, _ in TesseraVAE(cfg).named_doc_params()]


if __name__ == "__main__":
    # self-check: causality (frame 0 alone encodes to latent frame 0) and the latent grid
    torch.manual_seed(0)
    cfg = dict(in_channels=3, base_channels=8, channel_mult=[1, 2], temporal_down=[1], res_blocks=1,
               latent_channels=2, groups=4, kl_weight=0.1)
    m = TesseraVAE(cfg).double()
    x = torch.randn(1, 3, 5, 8, 8, dtype=torch.float64)
    mo = m.encode(x)
    assert mo.shape == (1, 4, 3, 4, 4), mo.shape
    m0 = m.encode(x[:, :, :1])
    assert torch.allclose(m0[:, :, 0], mo[:, :, 0]), "frame 0 is not encoded on its own"
    d = m.decode(mo[:, :2])
    assert d.shape == (1, 3, 5, 8, 8), d.shape
    assert torch.allclose(m.decode(mo[:, :2, :1])[:, :, 0], d[:, :, 0]), "latent frame 0 decodes on its own"
    print("vae.py selftest: ok (%d parameters)" % sum(p.numel() for p in m.parameters()))
