"""Independent PyTorch reference of the tessera model (docs/model.md).

Written from docs/model.md only. Parameter names (state-dict keys) are exactly
the names of docs/model.md, so a C parameter table maps 1:1 onto
TesseraDiT.state_dict().

    cfg = normalize_config({...})          # dict, keys below
    m = TesseraDiT(cfg)                    # float32; m.double() for float64
    out = m(x, t, tokens, ntokens, cond)   # [B,N,P]
    loss = m.loss(out, target, cond)

Config keys: frames, height, width, channels, patch [pt,ph,pw], dim, depth,
heads, mlp_ratio, text_length, text_layers, vocab, rope [rt,rh,rw] (optional,
derived as in docs/model.md), freq_dim (optional, 256). A YAML-style model
mapping (video:{...}, text:{length,layers,vocab}) is accepted as well.

Requires torch >= 1.13 (Debian python3-torch); run with /usr/bin/python3.
"""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-6

_DERIVED_KEYS = {"name", "head_dim", "tokens", "patch_dim", "grid_t", "grid_h", "grid_w"}
_KEY_ORDER = ["frames", "height", "width", "channels", "patch", "dim", "depth", "heads",
              "mlp_ratio", "text_length", "text_layers", "vocab", "rope", "freq_dim"]
_KEYS = set(_KEY_ORDER)


