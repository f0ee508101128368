// Reference elementwise operations.
import type { Activation } from '../backend.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation (PyTorch approximate='tanh'). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
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
