// The model's parameters on the device: loading from checkpoints in either key layout (tensor by
// tensor, converted to the compute dtype on the host, never the whole file in memory), seeded random
// initialisation on the device, and the module tree (FluxWeights) the forward pass reads, which mirrors
// the original release's keys.
import type { Backend } from '../../backend.js';
import { SafetensorsError } from '../../io/safetensors-format.js';
import { ggmlBytes, ggmlType, isQuantType, type QuantTypeName } from '../../quant/ggml-types.js';
import { bytesToWords, QuantizedMatrix } from '../../quant/quantized-matrix.js';
import { heldBytes, RowSplitMatrix, type Weight } from '../../row-split.js';
import type { Tensor } from '../../tensor.js';
import { shapeStr } from '../../util/shape.js';
import type { WeightSource } from '../weights.js';
import { configFromObject, type FluxConfig, mlpHidden, validateConfig } from './config.js';
import {
  canonicalShapes,
  detectLayout,
  type KeyLayout,
  type Source,
  sourcesFor,
  storedShapes,
} from './layouts.js';
import {
  type BlockKind,
  BlockStreamer,
  type HostPart,
  isStreamed,
  type PartSize,
  planResidency,
  type ResidencyPlan,
  uploadPart,
} from './residency.js';

export type ComputeDType = 'f32' | 'f16';

/**
 * A weight matrix: dense, kept in a ggml block format (GGUF checkpoints), or row pieces of either (a
 * matrix larger than one storage binding).
 */
export type { Weight };

export interface Linear {
  /** [out, in] (nn.Linear layout). */
  weight: Weight;
  bias?: Tensor;
}
export interface MLPEmbedder {
  in_layer: Linear;
  out_layer: Linear;
}
/** Learned RMSNorm scales [head_dim] for queries and keys. */
export interface QKNorm {
  query_norm: { scale: Tensor };
  key_norm: { scale: Tensor };
}
export interface SelfAttentionWeights {
  qkv: Linear;
  norm: QKNorm;
  proj: Linear;
}
export interface DoubleBlockWeights {
  img_mod: { lin: Linear };
  img_attn: SelfAttentionWeights;
  img_mlp: { 0: Linear; 2: Linear };
  txt_mod: { lin: Linear };
  txt_attn: SelfAttentionWeights;
  txt_mlp: { 0: Linear; 2: Linear };
}
/**
 * linear1 and linear2 are kept split where the checkpoint has one matrix each, so the block needs no
 * slice or concat: linear1 = qkv rows | mlp rows; linear2 = attn columns | mlp columns (+ one bias).
 */
export interface SingleBlockWeights {
  linear1: { qkv: Linear; mlp: Linear };
  linear2: { attn: { weight: Weight }; mlp: { weight: Weight }; bias: Tensor };
  norm: QKNorm;
  modulation: { lin: Linear };
}
export interface FluxWeights {
  img_in: Linear;
  time_in: MLPEmbedder;
  vector_in: MLPEmbedder;
  guidance_in?: MLPEmbedder;
  txt_in: Linear;
  double_blocks: DoubleBlockWeights[];
  single_blocks: SingleBlockWeights[];
  final_layer: { linear: Linear; adaLN_modulation: { 1: Linear } };
}

/** A device tensor made from a row or column range of one canonical tensor. */
interface Part {
  name: string;
  shape: number[];
  rows?: [number, number];
  cols?: [number, number];
}

const LINEAR1 = /^(single_blocks\.\d+\.linear1)\.(weight|bias)$/;
const LINEAR2 = /^(single_blocks\.\d+\.linear2)\.weight$/;

/** The device tensors one canonical tensor becomes (itself, except the single blocks' split linears). */
export function deviceParts(canon: string, shape: number[], c: FluxConfig): Part[] {
  const H = c.hidden_size;
  const M = mlpHidden(c);
  let m = LINEAR1.exec(canon);
  if (m) {
    const rest = shape.slice(1);
    return [
      { name: `${m[1]}.qkv.${m[2]}`, shape: [3 * H, ...rest], rows: [0, 3 * H] },
      { name: `${m[1]}.mlp.${m[2]}`, shape: [M, ...rest], rows: [3 * H, 3 * H + M] },
    ];
  }
  m = LINEAR2.exec(canon);
  if (m) {
    return [
      { name: `${m[1]}.attn.weight`, shape: [H, H], cols: [0, H] },
      { name: `${m[1]}.mlp.weight`, shape: [H, M], cols: [H, H + M] },
    ];
  }
  return [{ name: canon, shape }];
}

