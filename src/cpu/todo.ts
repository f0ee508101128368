// ToDo reference (token downsampling, Smith et al. 2024): keys and values of the image tokens are
// average-pooled over f x f cells of the H x W grid; queries are untouched. Cells at odd edges are
// partial and average only the tokens they hold. Output cells are row-major over the
// ceil(H/f) x ceil(W/f) cell grid.

/** Pooled cell grid size. */
export function todoCells(height: number, width: number, factor: number): [number, number] {
  return [Math.ceil(height / factor), Math.ceil(width / factor)];
}

/** x [B, heads, H*W, D] -> [B, heads, cellsH*cellsW, D], f64 sums. */
export function todoPoolRef(
  x: Float32Array,
  BH: number,
  height: number,
  width: number,
  D: number,
  factor: number,
): Float32Array {
  const [ch, cw] = todoCells(height, width, factor);
  const N = height * width;
  const out = new Float32Array(BH * ch * cw * D);
  const acc = new Float64Array(D);
  for (let bh = 0; bh < BH; bh++) {
    for (let cy = 0; cy < ch; cy++) {
      for (let cx = 0; cx < cw; cx++) {
        acc.fill(0);
        let count = 0;
        for (let y = cy * factor; y < Math.min(height, (cy + 1) * factor); y++) {
          for (let x0 = cx * factor; x0 < Math.min(width, (cx + 1) * factor); x0++) {
            const o = (bh * N + y * width + x0) * D;
            for (let d = 0; d < D; d++) acc[d]! += x[o + d]!;
            count++;
          }
        }
        const o = ((bh * ch + cy) * cw + cx) * D;
        for (let d = 0; d < D; d++) out[o + d] = acc[d]! / count;
      }
    }
  }
  return out;
}
