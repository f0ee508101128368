// What a Hugging Face T5EncoderModel checkpoint of a given config holds (key -> shape) and its
// config.json, for writing random-weight model folders that the loader reads like real ones.
import type { T5Config } from './config.js';

/** The stored tensors of a T5 v1.1 encoder (the shared embedding once, as safetensors keeps tied weights). */
export function t5Shapes(c: T5Config): Map<string, number[]> {
  const d = c.d_model;
  const inner = c.num_heads * c.d_kv;
  const m = new Map<string, number[]>();
  m.set('shared.weight', [c.vocab_size, d]);
  for (let i = 0; i < c.num_layers; i++) {
    const a = `encoder.block.${i}.layer.0.`;
    for (const p of ['q', 'k', 'v']) m.set(`${a}SelfAttention.${p}.weight`, [inner, d]);
    m.set(`${a}SelfAttention.o.weight`, [d, inner]);
    if (i === 0)
      m.set(`${a}SelfAttention.relative_attention_bias.weight`, [
        c.relative_attention_num_buckets,
        c.num_heads,
      ]);
    m.set(`${a}layer_norm.weight`, [d]);
    const f = `encoder.block.${i}.layer.1.`;
    m.set(`${f}DenseReluDense.wi_0.weight`, [c.d_ff, d]);
    m.set(`${f}DenseReluDense.wi_1.weight`, [c.d_ff, d]);
    m.set(`${f}DenseReluDense.wo.weight`, [d, c.d_ff]);
    m.set(`${f}layer_norm.weight`, [d]);
  }
  m.set('encoder.final_layer_norm.weight', [d]);
  return m;
}

/** config.json as transformers writes it for T5EncoderModel (the fields the loader and transformers read). */
export function t5ConfigJson(c: T5Config): Record<string, unknown> {
  return {
    architectures: ['T5EncoderModel'],
    model_type: 't5',
    d_model: c.d_model,
    d_kv: c.d_kv,
    d_ff: c.d_ff,
    num_layers: c.num_layers,
    num_heads: c.num_heads,
    vocab_size: c.vocab_size,
    relative_attention_num_buckets: c.relative_attention_num_buckets,
    relative_attention_max_distance: c.relative_attention_max_distance,
    layer_norm_epsilon: c.layer_norm_epsilon,
    feed_forward_proj: 'gated-gelu',
    dense_act_fn: 'gelu_new',
    is_gated_act: true,
    pad_token_id: 0,
    eos_token_id: 1,
    torch_dtype: 'float16',
  };
}