type HostArray = Float32Array | Uint16Array;

function extract(src: HostArray, shape: number[], part: Part): HostArray {
  if (part.rows) {
    const inner = shape.slice(1).reduce((a, b) => a * b, 1);
    return src.subarray(part.rows[0] * inner, part.rows[1] * inner);
  }
  if (part.cols) {
    const [R, C] = shape as [number, number];
    const [c0, c1] = part.cols;
    const out = new (src.constructor as { new (n: number): HostArray })(R * (c1 - c0));
    for (let r = 0; r < R; r++) out.set(src.subarray(r * C + c0, r * C + c1), r * (c1 - c0));
    return out;
  }
  return src;
}

function weightBytes(t: Weight): number {
  return t instanceof QuantizedMatrix || t instanceof RowSplitMatrix ? t.bytes : heldBytes(t);
}

/**
 * Parameters on the device, by device-part name, plus the module tree over them. With a memory plan
 * (residency.ts) some blocks are not in `tensors`: their parameters are on the host and the tree's entries
 * for them point at device slots, filled by enterBlock() before the block runs.
 */
export class FluxParams {
  readonly tree: FluxWeights;

  constructor(
    readonly config: FluxConfig,
    readonly dtype: ComputeDType,
    /** The resident parameters. */
    readonly tensors: Map<string, Weight>,
    /** The streamed blocks' host copies and slots (null: everything resident). */
    readonly streamer: BlockStreamer | null = null,
  ) {
    this.tree = buildTree(streamer ? new Map([...tensors, ...streamer.views]) : tensors, config);
  }

  /** The memory plan (null: every block resident). */
  get plan(): ResidencyPlan | null {
    return this.streamer?.plan ?? null;
  }

  /**
   * Makes block `index` of `kind` ready to be recorded (a streamed block is written into its slot unless
   * it is there already); the forward calls it before each block, and leaveBlock() after it.
   */
  enterBlock(kind: BlockKind, index: number): void {
    this.streamer?.enter(kind, index);
  }

  /** After a block's launches are recorded: starts writing the next streamed block. */
  leaveBlock(kind: BlockKind, index: number): void {
    this.streamer?.leave(kind, index);
  }

  /** Bytes held on the device (resident parameters and streaming slots; f16 is 4 bytes on the CPU). */
  get bytes(): number {
    let n = this.streamer?.slotBytes ?? 0;
    for (const t of this.tensors.values()) n += weightBytes(t);
    return n;
  }

  /** A resident dense parameter by device-part name (tests, tools); throws for any other. */
  dense(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`no resident parameter ${name}`);
    if (t instanceof QuantizedMatrix) throw new Error(`parameter ${name} is kept quantized (${t.type})`);
    if (t instanceof RowSplitMatrix) throw new Error(`parameter ${name} is held in ${t.parts.length} pieces`);
    return t;
  }

  /** How many matrices are kept quantized, by type. */
  get quantized(): Map<QuantTypeName, number> {
    const m = new Map<QuantTypeName, number>();
    const count = (t: Weight) => {
      const q = t instanceof RowSplitMatrix ? t.parts[0] : t;
      if (q instanceof QuantizedMatrix) m.set(q.type, (m.get(q.type) ?? 0) + 1);
    };
    for (const t of this.tensors.values()) count(t);
    for (const t of this.streamer?.views.values() ?? []) count(t);
    return m;
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
    this.streamer?.dispose();
  }
}

