"""The Flux transformer (MMDiT) in PyTorch, written for this project.

Module and parameter names are exactly the state_dict keys of the original Flux release
(black-forest-labs/flux), so `model.state_dict()` saves a checkpoint that any loader of the original
layout reads unchanged, and the original release's checkpoints load into this class. What it computes
follows the original too:
  - inputs: img [B, L_img, in_channels] (2x2-packed patches), txt [B, L_txt, context_in_dim],
    img_ids / txt_ids [B, L, 3] positions (0, row, col) / zeros, timesteps [B] in [0, 1], y [B, vec_in_dim],
    guidance [B] when guidance_embed;
  - vec = time_in(sinusoid(1000 t, 256)) (+ guidance_in(...)) + vector_in(y); sinusoid = [cos | sin];
  - double-stream blocks (separate weights for text and image, joint attention over [txt | img]),
    then single-stream blocks over the concatenation, then the final adaLN layer on the image tokens;
  - attention: q, k RMS-normalised per head with a learned scale (in f32), rotary embedding over three
    axes (axes_dim channels per axis, the adjacent pairs (x[2i], x[2i+1]) of each head rotated by
    pos * theta^(-2i/axes_dim)), softmax scaled by 1/sqrt(head_dim);
  - adaLN modulation: (1 + scale) * LayerNorm(x) + shift (LayerNorm without parameters, eps 1e-6),
    residual branches multiplied by a gate; Modulation chunks in the order shift, scale, gate;
    the final layer chunks (shift, scale).
"""

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

# Flux config fields, named as in the original release (and in flux-tiny-a's metadata).
CONFIG_FIELDS = (
    'in_channels', 'out_channels', 'vec_in_dim', 'context_in_dim', 'hidden_size', 'mlp_ratio',
    'num_heads', 'depth', 'depth_single_blocks', 'axes_dim', 'theta', 'qkv_bias', 'guidance_embed',
)


@dataclass
class FluxParams:
    in_channels: int
    out_channels: int
    vec_in_dim: int
    context_in_dim: int
    hidden_size: int
    mlp_ratio: float
    num_heads: int
    depth: int
    depth_single_blocks: int
    axes_dim: list = field(default_factory=list)
    theta: int = 10000
    qkv_bias: bool = True
    guidance_embed: bool = False

    def to_json_dict(self):
        d = asdict(self)
        return {k: d[k] for k in CONFIG_FIELDS}


def timestep_embedding(t, dim, max_period=10000, time_factor=1000.0):
    """Sinusoidal embedding of t * time_factor: [cos(args) | sin(args)], computed in f32."""
    t = time_factor * t
    half = dim // 2
    # The exponent is formed in f32 as the original does; exp itself is evaluated in f64 and rounded, so
    # the table is the correctly rounded one on every PyTorch version (an ulp off here moves the angles of
    # t * 1000 by ~1e-4 rad: some f32 exp implementations are not correctly rounded).
    expo = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    freqs = torch.exp(expo.double()).float()
    args = (t[:, None].float() * freqs[None]).double()  # f32 product as the original; cos/sin rounded from f64
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1).float()
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


def rope_tables(ids, axes_dim, theta):
    """cos/sin tables [B, 1, L, head_dim/2] for the pairs of each head, axis by axis (f32, angles in f64)."""
    angles = []
    for i, d in enumerate(axes_dim):
        omega = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64, device=ids.device) / d))
        angles.append(ids[..., i].to(torch.float64)[..., None] * omega)
    a = torch.cat(angles, dim=-1)
    return torch.cos(a).float()[:, None], torch.sin(a).float()[:, None]


def apply_rope(x, pe):
    """Rotates the pairs (x[2i], x[2i+1]) of x [B, H, L, D] by the angles in pe; in f32, result in x's dtype."""
    cos, sin = pe
    xf = x.float().unflatten(-1, (-1, 2))
    x0, x1 = xf[..., 0], xf[..., 1]
    out = torch.stack([cos * x0 - sin * x1, sin * x0 + cos * x1], dim=-1)
    return out.flatten(-2).type_as(x)


