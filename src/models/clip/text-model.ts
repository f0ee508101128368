// The CLIP text transformer as Flux uses it (transformers' CLIPTextModel, no attention mask):
//   x = token_embedding[ids] + position_embedding[0..L)
//   per layer: x += out_proj(causal_attention(layer_norm1(x))); x += fc2(quick_gelu(fc1(layer_norm2(x))))
//   last_hidden_state = final_layer_norm(x); pooler_output = last_hidden_state at the first EOS.
// quick_gelu(y) = y·sigmoid(1.702 y) = silu(1.702 y) / 1.702: fc1 is stored scaled by 1.702 with SiLU
// fused into its matmul, fc2 scaled by 1/1.702, so the MLP is two fused matmuls.
// Module tree mirrors the checkpoint keys ([text_model.]encoder.layers.N....).
import type { Backend } from '../../backend.js';
import type { Tensor } from '../../tensor.js';
import { expectFamily } from '../detect.js';
import { HeadSplitter } from '../heads.js';
import { type ComputeDType, ParamStore, WeightReader, type WeightSource } from '../weights.js';
import { type ClipTextConfig, clipPrefix, clipTextConfig, poolPositions } from './config.js';

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
}

export class ClipTextModel {
  private readonly store: ParamStore;
  private readonly layers: ClipLayer[];
  private readonly finalNorm: LayerNorm;
  private readonly tokenEmbedding: Float32Array;
  private readonly positionEmbedding: Float32Array;
  private readonly heads: HeadSplitter;

  private constructor(
    readonly be: Backend,
    readonly config: ClipTextConfig,
    readonly dtype: ComputeDType,
    r: WeightReader,
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
    const scaled = (s: number) => ({ transform: (v: Float32Array) => v.map((x) => x * s) });
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
            weight: r.load(`${p}mlp.fc1.weight`, [I, C], scaled(QUICK_GELU)),
            bias: r.load(`${p}mlp.fc1.bias`, [I], scaled(QUICK_GELU)),
          },
          fc2: {
            weight: r.load(`${p}mlp.fc2.weight`, [C, I], scaled(1 / QUICK_GELU)),
            bias: r.load(`${p}mlp.fc2.bias`, [C]),
          },
        },
      });
    }
    this.finalNorm = norm('final_layer_norm');
    this.heads = new HeadSplitter(be, c.num_attention_heads, C / c.num_attention_heads);
  }

  static load(be: Backend, src: WeightSource, opts: ClipLoadOptions = {}): ClipTextModel {
    expectFamily(src.path, src.keys(), 'clip');
    const config = clipTextConfig(src, opts.config ?? {});
    const dtype = opts.dtype ?? 'f32';
    const store = new ParamStore();
    try {
      const r = new WeightReader(be, src, dtype, store, clipPrefix(src), 'a CLIP text encoder');
      return new ClipTextModel(be, config, dtype, r);
    } catch (e) {
      store.dispose();
      throw e;
    }
  }

  get deviceBytes(): number {
    return this.store.bytes;
  }

  /** Token ids [B·L] (row-major) -> last hidden state and pooled output, in the compute dtype. */
  encode(ids: ArrayLike<number>, B: number, L: number): ClipOutput {
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
      for (const layer of this.layers) {
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
          const f = be.matmul(h2, fc1.weight, { bias: fc1.bias, activation: 'silu' });
          return be.matmul(f, fc2.weight, { bias: fc2.bias, residual: x1 });
        });
        x.dispose();
        x = next;
      }
      const last = be.layerNorm(x, { ...this.finalNorm, eps });
      const idx = be.tensor(rows, [1, B], 'u32');
      const pooled = be.reshape(be.gather(be.reshape(last, [1, B * L, C]), idx), [B, C]);
      return { lastHiddenState: last, pooled };
    });
  }

  dispose(): void {
    this.store.dispose();
    this.heads.dispose();
  }
}