function buildTree(p: Map<string, Weight>, c: FluxConfig): FluxWeights {
  const weight = (name: string): Weight => {
    const t = p.get(name);
    if (!t) throw new Error(`internal: parameter ${name} was not loaded`);
    return t;
  };
  const get = (name: string): Tensor => {
    const t = weight(name);
    if (t instanceof QuantizedMatrix || t instanceof RowSplitMatrix)
      throw new Error(`internal: parameter ${name} must be one dense tensor`);
    return t;
  };
  const linear = (name: string): Linear => {
    const bias = p.has(`${name}.bias`) ? get(`${name}.bias`) : undefined;
    return bias ? { weight: weight(`${name}.weight`), bias } : { weight: weight(`${name}.weight`) };
  };
  const embedder = (name: string): MLPEmbedder => ({
    in_layer: linear(`${name}.in_layer`),
    out_layer: linear(`${name}.out_layer`),
  });
  const qkNorm = (name: string): QKNorm => ({
    query_norm: { scale: get(`${name}.query_norm.scale`) },
    key_norm: { scale: get(`${name}.key_norm.scale`) },
  });
  const attn = (name: string): SelfAttentionWeights => ({
    qkv: linear(`${name}.qkv`),
    norm: qkNorm(`${name}.norm`),
    proj: linear(`${name}.proj`),
  });
  const tree: FluxWeights = {
    img_in: linear('img_in'),
    time_in: embedder('time_in'),
    vector_in: embedder('vector_in'),
    txt_in: linear('txt_in'),
    double_blocks: [],
    single_blocks: [],
    final_layer: {
      linear: linear('final_layer.linear'),
      adaLN_modulation: { 1: linear('final_layer.adaLN_modulation.1') },
    },
  };
  if (c.guidance_embed) tree.guidance_in = embedder('guidance_in');
  for (let i = 0; i < c.depth; i++) {
    const b = `double_blocks.${i}`;
    tree.double_blocks.push({
      img_mod: { lin: linear(`${b}.img_mod.lin`) },
      img_attn: attn(`${b}.img_attn`),
      img_mlp: { 0: linear(`${b}.img_mlp.0`), 2: linear(`${b}.img_mlp.2`) },
      txt_mod: { lin: linear(`${b}.txt_mod.lin`) },
      txt_attn: attn(`${b}.txt_attn`),
      txt_mlp: { 0: linear(`${b}.txt_mlp.0`), 2: linear(`${b}.txt_mlp.2`) },
    });
  }
  for (let i = 0; i < c.depth_single_blocks; i++) {
    const b = `single_blocks.${i}`;
    tree.single_blocks.push({
      linear1: { qkv: linear(`${b}.linear1.qkv`), mlp: linear(`${b}.linear1.mlp`) },
      linear2: {
        attn: { weight: weight(`${b}.linear2.attn.weight`) },
        mlp: { weight: weight(`${b}.linear2.mlp.weight`) },
        bias: get(`${b}.linear2.bias`),
      },
      norm: qkNorm(`${b}.norm`),
      modulation: { lin: linear(`${b}.modulation.lin`) },
    });
  }
  return tree;
}

// ---- random initialisation -------------------------------------------------------------------------

export interface RandomInitOptions {
  dtype: ComputeDType;
  seed?: number;
}

/**
 * Seeded random parameters generated on the device (for benchmarks and tests without weights): weights
 * N(0, 1/fan_in), biases N(0, 0.02²), RMSNorm scales 1. The same seed gives the same parameters on
 * every backend.
 */
export function randomParams(be: Backend, config: FluxConfig, o: RandomInitOptions): FluxParams {
  validateConfig(config);
  const seed = o.seed ?? 0;
  const tensors = new Map<string, Weight>();
  let n = 0;
  for (const [canon, shape] of canonicalShapes(config)) {
    for (const part of deviceParts(canon, shape, config)) {
      const s = (Math.imul(seed, 0x9e3779b1) + Math.imul(++n, 0x85ebca6b)) >>> 0;
      let t: Tensor;
      if (canon.endsWith('.scale'))
        t = be.tensor(new Float32Array(part.shape[0]!).fill(1), part.shape, o.dtype);
      else if (canon.endsWith('.bias')) t = be.random(part.shape, o.dtype, { seed: s, std: 0.02 });
      else t = be.random(part.shape, o.dtype, { seed: s, std: 1 / Math.sqrt(shape[1]!) });
      tensors.set(part.name, be.keep(t));
    }
  }
  return new FluxParams(config, o.dtype, tensors);
}

