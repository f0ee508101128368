// Plausible upper bounds for model hyper-parameters and run sizes, and an estimate of the memory a run
// needs. A config decides how many tensors are listed and how large the buffers are, so each field is
// checked before anything is sized from it: a hostile __metadata__.config or --config with depth
// 1,000,000 must fail in milliseconds with a message, not allocate gigabytes and abort. The bounds are
// about 10x the largest released model each family is used with (FLUX.1, T5-XXL, CLIP-L, the FLUX
// autoencoder), loose enough for any real variant and tight enough that no single field can ask for an
// absurd allocation.
import { constants } from 'node:buffer';
import { freemem, totalmem } from 'node:os';

/** A bound on one integer (or number) field, with the real value it was derived from. */
export interface FieldLimit {
  min: number;
  max: number;
  /** What the largest real model has ("FLUX.1: 19"), quoted in the message. */
  real: string;
  /** Integer fields (default true). */
  integer?: boolean;
}

export class ConfigLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigLimitError';
  }
}

export const FLUX_LIMITS: Record<string, FieldLimit> = {
  in_channels: { min: 1, max: 4096, real: 'FLUX.1: 64' },
  out_channels: { min: 1, max: 4096, real: 'FLUX.1: 64' },
  vec_in_dim: { min: 1, max: 8192, real: 'FLUX.1: 768' },
  context_in_dim: { min: 1, max: 40960, real: 'FLUX.1: 4096' },
  hidden_size: { min: 1, max: 30720, real: 'FLUX.1: 3072' },
  mlp_ratio: { min: Number.MIN_VALUE, max: 16, real: 'FLUX.1: 4', integer: false },
  num_heads: { min: 1, max: 240, real: 'FLUX.1: 24' },
  depth: { min: 0, max: 190, real: 'FLUX.1: 19' },
  depth_single_blocks: { min: 0, max: 380, real: 'FLUX.1: 38' },
  theta: { min: Number.MIN_VALUE, max: 1e9, real: 'FLUX.1: 10000', integer: false },
};
/** RoPE axes: FLUX.1 has 3 ([16, 56, 56]). */
export const FLUX_MAX_AXES = 8;

export const T5_LIMITS: Record<string, FieldLimit> = {
  vocab_size: { min: 1, max: 321280, real: 'T5-XXL: 32128' },
  d_model: { min: 1, max: 40960, real: 'T5-XXL: 4096' },
  d_kv: { min: 1, max: 1024, real: 'T5-XXL: 64' },
  d_ff: { min: 1, max: 102400, real: 'T5-XXL: 10240' },
  num_layers: { min: 1, max: 240, real: 'T5-XXL: 24' },
  num_heads: { min: 1, max: 640, real: 'T5-XXL: 64' },
  relative_attention_num_buckets: { min: 1, max: 1024, real: 'T5-XXL: 32' },
  relative_attention_max_distance: { min: 1, max: 65536, real: 'T5-XXL: 128' },
  layer_norm_epsilon: { min: 0, max: 1, real: 'T5-XXL: 1e-6', integer: false },
};

export const CLIP_LIMITS: Record<string, FieldLimit> = {
  vocab_size: { min: 1, max: 494080, real: 'CLIP-L: 49408' },
  hidden_size: { min: 1, max: 12800, real: 'CLIP-G: 1280' },
  intermediate_size: { min: 1, max: 51200, real: 'CLIP-G: 5120' },
  num_hidden_layers: { min: 1, max: 320, real: 'CLIP-G: 32' },
  num_attention_heads: { min: 1, max: 200, real: 'CLIP-G: 20' },
  max_position_embeddings: { min: 1, max: 770, real: 'CLIP-L: 77' },
  layer_norm_eps: { min: 0, max: 1, real: 'CLIP-L: 1e-5', integer: false },
  eos_token_id: { min: 0, max: 494079, real: 'CLIP-L: 49407' },
  projection_dim: { min: 1, max: 12800, real: 'CLIP-G: 1280' },
};

export const AE_LIMITS: Record<string, FieldLimit> = {
  z_channels: { min: 1, max: 160, real: 'FLUX.1 AE: 16' },
  out_ch: { min: 1, max: 30, real: 'FLUX.1 AE: 3' },
  levels: { min: 1, max: 40, real: 'FLUX.1 AE: 4' },
  level_channel: { min: 1, max: 5120, real: 'FLUX.1 AE: 512' },
  num_res_blocks: { min: 0, max: 20, real: 'FLUX.1 AE: 2' },
  groups: { min: 1, max: 5120, real: 'FLUX.1 AE, SDXL VAE: 32' },
};

