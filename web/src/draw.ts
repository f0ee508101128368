// Drawing on the page: generated images (one canvas pixel per image pixel, scaled up by CSS) and
// ToMA's destination map over them.
import type { ChosenDestinations } from '../../src/merge/toma-reducer.js';

export function drawImage(canvas: HTMLCanvasElement, rgb: Uint8Array, width: number, height: number): void {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    img.data[4 * i] = rgb[3 * i]!;
    img.data[4 * i + 1] = rgb[3 * i + 1]!;
    img.data[4 * i + 2] = rgb[3 * i + 2]!;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/**
 * Shades the tokens that were merged away (batch element 0: the class-conditional branch), leaves the
 * destinations clear and outlines the tiles. The canvas is drawn at `pixels` x `pixels`.
 */
export function drawDestinationMap(canvas: HTMLCanvasElement, d: ChosenDestinations, pixels: number): number {
  const { layout } = d;
  const rows = layout.height;
  const cols = layout.width;
  canvas.width = pixels;
  canvas.height = pixels;
  const ctx = canvas.getContext('2d')!;
  const cw = pixels / cols;
  const ch = pixels / rows;
  const kept = new Uint8Array(rows * cols);
  for (const t of d.indices.subarray(0, layout.tokens)) kept[t] = 1;
  ctx.clearRect(0, 0, pixels, pixels);
  ctx.fillStyle = 'rgba(10, 14, 30, 0.62)';
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++)
      if (!kept[r * cols + c]) ctx.fillRect(c * cw, r * ch, Math.ceil(cw), Math.ceil(ch));
  ctx.strokeStyle = 'rgba(255, 214, 0, 0.95)';
  ctx.lineWidth = Math.max(1, pixels / 256);
  ctx.beginPath();
  for (let c = layout.tile; c < cols; c += layout.tile) {
    ctx.moveTo(c * cw, 0);
    ctx.lineTo(c * cw, pixels);
  }
  for (let r = layout.tile; r < rows; r += layout.tile) {
    ctx.moveTo(0, r * ch);
    ctx.lineTo(pixels, r * ch);
  }
  ctx.stroke();
  return kept.reduce((a, b) => a + b, 0);
}
