#!/usr/bin/env python3
"""Trains the embedded default model: a small Flux transformer in pixel space, class-conditioned through
the text-token path, with rectified flow as Flux uses it. Writes everything models/embedded/ needs.

    python3 train.py --data PACK_DIR --out OUT_DIR --train-seconds 400

PACK_DIR is what tools/train/prepare.py writes (data/photos/pack). Outputs (at most 8 files, all in OUT):
  flux-embedded.safetensors   EMA weights, f16, original Flux key layout, __metadata__.config = Flux config
  conditioning.safetensors    per-class text tokens `txt` [classes, T, context_in_dim] and pooled `y`
  sample-io.safetensors       fixed seeded inputs -> f32 output of the exported model (PyTorch, CPU, f32)
  loss.csv, loss.png          training loss per step, evaluation losses (train photos / held-out photos)
  samples.png                 sample grid (Flux Euler sampler with its time shift, classifier-free guidance)
  samples-all.png             every class once, beside a real crop of its photo
  facts.json                  training facts (steps, wall time, card, final losses) and the log
The first three and loss.csv are rewritten every --save-every seconds, so a run cut short still leaves a
usable checkpoint.

Pixel-space model: images in [-1, 1], RGB, packed into 2x2 patches (12 channels per token, the layout
Flux uses for its latents), so no autoencoder is needed. Rectified flow: x_t = (1 - t) x0 + t noise,
target velocity noise - x0, t = sigmoid(N(mu, 1)) with mu = Flux's resolution-dependent time shift (the
same shift its sampler applies), so training and sampling see the same noise levels.
"""

import argparse
import csv
import json
import math
import os
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402
from model import Flux, FluxParams, get_schedule, image_ids, pack, shift_mu, unpack  # noqa: E402

T0 = time.time()
LOG_LINES = []


def log(*a):
    line = f'[{time.time() - T0:7.1f}s] ' + ' '.join(str(x) for x in a)
    print(line, flush=True)
    LOG_LINES.append(line)


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--train-seconds', type=float, default=400)
    ap.add_argument('--max-steps', type=int, default=0, help='stop after this many steps (0: time only)')
    ap.add_argument('--sizes', default='128,64', help='native size first, then the small size (pixels)')
    ap.add_argument('--p-native', type=float, default=0.7, help='fraction of steps at the native size')
    ap.add_argument('--batch', type=int, default=48, help='batch at the native size')
    ap.add_argument('--batch-small', type=int, default=192, help='batch at the small size')
    ap.add_argument('--hidden', type=int, default=192)
    ap.add_argument('--heads', type=int, default=3)
    ap.add_argument('--depth', type=int, default=2)
    ap.add_argument('--depth-single', type=int, default=4)
    ap.add_argument('--axes-dim', default='8,28,28')
    ap.add_argument('--txt-tokens', type=int, default=8)
    ap.add_argument('--context-dim', type=int, default=64)
    ap.add_argument('--vec-dim', type=int, default=64)
    ap.add_argument('--lr', type=float, default=5e-4)
    ap.add_argument('--warmup-steps', type=int, default=150)
    ap.add_argument('--weight-decay', type=float, default=0.01)
    ap.add_argument('--ema', type=float, default=0.9985)
    ap.add_argument('--cfg-drop', type=float, default=0.1)
    ap.add_argument('--min-crop', type=float, default=0.3, help='smallest crop, as a fraction of the short side')
    ap.add_argument('--save-every', type=float, default=90)
    ap.add_argument('--eval-every', type=int, default=200)
    ap.add_argument('--eval-batch', type=int, default=32)
    ap.add_argument('--sample-steps', type=int, default=28)
    ap.add_argument('--cfg', type=float, default=4.0)
    ap.add_argument('--sample-classes', type=int, default=8)
    ap.add_argument('--sample-seeds', type=int, default=4)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--no-amp', action='store_true')
    ap.add_argument('--seed', type=int, default=1234)
    ap.add_argument('--bench', action='store_true', help='time a few steps at each size first and report memory')
    ap.add_argument('--bench-batches', default='32,48,96', help='native-size batches to time (small size: 4x)')
    return ap.parse_args()


# ------------------------------------------------------------------ data

