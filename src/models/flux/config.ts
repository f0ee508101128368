// Flux transformer hyper-parameters, named as in the official FluxParams (black-forest-labs/flux).
// Sources of a config, in order of precedence where the CLI resolves one: an explicit preset name or
// JSON (official or diffusers field names), the checkpoint's __metadata__.config, or the tensor shapes.

import { quoteForMessage } from '../../io/json-strict.js';
import { checkLimits, FLUX_LIMITS, FLUX_MAX_AXES } from '../limits.js';

export interface FluxConfig {
  /** Channels of a packed latent token (16 latent channels x 2x2 patch = 64 for Flux). */
  in_channels: number;
  out_channels: number;
  /** Width of the pooled text vector y (CLIP: 768). */
  vec_in_dim: number;
  /** Width of the text tokens (T5: 4096). */
  context_in_dim: number;
  hidden_size: number;
  mlp_ratio: number;
  num_heads: number;
  /** Double-stream blocks. */
  depth: number;
  depth_single_blocks: number;
  /** RoPE channels per position axis; sums to the head dimension. */
  axes_dim: number[];
  theta: number;
  qkv_bias: boolean;
  guidance_embed: boolean;
}

const FLUX_DEV: FluxConfig = {
  in_channels: 64,
  out_channels: 64,
  vec_in_dim: 768,
  context_in_dim: 4096,
  hidden_size: 3072,
  mlp_ratio: 4.0,
  num_heads: 24,
  depth: 19,
  depth_single_blocks: 38,
  axes_dim: [16, 56, 56],
  theta: 10000,
  qkv_bias: true,
  guidance_embed: true,
};

/** Named configs: the two released models and small ones for tests and CPU/SwiftShader runs. */
export const FLUX_PRESETS: Record<string, FluxConfig> = {
  'flux-dev': FLUX_DEV,
  'flux-schnell': { ...FLUX_DEV, guidance_embed: false },
  /** The config of the conformance fixture flux-tiny-a. */
  'flux-tiny': {
    in_channels: 16,
    out_channels: 16,
    vec_in_dim: 32,
    context_in_dim: 48,
    hidden_size: 64,
    mlp_ratio: 4.0,
    num_heads: 2,
    depth: 2,
    depth_single_blocks: 2,
    axes_dim: [8, 12, 12],
    theta: 10000,
    qkv_bias: true,
    guidance_embed: true,
  },
  /** Smaller still, with odd sizes, for tests on the slow software GPU. */
  'flux-micro': {
    in_channels: 12,
    out_channels: 8,
    vec_in_dim: 10,
    context_in_dim: 20,
    hidden_size: 48,
    mlp_ratio: 2.0,
    num_heads: 3,
    depth: 1,
    depth_single_blocks: 2,
    axes_dim: [4, 6, 6],
    theta: 10000,
    qkv_bias: true,
    guidance_embed: true,
  },
};

export class FluxConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FluxConfigError';
  }
}

export function headDim(c: FluxConfig): number {
  return c.hidden_size / c.num_heads;
}

/** Hidden width of the MLPs (int(hidden_size * mlp_ratio), as the official code computes it). */
export function mlpHidden(c: FluxConfig): number {
  return Math.trunc(c.hidden_size * c.mlp_ratio);
}

/**
 * Throws a FluxConfigError naming the first field outside its plausible range (models/limits.ts) or
 * inconsistent with the others. Runs before anything is sized from the config.
 */
export function validateConfig(c: FluxConfig): FluxConfig {
  try {
    checkLimits('config', c as unknown as Record<string, unknown>, FLUX_LIMITS);
  } catch (e) {
    throw new FluxConfigError((e as Error).message.replace(/^config: /, 'config.'));
  }
  if (Array.isArray(c.axes_dim) && c.axes_dim.length > FLUX_MAX_AXES)
    throw new FluxConfigError(
      `config.axes_dim has ${c.axes_dim.length} axes; at most ${FLUX_MAX_AXES} are plausible (FLUX.1: 3)`,
    );
  const positive = [
    'in_channels',
    'out_channels',
    'vec_in_dim',
    'context_in_dim',
    'hidden_size',
    'num_heads',
  ] as const;
  for (const k of positive) {
    if (!Number.isInteger(c[k]) || c[k] <= 0)
      throw new FluxConfigError(`config.${k} must be a positive integer, got ${JSON.stringify(c[k])}`);
  }
  for (const k of ['depth', 'depth_single_blocks'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 0)
      throw new FluxConfigError(`config.${k} must be a non-negative integer, got ${JSON.stringify(c[k])}`);
  }
  if (!(c.mlp_ratio > 0) || mlpHidden(c) < 1)
    throw new FluxConfigError(`config.mlp_ratio must be positive, got ${JSON.stringify(c.mlp_ratio)}`);
  if (!(c.theta > 0))
    throw new FluxConfigError(`config.theta must be positive, got ${JSON.stringify(c.theta)}`);
  if (c.hidden_size % c.num_heads !== 0)
    throw new FluxConfigError(
      `config.hidden_size ${c.hidden_size} is not divisible by num_heads ${c.num_heads}`,
    );
  if (
    !Array.isArray(c.axes_dim) ||
    c.axes_dim.length === 0 ||
    c.axes_dim.some((d) => !Number.isInteger(d) || d <= 0 || d % 2 !== 0)
  )
    throw new FluxConfigError(
      `config.axes_dim must be a list of positive even integers, got ${JSON.stringify(c.axes_dim)}`,
    );
  const sum = c.axes_dim.reduce((a, b) => a + b, 0);
  if (sum !== headDim(c))
    throw new FluxConfigError(
      `config.axes_dim ${JSON.stringify(c.axes_dim)} sums to ${sum}, but the head dimension (hidden_size / num_heads) is ${headDim(c)}`,
    );
  if (typeof c.qkv_bias !== 'boolean' || typeof c.guidance_embed !== 'boolean')
    throw new FluxConfigError('config.qkv_bias and config.guidance_embed must be booleans');
  return c;
}

