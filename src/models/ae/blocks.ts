// The building blocks the autoencoder's decoder and encoder share, on row bands (bands.ts): loading
// convolutions, norms, ResNet blocks and the mid-block attention in either key layout, and running them.
// Functions that run a block consume their input bands.
import type { Backend } from '../../backend.js';
import { convWeightToOHWI } from '../../cpu/conv.js';
import type { Tensor } from '../../tensor.js';
import type { ComputeDType, WeightReader } from '../weights.js';
import {
  type Bands,
  type ConvParams,
  convBands,
  disposeBands,
  groupNormBands,
  type NormParams,
} from './bands.js';
import { type AeLayout, layoutKey } from './config.js';

export interface ResnetBlock {
  norm1: NormParams;
  conv1: ConvParams;
  norm2: NormParams;
  conv2: ConvParams;
  nin_shortcut?: ConvParams;
}
interface Linear {
  weight: Tensor;
  bias?: Tensor;
}
/** f32; q pre-scaled by 1/sqrt(C); v without bias (folded into proj_out.bias). */
export interface AttnBlock {
  norm: NormParams;
  q: Linear;
  k: Linear;
  v: Linear;
  proj_out: Linear;
}

/** Loads blocks by their original-layout names from a checkpoint in either layout. */
export class AeBlockLoader {
  constructor(
    private readonly r: WeightReader,
    private readonly layout: AeLayout,
    /** Levels of the decoder (the diffusers layout numbers its up blocks in reverse). */
    private readonly levels: number,
  ) {}

  key(k: string): string {
    return layoutKey(k, this.layout, this.levels);
  }

  conv(k: string, cin: number, cout: number, ks: number): ConvParams {
    return {
      weight: this.r.load(this.key(`${k}.weight`), [cout, ks, ks, cin], {
        stored: [cout, cin, ks, ks],
        transform: (v) => convWeightToOHWI(v, cout, cin, ks, ks),
      }),
      bias: this.r.load(this.key(`${k}.bias`), [cout]),
    };
  }

  norm(k: string, ch: number): NormParams {
    return {
      weight: this.r.load(this.key(`${k}.weight`), [ch]),
      bias: this.r.load(this.key(`${k}.bias`), [ch]),
    };
  }

  resnet(k: string, cin: number, cout: number): ResnetBlock {
    return {
      norm1: this.norm(`${k}.norm1`, cin),
      conv1: this.conv(`${k}.conv1`, cin, cout, 3),
      norm2: this.norm(`${k}.norm2`, cout),
      conv2: this.conv(`${k}.conv2`, cout, cout, 3),
      nin_shortcut: cin !== cout ? this.conv(`${k}.nin_shortcut`, cin, cout, 1) : undefined,
    };
  }

  /** The mid-block attention at `a` (e.g. "decoder.mid.attn_1") over C channels, kept in f32. */
  attention(a: string, C: number): AttnBlock {
    const r = this.r;
    // projections: 1x1 convs [C, C, 1, 1] (original) or Linear [C, C] (diffusers)
    const square = (k: string): Float32Array => {
      const key = this.key(`${k}.weight`);
      return r.f32(key, r.shape(key).length === 4 ? [C, C, 1, 1] : [C, C]);
    };
    const vec = (k: string) => r.f32(this.key(`${k}.bias`), [C]);
    const s = 1 / Math.sqrt(C);
    const projW = square(`${a}.proj_out`);
    const vBias = vec(`${a}.v`);
    // softmax rows sum to 1, so v's bias passes through the attention unchanged: fold it into proj_out
    const projBias = vec(`${a}.proj_out`).map((b, o) => {
      let acc = b;
      for (let i = 0; i < C; i++) acc += projW[o * C + i]! * vBias[i]!;
      return acc;
    });
    const sq = [C, C];
    return {
      norm: this.norm(`${a}.norm`, C),
      q: {
        weight: r.upload(
          square(`${a}.q`).map((v) => v * s),
          sq,
          'f32',
        ),
        bias: r.upload(
          vec(`${a}.q`).map((v) => v * s),
          [C],
          'f32',
        ),
      },
      k: { weight: r.upload(square(`${a}.k`), sq, 'f32'), bias: r.upload(vec(`${a}.k`), [C], 'f32') },
      v: { weight: r.upload(square(`${a}.v`), sq, 'f32') },
      proj_out: { weight: r.upload(projW, sq, 'f32'), bias: r.upload(projBias, [C], 'f32') },
    };
  }
}

