"""PyTorch side-by-side reference for bench/sdxl-forward.ts: diffusers' own SDXL base 1.0 components built
from the release configs (models/configs/stable-diffusion-xl-base-1.0), random fp16 weights, on the GPU:
the UNet forward at --res (batch 2: classifier-free guidance's two halves, 77 text tokens of 2,048
channels, pooled 1,280, six time ids), eager and, with --compile, torch.compile (default mode) of the same
module; the VAE decode of one latent (eager); both text encoders on 77 tokens (eager). Each: median of
--runs after --warmup, timed with CUDA events; peak device memory of each component alone
(torch.cuda.max_memory_allocated with only that component resident).

diffusers is in no registry: run it from a source tree (PYTHONPATH), never committed.

    PYTHONPATH=/tmp/diffusers python3 bench/sdxl_torch.py --res 1024 --runs 10 --compile --json out.json
    python3 bench/sdxl_torch.py --tiny      # a CPU smoke test of this script on a shrunken config
"""
import argparse
import json
import os
import statistics
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(HERE, '..', 'models', 'configs', 'stable-diffusion-xl-base-1.0')


def load_config(component):
    with open(os.path.join(CONFIGS, component, 'config.json')) as f:
        return {k: v for k, v in json.load(f).items() if not k.startswith('_')}


def timed(fn, dev):
    """Milliseconds of fn(), GPU-synced (CUDA events) or wall clock on the CPU."""
    if dev == 'cuda':
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        return s.elapsed_time(e)
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def median_ms(fn, dev, runs, warmup):
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        if dev == 'cuda':
            torch.cuda.synchronize()
        return statistics.median(timed(fn, dev) for _ in range(runs))


def randomize(module, seed):
    """N(0, 0.02) weights, unit norm scales: fp16-safe activations through 70 transformer blocks."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if 'norm' in name and name.endswith('weight'):
                p.fill_(1.0)
            elif name.endswith('bias'):
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return module


def peak_gib(dev):
    return torch.cuda.max_memory_allocated() / 2**30 if dev == 'cuda' else float('nan')


def reset_peak(dev):
    if dev == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--res', default='1024')
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--compile', action='store_true', help='also time torch.compile of the UNet')
    ap.add_argument('--json')
    ap.add_argument('--tiny', action='store_true', help='a shrunken config on the CPU (smoke test)')
    a = ap.parse_args()
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    dev = 'cpu' if a.tiny else 'cuda'
    dtype = torch.float32 if a.tiny else torch.float16
    ucfg, vcfg = load_config('unet'), load_config('vae')
    t1cfg, t2cfg = load_config('text_encoder'), load_config('text_encoder_2')
    ctx_dim, pooled_dim = ucfg['cross_attention_dim'], t2cfg['projection_dim']
    if a.tiny:
        ucfg.update(block_out_channels=[32, 64, 64], attention_head_dim=[1, 2, 2],
                    transformer_layers_per_block=[1, 1, 1], cross_attention_dim=32,
                    projection_class_embeddings_input_dim=6 * 256 + 16)
        vcfg.update(block_out_channels=[32, 32, 32, 32], layers_per_block=1)
        for c in (t1cfg, t2cfg):
            c.update(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
        t2cfg['projection_dim'] = 16
        ctx_dim, pooled_dim = 32, 16
    res = [int(r) for r in a.res.split(',')]
    result = {'device': torch.cuda.get_device_name() if dev == 'cuda' else 'cpu', 'torch': torch.__version__,
              'dtype': str(dtype), 'runs': a.runs, 'unet': {}, 'vae': {}, 'text': {}}
    print(f'# {result["device"]}, torch {torch.__version__}, {dtype}, median of {a.runs}')

    # ---- text encoders (77 tokens, batch 2) ----
    ids = torch.randint(0, 49407, (2, 77), device=dev)
    for name, cls, cfg in (('clip-l', CLIPTextModel, t1cfg), ('clip-g', CLIPTextModelWithProjection, t2cfg)):
        reset_peak(dev)
        enc = randomize(cls(CLIPTextConfig(**cfg)), 1).to(dev, dtype).eval()
        ms = median_ms(lambda enc=enc: enc(ids, output_hidden_states=True), dev, a.runs, a.warmup)
        result['text'][name] = {'ms': ms, 'peak_gib': peak_gib(dev)}
        print(f'text {name}: {ms:.2f} ms, peak {peak_gib(dev):.2f} GiB')
        del enc

    # ---- UNet ----
    reset_peak(dev)
    unet = randomize(UNet2DConditionModel(**ucfg), 2).to(dev, dtype).eval()
    for r in res:
        lat = r // 8
        x = torch.randn(2, 4, lat, lat, device=dev, dtype=dtype)
        t = torch.tensor([999.0, 999.0], device=dev)
        ctx = torch.randn(2, 77, ctx_dim, device=dev, dtype=dtype)
        cond = {'text_embeds': torch.randn(2, pooled_dim, device=dev, dtype=dtype),
                'time_ids': torch.tensor([[r, r, 0, 0, r, r]] * 2, device=dev, dtype=dtype)}
        run = lambda m=unet, x=x, t=t, ctx=ctx, cond=cond: m(x, t, ctx, added_cond_kwargs=cond)  # noqa: E731
        eager = median_ms(run, dev, a.runs, a.warmup)
        entry = {'eager_ms': eager, 'peak_gib': peak_gib(dev)}
        print(f'unet {r}² batch 2: eager {eager:.2f} ms, peak {peak_gib(dev):.2f} GiB')
        result['unet'][str(r)] = entry
    if a.compile:
        compiled = torch.compile(unet)
        for r in res:
            lat = r // 8
            x = torch.randn(2, 4, lat, lat, device=dev, dtype=dtype)
            t = torch.tensor([999.0, 999.0], device=dev)
            ctx = torch.randn(2, 77, ctx_dim, device=dev, dtype=dtype)
            cond = {'text_embeds': torch.randn(2, pooled_dim, device=dev, dtype=dtype),
                    'time_ids': torch.tensor([[r, r, 0, 0, r, r]] * 2, device=dev, dtype=dtype)}
            run = lambda m=compiled, x=x, t=t, ctx=ctx, cond=cond: m(x, t, ctx, added_cond_kwargs=cond)  # noqa: E731
            ms = median_ms(run, dev, a.runs, a.warmup + 2)
            result['unet'][str(r)]['compile_ms'] = ms
            print(f'unet {r}² batch 2: torch.compile {ms:.2f} ms')
    del unet

    # ---- VAE decode (batch 1) ----
    reset_peak(dev)
    vae = randomize(AutoencoderKL(**vcfg), 3).to(dev, dtype).eval()
    for r in res:
        z = torch.randn(1, 4, r // 8, r // 8, device=dev, dtype=dtype)
        ms = median_ms(lambda z=z: vae.decode(z / vcfg['scaling_factor']), dev, max(3, a.runs // 2), 1)
        result['vae'][str(r)] = {'decode_ms': ms, 'peak_gib': peak_gib(dev)}
        print(f'vae decode {r}²: {ms:.2f} ms, peak {peak_gib(dev):.2f} GiB')
    del vae

    if a.json:
        with open(a.json, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
