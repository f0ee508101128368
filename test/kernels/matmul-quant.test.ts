// matmul with a quantized (ggml block) weight on WebGPU against the CPU backend on the same
// QuantizedMatrix (which dequantizes exactly with src/quant/dequant.ts), and the device dequantize
// kernel against dequantize(). Weights are random blocks: random bytes with every f16 scale field
// replaced by a finite f16 of a sane size, so every bit pattern of the quants and packed scales occurs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend, MatmulOptions } from '../../src/backend.js';
import { type ShaderParams, specialize } from '../../src/gpu/shader.js';
import { SGM_MATMUL_DEFAULT } from '../../src/kernels/matmul.js';
import { dequantizeOnDevice, matmulQuant } from '../../src/kernels/matmul-quant.js';
import { dequantize } from '../../src/quant/dequant.js';
import { ggmlType, QUANT_TYPES, type QuantTypeName } from '../../src/quant/ggml-types.js';
import { bytesToWords, QuantizedMatrix } from '../../src/quant/quantized-matrix.js';
import type { DType } from '../../src/tensor.js';
import { f16BitsToF32, f32ToF16Bits, roundToF16 } from '../../src/util/f16.js';
import type { Rng } from '../../src/util/random.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';
import { assertCompiles, nullDevice } from '../null-device.js';

/** Byte offsets of the f16 fields (scales, mins) inside one block of each type. */
const F16_FIELDS: Record<QuantTypeName, number[]> = {
  Q8_0: [0],
  Q4_0: [0],
  Q4_1: [0, 2],
  Q5_0: [0],
  Q5_1: [0, 2],
  Q2_K: [80, 82],
  Q3_K: [108],
  Q4_K: [0, 2],
  Q5_K: [0, 2],
  Q6_K: [208],
};

/**
 * N rows of K elements of random blocks. The f16 fields get ±[0.5, 1)·2^e with e in [-9, -5] (the
 * size of real weight scales), and, with `subnormal`, some get f16 subnormals.
 */
function randomBlocks(type: QuantTypeName, N: number, K: number, r: Rng, subnormal = false): Uint8Array {
  const { blockSize, blockBytes } = ggmlType(type);
  const bytes = new Uint8Array((N * K * blockBytes) / blockSize);
  for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(256);
  const dv = new DataView(bytes.buffer);
  for (let b = 0; b < bytes.length / blockBytes; b++) {
    for (const off of F16_FIELDS[type]) {
      let bits: number;
      if (subnormal && r.int(3) === 0) bits = 1 + r.int(0x3ff);
      else bits = f32ToF16Bits((0.5 + 0.5 * r.uniform()) * 2 ** (-9 + r.int(5)));
      if (r.int(2)) bits |= 0x8000;
      dv.setUint16(b * blockBytes + off, bits, true);
    }
  }
  return bytes;
}

function quantized(
  be: Backend,
  type: QuantTypeName,
  N: number,
  K: number,
  bytes: Uint8Array,
): QuantizedMatrix {
  const words = bytesToWords(bytes);
  return new QuantizedMatrix(type, [N, K], be.tensor(words, [words.length], 'u32'));
}

function quantPair(type: QuantTypeName, N: number, K: number, bytes: Uint8Array) {
  return [quantized(cpu, type, N, K, bytes), quantized(gpu!, type, N, K, bytes)] as const;
}

/** K values per type: 1–3 blocks of 32, or 1–2 super-blocks of 256. */
const kValues = (type: QuantTypeName) => (ggmlType(type).blockSize === 32 ? [32, 64, 96] : [256, 512]);
/** The brief for quantized weights: f32 within 1e-5 of the dequantized weights' product. */
const TOL_Q: Record<DType, number> = { ...TOL, f32: 1e-5 };

const EPILOGUES = ['none', 'bias+gelu', 'gate+residual'] as const;

