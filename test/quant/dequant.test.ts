// Dequantization against llama.cpp's gguf-py 0.19.0 (../shared/fixtures/gguf-dequant): every tensor of
// every type must match bit for bit (f32 bit patterns equal, signed zeros included).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Checkpoint } from '../../src/io/safetensors.js';
import { dequantize, dequantizeInto } from '../../src/quant/dequant.js';
import { GGML_TYPE_BY_ID, ggmlType, QUANT_TYPES } from '../../src/quant/ggml-types.js';
import { f32ToBf16Bits, f32ToF16Bits } from '../../src/util/f16.js';
import { fixturesDir } from '../helpers.js';
import { readFixtureGguf } from './gguf-fixture.js';

const root = fixturesDir();
const DIR = root ? join(root, 'gguf-dequant') : null;
const noDequantFixtures =
  DIR && existsSync(join(DIR, 'README.json'))
    ? false
    : 'gguf-dequant fixtures not found (../shared/fixtures)';

/** The index of the first element whose f32 bit pattern differs, or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length, 'length mismatch');
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

describe('dequantize: bit-exact with gguf-py 0.19.0', { skip: noDequantFixtures }, () => {
  for (const type of QUANT_TYPES) {
    it(`${type}: every tensor of ${type}.gguf`, () => {
      const gguf = readFixtureGguf(join(DIR!, `${type}.gguf`));
      const ref = Checkpoint.open(join(DIR!, `${type}-dequant.safetensors`));
      try {
        assert.deepEqual([...gguf.tensors.keys()].sort(), ref.keys().sort());
        let quantized = 0;
        for (const [name, t] of gguf.tensors) {
          const info = GGML_TYPE_BY_ID.get(t.type);
          assert.ok(info, `${name}: ggml type ${t.type} unknown`);
          if (info.name !== 'F32') {
            assert.equal(info.name, type, `${name}: stored as ${info.name}`);
            quantized++;
          }
          const count = t.ne.reduce((a, b) => a * b, 1);
          assert.deepEqual(ref.info(name).shape, [...t.ne].reverse(), `${name}: shape`);
          const got = dequantize(info.name, t.bytes, count);
          const want = ref.readF32(name);
          const i = firstBitDifference(got, want);
          assert.equal(i, -1, `${name}[${i}]: got ${got[i]}, gguf-py ${want[i]}`);
        }
        assert.equal(quantized, 2, 'w.a and w.b are quantized');
      } finally {
        ref.close();
      }
    });
  }

  it('dequantizeInto writes one row at an offset and leaves the rest alone', () => {
    const gguf = readFixtureGguf(join(DIR!, 'Q4_K.gguf'));
    const t = gguf.tensors.get('w.a')!;
    const whole = dequantize('Q4_K', t.bytes, 4 * 512);
    const rowBytes = (512 / 256) * 144;
    const out = new Float32Array(512 + 10).fill(7);
    dequantizeInto('Q4_K', t.bytes.subarray(2 * rowBytes), 512, out, 5);
    assert.equal(firstBitDifference(out.subarray(5, 517), whole.subarray(1024, 1536)), -1);
    assert.deepEqual([...out.subarray(0, 5), ...out.subarray(517)], new Array(10).fill(7));
  });
});

describe('dequantize: inputs', () => {
  it('refuses a short buffer and a count that is not whole blocks, for every type', () => {
    for (const type of QUANT_TYPES) {
      const { blockSize, blockBytes } = ggmlType(type);
      assert.throws(
        () => dequantize(type, new Uint8Array(2 * blockBytes - 1), 2 * blockSize),
        (e: Error) => e instanceof RangeError && /need \d+ bytes/.test(e.message),
        type,
      );
      assert.throws(
        () => dequantize(type, new Uint8Array(4 * blockBytes), blockSize + 1),
        (e: Error) => e instanceof RangeError && /whole number/.test(e.message),
        type,
      );
      // zero elements is fine; extra bytes after the blocks are ignored
      assert.equal(dequantize(type, new Uint8Array(0), 0).length, 0);
      assert.equal(dequantize(type, new Uint8Array(blockBytes + 3), blockSize).length, blockSize);
    }
  });

  it('refuses an output range that does not fit', () => {
    assert.throws(() => dequantizeInto('Q8_0', new Uint8Array(34), 32, new Float32Array(40), 9), RangeError);
    assert.throws(() => dequantizeInto('Q8_0', new Uint8Array(34), 32, new Float32Array(40), -1), RangeError);
  });

  it('all-zero blocks give zeros; F16/BF16/F32 at any byte offset', () => {
    for (const type of QUANT_TYPES) {
      const { blockSize, blockBytes } = ggmlType(type);
      const out = dequantize(type, new Uint8Array(3 * blockBytes), 3 * blockSize);
      assert.ok(
        out.every((v) => v === 0),
        type,
      );
    }
    const values = [1, -2.5, 0.1, 65504, -0, 3e-6];
    const f32 = new Uint8Array(1 + 4 * values.length);
    const dv = new DataView(f32.buffer);
    for (const [i, v] of values.entries()) dv.setFloat32(1 + 4 * i, v, true);
    assert.deepEqual([...dequantize('F32', f32.subarray(1), values.length)], values.map(Math.fround));
    const f16 = new Uint8Array(1 + 2 * values.length);
    const bf16 = new Uint8Array(1 + 2 * values.length);
    const d16 = new DataView(f16.buffer);
    const db16 = new DataView(bf16.buffer);
    for (const [i, v] of values.entries()) {
      d16.setUint16(1 + 2 * i, f32ToF16Bits(v), true);
      db16.setUint16(1 + 2 * i, f32ToBf16Bits(v), true);
    }
    const h = dequantize('F16', f16.subarray(1), values.length);
    assert.deepEqual([...h.slice(0, 2)], [1, -2.5]);
    assert.equal(h[3], 65504);
    assert.ok(Object.is(h[4], -0));
    const b = dequantize('BF16', bf16.subarray(1), values.length);
    assert.deepEqual([...b.slice(0, 2)], [1, -2.5]);
  });
});
