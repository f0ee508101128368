// The engine's block-sparse attention on the HilbertA pattern vs the CPU reference built from the
// explicit per-pair mask.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { attentionRef, rangeMask } from '../../src/cpu/attention.js';
import type { ForwardInfo } from '../../src/merge/hooks.js';
import { createHilbertPattern } from '../../src/sparse/hilbert-pattern.js';
import { exactMask } from '../../src/sparse/pattern.js';
import { assertClose, cpu, gpu, relErr, rng, TOL } from '../helpers.js';

const backends: [string, Backend | null][] = [
  ['cpu', cpu],
  ['webgpu', gpu],
];

const info = (rows: number, cols: number, textTokens: number): ForwardInfo => ({
  step: 0,
  steps: 1,
  batch: 1,
  grid: [rows, cols],
  textTokens,
});

describe('block-sparse attention on the HilbertA pattern vs the explicit mask', () => {
  const cases = [
    { rows: 16, cols: 16, txt: 16, tiles: 16, cycle: 4, minBlock: 4 },
    { rows: 8, cols: 12, txt: 5, tiles: 4, cycle: 4, minBlock: 1 },
    { rows: 11, cols: 7, txt: 9, tiles: 5, cycle: 2, minBlock: 1 },
  ];
  for (const [name, be] of backends) {
    for (const c of cases) {
      it(`${name}: ${c.rows}x${c.cols} grid, ${c.txt} text, G=${c.tiles}, C=${c.cycle}, every layer phase`, {
        skip: !be && 'no WebGPU adapter',
      }, async () => {
        const b = be!;
        const pattern = createHilbertPattern(b, { tiles: c.tiles, cycle: c.cycle }, { minBlock: c.minBlock });
        const H = 2;
        const D = 32;
        const L = c.txt + c.rows * c.cols;
        const r = rng();
        const qd = r.normals(H * L * D);
        const kd = r.normals(H * L * D);
        const vd = r.normals(H * L * D);
        const q = b.tensor(qd, [1, H, L, D]);
        const k = b.tensor(kd, [1, H, L, D]);
        const v = b.tensor(vd, [1, H, L, D]);
        const dense = attentionRef(qd, kd, vd, { B: 1, H, Lq: L, Lk: L, D }, 1 / Math.sqrt(D));
        for (let layer = 0; layer < c.cycle; layer++) {
          const plan = pattern.plan('double', layer, info(c.rows, c.cols, c.txt), c.rows * c.cols);
          assert.equal(plan.table.supersetRows, 0, 'these cases are chosen to be exact');
          const want = attentionRef(
            qd,
            kd,
            vd,
            { B: 1, H, Lq: L, Lk: L, D },
            1 / Math.sqrt(D),
            exactMask(plan.classes),
          );
          const ranges = pattern.keyRanges('double', layer, info(c.rows, c.cols, c.txt), c.rows * c.cols)!;
          const y = b.attention(q, k, v, { keyRanges: ranges });
          assertClose(await y.read(), want, TOL.f32 * 2, `layer ${layer} (block size ${ranges.blockSize})`);
          assert.ok(relErr(want, dense) > 1e-3, 'the pattern must differ from dense attention');
          y.dispose();
        }
        for (const t of [q, k, v]) t.dispose();
        pattern.dispose();
      });
    }

    it(`${name}: an unaligned block size gives the documented superset, and the exact result elsewhere`, {
      skip: !be && 'no WebGPU adapter',
    }, async () => {
      const b = be!;
      // minBlock = maxBlock = 16 forces blocks that straddle tile boundaries on this grid.
      const pattern = createHilbertPattern(b, { tiles: 6, cycle: 3 }, { maxBlock: 16, minBlock: 16 });
      const [rows, cols, txt] = [10, 13, 7];
      const H = 1;
      const D = 32;
      const L = txt + rows * cols;
      const plan = pattern.plan('single', 1, info(rows, cols, txt), rows * cols);
      assert.ok(plan.table.supersetRows > 0);
      const r = rng();
      const [qd, kd, vd] = [r.normals(H * L * D), r.normals(H * L * D), r.normals(H * L * D)];
      const shape = { B: 1, H, Lq: L, Lk: L, D };
      const { ranges, maxRanges, blockSize } = plan.table;
      const superset = attentionRef(
        qd,
        kd,
        vd,
        shape,
        1 / Math.sqrt(D),
        rangeMask(ranges, maxRanges, blockSize),
      );
      const exact = attentionRef(qd, kd, vd, shape, 1 / Math.sqrt(D), exactMask(plan.classes));
      const kr = pattern.keyRanges('single', 1, info(rows, cols, txt), rows * cols)!;
      const got = await b
        .attention(b.tensor(qd, [1, H, L, D]), b.tensor(kd, [1, H, L, D]), b.tensor(vd, [1, H, L, D]), {
          keyRanges: kr,
        })
        .read();
      assertClose(got, superset, TOL.f32 * 2, 'vs the superset mask');
      // Rows of blocks that lie in one class get exactly the pattern.
      let exactRows = 0;
      for (let i = 0; i < L; i++) {
        const b0 = Math.floor(i / blockSize) * blockSize;
        const cls = plan.classes.subarray(b0, Math.min(L, b0 + blockSize));
        if (!cls.every((x) => x === cls[0])) continue;
        exactRows++;
        assertClose(
          got.subarray(i * D, (i + 1) * D),
          exact.subarray(i * D, (i + 1) * D),
          TOL.f32 * 4,
          `row ${i}`,
        );
      }
      assert.ok(exactRows > 0 && exactRows < L);
      pattern.dispose();
    });
  }
});
