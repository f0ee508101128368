// End to end: `toma eval` on the CPU backend (2 seeds, 16 px, 2 steps) with a folder of real images
// (PNG and JPEG), writing every output; then `--from` recomputing the metrics from the written images.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deflateSync, inflateSync } from 'node:zlib';
import type { EvalReport } from '../../src/eval/report.js';
import { encodePng } from '../../src/io/png.js';
import { decodePng } from '../../src/io/png-decode.js';
import { rng } from '../helpers.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'toma-eval-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const jpeg = await import('jpeg-js');
let features = 'mobilenet';
try {
  // optional packages (npm run setup:eval): variable specifiers, so the build needs no declarations
  for (const m of ['@tensorflow/tfjs-core', 'nsfwjs/models/mobilenet_v2']) await import(m);
} catch {
  features = 'none-installed';
}

function toma(...args: string[]) {
  const r = spawnSync(process.execPath, [main, 'eval', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('toma eval (CLI, end to end on the CPU)', () => {
  const real = join(dir, 'real');
  mkdirSync(real);
  const r = rng(3);
  for (let i = 0; i < 3; i++) {
    const px = Uint8Array.from({ length: 20 * 24 * 3 }, () => r.nextU32() & 0xff);
    writeFileSync(
      join(real, `r${i}.png`),
      encodePng(px, 20, 24, 3, (raw) => deflateSync(raw)),
    );
  }
  const rgba = Uint8Array.from({ length: 18 * 18 * 4 }, () => r.nextU32() & 0xff);
  writeFileSync(join(real, 'r3.jpg'), jpeg.encode({ width: 18, height: 18, data: rgba }, 90).data);
  const out = join(dir, 'out');
  // 'mobilenet' where the packages are installed; otherwise the same name, to see it reported unavailable
  const first = toma(
    ...['--backend', 'cpu', '--seeds', '2', '--size', '16', '--steps', '2', '--batch', '2'],
    ...['--features', 'mobilenet', '--feature-workers', '1', '--real', real, '--out', out],
  );

  it('exits 0, shows progress up to the last image and prints the full results table with the caveat', () => {
    assert.equal(first.code, 0, first.err);
    // 9 configurations x (2 seeds + 2 speed seeds), with a time per image
    assert.match(first.err, /^eval \[#{24}\] 36\/36 images \d+\.\d\d s\/image, done in \d+ s$/m, first.err);
    for (const label of ['dense', 'toma 0.25', 'toma 0.5', 'toma 0.75', 'tomesd 0.5', 'todo', 'hilbert'])
      assert.match(first.out, new RegExp(`^${label.replace('.', '\\.')} `, 'm'));
    assert.match(first.out, /ms\/image b1 \[IQR\]\s+speedup\s+PSNR dB/);
    assert.match(
      first.out,
      /Speed: wall time of generate\(\) calls of one image each .* on the first 2 seeds/,
    );
    assert.match(first.out, /Caveat: deep-feature numbers use networks from npm nsfwjs/);
  });

  it('writes every output (and nothing else) under --out', () => {
    assert.deepEqual(readdirSync(out).sort(), [
      'grid.png',
      'pareto.svg',
      'results.json',
      'results.md',
      'samples-1.png',
    ]);
  });

  it('results.json holds settings, device, per-method summaries, per-seed values and the grid destinations', () => {
    const j = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as EvalReport;
    assert.equal(j.tool, 'toma eval');
    assert.deepEqual(j.settings.seeds, [0, 1]);
    assert.deepEqual(j.settings.classes, [1, 2], 'classes cycle from 1 (0 is the null class)');
    assert.equal(j.settings.size, 16);
    assert.match(j.device.backend, /^CPU backend/);
    assert.equal(j.results.length, 9);
    const dense = j.results[0]!;
    assert.equal(dense.config.label, 'dense');
    assert.equal(dense.psnr, null);
    assert.equal(dense.speed.speedup, 1);
    for (const m of j.results.slice(1)) {
      assert.equal(m.perSeed.length, 2);
      for (const p of m.perSeed) {
        assert.ok(
          typeof p.psnr === 'number' && p.psnr > 0 && p.psnr < 99,
          `${m.config.label} psnr ${p.psnr}`,
        );
        assert.ok(p.ssim > -1 && p.ssim < 1);
      }
      assert.equal(m.speed.calls.length, 1);
      assert.equal(m.speed.basis, 'batch 1');
      assert.deepEqual(
        m.speed.singleCalls!.map((c) => c.seeds),
        [[0], [1]],
      );
      assert.ok(m.speed.msPerImage.median > 0 && m.speed.speedup > 0);
      assert.ok(m.speed.batched.msPerImage.median > 0);
    }
    if (features === 'mobilenet') {
      assert.equal(j.features.available, true);
      assert.equal(j.features.dim, 1280);
      for (const m of j.results) {
        const k = m.kid.real!;
        assert.ok(k && Number.isFinite(k.mean) && k.nX === 2 && k.nY === 4, `${m.config.label} KID`);
        if (m.config.label !== 'dense') assert.ok(m.featDist && m.featDist.median > 0);
      }
    } else {
      assert.equal(j.features.available, false);
      assert.match(j.features.reason!, /npm run setup:eval/);
      assert.deepEqual(j.results[1]!.kid, {});
    }
    assert.deepEqual(j.real, [{ name: 'real', dir: real, count: 4, refitted: 4 }]);
    // ToMA's destinations at ratio 0.5 on the 8x8 token grid, tiles of 4x4: 8 of 16 kept per tile
    const g = j.grid!;
    assert.deepEqual(g.columns, ['dense', 'toma 0.5', 'toma 0.5 dst', 'tomesd 0.5', 'todo', 'hilbert']);
    for (const s of ['0', '1']) {
      const d = g.destinations[s]!;
      assert.deepEqual([d.rows, d.cols, d.tile, d.ratio, d.step], [8, 8, 4, 0.5, 1]);
      assert.equal(d.destinations.length, 32);
      assert.equal(new Set(d.destinations).size, 32);
      const perTile = new Map<number, number>();
      for (const t of d.destinations) {
        const tile = Math.floor(Math.floor(t / 8) / 4) * 2 + Math.floor((t % 8) / 4);
        perTile.set(tile, (perTile.get(tile) ?? 0) + 1);
      }
      assert.deepEqual([...perTile.values()], [8, 8, 8, 8]);
    }
  });

  it('the markdown table, the grid PNG, the SVG and the sample atlas are valid', () => {
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    assert.match(md, /^\| method \| ms\/image b1 \[IQR\] \| speedup \|/m);
    assert.equal(md.match(/^\| (dense|toma|tomesd|todo|hilbert)/gm)?.length, 9);
    assert.match(md, /\*\*Caveat:\*\*/);
    const grid = decodePng(readFileSync(join(out, 'grid.png')), (z) => inflateSync(z));
    assert.ok(grid.width > 6 * 128 && grid.height > 2 * 128, `${grid.width}x${grid.height}`);
    const svg = readFileSync(join(out, 'pareto.svg'), 'utf8');
    assert.ok(svg.startsWith('<?xml') && svg.trimEnd().endsWith('</svg>'));
    assert.ok((svg.match(/<circle /g)?.length ?? 0) >= 8, 'a point per non-dense configuration');
    const atlas = decodePng(readFileSync(join(out, 'samples-1.png')), (z) => inflateSync(z));
    assert.deepEqual([atlas.width, atlas.height], [9 * 16, 2 * 16]);
  });

  it('--from recomputes the metrics from the written images: same fidelity and speed numbers', () => {
    const out2 = join(dir, 'out2');
    const again = toma('--from', out, '--features', 'none', '--out', out2);
    assert.equal(again.code, 0, again.err);
    const a = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as EvalReport;
    const b = JSON.parse(readFileSync(join(out2, 'results.json'), 'utf8')) as EvalReport;
    assert.equal(b.recomputedFrom?.dir, out);
    assert.deepEqual(b.device, a.device);
    for (let i = 0; i < a.results.length; i++) {
      assert.deepEqual(
        b.results[i]!.perSeed.map((p) => [p.psnr, p.ssim]),
        a.results[i]!.perSeed.map((p) => [p.psnr, p.ssim]),
      );
      assert.deepEqual(b.results[i]!.speed, a.results[i]!.speed);
      assert.equal(b.results[i]!.featDist, null);
    }
    assert.deepEqual(b.grid!.destinations, a.grid!.destinations);
    assert.equal(b.features.available, false);
    assert.ok(existsSync(join(out2, 'grid.png')) && existsSync(join(out2, 'samples-1.png')));
  });

  it('reports the deep-feature metrics as unavailable (with the reason) when the packages cannot load', () => {
    // a resolve hook that hides TensorFlow.js, as on an installation without the optional packages
    writeFileSync(
      join(dir, 'hide-tfjs.mjs'),
      `export async function resolve(spec, ctx, next) {
  if (spec.startsWith('@tensorflow/')) throw Object.assign(new Error("Cannot find package '" + spec + "'"), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(spec, ctx);
}\n`,
    );
    writeFileSync(
      join(dir, 'register.mjs'),
      "import { register } from 'node:module';\nregister('./hide-tfjs.mjs', import.meta.url);\n",
    );
    const out3 = join(dir, 'out3');
    const r = spawnSync(
      process.execPath,
      [
        ...[
          '--import',
          join(dir, 'register.mjs'),
          main,
          'eval',
          '--backend',
          'cpu',
          '--seeds',
          '2',
          '--size',
          '8',
        ],
        ...[
          '--steps',
          '1',
          '--methods',
          'toma',
          '--ratios',
          '0.5',
          '--features',
          'inception',
          '--real',
          real,
        ],
        ...['--out', out3],
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stderr,
      /deep features unavailable: the InceptionV3 feature network needs the nsfwjs and TensorFlow\.js packages/,
    );
    const j = JSON.parse(readFileSync(join(out3, 'results.json'), 'utf8')) as EvalReport;
    assert.equal(j.features.available, false);
    assert.match(
      j.features.reason!,
      /Cannot find package '@tensorflow\/tfjs-core'.*npm run setup:eval \(or: npm install --no-save nsfwjs@4\.4\.0 /,
    );
    assert.deepEqual(
      j.results.map((m) => [m.config.label, m.featDist, m.kid]),
      [
        ['dense', null, {}],
        ['toma 0.5', null, {}],
      ],
    );
    assert.match(r.stdout, /deep features: unavailable/);
  });

  it('refuses generation options with --from, and bad values by name', () => {
    const r1 = toma('--from', out, '--seeds', '3');
    assert.equal(r1.code, 2);
    assert.match(r1.err, /--from reuses an earlier run's images: --seeds cannot change them/);
    const r2 = toma('--backend', 'cpu', '--ratios', '0.5,1.5');
    assert.equal(r2.code, 2);
    assert.match(r2.err, /--ratios must be numbers in \(0, 1\); got "1\.5"/);
    const r3 = toma('--from', join(dir, 'nowhere'));
    assert.equal(r3.code, 2);
    assert.match(r3.err, /--from: .*results\.json: no such results file/);
  });
});