// ---- loading ------------------------------------------------------------------------------------------

export class FluxCheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FluxCheckpointError';
  }
}

export interface LoadOptions {
  dtype: ComputeDType;
  /** Stored keys that are not parameters and should be passed over (e.g. fixture inputs `in.*`). */
  ignoreKeys?: (key: string) => boolean;
  /** Called after each canonical tensor is on the device. */
  onTensor?: (key: string, done: number, total: number) => void;
  /**
   * Weight matrices stored in a ggml block format (GGUF): 'keep' (default) puts the blocks on the device
   * and the matmul kernels dequantize as they go; 'dequantize' expands them to the compute dtype at load.
   */
  quantized?: 'keep' | 'dequantize';
  /**
   * Device bytes the parameters may hold (resident parameters plus streaming slots). When they all
   * need more, the last double- and single-stream blocks stay on the host and are written into device
   * slots before they run (residency.ts; paramBudget() turns a device budget into this). Default: no
   * limit, everything resident.
   */
  maxParamBytes?: number;
  /** Device slots per block kind for streamed blocks (default 2). */
  streamSlots?: number;
  /**
   * The largest tensor one binding may hold (default: be.maxTensorBytes(), WebGPU's
   * maxStorageBufferBindingSize); a larger weight matrix is held as row pieces (RowSplitMatrix).
   */
  maxTensorBytes?: number;
}

const FLOAT_STORAGE = new Set(['F32', 'F16', 'BF16', 'F64']);

/**
 * Loads every parameter of `config` from a checkpoint in the original or the diffusers layout
 * (detected from the keys; a common exporter prefix is allowed). Everything is checked before the first
 * upload: a missing key, a key that belongs to no parameter, a wrong shape or a non-float dtype is an
 * error naming the key. Stored f32/f16/bf16/f64 is converted to the compute dtype on the host.
 */
export function loadParams(be: Backend, ck: WeightSource, config: FluxConfig, o: LoadOptions): FluxParams {
  validateConfig(config);
  const { layout, prefix } = detectLayoutOf(ck);
  const shapes = canonicalShapes(config);
  const sources = sourcesFor(config, layout);
  const where = `${ck.path} (${layout} layout${prefix ? `, prefix "${prefix}"` : ''})`;

  const used = new Set<string>();
  const missing: string[] = [];
  for (const [canon, src] of sources) {
    for (const { key, shape } of storedShapes(src, shapes.get(canon)!)) {
      const k = prefix + key;
      used.add(k);
      if (!ck.has(k)) {
        missing.push(k);
        continue;
      }
      const info = ck.info(k);
      if (!FLOAT_STORAGE.has(info.dtype) && !(isQuantType(info.dtype) && ck.readQuantized))
        throw new FluxCheckpointError(`${where}: "${k}" is stored as ${info.dtype}; expected a float dtype`);
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i]))
        throw new FluxCheckpointError(
          `${where}: "${k}" has shape ${shapeStr(info.shape)}, expected ${shapeStr(shape)} for this config${hint(config)}`,
        );
    }
  }
  if (missing.length)
    throw new FluxCheckpointError(
      `${where}: missing key${missing.length > 1 ? 's' : ''} ${list(missing)}${hint(config)}`,
    );
  const extra = ck.keys().filter((k) => !used.has(k) && !o.ignoreKeys?.(k));
  if (extra.length)
    throw new FluxCheckpointError(
      `${where}: unexpected key${extra.length > 1 ? 's' : ''} ${list(extra)}: not a parameter of this config${hint(config)}`,
    );

  const keepQuantized = (src: Source, shape: number[], parts: Part[]) =>
    o.quantized !== 'dequantize' ? quantizedTypeOf(ck, prefix, src, shape, parts) : null;
  let plan: ResidencyPlan | null = null;
  if (o.maxParamBytes !== undefined) {
    const valueBytes = be.name === 'cpu' || o.dtype === 'f32' ? 4 : 2;
    const sizes: PartSize[] = [];
    for (const [canon, src] of sources) {
      const shape = shapes.get(canon)!;
      const parts = deviceParts(canon, shape, config);
      const type = keepQuantized(src, shape, parts);
      for (const p of parts) sizes.push(partSize(p, type, valueBytes, o.dtype));
    }
    plan = planResidency(config, sizes, o.maxParamBytes, o.streamSlots);
    if (!plan.double.length && !plan.single.length) plan = null;
  }

  const maxTensorBytes = o.maxTensorBytes ?? be.maxTensorBytes();
  const tensors = new Map<string, Weight>();
  const host = new Map<string, HostPart>();
  const keep = (name: string, part: HostPart) => {
    if (isStreamed(plan, name)) host.set(name, part);
    else tensors.set(name, uploadPart(be, part, maxTensorBytes));
  };
  try {
    let done = 0;
    for (const [canon, src] of sources) {
      const shape = shapes.get(canon)!;
      const parts = deviceParts(canon, shape, config);
      const q = keepQuantized(src, shape, parts) && readCanonicalQuantized(ck, prefix, src, shape, parts);
      if (q) {
        for (const part of parts)
          keep(part.name, {
            shape: part.shape,
            data: bytesToWords(extractBlocks(q, shape, part)),
            quant: q.type,
          });
      } else {
        const data = readCanonical(ck, prefix, src, shape, o.dtype);
        for (const part of parts) {
          const values = extract(data, shape, part);
          // a streamed part keeps its own copy, not a view of the whole canonical tensor (or a reader's buffer)
          keep(part.name, {
            shape: part.shape,
            data: isStreamed(plan, part.name) ? values.slice() : values,
          });
        }
      }
      o.onTensor?.(canon, ++done, sources.size);
    }
    return new FluxParams(
      config,
      o.dtype,
      tensors,
      plan && new BlockStreamer(be, plan, host, maxTensorBytes),
    );
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    if (e instanceof SafetensorsError) throw new FluxCheckpointError(e.message);
    throw e;
  }
}

