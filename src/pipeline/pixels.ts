// Pixel-space packing used by the embedded model, the same layout Flux uses for its latents:
// [C, H, W] -> tokens [(H/2)·(W/2), C·4] with token row·(W/2) + col and channel c·4 + ph·2 + pw.

export function packPatches(x: Float32Array, B: number, C: number, H: number, W: number): Float32Array {
  const gh = H / 2;
  const gw = W / 2;
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++)
        for (let xx = 0; xx < W; xx++) {
          const token = (y >> 1) * gw + (xx >> 1);
          const ch = c * 4 + (y & 1) * 2 + (xx & 1);
          out[(b * gh * gw + token) * C * 4 + ch] = x[((b * C + c) * H + y) * W + xx]!;
        }
  return out;
}

/** Inverse of packPatches, returning interleaved HWC pixels per image (what PNG encoders take). */
export function unpackToHWC(
  tokens: Float32Array,
  B: number,
  C: number,
  H: number,
  W: number,
): Float32Array[] {
  const gw = W / 2;
  const per = (H / 2) * gw * C * 4;
  const images: Float32Array[] = [];
  for (let b = 0; b < B; b++) {
    const img = new Float32Array(H * W * C);
    for (let y = 0; y < H; y++)
      for (let xx = 0; xx < W; xx++)
        for (let c = 0; c < C; c++) {
          const token = (y >> 1) * gw + (xx >> 1);
          img[(y * W + xx) * C + c] = tokens[b * per + token * C * 4 + c * 4 + (y & 1) * 2 + (xx & 1)]!;
        }
    images.push(img);
  }
  return images;
}

/** Inverse of packPatches: tokens [B, (H/2)·(W/2), C·4] -> [B, C, H, W] (Flux's unpack of latents). */
export function unpackPatches(
  tokens: Float32Array,
  B: number,
  C: number,
  H: number,
  W: number,
): Float32Array {
  const gw = W / 2;
  const out = new Float32Array(B * C * H * W);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++)
        for (let xx = 0; xx < W; xx++) {
          const token = (y >> 1) * gw + (xx >> 1);
          const ch = c * 4 + (y & 1) * 2 + (xx & 1);
          out[((b * C + c) * H + y) * W + xx] = tokens[(b * (H / 2) * gw + token) * C * 4 + ch]!;
        }
  return out;
}

/** [B, C, H, W] -> channels-last [B, H, W, C] (latents drawn in PyTorch's order, run channels-last). */
export function nchwToNhwc(x: Float32Array, B: number, C: number, H: number, W: number): Float32Array {
  const out = new Float32Array(x.length);
  const hw = H * W;
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < hw; i++) out[(b * hw + i) * C + c] = x[(b * C + c) * hw + i]!;
  return out;
}

/** Channels-last [B, H, W, C] -> [B, C, H, W]. */
export function nhwcToNchw(x: Float32Array, B: number, C: number, H: number, W: number): Float32Array {
  const out = new Float32Array(x.length);
  const hw = H * W;
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < hw; i++) out[(b * C + c) * hw + i] = x[(b * hw + i) * C + c]!;
  return out;
}