describe('matmul with a quantized weight vs CPU reference', { skip: noGpu }, () => {
  let c = 0;
  for (const type of QUANT_TYPES) {
    for (const dtype of gpuDtypes) {
      for (const epi of EPILOGUES) {
        const ks = kValues(type);
        const K = ks[c % ks.length]!;
        const N = [45, 70, 130][c % 3]!;
        c++;
        it(`${type} ${dtype} ${epi} N=${N} K=${K}`, async () => {
          const r = rng();
          const [B, L] = [3, 13]; // M = 39
          const [wc, wg] = quantPair(type, N, K, randomBlocks(type, N, K, r));
          const [xc, xg] = pair(gpu!, r.normals(B * L * K), [B, L, K], dtype);
          const oc: MatmulOptions = {};
          const og: MatmulOptions = {};
          if (epi === 'bias+gelu') {
            [oc.bias, og.bias] = pair(gpu!, r.normals(N), [N], dtype);
            oc.activation = og.activation = 'gelu_tanh';
          } else if (epi === 'gate+residual') {
            [oc.gate, og.gate] = pair(gpu!, r.normals(B * (N + 5)), [B, N + 5], dtype);
            oc.gateColumn = og.gateColumn = 3;
            [oc.residual, og.residual] = pair(gpu!, r.normals(B * L * N), [B, L, N], dtype);
          }
          const want = await cpu.matmul(xc, wc, oc).read();
          const got = await gpu!.matmul(xg, wg, og).read();
          assertClose(got, want, TOL_Q[dtype], `${type} matmul`);
        });
      }
    }
  }

  it('the dequantize-first strategy computes the same (Q4_K and Q5_0, f32, bias)', async () => {
    for (const type of ['Q4_K', 'Q5_0'] as const) {
      const r = rng();
      const [M, N, K] = [21, 37, 256];
      const bytes = randomBlocks(type, N, K, r);
      const [wc, wg] = quantPair(type, N, K, bytes);
      const [xc, xg] = pair(gpu!, r.normals(M * K), [M, K], 'f32');
      const [bc, bg] = pair(gpu!, r.normals(N), [N], 'f32');
      const want = await cpu.matmul(xc, wc, { bias: bc }).read();
      const got = await matmulQuant(gpu!, xg, wg, { bias: bg }, M, N, K, [M, N], 'dequantize').read();
      assertClose(got, want, TOL_Q.f32, `${type} dequantize + dense matmul`);
    }
  });

  it('#include inlines the decoder, specialized with the same parameters', () => {
    const code = specialize('dequant', { T: 'f32', F16: false, QUANT: 'Q6_K' });
    assert.ok(!/^\s*#include/m.test(code));
    assert.match(code, /fn deq8_Q6_K\(/);
    assert.match(code, /return deq8_Q6_K\(base, k % Q_BLOCK\);/);
    assert.match(code, /const Q_BYTES: u32 = QB_Q6_K;/);
  });

  it('K that is not a whole number of blocks is refused', () => {
    const w = quantized(gpu!, 'Q8_0', 4, 32, randomBlocks('Q8_0', 4, 32, rng()));
    const x = gpu!.tensor(new Float32Array(3 * 16), [3, 16]);
    assert.throws(() => matmulQuant(gpu!, x, w, {}, 3, 4, 16, [3, 4]), /multiple of its 32-element blocks/);
  });
});

describe('dequantize kernel vs dequantize()', { skip: noGpu }, () => {
  for (const type of QUANT_TYPES) {
    it(`${type}: f32 bit-exact, f16 its rounding`, async () => {
      const r = rng();
      const { blockSize } = ggmlType(type);
      const [N, K] = [5, 2 * blockSize];
      const bytes = randomBlocks(type, N, K, r, true);
      const want = dequantize(type, bytes, N * K);
      const w = quantized(gpu!, type, N, K, bytes);
      const got = await dequantizeOnDevice(gpu!, w, 'f32').read();
      let bad = 0;
      let first = -1;
      for (let i = 0; i < want.length; i++) {
        if (!Object.is(got[i], want[i])) {
          bad++;
          if (first < 0) first = i;
        }
      }
      assert.equal(
        bad,
        0,
        `${type}: ${bad} of ${want.length} values differ, first at ${first}: ${got[first]} vs ${want[first]}`,
      );
      if (gpu!.caps.f16) {
        const got16 = await dequantizeOnDevice(gpu!, w, 'f16').read();
        const want16 = roundToF16(want);
        // WGSL leaves the f32 -> f16 rounding direction to the implementation: within one f16 step.
        for (let i = 0; i < want16.length; i++) {
          const step = Math.abs(f16BitsToF32(f32ToF16Bits(want16[i]!) + 1) - want16[i]!);
          assert.ok(
            Math.abs(got16[i]! - want16[i]!) <= step,
            `${type} f16 at ${i}: ${got16[i]} vs ${want16[i]}`,
          );
        }
      }
    });
  }
});

// SwiftShader has neither shader-f16 nor subgroup matrices, so the f16 and tensor-core variants are
// at least compiled on Dawn's null backend (test/null-device.ts). The H100 runs them for real
// (bench/matmul-quant.ts checks their results).
const nullDev = await nullDevice();

describe('f16 and tensor-core quantized kernels compile (Dawn null backend)', {
  skip: nullDev ? false : 'no null backend with shader-f16 and subgroup matrices',
}, () => {
  // Tile configurations within the null adapter's 16 KiB of workgroup memory (the WGSL is the same).
  const SGM_SMALL = { ...SGM_MATMUL_DEFAULT, BM: 64, BN: 64, BK: 16, STAGES: 2 };
  const epi = (i: number) => ({ ACT: i % 3, BIAS: i % 2 === 0, GATE: i % 3 === 1, RESIDUAL: i % 3 === 1 });
  const variants: [string, ShaderParams][] = [];
  QUANT_TYPES.forEach((type, i) => {
    variants.push(['dequant', { T: 'f16', F16: true, QUANT: type }]);
    variants.push(['matmul_simt', { T: 'f16', F16: true, QUANT: type, ...epi(i) }]);
    variants.push(['matmul_sgm', { QUANT: type, ...epi(i), ...SGM_SMALL, VEC: true }]);
  });
  variants.push([
    'matmul_sgm',
    { QUANT: 'Q4_K', ...epi(0), BM: 64, BN: 128, BK: 32, STAGES: 1, PREFETCH: false, GROUP: 8, VEC: true },
  ]);
  for (const [shader, params] of variants) {
    it(`${shader} ${params.QUANT} ${params.T ?? 'f16'}`, async () => {
      await assertCompiles(nullDev!, specialize(shader, params), shader !== 'matmul_sgm');
    });
  }
});
