// Least-squares polynomial fits (TeaCache's rescaling polynomial): Householder QR on the Vandermonde
// matrix of x scaled into [-1, 1], in f64, so degree 4 stays well conditioned for changes of 1e-3..1.

export interface PolynomialFit {
  /** Highest degree first, as numpy.poly1d takes them. */
  coefficients: number[];
  /** 1 − Σ residual² / Σ (y − mean y)². */
  r2: number;
  rmse: number;
  maxAbsError: number;
  n: number;
}

/** Quality of a polynomial (highest degree first) on data points. */
export function fitQuality(
  coefficients: readonly number[],
  x: readonly number[],
  y: readonly number[],
): Omit<PolynomialFit, 'coefficients'> {
  const n = x.length;
  const mean = y.reduce((s, v) => s + v, 0) / n;
  let ss = 0;
  let tot = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    let p = 0;
    for (const c of coefficients) p = p * x[i]! + c;
    const e = y[i]! - p;
    ss += e * e;
    tot += (y[i]! - mean) ** 2;
    max = Math.max(max, Math.abs(e));
  }
  return {
    r2: tot > 0 ? 1 - ss / tot : ss === 0 ? 1 : Number.NEGATIVE_INFINITY,
    rmse: Math.sqrt(ss / n),
    maxAbsError: max,
    n,
  };
}

/** The degree-`degree` polynomial minimising Σ (p(x_i) − y_i)². */
export function fitPolynomial(x: readonly number[], y: readonly number[], degree: number): PolynomialFit {
  const n = x.length;
  const m = degree + 1;
  if (!Number.isInteger(degree) || degree < 0)
    throw new RangeError(`fitPolynomial(): degree must be a non-negative integer, got ${degree}`);
  if (y.length !== n) throw new RangeError(`fitPolynomial(): ${n} x values and ${y.length} y values`);
  if (n < m) throw new RangeError(`fitPolynomial(): degree ${degree} needs at least ${m} points, got ${n}`);
  if (![...x, ...y].every(Number.isFinite))
    throw new RangeError('fitPolynomial(): the data hold non-finite values');
  const scale = Math.max(...x.map(Math.abs)) || 1;
  // A: n x m (column j = t^j), b = y; QR by Householder reflections, in place
  const A = Array.from({ length: n }, (_, i) => {
    const t = x[i]! / scale;
    return Array.from({ length: m }, (_, j) => t ** j);
  });
  const b = [...y];
  for (let j = 0; j < m; j++) {
    let norm = 0;
    for (let i = j; i < n; i++) norm += A[i]![j]! ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0)
      throw new RangeError('fitPolynomial(): the x values do not spread enough for this degree');
    const alpha = A[j]![j]! > 0 ? -norm : norm;
    const v = Array.from({ length: n - j }, (_, k) => A[j + k]![j]!);
    v[0]! -= alpha;
    const vv = v.reduce((s, e) => s + e * e, 0);
    if (vv === 0) continue;
    const reflect = (get: (i: number) => number, set: (i: number, val: number) => void) => {
      let dot = 0;
      for (let k = 0; k < v.length; k++) dot += v[k]! * get(j + k);
      const f = (2 * dot) / vv;
      for (let k = 0; k < v.length; k++) set(j + k, get(j + k) - f * v[k]!);
    };
    for (let c = j; c < m; c++)
      reflect(
        (i) => A[i]![c]!,
        (i, val) => {
          A[i]![c] = val;
        },
      );
    reflect(
      (i) => b[i]!,
      (i, val) => {
        b[i] = val;
      },
    );
  }
  // back substitution R·c = Qᵀb (first m rows)
  const c = new Array<number>(m).fill(0);
  for (let j = m - 1; j >= 0; j--) {
    let s = b[j]!;
    for (let k = j + 1; k < m; k++) s -= A[j]![k]! * c[k]!;
    const d = A[j]![j]!;
    if (Math.abs(d) < 1e-12 * Math.sqrt(n))
      throw new RangeError('fitPolynomial(): the x values do not spread enough for this degree');
    c[j] = s / d;
  }
  // back to x: coefficient of x^j is c_j / scale^j; highest degree first
  const coefficients = c.map((v, j) => v / scale ** j).reverse();
  return { coefficients, ...fitQuality(coefficients, x, y) };
}
