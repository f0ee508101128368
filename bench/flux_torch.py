"""PyTorch side-by-side reference for bench/flux-forward.ts: the same Flux-dev transformer forward
(tools/train/model.py, this project's PyTorch Flux with the release's module layout), random weights,
bf16 (the dtype the official model runs in), batch 1, 512 text tokens, eager with SDPA attention.
Median of --runs forwards timed with CUDA events after --warmup forwards.

    python3 bench/flux_torch.py --res 1024,2048 --runs 10 [--json out.json]
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--res', default='1024,2048')
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--text', type=int, default=512)
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
    results = []
    for res in [int(r) for r in a.res.split(',')]:
        g = res // 16
        n = g * g
        img = torch.randn(1, n, 64, device=dev, dtype=torch.bfloat16)
        txt = torch.randn(1, a.text, cfg['context_in_dim'], device=dev, dtype=torch.bfloat16)
        y = torch.randn(1, cfg['vec_in_dim'], device=dev, dtype=torch.bfloat16)
        ids = image_ids(1, g, g, device=dev)
        tids = torch.zeros(1, a.text, 3, device=dev)
        t = torch.full((1,), 0.5, device=dev)
        gd = torch.full((1,), 3.5, device=dev)
        times = []
        with torch.no_grad():
            for i in range(a.warmup + a.runs):
                if dev == 'cuda':
                    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    s.record()
                    model(img=img, img_ids=ids, txt=txt, txt_ids=tids, timesteps=t, y=y, guidance=gd)
                    e.record()
                    torch.cuda.synchronize()
                    ms = s.elapsed_time(e)
                else:
                    t0 = time.perf_counter()
                    model(img=img, img_ids=ids, txt=txt, txt_ids=tids, timesteps=t, y=y, guidance=gd)
                    ms = (time.perf_counter() - t0) * 1e3
                if i >= a.warmup:
                    times.append(ms)
        r = {'res': res, 'image_tokens': n, 'median_ms': statistics.median(times), 'runs': len(times),
             'torch': torch.__version__, 'device': torch.cuda.get_device_name() if dev == 'cuda' else 'cpu'}
        print(json.dumps(r), flush=True)
        results.append(r)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
