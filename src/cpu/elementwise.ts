// Reference elementwise operations.
import type { Activation } from '../backend.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation (PyTorch approximate='tanh'). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

/**
 * erfc(z) for z >= 0, the Chebyshev fit of Numerical Recipes' erfcc (relative error < 1.2e-7
 * everywhere): a different formula from the WGSL kernels' (activation.wgsl), so each checks the other.
 */
function erfcNonNeg(z: number): number {
  const t = 1 / (1 + 0.5 * z);
  const c = [
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
    -0.82215223, 0.17087277,
  ];
  let p = 0;
  for (let i = c.length - 1; i >= 1; i--) p = t * (c[i]! + p);
  return t * Math.exp(-z * z + c[0]! + p);
}

/** GELU, exact: 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's default, approximate='none'). */
export function gelu(x: number): number {
  const c = erfcNonNeg(Math.abs(x) * Math.SQRT1_2);
  // for x < 0 as 0.5 x erfc(|x| / sqrt 2): no cancellation
  return x < 0 ? 0.5 * x * c : 0.5 * x * (2 - c);
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function activate(x: number, act: Activation): number {
  switch (act) {
    case 'none':
      return x;
    case 'gelu':
      return gelu(x);
    case 'gelu_tanh':
      return geluTanh(x);
    case 'silu':
      return silu(x);
  }
}

/** act(x * s) */
export function unaryRef(x: Float32Array, act: Activation, s: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = activate(x[i]! * s, act);
  return out;
}

export function binaryRef(op: 'add' | 'mul', a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  if (op === 'add') for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  else for (let i = 0; i < a.length; i++) out[i] = a[i]! * b[i]!;
  return out;
}

/** Softmax over rows of length C. */
export function softmaxRef(x: Float32Array, C: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    const o = r * C;
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < C; c++) max = Math.max(max, x[o + c]!);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(x[o + c]! - max);
    for (let c = 0; c < C; c++) out[o + c] = Math.exp(x[o + c]! - max) / sum;
  }
  return out;
}
