// Reference 2-D convolution (channels-last, stride 1 or 2, same or given zero padding, optional fused nearest 2x
// upsampling, explicit rows above/below and ReLU) and nearest upsampling, accumulating in f64.

export interface Conv2dRefShape {
  B: number;
  H: number;
  W: number;
  Cin: number;
  Cout: number;
  KH: number;
  KW: number;
}

export interface Conv2dRefOptions {
  bias?: Float32Array;
  residual?: Float32Array;
  upsample?: boolean;
  /** max(0, ·) after the residual. */
  relu?: boolean;
  /** [B, p, W, Cin] rows above / below x. */
  top?: Float32Array;
  bottom?: Float32Array;
  padRows?: number;
  /** 1 or 2 (not with upsample or top/bottom). */
  stride?: number;
  /** Zero padding before (top/left) and after (bottom/right); default (K - 1) / 2 per axis. */
  padding?: { before: number; after: number };
}

/** x [B, H, W, Cin], w [Cout, KH, KW, Cin] -> [B, H', W', Cout]. */
export function conv2dRef(
  x: Float32Array,
  w: Float32Array,
  s: Conv2dRefShape,
  o: Conv2dRefOptions = {},
): Float32Array {
  const { B, H, W, Cin, Cout, KH, KW } = s;
  const up = o.upsample ? 2 : 1;
  const st = o.stride ?? 1;
  const ph = o.padding?.before ?? (KH - 1) / 2;
  const pw = o.padding?.before ?? (KW - 1) / 2;
  const Hu = H * up;
  const Wu = W * up;
  const Ho = Math.floor((Hu + ph + (o.padding?.after ?? ph) - KH) / st) + 1;
  const Wo = Math.floor((Wu + pw + (o.padding?.after ?? pw) - KW) / st) + 1;
  const p = o.padRows ?? 0;
  const out = new Float32Array(B * Ho * Wo * Cout);
  // the input row r (may be outside [0, H)) of batch b, or null for zero padding
  const row = (b: number, r: number): [Float32Array, number] | null => {
    if (r >= 0 && r < H) return [x, (b * H + r) * W * Cin];
    if (r < 0 && o.top && r >= -p) return [o.top, (b * p + (r + p)) * W * Cin];
    if (r >= H && o.bottom && r < H + p) return [o.bottom, (b * p + (r - H)) * W * Cin];
    return null;
  };
  for (let b = 0; b < B; b++) {
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++) {
        const ob = ((b * Ho + oy) * Wo + ox) * Cout;
        for (let co = 0; co < Cout; co++) {
          let acc = o.bias ? o.bias[co]! : 0;
          for (let ky = 0; ky < KH; ky++) {
            const iy = oy * st + ky - ph;
            const src = row(b, Math.floor(iy / up));
            if (!src) continue;
            const [arr, rowBase] = src;
            for (let kx = 0; kx < KW; kx++) {
              const ix = ox * st + kx - pw;
              if (ix < 0 || ix >= Wu) continue;
              const xb = rowBase + Math.floor(ix / up) * Cin;
              const wb = ((co * KH + ky) * KW + kx) * Cin;
              for (let ci = 0; ci < Cin; ci++) acc += arr[xb + ci]! * w[wb + ci]!;
            }
          }
          if (o.residual) acc += o.residual[ob + co]!;
          out[ob + co] = o.relu ? Math.max(acc, 0) : acc;
        }
      }
    }
  }
  return out;
}

/** x [B, H, W, C] -> [B, 2H, 2W, C], nearest neighbour. */
export function upsampleNearest2xRef(
  x: Float32Array,
  B: number,
  H: number,
  W: number,
  C: number,
): Float32Array {
  const out = new Float32Array(B * 4 * H * W * C);
  for (let b = 0; b < B; b++)
    for (let y = 0; y < 2 * H; y++)
      for (let xx = 0; xx < 2 * W; xx++) {
        const src = ((b * H + (y >> 1)) * W + (xx >> 1)) * C;
        out.set(x.subarray(src, src + C), ((b * 2 * H + y) * 2 * W + xx) * C);
      }
  return out;
}

/** PyTorch's conv weight [Cout, Cin, KH, KW] -> channels-last [Cout, KH, KW, Cin]. */
export function convWeightToOHWI(
  w: Float32Array,
  Cout: number,
  Cin: number,
  KH: number,
  KW: number,
): Float32Array {
  const out = new Float32Array(w.length);
  for (let co = 0; co < Cout; co++)
    for (let ci = 0; ci < Cin; ci++)
      for (let ky = 0; ky < KH; ky++)
        for (let kx = 0; kx < KW; kx++)
          out[((co * KH + ky) * KW + kx) * Cin + ci] = w[((co * Cin + ci) * KH + ky) * KW + kx]!;
  return out;
}

/** NCHW -> NHWC. */
export function nchwToNhwc(x: Float32Array, B: number, C: number, H: number, W: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < H * W; i++) out[(b * H * W + i) * C + c] = x[(b * C + c) * H * W + i]!;
  return out;
}

/** NHWC -> NCHW. */
export function nhwcToNchw(x: Float32Array, B: number, H: number, W: number, C: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < H * W; i++)
      for (let c = 0; c < C; c++) out[(b * C + c) * H * W + i] = x[(b * H * W + i) * C + c]!;
  return out;
}
