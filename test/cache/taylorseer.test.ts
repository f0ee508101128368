// TaylorSeer's forecast through the cache interface, on residuals with known step dependence: the
// documented formula R(s) ≈ Σ_k Δ^k R · (s − s_last)^k / (k! · d^k) for evenly spaced full steps.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCache } from '../../src/cache/create.js';
import type { StepCache } from '../../src/cache/step-cache.js';
import { cpu } from '../helpers.js';
import { pixelConfig } from './pixel-model.js';

/** Runs a cache over `steps` steps where the residual at step s is residual(s) (base 0); returns the
 * residual each skipped step used, by step. */
async function forecasts(cache: StepCache, steps: number, residual: (s: number) => Float32Array) {
  const used = new Map<number, Float32Array>();
  const n = residual(0).length;
  for (let s = 0; s < steps; s++) {
    cache.beginStep({
      be: cpu,
      step: s,
      steps,
      rowGroups: [0],
      layoutKey: 'test',
      imageOrder: null,
      config: pixelConfig,
    });
    const [full] = cache.decide(null);
    const base = cpu.zeros([1, n, 1]);
    if (full) cache.update(base, cpu.tensor(residual(s), [1, n, 1]));
    else used.set(s, await cache.skippedResidual().read());
    cache.endStep(true);
  }
  return used;
}

const quadratic = (s: number) =>
  Float32Array.from([1, -2, 0.5], (a, i) => a + (i + 1) * 0.25 * s + 0.125 * i * s * s);

describe('TaylorSeer forecasts', () => {
  it('full steps: the warm-up steps, then every N after the last full step', async () => {
    const cache = createCache('taylorseer:3:1:2')!;
    await forecasts(cache, 10, quadratic);
    assert.deepEqual(cache.decisions().full[0], [
      true,
      true,
      false,
      false,
      true,
      false,
      false,
      true,
      false,
      false,
    ]);
  });

  it('order 0 (FORA) reuses the last residual; order 1 continues the slope exactly for a linear residual', async () => {
    const linear = (s: number) => Float32Array.from([1, -2, 0.5], (a, i) => a + (i - 1) * 0.75 * s);
    const fora = await forecasts(createCache('fora:3')!, 6, linear);
    assert.deepEqual([...fora.keys()], [1, 2, 4, 5]);
    assert.deepEqual(Array.from(fora.get(5)!), Array.from(linear(3)));
    const t1 = await forecasts(createCache('taylorseer:3:1:1')!, 6, linear);
    for (const s of [4, 5]) {
      const got = t1.get(s)!;
      for (const [i, v] of linear(s).entries())
        assert.ok(Math.abs(got[i]! - v) < 1e-5, `step ${s}: ${got[i]} vs ${v}`);
    }
  });

  it('order 2 follows the documented formula with the step distance d between full steps', async () => {
    // interval 3, warm-up 1: full steps 0, 3, 6; steps 7 and 8 forecast from R(0), R(3), R(6)
    const used = await forecasts(createCache('taylorseer:3:2:1')!, 9, quadratic);
    const [r0, r3, r6] = [quadratic(0), quadratic(3), quadratic(6)];
    const d = 3;
    for (const s of [7, 8]) {
      const x = s - 6;
      const want = r6.map((v, i) => {
        const d1 = v - r3[i]!;
        const d2 = v - 2 * r3[i]! + r0[i]!;
        return v + (d1 * x) / d + (d2 * x * x) / (2 * d * d);
      });
      const got = used.get(s)!;
      for (const [i, v] of want.entries())
        assert.ok(Math.abs(got[i]! - v) < 1e-5, `step ${s}[${i}]: ${got[i]} vs ${v}`);
      // and not the order-1 forecast
      const order1 = r6.map((v, i) => v + ((v - r3[i]!) * x) / d);
      assert.ok(order1.some((v, i) => Math.abs(got[i]! - v) > 1e-3));
    }
  });
});
