import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rangeMask } from '../../src/cpu/attention.js';
import { exactPatternCost, keyRangeCost } from '../../src/sparse/cost.js';
import { hilbertOrder } from '../../src/sparse/hilbert.js';
import { centreRect, imageLayout } from '../../src/sparse/layout.js';
import { HILBERT_DEFAULTS, resolveHilbertOptions } from '../../src/sparse/options.js';
import {
  buildKeyRanges,
  chooseBlockSize,
  exactMask,
  isExact,
  layerOffset,
  SHARED,
  sequenceClasses,
} from '../../src/sparse/pattern.js';

function classesFor(
  rows: number,
  cols: number,
  txt: number,
  layer: number,
  tiles = 16,
  cycle = 4,
  center = 0.0625,
) {
  const layout = imageLayout(rows, cols, center);
  return sequenceClasses(txt, layout, tiles, layerOffset(layout.tokens, tiles, cycle, layer));
}

/** Brute force over every (query, key) pair: the ranges must contain the exact pattern; counts the rows given more. */
function compareWithExact(cls: Int32Array, blockSize: number) {
  const table = buildKeyRanges(cls, blockSize);
  const byRanges = rangeMask(table.ranges, table.maxRanges, table.blockSize);
  const exact = exactMask(cls);
  let rowsWithExtra = 0;
  for (let q = 0; q < cls.length; q++) {
    let extra = false;
    for (let k = 0; k < cls.length; k++) {
      const e = exact(q, k);
      const g = byRanges(q, k);
      if (e && !g) assert.fail(`query ${q} lost key ${k} (block size ${blockSize})`);
      if (g && !e) extra = true;
    }
    if (extra) rowsWithExtra++;
  }
  return { table, rowsWithExtra };
}

describe('HilbertA options', () => {
  it('defaults to the authors’ settings and validates every field', () => {
    assert.deepEqual(resolveHilbertOptions(), { method: 'hilbert', tiles: 16, cycle: 4, center: 0.0625 });
    assert.equal(resolveHilbertOptions({ tiles: 8 }).tiles, 8);
    assert.equal(HILBERT_DEFAULTS.tiles, 16);
    assert.throws(() => resolveHilbertOptions({ tiles: 0 }), /tiles must be a positive integer/);
    assert.throws(() => resolveHilbertOptions({ tiles: 2.5 }), /tiles must be a positive integer/);
    assert.throws(() => resolveHilbertOptions({ cycle: -1 }), /cycle must be a positive integer/);
    assert.throws(() => resolveHilbertOptions({ center: 1 }), /center must be a fraction/);
    assert.throws(() => resolveHilbertOptions({ center: Number.NaN }), /center must be a fraction/);
    assert.throws(() => resolveHilbertOptions({ method: 'toma' as 'hilbert' }), /method must be "hilbert"/);
    assert.throws(() => resolveHilbertOptions({ tile: 4 } as object), /unknown option "tile"/);
  });
});

describe('HilbertA sequence layout [text | centre | rest]', () => {
  it('the centre is 16x16 of 64x64 and 32x32 of 128x128 (6.25%), scaled and rounded for other grids', () => {
    assert.deepEqual(centreRect(64, 64, 0.0625), { row0: 24, col0: 24, rows: 16, cols: 16 });
    assert.deepEqual(centreRect(128, 128, 0.0625), { row0: 48, col0: 48, rows: 32, cols: 32 });
    assert.deepEqual(centreRect(48, 80, 0.0625), { row0: 18, col0: 30, rows: 12, cols: 20 });
    assert.deepEqual(centreRect(7, 13, 0.0625), { row0: 2, col0: 5, rows: 2, cols: 3 });
    assert.deepEqual(centreRect(5, 5, 0), { row0: 2, col0: 2, rows: 0, cols: 0 });
  });

  it('puts the centre first and the rest in curve order', () => {
    for (const [rows, cols] of [
      [64, 64],
      [48, 80],
      [7, 13],
      [1, 9],
    ] as const) {
      const l = imageLayout(rows, cols, 0.0625);
      const curve = hilbertOrder(rows, cols);
      const c = centreRect(rows, cols, 0.0625);
      assert.equal(l.centre, c.rows * c.cols);
      const seen = new Uint8Array(rows * cols);
      for (let p = 0; p < l.tokens; p++) {
        const r = l.order[p]!;
        assert.equal(seen[r], 0, 'order repeats a token');
        seen[r] = 1;
        assert.equal(curve[l.curve[p]!], r, 'curve position does not match the token');
        const inCentre =
          Math.floor(r / cols) >= c.row0 &&
          Math.floor(r / cols) < c.row0 + c.rows &&
          r % cols >= c.col0 &&
          r % cols < c.col0 + c.cols;
        assert.equal(inCentre, p < l.centre, `token ${r} at position ${p}`);
        if (p > 0 && p !== l.centre) assert.ok(l.curve[p]! > l.curve[p - 1]!, 'not in curve order');
      }
    }
  });
});

