// The UNet's parameters on the device, loaded one tensor at a time from either key layout. The tree
// follows the diffusers module names. Layout changes made while loading:
//   convolutions: [Cout, Cin, KH, KW] -> channels-last [Cout, KH, KW, Cin] (what Backend.conv2d takes);
//   1x1 convolutions (resnet shortcuts, SD 1.5's proj_in/proj_out): [Cout, Cin] matrices (matmuls over
//   the channels-last rows);
//   attn1 q|k|v: one [3C, C] matrix (one matmul, then qkvHeads); attn2 k|v: one [2C, cross] matrix;
//   every resnet's time_emb_proj: rows of one [Σ Cout, time_embed_dim] matrix, so all of them are one
//   matmul of silu(temb) per forward (each resnet reads its columns).
import { convWeightToOHWI } from '../../cpu/conv.js';
import type { Tensor } from '../../tensor.js';
import type { WeightReader } from '../weights.js';
import type { UnetConfig } from './config.js';

export interface Linear {
  weight: Tensor;
  bias?: Tensor;
}
export interface Norm {
  weight: Tensor;
  bias: Tensor;
}
export interface Conv {
  /** [Cout, KH, KW, Cin] */
  weight: Tensor;
  bias: Tensor;
}

export interface ResnetWeights {
  key: string;
  cin: number;
  cout: number;
  norm1: Norm;
  conv1: Conv;
  norm2: Norm;
  conv2: Conv;
  /** 1x1 convolution as a [Cout, Cin] matrix, when the channels change. */
  shortcut?: Linear;
  /** First column of this resnet's time projection in the table of all of them. */
  tembColumn: number;
}

export interface TransformerBlockWeights {
  norm1: Norm;
  /** [3C, C]: to_q | to_k | to_v (no biases). */
  qkv: Tensor;
  attn1Out: Linear;
  norm2: Norm;
  /** [C, C] */
  q2: Tensor;
  /** [2C, cross_attention_dim]: to_k | to_v of the cross-attention. */
  kv2: Tensor;
  attn2Out: Linear;
  norm3: Norm;
  /** GEGLU projection [2I, C] (hidden | gate) and the output [C, I]. */
  ffProj: Linear;
  ffOut: Linear;
}

export interface Transformer2DWeights {
  key: string;
  level: number;
  channels: number;
  heads: number;
  norm: Norm;
  projIn: Linear;
  blocks: TransformerBlockWeights[];
  projOut: Linear;
}

export interface DownLevelWeights {
  resnets: ResnetWeights[];
  attentions: (Transformer2DWeights | null)[];
  downsample?: Conv;
}
export interface UpLevelWeights {
  resnets: ResnetWeights[];
  attentions: (Transformer2DWeights | null)[];
  upsample?: Conv;
}

export interface UnetWeights {
  convIn: Conv;
  timeEmbedding: { linear1: Linear; linear2: Linear };
  addEmbedding?: { linear1: Linear; linear2: Linear };
  /** All resnets' time_emb_proj stacked: [Σ Cout, time_embed_dim] and [Σ Cout]. */
  tembProj: Linear;
  down: DownLevelWeights[];
  mid: { resnets: [ResnetWeights, ResnetWeights]; attention: Transformer2DWeights };
  up: UpLevelWeights[];
  normOut: Norm;
  convOut: Conv;
}

/**
 * Reads every parameter through `r` (a reader without prefix) with `K` mapping the model's diffusers
 * key to the stored one. Throws a WeightError naming the stored key for a missing or misshapen tensor.
 */
