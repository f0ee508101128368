// Progress bars: redrawn in place on a terminal; outside one (a pipe, a log) sparse lines, at most one
// per tenth of the total or per SPARSE_MS, and always the last update.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ProgressBar, SPARSE_MS } from '../../src/cli/progress.js';

function fakeStream(isTTY: boolean, columns?: number) {
  const writes: string[] = [];
  return { isTTY, columns, writes, write: (s: string) => writes.push(s) };
}

describe('ProgressBar outside a terminal', () => {
  it('100 quick updates print one line per tenth, the last one included', () => {
    const s = fakeStream(false);
    let t = 0;
    const bar = new ProgressBar('load', s, () => t);
    for (let i = 1; i <= 100; i++) {
      t += 10;
      bar.update(i, 100);
    }
    bar.done();
    const lines = s.writes.join('').split('\n').filter(Boolean);
    // 1/100 (first), 10/100, 20/100, ..., 100/100
    assert.equal(lines.length, 11, lines.join('\n'));
    assert.match(lines[0]!, /\] 1\/100$/);
    assert.match(lines.at(-1)!, /^load \[#{24}\] 100\/100$/);
    assert.ok(s.writes.every((w) => !w.includes('\r')));
  });

  it('a slow run also prints when SPARSE_MS passed since the last line', () => {
    const s = fakeStream(false);
    let t = 0;
    const bar = new ProgressBar('eval', s, () => t);
    for (let i = 1; i <= 1000; i++) {
      t += SPARSE_MS / 4; // 4 updates per interval, 1000 updates in total
      bar.update(i, 1000);
    }
    const n = s.writes.length;
    // every 4th update by time (250), the tenths fall on those anyway
    assert.ok(n >= 250 && n <= 262, `${n} lines`);
  });

  it('done() prints the latest update when it was held back (a run that stopped early)', () => {
    const s = fakeStream(false);
    const bar = new ProgressBar('x', s, () => 0);
    bar.update(1, 100);
    bar.update(2, 100);
    bar.update(3, 100);
    bar.done();
    assert.deepEqual(
      s.writes.map((w) => w.trim().split(' ').at(-1)),
      ['1/100', '3/100'],
    );
  });
});

describe('ProgressBar on a terminal', () => {
  it('redraws every update in place, then ends the line', () => {
    const s = fakeStream(true, 200);
    const bar = new ProgressBar('denoise', s, () => 0);
    for (let i = 1; i <= 20; i++) bar.update(i, 20, '0.10 s/step');
    bar.done();
    assert.equal(s.writes.length, 21);
    assert.ok(s.writes.slice(0, 20).every((w) => w.startsWith('\r') && !w.includes('\n')));
    assert.match(s.writes[19]!, /20\/20 0\.10 s\/step$/);
    assert.equal(s.writes[20], '\n');
  });

  it('a line wider than the terminal is cut so it does not wrap', () => {
    const s = fakeStream(true, 30);
    new ProgressBar('a-long-label', s).update(5, 10, 'some detail');
    assert.equal(s.writes[0]!.length, 1 + 29);
  });
});

describe('toma generate through a pipe', () => {
  it('prints sparse progress lines, the last step included', () => {
    const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const out = mkdtempSync(join(tmpdir(), 'toma-progress-'));
    try {
      const r = spawnSync(
        process.execPath,
        [
          main,
          'generate',
          '--backend',
          'cpu',
          '--size',
          '8',
          '--steps',
          '30',
          '--no-compare',
          '--method',
          'dense',
          '--out',
          out,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      const bars = r.stderr.split('\n').filter((l) => /\[[#-]{24}\] \d+\/30/.test(l));
      assert.ok(bars.length >= 2 && bars.length <= 11, `${bars.length} progress lines:\n${r.stderr}`);
      assert.match(bars.at(-1)!, /\] 30\/30 /);
      assert.ok(!r.stderr.includes('\r'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
