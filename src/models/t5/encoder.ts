// The T5 v1.1 encoder as Flux uses it (transformers' T5EncoderModel): token embedding, then per block
//   x += o(attention(rms(x)))   with q·kᵀ unscaled + the relative position bias of block 0
//   x += wo(gelu_tanh(wi_0(rms(x))) * wi_1(rms(x)))
// and a final RMSNorm. The residual stream stays f32 in every compute dtype: T5 v1.1 activations
// overflow f16, which is also why Hugging Face keeps `wo` in f32 (done here for f16 compute too).
// Module tree mirrors the checkpoint keys (encoder.block.N.layer.{0,1}....).
import type { Backend } from '../../backend.js';
import type { QuantizedMatrix } from '../../quant/quantized-matrix.js';
import type { Tensor } from '../../tensor.js';
import { expectFamily } from '../detect.js';
import { HeadSplitter } from '../heads.js';
import { type ComputeDType, ParamStore, WeightReader, type WeightSource } from '../weights.js';
import { type T5Config, t5Config } from './config.js';
import { positionBias } from './relative-position.js';

/** A weight matrix: dense, or kept in its GGUF block format (decoded by the matmul kernels). */
type Matrix = Tensor | QuantizedMatrix;

interface T5Block {
  layer: [
    { layer_norm: Tensor; SelfAttention: { qkv: Matrix; o: Matrix } },
    { layer_norm: Tensor; DenseReluDense: { wi_0: Matrix; wi_1: Matrix; wo: Matrix } },
  ];
}

export interface T5LoadOptions {
  dtype?: ComputeDType;
  /**
   * Matrices stored block-quantized (a GGUF encoder): 'keep' (default) leaves them quantized on the
   * device (T5-XXL at Q8_0 takes ~5 GB instead of ~9.5 GB in f16); 'dequantize' expands them at load.
   */
  quantized?: 'keep' | 'dequantize';
  /** Values from a config.json; shapes decide the rest. */
  config?: Record<string, unknown>;
}

export interface T5EncodeOptions {
  /** [B·L], 1 = token, 0 = padding (keys masked). Flux passes none. */
  attentionMask?: ArrayLike<number>;
  /** Test hook: run without the relative position bias. */
  noPositionBias?: boolean;
}

export class T5Encoder {
  private readonly store: ParamStore;
  private readonly blocks: T5Block[];
  private readonly finalNorm: Tensor;
  /** Host copies: the embedding (looked up on the host, so its size never meets a binding limit) and the bias table. */
  private readonly embedding: Float32Array;
  private readonly relTable: Float32Array;
  private readonly heads: HeadSplitter;
  private biasCache: { L: number; bias: Tensor } | null = null;

  private constructor(
    readonly be: Backend,
    readonly config: T5Config,
    readonly dtype: ComputeDType,
    r: WeightReader,
  ) {
    this.store = r.store;
    const c = config;
    const d = c.d_model;
    const inner = c.num_heads * c.d_kv;
    this.embedding = r.f32(r.has('shared.weight') ? 'shared.weight' : 'encoder.embed_tokens.weight', [
      c.vocab_size,
      d,
    ]);
    const attn0 = 'encoder.block.0.layer.0.SelfAttention.';
    this.relTable = r.f32(`${attn0}relative_attention_bias.weight`, [
      c.relative_attention_num_buckets,
      c.num_heads,
    ]);
    const f32 = { dtype: 'f32' as const };
    this.blocks = [];
    for (let i = 0; i < c.num_layers; i++) {
      const p = `encoder.block.${i}.layer.`;
      const a = `${p}0.SelfAttention.`;
      const f = `${p}1.DenseReluDense.`;
      this.blocks.push({
        layer: [
          {
            layer_norm: r.load(`${p}0.layer_norm.weight`, [d], f32),
            SelfAttention: {
              qkv: r.matrixRows(
                [`${a}q.weight`, `${a}k.weight`, `${a}v.weight`],
                [
                  [inner, d],
                  [inner, d],
                  [inner, d],
                ],
              ),
              o: r.matrix(`${a}o.weight`, [d, inner]),
            },
          },
          {
            layer_norm: r.load(`${p}1.layer_norm.weight`, [d], f32),
            DenseReluDense: {
              wi_0: r.matrix(`${f}wi_0.weight`, [c.d_ff, d]),
              wi_1: r.matrix(`${f}wi_1.weight`, [c.d_ff, d]),
              wo: r.matrix(`${f}wo.weight`, [d, c.d_ff], f32),
            },
          },
        ],
      });
    }
    this.finalNorm = r.load('encoder.final_layer_norm.weight', [d], f32);
    this.heads = new HeadSplitter(be, c.num_heads, c.d_kv);
  }

