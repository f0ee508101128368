// Images as row bands: a channels-last image [B, H, W, C] held as several tensors [B, h_i, W, C] whose
// rows follow each other. Every band stays under the backend's per-tensor limit (a browser binds at
// most 128 MiB), yet the result equals the whole-image computation: a convolution reads its missing
// rows from the neighbouring bands, and group-norm statistics are taken over all bands together.
// Functions here consume their input bands (dispose them) unless noted.
import { type Backend, convPadRows } from '../../backend.js';
import type { Tensor } from '../../tensor.js';

export type Bands = Tensor[];

export interface ConvParams {
  /** [Cout, KH, KW, Cin] */
  weight: Tensor;
  bias?: Tensor;
}

export interface NormParams {
  weight: Tensor;
  bias: Tensor;
}

export function disposeBands(xs: Bands): void {
  for (const x of xs) x.dispose();
}

/** Splits bands taller than maxRows (consumes the input). */
export function splitRows(be: Backend, xs: Bands, maxRows: number): Bands {
  const out: Bands = [];
  for (const x of xs) {
    const rows = x.dim(1);
    if (rows <= maxRows) {
      out.push(x);
      continue;
    }
    const n = Math.ceil(rows / maxRows);
    const per = Math.ceil(rows / n);
    for (let r = 0; r < rows; r += per) out.push(be.keep(be.slice(x, 1, r, Math.min(per, rows - r))));
    x.dispose();
  }
  return out;
}

/** The bands as one tensor (consumes the input). */
export function joinRows(be: Backend, xs: Bands): Tensor {
  if (xs.length === 1) return xs[0]!;
  const y = be.keep(be.concat(xs, 1));
  disposeBands(xs);
  return y;
}

/** Convolution of every band, with the neighbouring rows in place of zero padding. Does not consume xs. */
export function convBands(
  be: Backend,
  xs: Bands,
  conv: ConvParams,
  opts: { residual?: Bands; upsample?: boolean; relu?: boolean } = {},
): Bands {
  const p = convPadRows(conv.weight.dim(1), opts.upsample ? 2 : 1);
  return xs.map((x, i) =>
    be.tidy(() => {
      const above = xs[i - 1];
      const below = xs[i + 1];
      const top = p && above ? be.slice(above, 1, above.dim(1) - p, p) : undefined;
      const bottom = p && below ? be.slice(below, 1, 0, p) : undefined;
      return be.keep(
        be.conv2d(x, conv.weight, {
          bias: conv.bias,
          residual: opts.residual?.[i],
          upsample: opts.upsample,
          relu: opts.relu,
          top,
          bottom,
        }),
      );
    }),
  );
}

/** GroupNorm (+ SiLU) with statistics over all bands. Does not consume xs. */
export function groupNormBands(
  be: Backend,
  xs: Bands,
  norm: NormParams,
  groups: number,
  eps: number,
  silu: boolean,
): Bands {
  return be.tidy(() => {
    const stats = be.groupNormStats(xs, groups, eps);
    return xs.map((x) => be.keep(be.groupNormApply(x, stats, { ...norm, silu })));
  });
}

/**
 * The same image as bands of `rows` rows each (an even number; the last band takes the rest), cut from
 * the input bands whatever their heights (consumes the input). A stride-2 convolution then finds each
 * band starting on an even row, as its output rows need.
 */
export function rebandEven(be: Backend, xs: Bands, rows: number): Bands {
  const total = xs.reduce((a, x) => a + x.dim(1), 0);
  if (xs.length === 1 && total <= rows) return xs; // one band: nothing to align
  const most = Math.min(rows, total); // rows may be Infinity (no tensor limit)
  const per = Math.max(2, most - (most % 2));
  if (xs.every((x, i) => x.dim(1) === per || (i === xs.length - 1 && x.dim(1) <= per))) return xs;
  const out: Bands = [];
  for (let r0 = 0; r0 < total; r0 += per) {
    const n = Math.min(per, total - r0);
    out.push(
      be.tidy(() => {
        const pieces = [];
        let at = 0;
        for (const x of xs) {
          const h = x.dim(1);
          const from = Math.max(r0, at);
          const to = Math.min(r0 + n, at + h);
          if (to > from) pieces.push(be.slice(x, 1, from - at, to - from));
          at += h;
        }
        return be.keep(pieces.length === 1 ? pieces[0]! : be.concat(pieces, 1));
      }),
    );
  }
  disposeBands(xs);
  return out;
}

/**
 * A 3x3 stride-2 convolution with zero padding (0, 1, 0, 1) (diffusers' Downsample2D in the VAE encoder)
 * of every band; bands other than the last must have even heights (rebandEven). Output row oy reads input
 * rows 2oy..2oy+2, so each band reads the first row of the band below it. Does not consume xs.
 */
export function downsampleBands(be: Backend, xs: Bands, conv: ConvParams): Bands {
  return xs.map((x, i) =>
    be.tidy(() => {
      const below = xs[i + 1];
      if (below && x.dim(1) % 2 !== 0)
        throw new RangeError(
          `downsampleBands: band ${i} has ${x.dim(1)} rows; all but the last need an even count`,
        );
      const input = below ? be.concat([x, be.slice(below, 1, 0, 1)], 1) : x;
      return be.keep(
        be.conv2d(input, conv.weight, { bias: conv.bias, stride: 2, padding: { before: 0, after: 1 } }),
      );
    }),
  );
}