describe('HilbertA tiles per layer', () => {
  it('cuts the curve into G near-equal tiles, each one cyclic interval, sliding T/C per layer', () => {
    const rows = 20;
    const cols = 30;
    const n = rows * cols;
    const G = 16;
    const layout = imageLayout(rows, cols, 0);
    const base = sequenceClasses(0, layout, G, 0);
    for (let layer = 0; layer < 9; layer++) {
      const o = layerOffset(n, G, 4, layer);
      assert.equal(o, Math.round((n / G / 4) * (layer % 4)));
      const cls = sequenceClasses(0, layout, G, o);
      const byCurve = new Int32Array(n);
      for (let p = 0; p < n; p++) byCurve[layout.curve[p]!] = cls[p]!;
      const sizes = new Array(G).fill(0);
      let changes = 0;
      for (let c = 0; c < n; c++) {
        sizes[byCurve[c]!]++;
        if (byCurve[c] !== byCurve[(c + n - 1) % n]) changes++;
        assert.equal(
          byCurve[c],
          base[layout.curve.indexOf((c - o + n) % n)],
          'not the layer-0 partition shifted by o',
        );
      }
      assert.equal(changes, G, 'a tile is not one cyclic interval of the curve');
      for (const s of sizes) assert.ok(Math.abs(s - n / G) < 1, `tile of ${s} tokens`);
    }
    assert.equal(layerOffset(4096, 16, 4, 1), 64);
    assert.equal(layerOffset(4096, 16, 4, 5), 64);
    assert.equal(layerOffset(16384, 16, 4, 3), 768);
  });

  it('text and centre are shared; every other token belongs to a tile', () => {
    const cls = classesFor(64, 64, 512, 1);
    for (let i = 0; i < 512 + 256; i++) assert.equal(cls[i], SHARED);
    for (let i = 512 + 256; i < cls.length; i++) assert.ok(cls[i]! >= 0 && cls[i]! < 16);
    const m = exactMask(cls);
    assert.ok(m(0, 4000) && m(4000, 0) && m(600, 4000), 'shared rows and keys are dense');
    assert.equal(m(800, 4600), cls[800] === cls[4600]);
  });
});