export const UNET_LIMITS: Record<string, FieldLimit> = {
  in_channels: { min: 1, max: 160, real: 'SDXL: 4' },
  out_channels: { min: 1, max: 160, real: 'SDXL: 4' },
  levels: { min: 1, max: 10, real: 'SD 1.5: 4' },
  level_channel: { min: 1, max: 12800, real: 'SDXL: 1280' },
  layers_per_block: { min: 1, max: 20, real: 'SDXL: 2' },
  transformer_layers: { min: 0, max: 100, real: 'SDXL: 10' },
  heads: { min: 1, max: 640, real: 'SDXL: 20' },
  cross_attention_dim: { min: 1, max: 20480, real: 'SDXL: 2048' },
  timestep_input_dim: { min: 2, max: 12800, real: 'SDXL: 320' },
  time_embed_dim: { min: 1, max: 51200, real: 'SDXL: 1280' },
  addition_time_embed_dim: { min: 2, max: 4096, real: 'SDXL: 256' },
  projection_class_embeddings_input_dim: { min: 1, max: 40960, real: 'SDXL: 2816' },
  conv_kernel: { min: 1, max: 15, real: 'SDXL: 3' },
  norm_eps: { min: 0, max: 1, real: 'SDXL: 1e-5', integer: false },
  freq_shift: { min: -1e6, max: 1e6, real: 'SDXL: 0', integer: false },
};

/** The largest image side generate accepts, in pixels: 4x FLUX.1's 1024 native size per side... */
export const MAX_IMAGE_SIDE = 4096;
/** ...and at most this many pixels (2048x2048 = 16 MP, 16384 FLUX.1 image tokens). */
export const MAX_IMAGE_PIXELS = 2048 * 2048;

/** Throws a ConfigLimitError unless a WxH image is within MAX_IMAGE_SIDE and MAX_IMAGE_PIXELS. */
export function checkImageSize(option: string, w: number, h: number): void {
  if (w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE)
    throw new ConfigLimitError(`${option} ${w}x${h}: each side must be at most ${MAX_IMAGE_SIDE} pixels`);
  if (w * h > MAX_IMAGE_PIXELS)
    throw new ConfigLimitError(
      `${option} ${w}x${h}: at most ${MAX_IMAGE_PIXELS / 2 ** 20} megapixels (${Math.sqrt(MAX_IMAGE_PIXELS)}x${Math.sqrt(MAX_IMAGE_PIXELS)}) are allowed`,
    );
}

/** The largest square size for the pixel-space embedded model: 1024 px is 262,144 tokens, 8x its 128. */
export const EMBEDDED_MAX_SIZE = 1024;

/**
 * The most sampling steps a run takes: released FLUX.1 schedules use 1-50 and sampling quality stops
 * improving long before 10,000. Schedules and per-step records are arrays of this length, so an
 * unbounded count (1e12) would fail deep inside with "Invalid array length".
 */
export const MAX_STEPS = 10_000;

/**
 * Throws a ConfigLimitError naming `source` and the first field of `values` outside its limit (missing
 * fields are the caller's business; non-numbers are an error here).
 */
export function checkLimits(
  source: string,
  values: Record<string, unknown>,
  limits: Record<string, FieldLimit>,
  error: (message: string) => Error = (m) => new ConfigLimitError(m),
): void {
  for (const [k, l] of Object.entries(limits)) {
    if (!Object.hasOwn(values, k) || values[k] === undefined) continue;
    checkField(source, k, values[k], l, error);
  }
}

export function checkField(
  source: string,
  field: string,
  v: unknown,
  l: FieldLimit,
  error: (message: string) => Error = (m) => new ConfigLimitError(m),
): number {
  const integer = l.integer ?? true;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)))
    throw error(
      `${source}: ${field} must be ${integer ? 'an integer' : 'a finite number'}, got ${JSON.stringify(v) ?? String(v)}`,
    );
  if (v < l.min || v > l.max)
    throw error(
      `${source}: ${field} = ${v} is outside the plausible range ${l.min === Number.MIN_VALUE ? '(0' : `[${l.min}`}, ${l.max}] (${l.real})`,
    );
  return v;
}

