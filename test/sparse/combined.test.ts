// Combined mode: ToMA merges tile-locally over the Hilbert-ordered image; the pattern then applies to the
// merged sequence.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { attentionRef } from '../../src/cpu/attention.js';
import type { ForwardInfo } from '../../src/merge/hooks.js';
import { hilbertOrder } from '../../src/sparse/hilbert.js';
import { createHilbertPattern, tomaDestinations } from '../../src/sparse/hilbert-pattern.js';
import { centreRect, imageLayout, mergedCurveLayout, tileStarts } from '../../src/sparse/layout.js';
import { layerOffset } from '../../src/sparse/pattern.js';
import { assertClose, cpu, gpu, rng, TOL } from '../helpers.js';

const info = (rows: number, cols: number, textTokens: number): ForwardInfo => ({
  step: 0,
  steps: 1,
  batch: 1,
  grid: [rows, cols],
  textTokens,
});

/** Merged tokens per raster tile at ratio ρ for a tiled layout. */
function countsFor(rows: number, cols: number, s: number, ratio: number): Uint32Array {
  return imageLayout(rows, cols, 0.0625, s).tileTokens.map(tomaDestinations(ratio));
}

describe('combined mode: tile layout for ToMA', () => {
  for (const [rows, cols, s] of [
    [64, 64, 4],
    [18, 22, 4],
    [9, 10, 3],
  ] as const) {
    it(`${rows}x${cols}, tiles of ${s}: each tile contiguous, centre tiles first, tiles along the tile curve`, () => {
      const l = imageLayout(rows, cols, 0.0625, s);
      const starts = tileStarts(l);
      assert.equal(starts.at(-1), rows * cols);
      const tileCurve = hilbertOrder(l.tileRows, l.tileCols);
      const c = centreRect(l.tileRows, l.tileCols, 0.0625);
      assert.equal(l.centreTiles, c.rows * c.cols);
      assert.equal(l.centre, starts[l.centreTiles]);
      for (let j = 0; j < l.tileOrder.length; j++) {
        const t = l.tileOrder[j]!;
        const tr = Math.floor(t / l.tileCols);
        const tc = t % l.tileCols;
        const isCentre = tr >= c.row0 && tr < c.row0 + c.rows && tc >= c.col0 && tc < c.col0 + c.cols;
        assert.equal(isCentre, j < l.centreTiles);
        assert.equal(tileCurve[l.tileCurve[j]!], t);
        if (j > 0 && j !== l.centreTiles) assert.ok(l.tileCurve[j]! > l.tileCurve[j - 1]!);
        // The tile's tokens, in raster order within the tile.
        let p = starts[j]!;
        for (let r = tr * s; r < Math.min(rows, tr * s + s); r++) {
          for (let q = tc * s; q < Math.min(cols, tc * s + s); q++) assert.equal(l.order[p++], r * cols + q);
        }
        assert.equal(p, starts[j + 1]);
      }
    });
  }

  it('merged tokens follow the tile curve and stay compact (runs of M/16 tokens: box <= 3x, side <= 3x ideal)', () => {
    const grids: [number, number, number, number][] = [
      [64, 64, 4, 0.5],
      [48, 80, 4, 0.5],
      [37, 53, 4, 0.5],
      [50, 70, 4, 0.75],
    ];
    for (const [rows, cols, s, ratio] of grids) {
      const l = imageLayout(rows, cols, 0.0625, s);
      const counts = countsFor(rows, cols, s, ratio);
      const m = mergedCurveLayout(l, counts);
      assert.equal(
        m.tokens,
        counts.reduce((a, b) => a + b, 0),
      );
      // Independent placement: merged token i of the d-th tile on the tile curve sits at sum(counts before) + i.
      const tileCurve = hilbertOrder(l.tileRows, l.tileCols);
      const tileAt = new Int32Array(m.tokens);
      let pos = 0;
      for (const t of tileCurve) for (let i = 0; i < counts[t]!; i++) tileAt[pos++] = t;
      let p = 0;
      for (let j = 0; j < l.tileOrder.length; j++) {
        for (let i = 0; i < counts[l.tileOrder[j]!]!; i++)
          assert.equal(tileAt[m.curve[p++]!], l.tileOrder[j]);
        if (j === l.centreTiles - 1) assert.equal(p, m.centre);
      }
      const T = Math.round(m.tokens / 16);
      for (let start = 0; start + T <= m.tokens; start++) {
        const tiles = new Set<number>();
        for (let d = start; d < start + T; d++) tiles.add(tileAt[d]!);
        let [r0, r1, c0, c1, cells] = [rows, -1, cols, -1, 0];
        for (const t of tiles) {
          const tr = Math.floor(t / l.tileCols);
          const tc = t % l.tileCols;
          r0 = Math.min(r0, tr * s);
          r1 = Math.max(r1, Math.min(rows, tr * s + s) - 1);
          c0 = Math.min(c0, tc * s);
          c1 = Math.max(c1, Math.min(cols, tc * s + s) - 1);
          cells += l.tileTokens[t]!;
        }
        const ideal = Math.max(Math.sqrt(cells), cells / Math.min(rows, cols));
        assert.ok((r1 - r0 + 1) * (c1 - c0 + 1) <= 3 * cells, `${rows}x${cols}: run at ${start}`);
        assert.ok(Math.max(r1 - r0 + 1, c1 - c0 + 1) <= 3 * ideal, `${rows}x${cols}: run at ${start}`);
      }
    }
  });
});

