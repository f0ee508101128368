// TAESD decoders: conv2d's fused ReLU (CPU reference and WGSL), the decoder's input clamp and latent
// layouts, the whole decoder on random weights (CPU vs WebGPU, row bands vs whole image), and the real
// TAEF1 weights against values from an independent PyTorch re-implementation of the upstream model.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Checkpoint } from '../../src/io/safetensors.js';
import { clampedChannelsLast, TAESD_WIDTH, TaesdDecoder } from '../../src/models/taesd/decoder.js';
import { defaultTaef1Path, loadTaesdFile } from '../../src/models/taesd/files.js';
import type { ComputeDType } from '../../src/models/weights.js';
import { packPatches } from '../../src/pipeline/pixels.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';
import { MemorySource } from './memory-source.js';

describe('conv2d with a fused ReLU: CPU reference', () => {
  it('is max(0, conv + bias + residual) on a hand-checked case', async () => {
    // 1x3 image [1, -2, 3], kernel [1, 1, 1] (1x3), bias -1, residual [0, 5, -10]:
    // conv = [-1, 2, 1], + bias = [-2, 1, 0], + residual = [-2, 6, -10] -> ReLU [0, 6, 0]
    const x = cpu.tensor([1, -2, 3], [1, 1, 3, 1]);
    const w = cpu.tensor([1, 1, 1], [1, 1, 3, 1]);
    const y = cpu.conv2d(x, w, {
      bias: cpu.tensor([-1], [1]),
      residual: cpu.tensor([0, 5, -10], [1, 1, 3, 1]),
      relu: true,
    });
    assert.deepEqual([...(await y.read())], [0, 6, 0]);
  });
});

describe('conv2d with a fused ReLU: WGSL vs CPU reference', { skip: noGpu }, () => {
  // odd sizes, partial 64x64 tiles, with and without bias / residual / upsampling / neighbour rows
  const cases = [
    { B: 1, H: 3, W: 5, Cin: 16, Cout: 64, up: false, bias: true, residual: false, pads: false },
    { B: 2, H: 5, W: 3, Cin: 7, Cout: 67, up: false, bias: true, residual: true, pads: true },
    { B: 1, H: 3, W: 7, Cin: 13, Cout: 9, up: true, bias: false, residual: false, pads: true },
    { B: 1, H: 9, W: 11, Cin: 5, Cout: 3, up: false, bias: true, residual: true, pads: false },
  ];
  for (const dtype of gpuDtypes)
    for (const c of cases)
      it(`${dtype} B=${c.B} ${c.H}x${c.W} ${c.Cin}->${c.Cout} upsample=${c.up} bias=${c.bias} residual=${c.residual}`, async () => {
        const r = rng();
        const { B, H, W, Cin, Cout } = c;
        const up = c.up ? 2 : 1;
        const p = c.pads ? 1 : 0;
        const [xc, xg] = pair(gpu!, r.normals(B * H * W * Cin), [B, H, W, Cin], dtype);
        const [wc, wg] = pair(gpu!, r.normals(Cout * 9 * Cin, 0.3), [Cout, 3, 3, Cin], dtype);
        const [bc, bg] = pair(gpu!, r.normals(Cout), [Cout], dtype);
        const [rc, rg] = pair(gpu!, r.normals(B * H * up * W * up * Cout), [B, H * up, W * up, Cout], dtype);
        const [tc, tg] = pair(gpu!, r.normals(B * W * Cin), [B, 1, W, Cin], dtype);
        const [dc, dg] = pair(gpu!, r.normals(B * W * Cin), [B, 1, W, Cin], dtype);
        const opts = (bias: typeof bc, res: typeof rc, top: typeof tc, bottom: typeof dc) => ({
          bias: c.bias ? bias : undefined,
          residual: c.residual ? res : undefined,
          top: p ? top : undefined,
          bottom: p ? bottom : undefined,
          upsample: c.up,
          relu: true,
        });
        const want = await cpu.conv2d(xc, wc, opts(bc, rc, tc, dc)).read();
        const got = await gpu!.conv2d(xg, wg, opts(bg, rg, tg, dg)).read();
        assert.ok(want.some((v) => v === 0) && want.some((v) => v > 0), 'both sides of the ReLU are hit');
        assertClose(got, want, TOL[dtype] * 2, 'conv2d relu');
        for (let i = 0; i < got.length; i++) assert.ok(got[i]! >= 0, `negative output at ${i}: ${got[i]}`);
      });
});

