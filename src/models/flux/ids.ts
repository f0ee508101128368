// Position ids as the official sampler's prepare() builds them: image token (row, col) of the packed
// latent grid gets id (0, row, col), tokens in raster order (index row * cols + col); text tokens get
// zeros. Ids are f32 [B, L, 3] on the host, the same for every batch element.

/** f32 [batch, rows * cols, 3]: (0, row, col) for token row * cols + col. */
export function imageIds(batch: number, rows: number, cols: number): Float32Array {
  checkCount(batch, 'batch');
  checkCount(rows, 'rows');
  checkCount(cols, 'cols');
  const n = rows * cols;
  const ids = new Float32Array(batch * n * 3);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const o = (b * n + r * cols + c) * 3;
        ids[o + 1] = r;
        ids[o + 2] = c;
      }
    }
  }
  return ids;
}

/** f32 zeros [batch, length, 3]. */
export function textIds(batch: number, length: number): Float32Array {
  checkCount(batch, 'batch');
  if (!Number.isInteger(length) || length < 0)
    throw new RangeError(`text length must be a non-negative integer, got ${length}`);
  return new Float32Array(batch * length * 3);
}

/**
 * The (rows, cols) grid that image ids describe when they are exactly imageIds(batch, rows, cols), else
 * null (ids with offsets, other first components, or another order). Checks every id.
 */
export function gridFromImageIds(
  ids: ArrayLike<number>,
  batch: number,
  tokens: number,
): [number, number] | null {
  if (ids.length !== batch * tokens * 3)
    throw new RangeError(`image ids: ${ids.length} values for batch ${batch} x ${tokens} tokens x 3`);
  if (tokens === 0) return null;
  // cols = 1 + the largest column id; rows follows from the token count.
  let cols = 0;
  for (let t = 0; t < tokens; t++) cols = Math.max(cols, ids[t * 3 + 2]! + 1);
  if (!Number.isInteger(cols) || cols < 1 || tokens % cols !== 0) return null;
  const rows = tokens / cols;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < tokens; t++) {
      const o = (b * tokens + t) * 3;
      if (ids[o] !== 0 || ids[o + 1] !== Math.floor(t / cols) || ids[o + 2] !== t % cols) return null;
    }
  }
  return [rows, cols];
}

function checkCount(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer, got ${v}`);
}
