// Cancellation (src/util/abort.ts): a flag in shared memory set by another thread is seen at once, and
// a Backend with `signal` stops at its next operation with an AbortError; so does a sampling loop.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { CpuBackend } from '../../src/cpu/backend.js';
import { isAbortError, SharedAbortFlag } from '../../src/util/abort.js';

describe('SharedAbortFlag', () => {
  it('is set from another thread while this one spins synchronously', async () => {
    const flag = new SharedAbortFlag();
    const w = new Worker(
      `const { workerData } = require('node:worker_threads');
       Atomics.store(new Int32Array(workerData), 0, 1);`,
      { eval: true, workerData: flag.buffer },
    );
    const t0 = Date.now();
    // no await: only shared memory can tell this loop
    while (!flag.aborted && Date.now() - t0 < 10_000) {}
    assert.equal(flag.aborted, true);
    await w.terminate();
  });
});

describe('Backend.signal', () => {
  it('an aborted signal stops the next operation with an AbortError, and nothing before it', () => {
    const be = new CpuBackend();
    const state = { aborted: false };
    be.signal = state;
    const x = be.tensor([1, 2, 3, 4], [2, 2]);
    const y = be.add(x, x);
    state.aborted = true;
    assert.throws(
      () => be.matmul(y, x),
      (e) => isAbortError(e),
    );
    assert.throws(
      () => be.tensor([1], [1]),
      (e) => isAbortError(e),
    );
    be.signal = undefined;
    assert.deepEqual([...be.data(be.add(x, y))], [3, 6, 9, 12]);
  });
});
