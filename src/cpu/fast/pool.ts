// The fast path's threads and memory, created on first use: one WebAssembly memory shared by the
// main thread and a few workers (Node's worker_threads), which take jobs from a shared counter. The
// CPU backend's operations are synchronous, so the main thread does jobs too and then blocks in
// Atomics.wait until the workers are done (allowed on Node's main thread, not on a browser's: there,
// and wherever SharedArrayBuffer is missing, the kernel runs on the calling thread alone).
import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { type KernelExports, kernelModuleBytes } from './kernels.js';
import { CONTROL_BYTES, CTL, runJobs, ThreadContext } from './tasks.js';

/** The memory's limit: 2 GiB (a matmul or attention needing more runs on the plain path). */
const MAX_PAGES = 32768;
const PAGE = 65536;
/** More threads than this gain little on these sizes and cost memory bandwidth. */
const MAX_THREADS = 8;
/** How long the first call waits for the workers to start before going on without them. */
const START_TIMEOUT_MS = 10_000;

export interface FastCpu {
  /** the main thread's handles */
  readonly ctx: ThreadContext;
  /** threads taking jobs, the main one included */
  readonly threads: number;
  /** whether the kernel fuses multiply and add (relaxed SIMD) */
  readonly fma: boolean;
  /** Grows the memory to hold `bytes`; false where that exceeds the limit. */
  reserve(bytes: number): boolean;
  /** Runs the task whose parameters are in the control block on every thread; returns when done. */
  run(nJobs: number): void;
}

let instance: FastCpu | null | undefined;

/**
 * The fast path, or null where it is unavailable (no WebAssembly SIMD) or turned off
 * (TOMA_CPU_FAST=0). TOMA_CPU_THREADS=N sets the thread count (default: the available cores, at
 * most 8). The one place that decides; see ../kernels.ts for the choice between the two paths.
 */
export function fastCpu(): FastCpu | null {
  if (instance === undefined) instance = create();
  return instance;
}

function env(name: string): string | undefined {
  return typeof process !== 'undefined' ? process.env?.[name] : undefined;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

function create(): FastCpu | null {
  if (env('TOMA_CPU_FAST') === '0' || typeof WebAssembly !== 'object') return null;
  // relaxed SIMD (a fused multiply-add) where the engine has it (Node 22), plain SIMD otherwise
  let fma = true;
  let bytes = kernelModuleBytes({ maxPages: MAX_PAGES, fma });
  if (!WebAssembly.validate(bytes)) {
    fma = false;
    bytes = kernelModuleBytes({ maxPages: MAX_PAGES, fma });
    if (!WebAssembly.validate(bytes)) return null;
  }
  const shared = typeof SharedArrayBuffer === 'function';
  let threads = 1;
  if (shared && isNode) {
    const asked = Number(env('TOMA_CPU_THREADS') ?? Number.NaN);
    threads = Number.isInteger(asked) && asked >= 1 ? asked : Math.min(availableParallelism(), MAX_THREADS);
  }
  if (!shared) bytes = kernelModuleBytes({ fma });
  const memory = new WebAssembly.Memory(
    shared ? { initial: 1, maximum: MAX_PAGES, shared: true } : { initial: 1, maximum: MAX_PAGES },
  );
  const module = new WebAssembly.Module(bytes);
  const kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  const ctx = new ThreadContext(memory, kernels, 0);
  const workers = threads > 1 ? startWorkers(threads - 1, memory, module, ctx) : [];
  return {
    ctx,
    threads: 1 + workers.length,
    fma,
    reserve(needed) {
      const have = memory.buffer.byteLength;
      if (needed <= have) return true;
      const pages = Math.ceil((needed - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) return false;
      memory.grow(pages);
      ctx.refresh();
      return true;
    },
    run(nJobs) {
      const i32 = ctx.i32;
      Atomics.store(i32, CTL.next, 0);
      const helpers = nJobs > 1 ? workers.length : 0;
      if (helpers > 0) {
        Atomics.store(i32, CTL.pending, helpers);
        Atomics.add(i32, CTL.generation, 1);
        Atomics.notify(i32, CTL.generation);
      }
      let error: unknown;
      try {
        runJobs(ctx);
      } catch (e) {
        error = e; // the workers still use the memory: wait for them before throwing
      }
      for (let p = Atomics.load(i32, CTL.pending); p !== 0; p = Atomics.load(i32, CTL.pending)) {
        Atomics.wait(i32, CTL.pending, p);
      }
      if (Atomics.exchange(i32, CTL.failed, 0)) {
        const reports = workers.map((w) => receiveMessageOnPort(w.port)?.message).filter(Boolean);
        error ??= new Error(`a CPU worker thread failed: ${reports.join('; ') || 'no report'}`);
      }
      if (error !== undefined) throw error;
    },
  };
}

interface PoolWorker {
  /** the port a worker reports a failure on, read synchronously after a task */
  port: MessagePort;
}

/** Starts n workers and waits (synchronously) until each waits for tasks; none if they don't start. */
function startWorkers(
  n: number,
  memory: WebAssembly.Memory,
  module: WebAssembly.Module,
  ctx: ThreadContext,
): PoolWorker[] {
  if (ctx.memory.buffer.byteLength < CONTROL_BYTES) throw new Error('control block does not fit');
  const url = new URL('./worker.js', import.meta.url);
  const started: { worker: Worker; port: MessagePort }[] = [];
  for (let t = 1; t <= n; t++) {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(url, {
      workerData: { memory, module, thread: t, port: port2 },
      transferList: [port2],
      // the parent's Node options may not suit a worker (--input-type is refused); V8's are per process
      execArgv: [],
    });
    // idle workers must not keep the process alive
    worker.unref();
    // a worker that fails to start is left out (the wait below times out); it must not end the process
    worker.on('error', (e) => {
      if (Atomics.load(ctx.i32, CTL.ready) >= n)
        console.warn(`toma: a CPU worker thread stopped: ${e.message}`);
    });
    started.push({ worker, port: port1 });
  }
  const i32 = ctx.i32;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (let r = Atomics.load(i32, CTL.ready); r < n; r = Atomics.load(i32, CTL.ready)) {
    const left = deadline - Date.now();
    if (left <= 0 || Atomics.wait(i32, CTL.ready, r, left) === 'timed-out') {
      for (const s of started) void s.worker.terminate();
      return [];
    }
  }
  return started.map((s) => ({ port: s.port }));
}
