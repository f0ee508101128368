#!/usr/bin/env python3
"""Reference numbers for test/schedulers/euler.test.ts, written from the formulas (numpy only).

The Euler / Euler-ancestral schedulers of SDXL base 1.0 (scheduler/scheduler_config.json:
scaled_linear betas 0.00085..0.012, 1000 training timesteps, leading spacing, steps_offset 1):

  betas       = linspace(sqrt(beta_start), sqrt(beta_end), N) ** 2
  alpha_bar   = cumprod(1 - betas)
  sigma_train = sqrt((1 - alpha_bar) / alpha_bar)
  leading:    t_i = (steps - 1 - i) * (N // steps) + steps_offset
  linspace:   steps points from N - 1 down to 0 (float32)
  trailing:   round_half_even(N - i * N / steps) - 1 for i in range(ceil(N / (N / steps)))
  sigmas      = interp(t, 0..N-1, sigma_train) + [0]
  init sigma  = sqrt(max(sigmas)^2 + 1) (leading), max(sigmas) otherwise
  euler:      x + (s[i+1] - s[i]) * eps
  ancestral:  up = sqrt(s1^2 (s0^2 - s1^2) / s0^2), down = sqrt(s1^2 - up^2),
              x + (down - s0) * eps + up * n

Run: python3 tools/sdxl-scheduler-reference.py > test/schedulers/euler-reference.ts
     && npx biome check --write test/schedulers/euler-reference.ts
"""
import json
import math

import numpy as np

N = 1000
BETA_START, BETA_END = 0.00085, 0.012


def train_sigmas():
    betas = np.linspace(math.sqrt(BETA_START), math.sqrt(BETA_END), N, dtype=np.float64) ** 2
    alpha_bar = np.cumprod(1.0 - betas)
    return np.sqrt((1.0 - alpha_bar) / alpha_bar)


def timesteps(steps, spacing, offset=1):
    if spacing == "leading":
        r = N // steps
        return np.array([(steps - 1 - i) * r + offset for i in range(steps)], dtype=np.float64)
    if spacing == "linspace":
        return np.linspace(0, N - 1, steps).astype(np.float32).astype(np.float64)[::-1]
    if spacing == "trailing":
        r = N / steps
        n = math.ceil(N / r)
        return np.array([np.round(N - i * r) - 1 for i in range(n)], dtype=np.float64)
    raise ValueError(spacing)


def schedule(steps, spacing):
    ts = timesteps(steps, spacing)
    s = np.interp(ts, np.arange(N, dtype=np.float64), train_sigmas())
    sig = np.concatenate([s, [0.0]])
    init = math.sqrt(sig.max() ** 2 + 1) if spacing == "leading" else sig.max()
    return ts, sig, init


def rnd(v):
    return [float(f"{x:.17g}") for x in v]


out = {}
ts = train_sigmas()
out["trainSigmas"] = {str(t): float(ts[t]) for t in (0, 1, 499, 998, 999)}
for steps, spacing in [(50, "leading"), (30, "leading"), (7, "leading"), (1, "leading"),
                       (10, "linspace"), (7, "linspace"), (1, "linspace"), (16, "trailing"), (3, "trailing")]:
    t, s, init = schedule(steps, spacing)
    out[f"{spacing}-{steps}"] = {"timesteps": rnd(t), "sigmas": rnd(s), "init": init}

# one step of each sampler on a small fixed example (7 values), SDXL 30 leading steps, steps 0 and 28
_, s30, _ = schedule(30, "leading")
x = np.array([0.5, -1.25, 3.0, 0.0, -0.75, 2.5, 14.0])
eps = np.array([0.25, -0.5, 1.5, -2.0, 0.125, 1.0, 0.875])
n = np.array([1.0, -0.3, 0.7, 0.2, -1.1, 0.05, 2.0])
steps_out = {}
for i in (0, 28):
    s0, s1 = s30[i], s30[i + 1]
    euler = x + (s1 - s0) * eps
    up = math.sqrt(s1 ** 2 * (s0 ** 2 - s1 ** 2) / s0 ** 2)
    down = math.sqrt(s1 ** 2 - up ** 2)
    anc = x + (down - s0) * eps + up * n
    steps_out[str(i)] = {"euler": rnd(euler), "ancestral": rnd(anc), "up": up, "down": down,
                         "scale": 1 / math.sqrt(s0 ** 2 + 1)}
out["steps30"] = {"x": rnd(x), "eps": rnd(eps), "noise": rnd(n), "at": steps_out}

print("// Made by tools/sdxl-scheduler-reference.py (numpy, written from the formulas), formatted by biome; do not edit.")
print(f"export const REFERENCE = {json.dumps(out)} as const;")