def attention(q, k, v, pe):
    q, k = apply_rope(q, pe), apply_rope(k, pe)
    if hasattr(F, 'scaled_dot_product_attention'):
        x = F.scaled_dot_product_attention(q, k, v)
    else:  # PyTorch < 2.0
        w = torch.softmax((q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1]), dim=-1)
        x = w @ v
    return x.transpose(1, 2).flatten(2)  # B H L D -> B L (H D)


def split_heads(qkv, num_heads):
    """B L (K H D) -> three tensors B H L D."""
    b, l, _ = qkv.shape
    qkv = qkv.view(b, l, 3, num_heads, -1).permute(2, 0, 3, 1, 4)
    return qkv[0], qkv[1], qkv[2]


class MLPEmbedder(nn.Module):
    def __init__(self, in_dim, hidden_dim):
        super().__init__()
        self.in_layer = nn.Linear(in_dim, hidden_dim, bias=True)
        self.silu = nn.SiLU()
        self.out_layer = nn.Linear(hidden_dim, hidden_dim, bias=True)

    def forward(self, x):
        return self.out_layer(self.silu(self.in_layer(x)))


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        rrms = torch.rsqrt(torch.mean(xf * xf, dim=-1, keepdim=True) + 1e-6)
        return (xf * rrms).to(x.dtype) * self.scale


class QKNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.query_norm = RMSNorm(dim)
        self.key_norm = RMSNorm(dim)

    def forward(self, q, k, v):
        return self.query_norm(q).to(v.dtype), self.key_norm(k).to(v.dtype)


