// `--preview FILE`: the pipeline's TAEF1 previews written to one small PNG, replaced atomically at every
// preview so that an image viewer watching the file never reads half of one.
import { deflateSync } from 'node:zlib';
import { writeFileAtomic } from '../io/atomic.js';
import { encodePng, toUint8 } from '../io/png.js';
import type { PreviewImages } from '../pipeline/flux-pipeline.js';

/** Longest side of a preview file: enough to judge composition, cheap to encode every few steps. */
export const PREVIEW_MAX_SIDE = 256;

/** Steps between previews when not given: about eight per image, at least one step apart. */
export function defaultPreviewEvery(steps: number): number {
  return Math.max(1, Math.floor(steps / 8));
}

/**
 * Interleaved RGB [H, W, 3] shrunk by the smallest integer factor that brings both sides to at most
 * maxSide, averaging each factor x factor box (edge rows and columns that do not fill a box are dropped).
 */
export function shrinkRgb(
  rgb: Float32Array,
  width: number,
  height: number,
  maxSide = PREVIEW_MAX_SIDE,
): { rgb: Float32Array; width: number; height: number } {
  const f = Math.max(1, Math.ceil(Math.max(width, height) / maxSide));
  if (f === 1) return { rgb, width, height };
  const w = Math.max(1, Math.floor(width / f));
  const h = Math.max(1, Math.floor(height / f));
  const out = new Float32Array(w * h * 3);
  const inv = 1 / (f * f);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let dy = 0; dy < f; dy++)
          for (let dx = 0; dx < f; dx++) acc += rgb[((y * f + dy) * width + x * f + dx) * 3 + c]!;
        out[(y * w + x) * 3 + c] = acc * inv;
      }
  return { rgb: out, width: w, height: h };
}

/** Writes the first image of a preview to `path` as a PNG (atomically). */
export function writePreview(path: string, p: PreviewImages): void {
  const s = shrinkRgb(p.images[0]!, p.width, p.height);
  const png = encodePng(toUint8(s.rgb), s.width, s.height, 3, (raw) => deflateSync(raw));
  try {
    writeFileAtomic(path, png);
  } catch (e) {
    throw new Error(`--preview: ${(e as Error).message}`);
  }
}
