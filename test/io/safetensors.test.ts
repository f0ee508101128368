import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Checkpoint, writeSafetensors } from '../../src/io/safetensors.js';
import { roundToF16 } from '../../src/util/f16.js';
import { fixturesDir, rng } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'toma-st-'));

describe('safetensors', () => {
  it('round-trips f32, f16 and integer tensors with metadata', () => {
    const r = rng();
    const a = r.normals(3 * 5);
    const b = r.normals(7);
    const p = join(dir, 'rt.safetensors');
    writeSafetensors(
      p,
      {
        a: { dtype: 'F32', shape: [3, 5], data: a },
        b: { dtype: 'F16', shape: [7], data: b },
        i: { dtype: 'I64', shape: [2], data: [3, -4] },
      },
      { hello: 'world' },
    );
    const ck = Checkpoint.open(p);
    assert.deepEqual(ck.keys().sort(), ['a', 'b', 'i']);
    assert.equal(ck.metadata.hello, 'world');
    assert.deepEqual(ck.info('a').shape, [3, 5]);
    assert.deepEqual(ck.readF32('a'), a);
    assert.deepEqual(ck.readF32('b'), roundToF16(b));
    assert.deepEqual(Array.from(ck.readF32('i')), [3, -4]);
    ck.close();
  });

  it('names the problem for truncated files, bad headers and missing keys', () => {
    const p = join(dir, 'ok.safetensors');
    writeSafetensors(p, { w: { dtype: 'F32', shape: [100], data: new Float32Array(100) } });
    const bytes = readFileSync(p);
    const t = join(dir, 'trunc.safetensors');
    writeFileSync(t, bytes.subarray(0, bytes.length - 10));
    assert.throws(() => Checkpoint.open(t), /truncated: tensor "w"/);
    const h = join(dir, 'badheader.safetensors');
    writeFileSync(h, Buffer.concat([bytes.subarray(0, 8), Buffer.from('{not json'), bytes.subarray(17)]));
    assert.throws(() => Checkpoint.open(h), /header is not valid JSON/);
    const tiny = join(dir, 'tiny.safetensors');
    writeFileSync(tiny, Buffer.from([1, 2, 3]));
    assert.throws(() => Checkpoint.open(tiny), /too short/);
    assert.throws(() => Checkpoint.open(p).info('nope'), /no tensor named "nope"/);
    assert.throws(() => Checkpoint.open(join(dir, 'absent.safetensors')), /no such file/);
  });

  it('reads a sharded checkpoint through its index as one', () => {
    writeSafetensors(join(dir, 'm-00001-of-00002.safetensors'), {
      x: { dtype: 'F32', shape: [2], data: [1, 2] },
    });
    writeSafetensors(join(dir, 'm-00002-of-00002.safetensors'), {
      y: { dtype: 'F32', shape: [1], data: [3] },
    });
    const idx = join(dir, 'm.safetensors.index.json');
    writeFileSync(
      idx,
      JSON.stringify({
        metadata: {},
        weight_map: { x: 'm-00001-of-00002.safetensors', y: 'm-00002-of-00002.safetensors' },
      }),
    );
    const ck = Checkpoint.open(idx);
    assert.deepEqual(Array.from(ck.readF32('x')), [1, 2]);
    assert.deepEqual(Array.from(ck.readF32('y')), [3]);
    writeFileSync(
      idx,
      JSON.stringify({ weight_map: { x: 'm-00001-of-00002.safetensors', z: 'gone.safetensors' } }),
    );
    assert.throws(() => Checkpoint.open(idx), /shard "gone.safetensors" \(holding "z"\) is missing/);
  });

  it('reads the shared Flux fixture header', { skip: fixturesDir() ? false : 'no fixtures' }, () => {
    const ck = Checkpoint.open(join(fixturesDir()!, 'flux-tiny-a.safetensors'));
    assert.ok(ck.has('img_in.weight'));
    assert.deepEqual(ck.info('in.img').shape, [2, 256, 16]);
    assert.match(ck.metadata.config!, /hidden_size/);
  });
});
