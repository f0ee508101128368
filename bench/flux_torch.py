"""PyTorch side-by-side reference for bench/flux-forward.ts and bench/flux-sampling.ts: the same Flux-dev
transformer (tools/train/model.py, this project's PyTorch Flux with the release's module layout; it
matches the official code on the flux-tiny-a fixture), random weights, bf16 (the dtype the official
model runs in), batch 1, 512 text tokens, SDPA attention; eager and, with --compile, torch.compile
(default mode) of the same module. Forwards: median of --runs, timed with CUDA events after --warmup.
With --image-steps N, also the whole sampling loop of one image: N transformer forwards with an Euler
update each (what a 28-step FLUX.1-dev image costs in the transformer), median of --image-runs.

    python3 bench/flux_torch.py --res 1024,2048 --runs 10 [--compile] [--image-steps 28] [--json out.json]
"""
import argparse
import contextlib
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tools', 'train'))
from model import Flux, FluxParams, image_ids  # noqa: E402

FLUX_DEV = dict(in_channels=64, out_channels=64, vec_in_dim=768, context_in_dim=4096, hidden_size=3072,
                mlp_ratio=4.0, num_heads=24, depth=19, depth_single_blocks=38, axes_dim=[16, 56, 56],
                theta=10000, qkv_bias=True, guidance_embed=True)


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--res', default='1024,2048')
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--text', type=int, default=512)
    ap.add_argument('--compile', action='store_true', help='also time torch.compile of the same module')
    ap.add_argument('--image-steps', type=int, default=0, help='also time an N-step sampling loop (first res)')
    ap.add_argument('--image-runs', type=int, default=3)
    ap.add_argument('--json')
    ap.add_argument('--tiny', action='store_true', help='a tiny config on the CPU (a smoke test of this script)')
    a = ap.parse_args()
    dev = 'cpu' if a.tiny else 'cuda'
    cfg = dict(FLUX_DEV, vec_in_dim=8, context_in_dim=16, hidden_size=64, num_heads=2, depth=1,
               depth_single_blocks=1, axes_dim=[8, 12, 12]) if a.tiny else FLUX_DEV
    torch.manual_seed(0)
    # build on the meta device (no 24 GB of host init) where this torch supports it
    meta = torch.device('meta') if hasattr(torch.device('meta'), '__enter__') else contextlib.nullcontext()
    with meta:
        model = Flux(FluxParams(**cfg))
    model = model.to_empty(device=dev).to(torch.bfloat16)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    variants = [('eager', model)]
    if a.compile:
        variants.append(('compile', torch.compile(model, dynamic=False)))  # one graph per resolution
    results = []
    for ri, res in enumerate(int(r) for r in a.res.split(',')):
        g = res // 16
        n = g * g
        img = torch.randn(1, n, 64, device=dev, dtype=torch.bfloat16)
        txt = torch.randn(1, a.text, cfg['context_in_dim'], device=dev, dtype=torch.bfloat16)
        y = torch.randn(1, cfg['vec_in_dim'], device=dev, dtype=torch.bfloat16)
        ids = image_ids(1, g, g, device=dev)
        tids = torch.zeros(1, a.text, 3, device=dev)
        t = torch.full((1,), 0.5, device=dev)
        gd = torch.full((1,), 3.5, device=dev)
        for name, m in variants:
            t0 = time.perf_counter()
            times = []
            with torch.no_grad():
                fwd = lambda: m(img=img, img_ids=ids, txt=txt, txt_ids=tids, timesteps=t, y=y, guidance=gd)  # noqa: E731
                for i in range(a.warmup + a.runs):
                    ms = timed(fwd, dev)
                    if i >= a.warmup:
                        times.append(ms)
            r = {'res': res, 'image_tokens': n, 'mode': name, 'median_ms': statistics.median(times),
                 'min_ms': min(times), 'runs': len(times), 'warmup_s': round(time.perf_counter() - t0, 1),
                 'torch': torch.__version__, 'device': torch.cuda.get_device_name() if dev == 'cuda' else 'cpu'}
            if a.image_steps and ri == 0:
                steps = a.image_steps
                sched = torch.linspace(1.0, 0.0, steps + 1).tolist()

                def sample():
                    x = img.clone()
                    for s in range(steps):
                        ts = torch.full((1,), sched[s], device=dev)
                        v = m(img=x, img_ids=ids, txt=txt, txt_ids=tids, timesteps=ts, y=y, guidance=gd)
                        x = x + (sched[s + 1] - sched[s]) * v
                    return x

                with torch.no_grad():
                    per = [timed(sample, dev) for _ in range(a.image_runs)]
                r['image_steps'] = steps
                r['image_ms'] = statistics.median(per)
                r['image_runs_ms'] = per
            print(json.dumps(r), flush=True)
            results.append(r)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
