// The ggml tensor types a GGUF file may hold for diffusion weights: ids as stored in GGUF tensor infos,
// block sizes (elements) and bytes per block. Quantization runs along the innermost dimension (GGUF
// ne[0], the input dimension of a weight) in whole blocks. Facts from llama.cpp's ggml.h / gguf-py
// constants (docs: ../shared/docs/gguf.md).

export type FloatTypeName = 'F32' | 'F16' | 'BF16';
export type QuantTypeName =
  | 'Q4_0'
  | 'Q4_1'
  | 'Q5_0'
  | 'Q5_1'
  | 'Q8_0'
  | 'Q2_K'
  | 'Q3_K'
  | 'Q4_K'
  | 'Q5_K'
  | 'Q6_K';
export type GgmlTypeName = FloatTypeName | QuantTypeName;

export interface GgmlTypeInfo {
  name: GgmlTypeName;
  /** The id stored in a GGUF tensor info. */
  id: number;
  /** Elements per block (1 for the float types). */
  blockSize: number;
  /** Bytes per block. */
  blockBytes: number;
}

const table: GgmlTypeInfo[] = [
  { name: 'F32', id: 0, blockSize: 1, blockBytes: 4 },
  { name: 'F16', id: 1, blockSize: 1, blockBytes: 2 },
  { name: 'Q4_0', id: 2, blockSize: 32, blockBytes: 18 },
  { name: 'Q4_1', id: 3, blockSize: 32, blockBytes: 20 },
  { name: 'Q5_0', id: 6, blockSize: 32, blockBytes: 22 },
  { name: 'Q5_1', id: 7, blockSize: 32, blockBytes: 24 },
  { name: 'Q8_0', id: 8, blockSize: 32, blockBytes: 34 },
  { name: 'Q2_K', id: 10, blockSize: 256, blockBytes: 84 },
  { name: 'Q3_K', id: 11, blockSize: 256, blockBytes: 110 },
  { name: 'Q4_K', id: 12, blockSize: 256, blockBytes: 144 },
  { name: 'Q5_K', id: 13, blockSize: 256, blockBytes: 176 },
  { name: 'Q6_K', id: 14, blockSize: 256, blockBytes: 210 },
  { name: 'BF16', id: 30, blockSize: 1, blockBytes: 2 },
];

export const GGML_TYPES: ReadonlyMap<GgmlTypeName, GgmlTypeInfo> = new Map(table.map((t) => [t.name, t]));
export const GGML_TYPE_BY_ID: ReadonlyMap<number, GgmlTypeInfo> = new Map(table.map((t) => [t.id, t]));

/** Names of ggml types that exist but this engine does not read (for error messages). */
export const UNSUPPORTED_GGML_TYPES: ReadonlyMap<number, string> = new Map([
  [15, 'Q8_K'],
  [16, 'IQ2_XXS'],
  [17, 'IQ2_XS'],
  [18, 'IQ3_XXS'],
  [19, 'IQ1_S'],
  [20, 'IQ4_NL'],
  [21, 'IQ3_S'],
  [22, 'IQ2_S'],
  [23, 'IQ4_XS'],
  [24, 'I8'],
  [25, 'I16'],
  [26, 'I32'],
  [27, 'I64'],
  [28, 'F64'],
  [29, 'IQ1_M'],
  [34, 'TQ1_0'],
  [35, 'TQ2_0'],
  [39, 'MXFP4'],
]);

export const QUANT_TYPES: readonly QuantTypeName[] = [
  'Q8_0',
  'Q4_0',
  'Q4_1',
  'Q5_0',
  'Q5_1',
  'Q2_K',
  'Q3_K',
  'Q4_K',
  'Q5_K',
  'Q6_K',
];

export function isQuantType(t: string): t is QuantTypeName {
  return (QUANT_TYPES as readonly string[]).includes(t);
}

export function ggmlType(name: GgmlTypeName): GgmlTypeInfo {
  return GGML_TYPES.get(name)!;
}

/** Bytes of `count` elements of a type (count a multiple of the block size). */
export function ggmlBytes(name: GgmlTypeName, count: number): number {
  const t = ggmlType(name);
  if (count % t.blockSize !== 0)
    throw new RangeError(
      `${name}: ${count} elements are not a whole number of ${t.blockSize}-element blocks`,
    );
  return (count / t.blockSize) * t.blockBytes;
}