/** A device part's size as loading will hold it, and its storage signature (residency.ts). */
function partSize(p: Part, type: QuantTypeName | null, valueBytes: number, dtype: ComputeDType): PartSize {
  if (type) {
    const bytes = Math.ceil((p.shape[0]! * ggmlBytes(type, p.shape[1]!)) / 4) * 4;
    return { name: p.name, bytes, signature: `${type} ${p.shape.join('x')}` };
  }
  const n = p.shape.reduce((a, b) => a * b, 1);
  return { name: p.name, bytes: n * valueBytes, signature: `${dtype} ${p.shape.join('x')}` };
}

function detectLayoutOf(ck: WeightSource): { layout: KeyLayout; prefix: string } {
  try {
    return detectLayout((k) => ck.has(k));
  } catch (e) {
    throw new FluxCheckpointError(`${ck.path}: ${(e as Error).message}`);
  }
}

function hint(c: FluxConfig): string {
  return ` (config: hidden_size ${c.hidden_size}, depth ${c.depth}, depth_single_blocks ${c.depth_single_blocks}, guidance_embed ${c.guidance_embed}, qkv_bias ${c.qkv_bias})`;
}

function list(keys: string[]): string {
  const shown = keys.slice(0, 3).map((k) => `"${k}"`);
  return keys.length > 3 ? `${shown.join(', ')} and ${keys.length - 3} more` : shown.join(', ');
}

// ---- quantized matrices ------------------------------------------------------------------------------

function storedKeys(prefix: string, src: Source): string[] {
  return src.op === 'concat' ? src.parts.map((p) => prefix + p.key) : [prefix + src.key];
}

/**
 * The ggml type a 2-D canonical tensor is kept in: its stored tensors' one block type, when every
 * device part can be cut from them on block boundaries; null means "load it dense". Reads headers only.
 */
