// The attention pieces shared by both block kinds: projection output -> heads with QK RMSNorm and RoPE
// (official order: rearrange, QKNorm, then RoPE inside attention()), and attention of text and image
// queries over the joint [text | image] keys.
import type { KeyRanges } from '../../backend.js';
import type { Tensor } from '../../tensor.js';
import { type ForwardContext, QK_NORM_EPS } from './context.js';
import type { QKNorm } from './weights.js';

export interface Heads {
  /** [B, H, L, D], normalised and rotated. */
  q: Tensor;
  /** [B, H, L, D], normalised and rotated. */
  k: Tensor;
  /** [B, H, L, D]. */
  v: Tensor;
}

/**
 * qkv [B, L, 3·hidden] (the output of a qkv projection, possibly wider) -> q, k, v heads in one fused
 * call (head transpose + QK RMSNorm + RoPE; one launch on WebGPU). table: f32 [B, L, D/2, 2]. With
 * `joint`, k and v are written into rows [offset, offset + L) of the given [B, H, Ljoint, D] tensors
 * (the text|image keys) instead of new tensors.
 */
export function toHeads(
  ctx: ForwardContext,
  qkv: Tensor,
  norm: QKNorm,
  table: Tensor,
  joint?: { k: Tensor; v: Tensor; offset: number },
): Heads {
  const { be } = ctx;
  const H = ctx.config.num_heads;
  const D = ctx.config.hidden_size / H;
  return be.qkvHeads(qkv, {
    heads: H,
    headDim: D,
    qNorm: norm.query_norm.scale,
    kNorm: norm.key_norm.scale,
    eps: QK_NORM_EPS,
    rope: table,
    kInto: joint?.k,
    vInto: joint?.v,
    seqOffset: joint?.offset,
  });
}

/**
 * Text queries qTxt [B, H, Lt, D] and image queries qImg [B, H, n, D] attend to the joint keys and
 * values k, v [B, H, Lt + n', D]. Returns the outputs per stream, [B, Lt, hidden] and [B, n, hidden].
 * The two query sets run as two attention calls, so the joint output never has to be split; with key
 * ranges whose query blocks straddle the text/image border they run as one call over [text | image].
 */
export function jointAttention(
  ctx: ForwardContext,
  ranges: KeyRanges | null,
  qTxt: Tensor,
  qImg: Tensor,
  k: Tensor,
  v: Tensor,
): { txt: Tensor; img: Tensor } {
  const { be } = ctx;
  const Lt = qTxt.dim(2);
  const n = qImg.dim(2);
  if (!ranges) return { txt: be.attention(qTxt, k, v), img: be.attention(qImg, k, v) };
  const bs = ranges.blockSize;
  if (Lt % bs === 0) {
    const nbTxt = Lt / bs;
    const nb = ranges.ranges.dim(0);
    const txtRanges: KeyRanges = { blockSize: bs, ranges: be.slice(ranges.ranges, 0, 0, nbTxt) };
    const imgRanges: KeyRanges = { blockSize: bs, ranges: be.slice(ranges.ranges, 0, nbTxt, nb - nbTxt) };
    // The outer table splits the same way when the text ends on one of its block borders.
    const outer = ranges.outer;
    if (outer && Lt % outer.blockSize === 0) {
      const obs = outer.blockSize;
      const onb = outer.ranges.dim(0);
      txtRanges.outer = { blockSize: obs, ranges: be.slice(outer.ranges, 0, 0, Lt / obs) };
      imgRanges.outer = { blockSize: obs, ranges: be.slice(outer.ranges, 0, Lt / obs, onb - Lt / obs) };
    }
    return {
      txt: be.attention(qTxt, k, v, { keyRanges: txtRanges }),
      img: be.attention(qImg, k, v, { keyRanges: imgRanges }),
    };
  }
  const out = be.attention(be.concat([qTxt, qImg], 2), k, v, { keyRanges: ranges });
  return { txt: be.slice(out, 1, 0, Lt), img: be.slice(out, 1, Lt, n) };
}

/** The pattern's key ranges for one block, checked against the sequence they must describe. */
export function blockRanges(
  ctx: ForwardContext,
  kind: 'double' | 'single',
  index: number,
  imageTokens: number,
  kvReduced: boolean,
): KeyRanges | null {
  if (!ctx.pattern) return null;
  const r = ctx.pattern.keyRanges(kind, index, ctx.info, imageTokens);
  if (r && kvReduced)
    throw new Error(
      `${kind} block ${index}: attention pattern "${ctx.pattern.name}" gives key ranges, but the token reducer "${ctx.reducer.name}" shortens the keys (a kv plan); the two cannot be combined`,
    );
  return r;
}
