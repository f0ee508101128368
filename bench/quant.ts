// Quantization measurements for docs/quant.md: round-trip error of every type on Gaussian weights
// and CPU dequantization speed.
//   npm run build && node dist/bench/quant.js [--mib 64]
import { dequantize, dequantizeInto } from '../src/quant/dequant.js';
import { type GgmlTypeName, ggmlBytes, ggmlType, QUANT_TYPES } from '../src/quant/ggml-types.js';
import { quantize } from '../src/quant/quantize.js';
import { Rng } from '../src/util/random.js';

function rms(a: Float32Array, b?: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = b ? a[i]! - b[i]! : a[i]!;
    s += d * d;
  }
  return Math.sqrt(s / a.length);
}

const mibArg = process.argv.indexOf('--mib');
const mib = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 64;

console.log('round trip on N(0, 1) weights, 1M values: RMS(dequantize(quantize(x)) − x) / RMS(x)');
const x = new Rng(7).normals(1 << 20);
const types: GgmlTypeName[] = ['F16', 'BF16', ...QUANT_TYPES];
for (const t of types) {
  const t0 = performance.now();
  const q = quantize(t, x);
  const qMs = performance.now() - t0;
  const y = dequantize(t, q, x.length);
  const bpw = (8 * q.length) / x.length;
  console.log(
    `${t.padEnd(5)} ${bpw.toFixed(3)} bits/weight  rel RMS ${(rms(y, x) / rms(x)).toExponential(3)}  quantize ${((x.length / qMs) * 1e-3).toFixed(2)} Melem/s`,
  );
}

console.log(`\ndequantize speed (${mib} MiB of output per type, best of 5):`);
const count = (mib * 1024 * 1024) / 4;
const out = new Float32Array(count);
for (const t of QUANT_TYPES) {
  const bytes = new Uint8Array(ggmlBytes(t, count));
  const r = new Rng(3);
  for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(256);
  // finite, moderate f16 scales: re-quantize a few real blocks over the random bytes
  const block = quantize(t, new Rng(5).normals(ggmlType(t).blockSize));
  for (let o = 0; o < bytes.length; o += block.length * 64) bytes.set(block, o);
  let best = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    dequantizeInto(t, bytes, count, out, 0);
    best = Math.min(best, performance.now() - t0);
  }
  const s = best / 1000;
  console.log(
    `${t.padEnd(5)} ${(count / s / 1e6).toFixed(0).padStart(5)} Melem/s  ${(bytes.length / s / 1e6).toFixed(0).padStart(5)} MB/s in  ${((4 * count) / s / 1e6).toFixed(0).padStart(5)} MB/s out`,
  );
}
