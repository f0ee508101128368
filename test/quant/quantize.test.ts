// Quantization: bit-exact with the reference implementations on a committed vector (gguf-py 0.19.0
// for Q8_0…Q5_1, ggml-quants.c's quantize_row_*_ref for the K-quants; tools/quant/make-quantize-vectors.py),
// and round trips within measured error bounds (docs/quant.md).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dequantize } from '../../src/quant/dequant.js';
import { type GgmlTypeName, ggmlType, QUANT_TYPES, type QuantTypeName } from '../../src/quant/ggml-types.js';
import { quantize } from '../../src/quant/quantize.js';
import { roundToF16 } from '../../src/util/f16.js';
import { rng } from '../helpers.js';
import { EXPECTED, INPUT_F32_BASE64 } from './quantize-vectors.js';

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** RMS(a − b) / RMS(b). */
function relRms(a: Float32Array, b: Float32Array): number {
  let e = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    e += (a[i]! - b[i]!) ** 2;
    s += b[i]! ** 2;
  }
  return Math.sqrt(e / s);
}

/**
 * Upper bounds on RMS(dequantize(quantize(x)) − x) / RMS(x) for x ~ N(0, 1): about 1.1× what
 * bench/quant.ts measures on 1M values (docs/quant.md), so a regression in any quantizer shows.
 */
const ROUND_TRIP_BOUND: Record<QuantTypeName | 'F16' | 'BF16', number> = {
  F16: 2.5e-4,
  BF16: 2e-3,
  Q8_0: 6e-3,
  Q4_0: 0.095,
  Q4_1: 0.087,
  Q5_0: 0.048,
  Q5_1: 0.042,
  Q2_K: 0.33,
  Q3_K: 0.17,
  Q4_K: 0.079,
  Q5_K: 0.04,
  Q6_K: 0.02,
};

describe('quantize: bit-exact with the reference quantizers', () => {
  const buf = Buffer.from(INPUT_F32_BASE64, 'base64');
  const input = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));

  it('the committed vector covers every quant type', () => {
    assert.equal(input.length, 512);
    assert.deepEqual(Object.keys(EXPECTED).sort(), [...QUANT_TYPES].sort());
  });

  for (const type of QUANT_TYPES) {
    const want = EXPECTED[type];
    it(`${type} matches ${want?.by ?? 'the reference'} on 512 values with edge cases`, () => {
      assert.ok(want, `${type}: no expected blocks`);
      const got = quantize(type, input);
      const { blockBytes } = ggmlType(type);
      const g = hex(got);
      if (g !== want.hex) {
        let i = 0;
        while (g[i] === want.hex[i]) i++;
        const byte = i >> 1;
        assert.fail(
          `${type}: first difference at byte ${byte} (block ${Math.floor(byte / blockBytes)}, offset ${byte % blockBytes})`,
        );
      }
    });
  }
});

describe('quantize: round trips', () => {
  const x = rng(11).normals(1 << 16);

  for (const type of ['F16', 'BF16', ...QUANT_TYPES] as (QuantTypeName | 'F16' | 'BF16')[]) {
    it(`${type}: relative RMS error below ${ROUND_TRIP_BOUND[type]}; quantizing the result again keeps it`, () => {
      const q = quantize(type, x);
      assert.equal(q.length, (x.length / ggmlType(type).blockSize) * ggmlType(type).blockBytes);
      const y = dequantize(type, q, x.length);
      const err = relRms(y, x);
      assert.ok(err < ROUND_TRIP_BOUND[type], `${type}: ${err.toExponential(3)}`);
      assert.ok(err > 0, `${type}: lossless?`);
      // Values already on a type's grid come back (almost) unchanged: exactly for the float types,
      // the 32-element types, Q4_K and Q6_K on this data; the searched K-quant fits may move a little.
      const z = dequantize(type, quantize(type, y), x.length);
      const again = relRms(z, y);
      const exact = !['Q2_K', 'Q3_K', 'Q5_K'].includes(type);
      if (exact) assert.equal(again, 0, `${type}: re-quantized values moved (${again.toExponential(3)})`);
      else assert.ok(again < 0.3 * err, `${type}: re-quantizing moved ${again.toExponential(3)}`);
    });
  }

  it('F32 is exact, F16 rounds to nearest as roundToF16, all-zero input gives zero blocks', () => {
    const v = rng(3).normals(100, 10);
    assert.deepEqual(dequantize('F32', quantize('F32', v), 100), v);
    assert.deepEqual(dequantize('F16', quantize('F16', v), 100), roundToF16(v));
    for (const type of QUANT_TYPES) {
      const n = 2 * ggmlType(type).blockSize;
      const y = dequantize(type, quantize(type, new Float32Array(n)), n);
      assert.ok(
        y.every((e) => e === 0),
        type,
      );
    }
  });

  it('a constant block and a block of one sign round-trip closely', () => {
    for (const type of QUANT_TYPES) {
      const n = ggmlType(type).blockSize;
      // (not much smaller: Q6_K's f16 super-block scale is about max|x| / 4096, subnormal below 0.25)
      for (const c of [0.75, -2, 0.05]) {
        const v = new Float32Array(n).fill(c);
        const y = dequantize(type, quantize(type, v), n);
        assert.ok(relRms(y, v) < 0.02, `${type} constant ${c}: ${relRms(y, v)}`);
      }
      const pos = rng(5).uniforms(n, 1, 2);
      const y = dequantize(type, quantize(type, pos), n);
      assert.ok(relRms(y, pos) < 2 * ROUND_TRIP_BOUND[type], `${type} positive: ${relRms(y, pos)}`);
    }
  });
});

describe('quantize: inputs', () => {
  it('refuses a length that is not whole blocks', () => {
    for (const type of QUANT_TYPES) {
      const n = ggmlType(type).blockSize;
      assert.throws(
        () => quantize(type, new Float32Array(n + 1)),
        (e: Error) => e instanceof RangeError && e.message.includes(type),
      );
    }
    assert.equal(quantize('Q4_K', new Float32Array(0)).length, 0);
  });

  it('refuses an unknown type', () => {
    assert.throws(() => quantize('Q7_X' as GgmlTypeName, new Float32Array(32)), /unknown type/);
  });
});
