// Exact GELU (x·Φ(x), PyTorch's F.gelu with approximate='none') and GEGLU: the references for
// geglu.wgsl. Φ(x) = erfc(-x/√2) / 2, with erfc from the Chebyshev fit of Numerical Recipes (erfcc,
// fractional error below 1.2e-7 for every x). Written through erfc on both sides of zero so that no
// branch subtracts nearly equal numbers: |error| <= 1e-7·|x|.

const SQRT1_2 = Math.SQRT1_2;

/** The complementary error function, fractional error < 1.2e-7. */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t *
                      (0.27886807 +
                        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const r = t * Math.exp(-z * z + poly);
  return x >= 0 ? r : 2 - r;
}

/** GELU with the exact normal CDF. */
export function geluErf(x: number): number {
  return x >= 0 ? x - 0.5 * x * erfc(x * SQRT1_2) : 0.5 * x * erfc(-x * SQRT1_2);
}

/** Rows of 2n values (hidden | gate) -> rows of n: hidden · gelu(gate). */
export function gegluRef(x: Float32Array, n: number): Float32Array {
  const rows = n === 0 ? 0 : x.length / (2 * n);
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < n; j++) out[r * n + j] = x[r * 2 * n + j]! * geluErf(x[r * 2 * n + n + j]!);
  return out;
}
