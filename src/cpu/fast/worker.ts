// A worker of the CPU fast path (pool.ts): waits for a task, takes its jobs, reports, waits again.
import { type MessagePort, workerData } from 'node:worker_threads';
import type { KernelExports } from './kernels.js';
import { CTL, runJobs, ThreadContext } from './tasks.js';

const { memory, module, thread, port } = workerData as {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  thread: number;
  port: MessagePort;
};
const kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
const ctx = new ThreadContext(memory, kernels, thread);
const i32 = () => ctx.i32;
let seen = Atomics.load(i32(), CTL.generation);
Atomics.add(i32(), CTL.ready, 1);
Atomics.notify(i32(), CTL.ready);
for (;;) {
  Atomics.wait(i32(), CTL.generation, seen);
  seen = Atomics.load(i32(), CTL.generation);
  try {
    runJobs(ctx);
  } catch (e) {
    port.postMessage(e instanceof Error ? (e.stack ?? e.message) : String(e));
    Atomics.store(i32(), CTL.failed, 1);
  }
  if (Atomics.sub(i32(), CTL.pending, 1) === 1) Atomics.notify(i32(), CTL.pending);
}
