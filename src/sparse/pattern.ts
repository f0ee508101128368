// The HilbertA attention pattern of one layer, as an exact mask and as per-query-block key ranges.
//
// Sequence = [text | centre | rest], L = text + image tokens, S = text + centre (the shared region).
// The image curve (n tokens) is cut into G tiles: curve position c belongs to tile
// floor(((c - o_l) mod n) * G / n), with the layer offset o_l = round(n/(G·C) · (l mod C)) (a quarter
// tile per layer for C = 4, wrapping at the end of the curve); queries and keys use the same tiles.
//   - rows of the shared region (text and centre) attend to every key;
//   - every other image row attends to the shared keys [0, S) and to the keys of its own tile.
// Since the rest of the sequence is in curve order, a tile's keys are one range (two when it wraps).
// The engine's attention takes one list of key ranges per block of `blockSize` query rows. A block whose
// rows are not all in one class (the shared region or one tile) gets the union of their keys: a superset
// of the exact pattern for those rows. chooseBlockSize() prefers a block size where that never happens.

/** The shared class: rows that attend to everything, keys everyone attends to. */
export const SHARED = -1;

/** The curve offset of the tile partition at a layer. */
export function layerOffset(tokens: number, tiles: number, cycle: number, layer: number): number {
  return Math.round((tokens * (layer % cycle)) / (tiles * cycle));
}

/**
 * The class of every sequence position for one layer: SHARED for text and centre tokens, else the tile
 * id (0..tiles-1) of the image token.
 */
export function sequenceClasses(
  textTokens: number,
  layout: { tokens: number; centre: number; curve: Uint32Array },
  tiles: number,
  offset: number,
): Int32Array {
  const n = layout.tokens;
  const cls = new Int32Array(textTokens + n).fill(SHARED);
  for (let p = layout.centre; p < n; p++) {
    const c = (layout.curve[p]! - (offset % n) + n) % n;
    cls[textTokens + p] = Math.floor((c * tiles) / n);
  }
  return cls;
}

/** The exact pattern: may query qi attend to key kj? */
export function exactMask(cls: Int32Array): (qi: number, kj: number) => boolean {
  return (qi, kj) => cls[qi] === SHARED || cls[kj] === SHARED || cls[qi] === cls[kj];
}

export interface RangeTable {
  blockSize: number;
  /** Ranges per query block (R). */
  maxRanges: number;
  /** [ceil(L / blockSize), maxRanges, 2] half-open key ranges; unused slots are empty [0, 0). */
  ranges: Uint32Array;
  /** Query rows whose block gives them more keys than the exact pattern does. */
  supersetRows: number;
}

/** Key ranges of the pattern for query blocks of blockSize rows (see the file comment). */
export function buildKeyRanges(cls: Int32Array, blockSize: number): RangeTable {
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new RangeError(`buildKeyRanges(): blockSize must be a positive integer, got ${blockSize}`);
  }
  const L = cls.length;
  let S = 0;
  while (S < L && cls[S] === SHARED) S++;
  // Each tile's keys as maximal runs of the sequence.
  const runs = new Map<number, [number, number][]>();
  for (let i = S; i < L; i++) {
    const t = cls[i]!;
    if (t === SHARED)
      throw new RangeError(`buildKeyRanges(): shared position ${i} after the shared prefix [0, ${S})`);
    let list = runs.get(t);
    if (!list) {
      list = [];
      runs.set(t, list);
    }
    const last = list.at(-1);
    if (last && last[1] === i) last[1] = i + 1;
    else list.push([i, i + 1]);
  }
  const tileKeys = (t: number) => (runs.get(t) ?? []).reduce((s, [a, b]) => s + b - a, 0);

  const nb = Math.ceil(L / blockSize);
  const perBlock: [number, number][][] = [];
  let supersetRows = 0;
  for (let b = 0; b < nb; b++) {
    const r0 = b * blockSize;
    const r1 = Math.min(L, r0 + blockSize);
    const classes = new Set<number>();
    for (let i = r0; i < r1; i++) classes.add(cls[i]!);
    let list: [number, number][];
    if (classes.has(SHARED)) {
      list = [[0, L]];
      for (let i = r0; i < r1; i++) if (cls[i] !== SHARED && S + tileKeys(cls[i]!) < L) supersetRows++;
    } else {
      list = mergeRanges([[0, S], ...[...classes].flatMap((t) => runs.get(t)!)]);
      if (classes.size > 1) supersetRows += r1 - r0;
    }
    perBlock.push(list);
  }
  let maxRanges = 1;
  for (const l of perBlock) maxRanges = Math.max(maxRanges, l.length);
  const ranges = new Uint32Array(nb * maxRanges * 2);
  perBlock.forEach((list, b) => {
    list.forEach(([s, e], r) => {
      ranges[(b * maxRanges + r) * 2] = s;
      ranges[(b * maxRanges + r) * 2 + 1] = e;
    });
  });
  return { blockSize, maxRanges, ranges, supersetRows };
}

/**
 * The largest power-of-two block size in [minBlock, maxBlock] whose ranges are exact (no query block
 * mixes classes); maxBlock if there is none (its ranges are then a documented superset).
 */
export function chooseBlockSize(cls: Int32Array, maxBlock: number, minBlock: number): number {
  for (let bs = maxBlock; bs >= minBlock; bs /= 2) {
    if (isExact(cls, bs)) return bs;
  }
  return maxBlock;
}

/** Whether every query block of blockSize rows lies within one class. */
export function isExact(cls: Int32Array, blockSize: number): boolean {
  for (let i = 1; i < cls.length; i++) {
    if (i % blockSize !== 0 && cls[i] !== cls[i - 1]) return false;
  }
  return true;
}

/** Sorts ranges and merges overlapping or touching ones; drops empty ones. */
function mergeRanges(list: [number, number][]): [number, number][] {
  const sorted = list.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out.at(-1);
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}