// ---- memory -----------------------------------------------------------------------------------------

export const GiB = 2 ** 30;

/** "38.2 GiB" / "512 MiB". */
export function bytesText(b: number): string {
  return b >= GiB ? `${(b / GiB).toFixed(1)} GiB` : `${Math.ceil(b / 2 ** 20)} MiB`;
}

/** A run too large for the machine; the CLI reports it as a usage problem (exit 2). */
export class MemoryLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryLimitError';
  }
}

/** What a run needs: all of it at once on the host or device, and its largest single buffer. */
export interface MemoryNeed {
  bytes: number;
  largestTensor: number;
  /** What the run is ("a FLUX.1 forward at 1024x1024"), for the message. */
  what: string;
  /** What the bytes are made of ("weights 22.2 GiB + activations 1.1 GiB"). */
  parts?: string;
  /** The part that does not depend on the run's size (the weights), and its largest tensor. */
  weightBytes?: number;
  largestWeight?: number;
}

/** Where a run executes: host memory for the CPU, or a device with its limits. */
export interface MemoryBudget {
  backend: 'cpu' | 'webgpu';
  /** The largest single tensor (CPU: the largest typed array; WebGPU: maxStorageBufferBindingSize). */
  maxTensorBytes: number;
  /** Memory the whole run must fit in (CPU: RAM; WebGPU: unknown, as the API does not expose it). */
  totalBytes: number;
  freeBytes: number;
  /** WebGPU: host RAM, through which each tensor is staged on its way to the device. */
  stagingBytes?: number;
}

/**
 * The budget of a backend: host RAM for the CPU (tensors are ArrayBuffers outside V8's heap, so RAM
 * and the largest typed array are the limits, not the heap size); for WebGPU the per-tensor limit.
 */
export function budgetOf(be: { name: 'cpu' | 'webgpu'; maxTensorBytes(): number }): MemoryBudget {
  const maxArray = constants.MAX_LENGTH;
  if (be.name === 'cpu')
    return {
      backend: 'cpu',
      maxTensorBytes: Math.min(maxArray, be.maxTensorBytes()),
      totalBytes: totalmem(),
      freeBytes: freemem(),
    };
  return {
    backend: 'webgpu',
    maxTensorBytes: Math.min(maxArray, be.maxTensorBytes()),
    totalBytes: Number.POSITIVE_INFINITY,
    freeBytes: Number.POSITIVE_INFINITY,
    stagingBytes: totalmem(),
  };
}

/**
 * Refuses a run that cannot fit: more than the machine has in total, or one tensor larger than the
 * backend can hold. A run that fits in total memory but not in what is free now gets a note back for
 * the caller to print (free memory changes, and caches and swap make it a poor hard limit).
 */
export function checkMemory(need: MemoryNeed, budget: MemoryBudget): string | undefined {
  // a smaller size or batch helps only where the weights alone fit
  const advice = (weights: number | undefined, limit: number) =>
    (weights ?? 0) > limit ? 'the model is too large for it' : 'use a smaller size or batch';
  const about = `about ${bytesText(need.bytes)}${need.parts ? ` (${need.parts})` : ''}`;
  if (need.largestTensor > budget.maxTensorBytes)
    throw new MemoryLimitError(
      `${need.what} needs a single tensor of ${bytesText(need.largestTensor)}; the ${budget.backend} backend holds at most ${bytesText(budget.maxTensorBytes)} per tensor (${advice(need.largestWeight, budget.maxTensorBytes)})`,
    );
  if (need.bytes > budget.totalBytes)
    throw new MemoryLimitError(
      `${need.what} needs ${about}; this machine has ${bytesText(budget.totalBytes)} (${advice(need.weightBytes, budget.totalBytes)})`,
    );
  if (budget.stagingBytes !== undefined && 2 * need.largestTensor > budget.stagingBytes)
    throw new MemoryLimitError(
      `${need.what} stages tensors of ${bytesText(need.largestTensor)} through host memory; this machine has ${bytesText(budget.stagingBytes)}`,
    );
  if (need.bytes > budget.freeBytes)
    return `note: ${need.what} needs ${about}, more than the ${bytesText(budget.freeBytes)} free now`;
  return undefined;
}
