// Loading reads and uploads one tensor at a time: the JS heap (plus array buffers) never holds more
// than a small part of the checkpoint.
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Checkpoint } from '../../../src/io/safetensors.js';
import { randomHostParams, writeFluxCheckpoint } from '../../../src/models/flux/checkpoint-writer.js';
import { type FluxConfig, FluxModel } from '../../../src/models/flux/index.js';
import { gpu, noGpu } from '../../helpers.js';
import { micro, tmp } from './util.js';

const gc = (globalThis as { gc?: () => void }).gc;

describe('Flux checkpoint loading keeps the JS heap small', {
  skip: noGpu || (gc ? false : 'needs --expose-gc'),
}, () => {
  const config: FluxConfig = {
    ...micro,
    hidden_size: 512,
    num_heads: 8,
    axes_dim: [16, 24, 24],
    depth: 2,
    depth_single_blocks: 4,
  };
  for (const layout of ['original', 'diffusers'] as const) {
    it(`${layout} layout, 4 shards: peak heap + array buffers during the load stay under 15% of the checkpoint`, () => {
      let path = join(tmp, `heap-${layout}.safetensors`);
      let bytes = 0;
      {
        const params = randomHostParams(config, 3, 0.02);
        for (const t of params.values()) bytes += t.byteLength;
        path = writeFluxCheckpoint(path, params, config, { layout, dtype: 'F32', shards: 4 });
      }
      gc!();
      const used = () => {
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      const base = used();
      let peak = 0;
      const read = Checkpoint.prototype.readBytes;
      Checkpoint.prototype.readBytes = function (this: Checkpoint, key: string) {
        gc!();
        peak = Math.max(peak, used() - base);
        const out = read.call(this, key);
        peak = Math.max(peak, used() - base);
        return out;
      };
      try {
        const model = FluxModel.load(gpu!, path, { dtype: 'f32' });
        model.dispose();
      } finally {
        Checkpoint.prototype.readBytes = read;
      }
      assert.ok(bytes > 100e6, `checkpoint of ${bytes} bytes`);
      assert.ok(
        peak < 0.15 * bytes,
        `peak ${(peak / 1e6).toFixed(1)} MB of a ${(bytes / 1e6).toFixed(0)} MB checkpoint`,
      );
      console.log(
        `  ${layout}: peak ${(peak / 1e6).toFixed(1)} MB while loading ${(bytes / 1e6).toFixed(0)} MB`,
      );
      for (const f of readdirSync(tmp)) if (f.startsWith(`heap-${layout}`)) rmSync(join(tmp, f));
    });
  }
});
