// The Flux forward benchmark runs end to end (tiny config) and writes its JSON report.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { noGpu } from './helpers.js';

describe('bench/flux-forward', { skip: noGpu }, () => {
  it('--tiny runs and reports a median per resolution', () => {
    const script = fileURLToPath(new URL('../bench/flux-forward.js', import.meta.url));
    const json = join(mkdtempSync(join(tmpdir(), 'toma-bench-')), 'bench.json');
    const args = ['--tiny', '--res', '32', '--runs', '2', '--warmup', '1', '--text', '4', '--dtype', 'f32'];
    const r = spawnSync(process.execPath, [script, ...args, '--no-profile', '--json', json], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(report.config, 'flux-tiny');
    assert.equal(report.results.length, 1);
    const res = report.results[0];
    assert.equal(res.imageTokens, 4);
    assert.equal(res.runsMs.length, 2);
    assert.ok(res.medianMs > 0 && res.finite && res.launches > 0);
  });
});
