// CLIP text model configuration (Hugging Face CLIPTextConfig names). Shapes give everything except
// the head count (default: heads of 64, true of every OpenAI CLIP text tower; CLIP-L: 768 / 12), the
// activation (default quick_gelu, OpenAI's; OpenCLIP ViT-bigG, SDXL's second encoder, uses exact gelu)
// and the EOS id used for pooling (default: the largest id, which <|endoftext|> is in CLIP's vocabulary).
// A checkpoint with `text_projection.weight` [P, C] is a CLIPTextModelWithProjection.
import { CLIP_LIMITS, checkLimits } from '../limits.js';
import { WeightError, type WeightSource } from '../weights.js';

export interface ClipTextConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  layer_norm_eps: number;
  /** Pooling takes the hidden state at the first occurrence of this id (2: legacy configs, argmax of ids). */
  eos_token_id: number;
  /** The MLP's activation: quick_gelu (OpenAI CLIP, CLIP-L) or gelu (exact erf form; OpenCLIP bigG). */
  hidden_act: ClipActivation;
  /** Width of text_embeds (text_projection [P, hidden]); absent without a projection (CLIPTextModel). */
  projection_dim?: number;
}

export type ClipActivation = 'quick_gelu' | 'gelu';

/** The key of the text projection (CLIPTextModelWithProjection): outside the text_model. prefix. */
export const CLIP_PROJECTION_KEY = 'text_projection.weight';

/** Flux's CLIP prompt length. */
export const FLUX_CLIP_MAX_LENGTH = 77;

/** The key prefix of a CLIP text checkpoint: "text_model." (usual) or none. */
export function clipPrefix(src: WeightSource): string {
  if (src.has('text_model.embeddings.token_embedding.weight')) return 'text_model.';
  if (src.has('embeddings.token_embedding.weight')) return '';
  throw new WeightError(
    `${src.path}: tensor "text_model.embeddings.token_embedding.weight" is missing (a CLIP text encoder checkpoint needs it)`,
  );
}

export function clipTextConfig(src: WeightSource, given: Record<string, unknown> = {}): ClipTextConfig {
  const p = clipPrefix(src);
  const shape = (k: string) => {
    if (!src.has(p + k))
      throw new WeightError(
        `${src.path}: tensor "${p + k}" is missing (a CLIP text encoder checkpoint needs it)`,
      );
    return src.info(p + k).shape;
  };
  const tok = shape('embeddings.token_embedding.weight');
  const pos = shape('embeddings.position_embedding.weight');
  let layers = 0;
  while (src.has(`${p}encoder.layers.${layers}.self_attn.q_proj.weight`)) layers++;
  const hidden = tok[1]!;
  const heads = typeof given.num_attention_heads === 'number' ? given.num_attention_heads : hidden / 64;
  if (!Number.isInteger(heads) || heads < 1 || hidden % heads !== 0)
    throw new WeightError(
      `${src.path}: cannot tell the head count of a ${hidden}-wide CLIP text model; give num_attention_heads in its config`,
    );
  const act = given.hidden_act ?? 'quick_gelu';
  if (act !== 'quick_gelu' && act !== 'gelu')
    throw new WeightError(
      `${src.path}: hidden_act "${act}" is not supported (CLIP-L uses quick_gelu, OpenCLIP bigG gelu)`,
    );
  const eos = typeof given.eos_token_id === 'number' ? given.eos_token_id : tok[0]! - 1;
  const c: ClipTextConfig = {
    vocab_size: tok[0]!,
    hidden_size: hidden,
    intermediate_size: shape('encoder.layers.0.mlp.fc1.weight')[0]!,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    max_position_embeddings: pos[0]!,
    layer_norm_eps: typeof given.layer_norm_eps === 'number' ? given.layer_norm_eps : 1e-5,
    eos_token_id: eos,
    hidden_act: act,
  };
  if (src.has(CLIP_PROJECTION_KEY)) {
    const ps = src.info(CLIP_PROJECTION_KEY).shape;
    if (ps.length !== 2 || ps[1] !== hidden || ps[0]! < 1)
      throw new WeightError(
        `${src.path}: tensor "${CLIP_PROJECTION_KEY}" has shape [${ps.join(', ')}], expected [projection_dim, ${hidden}]`,
      );
    if (typeof given.projection_dim === 'number' && given.projection_dim !== ps[0])
      throw new WeightError(
        `${src.path}: config projection_dim ${given.projection_dim} does not match "${CLIP_PROJECTION_KEY}" [${ps.join(', ')}]`,
      );
    c.projection_dim = ps[0]!;
  }
  checkLimits(`${src.path}: CLIP config`, { ...c }, CLIP_LIMITS, (m) => new WeightError(m));
  if (c.eos_token_id >= c.vocab_size)
    throw new WeightError(
      `${src.path}: CLIP config: eos_token_id ${c.eos_token_id} is outside the vocabulary of ${c.vocab_size}`,
    );
  return c;
}

/** Row of each sequence whose hidden state is pooled (transformers' CLIPTextTransformer rule). */
export function poolPositions(ids: ArrayLike<number>, B: number, L: number, eos: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    let at = 0;
    if (eos === 2) {
      // legacy configs: the EOS token is the largest id; first maximum
      for (let l = 1; l < L; l++) if (ids[b * L + l]! > ids[b * L + at]!) at = l;
    } else {
      for (let l = 0; l < L; l++)
        if (ids[b * L + l] === eos) {
          at = l;
          break;
        }
    }
    out.push(at);
  }
  return out;
}
