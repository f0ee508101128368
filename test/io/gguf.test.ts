// The GGUF reader and writer: every header rule refuses its malformed file by name, quickly; files the
// writer makes read back identically here and in @huggingface/gguf (an independent reader); the
// fixtures made by llama.cpp's gguf-py parse the same here and there.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gguf as hfGguf } from '@huggingface/gguf';
import { GgufBytes, GgufError, GgufFile, writeGguf } from '../../src/io/gguf.js';
import { type GgufRule, parseGgufHeader } from '../../src/io/gguf-format.js';
import { GGML_TYPES } from '../../src/quant/ggml-types.js';
import { fixturesDir } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'toma-gguf-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// ---- an independent byte builder for hand-made (and broken) files ---------------------------------

class Bytes {
  parts: number[] = [];
  u8(v: number) {
    this.parts.push(v & 0xff);
    return this;
  }
  u32(v: number) {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: bigint | number) {
    let x = BigInt(v);
    for (let i = 0; i < 8; i++) {
      this.parts.push(Number(x & 0xffn));
      x >>= 8n;
    }
    return this;
  }
  raw(b: ArrayLike<number>) {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]!);
    return this;
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    return this.u64(b.length).raw(b);
  }
  get length() {
    return this.parts.length;
  }
  pad(align: number) {
    while (this.parts.length % align) this.parts.push(0);
    return this;
  }
  done() {
    return Uint8Array.from(this.parts);
  }
}

interface T {
  name: string;
  ne: (number | bigint)[];
  type: number;
  offset: number | bigint;
}

/** A valid file by default: one string entry and two F32 tensors; `f` edits the pieces first. */
function build(
  o: {
    magic?: number;
    version?: number;
    tensorCount?: bigint;
    kvCount?: bigint;
    kv?: (b: Bytes) => void;
    kvN?: number;
    tensors?: T[];
    dataBytes?: number;
    align?: number;
  } = {},
): Uint8Array {
  const tensors = o.tensors ?? [
    { name: 'a', ne: [4, 2], type: 0, offset: 0 },
    { name: 'b', ne: [3], type: 0, offset: 32 },
  ];
  const b = new Bytes()
    .u32(o.magic ?? 0x46554747)
    .u32(o.version ?? 3)
    .u64(o.tensorCount ?? BigInt(tensors.length))
    .u64(o.kvCount ?? BigInt(o.kv ? (o.kvN ?? 1) : 1));
  if (o.kv) o.kv(b);
  else b.str('general.architecture').u32(8).str('flux');
  for (const t of tensors) {
    b.str(t.name).u32(t.ne.length);
    for (const d of t.ne) b.u64(d);
    b.u32(t.type).u64(t.offset);
  }
  b.pad(o.align ?? 32);
  const data = new Uint8Array(o.dataBytes ?? 64);
  for (let i = 0; i < data.length; i++) data[i] = i;
  return b.raw(data).done();
}

function parse(bytes: Uint8Array) {
  return parseGgufHeader((p, n) => bytes.subarray(p, p + n), bytes.length, 'x.gguf');
}

function refuses(bytes: Uint8Array, rule: GgufRule, pattern?: RegExp) {
  const t0 = performance.now();
  assert.throws(
    () => parse(bytes),
    (e: unknown) => {
      assert.ok(e instanceof GgufError, `not a GgufError: ${e}`);
      assert.equal(e.rule, rule, e.message);
      assert.match(e.message, /^x\.gguf: /);
      if (pattern) assert.match(e.message, pattern);
      return true;
    },
  );
  assert.ok(performance.now() - t0 < 1000, 'refused within 1 s');
}

