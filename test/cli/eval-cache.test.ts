// `toma eval` with step caches on the CPU (2 seeds, 8 px, 3 steps): caches crossed with methods and
// explicit configurations, the full steps of every seed in results.json, speed at batch 1, the new
// table column, grid columns and Pareto curves, and --from keeping all of it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { EvalReport } from '../../src/eval/report.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'toma-eval-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function toma(...args: string[]) {
  const r = spawnSync(process.execPath, [main, 'eval', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('toma eval with step caches (CPU)', () => {
  const out = join(dir, 'out');
  const run = toma(
    ...[
      '--backend',
      'cpu',
      '--seeds',
      '2',
      '--size',
      '8',
      '--steps',
      '3',
      '--batch',
      '2',
      '--features',
      'none',
    ],
    ...[
      '--methods',
      'toma',
      '--ratios',
      '0.5',
      '--caches',
      'fora:2',
      '--configs',
      'fbcache:0.5,hilbert+fora:3',
    ],
    ...['--speed-seeds', '1', '--out', out],
  );
  const labels = ['dense', 'toma 0.5', 'fora 2', 'toma 0.5 + fora 2', 'fbcache 0.5', 'hilbert + fora 3'];

  it('runs dense, the method, the cache alone and crossed, and the explicit configurations', () => {
    assert.equal(run.code, 0, run.err);
    // 6 configurations x (2 seeds + 1 speed seed); the speed pass's calls are checked in results.json
    assert.match(run.err, /^eval \[#{24}\] 18\/18 images .*, done in /m, run.err);
    assert.match(run.out, /steps computed/);
    assert.match(run.out, /^toma 0\.5 \+ fora 2 .* 2\.0\/3 /m);
    assert.match(run.out, /^toma 0\.5 .* 3 /m);
  });

  it('results.json: configurations with their caches, full steps per seed, speed at batch 1', () => {
    const j = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as EvalReport;
    assert.deepEqual(
      j.results.map((m) => [m.config.label, m.config.cache]),
      labels.map((l, i) => [l, [null, null, 'fora:2', 'fora:2', 'fbcache:0.5', 'fora:3'][i]]),
    );
    const byLabel = new Map(j.results.map((m) => [m.config.label, m]));
    assert.deepEqual(byLabel.get('fora 2')!.cache!.fullSteps, [
      [0, 2],
      [0, 2],
    ]);
    assert.deepEqual(byLabel.get('hilbert + fora 3')!.cache!.fullSteps, [[0], [0]]);
    assert.equal(byLabel.get('toma 0.5 + fora 2')!.cache!.computedSteps.mean, 2);
    const fb = byLabel.get('fbcache 0.5')!.cache!;
    assert.ok(fb.fullSteps.every((f) => f[0] === 0 && f.length >= 1 && f.length <= 3));
    assert.equal(byLabel.get('toma 0.5')!.cache, undefined);
    for (const m of j.results) {
      assert.equal(m.speed.basis, 'batch 1');
      assert.equal(m.speed.singleCalls!.length, 1);
    }
    assert.equal(j.settings.speedSeeds, 1);
    // images of cached configurations differ from dense but stay close
    for (const l of ['fora 2', 'toma 0.5 + fora 2'])
      for (const p of byLabel.get(l)!.perSeed) assert.ok(p.psnr > 5 && p.psnr < 99, `${l} ${p.psnr}`);
  });

  it('the grid shows the caches, the Pareto plot a curve per family', () => {
    const j = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as EvalReport;
    assert.deepEqual(
      j.grid!.columns,
      // no uncached HilbertA configuration, so no HilbertA column; each cache family once
      ['dense', 'toma 0.5', 'toma 0.5 dst', 'fora 2', 'toma 0.5 + fora 2', 'fbcache 0.5'],
    );
    const svg = readFileSync(join(out, 'pareto.svg'), 'utf8');
    for (const family of ['toma', 'fora', 'toma+fora', 'fbcache', 'hilbert+fora'])
      assert.ok(svg.includes(`>${family}</text>`), `legend ${family}`);
    assert.match(svg, /batch 1/);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    assert.match(md, /\| steps computed \|/);
    assert.match(md, /Steps computed: mean over seeds/);
    assert.match(md, /^- fora 2: 2\/3, `full=0,2`$/m);
  });

  it('--from keeps the caches, their full steps and the batch-1 speed', () => {
    const out2 = join(dir, 'out2');
    const again = toma('--from', out, '--features', 'none', '--out', out2);
    assert.equal(again.code, 0, again.err);
    const a = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as EvalReport;
    const b = JSON.parse(readFileSync(join(out2, 'results.json'), 'utf8')) as EvalReport;
    assert.deepEqual(
      b.results.map((m) => [m.cache, m.speed]),
      a.results.map((m) => [m.cache, m.speed]),
    );
  });

  it('bad cache configurations are usage errors', () => {
    const cases: [string[], RegExp][] = [
      [['--caches', 'fbcache:x'], /--caches: cache "fbcache:x"/],
      [['--configs', 'toma:0.5+fora:2+fbcache:1'], /--configs: configuration .* one cache at most/],
      [['--configs', 'fora:2', '--teacache-poly', '1,0'], /--teacache-poly goes with a teacache:T cache/],
      [['--speed-seeds=-1'], /--speed-seeds must be an integer >= 0/],
    ];
    for (const [args, want] of cases) {
      const r = toma('--backend', 'cpu', '--seeds', '1', '--size', '4', '--steps', '1', ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, want);
    }
  });
});