class Photos:
    """Decoded photos on the device, cropped and resized per batch (random scale, position and flip)."""

    def __init__(self, files, device, min_crop, min_pixels):
        from PIL import Image

        imgs = [np.asarray(Image.open(f).convert('RGB')) for f in files]
        self.sizes = torch.tensor([[im.shape[0], im.shape[1]] for im in imgs], dtype=torch.float32)
        hmax = max(im.shape[0] for im in imgs)
        wmax = max(im.shape[1] for im in imgs)
        buf = torch.zeros(len(imgs), 3, hmax, wmax, dtype=torch.float32)
        for i, im in enumerate(imgs):
            buf[i, :, : im.shape[0], : im.shape[1]] = torch.from_numpy(im.copy()).permute(2, 0, 1).float()
        self.pixels = (buf / 127.5 - 1.0).to(device)
        self.device = device
        short = self.sizes.min(dim=1).values
        self.min_frac = torch.clamp(torch.maximum(torch.full_like(short, min_crop), min_pixels / short), max=1.0)
        try:
            from torchvision.ops import roi_align

            self.roi_align = roi_align
        except Exception:  # noqa: BLE001 - torchvision is optional; the slow path is exact too
            self.roi_align = None

    def __len__(self):
        return self.pixels.shape[0]

    def crops(self, idx, size, gen):
        """idx: LongTensor [B] of photo indices (CPU); returns [B, 3, size, size] in [-1, 1] on the device."""
        b = idx.shape[0]
        hw = self.sizes[idx]
        short = hw.min(dim=1).values
        lo = self.min_frac[idx]
        frac = lo + (1 - lo) * torch.rand(b, generator=gen)
        side = frac * short
        y0 = torch.rand(b, generator=gen) * (hw[:, 0] - side)
        x0 = torch.rand(b, generator=gen) * (hw[:, 1] - side)
        flip = torch.rand(b, generator=gen) < 0.5
        if self.roi_align is not None:
            boxes = torch.stack([idx.float(), x0, y0, x0 + side, y0 + side], dim=1).to(self.device)
            # sampling_ratio -1: ceil(box / output) samples per output pixel, averaged: a box filter, so
            # downscaling by up to 4x does not alias.
            out = self.roi_align(self.pixels, boxes, output_size=(size, size), spatial_scale=1.0,
                                 sampling_ratio=-1, aligned=True)
        else:
            out = torch.empty(b, 3, size, size, device=self.device)
            for i in range(b):
                ys, xs, s = int(y0[i]), int(x0[i]), max(int(side[i]), 2)
                crop = self.pixels[idx[i] : idx[i] + 1, :, ys : ys + s, xs : xs + s]
                out[i] = F.interpolate(crop, size=(size, size), mode='bilinear', align_corners=False, antialias=True)[0]
        flip = flip.to(self.device)[:, None, None, None]
        return torch.where(flip, out.flip(-1), out)


# ------------------------------------------------------------------ model pieces

class Conditioning(torch.nn.Module):
    """Learned per-class text tokens and pooled vector (class 0 = null / unconditional)."""

    def __init__(self, classes, tokens, ctx_dim, vec_dim):
        super().__init__()
        self.txt = torch.nn.Parameter(torch.randn(classes, tokens, ctx_dim))
        self.y = torch.nn.Parameter(torch.randn(classes, vec_dim))

    def forward(self, cls):
        return self.txt[cls], self.y[cls]