describe('GGUF header rules', () => {
  it('reads a valid hand-made file (ne reversed into shapes, absolute ranges)', () => {
    const h = parse(build());
    assert.equal(h.version, 3);
    assert.equal(h.alignment, 32);
    const a = h.tensors.get('a')!;
    assert.deepEqual(a.shape, [2, 4]);
    assert.equal(a.dtype, 'F32');
    assert.equal(a.begin, h.dataOffset);
    assert.equal(a.end - a.begin, 32);
    assert.equal(h.tensors.get('b')!.begin, h.dataOffset + 32);
    assert.equal(h.metadata.get('general.architecture')!.value, 'flux');
  });

  it('version 2 files read too', () => {
    assert.equal(parse(build({ version: 2 })).version, 2);
  });

  const cases: [string, () => Uint8Array, GgufRule, RegExp?][] = [
    ['too short', () => build().subarray(0, 20), 'too-short'],
    ['wrong magic', () => build({ magic: 0x46554746 }), 'magic'],
    ['version 1', () => build({ version: 1 }), 'version', /version 1/],
    ['version 4', () => build({ version: 4 }), 'version'],
    ['big-endian', () => build({ version: 0x03000000 }), 'big-endian'],
    ['absurd tensor count', () => build({ tensorCount: 1n << 60n }), 'count'],
    ['absurd metadata count', () => build({ kvCount: 1n << 60n }), 'count'],
    [
      'string longer than the file',
      () =>
        build({
          kv: (b) =>
            b
              .str('k')
              .u32(8)
              .u64(1n << 40n),
        }),
      'string',
    ],
    ['invalid UTF-8 key', () => build({ kv: (b) => b.u64(2).raw([0xc3, 0x28]).u32(4).u32(1) }), 'utf8'],
    ['empty key', () => build({ kv: (b) => b.str('').u32(4).u32(1) }), 'name'],
    ['unknown value type', () => build({ kv: (b) => b.str('k').u32(13).u32(1) }), 'value-type'],
    ['bool that is 2', () => build({ kv: (b) => b.str('k').u32(7).u8(2) }), 'value-type'],
    [
      'duplicate key',
      () => build({ kvN: 2, kv: (b) => b.str('k').u32(4).u32(1).str('k').u32(4).u32(2) }),
      'duplicate-key',
    ],
    [
      'array count beyond the file',
      () =>
        build({
          kv: (b) =>
            b
              .str('k')
              .u32(9)
              .u32(4)
              .u64(1n << 40n),
        }),
      'array',
    ],
    [
      'arrays nested too deep',
      () =>
        build({
          kv: (b) => {
            b.str('k').u32(9);
            for (let i = 0; i < 9; i++) b.u32(9).u64(1);
            b.u32(4).u64(0);
          },
        }),
      'depth',
    ],
    [
      'alignment not a power of two',
      () => build({ kv: (b) => b.str('general.alignment').u32(4).u32(48) }),
      'alignment',
    ],
    [
      'alignment of the wrong type',
      () => build({ kv: (b) => b.str('general.alignment').u32(5).u32(32) }),
      'alignment',
    ],
    ['empty tensor name', () => build({ tensors: [{ name: '', ne: [4], type: 0, offset: 0 }] }), 'name'],
    [
      'duplicate tensor',
      () =>
        build({
          tensors: [
            { name: 'a', ne: [4], type: 0, offset: 0 },
            { name: 'a', ne: [4], type: 0, offset: 32 },
          ],
        }),
      'duplicate-tensor',
    ],
    ['no dimensions', () => build({ tensors: [{ name: 'a', ne: [], type: 0, offset: 0 }] }), 'dims'],
    [
      'five dimensions',
      () => build({ tensors: [{ name: 'a', ne: [1, 1, 1, 1, 1], type: 0, offset: 0 }] }),
      'dims',
    ],
    ['unknown ggml type', () => build({ tensors: [{ name: 'a', ne: [4], type: 99, offset: 0 }] }), 'type'],
    [
      'a ggml type this program does not read',
      () => build({ tensors: [{ name: 'a', ne: [256], type: 16, offset: 0 }] }),
      'type-unsupported',
      /IQ2_XXS/,
    ],
    [
      'rows not whole blocks',
      () => build({ tensors: [{ name: 'a', ne: [33, 1], type: 8, offset: 0 }] }),
      'blocks',
    ],
    [
      'more than 2^53 elements',
      () => build({ tensors: [{ name: 'a', ne: [1n << 30n, 1n << 30n], type: 0, offset: 0 }] }),
      'elements',
    ],
    [
      'misaligned offset',
      () => build({ tensors: [{ name: 'a', ne: [4], type: 0, offset: 8 }] }),
      'misaligned',
    ],
    [
      'data past the end',
      () => build({ tensors: [{ name: 'a', ne: [64], type: 0, offset: 0 }] }),
      'out-of-file',
    ],
    [
      'overlapping tensors',
      () =>
        build({
          tensors: [
            { name: 'a', ne: [16], type: 0, offset: 0 },
            { name: 'b', ne: [4], type: 0, offset: 32 },
          ],
        }),
      'overlap',
    ],
    ['truncated in the tensor infos', () => build().subarray(0, 90), 'truncated'],
  ];
  for (const [name, make, rule, pattern] of cases)
    it(`refuses: ${name} (${rule})`, () => refuses(make(), rule, pattern));

  it('refuses on disk the same way, and a folder or a missing file as a file error', () => {
    const p = join(dir, 'bad.gguf');
    writeFileSync(p, build({ version: 1 }));
    assert.throws(
      () => GgufFile.open(p),
      (e: unknown) => e instanceof GgufError && e.rule === 'version',
    );
    assert.throws(
      () => GgufFile.open(dir),
      (e: unknown) => e instanceof GgufError && e.rule === 'file',
    );
    assert.throws(
      () => GgufFile.open(join(dir, 'missing.gguf')),
      (e: unknown) => e instanceof GgufError && e.rule === 'file',
    );
  });
});

