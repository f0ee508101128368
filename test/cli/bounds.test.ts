// Hostile sizes and values on the command line: negative numbers reach their range checks, configs
// and sizes are bounded before any allocation, non-finite inputs are refused by name and place, a
// non-finite output is an error unless --allow-nonfinite, and merge never writes oversized matrices.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { joinNegativeNumbers, num, parse, UsageError } from '../../src/cli/args.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { randomHostParams, writeFluxCheckpoint } from '../../src/models/flux/checkpoint-writer.js';
import { FLUX_PRESETS } from '../../src/models/flux/config.js';
import { imageIds, textIds } from '../../src/models/flux/index.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'toma-bounds-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function toma(...args: string[]) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, ms: performance.now() - t0 };
}

const F = (shape: number[], data: Float32Array) => ({ dtype: 'F32' as const, shape, data });
const filled = (n: number, f = (i: number) => Math.sin(i * 0.37)) =>
  Float32Array.from({ length: n }, (_, i) => f(i));

describe('negative numbers', () => {
  const opts = { ratio: { type: 'string' }, on: { type: 'boolean' } } as const;
  it('joins "--opt -1" of string options so the range check sees the number', () => {
    assert.deepEqual(joinNegativeNumbers(['--ratio', '-1', '--on'], opts), ['--ratio=-1', '--on']);
    assert.deepEqual(joinNegativeNumbers(['--ratio', '-.5'], opts), ['--ratio=-.5']);
    assert.deepEqual(joinNegativeNumbers(['--ratio', '-Infinity'], opts), ['--ratio=-Infinity']);
    // not numbers, boolean options and what follows "--" are left alone
    assert.deepEqual(joinNegativeNumbers(['--ratio', '-x'], opts), ['--ratio', '-x']);
    assert.deepEqual(joinNegativeNumbers(['--on', '-1'], opts), ['--on', '-1']);
    assert.deepEqual(joinNegativeNumbers(['--', '--ratio', '-1'], opts), ['--', '--ratio', '-1']);
  });

  it('parses and then fails the range check, with the range in the message', () => {
    const { values } = parse(['--ratio', '-1'], opts, 'usage');
    assert.equal(values.ratio, '-1');
    assert.throws(
      () => num(values.ratio, 'ratio', 0.5, (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
      (e: Error) => e instanceof UsageError && e.message === '--ratio must be a number in [0, 1); got "-1"',
    );
  });

  it('toma merge --ratio -1 is a range error, not "ambiguous"', () => {
    const r = toma('merge', '--input', 'x', '--out', 'y', '--grid', '2x2', '--ratio', '-1');
    assert.equal(r.code, 2);
    assert.equal(r.err.trim(), 'toma: --ratio must be a number in [0, 1); got "-1"');
  });
});

describe('forward: bounded configs, finite values', () => {
  const tiny = FLUX_PRESETS['flux-tiny']!;
  const ck = writeFluxCheckpoint(join(dir, 'ck.safetensors'), randomHostParams(tiny, 1, 0.2), tiny, {
    layout: 'original',
    dtype: 'F32',
  });
  const [B, rows, cols, T] = [1, 2, 3, 4];
  const N = rows * cols;
  const inputs = (img = filled(B * N * tiny.in_channels)) => ({
    'in.img': F([B, N, tiny.in_channels], img),
    'in.txt': F([B, T, tiny.context_in_dim], filled(B * T * tiny.context_in_dim)),
    'in.img_ids': F([B, N, 3], imageIds(B, rows, cols)),
    'in.txt_ids': F([B, T, 3], textIds(B, T)),
    'in.timesteps': F([B], new Float32Array(B).fill(0.5)),
    'in.y': F([B, tiny.vec_in_dim], filled(B * tiny.vec_in_dim)),
    'in.guidance': F([B], new Float32Array(B).fill(3.5)),
  });
  const good = join(dir, 'in.safetensors');
  writeSafetensors(good, inputs());
  const run = (checkpoint: string, inp: string, out: string, ...rest: string[]) =>
    toma('forward', '--backend', 'cpu', '--checkpoint', checkpoint, '--inputs', inp, '--out', out, ...rest);

  it('refuses an absurd depth in __metadata__.config in well under a second', () => {
    const deep = join(dir, 'deep.safetensors');
    writeSafetensors(
      deep,
      { 'img_in.weight': F([64, 16], filled(64 * 16)) },
      {
        config: JSON.stringify({ ...tiny, depth: 1_000_000 }),
      },
    );
    const out = join(dir, 'deep-out.safetensors');
    const r = run(deep, good, out);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^toma: .*deep\.safetensors: __metadata__\.config: config\.depth = 1000000 is outside the plausible range \[0, 190\] \(FLUX\.1: 19\)\n$/,
    );
    assert.ok(r.ms < 5000, `${r.ms} ms`); // node start-up included; the check itself takes milliseconds
    assert.equal(existsSync(out), false);
  });

  it('refuses a --config whose weights cannot fit, before loading', () => {
    const huge = JSON.stringify({
      ...FLUX_PRESETS['flux-dev'],
      hidden_size: 30720,
      num_heads: 240,
      axes_dim: [32, 48, 48],
    });
    const r = run(ck, good, join(dir, 'huge.safetensors'), '--config', huge);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^toma: this forward \(batch 1, 6 \+ 4 tokens, f32\) needs (a single tensor of|about) [\d.]+ GiB.*\(the model is too large for it\)\n$/,
    );
  });

  it('refuses a NaN input, naming the file, tensor and index', () => {
    const img = filled(B * N * tiny.in_channels);
    img[tiny.in_channels + 3] = Number.NaN;
    const bad = join(dir, 'in-nan.safetensors');
    writeSafetensors(bad, inputs(img));
    const out = join(dir, 'nan-out.safetensors');
    const r = run(ck, bad, out);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /toma: .*in-nan\.safetensors: input "in\.img" has NaN at \[0, 1, 3\]; inputs must be finite\n$/,
    );
    assert.equal(existsSync(out), false);
  });

  it('a non-finite output exits 1 and writes nothing, unless --allow-nonfinite', () => {
    const params = randomHostParams(tiny, 1, 0.2);
    const bias = params.get('final_layer.linear.bias')!;
    bias[2] = Number.POSITIVE_INFINITY;
    const inf = writeFluxCheckpoint(join(dir, 'inf.safetensors'), params, tiny, {
      layout: 'original',
      dtype: 'F32',
    });
    const out = join(dir, 'inf-out.safetensors');
    const r = run(inf, good, out);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /toma: output "out" has 6 non-finite value\(s\) of \d+, the first Infinity at \[0, 0, 2\]; nothing written \(--allow-nonfinite writes it anyway\)\n$/,
    );
    assert.equal(existsSync(out), false);
    const r2 = run(inf, good, out, '--allow-nonfinite');
    assert.equal(r2.code, 0, r2.err);
    assert.match(r2.err, /warning: output "out" has 6 non-finite/);
    assert.equal(existsSync(out), true);
  });
});

