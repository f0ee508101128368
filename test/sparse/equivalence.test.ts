// Dense attention does not care about token order as long as RoPE rows move with their tokens: running
// [txt | img] in the pattern's order and restoring raster order afterwards must equal raster order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { buildRopeTable } from '../../src/cpu/rope.js';
import { hilbertOrder } from '../../src/sparse/hilbert.js';
import { imageLayout } from '../../src/sparse/layout.js';
import { ImageReorder } from '../../src/sparse/reorder.js';
import type { Tensor } from '../../src/tensor.js';
import { assertClose, cpu, gpu, relErr, rng, TOL } from '../helpers.js';

const backends: [string, Backend | null][] = [
  ['cpu', cpu],
  ['webgpu', gpu],
];

/** Flux position ids: text (0, 0, 0), image token (0, row, col). */
function fluxRopeTable(B: number, txt: number, rows: number, cols: number, axes: number[]): Float32Array {
  const L = txt + rows * cols;
  const ids = new Float32Array(B * L * 3);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < rows * cols; i++) {
      ids[(b * L + txt + i) * 3 + 1] = Math.floor(i / cols);
      ids[(b * L + txt + i) * 3 + 2] = i % cols;
    }
  }
  return buildRopeTable(ids, B, L, axes, 10000);
}

/** Reorders the L axis of x [B, H, L, D]: text rows stay, image row p becomes old row txt + order[p]. */
function reorderHeads(be: Backend, x: Tensor, txt: number, order: Uint32Array): Tensor {
  const [B, H, L, D] = x.shape as [number, number, number, number];
  const idx = new Uint32Array(B * H * L);
  for (let bh = 0; bh < B * H; bh++) {
    for (let i = 0; i < L; i++) idx[bh * L + i] = i < txt ? i : txt + order[i - txt]!;
  }
  const g = be.gather(be.reshape(x, [B * H, L, D]), be.tensor(idx, [B * H, L], 'u32'));
  return be.reshape(g, [B, H, L, D]);
}

describe('dense attention in Hilbert order equals raster order (RoPE rows permuted along)', () => {
  const cases = [
    { rows: 5, cols: 7, txt: 3, order: 'hilbert' },
    { rows: 8, cols: 8, txt: 4, order: 'pattern' },
    { rows: 6, cols: 9, txt: 0, order: 'pattern' },
  ] as const;
  for (const [name, be] of backends) {
    for (const c of cases) {
      it(`${name}: ${c.rows}x${c.cols} grid, ${c.txt} text tokens, ${c.order} order`, {
        skip: !be && 'no WebGPU adapter',
      }, async () => {
        const b = be!;
        const r = rng();
        const B = 2;
        const H = 2;
        const D = 32;
        const axes = [8, 12, 12];
        const N = c.rows * c.cols;
        const L = c.txt + N;
        const order =
          c.order === 'hilbert' ? hilbertOrder(c.rows, c.cols) : imageLayout(c.rows, c.cols, 0.0625).order;
        const reorder = new ImageReorder(b, order, B);
        const { got, want, noRopePermute, wrongWay } = await b.tidy(() => {
          const q = b.tensor(r.normals(B * H * L * D), [B, H, L, D]);
          const k = b.tensor(r.normals(B * H * L * D), [B, H, L, D]);
          const v = b.tensor(r.normals(B * H * L * D), [B, H, L, D]);
          const table = b.tensor(fluxRopeTable(B, c.txt, c.rows, c.cols, axes), [B, L, D / 2, 2]);
          const want = b.attention(b.rope(q, table), b.rope(k, table), v);

          const qc = reorderHeads(b, q, c.txt, order);
          const kc = reorderHeads(b, k, c.txt, order);
          const vc = reorderHeads(b, v, c.txt, order);
          const tableC = reorder.ropeTable(table, c.txt);
          const restore = (y: Tensor, back: (x: Tensor) => Tensor) => {
            const [txt, img] = b.split(y, 1, [c.txt, N]);
            return b.concat([txt!, back(img!)], 1);
          };
          const yc = b.attention(b.rope(qc, tableC), b.rope(kc, tableC), vc);
          const got = restore(yc, (x) => reorder.toRasterOrder(x));
          // Two ways to get it wrong, which the comparison must notice.
          const noRopePermute = restore(b.attention(b.rope(qc, table), b.rope(kc, table), vc), (x) =>
            reorder.toRasterOrder(x),
          );
          const wrongWay = restore(yc, (x) => reorder.toPatternOrder(x));
          return { got, want, noRopePermute, wrongWay };
        });
        const [g, w, n, ww] = await Promise.all([
          got.read(),
          want.read(),
          noRopePermute.read(),
          wrongWay.read(),
        ]);
        assertClose(g, w, TOL.f32 * 2, 'curve-order attention restored to raster');
        assert.ok(relErr(n, w) > 1e-3, 'forgetting to permute the RoPE rows must change the result');
        assert.ok(relErr(ww, w) > 1e-3, 'restoring with the forward permutation must change the result');
        for (const t of [got, want, noRopePermute, wrongWay]) t.dispose();
        reorder.dispose();
      });
    }
  }

  it('ImageReorder rejects tensors of the wrong shape', () => {
    const reorder = new ImageReorder(cpu, hilbertOrder(3, 3), 1);
    assert.throws(() => reorder.toPatternOrder(cpu.zeros([1, 8, 4])), /expected \[1, 9, C\]/);
    assert.throws(() => reorder.ropeTable(cpu.zeros([1, 9, 2, 2]), 2), /expected \[1, 2 \+ 9, P, 2\]/);
    reorder.dispose();
  });
});