class SelfAttention(nn.Module):
    """Holds the attention weights of one stream (qkv, per-head q/k norms, output projection)."""

    def __init__(self, dim, num_heads, qkv_bias):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.norm = QKNorm(dim // num_heads)
        self.proj = nn.Linear(dim, dim)


class Modulation(nn.Module):
    def __init__(self, dim, double):
        super().__init__()
        self.multiplier = 6 if double else 3
        self.lin = nn.Linear(dim, self.multiplier * dim, bias=True)

    def forward(self, vec):
        """Chunks of [B, 1, dim]: (shift, scale, gate) once, or twice for double blocks."""
        return self.lin(F.silu(vec))[:, None, :].chunk(self.multiplier, dim=-1)


def layer_norm(x):
    return F.layer_norm(x, (x.shape[-1],), eps=1e-6)


def modulate(x, shift, scale):
    return torch.addcmul(shift, layer_norm(x), 1 + scale)


class DoubleStreamBlock(nn.Module):
    def __init__(self, hidden_size, num_heads, mlp_ratio, qkv_bias):
        super().__init__()
        mlp_hidden = int(hidden_size * mlp_ratio)
        self.num_heads = num_heads
        self.img_mod = Modulation(hidden_size, double=True)
        self.img_attn = SelfAttention(hidden_size, num_heads, qkv_bias)
        self.img_mlp = nn.Sequential(
            nn.Linear(hidden_size, mlp_hidden, bias=True),
            nn.GELU(approximate='tanh'),
            nn.Linear(mlp_hidden, hidden_size, bias=True),
        )
        self.txt_mod = Modulation(hidden_size, double=True)
        self.txt_attn = SelfAttention(hidden_size, num_heads, qkv_bias)
        self.txt_mlp = nn.Sequential(
            nn.Linear(hidden_size, mlp_hidden, bias=True),
            nn.GELU(approximate='tanh'),
            nn.Linear(mlp_hidden, hidden_size, bias=True),
        )

    def forward(self, img, txt, vec, pe):
        i_shift1, i_scale1, i_gate1, i_shift2, i_scale2, i_gate2 = self.img_mod(vec)
        t_shift1, t_scale1, t_gate1, t_shift2, t_scale2, t_gate2 = self.txt_mod(vec)

        img_q, img_k, img_v = split_heads(self.img_attn.qkv(modulate(img, i_shift1, i_scale1)), self.num_heads)
        img_q, img_k = self.img_attn.norm(img_q, img_k, img_v)
        txt_q, txt_k, txt_v = split_heads(self.txt_attn.qkv(modulate(txt, t_shift1, t_scale1)), self.num_heads)
        txt_q, txt_k = self.txt_attn.norm(txt_q, txt_k, txt_v)

        q = torch.cat((txt_q, img_q), dim=2)
        k = torch.cat((txt_k, img_k), dim=2)
        v = torch.cat((txt_v, img_v), dim=2)
        attn = attention(q, k, v, pe)
        n_txt = txt.shape[1]
        txt_out, img_out = attn[:, :n_txt], attn[:, n_txt:]

        img = img + i_gate1 * self.img_attn.proj(img_out)
        img = img + i_gate2 * self.img_mlp(modulate(img, i_shift2, i_scale2))
        txt = txt + t_gate1 * self.txt_attn.proj(txt_out)
        txt = txt + t_gate2 * self.txt_mlp(modulate(txt, t_shift2, t_scale2))
        return img, txt


class SingleStreamBlock(nn.Module):
    def __init__(self, hidden_size, num_heads, mlp_ratio):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.mlp_hidden = int(hidden_size * mlp_ratio)
        self.linear1 = nn.Linear(hidden_size, hidden_size * 3 + self.mlp_hidden)
        self.linear2 = nn.Linear(hidden_size + self.mlp_hidden, hidden_size)
        self.norm = QKNorm(hidden_size // num_heads)
        self.mlp_act = nn.GELU(approximate='tanh')
        self.modulation = Modulation(hidden_size, double=False)

    def forward(self, x, vec, pe):
        shift, scale, gate = self.modulation(vec)
        qkv, mlp = torch.split(self.linear1(modulate(x, shift, scale)), [3 * self.hidden_size, self.mlp_hidden], dim=-1)
        q, k, v = split_heads(qkv, self.num_heads)
        q, k = self.norm(q, k, v)
        attn = attention(q, k, v, pe)
        out = self.linear2(torch.cat((attn, self.mlp_act(mlp)), dim=2))
        return x + gate * out


class LastLayer(nn.Module):
    def __init__(self, hidden_size, out_channels):
        super().__init__()
        self.linear = nn.Linear(hidden_size, out_channels, bias=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size, bias=True))

    def forward(self, x, vec):
        shift, scale = self.adaLN_modulation(vec).chunk(2, dim=1)
        return self.linear(modulate(x, shift[:, None, :], scale[:, None, :]))


class Flux(nn.Module):
    def __init__(self, params: FluxParams):
        super().__init__()
        self.params = params
        if params.hidden_size % params.num_heads:
            raise ValueError(f'hidden_size {params.hidden_size} is not a multiple of num_heads {params.num_heads}')
        head_dim = params.hidden_size // params.num_heads
        if sum(params.axes_dim) != head_dim:
            raise ValueError(f'axes_dim {params.axes_dim} must sum to the head dim {head_dim}')
        if any(d % 2 for d in params.axes_dim):
            raise ValueError(f'axes_dim {params.axes_dim} must be even')
        h = params.hidden_size
        self.img_in = nn.Linear(params.in_channels, h, bias=True)
        self.time_in = MLPEmbedder(256, h)
        self.vector_in = MLPEmbedder(params.vec_in_dim, h)
        self.guidance_in = MLPEmbedder(256, h) if params.guidance_embed else nn.Identity()
        self.txt_in = nn.Linear(params.context_in_dim, h)
        self.double_blocks = nn.ModuleList(
            [DoubleStreamBlock(h, params.num_heads, params.mlp_ratio, params.qkv_bias) for _ in range(params.depth)]
        )
        self.single_blocks = nn.ModuleList(
            [SingleStreamBlock(h, params.num_heads, params.mlp_ratio) for _ in range(params.depth_single_blocks)]
        )
        self.final_layer = LastLayer(h, params.out_channels)

    def init_weights(self):
        """Initialisation for training from scratch (the release's code has none): Xavier linears, zero
        biases, and adaLN-Zero (every modulation and the output layer start at zero, so each block starts
        as the identity and the model outputs zeros)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for emb in [self.time_in, self.vector_in] + ([self.guidance_in] if self.params.guidance_embed else []):
            nn.init.normal_(emb.in_layer.weight, std=0.02)
            nn.init.normal_(emb.out_layer.weight, std=0.02)
        for b in self.double_blocks:
            for mod in (b.img_mod, b.txt_mod):
                nn.init.zeros_(mod.lin.weight)
                nn.init.zeros_(mod.lin.bias)
        for b in self.single_blocks:
            nn.init.zeros_(b.modulation.lin.weight)
            nn.init.zeros_(b.modulation.lin.bias)
        nn.init.zeros_(self.final_layer.adaLN_modulation[1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def forward(self, img, img_ids, txt, txt_ids, timesteps, y, guidance=None):
        if img.ndim != 3 or txt.ndim != 3:
            raise ValueError('img and txt must be [batch, tokens, channels]')
        img = self.img_in(img)
        vec = self.time_in(timestep_embedding(timesteps, 256).to(img.dtype))
        if self.params.guidance_embed:
            if guidance is None:
                raise ValueError('this model has guidance_embed: pass guidance')
            vec = vec + self.guidance_in(timestep_embedding(guidance, 256).to(img.dtype))
        vec = vec + self.vector_in(y)
        txt = self.txt_in(txt)
        pe = rope_tables(torch.cat((txt_ids, img_ids), dim=1), self.params.axes_dim, self.params.theta)
        for block in self.double_blocks:
            img, txt = block(img, txt, vec, pe)
        x = torch.cat((txt, img), dim=1)
        for block in self.single_blocks:
            x = block(x, vec, pe)
        return self.final_layer(x[:, txt.shape[1]:], vec)


# --- pixel-space packing (2x2 patches, 12 channels per token), the layout Flux uses for latents ---

def pack(x):
    """[B, C, H, W] -> [B, (H/2)(W/2), C*4]: token row*gw + col, channel c*4 + ph*2 + pw."""
    b, c, h, w = x.shape
    return x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(tokens, h, w):
    """Inverse of pack for an image of h x w pixels."""
    b, _, ch = tokens.shape
    c = ch // 4
    return tokens.view(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def image_ids(batch, gh, gw, device=None):
    """(0, row, col) for token row*gw + col, as Flux's prepare() builds them: [B, gh*gw, 3] f32."""
    ids = torch.zeros(gh, gw, 3, device=device)
    ids[..., 1] = torch.arange(gh, device=device)[:, None]
    ids[..., 2] = torch.arange(gw, device=device)[None, :]
    return ids.reshape(1, gh * gw, 3).expand(batch, -1, -1).contiguous()


# --- Flux's sampling schedule ---

def time_shift(mu, sigma, t):
    return math.exp(mu) / (math.exp(mu) + (1 / t - 1) ** sigma)


def shift_mu(image_seq_len, x1=256, y1=0.5, x2=4096, y2=1.15):
    """Flux's linear map from the number of image tokens to the time-shift mu."""
    m = (y2 - y1) / (x2 - x1)
    return m * image_seq_len + (y1 - m * x1)


def get_schedule(num_steps, image_seq_len, base_shift=0.5, max_shift=1.15, shift=True):
    ts = torch.linspace(1, 0, num_steps + 1).tolist()
    if shift:
        mu = shift_mu(image_seq_len, y1=base_shift, y2=max_shift)
        ts = [time_shift(mu, 1.0, t) if 0 < t < 1 else t for t in ts]
    return ts
