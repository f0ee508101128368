import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { destinationsFor, TileLayout } from '../../src/merge/tile-layout.js';

describe('ToMA tile layout', () => {
  it('k per tile: round half up of n * (1 - ratio), at least 1, at most n', () => {
    assert.equal(destinationsFor(16, 0.5), 8);
    assert.equal(destinationsFor(16, 0.25), 12);
    assert.equal(destinationsFor(16, 0.75), 4);
    assert.equal(destinationsFor(16, 0), 16);
    assert.equal(destinationsFor(4, 0.5), 2);
    assert.equal(destinationsFor(2, 0.75), 1); // 0.5 rounds up
    assert.equal(destinationsFor(10, 0.75), 3); // 2.5 rounds up despite 10 * 0.25 = 2.4999...
    assert.equal(destinationsFor(1, 0.9), 1);
    assert.equal(destinationsFor(16, 0.99), 1);
  });

  for (const [H, W, s, ratio] of [
    [32, 32, 4, 0.5],
    [7, 5, 4, 0.5],
    [9, 6, 3, 0.25],
    [5, 11, 2, 0.75],
    [3, 3, 8, 0.5],
    [13, 1, 4, 0.3],
  ] as const) {
    it(`${H}x${W} grid, tile ${s}, ratio ${ratio}: closed-form offsets, sizes and coverage`, () => {
      const L = new TileLayout(H, W, s, ratio);
      let offset = 0;
      const seen = new Uint8Array(H * W);
      for (let t = 0; t < L.tiles; t++) {
        const tile = L.tileInfo(t);
        assert.equal(tile.offset, offset, `tile ${t} offset`);
        assert.equal(tile.k, destinationsFor(tile.n, ratio));
        assert.ok(tile.k <= L.kMax && tile.n <= L.nMax);
        offset += tile.k;
        for (let i = 0; i < tile.n; i++) {
          const r = L.raster(tile, i);
          assert.equal(seen[r], 0, `token ${r} in two tiles`);
          seen[r] = 1;
          assert.deepEqual(L.locate(r), { tile: t, local: i });
        }
      }
      assert.equal(offset, L.tokens);
      assert.ok(seen.every((v) => v === 1));
    });
  }

  it('rejects bad grids, tiles and ratios with clear errors', () => {
    assert.throws(() => new TileLayout(0, 4, 4, 0.5), /grid height/);
    assert.throws(() => new TileLayout(4, 4.5, 4, 0.5), /grid width/);
    assert.throws(() => new TileLayout(4, 4, 9, 0.5), /tile must be an integer in \[1, 8\]/);
    assert.throws(() => new TileLayout(4, 4, 4, 1), /ratio/);
    assert.throws(() => new TileLayout(4, 4, 4, -0.1), /ratio/);
    assert.throws(() => new TileLayout(4, 4, 4, Number.NaN), /ratio/);
  });
});