def flux_forward(model, cond, x_img, t, cls):
    """x_img [B, 3, H, W] -> velocity [B, 3, H, W]."""
    b, _, h, w = x_img.shape
    txt, y = cond(cls)
    img_ids = image_ids(b, h // 2, w // 2, device=x_img.device)
    txt_ids = torch.zeros(b, txt.shape[1], 3, device=x_img.device)
    v = model(img=pack(x_img), img_ids=img_ids, txt=txt, txt_ids=txt_ids, timesteps=t, y=y)
    return unpack(v.float(), h, w)


def sample_t(b, size, gen, device):
    mu = shift_mu((size // 2) ** 2)
    return torch.sigmoid(torch.randn(b, generator=gen) + mu).to(device)


def rf_loss(model, cond, x0, cls, t, noise):
    tt = t[:, None, None, None]
    xt = (1 - tt) * x0 + tt * noise
    v = flux_forward(model, cond, xt, t, cls)
    return F.mse_loss(v, noise - x0)


# ------------------------------------------------------------------ export

def export_weights(model, params, path, extra_meta):
    sd = {k: v.detach().to('cpu', torch.float16).numpy() for k, v in model.state_dict().items()}
    meta = {'config': json.dumps(params.to_json_dict()), 'format': 'pt'}
    meta.update(extra_meta)
    st_io.write(path, sd, meta)


def export_conditioning(cond, class_names, path, extra_meta):
    meta = {'classes': json.dumps(class_names), 'null_class': '0'}
    meta.update(extra_meta)
    st_io.write(path, {'txt': cond.txt.detach().cpu().float().numpy(), 'y': cond.y.detach().cpu().float().numpy()}, meta)


def load_exported(path):
    tensors, meta = st_io.read(path)
    params = FluxParams(**json.loads(meta['config']))
    m = Flux(params)
    m.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()}, strict=True)
    return m.eval(), params, meta


def write_sample_io(weights_path, cond_path, path):
    """Fixed seeded inputs -> output of the exported (f16-stored) weights computed in f32 on the CPU."""
    model, params, _ = load_exported(weights_path)
    ct, cmeta = st_io.read(cond_path)
    gen = torch.Generator().manual_seed(0)
    gh, gw = 12, 16  # non-square on purpose: a row/column mix-up shows
    classes = [1, 0]
    img = torch.randn(2, gh * gw, params.in_channels, generator=gen)
    txt = torch.from_numpy(ct['txt'][classes]).float()
    y = torch.from_numpy(ct['y'][classes]).float()
    inputs = {
        'img': img,
        'txt': txt,
        'img_ids': image_ids(2, gh, gw),
        'txt_ids': torch.zeros(2, txt.shape[1], 3),
        'timesteps': torch.tensor([0.3, 0.8]),
        'y': y,
    }
    with torch.no_grad():
        out = model(**inputs)
    tensors = {f'in.{k}': v.numpy().astype(np.float32) for k, v in inputs.items()}
    tensors['out'] = out.numpy().astype(np.float32)
    meta = {
        'about': 'model(img=in.img, img_ids=in.img_ids, txt=in.txt, txt_ids=in.txt_ids, timesteps=in.timesteps, '
                 'y=in.y) = out, computed by tools/train/model.py in f32 on the CPU from the f16 weights of '
                 'flux-embedded.safetensors (widened to f32)',
        'grid_tokens_hw': json.dumps([gh, gw]),
        'conditioning_rows': json.dumps(classes),
        'seed': '0',
        'torch': torch.__version__,
    }
    st_io.write(path, tensors, meta)
    return float(out.abs().max()), float(out.std())


@torch.no_grad()
def sample(model, cond_txt, cond_y, classes, size, steps, cfg, seed, device):
    """Flux's sampler: Euler from t=1 to t=0 over its shifted schedule, with classifier-free guidance."""
    n = len(classes)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=gen).to(device)
    gh = gw = size // 2
    cls = torch.tensor(classes, device=device)
    null = torch.zeros_like(cls)
    both = torch.cat([cls, null])
    txt, y = cond_txt[both], cond_y[both]
    img_ids = image_ids(2 * n, gh, gw, device=device)
    txt_ids = torch.zeros(2 * n, txt.shape[1], 3, device=device)
    ts = get_schedule(steps, gh * gw)
    for t_cur, t_next in zip(ts[:-1], ts[1:]):
        tvec = torch.full((2 * n,), t_cur, device=device)
        v = model(img=pack(torch.cat([x, x])), img_ids=img_ids, txt=txt, txt_ids=txt_ids, timesteps=tvec, y=y)
        v = unpack(v.float(), size, size)
        v_c, v_u = v[:n], v[n:]
        x = x + (t_next - t_cur) * (v_u + cfg * (v_c - v_u))
    return x.clamp(-1, 1)


