import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convWeightToOHWI } from '../../src/cpu/conv.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

describe('conv2d: CPU reference', () => {
  it('a 1x1 convolution is a matmul', async () => {
    const r = rng();
    const x = cpu.tensor(r.normals(2 * 3 * 5 * 7), [2, 3, 5, 7]);
    const w = r.normals(4 * 7);
    const b = cpu.tensor(r.normals(4), [4]);
    const got = await cpu.conv2d(x, cpu.tensor(w, [4, 1, 1, 7]), { bias: b }).read();
    const want = await cpu.matmul(x, cpu.tensor(w, [4, 7]), { bias: b }).read();
    assertClose(got, want, 1e-6, 'conv 1x1');
  });
  it('3x3 on a hand-checked case (PyTorch cross-correlation, zero padding)', async () => {
    // 1 channel 3x3 image 1..9, kernel with a single 1 at (ky=0, kx=2): out[y, x] = in[y-1, x+1]
    const x = cpu.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const w = cpu.tensor([0, 0, 1, 0, 0, 0, 0, 0, 0], [1, 3, 3, 1]);
    assert.deepEqual([...(await cpu.conv2d(x, w).read())], [0, 0, 0, 2, 3, 0, 5, 6, 0]);
  });
  it('the fused upsampling equals convolving the upsampled input', async () => {
    const r = rng();
    const x = cpu.tensor(r.normals(1 * 3 * 4 * 5), [1, 3, 4, 5]);
    const w = cpu.tensor(r.normals(6 * 9 * 5), [6, 3, 3, 5]);
    const got = await cpu.conv2d(x, w, { upsample: true }).read();
    const want = await cpu.conv2d(cpu.upsampleNearest2x(x), w).read();
    assertClose(got, want, 1e-6, 'upsample+conv');
  });
  it('row bands with the neighbouring rows as top/bottom equal the whole image', async () => {
    const r = rng();
    for (const upsample of [false, true]) {
      const [B, H, W, C] = [2, 7, 5, 3];
      const x = cpu.tensor(r.normals(B * H * W * C), [B, H, W, C]);
      const w = cpu.tensor(r.normals(4 * 9 * C), [4, 3, 3, C]);
      const bias = cpu.tensor(r.normals(4), [4]);
      const whole = await cpu.conv2d(x, w, { bias, upsample }).read();
      const cuts = [0, 3, 4, 7];
      const bands: Float32Array[] = [];
      for (let i = 0; i + 1 < cuts.length; i++) {
        const [a, e] = [cuts[i]!, cuts[i + 1]!];
        const band = cpu.slice(x, 1, a, e - a);
        const top = a > 0 ? cpu.slice(x, 1, a - 1, 1) : undefined;
        const bottom = e < H ? cpu.slice(x, 1, e, 1) : undefined;
        bands.push(await cpu.conv2d(band, w, { bias, upsample, top, bottom }).read());
      }
      const up = upsample ? 2 : 1;
      const got = new Float32Array(whole.length);
      for (let b = 0; b < B; b++) {
        let row = 0;
        bands.forEach((band, i) => {
          const rows = (cuts[i + 1]! - cuts[i]!) * up;
          const n = rows * W * up * 4;
          got.set(band.subarray(b * n, (b + 1) * n), (b * H * up + row) * W * up * 4);
          row += rows;
        });
      }
      assertClose(got, whole, 1e-6, `bands upsample=${upsample}`);
    }
  });
  it('convWeightToOHWI permutes PyTorch [Cout, Cin, KH, KW]', () => {
    const w = Float32Array.from({ length: 2 * 3 * 3 * 3 }, (_, i) => i);
    const o = convWeightToOHWI(w, 2, 3, 3, 3);
    // element (co=1, ci=2, ky=0, kx=1) sits at PyTorch index ((1*3+2)*3+0)*3+1 = 46
    assert.equal(o[((1 * 3 + 0) * 3 + 1) * 3 + 2], 46);
  });
});

describe('conv2d kernel vs CPU reference', { skip: noGpu }, () => {
  const cases = [
    { B: 1, H: 1, W: 1, Cin: 1, Cout: 1, K: 1, up: false, pads: false },
    { B: 2, H: 5, W: 7, Cin: 3, Cout: 5, K: 3, up: false, pads: false },
    { B: 1, H: 9, W: 13, Cin: 20, Cout: 67, K: 3, up: false, pads: true },
    { B: 1, H: 6, W: 5, Cin: 17, Cout: 70, K: 3, up: true, pads: true },
    { B: 2, H: 4, W: 11, Cin: 33, Cout: 3, K: 1, up: false, pads: false },
    { B: 1, H: 8, W: 9, Cin: 4, Cout: 9, K: 5, up: false, pads: true },
  ];
  for (const dtype of gpuDtypes) {
    for (const c of cases) {
      it(`${dtype} B=${c.B} ${c.H}x${c.W} ${c.Cin}->${c.Cout} k=${c.K} upsample=${c.up} top/bottom=${c.pads}`, async () => {
        const r = rng();
        const { B, H, W, Cin, Cout, K } = c;
        const up = c.up ? 2 : 1;
        const p = Math.ceil((K - 1) / 2 / up);
        const [xc, xg] = pair(gpu!, r.normals(B * H * W * Cin), [B, H, W, Cin], dtype);
        const [wc, wg] = pair(gpu!, r.normals(Cout * K * K * Cin, 0, 0.3), [Cout, K, K, Cin], dtype);
        const [bc, bg] = pair(gpu!, r.normals(Cout), [Cout], dtype);
        const outShape = [B, H * up, W * up, Cout];
        const [rc, rg] = pair(gpu!, r.normals(B * H * up * W * up * Cout), outShape, dtype);
        const [tc, tg] = pair(gpu!, r.normals(B * p * W * Cin), [B, p, W, Cin], dtype);
        const [dc, dg] = pair(gpu!, r.normals(B * p * W * Cin), [B, p, W, Cin], dtype);
        const pads = c.pads && p > 0;
        const want = await cpu
          .conv2d(xc, wc, {
            bias: bc,
            residual: rc,
            upsample: c.up,
            top: pads ? tc : undefined,
            bottom: pads ? dc : undefined,
          })
          .read();
        const got = await gpu!
          .conv2d(xg, wg, {
            bias: bg,
            residual: rg,
            upsample: c.up,
            top: pads ? tg : undefined,
            bottom: pads ? dg : undefined,
          })
          .read();
        assertClose(got, want, TOL[dtype] * 2, 'conv2d');
        const plainWant = await cpu.conv2d(xc, wc, { upsample: c.up }).read();
        const plainGot = await gpu!.conv2d(xg, wg, { upsample: c.up }).read();
        assertClose(plainGot, plainWant, TOL[dtype] * 2, 'conv2d without epilogue');
      });
    }
    it(`${dtype} upsampleNearest2x`, async () => {
      const r = rng();
      const [xc, xg] = pair(gpu!, r.normals(2 * 3 * 5 * 7), [2, 3, 5, 7], dtype);
      assert.deepEqual(
        [...(await gpu!.upsampleNearest2x(xg).read())],
        [...(await cpu.upsampleNearest2x(xc).read())],
      );
    });
  }
});