const OFFICIAL_FIELDS: (keyof FluxConfig)[] = [
  'in_channels',
  'out_channels',
  'vec_in_dim',
  'context_in_dim',
  'hidden_size',
  'mlp_ratio',
  'num_heads',
  'depth',
  'depth_single_blocks',
  'axes_dim',
  'theta',
  'qkv_bias',
  'guidance_embed',
];

/**
 * A config from a parsed JSON object with the official field names (FluxParams) or the diffusers
 * FluxTransformer2DModel names (num_layers, attention_head_dim, joint_attention_dim, ...). Missing
 * official fields are an error; diffusers configs get that model's fixed values (mlp_ratio 4, theta
 * 10000, qkv biases).
 */
export function configFromObject(o: unknown, what = 'config'): FluxConfig {
  if (!o || typeof o !== 'object' || Array.isArray(o))
    throw new FluxConfigError(`${what}: expected a JSON object`);
  const r = o as Record<string, unknown>;
  let c: FluxConfig;
  if ('num_layers' in r || 'attention_head_dim' in r || 'joint_attention_dim' in r) {
    const num = (k: string, fallback?: number): number => {
      const v = r[k] ?? fallback;
      if (typeof v !== 'number') throw new FluxConfigError(`${what}: diffusers field "${k}" is missing`);
      return v;
    };
    if ((r.patch_size ?? 1) !== 1)
      throw new FluxConfigError(`${what}: patch_size ${r.patch_size} is not supported (Flux uses 1)`);
    const heads = num('num_attention_heads');
    const inCh = num('in_channels');
    c = {
      in_channels: inCh,
      out_channels: typeof r.out_channels === 'number' ? r.out_channels : inCh,
      vec_in_dim: num('pooled_projection_dim'),
      context_in_dim: num('joint_attention_dim'),
      hidden_size: heads * num('attention_head_dim'),
      mlp_ratio: 4.0,
      num_heads: heads,
      depth: num('num_layers'),
      depth_single_blocks: num('num_single_layers'),
      axes_dim: (r.axes_dims_rope as number[] | undefined) ?? [16, 56, 56],
      theta: 10000,
      qkv_bias: true,
      guidance_embed: !!r.guidance_embeds,
    };
  } else {
    const missing = OFFICIAL_FIELDS.filter((k) => !(k in r));
    if (missing.length) throw new FluxConfigError(`${what}: missing field(s) ${missing.join(', ')}`);
    c = Object.fromEntries(OFFICIAL_FIELDS.map((k) => [k, r[k]])) as unknown as FluxConfig;
    c.axes_dim = Array.isArray(c.axes_dim) ? [...c.axes_dim] : c.axes_dim;
  }
  try {
    return validateConfig(c);
  } catch (e) {
    throw new FluxConfigError(`${what}: ${(e as Error).message}`);
  }
}

/** A preset name or a JSON string (official or diffusers field names). */
export function parseConfig(text: string): FluxConfig {
  // an own property only: "constructor" or "__proto__" must not find Object's
  const name = text.trim();
  if (Object.hasOwn(FLUX_PRESETS, name)) return structuredClone(FLUX_PRESETS[name]!);
  if (!name.startsWith('{'))
    throw new FluxConfigError(
      `unknown config ${quoteForMessage(text)}: give a preset (${Object.keys(FLUX_PRESETS).join(', ')}) or a JSON object`,
    );
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new FluxConfigError(`config is not valid JSON (${(e as Error).message})`);
  }
  return configFromObject(o);
}