def to_uint8(x):
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def sample_grid(weights_path, cond_path, photos, class_names, args, device, path):
    from PIL import Image, ImageDraw

    model, _, _ = load_exported(weights_path)
    model = model.to(device)
    ct, _ = st_io.read(cond_path)
    txt = torch.from_numpy(ct['txt']).to(device)
    y = torch.from_numpy(ct['y']).to(device)
    n_cls = len(class_names) - 1
    picks = [1 + round(i * (n_cls - 1) / max(args.sample_classes - 1, 1)) for i in range(min(args.sample_classes, n_cls))]
    big, small = args.sizes
    rows = []
    t = time.time()
    for seed in range(args.sample_seeds):
        rows.append(to_uint8(sample(model, txt, y, picks, big, args.sample_steps, args.cfg, seed, device)))
    smalls = []
    for seed in range(2):
        smalls.append(to_uint8(sample(model, txt, y, picks, small, args.sample_steps, args.cfg, 100 + seed, device)))
    sample_s = time.time() - t
    gen = torch.Generator().manual_seed(7)
    ref = to_uint8(photos.crops(torch.tensor([p - 1 for p in picks]), big, gen))
    label_w, pad = 120, 4
    cols = 1 + args.sample_seeds + 2
    W = label_w + cols * (big + pad)
    H = 18 + len(picks) * (big + pad)
    grid = Image.new('RGB', (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    heads = ['real crop'] + [f'seed {s} (cfg {args.cfg})' for s in range(args.sample_seeds)] + [f'{small}px seed {100 + s}' for s in range(2)]
    for c, head in enumerate(heads):
        draw.text((label_w + c * (big + pad) + 2, 3), head, fill=(0, 0, 0))
    for r, cls in enumerate(picks):
        yy = 18 + r * (big + pad)
        draw.text((4, yy + big // 2 - 6), f'{cls}: {class_names[cls]}', fill=(0, 0, 0))
        tiles = [ref[r]] + [rows[s][r] for s in range(args.sample_seeds)]
        for c, tile in enumerate(tiles):
            grid.paste(Image.fromarray(tile), (label_w + c * (big + pad), yy))
        for s in range(2):
            x = label_w + (1 + args.sample_seeds + s) * (big + pad) + (big - small) // 2
            grid.paste(Image.fromarray(smalls[s][r]), (x, yy + (big - small) // 2))
    grid.save(path)
    return picks, sample_s


def sample_all(weights_path, cond_path, photos, class_names, args, device, path):
    """Every class once: a real crop of its photo beside one sample (native size), four pairs a row."""
    from PIL import Image, ImageDraw

    model, _, _ = load_exported(weights_path)
    model = model.to(device)
    ct, _ = st_io.read(cond_path)
    txt = torch.from_numpy(ct['txt']).to(device)
    y = torch.from_numpy(ct['y']).to(device)
    classes = list(range(1, len(class_names)))
    big = args.sizes[0]
    imgs = to_uint8(sample(model, txt, y, classes, big, args.sample_steps, args.cfg, 1000, device))
    ref = to_uint8(photos.crops(torch.tensor([c - 1 for c in classes]), big, torch.Generator().manual_seed(8)))
    per_row, pad, head = 4, 6, 14
    cell_w = 2 * big + pad
    rows = (len(classes) + per_row - 1) // per_row
    grid = Image.new('RGB', (per_row * (cell_w + 2 * pad), rows * (big + head + pad)), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for i, c in enumerate(classes):
        x = (i % per_row) * (cell_w + 2 * pad)
        yy = (i // per_row) * (big + head + pad)
        draw.text((x + 2, yy + 1), f'{c}: {class_names[c]} (real | sample)', fill=(0, 0, 0))
        grid.paste(Image.fromarray(ref[i]), (x, yy + head))
        grid.paste(Image.fromarray(imgs[i]), (x + big + pad, yy + head))
    grid.save(path)


def plot_loss(rows, evals, path):
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for size in sorted({r['size'] for r in rows}, reverse=True):
        steps = [r['step'] for r in rows if r['size'] == size]
        losses = np.array([r['loss'] for r in rows if r['size'] == size])
        if len(losses) == 0:
            continue
        k = max(1, min(50, len(losses) // 10))
        smooth = np.convolve(losses, np.ones(k) / k, mode='valid')
        ax.plot(steps[k - 1 :], smooth, label=f'train loss {size}px (mean of {k} steps)', lw=1.2)
    if evals:
        ax.plot([e['step'] for e in evals], [e['eval_train'] for e in evals], 'o-', ms=3, label='eval: training photos (EMA, fixed noise)')
        ax.plot([e['step'] for e in evals], [e['eval_heldout'] for e in evals], 's-', ms=3, label='eval: held-out photos, null class (EMA)')
    ax.set_xlabel('step')
    ax.set_ylabel('velocity MSE')
    ax.set_yscale('log')
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=8)
    ax.set_title('Embedded Flux model: rectified-flow loss')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_csv(rows, evals, path):
    ev = {e['step']: e for e in evals}
    tmp = path + '.tmp'
    with open(tmp, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['step', 'time_s', 'size', 'loss', 'lr', 'eval_train', 'eval_heldout'])
        for r in rows:
            e = ev.get(r['step'])
            w.writerow([r['step'], f"{r['time']:.2f}", r['size'], f"{r['loss']:.6f}", f"{r['lr']:.3e}",
                        f"{e['eval_train']:.6f}" if e else '', f"{e['eval_heldout']:.6f}" if e else ''])
    os.replace(tmp, path)


# ------------------------------------------------------------------ main

def main():
    args = parse_args()
    args.sizes = [int(s) for s in args.sizes.split(',')]
    device = torch.device(args.device)
    use_amp = device.type == 'cuda' and not args.no_amp
    if device.type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    card = torch.cuda.get_device_name(0) if device.type == 'cuda' else platform.processor() or 'cpu'
    log(f'torch {torch.__version__} on {card}; amp={use_amp}')

    manifest = json.load(open(os.path.join(args.data, 'manifest.json')))
    class_names = manifest['classes']
    train_entries = sorted([e for e in manifest['photos'] if not e['held_out']], key=lambda e: e['class_index'])
    held_entries = [e for e in manifest['photos'] if e['held_out']]
    assert [e['class_index'] for e in train_entries] == list(range(1, len(class_names)))
    big, small = args.sizes
    photos = Photos([os.path.join(args.data, e['pack_file']) for e in train_entries], device, args.min_crop, big)
    held = Photos([os.path.join(args.data, e['pack_file']) for e in held_entries], device, args.min_crop, big)
    log(f'{len(photos)} training photos, {len(held)} held out; crops via {"roi_align" if photos.roi_align else "interpolate loop"}')

    params = FluxParams(
        in_channels=12, out_channels=12, vec_in_dim=args.vec_dim, context_in_dim=args.context_dim,
        hidden_size=args.hidden, mlp_ratio=4.0, num_heads=args.heads, depth=args.depth,
        depth_single_blocks=args.depth_single, axes_dim=[int(a) for a in args.axes_dim.split(',')],
        theta=10000, qkv_bias=True, guidance_embed=False,
    )
    model = Flux(params)
    model.init_weights()
    cond = Conditioning(len(class_names), args.txt_tokens, args.context_dim, args.vec_dim)
    model.to(device)
    cond.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f'Flux config {json.dumps(params.to_json_dict())}: {n_params / 1e6:.3f} M parameters '
        f'({n_params * 2 / 2**20:.2f} MiB in f16)')

    ema_model = Flux(params).to(device)
    ema_model.load_state_dict(model.state_dict())
    ema_cond = Conditioning(len(class_names), args.txt_tokens, args.context_dim, args.vec_dim).to(device)
    ema_cond.load_state_dict(cond.state_dict())
    for p in list(ema_model.parameters()) + list(ema_cond.parameters()):
        p.requires_grad_(False)
    live = list(model.parameters()) + list(cond.parameters())
    shadow = list(ema_model.parameters()) + list(ema_cond.parameters())

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim == 2 else no_decay).append(p)
    groups = [
        {'params': decay, 'weight_decay': args.weight_decay},
        {'params': no_decay + list(cond.parameters()), 'weight_decay': 0.0},
    ]
    opt_kw = {'fused': True} if device.type == 'cuda' else {}
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.99), eps=1e-8, **opt_kw)

    gen = torch.Generator().manual_seed(args.seed)
    n_train = len(photos)

    def batch(size, b, g, source=photos, null=False):
        idx = torch.randint(0, len(source), (b,), generator=g)
        x0 = source.crops(idx, size, g)
        cls = torch.zeros(b, dtype=torch.long) if null else idx + 1
        return x0, cls.to(device)

    # Fixed evaluation batches (same crops, noise and t every time): training photos with their class,
    # held-out photos with the null class.
    eg = torch.Generator().manual_seed(99)
    ev_train = batch(big, args.eval_batch, eg)
    ev_held = batch(big, args.eval_batch, eg, source=held, null=True)
    t_grid = torch.linspace(0.05, 0.95, args.eval_batch)
    t_grid = t_grid[torch.randperm(args.eval_batch, generator=eg)].to(device)
    ev_noise = torch.randn(args.eval_batch, 3, big, big, generator=eg).to(device)

    def amp():
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp)

    @torch.no_grad()
    def evaluate():
        out = {}
        for key, (x0, cls) in (('eval_train', ev_train), ('eval_heldout', ev_held)):
            with amp():
                out[key] = rf_loss(ema_model, ema_cond, x0, cls, t_grid, ev_noise).item()
        return out

    def train_step(size, b, lr):
        for g in opt.param_groups:
            g['lr'] = lr
        x0, cls = batch(size, b, gen)
        drop = torch.rand(b, generator=gen) < args.cfg_drop
        cls = torch.where(drop.to(device), torch.zeros_like(cls), cls)
        t = sample_t(b, size, gen, device)
        noise = torch.randn(x0.shape, generator=gen).to(device) if device.type == 'cpu' else torch.randn_like(x0)
        with amp():
            loss = rf_loss(model, cond, x0, cls, t, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(live, 1.0)
        opt.step()
        return loss, gnorm

    facts = {
        'card': card, 'torch': torch.__version__, 'params': n_params, 'sizes': args.sizes,
        'batch': {str(big): args.batch, str(small): args.batch_small}, 'p_native': args.p_native,
        'lr': args.lr, 'ema': args.ema, 'cfg_drop': args.cfg_drop, 'txt_tokens': args.txt_tokens,
        'train_photos': n_train, 'heldout_photos': len(held), 'amp': 'bf16' if use_amp else 'none',
    }

    if args.bench and device.type == 'cuda':
        for size, b in [(big, int(x)) for x in args.bench_batches.split(',')] + [(small, 4 * int(x)) for x in args.bench_batches.split(',')]:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            try:
                for i in range(6):
                    if i == 2:
                        torch.cuda.synchronize()
                        tb = time.time()
                    train_step(size, b, 1e-5)
                torch.cuda.synchronize()
            except torch.cuda.OutOfMemoryError:
                opt.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
                log(f'bench {size}px batch {b}: out of memory')
                facts[f'bench_{size}_b{b}'] = 'out of memory'
                continue
            dt = (time.time() - tb) / 4
            mem = torch.cuda.max_memory_allocated() / 2**30
            log(f'bench {size}px batch {b}: {dt * 1000:.1f} ms/step, {b / dt:.0f} img/s, peak {mem:.1f} GiB')
            facts[f'bench_{size}_b{b}'] = {'ms_per_step': round(dt * 1000, 1), 'peak_gib': round(mem, 1)}
        # (the bench steps moved the weights a little at lr 1e-5 before training starts; harmless)

    rows, evals = [], []
    out = args.out
    wpath = os.path.join(out, 'flux-embedded.safetensors')
    cpath = os.path.join(out, 'conditioning.safetensors')

    def save(final=False):
        train_meta = {
            'toma.model': json.dumps({
                'kind': 'pixel-space Flux (no autoencoder)', 'patch_size': 2, 'image_channels': 3,
                'token_channels': 'c*4 + ph*2 + pw (Flux packing of [3, H, W])', 'value_range': [-1, 1],
                'native_size': big, 'small_size': small, 'conditioning': 'conditioning.safetensors (txt, y per class; 0 = null)',
                'sampler': {'method': 'Euler from t=1 to t=0', 'steps': args.sample_steps, 'shift': True,
                            'base_shift': 0.5, 'max_shift': 1.15, 'cfg_scale': args.cfg},
            }),
            'toma.training': json.dumps({**facts, 'steps': len(rows), 'wall_s': round(time.time() - t_train, 1),
                                         'final': final}),
            'license': 'GPL-3.0-or-later',
        }
        export_weights(ema_model, params, wpath, train_meta)
        export_conditioning(ema_cond, class_names, cpath, {'txt_tokens': str(args.txt_tokens)})
        write_csv(rows, evals, os.path.join(out, 'loss.csv'))

    t_train = time.time()
    last_save = t_train
    step = 0
    ema_n = 0
    loss_acc = {big: [], small: []}
    while True:
        elapsed = time.time() - t_train
        if elapsed >= args.train_seconds or (args.max_steps and step >= args.max_steps):
            break
        progress = elapsed / args.train_seconds
        if args.max_steps:
            progress = max(progress, step / args.max_steps)
        warm = min(1.0, (step + 1) / args.warmup_steps)
        lr = args.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))
        native = torch.rand(1, generator=gen).item() < args.p_native
        size, b = (big, args.batch) if native else (small, args.batch_small)
        loss, gnorm = train_step(size, b, lr)
        ema_n += 1
        d = min(args.ema, (1 + ema_n) / (10 + ema_n))
        with torch.no_grad():
            if hasattr(torch, '_foreach_lerp_'):
                torch._foreach_lerp_(shadow, live, 1 - d)
            else:  # PyTorch < 2.0
                for s_, l_ in zip(shadow, live):
                    s_.lerp_(l_, 1 - d)
        step += 1
        lv = loss.item() if step % 10 == 0 or step < 20 else None
        rows.append({'step': step, 'time': time.time() - t_train, 'size': size, 'loss': loss, 'lr': lr})
        loss_acc[size].append(loss)
        if lv is not None and step % 50 == 0:
            means = {s: torch.stack(v).mean().item() for s, v in loss_acc.items() if v}
            log(f'step {step} lr {lr:.2e} loss ' + ' '.join(f'{s}px {m:.4f}' for s, m in means.items())
                + f' gnorm {float(gnorm):.3f}')
            loss_acc = {big: [], small: []}
        if step % args.eval_every == 0:
            for r in rows:
                if torch.is_tensor(r['loss']):
                    r['loss'] = r['loss'].item()
            e = evaluate()
            evals.append({'step': step, **e})
            log(f'eval step {step}: training photos {e["eval_train"]:.4f}, held-out {e["eval_heldout"]:.4f}')
        if time.time() - last_save > args.save_every:
            for r in rows:
                if torch.is_tensor(r['loss']):
                    r['loss'] = r['loss'].item()
            save()
            last_save = time.time()
            log(f'saved checkpoint at step {step}')
    wall = time.time() - t_train
    for r in rows:
        if torch.is_tensor(r['loss']):
            r['loss'] = r['loss'].item()
    if not evals or evals[-1]['step'] != step:
        evals.append({'step': step, **evaluate()})
    facts.update({
        'steps': step, 'train_wall_s': round(wall, 1), 'steps_per_s': round(step / wall, 2),
        'steps_native': sum(1 for r in rows if r['size'] == big), 'steps_small': sum(1 for r in rows if r['size'] == small),
        'final_eval_train': evals[-1]['eval_train'], 'final_eval_heldout': evals[-1]['eval_heldout'],
    })
    for size in (big, small):
        last = [r['loss'] for r in rows if r['size'] == size][-200:]
        facts[f'final_train_loss_{size}'] = float(np.mean(last)) if last else None
    log(f'trained {step} steps in {wall:.1f} s; final eval: train {facts["final_eval_train"]:.4f}, '
        f'held-out {facts["final_eval_heldout"]:.4f}')
    save(final=True)

    def attempt(what, fn):
        # a failure here must not lose the facts or the other outputs
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            import traceback

            log(f'{what} FAILED: {exc!r}\n{traceback.format_exc()}')
            return None

    attempt('loss plot', lambda: plot_loss(rows, evals, os.path.join(out, 'loss.png')))
    r = attempt('sample-io', lambda: write_sample_io(wpath, cpath, os.path.join(out, 'sample-io.safetensors')))
    if r:
        log(f'sample-io written (out |max| {r[0]:.3f}, std {r[1]:.3f})')
    r = attempt('sample grid', lambda: sample_grid(wpath, cpath, photos, class_names, args, device, os.path.join(out, 'samples.png')))
    if r:
        facts['sample_classes'] = [class_names[p] for p in r[0]]
        facts['sample_grid_s'] = round(r[1], 1)
        log(f'samples.png written ({r[1]:.1f} s for the grid)')
    attempt('all-class grid', lambda: sample_all(wpath, cpath, photos, class_names, args, device, os.path.join(out, 'samples-all.png')))
    facts['total_s'] = round(time.time() - T0, 1)
    log(f'done; total {time.time() - T0:.1f} s')
    facts['log'] = LOG_LINES
    with open(os.path.join(out, 'facts.json'), 'w') as f:
        json.dump(facts, f, indent=1)


if __name__ == '__main__':
    main()
