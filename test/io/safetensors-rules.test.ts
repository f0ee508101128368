// What the header and index rules still accept: the files real writers produce and the official
// reader reads (padding, empty and 0-d tensors, null metadata, any order, names special to JS),
// Hugging Face index metadata with numbers, and the cache's snapshot -> blobs links.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseStrictJson } from '../../src/io/json-strict.js';
import { Checkpoint, SafetensorsError } from '../../src/io/safetensors.js';
import { parseSafetensors } from '../../src/io/safetensors-bytes.js';
import { safetensorsBytes } from '../fuzz/malformed.js';

const dir = mkdtempSync(join(tmpdir(), 'toma-rules-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const f32 = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);

function refusedBy(f: () => unknown, rule: string, message?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, String(e));
    assert.equal(e.rule, rule, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('safetensors rules: what is accepted', () => {
  it('reads a 0-d tensor, empty tensors sharing an offset, padding and null metadata', () => {
    const h = {
      __metadata__: null,
      s: { dtype: 'F32', shape: [], data_offsets: [0, 4] },
      e1: { dtype: 'F16', shape: [0, 3], data_offsets: [4, 4] },
      e2: { dtype: 'F32', shape: [2, 0], data_offsets: [4, 4] },
      v: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    };
    const bytes = safetensorsBytes(`${JSON.stringify(h)}   \n\t `, f32(7, 1, 2));
    const st = parseSafetensors(bytes, 'ok');
    assert.deepEqual(st.metadata, {});
    assert.deepEqual(st.info('s').shape, []);
    assert.deepEqual(Array.from(st.readF32('s')), [7]);
    assert.equal(st.readF32('e1').length, 0);
    assert.deepEqual(Array.from(st.readF32('v')), [1, 2]);
  });

  it('keeps names special to JavaScript as ordinary names, and ignores unknown entry fields', () => {
    const text = `{"__metadata__":{"__proto__":"p","constructor":"c"},"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"note":{"x":[1]}},"toString":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`;
    const st = parseSafetensors(safetensorsBytes(text, f32(1, 2)), 'js');
    assert.deepEqual(st.keys(), ['__proto__', 'toString']);
    assert.deepEqual(Array.from(st.readF32('__proto__')), [1]);
    assert.equal(Object.getPrototypeOf(st.metadata), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(st.metadata, '__proto__')?.value, 'p');
    assert.equal(st.metadata.constructor, 'c');
  });

  it('reads integers exactly beyond 2^53 (a one-byte difference is caught)', () => {
    const v = parseStrictJson('[9007199254740993, 18446744073709551617, 1.5, -0]', { maxDepth: 4 });
    assert.deepEqual(v, [9007199254740993n, 18446744073709551617n, 1.5, 0n]);
    // 2^53 + 1 bytes of U8 whose offsets span 2^53: JSON.parse would round both to 2^53
    const text = '{"w":{"dtype":"U8","shape":[9007199254740993],"data_offsets":[0,9007199254740992]}}';
    refusedBy(() => parseSafetensors(safetensorsBytes(text, 0), 'big'), 'shape', /beyond 2\^53 - 1/);
    const text2 = '{"w":{"dtype":"U8","shape":[3,3002399751580331],"data_offsets":[0,9007199254740992]}}';
    refusedBy(
      () => parseSafetensors(safetensorsBytes(text2, 0), 'big'),
      'size-mismatch',
      /takes 9007199254740993 bytes but data_offsets \[0, 9007199254740992\] span 9007199254740992/,
    );
  });

  it('reads a Hugging Face index with numeric metadata and shards in a subfolder', () => {
    const d = join(dir, 'hf');
    mkdirSync(join(d, 'parts'), { recursive: true });
    writeFileSync(
      join(d, 'parts', 'a.safetensors'),
      safetensorsBytes({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(5)),
    );
    writeFileSync(
      join(d, 'model.safetensors.index.json'),
      JSON.stringify({
        metadata: { total_size: 23782506688, format: 'pt', nested: { a: 1 } },
        weight_map: { x: 'parts/a.safetensors' },
      }),
    );
    const ck = Checkpoint.open(d);
    assert.deepEqual(ck.metadata, { total_size: '23782506688', format: 'pt' });
    assert.deepEqual(Array.from(ck.readF32('x')), [5]);
    ck.close();
  });

  it("follows a Hugging Face cache snapshot's links into its blobs folder, and no further", () => {
    const repo = join(dir, 'models--x--y');
    const snap = join(repo, 'snapshots', 'abc123');
    mkdirSync(join(repo, 'blobs'), { recursive: true });
    mkdirSync(snap, { recursive: true });
    writeFileSync(
      join(repo, 'blobs', 'f00d'),
      safetensorsBytes({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(3)),
    );
    symlinkSync('../../blobs/f00d', join(snap, 'model-00001-of-00001.safetensors'));
    const index = join(snap, 'model.safetensors.index.json');
    writeFileSync(index, JSON.stringify({ weight_map: { x: 'model-00001-of-00001.safetensors' } }));
    const ck = Checkpoint.open(index);
    assert.deepEqual(Array.from(ck.readF32('x')), [3]);
    ck.close();
    // a link elsewhere from the same snapshot is still an escape
    writeFileSync(
      join(dir, 'outside.safetensors'),
      safetensorsBytes({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(3)),
    );
    symlinkSync('../../../outside.safetensors', join(snap, 'other.safetensors'));
    writeFileSync(index, JSON.stringify({ weight_map: { x: 'other.safetensors' } }));
    refusedBy(
      () => Checkpoint.open(index),
      'index-escape',
      /"other.safetensors" \(holding "x"\) is a link to a file outside/,
    );
  });

  it('refuses a file that changes size after its header was read', () => {
    const p = join(dir, 'grow.safetensors');
    writeFileSync(p, safetensorsBytes({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(1)));
    const ck = Checkpoint.open(p);
    writeFileSync(p, safetensorsBytes({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32(1, 2)));
    refusedBy(() => ck.readF32('x'), 'read', /changed size since its header was read/);
    ck.close();
  });
});
