import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Checkpoint } from '../../src/io/safetensors.js';
import {
  type StreamedTensor,
  streamedFileBytes,
  writeSafetensorsStreamed,
} from '../../src/io/safetensors-stream.js';
import { f16BitsToF32 } from '../../src/util/f16.js';

const dir = mkdtempSync(join(tmpdir(), 'toma-stream-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Values i * step + offset, produced chunk by chunk. */
function ramp(key: string, dtype: 'F16' | 'F32', shape: number[], offset: number): StreamedTensor {
  return {
    key,
    dtype,
    shape,
    produce: () => {
      let i = 0;
      return (out) => {
        for (let j = 0; j < out.length; j++, i++) {
          const v = ((i % 1000) - 500) / 64 + offset;
          out[j] = dtype === 'F16' ? f16Of(v) : v;
        }
      };
    },
  };
}
function f16Of(v: number): number {
  // exact in f16: multiples of 1/64 below 2048
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === 0) return sign;
  const e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}
const expected = (n: number, offset: number) =>
  Float32Array.from({ length: n }, (_, i) => ((i % 1000) - 500) / 64 + offset);

describe('writeSafetensorsStreamed', () => {
  it('writes mixed f16/f32 tensors across buffer boundaries, read back exactly', async () => {
    // an odd f16 count first, so the f32 tensor after it sits at an unaligned offset
    const tensors = [
      ramp('a.f16', 'F16', [3, 11], 1),
      ramp('b.f32', 'F32', [70_001], 2),
      ramp('c.f16', 'F16', [250, 401], 3),
      ramp('d.empty', 'F32', [0, 4], 0),
    ];
    const path = join(dir, 'mixed.safetensors');
    const seen: number[] = [];
    const bytes = await writeSafetensorsStreamed(path, tensors, {
      bufferBytes: 1 << 16,
      metadata: { what: 'test' },
      onBytes: (w) => seen.push(w),
    });
    assert.equal(bytes, statSync(path).size);
    assert.equal(bytes, streamedFileBytes(tensors, { what: 'test' }));
    assert.ok(seen.length > 3 && seen.at(-1) === bytes, 'progress reports reach the total');
    const ck = Checkpoint.open(path);
    try {
      assert.equal(ck.metadata.what, 'test');
      assert.deepEqual(ck.readF32('a.f16'), expected(33, 1));
      assert.deepEqual(ck.readF32('b.f32'), expected(70_001, 2));
      assert.deepEqual(
        Array.from(ck.readF16Bits('c.f16').subarray(0, 5), f16BitsToF32),
        Array.from(expected(5, 3)),
      );
      assert.deepEqual(ck.readF32('c.f16'), expected(250 * 401, 3));
      assert.deepEqual(ck.info('d.empty').shape, [0, 4]);
    } finally {
      ck.close();
    }
  });

  it('leaves no file behind when a producer fails, and rejects duplicate keys', async () => {
    const path = join(dir, 'failed.safetensors');
    const bad: StreamedTensor = {
      key: 'x',
      dtype: 'F32',
      shape: [100_000],
      produce: () => () => {
        throw new Error('producer failed');
      },
    };
    await assert.rejects(writeSafetensorsStreamed(path, [ramp('a', 'F32', [10], 0), bad]), /producer failed/);
    assert.ok(!existsSync(path));
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('failed')),
      [],
    );
    await assert.rejects(
      writeSafetensorsStreamed(path, [ramp('a', 'F32', [1], 0), ramp('a', 'F32', [1], 0)]),
      /duplicate tensor "a"/,
    );
  });
});