describe('TAESD decoder input', () => {
  it('clamps with tanh(z / 3) · 3 and reads NCHW and packed latents alike', () => {
    const [B, C, h, w] = [2, 3, 4, 6];
    const z = rng().normals(B * C * h * w, 4);
    const nchw = clampedChannelsLast(z, B, C, h, w, 'nchw');
    const packed = clampedChannelsLast(packPatches(z, B, C, h, w), B, C, h, w, 'packed');
    assert.deepEqual([...packed], [...nchw]);
    // element (b=1, c=2, y=3, x=5), channels-last at ((1·h + 3)·w + 5)·C + 2
    const v = z[((1 * C + 2) * h + 3) * w + 5]!;
    assert.equal(nchw[((1 * h + 3) * w + 5) * C + 2], Math.fround(Math.tanh(v / 3) * 3));
    assert.ok(nchw.every((x) => Math.abs(x) < 3));
  });
});

/** A TAESD-shaped checkpoint with random He-scaled weights. */
function randomTaesd(latentChannels: number, seed: number): MemorySource {
  const r = rng(seed);
  const src = new MemorySource('random-taesd.safetensors');
  const F = TAESD_WIDTH;
  const conv = (key: string, cin: number, cout: number, bias = true) => {
    src.set(`${key}.weight`, [cout, cin, 3, 3], r.normals(cout * cin * 9, Math.sqrt(2 / (9 * cin))));
    if (bias) src.set(`${key}.bias`, [cout], r.normals(cout, 0.05));
  };
  conv('1', latentChannels, F);
  for (const i of [3, 4, 5, 8, 9, 10, 13, 14, 15, 18])
    for (const j of [0, 2, 4]) conv(`${i}.conv.${j}`, F, F);
  for (const i of [7, 12, 17]) conv(`${i}`, F, F, false);
  conv('19', F, 3);
  return src;
}

describe('TAESD decoder (random weights)', () => {
  it('row bands give the whole-image result, and the output is 8x the latent', async () => {
    const dec = TaesdDecoder.load(cpu, randomTaesd(4, 1));
    try {
      assert.equal(dec.latentChannels, 4);
      const z = rng(2).normals(1 * 4 * 3 * 2);
      const whole = await dec.decode(z, 1, 3, 2);
      assert.deepEqual(whole.shape, [1, 24, 16, 3]);
      // bands of 1..2 input rows at every resolution
      const banded = await dec.decode(z, 1, 3, 2, { maxBandBytes: 2 * 16 * TAESD_WIDTH * 4 });
      assertClose(banded.data, whole.data, 1e-6, 'bands vs whole');
    } finally {
      dec.dispose();
    }
  });
  it('refuses latents of the wrong size and checkpoints of other models, naming the file', () => {
    const dec = TaesdDecoder.load(cpu, randomTaesd(4, 3));
    try {
      assert.throws(
        () => dec.decodeBands(new Float32Array(10), 1, 3, 2),
        /TAESD decode: 10 latent values, expected 24 for 1 x 4 channels x 3x2/,
      );
      assert.throws(
        () => dec.decodeBands(new Float32Array(4 * 3 * 3), 1, 3, 3, { layout: 'packed' }),
        /packed latents need an even h and w, got 3x3/,
      );
    } finally {
      dec.dispose();
    }
    const ae = new MemorySource('ae.safetensors').set(
      'decoder.conv_in.weight',
      [512, 16, 3, 3],
      new Float32Array(512 * 16 * 9),
    );
    assert.throws(
      () => TaesdDecoder.load(cpu, ae),
      /^Error: ae.safetensors is not a TAESD decoder checkpoint: it looks like a Flux autoencoder \(e\.g\. "decoder\.conv_in\.weight"\)$/,
    );
    const odd = new MemorySource('x.safetensors').set('1.weight', [32, 4, 3, 3], new Float32Array(32 * 36));
    assert.throws(
      () => TaesdDecoder.load(cpu, odd),
      /x.safetensors is not a TAESD decoder checkpoint: its "1.weight" is \[32, 4, 3, 3\], not \[64, C, 3, 3\]/,
    );
    const missing = randomTaesd(4, 4);
    missing.tensors.delete('9.conv.2.bias');
    assert.throws(
      () => TaesdDecoder.load(cpu, missing),
      /tensor "9.conv.2.bias" is missing \(a TAESD decoder checkpoint needs it\)/,
    );
  });
  it('WebGPU equals the CPU reference, in row bands too', { skip: noGpu }, async () => {
    const src = randomTaesd(16, 5);
    const z = rng(6).normals(16 * 2 * 3, 2);
    const dc = TaesdDecoder.load(cpu, src);
    const want = await dc.decode(z, 1, 2, 3);
    dc.dispose();
    for (const dtype of gpuDtypes as ComputeDType[]) {
      const dg = TaesdDecoder.load(gpu!, src, { dtype });
      try {
        // the last stage (16 x 24) in two bands of 8 rows
        for (const maxBandBytes of [undefined, 8 * 24 * TAESD_WIDTH * 4]) {
          const got = await dg.decode(z, 1, 2, 3, { maxBandBytes });
          assertClose(got.data, want.data, dtype === 'f32' ? 1e-4 : 2e-2, `${dtype} bands=${maxBandBytes}`);
        }
      } finally {
        dg.dispose();
      }
    }
  });
});

