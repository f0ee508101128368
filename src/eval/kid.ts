// Kernel inception distance (Binkowski, Sutherland, Arbel & Gretton 2018): the unbiased estimate of the
// squared MMD between two feature sets under the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3,
// averaged over random subsets. Kernel matrices are computed once; subsets index into them.
import { Rng } from '../util/random.js';

/** Feature vectors of one set, all of the same dimension. */
export type FeatureSet = readonly Float32Array[];

export function polynomialKernel(x: Float32Array, y: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * y[i]!;
  return (s / x.length + 1) ** 3;
}

function dimOf(sets: FeatureSet[], op: string): number {
  const d = sets[0]?.[0]?.length ?? 0;
  for (const s of sets)
    for (const v of s)
      if (v.length !== d)
        throw new RangeError(`${op}: feature vectors of different sizes (${v.length} vs ${d})`);
  if (d === 0) throw new RangeError(`${op}: empty feature vectors`);
  return d;
}

/** K[i][j] = k(a_i, b_j) as a flat row-major Float64Array. */
function kernelMatrix(a: FeatureSet, b: FeatureSet): Float64Array {
  const K = new Float64Array(a.length * b.length);
  for (let i = 0; i < a.length; i++)
    for (let j = 0; j < b.length; j++) K[i * b.length + j] = polynomialKernel(a[i]!, b[j]!);
  return K;
}

/** Unbiased MMD² of index subsets (ix into X, iy into Y) from precomputed kernel matrices. */
function mmd2FromKernels(
  Kxx: Float64Array,
  Kyy: Float64Array,
  Kxy: Float64Array,
  nx: number,
  ny: number,
  ix: ArrayLike<number>,
  iy: ArrayLike<number>,
): number {
  const m = ix.length;
  const n = iy.length;
  let sxx = 0;
  for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) if (a !== b) sxx += Kxx[ix[a]! * nx + ix[b]!]!;
  let syy = 0;
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b) syy += Kyy[iy[a]! * ny + iy[b]!]!;
  let sxy = 0;
  for (let a = 0; a < m; a++) for (let b = 0; b < n; b++) sxy += Kxy[ix[a]! * ny + iy[b]!]!;
  return sxx / (m * (m - 1)) + syy / (n * (n - 1)) - (2 * sxy) / (m * n);
}

/** Unbiased MMD² between two whole sets (each needs at least two vectors). */
export function mmd2Unbiased(X: FeatureSet, Y: FeatureSet): number {
  dimOf([X, Y], 'mmd2Unbiased');
  if (X.length < 2 || Y.length < 2)
    throw new RangeError(`mmd2Unbiased: each set needs at least 2 vectors (got ${X.length} and ${Y.length})`);
  const all = (k: number) => Array.from({ length: k }, (_, i) => i);
  return mmd2FromKernels(
    kernelMatrix(X, X),
    kernelMatrix(Y, Y),
    kernelMatrix(X, Y),
    X.length,
    Y.length,
    all(X.length),
    all(Y.length),
  );
}

export interface KidOptions {
  /** Random subsets averaged over. Default 100. */
  subsets?: number;
  /** Vectors drawn (without replacement) from each set per subset; capped by the smaller set. Default 1000. */
  subsetSize?: number;
  seed?: number;
}

export interface KidResult {
  /** Mean of the subset MMD² estimates (the KID), and their standard deviation. */
  mean: number;
  std: number;
  subsets: number;
  subsetSize: number;
  nX: number;
  nY: number;
}

/** Kernel matrices of a reference set, to reuse against several generated sets. */
export interface KidReference {
  Y: FeatureSet;
  Kyy: Float64Array;
}

export function kidReference(Y: FeatureSet): KidReference {
  return { Y, Kyy: kernelMatrix(Y, Y) };
}

/** KID of generated features X against a reference set (real images' features). */
export function kid(X: FeatureSet, ref: KidReference | FeatureSet, o: KidOptions = {}): KidResult {
  const r = 'Kyy' in ref ? ref : kidReference(ref);
  const Y = r.Y;
  dimOf([X, Y], 'kid');
  if (X.length < 2 || Y.length < 2)
    throw new RangeError(`kid: each set needs at least 2 feature vectors (got ${X.length} and ${Y.length})`);
  const subsets = o.subsets ?? 100;
  const size = Math.min(o.subsetSize ?? 1000, X.length, Y.length);
  if (!Number.isInteger(subsets) || subsets < 1)
    throw new RangeError(`kid: subsets must be a positive integer, got ${subsets}`);
  if (!Number.isInteger(size) || size < 2) throw new RangeError(`kid: subsetSize must be >= 2, got ${size}`);
  const Kxx = kernelMatrix(X, X);
  const Kxy = kernelMatrix(X, Y);
  const rng = new Rng(o.seed ?? 0);
  const values: number[] = [];
  for (let s = 0; s < subsets; s++) {
    const ix = sample(rng, X.length, size);
    const iy = sample(rng, Y.length, size);
    values.push(mmd2FromKernels(Kxx, r.Kyy, Kxy, X.length, Y.length, ix, iy));
  }
  const mean = values.reduce((a, b) => a + b, 0) / subsets;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / subsets);
  return { mean, std, subsets, subsetSize: size, nX: X.length, nY: Y.length };
}

/** k distinct indices from 0..n-1 (partial Fisher-Yates). */
function sample(rng: Rng, n: number, k: number): Uint32Array {
  const idx = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng.uniform() * (n - i));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx.subarray(0, k);
}
