// Hilbert ordering of a token grid: a generalized Hilbert curve that covers any rows x cols rectangle
// (not only 2^p squares), so that every contiguous run of the curve is a compact 2-D patch.
//
// The curve is built by recursive splitting. A region is an axis-aligned rectangle given by its start
// cell, a "major" vector along which the curve travels (its length is the region's extent along that
// axis) and a "minor" vector across it. The curve enters at the start cell and leaves at the far end
// of the major side, next to where the following region begins. A region much longer than wide is cut
// in two along the major axis; otherwise it is cut into the classic three Hilbert pieces (up the left
// half, across the top, down the right half). Split points are rounded to even lengths so that each
// piece can end where the next begins; where the grid's parity makes that impossible (an odd major
// side with an even minor side), one step of the curve is diagonal instead of axis-aligned.
// On 2^p x 2^p grids this is the standard Hilbert curve, oriented like the HilbertA authors' (it starts
// at the bottom-left cell and ends at the bottom-right cell).

/**
 * Cells of a rows x cols grid in curve order: order[d] = raster index (row * cols + col) of the d-th
 * cell on the curve.
 */
export function hilbertOrder(rows: number, cols: number): Uint32Array {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new RangeError(`hilbertOrder(): grid must be positive integers, got ${rows} x ${cols}`);
  }
  const order = new Uint32Array(rows * cols);
  let n = 0;
  const emit = (x: number, y: number) => {
    order[n++] = y * cols + x;
  };

  // (x, y) = (col, row) of the start cell; (ax, ay) major vector; (bx, by) minor vector.
  const walk = (x: number, y: number, ax: number, ay: number, bx: number, by: number): void => {
    const w = Math.abs(ax + ay);
    const h = Math.abs(bx + by);
    const ux = Math.sign(ax);
    const uy = Math.sign(ay);
    const vx = Math.sign(bx);
    const vy = Math.sign(by);
    if (h === 1) {
      for (let i = 0; i < w; i++) emit(x + i * ux, y + i * uy);
      return;
    }
    if (w === 1) {
      for (let i = 0; i < h; i++) emit(x + i * vx, y + i * vy);
      return;
    }
    if (2 * w > 3 * h) {
      // Long region: two halves along the major axis, the first of even length.
      let w2 = Math.floor(w / 2);
      if (w2 % 2 === 1 && w > 2) w2 += 1;
      walk(x, y, ux * w2, uy * w2, bx, by);
      walk(x + ux * w2, y + uy * w2, ax - ux * w2, ay - uy * w2, bx, by);
      return;
    }
    // Three pieces: the lower-left part (travelling along the minor axis), the whole upper band, then
    // the lower-right part back down to the end corner. The lower band's height is made even.
    const w2 = Math.floor(w / 2);
    let h2 = Math.floor(h / 2);
    if (h2 % 2 === 1 && h > 2) h2 += 1;
    walk(x, y, vx * h2, vy * h2, ux * w2, uy * w2);
    walk(x + vx * h2, y + vy * h2, ax, ay, bx - vx * h2, by - vy * h2);
    walk(
      x + (ax - ux) + vx * (h2 - 1),
      y + (ay - uy) + vy * (h2 - 1),
      -vx * h2,
      -vy * h2,
      -(ax - ux * w2),
      -(ay - uy * w2),
    );
  };

  // Travel along the longer side, starting at the bottom-left cell, the minor axis pointing inwards.
  if (cols >= rows) walk(0, rows - 1, cols, 0, 0, -rows);
  else walk(0, rows - 1, 0, -rows, cols, 0);
  if (n !== rows * cols) throw new Error(`hilbertOrder(): internal error, ${n} cells for ${rows} x ${cols}`);
  return order;
}

/** inv[order[d]] = d. Throws if `order` is not a permutation of 0..n-1. */
export function inversePermutation(order: Uint32Array): Uint32Array {
  const inv = new Uint32Array(order.length).fill(0xffffffff);
  for (let d = 0; d < order.length; d++) {
    const r = order[d]!;
    if (r >= order.length || inv[r] !== 0xffffffff) {
      throw new RangeError(`inversePermutation(): not a permutation (index ${r} at position ${d})`);
    }
    inv[r] = d;
  }
  return inv;
}
