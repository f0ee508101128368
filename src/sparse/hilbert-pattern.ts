// HilbertA as an AttentionPattern for the model (src/merge/hooks.ts): the image order once per forward,
// and per block the key ranges of that layer's tile partition. Range tables depend only on the grid, the
// text length, the image token count and the layer's phase in the sliding cycle, so each is built once,
// uploaded once and kept until dispose().
import type { Backend, KeyRanges } from '../backend.js';
import type { AttentionPattern, ForwardInfo } from '../merge/hooks.js';
import type { Tensor } from '../tensor.js';
import { exactPatternCost, keyRangeCost, type PatternCost } from './cost.js';
import { type CurveLayout, type ImageLayout, imageLayout, mergedCurveLayout } from './layout.js';
import { type HilbertOptions, resolveHilbertOptions } from './options.js';
import { buildKeyRanges, chooseBlockSize, layerOffset, type RangeTable, sequenceClasses } from './pattern.js';

/** Query rows per workgroup of the tensor-core attention at head dim 128 (8 subgroups x 16). */
const OUTER_BLOCK = 128;

export interface HilbertConfig {
  /** Double-stream blocks in the model: single-stream block i is layer doubleBlocks + i. Default 19 (Flux). */
  doubleBlocks?: number;
  /** Largest and smallest query-block size (powers of two); the largest one whose ranges are exact is used. */
  maxBlock?: number;
  minBlock?: number;
  /**
   * Combined mode with ToMA: the image is ordered tile by tile (tiles of tileSize x tileSize tokens along
   * a Hilbert curve over the tile grid), and a block that runs on merged tokens has
   * destinations(tokens of the tile) merged tokens per tile, tile-major in the same tile order.
   */
  merge?: { tileSize: number; destinations: (tileTokens: number) => number };
  /**
   * Also give blocks of 16 or 32 query rows a union table per 128 rows (KeyRanges.outer), so the
   * tensor-core attention keeps full-size workgroups. Default true; false for measurements.
   */
  outerTables?: boolean;
}

/** Everything about one layer's pattern (host side), for the kernel, tests and reports. */
export interface LayerPlan {
  layer: number;
  offset: number;
  layout: CurveLayout;
  classes: Int32Array;
  table: RangeTable;
  /** Pairs the key ranges visit, and pairs the exact pattern allows. */
  cost: PatternCost;
  exactCost: PatternCost;
}

export interface HilbertPattern extends AttentionPattern {
  readonly options: HilbertOptions;
  /** The full-resolution image layout for a grid (order, tiles, centre). */
  layout(grid: readonly [number, number]): ImageLayout;
  /** The host-side plan for one block (what keyRanges() uploads). */
  plan(kind: 'double' | 'single', index: number, info: ForwardInfo, imageTokens: number): LayerPlan;
}

/** ToMA's rule for destinations per tile at merge ratio ρ: round(n·(1 − ρ)), at least one. */
export function tomaDestinations(ratio: number): (tileTokens: number) => number {
  if (!(ratio >= 0 && ratio < 1))
    throw new RangeError(`tomaDestinations(): ratio must be in [0, 1), got ${ratio}`);
  return (n) => Math.max(1, Math.round(n * (1 - ratio)));
}

