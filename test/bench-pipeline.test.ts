// The pipeline benchmark runs end to end (tiny preset, CPU backend: seconds) and writes its JSON report.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

describe('bench/flux-pipeline', () => {
  it('--tiny reports every stage, dense vs ToMA and the peak memory', () => {
    const script = fileURLToPath(new URL('../bench/flux-pipeline.js', import.meta.url));
    const json = join(mkdtempSync(join(tmpdir(), 'toma-bench-')), 'pipeline.json');
    const r = spawnSync(
      process.execPath,
      [script, '--tiny', '--backend', 'cpu', '--warmup', '1', '--json', json],
      {
        encoding: 'utf8',
        timeout: 300_000,
      },
    );
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /toma vs dense: [0-9.]+x denoising/);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(report.preset, 'tiny');
    assert.equal(report.variant, 'schnell');
    assert.equal(report.finite, true);
    assert.equal(report.imageTokens, 4);
    assert.equal(report.textTokens, 16);
    assert.deepEqual(
      report.stages.map(
        (s: { stage: string; method?: string }) => s.stage + (s.method ? `:${s.method}` : ''),
      ),
      [
        'tokenize',
        'load T5',
        'T5',
        'load CLIP',
        'CLIP',
        'load transformer',
        'denoise:dense',
        'denoise:toma',
        'load AE',
        'decode:dense',
        'decode:toma',
      ],
    );
    for (const m of report.methods) assert.equal(m.stepMs.length, 2);
    assert.ok(report.peakBytes > 0 && report.stages.every((s: { ms: number }) => s.ms >= 0));
  });
});
