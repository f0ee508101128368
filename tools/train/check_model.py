#!/usr/bin/env python3
"""Checks tools/train/model.py against the official Flux code's output on the flux-tiny-a fixture.

    python3 tools/train/check_model.py [/work/shared/fixtures]

Loads the fixture's weights into our Flux class with strict key matching (so every name and shape of
the original release's layout must match), runs the fixture's inputs in f32 and f64 on the CPU, and
compares with the official output `out`. Exits non-zero on any mismatch.
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Flux, FluxParams  # noqa: E402
import st_io  # noqa: E402


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ('-h', '--help'):
        print(__doc__.strip())
        return
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1].startswith('-')):
        sys.exit(f'check_model.py: unexpected arguments {sys.argv[1:]} (--help for usage)')
    fixtures = sys.argv[1] if len(sys.argv) > 1 else '/work/shared/fixtures'
    path = os.path.join(fixtures, 'flux-tiny-a.safetensors')
    meta_json = json.load(open(os.path.join(fixtures, 'flux-tiny-a.json')))
    tensors, _ = st_io.read(path)
    params = FluxParams(**meta_json['config'])
    model = Flux(params)
    weights = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith(('in.', 'out'))}
    ours = list(model.state_dict().keys())
    if ours != meta_json['weight_keys_in_state_dict_order']:
        sys.exit(f'state_dict key order differs from the release:\nours   {ours}\nrelease {meta_json["weight_keys_in_state_dict_order"]}')
    model.load_state_dict(weights, strict=True)  # raises on any missing/unexpected key or shape mismatch
    inputs = {k[3:]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith('in.')}
    ref = torch.from_numpy(tensors['out']).double()
    ok = True
    for dtype, tol in ((torch.float32, 1e-4), (torch.float64, 1e-4)):
        m = model.to(dtype)
        with torch.no_grad():
            out = m(**{k: v.to(dtype) for k, v in inputs.items()}).double()
        rel = ((out - ref).norm() / ref.norm()).item()
        mad = (out - ref).abs().max().item()
        print(f'{str(dtype):14s} rel err {rel:.2e}  max abs diff {mad:.2e}  (|ref| max {ref.abs().max():.1f})')
        ok &= rel < tol and bool(torch.isfinite(out).all())
    if not ok:
        sys.exit('MISMATCH against the official Flux output')
    print('model.py matches the official Flux forward on flux-tiny-a; keys and shapes identical')


if __name__ == '__main__':
    main()
