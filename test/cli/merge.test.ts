// End to end: the built CLI (dist/src/cli/main.js) on small safetensors files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tomaSelectRef } from '../../src/cpu/toma.js';
import { Checkpoint, writeSafetensors } from '../../src/io/safetensors.js';
import { TileLayout } from '../../src/merge/tile-layout.js';
import { gpu, relErr, rng } from '../helpers.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'toma-merge-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function toma(...args: string[]) {
  const r = spawnSync(process.execPath, [main, 'merge', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** y[b] = A[b] · x[b] for A [B, R, K], x [B, K, C]. */
function bmm(A: Float32Array, x: Float32Array, B: number, R: number, K: number, C: number): Float32Array {
  const y = new Float32Array(B * R * C);
  for (let b = 0; b < B; b++)
    for (let r = 0; r < R; r++)
      for (let k = 0; k < K; k++) {
        const a = A[(b * R + r) * K + k]!;
        if (a !== 0) for (let c = 0; c < C; c++) y[(b * R + r) * C + c]! += a * x[(b * K + k) * C + c]!;
      }
  return y;
}

describe('toma merge (CLI, end to end)', () => {
  const H = 6;
  const W = 7;
  const B = 2;
  const C = 12;
  const x = rng().normals(B * H * W * C);
  const input = join(dir, 'in.safetensors');
  writeSafetensors(input, { x: { dtype: 'F32', shape: [B, H * W, C], data: x } });
  const backends = gpu ? ['cpu', 'webgpu'] : ['cpu'];

  for (const backend of backends) {
    it(`--backend ${backend}: writes dst, merged, unmerged and the dense maps, consistent with each other`, () => {
      const out = join(dir, `out-${backend}.safetensors`);
      const r = toma(
        '--input',
        input,
        '--out',
        out,
        '--grid',
        `${H}x${W}`,
        '--ratio',
        '0.5',
        '--tile',
        '4',
        '--backend',
        backend,
      );
      assert.equal(r.code, 0, r.err);
      const L = new TileLayout(H, W, 4, 0.5);
      const M = L.tokens;
      const ck = Checkpoint.open(out);
      assert.deepEqual(ck.keys().sort(), ['dst', 'merge_matrix', 'merged', 'unmerge_matrix', 'unmerged']);
      assert.deepEqual(ck.info('dst'), { ...ck.info('dst'), dtype: 'I64', shape: [B, M] });
      assert.deepEqual(ck.info('merged').shape, [B, M, C]);
      assert.deepEqual(ck.info('unmerged').shape, [B, H * W, C]);
      assert.deepEqual(ck.info('merge_matrix').shape, [B, M, H * W]);
      assert.deepEqual(ck.info('unmerge_matrix').shape, [B, H * W, M]);
      const merged = ck.readF32('merged');
      const mm = ck.readF32('merge_matrix');
      const um = ck.readF32('unmerge_matrix');
      assert.ok(relErr(bmm(mm, x, B, M, H * W, C), merged) < 1e-5, 'merged = merge_matrix · x');
      assert.ok(
        relErr(bmm(um, merged, B, H * W, M, C), ck.readF32('unmerged')) < 1e-5,
        'unmerged = unmerge_matrix · merged',
      );
      const dst = ck.readF32('dst');
      if (backend === 'cpu') assert.deepEqual(Array.from(dst), Array.from(tomaSelectRef(x, B, C, L)));
      assert.equal(ck.metadata.grid, `${H}x${W}`);
      ck.close();
    });
  }

  it('bad arguments and inputs give clear errors and exit codes', () => {
    const out = join(dir, 'bad.safetensors');
    const cases: [string[], number, RegExp][] = [
      [['--input', input, '--out', out], 2, /--grid is required/],
      [['--input', input, '--out', out, '--grid', '6by7'], 2, /--grid must be HxW/],
      [
        ['--input', input, '--out', out, '--grid', '6x6', '--backend', 'cpu'],
        2,
        /"x" has 42 tokens but --grid 6x6 has 36/,
      ],
      [
        ['--input', input, '--out', out, '--grid', '6x7', '--ratio', '1'],
        2,
        /--ratio must be a number in \[0, 1\)/,
      ],
      [
        ['--input', input, '--out', out, '--grid', '6x7', '--tile', '9'],
        2,
        /--tile must be an integer in 1..8/,
      ],
      [
        ['--input', input, '--out', out, '--grid', '6x7', '--key', 'y', '--backend', 'cpu'],
        1,
        /no tensor named "y"/,
      ],
      [['--input', join(dir, 'missing.safetensors'), '--out', out, '--grid', '6x7'], 1, /no such file/],
    ];
    for (const [args, code, re] of cases) {
      const r = toma(...args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, re);
    }
    const flat = join(dir, 'flat.safetensors');
    writeSafetensors(flat, { x: { dtype: 'F32', shape: [42, 12], data: x.subarray(0, 42 * 12) } });
    const r = toma('--input', flat, '--out', out, '--grid', '6x7', '--backend', 'cpu');
    assert.equal(r.code, 1);
    assert.match(r.err, /"x" must be \[B, N, C\]/);
  });
});
