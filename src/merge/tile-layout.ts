// Tile geometry shared by ToMA's CPU reference, its WGSL kernels and the reducers.
//
// The H x W image-token grid (raster order: token = row * W + col) is cut into non-overlapping s x s
// tiles, row-major over the tile grid. When s does not divide H (or W) the last tile row (column) is
// shorter; such an edge tile of n_t tokens keeps
//     k_t = clamp(round_half_up(n_t * (1 - ratio)), 1, n_t)
// destinations, the same rule as a full tile (16 tokens at ratio 0.5 -> 8). Inside a tile, tokens are
// numbered row-major with the tile's own width: local i = r * w_t + c. Merged tokens are tile-major:
// tile 0's k_0 tokens, then tile 1's, ... (within a tile in greedy pick order).
//
// Only four tile shapes exist (full, short column, short row, corner), so the kernels compute every
// tile's size, k and merged offset in closed form from the uniforms returned by uniforms().

/** Largest supported tile side: the selection kernel keeps the tile's n x n similarity in workgroup memory. */
export const MAX_TILE = 8;

export interface TileInfo {
  /** Tile index, row-major over the tile grid. */
  index: number;
  row0: number;
  col0: number;
  h: number;
  w: number;
  /** Tokens in the tile (h * w). */
  n: number;
  /** Destinations kept in the tile. */
  k: number;
  /** Position of the tile's first merged token in the merged sequence. */
  offset: number;
}

/** Destinations kept out of n tokens at a given merge ratio (fraction removed). */
export function destinationsFor(n: number, ratio: number): number {
  // The tiny epsilon keeps products such as 10 * (1 - 0.75) = 2.4999999999999996 rounding as 2.5 would.
  const k = Math.floor(n * (1 - ratio) + 0.5 + 1e-9);
  return Math.min(n, Math.max(1, k));
}

export class TileLayout {
  readonly tilesH: number;
  readonly tilesW: number;
  readonly tiles: number;
  /** Tokens in a full tile (tile²). */
  readonly nMax: number;
  /** Destinations in a full tile (the most any tile has). */
  readonly kMax: number;
  /** Image tokens per batch element, before and after merging. */
  readonly n: number;
  readonly tokens: number;
  /** k for [full, short column, short row, corner] tiles. */
  readonly kByShape: readonly [number, number, number, number];
  /** Merged tokens in one full-height row of tiles. */
  readonly rowTokens: number;

  constructor(
    readonly height: number,
    readonly width: number,
    readonly tile: number,
    readonly ratio: number,
  ) {
    for (const [name, v] of [
      ['grid height', height],
      ['grid width', width],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new RangeError(`ToMA: ${name} must be a positive integer, got ${v}`);
    }
    if (!Number.isInteger(tile) || tile < 1 || tile > MAX_TILE)
      throw new RangeError(`ToMA: tile must be an integer in [1, ${MAX_TILE}], got ${tile}`);
    if (typeof ratio !== 'number' || !(ratio >= 0 && ratio < 1))
      throw new RangeError(`ToMA: ratio (fraction of tokens removed) must be in [0, 1), got ${ratio}`);
    this.tilesH = Math.ceil(height / tile);
    this.tilesW = Math.ceil(width / tile);
    this.tiles = this.tilesH * this.tilesW;
    this.nMax = tile * tile;
    this.n = height * width;
    const hLast = height - (this.tilesH - 1) * tile;
    const wLast = width - (this.tilesW - 1) * tile;
    const k = (h: number, w: number) => destinationsFor(h * w, ratio);
    this.kByShape = [k(tile, tile), k(tile, wLast), k(hLast, tile), k(hLast, wLast)];
    this.kMax = this.kByShape[0];
    const rowK = (kFull: number, kLastCol: number) => (this.tilesW - 1) * kFull + kLastCol;
    this.rowTokens = rowK(this.kByShape[0], this.kByShape[1]);
    this.tokens = (this.tilesH - 1) * this.rowTokens + rowK(this.kByShape[2], this.kByShape[3]);
  }

  /** Geometry of tile t (row-major over the tile grid). */
  tileInfo(t: number): TileInfo {
    const tr = Math.floor(t / this.tilesW);
    const tc = t % this.tilesW;
    const s = this.tile;
    const h = Math.min(s, this.height - tr * s);
    const w = Math.min(s, this.width - tc * s);
    const k = this.kByShape[(h < s ? 2 : 0) + (w < s ? 1 : 0)]!;
    const kRowStart = this.kByShape[h < s ? 2 : 0]!;
    return {
      index: t,
      row0: tr * s,
      col0: tc * s,
      h,
      w,
      n: h * w,
      k,
      offset: tr * this.rowTokens + tc * kRowStart,
    };
  }

  /** Raster index of local token i of a tile. */
  raster(info: TileInfo, i: number): number {
    return (info.row0 + Math.floor(i / info.w)) * this.width + info.col0 + (i % info.w);
  }

  /** The tile and local index of a raster token. */
  locate(raster: number): { tile: number; local: number } {
    const row = Math.floor(raster / this.width);
    const col = raster % this.width;
    const tr = Math.floor(row / this.tile);
    const tc = Math.floor(col / this.tile);
    const w = Math.min(this.tile, this.width - tc * this.tile);
    return { tile: tr * this.tilesW + tc, local: (row - tr * this.tile) * w + (col - tc * this.tile) };
  }

  /** The geometry words every ToMA kernel starts its uniform block with (see TileGeom in the WGSL). */
  uniforms(): number[] {
    const [k00, k01, k10, k11] = this.kByShape;
    return [this.height, this.width, this.tile, this.tilesW, this.rowTokens, k00, k01, k10, k11, this.tokens];
  }

  toString(): string {
    return `${this.height}x${this.width} grid, ${this.tile}x${this.tile} tiles, ratio ${this.ratio} (${this.n} -> ${this.tokens} tokens)`;
  }
}
