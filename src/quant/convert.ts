// safetensors (or GGUF) → GGUF in the community's layout: the original tensor names, general.architecture
// set (`flux` for FLUX.1 transformers), 2-D weights whose rows are whole blocks in the chosen type,
// 1-D tensors (biases, norm scales) in F32, and any other tensor in F16. Tensors are read, converted
// and written one at a time, so a 24 GB checkpoint never sits in memory.
import { type GgufMetadataValue, type GgufTensorToWrite, writeGguf } from '../io/gguf.js';
import type { WeightSource } from '../models/weights.js';
import { type GgmlTypeName, ggmlBytes, ggmlType, isQuantType } from './ggml-types.js';
import { quantize } from './quantize.js';

/** Types a whole model can be converted to. */
export const CONVERT_TYPES = [
  'F32',
  'F16',
  'BF16',
  'Q8_0',
  'Q6_K',
  'Q5_K',
  'Q5_1',
  'Q5_0',
  'Q4_K',
  'Q4_1',
  'Q4_0',
  'Q3_K',
  'Q2_K',
] as const satisfies readonly GgmlTypeName[];
export type ConvertType = (typeof CONVERT_TYPES)[number];

/** general.file_type (llama.cpp's LlamaFileType) for a file converted to one type. */
const FILE_TYPE: Record<ConvertType, number> = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q8_0: 7,
  Q5_0: 8,
  Q5_1: 9,
  Q2_K: 10,
  Q3_K: 12, // Q3_K_M: the "all Q3_K" file type has no own id; M is the common name for it
  Q4_K: 15, // Q4_K_M likewise
  Q5_K: 17, // Q5_K_M
  Q6_K: 18,
  BF16: 32,
};

/**
 * Tensors this small stay in F32 whatever the target (llama.cpp and the FLUX converters keep tiny and
 * 1-D tensors unquantized: quantizing them saves nothing and costs accuracy).
 */
export const SMALL_TENSOR_ELEMENTS = 1024;

/**
 * For rows that are not whole 256-element blocks, the 32-element type a K-quant falls back to (as
 * llama.cpp's quantizer does: Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0; for Q2_K/Q3_K it uses IQ4_NL,
 * which this program does not read, so Q4_0, the nearest size, here).
 */
export const K_FALLBACK: Record<string, GgmlTypeName> = {
  Q2_K: 'Q4_0',
  Q3_K: 'Q4_0',
  Q4_K: 'Q5_0',
  Q5_K: 'Q5_1',
  Q6_K: 'Q8_0',
};

/** The stored type of one tensor when a model is converted to `target`. */
export function tensorTypeFor(shape: readonly number[], target: ConvertType): GgmlTypeName {
  const n = shape.reduce((a, b) => a * b, 1);
  if (shape.length < 2 || n <= SMALL_TENSOR_ELEMENTS) return 'F32';
  if (!isQuantType(target)) return target;
  const cols = shape.at(-1)!;
  if (cols % ggmlType(target).blockSize === 0) return target;
  const fallback = K_FALLBACK[target];
  if (fallback && cols % ggmlType(fallback).blockSize === 0) return fallback;
  return 'F16';
}

export interface ConvertOptions {
  type: ConvertType;
  /** general.architecture: 'flux' for FLUX.1 transformers. */
  architecture: string;
  /** general.name (default: none). */
  name?: string;
  /** Keys to leave out (e.g. fixture inputs). */
  skip?: (key: string) => boolean;
  /** Called after each tensor is converted (bytes written so far, total). */
  onTensor?: (key: string, done: number, total: number) => void;
}

export interface ConvertSummary {
  tensors: number;
  /** How many tensors were stored in each type. */
  types: Map<GgmlTypeName, number>;
  bytes: number;
}

/** Converts every tensor of `src` into a GGUF file at `out` (written atomically). */
export function convertToGguf(src: WeightSource, out: string, o: ConvertOptions): ConvertSummary {
  const keys = src.keys().filter((k) => !o.skip?.(k));
  const types = new Map<GgmlTypeName, number>();
  let bytes = 0;
  let done = 0;
  const tensors: [string, GgufTensorToWrite][] = keys.map((key) => {
    const shape = src.info(key).shape;
    const type = tensorTypeFor(shape, o.type);
    const n = shape.reduce((a, b) => a * b, 1);
    types.set(type, (types.get(type) ?? 0) + 1);
    bytes += ggmlBytes(type, n);
    return [
      key,
      {
        type,
        shape: shape.length ? shape : [1],
        bytes: () => {
          const b = quantize(type, src.readF32(key));
          o.onTensor?.(key, ++done, keys.length);
          return b;
        },
      },
    ];
  });
  const metadata: [string, GgufMetadataValue][] = [
    ['general.architecture', { type: 'string', value: o.architecture }],
    ['general.quantization_version', { type: 'u32', value: 2 }],
    ['general.file_type', { type: 'u32', value: FILE_TYPE[o.type] }],
  ];
  if (o.name) metadata.push(['general.name', { type: 'string', value: o.name }]);
  // a safetensors file's __metadata__ (e.g. this project's `config`) travels as safetensors.<key>
  const meta = (src as { metadata?: Record<string, string> }).metadata ?? {};
  for (const [k, v] of Object.entries(meta))
    if (!k.includes('.') && typeof v === 'string')
      metadata.push([`safetensors.${k}`, { type: 'string', value: v }]);
  writeGguf(out, metadata, tensors);
  return { tensors: keys.length, types, bytes };
}