function quantizedTypeOf(
  ck: WeightSource,
  prefix: string,
  src: Source,
  shape: number[],
  parts: Part[],
): QuantTypeName | null {
  if (shape.length !== 2 || !ck.readQuantized) return null;
  const types = new Set(storedKeys(prefix, src).map((k) => ck.info(k).dtype));
  const type = [...types][0]!;
  if (types.size !== 1 || !isQuantType(type)) return null;
  const block = ggmlType(type).blockSize;
  if (shape[1]! % block !== 0) return null;
  for (const p of parts) if (p.cols && (p.cols[0] % block !== 0 || p.cols[1] % block !== 0)) return null;
  return type;
}

interface CanonicalBlocks {
  type: QuantTypeName;
  /** The canonical tensor's blocks, row after row. */
  bytes: Uint8Array;
  rowBytes: number;
}

/**
 * The raw blocks of a 2-D canonical tensor whose stored tensors are all block-quantized in one type,
 * when every device part can be cut from them on block boundaries; null means "load it dense".
 */
function readCanonicalQuantized(
  ck: WeightSource,
  prefix: string,
  src: Source,
  shape: number[],
  parts: Part[],
): CanonicalBlocks | null {
  const type = quantizedTypeOf(ck, prefix, src, shape, parts);
  if (!type || !ck.readQuantized) return null;
  const keys = storedKeys(prefix, src);
  const rowBytes = ggmlBytes(type, shape[1]!);
  const stored = keys.map((k) => ck.readQuantized!(k).bytes);
  const bytes = new Uint8Array(shape[0]! * rowBytes);
  if (src.op === 'swap') {
    const half = (shape[0]! / 2) * rowBytes;
    bytes.set(stored[0]!.subarray(half), 0);
    bytes.set(stored[0]!.subarray(0, half), half);
  } else {
    let o = 0;
    for (const b of stored) {
      bytes.set(b, o);
      o += b.length;
    }
  }
  return { type, bytes, rowBytes };
}

/** The blocks of one device part (a row range, or a column range cut on block boundaries). */
function extractBlocks(q: CanonicalBlocks, shape: number[], part: Part): Uint8Array {
  if (part.rows) return q.bytes.subarray(part.rows[0] * q.rowBytes, part.rows[1] * q.rowBytes);
  if (part.cols) {
    const t = ggmlType(q.type);
    const [c0, c1] = part.cols.map((c) => (c / t.blockSize) * t.blockBytes) as [number, number];
    const out = new Uint8Array(shape[0]! * (c1 - c0));
    for (let r = 0; r < shape[0]!; r++)
      out.set(q.bytes.subarray(r * q.rowBytes + c0, r * q.rowBytes + c1), r * (c1 - c0));
    return out;
  }
  return q.bytes;
}

function readOne(ck: WeightSource, key: string, dtype: ComputeDType): HostArray {
  return dtype === 'f16' ? ck.readF16Bits(key) : ck.readF32(key);
}

/** One canonical tensor as host values of the compute dtype (f16 as bit patterns). */
function readCanonical(
  ck: WeightSource,
  prefix: string,
  src: Source,
  shape: number[],
  dtype: ComputeDType,
): HostArray {
  if (src.op === 'copy') return readOne(ck, prefix + src.key, dtype);
  const n = shape.reduce((a, b) => a * b, 1);
  const out = dtype === 'f16' ? new Uint16Array(n) : new Float32Array(n);
  const inner = n / shape[0]!;
  if (src.op === 'swap') {
    const data = readOne(ck, prefix + src.key, dtype);
    const half = (shape[0]! / 2) * inner;
    out.set(data.subarray(half), 0);
    out.set(data.subarray(0, half), half);
    return out;
  }
  let row = 0;
  for (const p of src.parts) {
    out.set(readOne(ck, prefix + p.key, dtype), row * inner);
    row += p.rows;
  }
  return out;
}

// ---- config from a checkpoint ------------------------------------------------------------------------

/** What config inference and loading read: a safetensors reader, a GGUF reader, or anything alike. */
export type CheckpointLike = WeightSource & { readonly metadata: Record<string, string> };

/**
 * The config a checkpoint describes: its __metadata__.config JSON when present, else inferred from the
 * tensor shapes (axes_dim and theta cannot be inferred; Flux's [16, 56, 56] and 10000 are assumed for
 * head dim 128, any other head dim needs an explicit config).
 */
