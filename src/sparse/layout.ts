// Where the image tokens go in the sequence under HilbertA: [text | centre | rest of the curve].
//
// The grid is cut into square tiles of `tileSize` tokens per side (1 for plain HilbertA; ToMA's merge
// tile side in the combined mode, so that each ToMA tile stays contiguous). Tiles are visited along a
// generalized Hilbert curve over the tile grid; inside a tile tokens are in raster order. The tiles of a
// central rectangle (the shared region) are moved to the front, keeping curve order, and the other
// tiles follow in curve order. Removing the centre keeps the rest in curve order, so every contiguous
// stretch of the curve is still one contiguous range of the sequence (two where it wraps around).
import { hilbertOrder } from './hilbert.js';

/** What the attention pattern needs to know about the image part of a sequence. */
export interface CurveLayout {
  /** Image tokens in the sequence. */
  tokens: number;
  /** The first `centre` image tokens are the shared central region. */
  centre: number;
  /** curve[p] = position along the curve (over all `tokens`) of the image token at image position p. */
  curve: Uint32Array;
}

/** The layout of the full-resolution image tokens. */
export interface ImageLayout extends CurveLayout {
  rows: number;
  cols: number;
  tileSize: number;
  /** order[p] = raster index of the image token placed at image position p (new[p] = old[order[p]]). */
  order: Uint32Array;
  /** Tile grid (rows, cols) = ceil(grid / tileSize). */
  tileRows: number;
  tileCols: number;
  /** tileOrder[j] = raster index (in the tile grid) of the j-th tile of the sequence. */
  tileOrder: Uint32Array;
  /** Tokens of each tile, by raster tile index (edge tiles are smaller). */
  tileTokens: Uint32Array;
  /** The first `centreTiles` tiles of tileOrder form the centre. */
  centreTiles: number;
  /** tileCurve[j] = position along the tile curve of the j-th tile of the sequence. */
  tileCurve: Uint32Array;
}

/**
 * The central rectangle of a rows x cols grid covering about `fraction` of it: each side scaled by
 * sqrt(fraction) and rounded (16 x 16 of 64 x 64 and 32 x 32 of 128 x 128 for 0.0625), centred
 * (rounded towards the top-left when the margins are odd). Empty for fraction 0.
 */
export function centreRect(
  rows: number,
  cols: number,
  fraction: number,
): { row0: number; col0: number; rows: number; cols: number } {
  const f = Math.sqrt(fraction);
  const cr = fraction > 0 ? Math.min(rows, Math.max(1, Math.round(rows * f))) : 0;
  const cc = fraction > 0 ? Math.min(cols, Math.max(1, Math.round(cols * f))) : 0;
  return { row0: Math.floor((rows - cr) / 2), col0: Math.floor((cols - cc) / 2), rows: cr, cols: cc };
}

