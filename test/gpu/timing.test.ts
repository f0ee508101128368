import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gpu } from '../helpers.js';

describe('GPU kernel timing', () => {
  it('times each launch with its category', { skip: !gpu?.rt.canTime && 'no timestamp-query' }, async () => {
    const be = gpu!;
    const q = be.zeros([1, 1, 8, 16]);
    be.rt.startTiming();
    be.attention(q, q, q).dispose();
    be.add(q, q).dispose();
    const t = await be.rt.stopTiming();
    // (Tests poison every new buffer with a fill launch, which is timed too, as 'other'.)
    assert.equal(t.filter((e) => e.category === 'attention').length, 1);
    assert.ok(t.length >= 2);
    for (const e of t) assert.ok(Number.isFinite(e.ms) && e.ms >= 0, `${e.name}: ${e.ms} ms`);
    q.dispose();
  });
});
