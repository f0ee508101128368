// Reference elementwise operations.
import type { Activation } from '../backend.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation (PyTorch approximate='tanh'). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

/** erf in double precision: its Maclaurin series below 3, the continued fraction of erfc above. */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    // 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)); terms stay below ~1e4, so ~1e-12 absolute
    let term = a;
    let sum = a;
    const x2 = a * a;
    for (let n = 1; n < 120; n++) {
      term *= -x2 / n;
      const d = term / (2 * n + 1);
      sum += d;
      if (Math.abs(d) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))), evaluated from the tail
  let f = a;
  for (let k = 80; k >= 1; k--) f = a + k / 2 / f;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/** GELU, exact: x * Phi(x) (PyTorch's default, approximate='none'). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function activate(x: number, act: Activation): number {
  switch (act) {
    case 'none':
      return x;
    case 'gelu_tanh':
      return geluTanh(x);
    case 'silu':
      return silu(x);
    case 'gelu':
      return gelu(x);
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
