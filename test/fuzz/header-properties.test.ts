// Property-based tests of the header parser (fast-check): valid files of random tensors read back
// exactly; random mutations of valid files, arbitrary JSON and arbitrary bytes are either read
// consistently with the format's rules or refused with a SafetensorsError, never another error; and
// the strict JSON parser agrees with JSON.parse wherever it accepts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { JsonSyntaxError, type JsonValue, parseStrictJson } from '../../src/io/json-strict.js';
import {
  Checkpoint,
  SafetensorsError,
  type TensorToWrite,
  writeSafetensors,
} from '../../src/io/safetensors.js';
import { parseSafetensors, type SafetensorsBytes } from '../../src/io/safetensors-bytes.js';
import { STORED_DTYPE_BYTES, type StoredDType } from '../../src/io/safetensors-format.js';
import { safetensorsBytes } from './malformed.js';

const dir = mkdtempSync(join(tmpdir(), 'toma-prop-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const DTYPES = Object.keys(STORED_DTYPE_BYTES) as StoredDType[];

interface Spec {
  key: string;
  dtype: StoredDType;
  shape: number[];
}

/** Tensor names: any text, including names that are special to JavaScript objects. */
const keyArb = fc
  .oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'toString', '0', ''))
  .filter((k) => k !== '__metadata__');
// the writer builds its header as a plain object, where "__proto__" is not a key (reported)
const writerKeyArb = keyArb.filter((k) => k !== '__proto__');
const specsArb = fc.uniqueArray(
  fc.record({
    key: keyArb,
    dtype: fc.constantFrom(...DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  }),
  { selector: (s) => s.key, maxLength: 6 },
);
const metadataArb = fc.option(fc.array(fc.tuple(keyArb, fc.string({ maxLength: 8 })), { maxLength: 4 }));

/** A valid file: entries in any order in the header, data in `specs` order, optional padding. */
function validFile(
  specs: Spec[],
  metadata: [string, string][] | null,
  order: number[],
  pad: number,
): Uint8Array {
  const parts: string[] = [];
  const ranges: [number, number][] = [];
  let offset = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1) * STORED_DTYPE_BYTES[s.dtype];
    ranges.push([offset, offset + n]);
    offset += n;
  }
  if (metadata) {
    const m = new Map(metadata);
    parts.push(
      `"__metadata__":{${[...m].map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`,
    );
  }
  for (const i of order) {
    const s = specs[i]!;
    parts.push(
      `${JSON.stringify(s.key)}:${JSON.stringify({ dtype: s.dtype, shape: s.shape, data_offsets: ranges[i] })}`,
    );
  }
  const data = new Uint8Array(offset);
  for (let i = 0; i < offset; i++) data[i] = (i * 37 + 11) & 0xff;
  return safetensorsBytes(`{${parts.join(',')}}${' '.repeat(pad)}`, data);
}

/** What a parsed file must satisfy whenever it is accepted: the format's rules, checked from outside. */
function checkConsistent(st: SafetensorsBytes, bytes: Uint8Array): void {
  const size = bytes.length;
  const infos = st.keys().map((k) => st.info(k));
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  // the data section starts right after the header
  let at = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  for (const t of sorted) {
    assert.equal(t.begin, at, 'contiguous');
    assert.equal(t.end - t.begin, t.shape.reduce((a, b) => a * b, 1) * STORED_DTYPE_BYTES[t.dtype]);
    at = t.end;
  }
  assert.equal(at, size, 'the data fills the file');
  for (const k of st.keys())
    assert.equal(
      st.readF32(k).length,
      st.info(k).shape.reduce((a, b) => a * b, 1),
    );
  for (const v of Object.values(st.metadata)) assert.equal(typeof v, 'string');
}

/** Runs `f`; any error other than a SafetensorsError fails the property. */
function onlySafetensorsErrors(f: () => void): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
  }
}

const fileArb = specsArb.chain((specs) =>
  fc.record({
    specs: fc.constant(specs),
    metadata: metadataArb,
    order: fc.shuffledSubarray(
      specs.map((_, i) => i),
      { minLength: specs.length },
    ),
    pad: fc.integer({ min: 0, max: 7 }),
  }),
);

