// The quantized-weight features and the server are reachable from the public entry points, not only
// from the CLI: convert a checkpoint to GGUF, read it back, load it as a FLUX model with its matrices
// kept quantized; and the server's factory from 'toma-webgpu/serve'.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  CpuBackend,
  convertToGguf,
  FluxModel,
  GgufFile,
  openWeightFile,
  QuantizedMatrix,
} from '../../src/index.js';
import * as serve from '../../src/serve/index.js';
import { micro, randomCheckpoint, tmp } from '../models/flux/util.js';

describe('public API: GGUF and serving', () => {
  it('converts, reads back and loads a quantized FLUX model through the package entry', () => {
    const src = randomCheckpoint(micro, { seed: 9 }).path;
    const out = join(tmp, 'public-q8_0.gguf');
    const ck = openWeightFile(src);
    try {
      const s = convertToGguf(ck, out, { type: 'Q8_0', architecture: 'flux' });
      assert.ok((s.types.get('Q8_0') ?? 0) > 0, `stored ${[...s.types]}`);
    } finally {
      ck.close();
    }
    const g = GgufFile.open(out);
    assert.equal(g.architecture, 'flux');
    g.close();
    const be = new CpuBackend();
    const model = FluxModel.load(be, out, { dtype: 'f32', config: micro });
    try {
      assert.ok([...model.params.tensors.values()].some((t) => t instanceof QuantizedMatrix));
    } finally {
      model.dispose();
    }
  });

  it("'toma-webgpu/serve' exports the server and its queues", () => {
    assert.equal(typeof serve.createServer, 'function');
    assert.equal(typeof serve.MemoryQueue, 'function');
    assert.equal(typeof serve.RedisQueue, 'function');
  });
});