export function configFromCheckpoint(ck: CheckpointLike): {
  config: FluxConfig;
  source: 'metadata' | 'shapes';
} {
  const meta = ck.metadata.config;
  if (meta !== undefined) {
    let o: unknown;
    try {
      o = JSON.parse(meta);
    } catch (e) {
      throw new FluxCheckpointError(
        `${ck.path}: __metadata__.config is not valid JSON (${(e as Error).message})`,
      );
    }
    return { config: configFromObject(o, `${ck.path}: __metadata__.config`), source: 'metadata' };
  }
  const { layout, prefix } = detectLayoutOf(ck);
  const names: Record<string, [string, string]> = {
    imgIn: ['img_in.weight', 'x_embedder.weight'],
    txtIn: ['txt_in.weight', 'context_embedder.weight'],
    vecIn: ['vector_in.in_layer.weight', 'time_text_embed.text_embedder.linear_1.weight'],
    out: ['final_layer.linear.weight', 'proj_out.weight'],
    guidance: ['guidance_in.in_layer.weight', 'time_text_embed.guidance_embedder.linear_1.weight'],
    doubleNorm: ['double_blocks.0.img_attn.norm.query_norm.scale', 'transformer_blocks.0.attn.norm_q.weight'],
    singleNorm: ['single_blocks.0.norm.query_norm.scale', 'single_transformer_blocks.0.attn.norm_q.weight'],
    doubleMlp: ['double_blocks.0.img_mlp.0.weight', 'transformer_blocks.0.ff.net.0.proj.weight'],
    singleOut: ['single_blocks.0.linear2.weight', 'single_transformer_blocks.0.proj_out.weight'],
    qkvBias: ['double_blocks.0.img_attn.qkv.bias', 'transformer_blocks.0.attn.to_q.bias'],
  };
  const key = (n: string) => prefix + names[n]![layout === 'original' ? 0 : 1];
  const shapeOf = (n: string): number[] | undefined => (ck.has(key(n)) ? ck.info(key(n)).shape : undefined);
  const need = (n: string): number[] => {
    const s = shapeOf(n);
    if (!s) throw new FluxCheckpointError(`${ck.path}: cannot infer the config: "${key(n)}" is missing`);
    return s;
  };
  const count = (re: RegExp) => {
    let n = 0;
    for (const k of ck.keys()) {
      const m = re.exec(k.slice(prefix.length));
      if (k.startsWith(prefix) && m) n = Math.max(n, Number(m[1]) + 1);
    }
    return n;
  };
  const [H, inCh] = need('imgIn') as [number, number];
  const depth = count(layout === 'original' ? /^double_blocks\.(\d+)\./ : /^transformer_blocks\.(\d+)\./);
  const single = count(
    layout === 'original' ? /^single_blocks\.(\d+)\./ : /^single_transformer_blocks\.(\d+)\./,
  );
  const norm = shapeOf('doubleNorm') ?? shapeOf('singleNorm');
  if (!norm) throw new FluxCheckpointError(`${ck.path}: cannot infer the head dimension: no blocks`);
  const D = norm[0]!;
  const mlp = shapeOf('doubleMlp')?.[0] ?? need('singleOut')[1]! - H;
  if (D !== 128)
    throw new FluxCheckpointError(
      `${ck.path}: head dimension ${D} differs from Flux's 128, so axes_dim cannot be assumed: give the config explicitly`,
    );
  const config: FluxConfig = {
    in_channels: inCh,
    out_channels: need('out')[0]!,
    vec_in_dim: need('vecIn')[1]!,
    context_in_dim: need('txtIn')[1]!,
    hidden_size: H,
    mlp_ratio: mlp / H,
    num_heads: H / D,
    depth,
    depth_single_blocks: single,
    axes_dim: [16, 56, 56],
    theta: 10000,
    qkv_bias: depth === 0 || shapeOf('qkvBias') !== undefined,
    guidance_embed: shapeOf('guidance') !== undefined,
  };
  try {
    return { config: validateConfig(config), source: 'shapes' };
  } catch (e) {
    throw new FluxCheckpointError(`${ck.path}: inferred config is inconsistent: ${(e as Error).message}`);
  }
}
