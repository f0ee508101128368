// Reference matmul with the fused epilogue, accumulating in f64.
import type { Activation } from '../backend.js';
import { activate } from './elementwise.js';

export interface MatmulRefOptions {
  bias?: Float32Array;
  activation?: Activation;
  /** [G, N]; row r uses gate row floor(r / (M / G)). */
  gate?: Float32Array;
  gateRows?: number;
  residual?: Float32Array;
}

/** y[M, N] = act(x[M, K] · w[N, K]ᵀ + bias) * gate + residual */
export function matmulRef(
  x: Float32Array,
  w: Float32Array,
  M: number,
  N: number,
  K: number,
  o: MatmulRefOptions = {},
): Float32Array {
  const y = new Float32Array(M * N);
  const act = o.activation ?? 'none';
  const rowsPerGate = o.gate ? M / (o.gateRows ?? 1) : 0;
  for (let m = 0; m < M; m++) {
    const xo = m * K;
    const g = o.gate ? Math.floor(m / rowsPerGate) * N : 0;
    for (let n = 0; n < N; n++) {
      const wo = n * K;
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[xo + k]! * w[wo + k]!;
      if (o.bias) acc += o.bias[n]!;
      acc = activate(acc, act);
      if (o.gate) acc *= o.gate[g + n]!;
      if (o.residual) acc += o.residual[m * N + n]!;
      y[m * N + n] = acc;
    }
  }
  return y;
}
