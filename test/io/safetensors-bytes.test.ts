// The in-memory safetensors reader (what the browser demo parses fetched files with) must read exactly
// what the Node file reader reads, and reject the same broken files with the same messages.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Checkpoint, writeSafetensors } from '../../src/io/safetensors.js';
import { parseSafetensors } from '../../src/io/safetensors-bytes.js';
import { rng } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'toma-stb-'));

function sampleFile(): string {
  const r = rng();
  const p = join(dir, `sample-${Math.random().toString(36).slice(2)}.safetensors`);
  writeSafetensors(
    p,
    {
      f32: { dtype: 'F32', shape: [3, 5], data: r.normals(15) },
      f16: { dtype: 'F16', shape: [7], data: r.normals(7) },
      bf16: { dtype: 'BF16', shape: [2, 3], data: r.normals(6) },
      i64: { dtype: 'I64', shape: [3], data: [3, -4, 5] },
      u32: { dtype: 'U32', shape: [2], data: [7, 4000000000] },
    },
    { hello: 'world', classes: '["a","b"]' },
  );
  return p;
}

describe('parseSafetensors (in-memory reader)', () => {
  it('reads every tensor, dtype and metadata exactly as the file reader does', () => {
    const p = sampleFile();
    const ck = Checkpoint.open(p);
    const bytes = readFileSync(p);
    // a fresh ArrayBuffer, and a view that starts at an odd offset (f16 data then is unaligned)
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    for (const st of [
      parseSafetensors(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)),
      parseSafetensors(shifted.subarray(1), 'shifted'),
    ]) {
      assert.deepEqual(st.keys().sort(), ck.keys().sort());
      assert.deepEqual(st.metadata, ck.metadata);
      for (const k of ck.keys()) {
        const a = st.info(k);
        const b = ck.info(k);
        assert.deepEqual([a.dtype, a.shape, a.begin, a.end], [b.dtype, b.shape, b.begin, b.end], k);
        assert.deepEqual(st.readF32(k), ck.readF32(k), `${k} as f32`);
        assert.deepEqual(st.readF16Bits(k), ck.readF16Bits(k), `${k} as f16 bits`);
      }
    }
    assert.deepEqual(Array.from(parseSafetensors(bytes).readF32('u32')), [7, 4000000000]);
    ck.close();
  });

  it('names the problem for truncated data, bad headers, short input and missing keys', () => {
    const bytes = readFileSync(sampleFile());
    assert.throws(
      () => parseSafetensors(bytes.subarray(0, bytes.length - 3), 'cut.st'),
      /cut\.st: truncated: tensor "/,
    );
    const badJson = Uint8Array.from(bytes);
    badJson.set(new TextEncoder().encode('{nope'), 8);
    assert.throws(() => parseSafetensors(badJson, 'bad.st'), /bad\.st: header is not valid JSON/);
    assert.throws(() => parseSafetensors(new Uint8Array([1, 2, 3]), 'tiny'), /tiny: too short/);
    const hugeHeader = Uint8Array.from(bytes);
    new DataView(hugeHeader.buffer).setBigUint64(0, BigInt(bytes.length), true);
    assert.throws(
      () => parseSafetensors(hugeHeader, 'len'),
      /len: header length \d+ runs past the end of the file/,
    );
    assert.throws(() => parseSafetensors(bytes, 'x').info('absent'), /x: no tensor named "absent"/);
  });

  it('rejects offsets that do not match the shape and dtype', () => {
    const header = JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 12] } });
    const h = new TextEncoder().encode(header);
    const bytes = new Uint8Array(8 + h.length + 16);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(h.length), true);
    bytes.set(h, 8);
    assert.throws(
      () => parseSafetensors(bytes, 'off'),
      /off: tensor "w": F32 \[4\] takes 16 bytes but data_offsets \[0, 12\] span 12/,
    );
  });
});