describe('safetensors header properties', () => {
  it('random valid files read back exactly', () => {
    fc.assert(
      fc.property(fileArb, ({ specs, metadata, order, pad }) => {
        const bytes = validFile(specs, metadata, order, pad);
        const st = parseSafetensors(bytes, 'p');
        assert.deepEqual(st.keys().sort(), specs.map((s) => s.key).sort());
        for (const s of specs) {
          const t = st.info(s.key);
          assert.equal(t.dtype, s.dtype);
          assert.deepEqual(t.shape, s.shape);
        }
        const byKey = (x: [string, string], y: [string, string]) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0);
        assert.deepEqual(Object.entries(st.metadata).sort(byKey), [...new Map(metadata ?? [])].sort(byKey));
        checkConsistent(st, bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('the writer and the file reader round-trip random tensors', () => {
    let n = 0;
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            key: writerKeyArb,
            dtype: fc.constantFrom<TensorToWrite['dtype']>('F32', 'F16', 'BF16', 'I32', 'U32', 'I64'),
            shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
          }),
          { selector: (s) => s.key, maxLength: 5 },
        ),
        (specs) => {
          const tensors: Record<string, TensorToWrite> = {};
          for (const s of specs) {
            const count = s.shape.reduce((a, b) => a * b, 1);
            Object.defineProperty(tensors, s.key, {
              value: { dtype: s.dtype, shape: s.shape, data: Array.from({ length: count }, (_, i) => i % 7) },
              enumerable: true,
            });
          }
          const p = join(dir, `rt-${n++}.safetensors`);
          writeSafetensors(p, tensors);
          const ck = Checkpoint.open(p);
          try {
            assert.deepEqual(ck.keys().sort(), specs.map((s) => s.key).sort());
            for (const s of specs) {
              assert.deepEqual(ck.info(s.key).shape, s.shape);
              assert.deepEqual(Array.from(ck.readF32(s.key)), Array.from(tensors[s.key]!.data as number[]));
            }
          } finally {
            ck.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('random mutations of valid files are read consistently or refused with a SafetensorsError', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ maxLength: 8 }),
      }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
      fc.record({
        kind: fc.constant('text' as const),
        at: fc.nat(),
        text: fc.constantFrom('"', '{', '}', '[', ']', ',', ':', '-', '0', '9', '1e9', '.5', '\\', 'null'),
      }),
    );
    fc.assert(
      fc.property(fileArb, fc.array(mutation, { minLength: 1, maxLength: 4 }), (f, muts) => {
        let b = validFile(f.specs, f.metadata, f.order, f.pad);
        for (const m of muts) {
          const at = b.length ? m.at % (b.length + 1) : 0;
          const ins = (x: Uint8Array) => Uint8Array.from([...b.subarray(0, at), ...x, ...b.subarray(at)]);
          if (m.kind === 'set' && b.length) b[at % b.length] = m.byte;
          else if (m.kind === 'cut') b = b.slice(0, at);
          else if (m.kind === 'insert') b = ins(m.bytes);
          else if (m.kind === 'delete') b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.n)]);
          else if (m.kind === 'text') b = ins(new TextEncoder().encode(m.text));
        }
        onlySafetensorsErrors(() => checkConsistent(parseSafetensors(b, 'm'), b));
      }),
      { numRuns: 1500 },
    );
  });

  it('arbitrary JSON, text and bytes as headers give only SafetensorsErrors', () => {
    const header = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.dictionary(keyArb, fc.jsonValue({ maxDepth: 2 })).map((v) => JSON.stringify(v)),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
    );
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 16 }), (h, data) => {
        const bytes = safetensorsBytes(h, data);
        onlySafetensorsErrors(() => checkConsistent(parseSafetensors(bytes, 'j'), bytes));
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        onlySafetensorsErrors(() => checkConsistent(parseSafetensors(bytes, 'b'), bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it('the strict JSON parser accepts only what JSON.parse accepts, with the same value', () => {
    const text = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v, null, 1)),
      fc.string({ maxLength: 30 }),
      fc
        .array(
          fc.constantFrom(
            '{',
            '}',
            '[',
            ']',
            '"a"',
            ':',
            ',',
            '1',
            '-0',
            '1.5e3',
            ' ',
            'true',
            'nul',
            '\\u0041',
          ),
          {
            maxLength: 12,
          },
        )
        .map((t) => t.join('')),
    );
    fc.assert(
      fc.property(text, (t) => {
        let mine: JsonValue | undefined;
        try {
          mine = parseStrictJson(t, { maxDepth: 128 });
        } catch (e) {
          if (!(e instanceof JsonSyntaxError)) throw e;
          return; // stricter is allowed (duplicate keys, depth)
        }
        // the strict parser reads the integer -0 as 0
        assert.deepEqual(
          plain(mine),
          JSON.parse(t, (_, x) => (Object.is(x, -0) ? 0 : x)),
        );
      }),
      { numRuns: 2000 },
    );
  });
});

/** A strict-parser value as JSON.parse would give it (Maps as objects, integers as doubles). */
function plain(v: JsonValue): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v)
      Object.defineProperty(o, k, { value: plain(x), enumerable: true, writable: true, configurable: true });
    return o;
  }
  return v;
}
