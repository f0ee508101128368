// Reference reductions, accumulating in f64.

/** Per row of x and ref [rows, per]: (Σ|x − ref|, Σ|ref|), as f32 [rows, 2]. */
export function absDiffSumsRef(x: Float32Array, ref: Float32Array, rows: number, per: number): Float32Array {
  const out = new Float32Array(rows * 2);
  for (let r = 0; r < rows; r++) {
    let diff = 0;
    let sum = 0;
    for (let i = r * per; i < (r + 1) * per; i++) {
      diff += Math.abs(x[i]! - ref[i]!);
      sum += Math.abs(ref[i]!);
    }
    out[2 * r] = diff;
    out[2 * r + 1] = sum;
  }
  return out;
}