/** Disposes `input` and returns `output` (keeps stage code linear). */
export function consume(input: Bands, output: Bands): Bands {
  disposeBands(input);
  return output;
}

/** x + conv2(silu(gn2(conv1(silu(gn1(x)))))) with a 1x1 shortcut where the width changes. */
export function resnetBands(be: Backend, xs: Bands, blk: ResnetBlock, groups: number, eps: number): Bands {
  const h = groupNormBands(be, xs, blk.norm1, groups, eps, true);
  const h1 = consume(h, convBands(be, h, blk.conv1));
  const h2 = consume(h1, groupNormBands(be, h1, blk.norm2, groups, eps, true));
  const shortcut = blk.nin_shortcut ? convBands(be, xs, blk.nin_shortcut) : xs;
  const out = consume(h2, convBands(be, h2, blk.conv2, { residual: shortcut }));
  if (shortcut !== xs) disposeBands(shortcut);
  disposeBands(xs);
  return out;
}

/**
 * Single-head attention over all h·w positions of x [B, h, w, C] (consumed), x + proj_out(attn(gn(x))),
 * in f32 as matmuls over chunks of query rows; one band out. `what` names the caller in errors.
 */
export function attentionBand(
  be: Backend,
  x: Tensor,
  a: AttnBlock,
  o: { groups: number; eps: number; dtype: ComputeDType; limit: number; what: string },
): Bands {
  const { dtype, limit } = o;
  const [B, h, w, C] = x.shape as [number, number, number, number];
  const HW = h * w;
  if (B * HW * C * 4 > limit)
    throw new RangeError(
      `${o.what}: the mid-block attention needs [${B}, ${HW}, ${C}] f32 tensors (${B * HW * C * 4} bytes), over the ${limit}-byte tensor limit; use a smaller image or batch`,
    );
  const chunk = Math.max(1, Math.min(HW, Math.floor(limit / (HW * 4))));
  const out = be.tidy(() => {
    const hn = be.groupNorm(x, { groups: o.groups, eps: o.eps, ...a.norm });
    const hn32 = dtype === 'f32' ? hn : be.cast(hn, 'f32');
    const outs: Tensor[] = [];
    for (let b = 0; b < B; b++) {
      outs.push(
        be.tidy(() => {
          const hb = be.reshape(B === 1 ? hn32 : be.slice(hn32, 0, b, 1), [HW, C]);
          const q = be.matmul(hb, a.q.weight, { bias: a.q.bias });
          const k = be.matmul(hb, a.k.weight, { bias: a.k.bias });
          const vT = be.matmul(a.v.weight, hb); // [C, HW]
          const parts: Tensor[] = [];
          for (let r0 = 0; r0 < HW; r0 += chunk) {
            const n = Math.min(chunk, HW - r0);
            parts.push(
              be.tidy(() => {
                const qc = n === HW ? q : be.slice(q, 0, r0, n);
                return be.matmul(be.softmax(be.matmul(qc, k)), vT);
              }),
            );
          }
          const att = parts.length === 1 ? parts[0]! : be.concat(parts, 0);
          const xb = be.reshape(B === 1 ? x : be.slice(x, 0, b, 1), [HW, C]);
          const res = dtype === 'f32' ? xb : be.cast(xb, 'f32');
          return be.matmul(att, a.proj_out.weight, { bias: a.proj_out.bias, residual: res });
        }),
      );
    }
    const y = be.reshape(outs.length === 1 ? outs[0]! : be.concat(outs, 0), [B, h, w, C]);
    return be.keep(dtype === 'f32' ? y : be.cast(y, dtype));
  });
  x.dispose();
  return [out];
}