describe('merge and generate: bounded sizes', () => {
  it('a 256 KB input no longer writes a 1 GB file: the dense matrices are left out with a note', () => {
    const input = join(dir, 'm256k.safetensors');
    writeSafetensors(input, { x: F([16, 4096, 1], filled(16 * 4096)) });
    const out = join(dir, 'm256k-out.safetensors');
    const r = toma('merge', '--backend', 'cpu', '--input', input, '--out', out, '--grid', '64x64');
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /note: merge_matrix and unmerge_matrix left out: together they would take 1\.0 GiB \(limit 64 MiB\)/,
    );
    assert.match(r.out, /wrote dst, merged, unmerged to/);
  });

  it('refuses NaN tokens, naming the tensor and index', () => {
    const input = join(dir, 'mnan.safetensors');
    const x = filled(16 * 3);
    x[20] = Number.NaN;
    writeSafetensors(input, { x: F([1, 16, 3], x) });
    const out = join(dir, 'mnan-out.safetensors');
    const r = toma('merge', '--backend', 'cpu', '--input', input, '--out', out, '--grid', '4x4');
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /toma: .*mnan\.safetensors: "x" has NaN at \[0, 6, 2\]; merge needs finite tokens\n$/,
    );
    assert.equal(existsSync(out), false);
  });

  it('bounds --grid and generate --size with the limit in the message', () => {
    let r = toma('merge', '--input', 'x', '--out', 'y', '--grid', '5000x2');
    assert.equal(r.code, 2);
    assert.match(r.err, /--grid sides must be at most 4096; got "5000x2"/);
    r = toma(
      'generate',
      '--backend',
      'cpu',
      '--size',
      '100000',
      '--steps',
      '1',
      '--no-compare',
      '--out',
      dir,
    );
    assert.equal(r.code, 2);
    assert.match(r.err, /toma: --size must be an even integer in 4\.\.1024; got "100000"/);
    assert.doesNotMatch(r.err, /Invalid typed array length/);
  });
});
