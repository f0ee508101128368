// TeaCache's polynomial fit: least squares recovers known coefficients, reports fit quality and refuses
// degenerate data; the samples pair each step's input change with the model output's change; and
// tools/fit-teacache.mjs runs end to end on the CPU at a tiny size.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fitPolynomial, fitQuality } from '../../src/cache/polyfit.js';
import { polyval, TEACACHE_FLUX_COEFFICIENTS, TeaCache } from '../../src/cache/teacache.js';
import { collectTeaCacheSamples } from '../../src/cache/teacache-fit.js';
import { FLUX_PRESETS, type FluxConfig } from '../../src/models/flux/config.js';
import { generate } from '../../src/pipeline/generate.js';
import { cpu, rng } from '../helpers.js';
import { pixelConfig, pixelModel } from './pixel-model.js';

describe('polynomial least squares', () => {
  it("recovers TeaCache's FLUX.1 polynomial from exact samples over its range of input changes", () => {
    const r = rng();
    const x = Array.from({ length: 60 }, () => 0.001 + 0.4 * r.uniform());
    const y = x.map((v) => polyval(TEACACHE_FLUX_COEFFICIENTS, v));
    const fit = fitPolynomial(x, y, 4);
    fit.coefficients.forEach((c, i) => {
      const want = TEACACHE_FLUX_COEFFICIENTS[i]!;
      assert.ok(Math.abs(c - want) <= 1e-6 * Math.abs(want) + 1e-9, `coefficient ${i}: ${c} vs ${want}`);
    });
    assert.ok(fit.r2 > 1 - 1e-12 && fit.rmse < 1e-9 && fit.n === 60);
  });

  it('with noise: the best line for a line plus noise, R² below 1; the identity scored on the same data', () => {
    const r = rng();
    const x = Array.from({ length: 200 }, () => r.uniform());
    const y = x.map((v) => 2 * v + 0.5 + 0.1 * (r.uniform() - 0.5));
    const fit = fitPolynomial(x, y, 1);
    assert.ok(Math.abs(fit.coefficients[0]! - 2) < 0.05 && Math.abs(fit.coefficients[1]! - 0.5) < 0.05);
    assert.ok(fit.r2 > 0.9 && fit.r2 < 1);
    assert.ok(fitQuality([1, 0], x, y).r2 < fit.r2, 'the least-squares fit beats the identity');
  });

  it('refuses too few points, constant x and mismatched lengths', () => {
    assert.throws(() => fitPolynomial([1, 2, 3], [1, 2, 3], 4), /needs at least 5 points/);
    assert.throws(() => fitPolynomial([0.2, 0.2, 0.2, 0.2], [1, 2, 3, 4], 2), /do not spread/);
    assert.throws(() => fitPolynomial([1, 2], [1], 0), /2 x values and 1 y values/);
  });
});

describe('TeaCache samples', () => {
  it("pair the modulated input's change with the model output's change of the same image and step", async () => {
    const { model, conditioning } = pixelModel(cpu);
    const run = { model, conditioning, size: 8, steps: 3, cfg: 3 };
    const samples = await collectTeaCacheSamples({ ...run, classes: [1, 2], seeds: [5, 6], batch: 2 });
    assert.deepEqual(
      samples.map((s) => [s.seed, s.step]),
      [
        [5, 1],
        [5, 2],
        [6, 1],
        [6, 2],
      ],
    );
    // seed 6 alone: its output change between steps 0 and 1, computed here
    const outs: Float32Array[] = [];
    await generate({
      model,
      conditioning,
      classes: [2],
      seeds: [6],
      seed: 0,
      width: 8,
      height: 8,
      steps: 3,
      cfg: 3,
      onModelOutput: async (_step, out) => {
        outs.push(await out.read());
      },
    });
    let diff = 0;
    let sum = 0;
    for (let i = 0; i < outs[0]!.length; i++) {
      diff += Math.abs(outs[1]![i]! - outs[0]![i]!);
      sum += Math.abs(outs[0]![i]!);
    }
    assert.ok(Math.abs(samples[2]!.outputChange - diff / sum) < 1e-12);
    for (const s of samples) assert.ok(s.inputChange > 0 && Number.isFinite(s.inputChange));
  });
});

describe('tools/fit-teacache.mjs', () => {
  it('fits a polynomial on the embedded model (CPU, 8 px, 4 steps, 2 seeds) and writes its report', () => {
    const tool = fileURLToPath(new URL('../../../tools/fit-teacache.mjs', import.meta.url));
    const json = join(mkdtempSync(join(tmpdir(), 'toma-fit-')), 'fit.json');
    const args = [
      '--backend',
      'cpu',
      '--size',
      '8',
      '--steps',
      '4',
      '--seeds',
      '2',
      '--batch',
      '2',
      '--degree',
      '2',
    ];
    const r = spawnSync(process.execPath, [tool, ...args, '--json', json], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /6 \(input change, output change\) pairs/);
    assert.match(r.stdout, /degree-2 fit: R² -?[0-9.]+, RMSE/);
    assert.match(r.stdout, /use: --teacache-poly [-0-9.e+]+,[-0-9.e+]+,[-0-9.e+]+$/m);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(report.samples.length, 6);
    assert.equal(report.fit.coefficients.length, 3);
    assert.ok(report.fit.coefficients.every(Number.isFinite));
  });
});

describe('TeaCache decisions', () => {
  /** Steps of a TeaCache whose probe changes by `rel` every step (x_s = x_0 · (1 + rel)^s). */
  function run(cache: TeaCache, config: FluxConfig, steps: number, rel: number) {
    const x0 = Float32Array.from([1, -2, 3, 0.5]);
    for (let s = 0; s < steps; s++) {
      cache.beginStep({ be: cpu, step: s, steps, rowGroups: [0], layoutKey: 'k', imageOrder: null, config });
      const metric = cache.measure(
        cpu.tensor(
          x0.map((v) => v * (1 + rel) ** s),
          [1, 4, 1],
        ),
      );
      const [full] = cache.decide(metric && cpu.data(metric));
      if (full) cache.update(cpu.zeros([1, 4, 1]), cpu.zeros([1, 4, 1]));
      cache.endStep(true);
    }
    return cache.decisions();
  }

  it('accumulates poly(rel) and computes when the sum reaches the threshold, and at the first and last step', () => {
    // poly(x) = 2x: 0.2 per step; threshold 0.5 -> computes every third step
    const d = run(new TeaCache(0.5, { coefficients: [2, 0] }), pixelConfig, 9, 0.1);
    assert.deepEqual(d.full[0], [true, false, false, true, false, false, true, false, true]);
    assert.ok(Math.abs(d.metric[0]![2]! - 0.4) < 1e-6 && Math.abs(d.change[0]![2]! - 0.1) < 1e-6);
  });

  it("uses FLUX.1's polynomial for the FLUX.1 architecture and the identity elsewhere", () => {
    const onPixel = new TeaCache(0.3);
    run(onPixel, pixelConfig, 2, 0.1);
    assert.deepEqual(onPixel.polynomial, [1, 0]);
    const onFlux = new TeaCache(0.3);
    run(onFlux, FLUX_PRESETS['flux-dev']!, 2, 0.1);
    assert.deepEqual(onFlux.polynomial, TEACACHE_FLUX_COEFFICIENTS);
  });
});
