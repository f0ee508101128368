// A run whose GPU device goes away (here: destroyed mid-run) stops with a message that says so,
// at its next submission, sync or read.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GpuBackend } from '../../src/gpu/backend.js';
import { noGpu } from '../helpers.js';

describe('GPU device loss', { skip: noGpu }, () => {
  it('device.destroy() mid-run: the next sync and read reject with "the GPU device was lost (destroyed)"', async () => {
    const be = await GpuBackend.create();
    const x = be.tensor(new Float32Array(64).fill(1), [8, 8]);
    const y = be.matmul(x, x);
    assert.equal((await y.read())[0], 8);
    be.gpu.device.destroy();
    await assert.rejects(async () => {
      be.add(y, y);
      await be.sync();
    }, /^Error: the GPU device was lost \(destroyed\): /);
    await assert.rejects(y.read(), /the GPU device was lost \(destroyed\)/);
    be.destroy();
  });
});