describe('HilbertA key ranges vs the exact mask', () => {
  it('are exactly the mask at 64x64 and 128x128 with 512 text tokens: block size 64, two ranges per block', () => {
    for (const side of [64, 128]) {
      for (let layer = 0; layer < 4; layer++) {
        const cls = classesFor(side, side, 512, layer);
        assert.equal(chooseBlockSize(cls, 64, 16), 64);
        const t = buildKeyRanges(cls, 64);
        assert.equal(t.supersetRows, 0);
        assert.equal(t.maxRanges, 2);
        // Every block lies in one class, so checking its first row against every key checks all rows.
        assert.ok(isExact(cls, 64));
        const byRanges = rangeMask(t.ranges, t.maxRanges, 64);
        const exact = exactMask(cls);
        for (let q = 0; q < cls.length; q += 64) {
          for (let k = 0; k < cls.length; k++) {
            if (byRanges(q, k) !== exact(q, k))
              assert.fail(`${side}² layer ${layer}: block ${q / 64}, key ${k}`);
          }
        }
      }
    }
  });

  it('each tile is one key range, two when it wraps around the curve', () => {
    for (const [rows, cols, txt] of [
      [64, 64, 512],
      [48, 80, 77],
      [13, 7, 5],
    ] as const) {
      for (let layer = 0; layer < 4; layer++) {
        const cls = classesFor(rows, cols, txt, layer);
        const runs = new Map<number, number>();
        for (let i = 0; i < cls.length; i++) {
          if (cls[i] !== SHARED && cls[i] !== cls[i - 1]) runs.set(cls[i]!, (runs.get(cls[i]!) ?? 0) + 1);
        }
        const twoPiece = [...runs.values()].filter((r) => r === 2).length;
        assert.ok([...runs.values()].every((r) => r <= 2));
        assert.ok(layer === 0 ? twoPiece === 0 : twoPiece <= 1, `${rows}x${cols} layer ${layer}`);
        assert.ok(buildKeyRanges(cls, 64).maxRanges <= 2);
      }
    }
  });

  it('lists each block’s ranges sorted, disjoint and non-empty (the GPU kernel counts overlapping keys twice)', () => {
    for (const [rows, cols, txt, bs] of [
      [64, 64, 512, 64],
      [48, 80, 77, 64],
      [9, 11, 3, 4],
    ] as const) {
      for (let layer = 0; layer < 4; layer++) {
        const t = buildKeyRanges(classesFor(rows, cols, txt, layer), bs);
        for (let b = 0; b < t.ranges.length / (2 * t.maxRanges); b++) {
          let prevEnd = -1;
          for (let r = 0; r < t.maxRanges; r++) {
            const s = t.ranges[(b * t.maxRanges + r) * 2]!;
            const e = t.ranges[(b * t.maxRanges + r) * 2 + 1]!;
            if (s === 0 && e === 0 && r > 0) continue; // padding
            assert.ok(e > s && s > prevEnd, `${rows}x${cols} block ${b}: [${s}, ${e}) after ${prevEnd}`);
            prevEnd = e;
          }
        }
      }
    }
  });

  it('small grids: exact at the chosen block size, otherwise a superset flagged row by row', () => {
    const cases = [
      { rows: 16, cols: 16, txt: 16, tiles: 16, cycle: 4 },
      { rows: 9, cols: 11, txt: 7, tiles: 4, cycle: 4 },
      { rows: 12, cols: 20, txt: 5, tiles: 8, cycle: 2 },
      { rows: 6, cols: 6, txt: 0, tiles: 3, cycle: 3 },
    ];
    let supersets = 0;
    for (const c of cases) {
      for (let layer = 0; layer < c.cycle + 1; layer++) {
        const cls = classesFor(c.rows, c.cols, c.txt, layer, c.tiles, c.cycle);
        const bs = chooseBlockSize(cls, 64, 1);
        const exact = compareWithExact(cls, bs);
        assert.equal(exact.rowsWithExtra, 0, `${JSON.stringify(c)} layer ${layer} at block ${bs}`);
        assert.equal(exact.table.supersetRows, 0);
        for (const fixed of [8, 32]) {
          const s = compareWithExact(cls, fixed);
          assert.equal(
            s.table.supersetRows,
            s.rowsWithExtra,
            'supersetRows must count the rows given extra keys',
          );
          assert.equal(s.table.supersetRows === 0, isExact(cls, fixed));
          supersets += s.table.supersetRows;
        }
      }
    }
    assert.ok(supersets > 0, 'the fixed block sizes should produce some superset blocks');
  });

  it('an unaligned grid (48x80, 512 text) at block size 64 is a superset, counted exactly', () => {
    const cls = classesFor(48, 80, 512, 1);
    assert.equal(chooseBlockSize(cls, 64, 16), 64);
    const { table, rowsWithExtra } = compareWithExact(cls, 64);
    assert.ok(rowsWithExtra > 0);
    assert.equal(table.supersetRows, rowsWithExtra);
  });
});

describe('HilbertA cost (visited keys)', () => {
  it('matches the published FLOP bound: ~2.9x at 1024² (64x64) and ~4.4x at 2048² (128x128)', () => {
    for (const [side, lo, hi] of [
      [64, 2.8, 2.95],
      [128, 4.35, 4.5],
    ] as const) {
      for (let layer = 0; layer < 4; layer++) {
        const cls = classesFor(side, side, 512, layer);
        const t = buildKeyRanges(cls, 64);
        const byRanges = keyRangeCost(t.ranges, t.maxRanges, 64, cls.length, cls.length);
        const exact = exactPatternCost(cls);
        assert.equal(byRanges.visited, exact.visited);
        assert.ok(
          byRanges.speedupBound > lo && byRanges.speedupBound < hi,
          `${side}²: ${byRanges.speedupBound}`,
        );
      }
    }
  });

  it('counts a dense table as the full product and a superset as more than the exact pattern', () => {
    const dense = keyRangeCost(Uint32Array.of(0, 100, 0, 100), 1, 64, 70, 100);
    assert.equal(dense.visited, 7000);
    assert.equal(dense.fraction, 1);
    const cls = classesFor(48, 80, 512, 1);
    const t = buildKeyRanges(cls, 64);
    assert.ok(
      keyRangeCost(t.ranges, t.maxRanges, 64, cls.length, cls.length).visited > exactPatternCost(cls).visited,
    );
    assert.throws(() => keyRangeCost(Uint32Array.of(0, 1), 1, 64, 70, 100), /2 values for 2 blocks/);
  });
});
