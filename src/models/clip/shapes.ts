// What a Hugging Face CLIPTextModel checkpoint of a given config holds (key -> shape) and its
// config.json, for writing random-weight model folders that the loader reads like real ones.
import { CLIP_PROJECTION_KEY, type ClipTextConfig } from './config.js';

export function clipTextShapes(c: ClipTextConfig): Map<string, number[]> {
  const C = c.hidden_size;
  const I = c.intermediate_size;
  const m = new Map<string, number[]>();
  const t = 'text_model.';
  m.set(`${t}embeddings.token_embedding.weight`, [c.vocab_size, C]);
  m.set(`${t}embeddings.position_embedding.weight`, [c.max_position_embeddings, C]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `${t}encoder.layers.${i}.`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      m.set(`${p}self_attn.${proj}.weight`, [C, C]);
      m.set(`${p}self_attn.${proj}.bias`, [C]);
    }
    for (const n of ['layer_norm1', 'layer_norm2']) {
      m.set(`${p}${n}.weight`, [C]);
      m.set(`${p}${n}.bias`, [C]);
    }
    m.set(`${p}mlp.fc1.weight`, [I, C]);
    m.set(`${p}mlp.fc1.bias`, [I]);
    m.set(`${p}mlp.fc2.weight`, [C, I]);
    m.set(`${p}mlp.fc2.bias`, [C]);
  }
  m.set(`${t}final_layer_norm.weight`, [C]);
  m.set(`${t}final_layer_norm.bias`, [C]);
  if (c.projection_dim !== undefined) m.set(CLIP_PROJECTION_KEY, [c.projection_dim, C]);
  return m;
}

/**
 * config.json as transformers writes it for CLIPTextModel, or CLIPTextModelWithProjection with a
 * projection (eos_token_id 2: the legacy argmax pooling, as Flux's and SDXL's).
 */
export function clipConfigJson(c: ClipTextConfig): Record<string, unknown> {
  return {
    architectures: [c.projection_dim === undefined ? 'CLIPTextModel' : 'CLIPTextModelWithProjection'],
    model_type: 'clip_text_model',
    hidden_size: c.hidden_size,
    intermediate_size: c.intermediate_size,
    num_hidden_layers: c.num_hidden_layers,
    num_attention_heads: c.num_attention_heads,
    max_position_embeddings: c.max_position_embeddings,
    vocab_size: c.vocab_size,
    hidden_act: c.hidden_act,
    layer_norm_eps: c.layer_norm_eps,
    projection_dim: c.projection_dim ?? c.hidden_size,
    bos_token_id: 0,
    pad_token_id: 1,
    eos_token_id: c.eos_token_id,
    torch_dtype: 'float16',
  };
}