describe('combined mode: the pattern over merged tokens', () => {
  const merge = { tileSize: 4, destinations: tomaDestinations(0.5) };

  it('is exact at 64x64 (1024²) with ρ = 0.5 and reports its cost', () => {
    const p = createHilbertPattern(cpu, {}, { merge });
    for (let layer = 0; layer < 4; layer++) {
      const full = p.plan('double', layer, info(64, 64, 512), 4096);
      const merged = p.plan('double', layer, info(64, 64, 512), 2048);
      assert.equal(full.table.supersetRows, 0);
      assert.equal(merged.table.supersetRows, 0);
      assert.equal(merged.layout.centre, 16 * 8);
      assert.equal(merged.offset, 32 * layer);
      assert.ok(
        merged.cost.speedupBound > 2 && merged.cost.speedupBound < 2.3,
        `${merged.cost.speedupBound}`,
      );
    }
    p.dispose();
  });

  it('rejects an image token count it cannot place, naming the cause', () => {
    const p = createHilbertPattern(cpu, {}, { merge });
    assert.throws(() => p.keyRanges('double', 0, info(64, 64, 512), 2000), /merged sequence 2048/);
    const plain = createHilbertPattern(cpu);
    assert.throws(() => plain.keyRanges('double', 0, info(64, 64, 512), 2048), /needs config.merge/);
    p.dispose();
    plain.dispose();
  });

  const backends: [string, Backend | null][] = [
    ['cpu', cpu],
    ['webgpu', gpu],
  ];
  for (const [name, be] of backends) {
    it(`${name}: sparse attention over [text | merged] equals the reference with an independently built mask`, {
      skip: !be && 'no WebGPU adapter',
    }, async () => {
      const b = be!;
      const [rows, cols, s, txt, G, C] = [18, 14, 4, 6, 4, 4];
      const dest = tomaDestinations(0.5);
      const p = createHilbertPattern(
        b,
        { tiles: G, cycle: C },
        { merge: { tileSize: s, destinations: dest }, minBlock: 1 },
      );
      const l = p.layout([rows, cols]);
      const counts = l.tileTokens.map(dest);
      const M = counts.reduce((a, x) => a + x, 0);
      // Independent mask: each merged token's tile and curve position from the tile curve directly.
      const tileCurve = hilbertOrder(l.tileRows, l.tileCols);
      const curveStart = new Map<number, number>();
      let acc = 0;
      for (const t of tileCurve) {
        curveStart.set(t, acc);
        acc += counts[t]!;
      }
      const cr = centreRect(l.tileRows, l.tileCols, 0.0625);
      const H = 2;
      const D = 32;
      const L = txt + M;
      const r = rng();
      const [qd, kd, vd] = [r.normals(H * L * D), r.normals(H * L * D), r.normals(H * L * D)];
      const q = b.tensor(qd, [1, H, L, D]);
      const k = b.tensor(kd, [1, H, L, D]);
      const v = b.tensor(vd, [1, H, L, D]);
      for (let layer = 0; layer < C; layer++) {
        const o = layerOffset(M, G, C, layer);
        const cls = new Int32Array(L).fill(-1);
        let pos = txt;
        for (const t of l.tileOrder) {
          const tr = Math.floor(t / l.tileCols);
          const tc = t % l.tileCols;
          const centre = tr >= cr.row0 && tr < cr.row0 + cr.rows && tc >= cr.col0 && tc < cr.col0 + cr.cols;
          for (let i = 0; i < counts[t]!; i++, pos++) {
            if (!centre) cls[pos] = Math.floor((((curveStart.get(t)! + i - o + M) % M) * G) / M);
          }
        }
        const mask = (qi: number, kj: number) => cls[qi] === -1 || cls[kj] === -1 || cls[qi] === cls[kj];
        const want = attentionRef(qd, kd, vd, { B: 1, H, Lq: L, Lk: L, D }, 1 / Math.sqrt(D), mask);
        const kr = p.keyRanges('double', layer, info(rows, cols, txt), M)!;
        const got = await b.attention(q, k, v, { keyRanges: kr }).read();
        assertClose(got, want, TOL.f32 * 2, `layer ${layer}`);
      }
      p.dispose();
    });
  }
});
