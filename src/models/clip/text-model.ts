// The CLIP text transformer (transformers' CLIPTextModel and CLIPTextModelWithProjection, no attention
// mask), as Flux (CLIP-L) and SDXL (CLIP-L and OpenCLIP ViT-bigG) use it:
//   x = token_embedding[ids] + position_embedding[0..L)
//   per layer: x += out_proj(causal_attention(layer_norm1(x))); x += fc2(act(fc1(layer_norm2(x))))
//   last_hidden_state = final_layer_norm(x); pooler_output = last_hidden_state at the first EOS;
//   text_embeds = pooler_output · text_projectionᵀ (with a projection);
//   hidden_states[-2] (SDXL's text features) = x before the last layer, without the final norm.
// act is quick_gelu (OpenAI CLIP) or exact gelu (OpenCLIP bigG). quick_gelu(y) = y·sigmoid(1.702 y) =
// silu(1.702 y) / 1.702: fc1 is stored scaled by 1.702 with SiLU fused into its matmul, fc2 scaled by
// 1/1.702, so the MLP is two fused matmuls either way.
// Module tree mirrors the checkpoint keys ([text_model.]encoder.layers.N....).
import type { Backend } from '../../backend.js';
import type { Tensor } from '../../tensor.js';
import { expectFamily } from '../detect.js';
import { HeadSplitter } from '../heads.js';
import { type ComputeDType, ParamStore, WeightReader, type WeightSource } from '../weights.js';
import {
  CLIP_PROJECTION_KEY,
  type ClipTextConfig,
  clipPrefix,
  clipTextConfig,
  poolPositions,
} from './config.js';

const QUICK_GELU = 1.702;

interface Linear {
  weight: Tensor;
  bias: Tensor;
}
interface LayerNorm {
  weight: Tensor;
  bias: Tensor;
}
interface ClipLayer {
  layer_norm1: LayerNorm;
  self_attn: { qkv: Linear; out_proj: Linear };
  layer_norm2: LayerNorm;
  mlp: { fc1: Linear; fc2: Linear };
}

export interface ClipLoadOptions {
  dtype?: ComputeDType;
  /** Values from a config.json (num_attention_heads, eos_token_id, ...). */
  config?: Record<string, unknown>;
}

export interface ClipOutput {
  /** [B, L, hidden] */
  lastHiddenState: Tensor;
  /** [B, hidden] */
  pooled: Tensor;
  /** [B, L, hidden]: hidden_states[-2], the second-to-last layer's output (no final norm); when asked. */
  penultimate?: Tensor;
  /** [B, projection_dim]: the pooled output projected (CLIPTextModelWithProjection's text_embeds). */
  textEmbeds?: Tensor;
}

export interface ClipEncodeOptions {
  /** Also return hidden_states[-2] (what SDXL takes as text features). */
  penultimate?: boolean;
}

/** What SDXL takes from each of its text encoders. */
export interface SdxlTextFeatures {
  /** [B, L, hidden]: hidden_states[-2]. */
  penultimate: Tensor;
  /** [B, projection_dim] text_embeds with a projection (CLIP-G), else [B, hidden] pooler_output. */
  pooled: Tensor;
}

export class ClipTextModel {
  private readonly store: ParamStore;
  private readonly layers: ClipLayer[];
  private readonly finalNorm: LayerNorm;
  private readonly tokenEmbedding: Float32Array;
  private readonly positionEmbedding: Float32Array;
  private readonly heads: HeadSplitter;
  /** fc1's fused activation: SiLU on the 1.702-scaled fc1 for quick_gelu, exact GELU for gelu. */
  private readonly activation: 'silu' | 'gelu';
  /** [projection_dim, hidden], no bias. */
  private readonly projection?: Tensor;

