// TomaReducer.lastDestinations(): the destinations a block group chose, readable after the forward
// (the browser demo draws them), identical to tomaSelect on the same tokens.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import type { ForwardInfo } from '../../src/merge/hooks.js';
import { createReducer } from '../../src/merge/reducers.js';
import { TileLayout } from '../../src/merge/tile-layout.js';
import { tomaSelect } from '../../src/merge/toma.js';
import { TomaReducer } from '../../src/merge/toma-reducer.js';
import { cpu, gpu, rng } from '../helpers.js';

const H = 7;
const W = 5;
const C = 6;
const info = (step: number, batch: number): ForwardInfo => ({
  step,
  steps: 3,
  batch,
  grid: [H, W],
  textTokens: 2,
});

for (const [label, be] of [
  ['cpu', cpu],
  ['webgpu', gpu],
] as [string, Backend | null][]) {
  describe(`TomaReducer.lastDestinations (${label})`, { skip: be ? false : 'no WebGPU adapter' }, () => {
    it('returns what each group chose, per step, after the forward ends; null before and after dispose', async () => {
      const b = be!;
      const r = createReducer(b, {
        method: 'toma',
        ratio: 0.6,
        tile: 3,
        exemptDouble: 0,
        exemptSingle: 1,
        mergeEvery: 1,
      });
      assert.ok(r instanceof TomaReducer);
      r.keepDestinations = true;
      assert.equal(await r.lastDestinations(), null);
      const layout = new TileLayout(H, W, 3, 0.6);
      const g = rng();
      const batch = 2;
      const expect = async (xs: Float32Array) => {
        const x = b.tensor(xs, [batch, H * W, C]);
        const d = tomaSelect(b, x, layout);
        const out = await b.readU32(d);
        x.dispose();
        d.dispose();
        return out;
      };
      for (let step = 0; step < 2; step++) {
        const xd = g.normals(batch * H * W * C);
        const xs = g.normals(batch * H * W * C);
        r.beginForward(info(step, batch));
        b.tidy(() => {
          assert.ok(r.block('double', 0, b.tensor(xd, [batch, H * W, C])));
          assert.equal(r.block('single', 0, b.tensor(xs, [batch, H * W, C])), null, 'exempt');
          assert.ok(r.block('single', 1, b.tensor(xs, [batch, H * W, C])));
        });
        r.endForward();
        const dbl = await r.lastDestinations();
        assert.ok(dbl);
        assert.equal(dbl.kind, 'double');
        assert.equal(dbl.step, step);
        assert.equal(dbl.batch, batch);
        assert.equal(dbl.layout.tokens, layout.tokens);
        assert.deepEqual(dbl.indices, await expect(xd));
        const sgl = await r.lastDestinations('single');
        assert.deepEqual(sgl?.indices, await expect(xs));
      }
      r.dispose();
      assert.equal(await r.lastDestinations(), null);
    });

    it('keeps nothing unless asked to (no state outlives a forward by default)', async () => {
      const b = be!;
      const r = createReducer(b, { method: 'toma', exemptDouble: 0, mergeEvery: 1 }) as TomaReducer;
      const x = b.tensor(rng().normals(H * W * C), [1, H * W, C]);
      const live = b.memory().liveBytes;
      r.beginForward(info(0, 1));
      b.tidy(() => {
        r.block('double', 0, x);
      });
      r.endForward();
      assert.equal(b.memory().liveBytes, live);
      assert.equal(await r.lastDestinations(), null);
      r.dispose();
      x.dispose();
    });
  });
}
