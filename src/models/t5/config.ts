// T5 encoder configuration (Hugging Face T5Config names), read from a config object or inferred from
// the checkpoint's tensor shapes. Flux uses T5 v1.1 XXL: d_model 4096, 64 heads of 64, d_ff 10240,
// 24 layers, 32 buckets, max distance 128, gated tanh-GELU feed-forward.
import { checkLimits, T5_LIMITS } from '../limits.js';
import { WeightError, type WeightSource } from '../weights.js';

export interface T5Config {
  vocab_size: number;
  d_model: number;
  d_kv: number;
  d_ff: number;
  num_layers: number;
  num_heads: number;
  relative_attention_num_buckets: number;
  relative_attention_max_distance: number;
  layer_norm_epsilon: number;
}

/** The longest prompt Flux encodes with T5: max_sequence_length of dev and schnell. */
export const FLUX_T5_MAX_LENGTH = { dev: 512, schnell: 256 } as const;

const ATTN0 = 'encoder.block.0.layer.0.SelfAttention.';

/** The config from the checkpoint's shapes; `given` (e.g. a config.json) overrides what shapes cannot tell. */
export function t5Config(
  src: WeightSource,
  given: Partial<T5Config> & Record<string, unknown> = {},
): T5Config {
  const shape = (k: string) => {
    if (!src.has(k))
      throw new WeightError(`${src.path}: tensor "${k}" is missing (a T5 encoder checkpoint needs it)`);
    return src.info(k).shape;
  };
  const emb = src.has('shared.weight') ? shape('shared.weight') : shape('encoder.embed_tokens.weight');
  const rel = shape(`${ATTN0}relative_attention_bias.weight`);
  const inner = shape(`${ATTN0}q.weight`)[0]!;
  const heads = rel[1]!;
  if (!src.has('encoder.block.0.layer.1.DenseReluDense.wi_0.weight')) {
    if (src.has('encoder.block.0.layer.1.DenseReluDense.wi.weight'))
      throw new WeightError(
        `${src.path}: this is a T5 v1.0 encoder (ReLU feed-forward "wi"); Flux uses T5 v1.1 (gated GELU "wi_0"/"wi_1"), the only kind supported`,
      );
  }
  let layers = 0;
  while (src.has(`encoder.block.${layers}.layer.0.SelfAttention.q.weight`)) layers++;
  const c: T5Config = {
    vocab_size: emb[0]!,
    d_model: emb[1]!,
    d_kv: inner / heads,
    d_ff: shape('encoder.block.0.layer.1.DenseReluDense.wi_0.weight')[0]!,
    num_layers: layers,
    num_heads: heads,
    relative_attention_num_buckets: rel[0]!,
    relative_attention_max_distance: num(given.relative_attention_max_distance, 128),
    layer_norm_epsilon: num(given.layer_norm_epsilon, 1e-6),
  };
  for (const k of ['d_model', 'd_kv', 'd_ff', 'num_layers', 'num_heads'] as const) {
    if (given[k] !== undefined && given[k] !== c[k])
      throw new WeightError(`${src.path}: config says ${k} = ${given[k]} but the tensors give ${c[k]}`);
  }
  if (!Number.isInteger(c.d_kv))
    throw new WeightError(`${src.path}: q projection width ${inner} is not a multiple of ${heads} heads`);
  checkLimits(`${src.path}: T5 config`, { ...c }, T5_LIMITS, (m) => new WeightError(m));
  if (given.feed_forward_proj !== undefined && given.feed_forward_proj !== 'gated-gelu')
    throw new WeightError(
      `${src.path}: feed_forward_proj "${given.feed_forward_proj}" is not supported (Flux's T5 uses gated-gelu)`,
    );
  return c;
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}