  private constructor(
    readonly be: Backend,
    readonly config: ClipTextConfig,
    readonly dtype: ComputeDType,
    r: WeightReader,
    /** Reads keys outside the text_model. prefix (the projection). */
    top: WeightReader,
  ) {
    this.store = r.store;
    const c = config;
    const C = c.hidden_size;
    const I = c.intermediate_size;
    this.tokenEmbedding = r.f32('embeddings.token_embedding.weight', [c.vocab_size, C]);
    this.positionEmbedding = r.f32('embeddings.position_embedding.weight', [c.max_position_embeddings, C]);
    const norm = (k: string): LayerNorm => ({
      weight: r.load(`${k}.weight`, [C]),
      bias: r.load(`${k}.bias`, [C]),
    });
    // quick_gelu as SiLU on a scaled fc1 (see the top); exact gelu as it is
    const s = c.hidden_act === 'quick_gelu' ? QUICK_GELU : 1;
    this.activation = c.hidden_act === 'quick_gelu' ? 'silu' : 'gelu';
    const scaled = (f: number) => (f === 1 ? {} : { transform: (v: Float32Array) => v.map((x) => x * f) });
    this.layers = [];
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const p = `encoder.layers.${i}.`;
      const a = `${p}self_attn.`;
      const sq: number[][] = [
        [C, C],
        [C, C],
        [C, C],
      ];
      this.layers.push({
        layer_norm1: norm(`${p}layer_norm1`),
        self_attn: {
          qkv: {
            weight: r.concatRows([`${a}q_proj.weight`, `${a}k_proj.weight`, `${a}v_proj.weight`], sq),
            bias: r.concatRows([`${a}q_proj.bias`, `${a}k_proj.bias`, `${a}v_proj.bias`], [[C], [C], [C]]),
          },
          out_proj: { weight: r.load(`${a}out_proj.weight`, [C, C]), bias: r.load(`${a}out_proj.bias`, [C]) },
        },
        layer_norm2: norm(`${p}layer_norm2`),
        mlp: {
          fc1: {
            weight: r.load(`${p}mlp.fc1.weight`, [I, C], scaled(s)),
            bias: r.load(`${p}mlp.fc1.bias`, [I], scaled(s)),
          },
          fc2: {
            weight: r.load(`${p}mlp.fc2.weight`, [C, I], scaled(1 / s)),
            bias: r.load(`${p}mlp.fc2.bias`, [C]),
          },
        },
      });
    }
    this.finalNorm = norm('final_layer_norm');
    if (c.projection_dim !== undefined)
      this.projection = top.load(CLIP_PROJECTION_KEY, [c.projection_dim, C]);
    this.heads = new HeadSplitter(be, c.num_attention_heads, C / c.num_attention_heads);
  }

  static load(be: Backend, src: WeightSource, opts: ClipLoadOptions = {}): ClipTextModel {
    expectFamily(src.path, src.keys(), 'clip');
    const config = clipTextConfig(src, opts.config ?? {});
    const dtype = opts.dtype ?? 'f32';
    const store = new ParamStore();
    try {
      const what = 'a CLIP text encoder';
      const r = new WeightReader(be, src, dtype, store, clipPrefix(src), what);
      return new ClipTextModel(be, config, dtype, r, new WeightReader(be, src, dtype, store, '', what));
    } catch (e) {
      store.dispose();
      throw e;
    }
  }

  get deviceBytes(): number {
    return this.store.bytes;
  }

  /**
   * Token ids [B·L] (row-major) -> last hidden state, pooled output, text_embeds (with a projection)
   * and, when asked, hidden_states[-2]; in the compute dtype.
   */
  encode(ids: ArrayLike<number>, B: number, L: number, opts: ClipEncodeOptions = {}): ClipOutput {
    const { be, config: c } = this;
    const C = c.hidden_size;
    if (ids.length !== B * L)
      throw new RangeError(`CLIP encode: ${ids.length} ids for batch ${B} x length ${L}`);
    if (L > c.max_position_embeddings)
      throw new RangeError(`CLIP encode: length ${L} exceeds the ${c.max_position_embeddings} positions`);
    const x0 = new Float32Array(B * L * C);
    for (let i = 0; i < B * L; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= c.vocab_size)
        throw new RangeError(
          `CLIP encode: token id ${id} at position ${i} is outside the vocabulary (0..${c.vocab_size - 1})`,
        );
      const l = i % L;
      for (let j = 0; j < C; j++)
        x0[i * C + j] = this.tokenEmbedding[id * C + j]! + this.positionEmbedding[l * C + j]!;
    }
    const eps = c.layer_norm_eps;
    const rows = poolPositions(ids, B, L, c.eos_token_id).map((l, b) => b * L + l);
    return be.tidy(() => {
      let x = be.tensor(x0, [B, L, C], this.dtype);
      let penultimate: Tensor | undefined;
      for (const [i, layer] of this.layers.entries()) {
        // hidden_states[-2] is the input of the last layer (the embeddings for a one-layer model)
        if (opts.penultimate && i === this.layers.length - 1) penultimate = x;
        const next = be.tidy(() => {
          const h = be.layerNorm(x, { ...layer.layer_norm1, eps });
          const { q, k, v } = this.heads.split(
            be.matmul(h, layer.self_attn.qkv.weight, { bias: layer.self_attn.qkv.bias }),
          );
          const a = be.maskedAttention(q, k, v, { causal: true });
          const o = layer.self_attn.out_proj;
          const x1 = be.matmul(a, o.weight, { bias: o.bias, residual: x });
          const h2 = be.layerNorm(x1, { ...layer.layer_norm2, eps });
          const { fc1, fc2 } = layer.mlp;
          const f = be.matmul(h2, fc1.weight, { bias: fc1.bias, activation: this.activation });
          return be.matmul(f, fc2.weight, { bias: fc2.bias, residual: x1 });
        });
        if (x !== penultimate) x.dispose();
        x = next;
      }
      const last = be.layerNorm(x, { ...this.finalNorm, eps });
      const idx = be.tensor(rows, [1, B], 'u32');
      const pooled = be.reshape(be.gather(be.reshape(last, [1, B * L, C]), idx), [B, C]);
      const out: ClipOutput = { lastHiddenState: last, pooled };
      if (penultimate) out.penultimate = penultimate;
      if (this.projection) out.textEmbeds = be.matmul(pooled, this.projection);
      return out;
    });
  }

  /**
   * SDXL's use of the encoder: hidden_states[-2] and the pooled output (text_embeds where the model
   * has a projection, as SDXL's CLIP-G does). ids [B·L] row-major; L is 77 in SDXL. The other outputs
   * are freed; the caller owns the two tensors.
   */
  encodeSdxl(ids: ArrayLike<number>, B: number, L: number): SdxlTextFeatures {
    const out = this.encode(ids, B, L, { penultimate: true });
    const pooled = out.textEmbeds ?? out.pooled;
    out.lastHiddenState.dispose();
    if (pooled !== out.pooled) out.pooled.dispose();
    return { penultimate: out.penultimate!, pooled };
  }

  dispose(): void {
    this.store.dispose();
    this.heads.dispose();
  }
}