export function loadUnetWeights(r: WeightReader, c: UnetConfig, K: (key: string) => string): UnetWeights {
  const L = c.block_out_channels.length;
  const T = c.time_embed_dim;
  const linear = (k: string, n: number, kin: number, bias = true): Linear => ({
    weight: r.load(K(`${k}.weight`), [n, kin]),
    bias: bias ? r.load(K(`${k}.bias`), [n]) : undefined,
  });
  const norm = (k: string, ch: number): Norm => ({
    weight: r.load(K(`${k}.weight`), [ch]),
    bias: r.load(K(`${k}.bias`), [ch]),
  });
  const conv = (k: string, cin: number, cout: number, ks: number): Conv => ({
    weight: r.load(K(`${k}.weight`), [cout, ks, ks, cin], {
      stored: [cout, cin, ks, ks],
      transform: (v) => convWeightToOHWI(v, cout, cin, ks, ks),
    }),
    bias: r.load(K(`${k}.bias`), [cout]),
  });
  /** A 1x1 convolution or a Linear layer, as a [cout, cin] matrix. */
  const pointwise = (k: string, cin: number, cout: number, linearLayout: boolean): Linear => ({
    weight: r.load(K(`${k}.weight`), [cout, cin], { stored: linearLayout ? [cout, cin] : [cout, cin, 1, 1] }),
    bias: r.load(K(`${k}.bias`), [cout]),
  });

  // time_emb_proj of every resnet, in forward order, as rows of one matrix
  const tembKeys: string[] = [];
  const tembShapes: number[][] = [];
  let tembColumns = 0;
  const resnet = (k: string, cin: number, cout: number): ResnetWeights => {
    const w: ResnetWeights = {
      key: k,
      cin,
      cout,
      norm1: norm(`${k}.norm1`, cin),
      conv1: conv(`${k}.conv1`, cin, cout, 3),
      norm2: norm(`${k}.norm2`, cout),
      conv2: conv(`${k}.conv2`, cout, cout, 3),
      shortcut: cin !== cout ? pointwise(`${k}.conv_shortcut`, cin, cout, false) : undefined,
      tembColumn: tembColumns,
    };
    tembKeys.push(`${k}.time_emb_proj`);
    tembShapes.push([cout, T]);
    tembColumns += cout;
    return w;
  };
  const transformer = (k: string, level: number, depth: number): Transformer2DWeights => {
    const C = c.block_out_channels[level]!;
    const X = c.cross_attention_dim;
    const I = 4 * C; // FeedForward's inner width (mult 4); the GEGLU projection is twice that
    const blocks: TransformerBlockWeights[] = [];
    for (let b = 0; b < depth; b++) {
      const p = `${k}.transformer_blocks.${b}`;
      blocks.push({
        norm1: norm(`${p}.norm1`, C),
        qkv: r.concatRows(
          ['q', 'k', 'v'].map((n) => K(`${p}.attn1.to_${n}.weight`)),
          [
            [C, C],
            [C, C],
            [C, C],
          ],
        ),
        attn1Out: linear(`${p}.attn1.to_out.0`, C, C),
        norm2: norm(`${p}.norm2`, C),
        q2: r.load(K(`${p}.attn2.to_q.weight`), [C, C]),
        kv2: r.concatRows(
          ['k', 'v'].map((n) => K(`${p}.attn2.to_${n}.weight`)),
          [
            [C, X],
            [C, X],
          ],
        ),
        attn2Out: linear(`${p}.attn2.to_out.0`, C, C),
        norm3: norm(`${p}.norm3`, C),
        ffProj: linear(`${p}.ff.net.0.proj`, 2 * I, C),
        ffOut: linear(`${p}.ff.net.2`, C, I),
      });
    }
    return {
      key: k,
      level,
      channels: C,
      heads: c.num_attention_heads[level]!,
      norm: norm(`${k}.norm`, C),
      projIn: pointwise(`${k}.proj_in`, C, C, c.use_linear_projection),
      blocks,
      projOut: pointwise(`${k}.proj_out`, C, C, c.use_linear_projection),
    };
  };

  const C0 = c.block_out_channels[0]!;
  const convIn = conv('conv_in', c.in_channels, C0, c.conv_in_kernel);
  const timeEmbedding = {
    linear1: linear('time_embedding.linear_1', T, c.timestep_input_dim),
    linear2: linear('time_embedding.linear_2', T, T),
  };
  const addEmbedding = c.addition_embed_type
    ? {
        linear1: linear('add_embedding.linear_1', T, c.projection_class_embeddings_input_dim),
        linear2: linear('add_embedding.linear_2', T, T),
      }
    : undefined;

  const down: DownLevelWeights[] = [];
  let ch = C0;
  for (let i = 0; i < L; i++) {
    const cout = c.block_out_channels[i]!;
    const resnets: ResnetWeights[] = [];
    const attentions: (Transformer2DWeights | null)[] = [];
    for (let j = 0; j < c.layers_per_block; j++) {
      resnets.push(resnet(`down_blocks.${i}.resnets.${j}`, j === 0 ? ch : cout, cout));
      const d = c.down_transformer_layers[i]![j]!;
      attentions.push(d > 0 ? transformer(`down_blocks.${i}.attentions.${j}`, i, d) : null);
    }
    const downsample = i < L - 1 ? conv(`down_blocks.${i}.downsamplers.0.conv`, cout, cout, 3) : undefined;
    down.push({ resnets, attentions, downsample });
    ch = cout;
  }

  const Cm = c.block_out_channels[L - 1]!;
  const midResnet0 = resnet('mid_block.resnets.0', Cm, Cm);
  const midAttention = transformer('mid_block.attentions.0', L - 1, c.mid_transformer_layers);
  const midResnet1 = resnet('mid_block.resnets.1', Cm, Cm);

  // up block u works at level L-1-u; resnet j takes the running channels plus a skip's channels
  const up: UpLevelWeights[] = [];
  let prev = Cm;
  for (let u = 0; u < L; u++) {
    const level = L - 1 - u;
    const cout = c.block_out_channels[level]!;
    const lower = c.block_out_channels[Math.max(level - 1, 0)]!; // the skip of the last resnet
    const resnets: ResnetWeights[] = [];
    const attentions: (Transformer2DWeights | null)[] = [];
    for (let j = 0; j <= c.layers_per_block; j++) {
      const skip = j === c.layers_per_block ? lower : cout;
      resnets.push(resnet(`up_blocks.${u}.resnets.${j}`, (j === 0 ? prev : cout) + skip, cout));
      const d = c.up_transformer_layers[u]![j]!;
      attentions.push(d > 0 ? transformer(`up_blocks.${u}.attentions.${j}`, level, d) : null);
    }
    const upsample = u < L - 1 ? conv(`up_blocks.${u}.upsamplers.0.conv`, cout, cout, 3) : undefined;
    up.push({ resnets, attentions, upsample });
    prev = cout;
  }

  const normOut = norm('conv_norm_out', C0);
  const convOut = conv('conv_out', C0, c.out_channels, c.conv_out_kernel);
  const tembProj: Linear = {
    weight: r.concatRows(
      tembKeys.map((k) => K(`${k}.weight`)),
      tembShapes,
    ),
    bias: r.concatRows(
      tembKeys.map((k) => K(`${k}.bias`)),
      tembShapes.map((s) => [s[0]!]),
    ),
  };
  return {
    convIn,
    timeEmbedding,
    addEmbedding,
    tembProj,
    down,
    mid: { resnets: [midResnet0, midResnet1], attention: midAttention },
    up,
    normOut,
    convOut,
  };
}
