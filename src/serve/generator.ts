// The controlling side of the generation thread (generator-thread.ts): loads the model once, then
// runs jobs one at a time, with progress and cancellation. Both the in-process queue of `toma serve`
// and `toma worker` generate through it.
import { Worker } from 'node:worker_threads';
import type { FromThread, GeneratorOptions, ToThread } from './generator-thread.js';
import type { JobSpec } from './spec.js';

export interface Generated {
  /** PNG files, one per image. */
  pngs: Uint8Array[];
  ms: number;
}

/** Why a generation did not produce images: cancelled, refused input, or a failure. */
export class GenerationError extends Error {
  constructor(
    message: string,
    readonly cancelled: boolean,
    /** The input was refused before any step ran (an unknown class, a size the model refuses). */
    readonly invalid: boolean,
  ) {
    super(message);
    this.name = cancelled ? 'AbortError' : 'GenerationError';
  }
}

interface Pending {
  id: string;
  resolve: (g: Generated) => void;
  reject: (e: Error) => void;
  onProgress?: (step: number, steps: number) => void;
}

export class Generator {
  private pending: Pending | undefined;
  private broken: Error | undefined;
  private disposing = false;
  private onDeath: (e: Error) => void = () => {};
  /** Resolves if the thread dies (a crash, out of memory, a lost device): no job can run after that. */
  readonly died = new Promise<Error>((resolve) => {
    this.onDeath = resolve;
  });

  private constructor(
    private readonly thread: Worker,
    /** The device, in words ("CPU (WebAssembly SIMD, 2 threads)", the adapter's name). */
    readonly backend: string,
    /** The embedded model's classes (undefined for FLUX.1: any prompt). */
    readonly labels: readonly string[] | undefined,
  ) {
    thread.on('message', (m: FromThread) => this.onMessage(m));
    const fail = (e: Error) => {
      if (this.disposing) return;
      this.broken ??= e;
      this.onDeath(this.broken);
      this.pending?.reject(e);
      this.pending = undefined;
    };
    thread.on('error', fail);
    thread.on('exit', (code) => fail(new Error(`the generation thread exited (code ${code})`)));
  }

  /** Starts the thread and loads the model (seconds for the embedded model, minutes for FLUX.1). */
  static start(options: GeneratorOptions): Promise<Generator> {
    const workerData: GeneratorOptions = { backend: options.backend, model: options.model, gpu: options.gpu };
    const thread = new Worker(new URL('./generator-thread.js', import.meta.url), { workerData });
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the generation thread exited (code ${code})`));
      thread.once('error', reject);
      thread.once('exit', onExit);
      thread.once('message', (m: FromThread) => {
        thread.off('error', reject);
        thread.off('exit', onExit);
        if (m.type === 'ready') resolve(new Generator(thread, m.backend, m.labels));
        else {
          void thread.terminate();
          reject(new Error(m.type === 'load-failed' ? m.message : `unexpected message ${m.type}`));
        }
      });
    });
  }

  /** One job's images. Rejects with a GenerationError (cancelled via `signal`, invalid, failed). */
  run(
    id: string,
    spec: JobSpec,
    o: { signal?: AbortSignal; onProgress?: (step: number, steps: number) => void } = {},
  ): Promise<Generated> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.pending) return Promise.reject(new Error('Generator.run: one job at a time'));
    const abort = new SharedArrayBuffer(4);
    const cell = new Int32Array(abort);
    const onAbort = () => Atomics.store(cell, 0, 1);
    if (o.signal?.aborted) onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise<Generated>((resolve, reject) => {
      this.pending = { id, resolve, reject, onProgress: o.onProgress };
      this.thread.postMessage({ type: 'run', id, spec, abort } satisfies ToThread);
    }).finally(() => o.signal?.removeEventListener('abort', onAbort));
  }

  private onMessage(m: FromThread): void {
    const p = this.pending;
    if (!p || !('id' in m) || m.id !== p.id) return;
    if (m.type === 'progress') {
      p.onProgress?.(m.step, m.steps);
      return;
    }
    this.pending = undefined;
    if (m.type === 'done') p.resolve({ pngs: m.pngs, ms: m.ms });
    else if (m.type === 'error') p.reject(new GenerationError(m.message, m.cancelled, m.invalid));
  }

  /** True once the thread has died. */
  get isBroken(): boolean {
    return this.broken !== undefined;
  }

  async dispose(): Promise<void> {
    this.disposing = true;
    await this.thread.terminate();
  }
}