export function imageLayout(rows: number, cols: number, centreFraction: number, tileSize = 1): ImageLayout {
  if (!Number.isInteger(tileSize) || tileSize < 1) {
    throw new RangeError(`imageLayout(): tileSize must be a positive integer, got ${tileSize}`);
  }
  const tileRows = Math.ceil(rows / tileSize);
  const tileCols = Math.ceil(cols / tileSize);
  const nTiles = tileRows * tileCols;
  const tileCurveOrder = hilbertOrder(tileRows, tileCols);
  const c = centreRect(tileRows, tileCols, centreFraction);
  const isCentre = (t: number) => {
    const r = Math.floor(t / tileCols) - c.row0;
    const q = (t % tileCols) - c.col0;
    return r >= 0 && r < c.rows && q >= 0 && q < c.cols;
  };
  const tileTokens = new Uint32Array(nTiles);
  for (let t = 0; t < nTiles; t++) {
    const tr = Math.floor(t / tileCols);
    const tc = t % tileCols;
    tileTokens[t] =
      (Math.min(rows, (tr + 1) * tileSize) - tr * tileSize) *
      (Math.min(cols, (tc + 1) * tileSize) - tc * tileSize);
  }

  // Sequence order of the tiles: centre tiles in curve order, then the rest in curve order.
  const tileOrder = new Uint32Array(nTiles);
  const tileCurve = new Uint32Array(nTiles);
  let j = 0;
  for (const centre of [true, false]) {
    for (let d = 0; d < nTiles; d++) {
      if (isCentre(tileCurveOrder[d]!) !== centre) continue;
      tileOrder[j] = tileCurveOrder[d]!;
      tileCurve[j++] = d;
    }
  }
  const centreTiles = c.rows * c.cols;

  // Token-level curve positions: tiles contribute their tokens in tile-curve order.
  const curveStart = tokenOffsets(tileCurveOrder, tileTokens);
  const N = rows * cols;
  const order = new Uint32Array(N);
  const curve = new Uint32Array(N);
  let p = 0;
  let centre = 0;
  for (let jj = 0; jj < nTiles; jj++) {
    const t = tileOrder[jj]!;
    const tr = Math.floor(t / tileCols);
    const tc = t % tileCols;
    const r1 = Math.min(rows, (tr + 1) * tileSize);
    const c1 = Math.min(cols, (tc + 1) * tileSize);
    let within = 0;
    for (let r = tr * tileSize; r < r1; r++) {
      for (let q = tc * tileSize; q < c1; q++) {
        order[p] = r * cols + q;
        curve[p++] = curveStart[tileCurve[jj]!]! + within++;
      }
    }
    if (jj < centreTiles) centre = p;
  }
  return {
    tokens: N,
    centre,
    curve,
    rows,
    cols,
    tileSize,
    order,
    tileRows,
    tileCols,
    tileOrder,
    tileTokens,
    centreTiles,
    tileCurve,
  };
}

/**
 * The curve layout of merged tokens: each tile contributes counts[t] merged tokens (t = raster tile
 * index), laid out tile-major in the image layout's tile order (so the centre tiles' tokens come first),
 * and placed along the curve by the tile curve.
 */
export function mergedCurveLayout(layout: ImageLayout, counts: Uint32Array): CurveLayout {
  const nTiles = layout.tileOrder.length;
  if (counts.length !== nTiles) {
    throw new RangeError(`mergedCurveLayout(): ${counts.length} tile counts for ${nTiles} tiles`);
  }
  const byCurve = new Uint32Array(nTiles);
  for (let j = 0; j < nTiles; j++) byCurve[layout.tileCurve[j]!] = layout.tileOrder[j]!;
  const curveStart = tokenOffsets(byCurve, counts);
  const tokens = curveStart[nTiles]!;
  const curve = new Uint32Array(tokens);
  let p = 0;
  let centre = 0;
  for (let j = 0; j < nTiles; j++) {
    const start = curveStart[layout.tileCurve[j]!]!;
    for (let i = 0; i < counts[layout.tileOrder[j]!]!; i++) curve[p++] = start + i;
    if (j < layout.centreTiles) centre = p;
  }
  return { tokens, centre, curve };
}

/** Prefix sums of per-tile token counts taken in the given tile order (length tiles + 1). */
function tokenOffsets(tilesInOrder: Uint32Array, counts: Uint32Array): Uint32Array {
  const out = new Uint32Array(tilesInOrder.length + 1);
  for (let d = 0; d < tilesInOrder.length; d++) out[d + 1] = out[d]! + counts[tilesInOrder[d]!]!;
  return out;
}

/**
 * Where each tile's tokens sit in the image part of the sequence: tile j of layout.tileOrder occupies
 * image positions [starts[j], starts[j + 1]), its tokens in raster order within the tile. This is the
 * tile layout ToMA must merge over in the combined mode (merged tokens tile-major in the same order).
 */
export function tileStarts(layout: ImageLayout): Uint32Array {
  return tokenOffsets(layout.tileOrder, layout.tileTokens);
}
