// Every generated image of an evaluation, kept losslessly in a few PNG "atlases" (rows = seeds, columns
// = configurations, no gaps), so the metrics can be recomputed later (`toma eval --from DIR`), e.g. on
// a machine where the deep-feature network is installed, and so every image can be looked at.
import type { RgbImage } from './image-metrics.js';

/** Raw pixel bytes per atlas file at most (the PNG is smaller or about the same). */
export const ATLAS_MAX_BYTES = 12 * 1024 * 1024;

/** Splits n seeds into consecutive ranges whose atlases stay under maxBytes of pixels each. */
export function planAtlases(
  seeds: number,
  configs: number,
  width: number,
  height: number,
  maxBytes = ATLAS_MAX_BYTES,
): { first: number; count: number }[] {
  const perSeed = configs * width * height * 3;
  const files = Math.max(1, Math.ceil((seeds * perSeed) / maxBytes));
  const per = Math.ceil(seeds / files);
  const out: { first: number; count: number }[] = [];
  for (let s = 0; s < seeds; s += per) out.push({ first: s, count: Math.min(per, seeds - s) });
  return out;
}

/** rows[r][c] placed at (c * w, r * h). */
export function composeAtlas(rows: RgbImage[][]): RgbImage {
  const first = rows[0]?.[0];
  if (!first) throw new RangeError('composeAtlas: no images');
  const { width: w, height: h } = first;
  const cols = rows[0]!.length;
  const W = cols * w;
  const out = new Uint8Array(rows.length * h * W * 3);
  rows.forEach((row, r) => {
    if (row.length !== cols)
      throw new RangeError(`composeAtlas: row ${r} has ${row.length} images, not ${cols}`);
    row.forEach((img, c) => {
      if (img.width !== w || img.height !== h)
        throw new RangeError('composeAtlas: images of different sizes');
      for (let y = 0; y < h; y++)
        out.set(img.data.subarray(y * w * 3, (y + 1) * w * 3), ((r * h + y) * W + c * w) * 3);
    });
  });
  return { width: W, height: rows.length * h, data: out };
}

/** Inverse of composeAtlas. */
export function splitAtlas(atlas: RgbImage, rows: number, cols: number, w: number, h: number): RgbImage[][] {
  if (atlas.width !== cols * w || atlas.height !== rows * h)
    throw new RangeError(
      `splitAtlas: a ${atlas.width}x${atlas.height} atlas is not ${rows} x ${cols} images of ${w}x${h}`,
    );
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: cols }, (_, c) => {
      const data = new Uint8Array(w * h * 3);
      for (let y = 0; y < h; y++)
        data.set(
          atlas.data.subarray(
            ((r * h + y) * atlas.width + c * w) * 3,
            ((r * h + y) * atlas.width + (c + 1) * w) * 3,
          ),
          y * w * 3,
        );
      return { width: w, height: h, data };
    }),
  );
}