  static load(be: Backend, src: WeightSource, opts: T5LoadOptions = {}): T5Encoder {
    expectFamily(src.path, src.keys(), 't5');
    const config = t5Config(src, opts.config ?? {});
    const dtype = opts.dtype ?? 'f32';
    const store = new ParamStore();
    try {
      const r = new WeightReader(be, src, dtype, store, '', 'a T5 encoder', opts.quantized !== 'dequantize');
      return new T5Encoder(be, config, dtype, r);
    } catch (e) {
      store.dispose();
      throw e;
    }
  }

  /** Bytes of parameters on the device. */
  get deviceBytes(): number {
    return this.store.bytes;
  }

  private bias(L: number): Tensor {
    if (this.biasCache?.L !== L) {
      this.biasCache?.bias.dispose();
      const c = this.config;
      const data = positionBias(
        this.relTable,
        c.num_heads,
        c.relative_attention_num_buckets,
        c.relative_attention_max_distance,
        L,
        L,
      );
      this.biasCache = { L, bias: this.be.keep(this.be.tensor(data, [c.num_heads, L, L], 'f32')) };
    }
    return this.biasCache.bias;
  }

  /** Token ids [B·L] (row-major) -> last_hidden_state [B, L, d_model] in the compute dtype. */
  encode(ids: ArrayLike<number>, B: number, L: number, opts: T5EncodeOptions = {}): Tensor {
    const { be, config: c, dtype } = this;
    if (ids.length !== B * L)
      throw new RangeError(`T5 encode: ${ids.length} ids for batch ${B} x length ${L}`);
    const d = c.d_model;
    const x0 = new Float32Array(B * L * d);
    for (let i = 0; i < B * L; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= c.vocab_size)
        throw new RangeError(
          `T5 encode: token id ${id} at position ${i} is outside the vocabulary (0..${c.vocab_size - 1})`,
        );
      x0.set(this.embedding.subarray(id * d, (id + 1) * d), i * d);
    }
    let keyMask: Tensor | undefined;
    if (opts.attentionMask) {
      const m = opts.attentionMask;
      if (m.length !== B * L)
        throw new RangeError(`T5 encode: attention mask has ${m.length} values, expected ${B * L}`);
      if (Array.from(m).some((v) => v === 0))
        keyMask = be.tensor(
          Array.from(m, (v) => (v ? 1 : 0)),
          [B, L],
          'u32',
        );
    }
    const bias = opts.noPositionBias ? undefined : this.bias(L);
    const eps = c.layer_norm_epsilon;
    const toCompute = (t: Tensor) => (dtype === 'f32' ? t : be.cast(t, dtype));
    const out = be.tidy(() => {
      let x = be.tensor(x0, [B, L, d], 'f32');
      for (const blk of this.blocks) {
        const next = be.tidy(() => {
          const [sa, ff] = blk.layer;
          const h = toCompute(be.rmsNorm(x, sa.layer_norm, eps));
          const { q, k, v } = this.heads.split(be.matmul(h, sa.SelfAttention.qkv));
          const a = be.maskedAttention(q, k, v, { scale: 1, bias, keyMask });
          const x1 =
            dtype === 'f32'
              ? be.matmul(a, sa.SelfAttention.o, { residual: x })
              : be.add(x, be.cast(be.matmul(a, sa.SelfAttention.o), 'f32'));
          const h2 = toCompute(be.rmsNorm(x1, ff.layer_norm, eps));
          const g = be.matmul(h2, ff.DenseReluDense.wi_0, { activation: 'gelu_tanh' });
          const gated = be.mul(g, be.matmul(h2, ff.DenseReluDense.wi_1));
          const g32 = dtype === 'f32' ? gated : be.cast(gated, 'f32');
          return be.matmul(g32, ff.DenseReluDense.wo, { residual: x1 });
        });
        x.dispose();
        x = next;
      }
      return toCompute(be.rmsNorm(x, this.finalNorm, eps));
    });
    keyMask?.dispose();
    return out;
  }

  dispose(): void {
    this.store.dispose();
    this.heads.dispose();
    this.biasCache?.bias.dispose();
    this.biasCache = null;
  }
}