describe('GGUF writer', () => {
  const f16 = Uint8Array.from({ length: 2 * 6 }, (_, i) => (i * 37) & 0x3f); // small finite halves
  const q8 = Uint8Array.from({ length: 34 * 4 }, (_, i) => (i * 91 + 7) & 0xff);
  for (let b = 0; b < 4; b++) q8[34 * b + 1] = 0x2c; // finite f16 scales
  const f32 = new Uint8Array(new Float32Array([1, -2, 3.5]).buffer);

  it('writes a file that reads back identically here and in @huggingface/gguf', async () => {
    const p = join(dir, 'round.gguf');
    writeGguf(
      p,
      [
        ['general.architecture', { type: 'string', value: 'flux' }],
        ['general.alignment', { type: 'u32', value: 64 }],
        ['t.u8', { type: 'u8', value: 200 }],
        ['t.i16', { type: 'i16', value: -12345 }],
        ['t.f32', { type: 'f32', value: 0.5 }],
        ['t.bool', { type: 'bool', value: true }],
        ['t.u64', { type: 'u64', value: 1n << 40n }],
        ['t.f64', { type: 'f64', value: Math.PI }],
        ['t.arr', { type: 'array', value: { itemType: 'string', items: ['α', 'b'] } }],
      ],
      [
        ['w.q8', { type: 'Q8_0', shape: [2, 64], bytes: q8 }],
        ['w.f16', { type: 'F16', shape: [2, 3], bytes: () => f16 }],
        ['b', { type: 'F32', shape: [3], bytes: f32 }],
      ],
    );
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('round')),
      ['round.gguf'],
      'no temporary file left',
    );
    const g = GgufFile.open(p);
    try {
      assert.equal(g.header.alignment, 64);
      assert.equal(g.architecture, 'flux');
      assert.equal(g.meta('t.i16')!.value, -12345);
      assert.equal(g.meta('t.u64')!.value, 1n << 40n);
      assert.equal(g.meta('t.bool')!.value, true);
      assert.deepEqual(g.meta('t.arr')!.value, { itemType: 'string', items: ['α', 'b'] });
      assert.deepEqual(g.readBytes('w.q8'), q8);
      assert.deepEqual(g.readQuantized('w.q8').shape, [2, 64]);
      assert.deepEqual(g.readBytes('w.f16'), f16);
      assert.deepEqual([...g.readF32('b')], [1, -2, 3.5]);
      for (const k of g.keys()) assert.equal(g.info(k).begin % 64, 0, `${k} aligned`);

      const hf = await hfGguf(p, { allowLocalFile: true });
      assert.equal(hf.metadata['general.architecture'], 'flux');
      assert.equal(hf.metadata['t.i16'], -12345);
      assert.deepEqual(hf.metadata['t.arr'], ['α', 'b']);
      assert.equal(hf.tensorInfos.length, 3);
      for (const t of hf.tensorInfos) {
        const ours = g.info(t.name);
        assert.deepEqual(t.shape.map(Number).reverse(), ours.shape, t.name);
        assert.equal(t.dtype, GGML_TYPES.get(ours.dtype)!.id, t.name);
        assert.equal(Number(hf.tensorDataOffset) + Number(t.offset), ours.begin, t.name);
      }
    } finally {
      g.close();
    }
  });

  it('refuses bytes that do not match the type and shape, leaving nothing behind', () => {
    const p = join(dir, 'short.gguf');
    assert.throws(
      () => writeGguf(p, [], [['w', { type: 'Q8_0', shape: [2, 64], bytes: () => q8.subarray(0, 100) }]]),
      /takes 136 bytes; got 100/,
    );
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('short')),
      [],
    );
  });

  it('reads from memory like from a file', () => {
    const bytes = build();
    const p = join(dir, 'mem.gguf');
    writeFileSync(p, bytes);
    const file = GgufFile.open(p);
    const mem = new GgufBytes(bytes, 'mem.gguf');
    try {
      assert.deepEqual(mem.keys(), file.keys());
      for (const k of mem.keys()) assert.deepEqual(mem.readF32(k), file.readF32(k), k);
    } finally {
      file.close();
    }
  });
});

const fixtures = fixturesDir();
describe('GGUF fixtures (llama.cpp gguf-py)', { skip: fixtures ? false : 'no ../shared/fixtures' }, () => {
  for (const t of ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K']) {
    it(`${t}.gguf: the same tensors and offsets as @huggingface/gguf reads`, async () => {
      const p = join(fixtures!, 'gguf-dequant', `${t}.gguf`);
      const g = GgufFile.open(p);
      try {
        assert.equal(g.architecture, 'flux');
        assert.deepEqual(g.info('w.a').shape, [4, 512]);
        assert.equal(g.info('w.a').dtype, t);
        assert.deepEqual(g.info('b.f32').shape, [7]);
        const hf = await hfGguf(p, { allowLocalFile: true });
        for (const ti of hf.tensorInfos) {
          const ours = g.info(ti.name);
          assert.deepEqual(ti.shape.map(Number).reverse(), ours.shape);
          assert.equal(Number(hf.tensorDataOffset) + Number(ti.offset), ours.begin);
          assert.equal(ours.end - ours.begin, g.readBytes(ti.name).length);
        }
      } finally {
        g.close();
      }
    });
  }
});
