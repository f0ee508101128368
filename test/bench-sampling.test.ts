// The whole-sampling benchmark runs end to end (flux-tiny on SwiftShader) with methods and caches
// replaying a schedule, and writes its JSON report.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { noGpu } from './helpers.js';

describe('bench/flux-sampling', { skip: noGpu }, () => {
  it('--tiny: dense, toma + fbcache and toma+hilbert + fora replaying full=0,2', () => {
    const script = fileURLToPath(new URL('../bench/flux-sampling.js', import.meta.url));
    const json = join(mkdtempSync(join(tmpdir(), 'toma-bench-sampling-')), 'bench.json');
    const configs = 'dense,toma:0.5+fbcache:0.1,toma+hilbert:0.5+fora:2';
    const args = ['--tiny', '--steps', '3', '--text', '4', '--dtype', 'f32', '--configs', configs];
    const r = spawnSync(process.execPath, [script, ...args, '--schedule', 'full=0,2', '--json', json], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(report.config, 'flux-tiny');
    assert.equal(report.steps, 3);
    assert.equal(report.schedule, 'full=0,2');
    assert.deepEqual(
      report.results.map((x: { config: string }) => x.config),
      ['dense', 'toma:0.5+fbcache:0.1', 'toma+hilbert:0.5+fora:2'],
    );
    for (const x of report.results) {
      assert.equal(x.runsMs.length, 1);
      assert.equal(x.perStepMs.length, 3);
      assert.ok(x.totalMs > 0 && x.finite && x.launches > 0);
    }
    const [dense, fb, fora] = report.results;
    assert.equal(dense.fullSteps, null);
    assert.deepEqual(fb.fullSteps, [0, 2]);
    assert.deepEqual(fora.fullSteps, [0, 2]);
    // replay still measures: First-Block-Cache's metric at every step after the first
    assert.ok(fb.change[0] === null && fb.change.slice(1).every((v: number) => v > 0));
    assert.match(
      r.stdout,
      /toma 0\.5 \+ fbcache 0\.1 +total +[0-9.]+ ms, [0-9.]+ ms\/step, 2\/3 steps computed/,
    );
  });
});
