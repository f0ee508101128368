// The side-by-side comparison grid: one row per seed, one column per method, images upscaled with
// nearest-neighbour, labels drawn with the bitmap font. A cell can carry ToMA's destination map as an
// overlay: tokens that were not destinations are dimmed, and tile borders are drawn.
import { drawText, TEXT_HEIGHT, textWidth } from './bitmap-font.js';
import type { RgbImage } from './image-metrics.js';

export interface DestinationOverlay {
  /** Raster indices (row * cols + col) of the destination tokens. */
  destinations: ArrayLike<number>;
  /** Token grid and ToMA tile side, in tokens. */
  rows: number;
  cols: number;
  tile: number;
}

export interface GridCell {
  image: RgbImage;
  overlay?: DestinationOverlay;
}

export interface GridSpec {
  columns: string[];
  rows: { label: string; cells: GridCell[] }[];
  /** Integer upscaling of every image. */
  scale: number;
  /** A line under the grid (e.g. what the overlay means). */
  footer?: string;
}

const BG: [number, number, number] = [24, 24, 24];
const FG: [number, number, number] = [235, 235, 235];
const BORDER: [number, number, number] = [255, 200, 0];
const DIM = 0.35;
const PAD = 6;

/** Upscales img by an integer factor into canvas at (x0, y0), applying the overlay if any. */
function blit(canvas: RgbImage, cell: GridCell, x0: number, y0: number, scale: number): void {
  const { image: img, overlay } = cell;
  let keep: Uint8Array | null = null;
  if (overlay) {
    if (img.width % overlay.cols !== 0 || img.height % overlay.rows !== 0)
      throw new RangeError(
        `grid overlay: a ${overlay.rows}x${overlay.cols} token grid does not tile a ${img.width}x${img.height} image`,
      );
    keep = new Uint8Array(overlay.rows * overlay.cols);
    for (let i = 0; i < overlay.destinations.length; i++) {
      const d = overlay.destinations[i]!;
      if (!(d >= 0 && d < keep.length))
        throw new RangeError(`grid overlay: destination ${d} outside the grid`);
      keep[d] = 1;
    }
  }
  const pw = overlay ? (img.width / overlay.cols) * scale : 0; // canvas pixels per token
  const ph = overlay ? (img.height / overlay.rows) * scale : 0;
  for (let y = 0; y < img.height * scale; y++)
    for (let x = 0; x < img.width * scale; x++) {
      const src = (Math.floor(y / scale) * img.width + Math.floor(x / scale)) * 3;
      const dst = ((y0 + y) * canvas.width + x0 + x) * 3;
      let r = img.data[src]!;
      let g = img.data[src + 1]!;
      let b = img.data[src + 2]!;
      if (overlay && keep) {
        const tr = Math.floor(y / ph);
        const tc = Math.floor(x / pw);
        const tileEdge =
          (y % (ph * overlay.tile) === 0 && tr > 0) || (x % (pw * overlay.tile) === 0 && tc > 0);
        if (tileEdge) [r, g, b] = BORDER;
        else if (!keep[tr * overlay.cols + tc]) {
          r = Math.round(r * DIM);
          g = Math.round(g * DIM);
          b = Math.round(b * DIM);
        }
      }
      canvas.data[dst] = r;
      canvas.data[dst + 1] = g;
      canvas.data[dst + 2] = b;
    }
}

export function composeGrid(spec: GridSpec): RgbImage {
  const { columns, rows, scale } = spec;
  if (rows.length === 0 || columns.length === 0) throw new RangeError('composeGrid: no rows or no columns');
  if (!Number.isInteger(scale) || scale < 1)
    throw new RangeError(`composeGrid: scale must be a positive integer`);
  const first = rows[0]!.cells[0]!.image;
  const cw = first.width * scale;
  const ch = first.height * scale;
  for (const r of rows) {
    if (r.cells.length !== columns.length)
      throw new RangeError(
        `composeGrid: row "${r.label}" has ${r.cells.length} cells for ${columns.length} columns`,
      );
    for (const c of r.cells)
      if (c.image.width !== first.width || c.image.height !== first.height)
        throw new RangeError('composeGrid: images of different sizes');
  }
  const ts = cw >= 200 ? 2 : 1; // text scale
  const th = TEXT_HEIGHT * ts;
  const header = th + 2 * PAD;
  const rowBand = th + PAD;
  const footer = spec.footer ? TEXT_HEIGHT + 2 * PAD : 0;
  const width = PAD + columns.length * (cw + PAD);
  const height = header + rows.length * (rowBand + ch + PAD) + footer;
  const canvas: RgbImage = { width, height, data: new Uint8Array(width * height * 3) };
  for (let p = 0; p < width * height; p++) canvas.data.set(BG, 3 * p);
  columns.forEach((name, j) => {
    const x = PAD + j * (cw + PAD) + Math.max(0, (cw - textWidth(name, ts)) >> 1);
    drawText(canvas, x, PAD, name, FG, ts);
  });
  rows.forEach((r, i) => {
    const y = header + i * (rowBand + ch + PAD);
    drawText(canvas, PAD, y, r.label, FG, ts);
    r.cells.forEach((cell, j) => {
      blit(canvas, cell, PAD + j * (cw + PAD), y + rowBand, scale);
    });
  });
  if (spec.footer) drawText(canvas, PAD, height - TEXT_HEIGHT - PAD, spec.footer, FG, 1);
  return canvas;
}