def default_rope(hd):
    rh = 2 * ((3 * hd) // 16)
    return [hd - 2 * rh, rh, rh]


def normalize_config(c):
    """Return a complete flat config dict from a flat or YAML-style mapping."""
    if isinstance(c, str):
        c = json.loads(c)
    c = dict(c)
    if "video" in c:  # YAML model section layout
        v = c.pop("video")
        for k in ("frames", "height", "width", "channels"):
            c[k] = v[k]
    if "text" in c:
        tx = c.pop("text")
        c["text_length"] = tx["length"]
        c["text_layers"] = tx["layers"]
        c["vocab"] = tx["vocab"]
    for k in ("pt", "ph", "pw"):
        if k in c:
            c.setdefault("patch", [c.get("pt"), c.get("ph"), c.get("pw")])
            c.pop(k)
    predict = c.pop("predict", "v")  # what the network outputs: "v" velocity or "x" clean video
    assert predict in ("v", "x"), "predict must be v or x"
    unknown = set(c) - _KEYS - _DERIVED_KEYS
    if unknown:
        raise ValueError("unknown model config keys: %s" % sorted(unknown))
    out = {k: c[k] for k in _KEY_ORDER if k in c}
    missing = _KEYS - {"rope", "freq_dim"} - set(out)
    if missing:
        raise ValueError("missing model config keys: %s" % sorted(missing))
    out["patch"] = [int(v) for v in out["patch"]]
    for k in _KEYS - {"patch", "rope"}:
        if k in out:
            out[k] = int(out[k])
    out.setdefault("freq_dim", 256)
    assert out["dim"] % out["heads"] == 0, "dim must be divisible by heads"
    hd = out["dim"] // out["heads"]
    if out.get("rope") is None:
        out["rope"] = default_rope(hd)
    out["rope"] = [int(v) for v in out["rope"]]
    assert sum(out["rope"]) == hd and all(r % 2 == 0 for r in out["rope"]), \
        "rope split must be even parts summing to head_dim"
    pt, ph, pw = out["patch"]
    assert out["frames"] % pt == 0 and out["height"] % ph == 0 and out["width"] % pw == 0
    assert out["freq_dim"] % 2 == 0
    out["predict"] = predict
    return out


def grid(cfg):
    pt, ph, pw = cfg["patch"]
    return cfg["frames"] // pt, cfg["height"] // ph, cfg["width"] // pw


def patchify(video, patch):
    """[B,T,H,W,C] -> [B,N,P]; token order (t,h,w), patch vector order (pt,ph,pw,C)."""
    B, T, H, W, C = video.shape
    pt, ph, pw = patch
    x = video.reshape(B, T // pt, pt, H // ph, ph, W // pw, pw, C)
    x = x.permute(0, 1, 3, 5, 2, 4, 6, 7)  # B, gt, gh, gw, pt, ph, pw, C
    return x.reshape(B, (T // pt) * (H // ph) * (W // pw), pt * ph * pw * C)


def unpatchify(x, patch, frames, height, width, channels):
    """[B,N,P] -> [B,T,H,W,C] (inverse of patchify)."""
    B = x.shape[0]
    pt, ph, pw = patch
    gt, gh, gw = frames // pt, height // ph, width // pw
    x = x.reshape(B, gt, gh, gw, pt, ph, pw, channels)
    x = x.permute(0, 1, 4, 2, 5, 3, 6, 7)  # B, gt, pt, gh, ph, gw, pw, C
    return x.reshape(B, frames, height, width, channels)


def timestep_sinusoid(s, freq_dim):
    """s [B] (already scaled, i.e. 1000*t) -> [B,F]: cos half then sin half."""
    half = freq_dim // 2
    i = torch.arange(half, dtype=torch.float64, device=s.device)
    f = torch.exp(-math.log(10000.0) * i / half).to(s.dtype)
    a = s[:, None] * f[None, :]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1)


def rope_angles(gt, gh, gw, rope):
    """Angles [N, hd/2] (float64): column j is the angle of pair (2j,2j+1) of the head dim."""
    n = torch.arange(gt * gh * gw, dtype=torch.int64)
    pos = [n // (gh * gw), (n // gw) % gh, n % gw]
    cols = []
    for a in range(3):
        r = rope[a]
        i = torch.arange(r // 2, dtype=torch.float64)
        theta = torch.pow(torch.tensor(10000.0, dtype=torch.float64), -2.0 * i / r)
        cols.append(pos[a].to(torch.float64)[:, None] * theta[None, :])
    return torch.cat(cols, dim=1)


def apply_rope(x, cos, sin):
    """x [..., N, hd]; cos/sin [N, hd/2]. Rotates pairs (2i, 2i+1)."""
    shp = x.shape
    xp = x.reshape(*shp[:-1], shp[-1] // 2, 2)
    x0, x1 = xp[..., 0], xp[..., 1]
    y0 = x0 * cos - x1 * sin
    y1 = x0 * sin + x1 * cos
    return torch.stack([y0, y1], dim=-1).reshape(shp)


def apply_rope_complex(x, rot):
    """Same rotation as apply_rope, as a complex product: pair (x0,x1) is
    x0 + i*x1, rot = cos + i*sin [N, hd/2] (one kernel forward and backward)."""
    shp = x.shape
    xc = torch.view_as_complex(x.reshape(*shp[:-1], shp[-1] // 2, 2).contiguous())
    return torch.view_as_real(xc * rot).reshape(shp)


def rms_norm(x, weight):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + EPS) * weight


def attention(q, k, v, key_mask=None):
    """q [B,h,Nq,hd], k/v [B,h,Nk,hd]; key_mask [B,Nk] bool (True = attend)."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    s = torch.matmul(q * scale, k.transpose(-1, -2))
    if key_mask is not None:
        s = s.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    p = torch.softmax(s, dim=-1)
    return torch.matmul(p, v)


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


class LayerNormAffine(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, EPS)


def ln_plain(x):
    return F.layer_norm(x, (x.shape[-1],), None, None, EPS)


def linear(i, o, zero=False):
    m = nn.Linear(i, o)
    if zero:
        nn.init.zeros_(m.weight)
    else:
        nn.init.xavier_uniform_(m.weight)
    nn.init.zeros_(m.bias)
    return m


class MLP(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1 = linear(d, hidden)
        self.fc2 = linear(hidden, d)

    def forward(self, x):
        return self.fc2(gelu_tanh(self.fc1(x)))


class TextAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = linear(d, 3 * d)
        self.proj = linear(d, d)

    def forward(self, h, key_mask):
        B, L, D = h.shape
        nh = self.heads
        q, k, v = self.qkv(h).reshape(B, L, 3, nh, D // nh).permute(2, 0, 3, 1, 4).unbind(0)
        o = attention(q, k, v, key_mask)
        return self.proj(o.transpose(1, 2).reshape(B, L, D))


class TextLayer(nn.Module):
    def __init__(self, d, heads, ratio):
        super().__init__()
        self.norm1 = LayerNormAffine(d)
        self.attn = TextAttention(d, heads)
        self.norm2 = LayerNormAffine(d)
        self.mlp = MLP(d, ratio * d)

    def forward(self, h, key_mask):
        h = h + self.attn(self.norm1(h), key_mask)
        h = h + self.mlp(self.norm2(h))
        return h


class TextEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, L = cfg["dim"], cfg["text_length"]
        self.tok_emb = nn.Embedding(cfg["vocab"], D)
        nn.init.normal_(self.tok_emb.weight, 0.0, 0.02)
        self.pos_emb = nn.Parameter(torch.randn(L, D) * 0.02)
        self.layers = nn.ModuleList(
            [TextLayer(D, cfg["heads"], cfg["mlp_ratio"]) for _ in range(cfg["text_layers"])])
        self.norm = LayerNormAffine(D)

    def forward(self, tokens, key_mask):
        h = self.tok_emb(tokens.long()) + self.pos_emb[None]
        for layer in self.layers:
            h = layer(h, key_mask)
        return self.norm(h)


class TimestepEmbed(nn.Module):
    def __init__(self, freq_dim, d):
        super().__init__()
        self.freq_dim = freq_dim
        self.fc1 = linear(freq_dim, d)
        self.fc2 = linear(d, d)

    def forward(self, t):
        return self.fc2(F.silu(self.fc1(timestep_sinusoid(1000.0 * t, self.freq_dim))))


class SelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        hd = d // heads
        self.qkv = linear(d, 3 * d)
        self.q_norm = nn.Module()
        self.q_norm.weight = nn.Parameter(torch.ones(hd))
        self.k_norm = nn.Module()
        self.k_norm.weight = nn.Parameter(torch.ones(hd))
        self.proj = linear(d, d)

    def forward(self, h, rot):
        B, N, D = h.shape
        nh = self.heads
        q, k, v = self.qkv(h).reshape(B, N, 3, nh, D // nh).permute(2, 0, 3, 1, 4).unbind(0)  # B,nh,N,hd
        q = apply_rope_complex(rms_norm(q, self.q_norm.weight), rot)
        k = apply_rope_complex(rms_norm(k, self.k_norm.weight), rot)
        o = attention(q, k, v)
        return self.proj(o.transpose(1, 2).reshape(B, N, D))


class CrossAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        hd = d // heads
        self.q = linear(d, d)
        self.kv = linear(d, 2 * d)
        self.q_norm = nn.Module()
        self.q_norm.weight = nn.Parameter(torch.ones(hd))
        self.k_norm = nn.Module()
        self.k_norm.weight = nn.Parameter(torch.ones(hd))
        self.proj = linear(d, d)

    def forward(self, h, ctx, key_mask):
        B, N, D = h.shape
        L = ctx.shape[1]
        nh, hd = self.heads, D // self.heads
        q = self.q(h).reshape(B, N, nh, hd).transpose(1, 2)
        k, v = self.kv(ctx).reshape(B, L, 2, nh, hd).permute(2, 0, 3, 1, 4).unbind(0)
        q = rms_norm(q, self.q_norm.weight)
        k = rms_norm(k, self.k_norm.weight)
        o = attention(q, k, v, key_mask)
        return self.proj(o.transpose(1, 2).reshape(B, N, D))


def select_variant(mod, sel):
    """mod [B,2,K] (variant 0: t, variant 1: t=0), sel [B,G] bool -> [B,G,K]
    (G = gt frames: every token of a latent frame uses the same variant)."""
    return torch.where(sel[:, :, None], mod[:, 1:2, :], mod[:, 0:1, :])


def per_frame(x, gt):
    """[B,N,D] -> [B,gt,N/gt,D] view (token n is in frame n / (gh*gw))."""
    B, N, D = x.shape
    return x.reshape(B, gt, N // gt, D)


def modulate(x, shift, scale):
    """x [B,N,D], shift/scale [B,gt,D] per frame -> x*(1+scale)+shift per token."""
    gt = shift.shape[1]
    return (per_frame(x, gt) * (1 + scale[:, :, None, :]) + shift[:, :, None, :]).reshape(x.shape)


def gated(gate, y):
    """gate [B,gt,D] per frame, y [B,N,D] -> gate ⊙ y per token."""
    return (gate[:, :, None, :] * per_frame(y, gate.shape[1])).reshape(y.shape)


class Block(nn.Module):
    def __init__(self, d, heads, ratio):
        super().__init__()
        self.adaLN = linear(d, 6 * d, zero=True)
        self.attn = SelfAttention(d, heads)
        self.norm2 = LayerNormAffine(d)
        self.cross = CrossAttention(d, heads)
        self.mlp = MLP(d, ratio * d)

    def forward(self, x, c_silu, sel, rot, ctx, key_mask):
        mod = select_variant(self.adaLN(c_silu), sel)  # [B,gt,6D]
        shift1, scale1, gate1, shift2, scale2, gate2 = mod.chunk(6, dim=-1)
        h = modulate(ln_plain(x), shift1, scale1)
        x = x + gated(gate1, self.attn(h, rot))
        x = x + self.cross(self.norm2(x), ctx, key_mask)
        h = modulate(ln_plain(x), shift2, scale2)
        x = x + gated(gate2, self.mlp(h))
        return x


class FinalLayer(nn.Module):
    def __init__(self, d, p):
        super().__init__()
        self.adaLN = linear(d, 2 * d, zero=True)
        self.linear = linear(d, p, zero=True)

    def forward(self, x, c_silu, sel):
        shift, scale = select_variant(self.adaLN(c_silu), sel).chunk(2, dim=-1)
        return self.linear(modulate(ln_plain(x), shift, scale))


class TesseraDiT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        cfg = normalize_config(cfg)
        self.cfg = cfg
        D = cfg["dim"]
        pt, ph, pw = cfg["patch"]
        self.gt, self.gh, self.gw = grid(cfg)
        self.N = self.gt * self.gh * self.gw
        self.P = pt * ph * pw * cfg["channels"]
        self.text = TextEncoder(cfg)
        self.x_embed = linear(self.P, D)
        self.t_embed = TimestepEmbed(cfg["freq_dim"], D)
        self.y_embed = linear(D, D)
        self.blocks = nn.ModuleList(
            [Block(D, cfg["heads"], cfg["mlp_ratio"]) for _ in range(cfg["depth"])])
        self.final = FinalLayer(D, self.P)
        ang = rope_angles(self.gt, self.gh, self.gw, cfg["rope"])
        # float64 tables; cast to the model dtype at use
        self.register_buffer("rope_cos", torch.cos(ang), persistent=False)
        self.register_buffer("rope_sin", torch.sin(ang), persistent=False)

    def token_frame(self):
        return torch.arange(self.N) // (self.gh * self.gw)

    def token_cond(self, cond):
        """cond [B,gt] -> bool [B,N]: token uses the t=0 variant."""
        return cond.to(torch.bool)[:, self.token_frame().to(cond.device)]

    def conditioning(self, t, ctx, text_mask):
        """c [B,2,D]: variant 0 from t, variant 1 from t=0."""
        m = text_mask.to(ctx.dtype)[:, :, None]
        ybar = (ctx * m).sum(1) / m.sum(1)
        B = t.shape[0]
        tv = torch.stack([t, torch.zeros_like(t)], dim=1).reshape(2 * B)
        temb = self.t_embed(tv).reshape(B, 2, -1)
        return temb + self.y_embed(ybar)[:, None, :]

    def forward(self, x, t, tokens, ntokens, cond):
        dt = self.x_embed.weight.dtype
        x, t = x.to(dt), t.to(dt)
        L = tokens.shape[1]
        text_mask = torch.arange(L, device=tokens.device)[None, :] < ntokens.long()[:, None]
        ctx = self.text(tokens, text_mask)
        c_silu = F.silu(self.conditioning(t, ctx, text_mask))
        sel = cond.to(torch.bool)  # [B,gt]: frame uses the t=0 variant
        ctype = torch.complex128 if dt == torch.float64 else torch.complex64
        rot = torch.complex(self.rope_cos, self.rope_sin).to(ctype)
        h = self.x_embed(x)
        for blk in self.blocks:
            h = blk(h, c_silu, sel, rot, ctx, text_mask)
        return self.final(h, c_silu, sel)

    def loss(self, out, target, cond):
        """sum w (out - v)^2 / (P sum w), w = 1 - cond[b, frame(n)].
        If every frame of the batch is conditioned (sum w = 0) the loss is 0."""
        w = (~self.token_cond(cond)).to(out.dtype)  # [B,N]
        se = ((out - target.to(out.dtype)) ** 2).sum(-1)  # [B,N]
        return (w * se).sum() / (self.P * w.sum().clamp(min=1.0))

    def randomize_(self, scale=0.1, seed=0):
        """U(-scale, scale) in every parameter (zero-init ones included), so that
        every path of the model carries signal (tests)."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_((torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1) * scale)
        return self


def param_groups(model, weight_decay):
    """AdamW groups: decay only on parameters with ndim >= 2."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def doc_param_names(cfg):
    """Parameter names in the order of the parameter table of docs/model.md
    (written from the doc, independently of the module structure)."""
    cfg = normalize_config(cfg)

    def lin(n):
        return [n + ".weight", n + ".bias"]

    def ln(n):
        return [n + ".weight", n + ".bias"]
    names = ["text.tok_emb.weight", "text.pos_emb"]
    for i in range(cfg["text_layers"]):
        p = "text.layers.%d." % i
        names += ln(p + "norm1") + lin(p + "attn.qkv") + lin(p + "attn.proj") + ln(p + "norm2") \
            + lin(p + "mlp.fc1") + lin(p + "mlp.fc2")
    names += ln("text.norm") + lin("x_embed") + lin("t_embed.fc1") + lin("t_embed.fc2") + lin("y_embed")
    for i in range(cfg["depth"]):
        p = "blocks.%d." % i
        names += lin(p + "adaLN") + lin(p + "attn.qkv") + [p + "attn.q_norm.weight", p + "attn.k_norm.weight"] \
            + lin(p + "attn.proj") + ln(p + "norm2") + lin(p + "cross.q") + lin(p + "cross.kv") \
            + [p + "cross.q_norm.weight", p + "cross.k_norm.weight"] + lin(p + "cross.proj") \
            + lin(p + "mlp.fc1") + lin(p + "mlp.fc2")
    names += lin("final.adaLN") + lin("final.linear")
    return names
