// A WeightSource wrapper that reports loading progress: bytes of the tensors read so far out of the
// bytes of the tensors the model is expected to read (keys the source lacks are left out of the total).
import type { Backend } from '../backend.js';
import { ggmlBytes, isQuantType } from '../quant/ggml-types.js';
import type { Tensor } from '../tensor.js';
import type { ComputeDType, WeightSource } from './weights.js';

const ITEM_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, I8: 1 };

export function countingSource(
  src: WeightSource,
  expected: Iterable<string>,
  onProgress: (done: number, total: number) => void,
): WeightSource {
  const bytesOf = (key: string) => {
    const i = src.info(key);
    const n = i.shape.reduce((a, b) => a * b, 1);
    return isQuantType(i.dtype) ? ggmlBytes(i.dtype, n) : n * (ITEM_BYTES[i.dtype] ?? 4);
  };
  let total = 0;
  for (const k of expected) if (src.has(k)) total += bytesOf(k);
  let done = 0;
  const count = (key: string) => {
    done = Math.min(total, done + bytesOf(key));
    onProgress(done, total);
  };
  const wrapped: WeightSource = {
    path: src.path,
    keys: () => src.keys(),
    has: (k) => src.has(k),
    info: (k) => src.info(k),
    readF32: (k) => {
      const v = src.readF32(k);
      count(k);
      return v;
    },
    readF16Bits: (k) => {
      const v = src.readF16Bits(k);
      count(k);
      return v;
    },
  };
  if (src.readQuantized) {
    const read = src.readQuantized.bind(src);
    wrapped.readQuantized = (k) => {
      const v = read(k);
      count(k);
      return v;
    };
  }
  if (src.deviceTensor) {
    const make = src.deviceTensor.bind(src);
    wrapped.deviceTensor = (
      be: Backend,
      key: string,
      shape: readonly number[],
      dtype: ComputeDType,
    ): Tensor => {
      const t = make(be, key, shape, dtype);
      for (const k of key.split('|')) if (src.has(k)) count(k);
      return t;
    };
  }
  return wrapped;
}