export function createHilbertPattern(
  be: Backend,
  options: Partial<HilbertOptions> = {},
  config: HilbertConfig = {},
): HilbertPattern {
  const opts = resolveHilbertOptions(options);
  const doubleBlocks = config.doubleBlocks ?? 19;
  const maxBlock = config.maxBlock ?? 64;
  const minBlock = config.minBlock ?? 16;
  const outerTables = config.outerTables ?? true;
  for (const [name, v] of [
    ['maxBlock', maxBlock],
    ['minBlock', minBlock],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || (v & (v - 1)) !== 0)
      throw new RangeError(`createHilbertPattern(): ${name} must be a power of two, got ${v}`);
  }
  if (minBlock > maxBlock)
    throw new RangeError(`createHilbertPattern(): minBlock ${minBlock} > maxBlock ${maxBlock}`);
  if (!Number.isInteger(doubleBlocks) || doubleBlocks < 0)
    throw new RangeError(
      `createHilbertPattern(): doubleBlocks must be a non-negative integer, got ${doubleBlocks}`,
    );
  const tileSize = config.merge?.tileSize ?? 1;

  const layouts = new Map<string, { image: ImageLayout; merged: CurveLayout | null }>();
  const tables = new Map<string, KeyRanges>();

  const layoutsFor = (grid: readonly [number, number]) => {
    const [rows, cols] = grid;
    const key = `${rows}x${cols}`;
    let l = layouts.get(key);
    if (!l) {
      const image = imageLayout(rows, cols, opts.center, tileSize);
      let merged: CurveLayout | null = null;
      if (config.merge) {
        const dest = config.merge.destinations;
        merged = mergedCurveLayout(
          image,
          image.tileTokens.map((n) => dest(n)),
        );
      }
      l = { image, merged };
      layouts.set(key, l);
    }
    return l;
  };

  const layerOf = (kind: 'double' | 'single', index: number) => {
    if (!Number.isInteger(index) || index < 0) throw new RangeError(`hilbert: bad block index ${index}`);
    if (kind === 'double') return index;
    if (kind === 'single') return doubleBlocks + index;
    throw new TypeError(`hilbert: block kind must be "double" or "single", got "${kind}"`);
  };

  const curveFor = (info: ForwardInfo, imageTokens: number): CurveLayout => {
    const l = layoutsFor(info.grid);
    if (imageTokens === l.image.tokens) return l.image;
    if (l.merged && imageTokens === l.merged.tokens) return l.merged;
    throw new RangeError(
      `hilbert: a block over ${imageTokens} image tokens, but the ${info.grid[0]}x${info.grid[1]} grid has ` +
        `${l.image.tokens}` +
        (l.merged
          ? ` and ToMA's merged sequence ${l.merged.tokens} (check the merge tile size and ratio given to createHilbertPattern)`
          : ' (a block on merged tokens needs config.merge in createHilbertPattern)'),
    );
  };

  const plan = (
    kind: 'double' | 'single',
    index: number,
    info: ForwardInfo,
    imageTokens: number,
  ): LayerPlan => {
    const layer = layerOf(kind, index);
    const layout = curveFor(info, imageTokens);
    const offset = layerOffset(layout.tokens, opts.tiles, opts.cycle, layer);
    const classes = sequenceClasses(info.textTokens, layout, opts.tiles, offset);
    const table = buildKeyRanges(classes, chooseBlockSize(classes, maxBlock, minBlock));
    const L = classes.length;
    return {
      layer,
      offset,
      layout,
      classes,
      table,
      cost: keyRangeCost(table.ranges, table.maxRanges, table.blockSize, L, L),
      exactCost: exactPatternCost(classes),
    };
  };

  return {
    name: 'hilbert',
    options: opts,
    layout: (grid) => layoutsFor(grid).image,
    plan,
    imageOrder: (info) => layoutsFor(info.grid).image.order,
    keyRanges(kind, index, info, imageTokens) {
      const layer = layerOf(kind, index);
      const key = `${info.grid[0]}x${info.grid[1]}:${info.textTokens}:${imageTokens}:${layer % opts.cycle}`;
      let kr = tables.get(key);
      if (!kr) {
        const { table, classes } = plan(kind, index, info, imageTokens);
        const upload = (t: RangeTable): Tensor => {
          const nb = t.ranges.length / (2 * t.maxRanges);
          return be.keep(be.tensor(t.ranges, [nb, t.maxRanges, 2], 'u32'));
        };
        kr = { blockSize: table.blockSize, ranges: upload(table) };
        // Blocks shorter than the tensor-core kernel's 128-row workgroup: also the union per 128 rows,
        // so the kernel keeps full-size workgroups and masks each subgroup by its own block.
        if (outerTables && table.blockSize <= OUTER_BLOCK / 4 && OUTER_BLOCK % table.blockSize === 0)
          kr.outer = { blockSize: OUTER_BLOCK, ranges: upload(buildKeyRanges(classes, OUTER_BLOCK)) };
        tables.set(key, kr);
      }
      return kr;
    },
    dispose() {
      for (const kr of tables.values()) {
        kr.ranges.dispose();
        kr.outer?.ranges.dispose();
      }
      tables.clear();
      layouts.clear();
    },
  };
}
