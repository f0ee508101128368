// Property-based tests of the GGUF reader (fast-check): files the writer makes from random tensors and
// metadata read back exactly; random mutations of them (byte changes, truncation, appended bytes) and
// arbitrary bytes are either read (every tensor then converts without throwing anything but a
// GgufError) or refused with a GgufError, never another error, and quickly.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { GgufBytes, GgufError, type GgufTensorToWrite, writeGguf } from '../../src/io/gguf.js';
import { GGML_TYPES, type GgmlTypeName, ggmlBytes } from '../../src/quant/ggml-types.js';

const dir = mkdtempSync(join(tmpdir(), 'toma-gguf-prop-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const TYPES = [...GGML_TYPES.keys()] as GgmlTypeName[];

const tensorArb = fc
  .record({
    name: fc.string({ minLength: 1, maxLength: 10 }),
    type: fc.constantFrom(...TYPES),
    rows: fc.integer({ min: 1, max: 3 }),
    blocks: fc.integer({ min: 1, max: 2 }),
    seed: fc.integer({ min: 0, max: 255 }),
  })
  .map((t) => {
    const cols = GGML_TYPES.get(t.type)!.blockSize * t.blocks;
    const n = ggmlBytes(t.type, t.rows * cols);
    // f16 scales of quantized blocks may decode to anything: fine, values are not checked here
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + t.seed) & 0xff);
    return { name: t.name, tensor: { type: t.type, shape: [t.rows, cols], bytes } as GgufTensorToWrite };
  });
const filesArb = fc.uniqueArray(tensorArb, { selector: (t) => t.name, minLength: 1, maxLength: 4 });

let n = 0;
function written(tensors: { name: string; tensor: GgufTensorToWrite }[], meta: string): Uint8Array {
  const p = join(dir, `f${n++}.gguf`);
  writeGguf(
    p,
    [
      ['general.architecture', { type: 'string', value: 'flux' }],
      ['t.text', { type: 'string', value: meta }],
    ],
    tensors.map((t) => [t.name, t.tensor]),
  );
  return new Uint8Array(readFileSync(p));
}

/** Reads everything a loader would; only GgufError may come out. */
function readAll(bytes: Uint8Array): 'read' | 'refused' {
  try {
    const g = new GgufBytes(bytes, 'fuzz.gguf');
    for (const k of g.keys()) {
      g.readF32(k);
      g.readF16Bits(k);
      if (g.isQuantized(k)) g.readQuantized(k);
    }
    return 'read';
  } catch (e) {
    if (e instanceof GgufError) return 'refused';
    throw e;
  }
}

describe('GGUF reader properties', () => {
  it('written files read back exactly', () => {
    fc.assert(
      fc.property(filesArb, fc.string({ maxLength: 20 }), (tensors, meta) => {
        const g = new GgufBytes(written(tensors, meta));
        assert.equal(g.meta('t.text')!.value, meta);
        assert.deepEqual(
          g.keys(),
          tensors.map((t) => t.name),
        );
        for (const t of tensors) {
          assert.equal(g.info(t.name).dtype, t.tensor.type);
          assert.deepEqual(g.info(t.name).shape, t.tensor.shape);
          assert.deepEqual(g.readBytes(t.name), t.tensor.bytes);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('mutated files are read or refused with a GgufError, within 1 s each', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('append' as const), value: fc.integer({ min: 0, max: 255 }) }),
      // a length or count field set to a huge value
      fc.record({ kind: fc.constant('big' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(filesArb, fc.array(mutation, { minLength: 1, maxLength: 4 }), (tensors, muts) => {
        let b = written(tensors, 'x');
        for (const m of muts) {
          if (m.kind === 'set') {
            b = b.slice();
            b[m.at % b.length] = m.value;
          } else if (m.kind === 'truncate') b = b.subarray(0, m.at % (b.length + 1));
          else if (m.kind === 'append') b = Uint8Array.from([...b, m.value]);
          else if (b.length >= 8) {
            b = b.slice();
            const at = m.at % (b.length - 7);
            new DataView(b.buffer).setBigUint64(at, 0xffffffffffn, true);
          }
        }
        const t0 = performance.now();
        readAll(b);
        assert.ok(performance.now() - t0 < 1000);
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes (after a GGUF magic or not) are read or refused with a GgufError, nothing else', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ maxLength: 200 }), (magic, rest) => {
        const b = magic ? Uint8Array.from([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, ...rest]) : rest;
        readAll(b);
      }),
      { numRuns: 300 },
    );
  });
});
