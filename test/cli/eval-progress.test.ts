// `toma eval` where it used to run for hours in silence: on a machine whose only WebGPU adapter is a
// software one it falls back to the CPU backend (--backend auto) with a note, picks small defaults
// there and on the software adapter itself, and shows progress with a time per image and time left,
// sparse outside a terminal.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { evalDefaults } from '../../src/cli/commands/eval.js';
import { EtaBar, formatDuration } from '../../src/cli/progress.js';
import { CpuBackend } from '../../src/cpu/backend.js';
import { GpuBackend } from '../../src/gpu/backend.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'toma-eval-progress-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function evalRun(name: string, args: string[]) {
  const r = spawnSync(
    process.execPath,
    [
      main,
      'eval',
      '--features',
      'none',
      '--methods',
      'toma',
      '--ratios',
      '0.5',
      ...args,
      '--out',
      join(dir, name),
    ],
    { encoding: 'utf8' },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('eval progress', () => {
  it('sparse lines with images done, time per image and time left, the last one included', () => {
    // dense and toma 0.5, 12 seeds one per call: 24 updates
    const r = evalRun('cpu', [
      '--backend',
      'cpu',
      '--seeds',
      '12',
      '--batch',
      '1',
      '--size',
      '8',
      '--steps',
      '1',
      '--speed-seeds',
      '0',
    ]);
    assert.equal(r.code, 0, r.err);
    const lines = r.err.split('\n').filter((l) => l.startsWith('eval ['));
    assert.ok(lines.length >= 2 && lines.length < 24, `${lines.length} lines, not one per image:\n${r.err}`);
    for (const l of lines.slice(0, -1))
      assert.match(l, /^eval \[[#-]{24}\] \d+\/24 images \d+\.\d\d s\/image, ~\d+ s left$/);
    assert.match(lines.at(-1)!, /^eval \[#{24}\] 24\/24 images \d+\.\d\d s\/image, done in \d+ s$/);
    assert.doesNotMatch(r.err, /^\[\d+\/\d+\] /m, 'no line per call besides the bar');
  });

  it('formats durations and the ETA from the mean time so far', () => {
    assert.deepEqual(
      [formatDuration(400), formatDuration(42_000), formatDuration(200_000), formatDuration(7_500_000)],
      ['0 s', '42 s', '3 min 20 s', '2 h 05 min'],
    );
    const writes: string[] = [];
    let t = 0;
    const bar = new EtaBar('eval', 'image', { isTTY: false, write: (s) => writes.push(s) }, () => t);
    t = 30_000;
    bar.update(3, 30); // 10 s per image, 27 to go
    t = 300_000;
    bar.update(30, 30);
    assert.match(writes[0]!, /3\/30 images 10\.00 s\/image, ~4 min 30 s left\n$/);
    assert.match(writes[1]!, /30\/30 images 10\.00 s\/image, done in 5 min 00 s\n$/);
  });
});

describe('eval on a software adapter', () => {
  const tiny = ['--seeds', '1', '--steps', '1', '--speed-seeds', '0'];
  const auto = evalRun('auto', ['--backend', 'auto', ...tiny]);
  const software = /the only WebGPU adapter is a software one/.test(auto.err);

  it('--backend auto falls back to the CPU backend with a note, and small defaults', {
    skip: software ? false : 'no software-only adapter here',
  }, () => {
    assert.equal(auto.code, 0, auto.err);
    assert.match(
      auto.err,
      /running on the faster CPU backend \(smaller size, fewer seeds\); --backend webgpu uses it anyway/,
    );
    assert.match(auto.out, /^backend: CPU backend/m);
    assert.match(auto.out, /; 32x32 px, 1 steps, .* batch 4$/m);
  });

  it('the small defaults apply on the CPU backend and on a software adapter, not on a GPU', () => {
    // a software adapter's backend, without a device (running one on SwiftShader takes a minute)
    const gpu = (software: boolean) =>
      Object.assign(Object.create(GpuBackend.prototype), { gpu: { caps: { software } } }) as GpuBackend;
    const small = { seeds: 4, size: 32, steps: 4, batch: 4, speedSeeds: 2 };
    assert.deepEqual(evalDefaults(new CpuBackend()), small);
    assert.deepEqual(evalDefaults(gpu(true)), small);
    assert.deepEqual(evalDefaults(gpu(false)), { seeds: 64, size: 128, steps: 28, batch: 8, speedSeeds: 8 });
  });
});
