import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { f16BitsToF32 } from '../../src/util/f16.js';
import { FastNormal, seedFor } from '../../src/util/fast-normal.js';

function moments(v: ArrayLike<number>): { mean: number; std: number; maxAbs: number } {
  let s = 0;
  let s2 = 0;
  let m = 0;
  for (let i = 0; i < v.length; i++) {
    s += v[i]!;
    s2 += v[i]! * v[i]!;
    m = Math.max(m, Math.abs(v[i]!));
  }
  const mean = s / v.length;
  return { mean, std: Math.sqrt(s2 / v.length - mean * mean), maxAbs: m };
}

describe('FastNormal', () => {
  it('draws N(0, std²) values in f32 and f16', () => {
    const f32 = new FastNormal(3, 0.02).fillF32(new Float32Array(400_000));
    const a = moments(f32);
    assert.ok(Math.abs(a.mean) < 2e-4, `mean ${a.mean}`);
    assert.ok(Math.abs(a.std / 0.02 - 1) < 0.01, `std ${a.std}`);
    assert.ok(a.maxAbs > 0.06 && a.maxAbs < 0.1, `tails ${a.maxAbs}`);
    const bits = new FastNormal(3, 0.5).fillF16(new Uint16Array(400_000));
    const b = moments(Array.from(bits, f16BitsToF32));
    assert.ok(Math.abs(b.mean) < 5e-3 && Math.abs(b.std / 0.5 - 1) < 0.01, `f16 mean ${b.mean} std ${b.std}`);
  });

  it('gives the same stream whatever the chunking (odd chunks included)', () => {
    const whole = new FastNormal(11, 1).fillF32(new Float32Array(1001));
    const g = new FastNormal(11, 1);
    const parts = new Float32Array(1001);
    let o = 0;
    for (const n of [1, 2, 7, 500, 3, 488]) {
      g.fillF32(parts.subarray(o, o + n));
      o += n;
    }
    assert.equal(o, 1001);
    assert.deepEqual(parts, whole);
    const h = new FastNormal(11, 1).fillF16(new Uint16Array(9));
    const g2 = new FastNormal(11, 1);
    const h2 = new Uint16Array(9);
    g2.fillF16(h2.subarray(0, 5));
    g2.fillF16(h2.subarray(5));
    assert.deepEqual(h2, h);
  });

  it('different seeds and names give different streams', () => {
    const a = new FastNormal(1, 1).fillF32(new Float32Array(64));
    const b = new FastNormal(2, 1).fillF32(new Float32Array(64));
    assert.notDeepEqual(a, b);
    assert.notEqual(seedFor('a.weight'), seedFor('b.weight'));
    assert.notEqual(seedFor('a.weight', 0), seedFor('a.weight', 1));
    assert.equal(seedFor('a.weight', 5), seedFor('a.weight', 5));
  });

  it('rejects a bad std', () => {
    assert.throws(() => new FastNormal(0, -1), /std must be finite and >= 0/);
  });
});
