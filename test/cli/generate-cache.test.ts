// `toma generate --cache` on both paths (the embedded model and a tiny random FLUX.1-dev folder, CPU):
// the method runs with its cache, the computed steps are printed, the files are named after both, and
// bad cache options are usage errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tinyFolder } from '../pipeline/tiny-folder.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'toma-generate-cache-'));

function toma(args: string[]) {
  const r = spawnSync(process.execPath, [cli, 'generate', '--backend', 'cpu', ...args], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('toma generate --cache', () => {
  it('embedded model: toma + fora:2 against dense, with the computed steps', () => {
    const out = join(dir, 'embedded');
    const r = toma([
      '--size',
      '8',
      '--steps',
      '5',
      '--method',
      'toma',
      '--cache',
      'fora:2',
      '--compare',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.err);
    // the embedded model's default ratio for toma is 0.25 (README, "Defaults")
    assert.match(r.out, /^toma 0\.25 \+ fora 2 +[0-9.]+ s/m);
    assert.match(r.out, /green-meadow: 3 of 5 steps computed \(full=0,2,4\)/);
    assert.match(r.out, /toma 0\.25 \+ fora 2 vs dense: [0-9.]+x/);
    assert.ok(existsSync(join(out, 'green-meadow-seed0-8px-toma0.25+fora2-cpu.png')));
    assert.ok(existsSync(join(out, 'green-meadow-seed0-8px-dense-cpu.png')));
  });

  it('FLUX.1 folder: toma + taylorseer with --compare, replaying a schedule', async () => {
    const out = join(dir, 'flux');
    const r = toma([
      ...['--model-dir', await tinyFolder('tiny-dev'), '--prompt', 'a cat', '--steps', '4', '--size', '32'],
      ...[
        '--method',
        'toma',
        '--cache',
        'taylorseer:3',
        '--cache-schedule',
        'full=0,3',
        '--compare',
        '--out',
        out,
      ],
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /denoise toma\+taylorseer:3 +[0-9.]+ s/);
    assert.match(r.out, /toma\+taylorseer:3: 2 of 4 steps computed \(full=0,3\)/);
    assert.match(r.out, /toma\+taylorseer:3 vs dense \(denoising\): [0-9.]+x/);
    assert.ok(existsSync(join(out, 'a-cat-seed0-32px-toma+taylorseer-3-cpu.png')));
  });

  it('the default for the embedded model is ToMA 0.25 with FORA every 2nd step; --cache none turns it off', () => {
    const r = toma(['--size', '4', '--steps', '4', '--out', join(dir, 'defaults')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^toma 0\.25 \+ fora 2 +[0-9.]+ s/m);
    // on the CPU dense runs only with --compare (it would double the wait)
    assert.doesNotMatch(r.out, /^dense /m);
    const both = toma(['--size', '4', '--steps', '1', '--compare', '--no-compare']);
    assert.equal(both.code, 2);
    assert.match(both.err, /--compare and --no-compare contradict/);
    const off = toma(['--size', '4', '--steps', '2', '--cache', 'none', '--out', join(dir, 'defaults')]);
    assert.equal(off.code, 0, off.err);
    assert.match(off.out, /^toma 0\.25 +[0-9.]+ s/m);
    assert.doesNotMatch(off.out, /fora/);
  });

  it('bad cache options are usage errors', () => {
    const cases: [string[], RegExp][] = [
      [['--cache', 'fbcache'], /--cache: cache "fbcache": fbcache takes 1 argument/],
      [['--cache', 'fora:2', '--teacache-poly', '1,0'], /--teacache-poly goes with a teacache:T cache/],
      [
        ['--cache', 'teacache:0.2', '--teacache-poly', '1,x'],
        /--teacache-poly must be comma-separated numbers/,
      ],
      [['--method', 'dense', '--cache-schedule', 'full=0'], /--cache-schedule goes with a cache/],
      [['--cache', 'fora:2', '--steps', '3', '--cache-schedule', 'full=0,5'], /step 5 is not in 0\.\.2/],
    ];
    for (const [args, want] of cases) {
      const r = toma(['--size', '4', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, want);
    }
  });
});