// Values from an independent PyTorch (2.13, float32, CPU) re-implementation of the upstream decoder on
// the bundled weights, for z[0, c, y, x] = 2.5 sin(0.7c + 1.3y + 0.4x), c < 16, y < 3, x < 5.
const GOLDEN = {
  mean: [0.578299, 0.579535, 0.559214],
  min: 0.2616807520389557,
  max: 1.166723608970642,
  pixels: [
    [0, 0, [0.901103, 0.718968, 0.406012]],
    [5, 17, [0.803011, 0.755672, 0.767982]],
    [12, 20, [0.5227, 0.523184, 0.571526]],
    [23, 39, [0.399938, 0.427253, 0.379072]],
    [9, 3, [0.793748, 0.736012, 0.692975]],
  ] as [number, number, number[]][],
};

const bundled = fileURLToPath(new URL('../../../models/taesd/taef1_decoder.safetensors', import.meta.url));
const noWeights = existsSync(bundled) ? false : 'models/taesd/taef1_decoder.safetensors is absent';

describe('TAEF1 (the bundled real weights)', { skip: noWeights }, () => {
  const [C, h, w] = [16, 3, 5];
  const z = new Float32Array(C * h * w);
  for (let c = 0; c < C; c++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) z[(c * h + y) * w + x] = 2.5 * Math.sin(0.7 * c + 1.3 * y + 0.4 * x);

  const check = (data: Float32Array, tol: number) => {
    const [H, W] = [h * 8, w * 8];
    const mean = [0, 0, 0];
    for (let i = 0; i < H * W; i++) for (let k = 0; k < 3; k++) mean[k]! += data[i * 3 + k]! / (H * W);
    for (const [k, m] of mean.entries())
      assert.ok(Math.abs(m - GOLDEN.mean[k]!) < tol, `mean of channel ${k}: ${m} vs ${GOLDEN.mean[k]}`);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of data) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    assert.ok(Math.abs(lo - GOLDEN.min) < tol && Math.abs(hi - GOLDEN.max) < tol, `range ${lo}..${hi}`);
    for (const [y, x, rgb] of GOLDEN.pixels)
      rgb.forEach((v, k) => {
        const got = data[(y * W + x) * 3 + k]!;
        assert.ok(Math.abs(got - v) < tol, `pixel (${y}, ${x}) channel ${k}: ${got} vs ${v}`);
      });
  };

  it('is the file the package documents, found by defaultTaef1Path()', () => {
    assert.equal(defaultTaef1Path(), bundled);
    const ck = Checkpoint.open(bundled);
    assert.equal(ck.keys().length, 67);
    assert.deepEqual(ck.info('1.weight').shape, [64, 16, 3, 3]);
  });
  it('decodes a latent to RGB matching the PyTorch reference (CPU)', async () => {
    const dec = loadTaesdFile(cpu);
    try {
      assert.equal(dec.latentChannels, 16);
      const img = await dec.decode(z, 1, h, w);
      assert.deepEqual(img.shape, [1, 24, 40, 3]);
      check(img.data, 2e-5);
    } finally {
      dec.dispose();
    }
  });
  it('decodes the same on WebGPU', { skip: noGpu }, async () => {
    for (const dtype of gpuDtypes as ComputeDType[]) {
      const dec = loadTaesdFile(gpu!, bundled, { dtype });
      try {
        check((await dec.decode(z, 1, h, w)).data, dtype === 'f32' ? 1e-4 : 2e-2);
      } finally {
        dec.dispose();
      }
    }
  });
});
