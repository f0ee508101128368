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
  it('stride 2 with same padding keeps every other output of the stride-1 convolution', async () => {
    const r = rng();
    for (const [H, W, K] of [
      [7, 6, 3],
      [8, 5, 1],
      [5, 9, 5],
    ] as const) {
      const x = cpu.tensor(r.normals(2 * H * W * 3), [2, H, W, 3]);
      const w = cpu.tensor(r.normals(4 * K * K * 3), [4, K, K, 3]);
      const bias = cpu.tensor(r.normals(4), [4]);
      const full = await cpu.conv2d(x, w, { bias }).read();
      const y = cpu.conv2d(x, w, { bias, stride: 2 });
      const [Ho, Wo] = [Math.ceil(H / 2), Math.ceil(W / 2)];
      assert.deepEqual(y.shape, [2, Ho, Wo, 4]);
      const want = new Float32Array(2 * Ho * Wo * 4);
      for (let b = 0; b < 2; b++)
        for (let oy = 0; oy < Ho; oy++)
          for (let ox = 0; ox < Wo; ox++)
            for (let c = 0; c < 4; c++)
              want[((b * Ho + oy) * Wo + ox) * 4 + c] = full[((b * H + 2 * oy) * W + 2 * ox) * 4 + c]!;
      assertClose(await y.read(), want, 1e-6, `stride 2 ${H}x${W} k${K}`);
    }
  });
  it('padding { before: 0, after: 1 } with stride 2 is the VAE encoder downsampler (pad right/bottom, conv)', async () => {
    // PyTorch: F.pad(x, (0, 1, 0, 1)) then a 3x3 conv, stride 2, no padding: out = floor((H - 2) / 2) + 1
    const x = cpu.tensor(
      Array.from({ length: 5 * 4 }, (_, i) => i + 1),
      [1, 5, 4, 1],
    );
    const w = cpu.tensor([1, 0, 0, 0, 0, 0, 0, 0, 2], [1, 3, 3, 1]); // in[y, x] + 2 in[y + 2, x + 2]
    const y = cpu.conv2d(x, w, { stride: 2, padding: { before: 0, after: 1 } });
    assert.deepEqual(y.shape, [1, 2, 2, 1]);
    // rows 0..4 of width 4 hold 1..20; (0,0): 1 + 2*11; (0,1): 3 + 2*0 (column 4 is padding); (1,0): 9 + 2*19; (1,1): 11
    assert.deepEqual([...(await y.read())], [23, 3, 47, 11]);
  });
  it('rejects strides and paddings it does not support', () => {
    const x = cpu.zeros([1, 4, 4, 2]);
    const w = cpu.zeros([3, 3, 3, 2]);
    assert.throws(() => cpu.conv2d(x, w, { stride: 3 as 2 }), /stride must be 1 or 2/);
    assert.throws(() => cpu.conv2d(x, w, { stride: 2, upsample: true }), /do not combine/);
    assert.throws(() => cpu.conv2d(x, w, { padding: { before: 0, after: 1 } }), /keep the size/);
    assert.throws(() => cpu.conv2d(x, w, { stride: 2, padding: { before: 3, after: 0 } }), /padding\.before/);
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
        const [wc, wg] = pair(gpu!, r.normals(Cout * K * K * Cin, 0.3), [Cout, K, K, Cin], dtype);
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
    const strided = [
      { B: 2, H: 9, W: 6, Cin: 5, Cout: 7, K: 3, padding: undefined },
      { B: 1, H: 8, W: 11, Cin: 16, Cout: 70, K: 3, padding: { before: 0, after: 1 } },
      { B: 1, H: 5, W: 5, Cin: 3, Cout: 2, K: 1, padding: undefined },
    ];
    for (const c of strided) {
      it(`${dtype} stride 2 B=${c.B} ${c.H}x${c.W} ${c.Cin}->${c.Cout} k=${c.K} padding=${JSON.stringify(c.padding ?? 'same')}`, async () => {
        const r = rng();
        const { B, H, W, Cin, Cout, K, padding } = c;
        const [xc, xg] = pair(gpu!, r.normals(B * H * W * Cin), [B, H, W, Cin], dtype);
        const [wc, wg] = pair(gpu!, r.normals(Cout * K * K * Cin, 0.3), [Cout, K, K, Cin], dtype);
        const [bc, bg] = pair(gpu!, r.normals(Cout), [Cout], dtype);
        const want = cpu.conv2d(xc, wc, { bias: bc, stride: 2, padding });
        const [rc, rg] = pair(gpu!, r.normals(want.size), want.shape, dtype);
        const withRes = await cpu.conv2d(xc, wc, { bias: bc, stride: 2, padding, residual: rc }).read();
        const got = gpu!.conv2d(xg, wg, { bias: bg, stride: 2, padding, residual: rg });
        assert.deepEqual(got.shape, want.shape);
        assertClose(await got.read(), withRes, TOL[dtype] * 2, 'strided conv2d');
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
