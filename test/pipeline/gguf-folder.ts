// Random-weight FLUX.1 transformers as GGUF files, 2-D weights quantized to Q8_0 (src/quant/quantize.ts,
// bit-exact with gguf-py), the rest F32; keys in the original release's layout, as the community's FLUX.1 GGUF conversions have them.
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type GgufMetadataValue, type GgufTensorToWrite, writeGguf } from '../../src/io/gguf.js';
import type { FluxConfig } from '../../src/models/flux/config.js';
import { fluxDiffusersConfigJson, fluxStoredShapes } from '../../src/models/flux/shapes.js';
import { quantize } from '../../src/quant/quantize.js';
import { Rng } from '../../src/util/random.js';

/**
 * Writes a random transformer of `config` as GGUF: weights N(0, 1/fan_in), biases N(0, 0.02²), norm
 * scales 1; matrices whose rows are whole Q8_0 blocks quantized, the rest F32. With `embedConfig` the
 * config travels in the metadata (key "config", as JSON), for files without a config.json beside them.
 */
export function writeRandomGgufTransformer(
  path: string,
  config: FluxConfig,
  o: { seed?: number; embedConfig?: boolean } = {},
): { quantized: number; dense: number } {
  const rng = new Rng(o.seed ?? 0);
  const tensors: [string, GgufTensorToWrite][] = [];
  let quantized = 0;
  for (const [key, shape] of fluxStoredShapes(config, 'original')) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = key.endsWith('.scale')
      ? new Float32Array(n).fill(1)
      : rng.normals(n).map((x) => x * (key.endsWith('.bias') ? 0.02 : 1 / Math.sqrt(shape.at(-1)!)));
    if (shape.length === 2 && shape[1]! % 32 === 0) {
      tensors.push([key, { type: 'Q8_0', shape, bytes: quantize('Q8_0', v) }]);
      quantized++;
    } else tensors.push([key, { type: 'F32', shape, bytes: new Uint8Array(v.buffer) }]);
  }
  const metadata: [string, GgufMetadataValue][] = [
    ['general.architecture', { type: 'string', value: 'flux' }],
    ['general.name', { type: 'string', value: 'random test transformer' }],
  ];
  if (o.embedConfig) metadata.push(['config', { type: 'string', value: JSON.stringify(config) }]);
  writeGguf(path, metadata, tensors);
  return { quantized, dense: tensors.length - quantized };
}

/**
 * A copy of a random diffusers-layout folder whose transformer/ holds a Q8_0 GGUF (with its diffusers
 * config.json) instead of safetensors.
 */
export function ggufFolderFrom(src: string, dst: string, config: FluxConfig, seed = 0): string {
  cpSync(src, dst, { recursive: true });
  rmSync(join(dst, 'transformer'), { recursive: true, force: true });
  mkdirSync(join(dst, 'transformer'));
  writeFileSync(
    join(dst, 'transformer', 'config.json'),
    `${JSON.stringify(fluxDiffusersConfigJson(config), null, 2)}\n`,
  );
  writeRandomGgufTransformer(join(dst, 'transformer', 'flux1-tiny-Q8_0.gguf'), config, { seed });
  return dst;
}
