// The thread that generates (started by generator.ts): it loads the model once through the public
// library API and runs one job at a time. It is a thread of its own because the CPU backend computes
// in long synchronous stretches; the HTTP server and BullMQ's lock renewals must keep running meanwhile
// (a worker whose event loop stalled past its lock would see its job handed to another worker).
import { parentPort, workerData } from 'node:worker_threads';
import { type BackendChoice, type GpuBackendOptions, TextToImagePipeline } from '../index.js';
import type { JobSpec } from './spec.js';

export interface GeneratorOptions {
  backend: BackendChoice;
  /** 'embedded', a FLUX.1 folder or a Hugging Face repo id (TextToImagePipeline.fromPretrained). */
  model: string;
  /** WebGPU device options (--robust, --guard). */
  gpu?: GpuBackendOptions;
}

export type ToThread = { type: 'run'; id: string; spec: JobSpec; abort: SharedArrayBuffer };

export type FromThread =
  | { type: 'ready'; backend: string; labels: readonly string[] | undefined }
  | { type: 'load-failed'; message: string }
  | { type: 'progress'; id: string; step: number; steps: number }
  | { type: 'done'; id: string; pngs: Uint8Array[]; ms: number }
  | { type: 'error'; id: string; message: string; cancelled: boolean; invalid: boolean };

const port = parentPort!;
const options = workerData as GeneratorOptions;

/** The job's cancellation: a word in shared memory the controlling thread sets. */
function flagOf(buffer: SharedArrayBuffer) {
  const cell = new Int32Array(buffer, 0, 1);
  return {
    get aborted() {
      return Atomics.load(cell, 0) !== 0;
    },
  };
}

let pipe: TextToImagePipeline;
try {
  pipe = await TextToImagePipeline.fromPretrained(options.model, {
    backend: options.backend,
    gpu: options.gpu,
  });
  port.postMessage({
    type: 'ready',
    backend: pipe.backend.info().description,
    labels: pipe.labels,
  } satisfies FromThread);
} catch (e) {
  port.postMessage({ type: 'load-failed', message: (e as Error).message } satisfies FromThread);
  process.exit(1);
}

port.on('message', async (m: ToThread) => {
  if (m.type !== 'run') return;
  const flag = flagOf(m.abort);
  const { spec } = m;
  const t0 = performance.now();
  let started = false;
  // the backend stops at its next operation once the flag is set, not only between steps
  pipe.backend.signal = flag;
  try {
    const images = await pipe.generate(new Array<string>(spec.n).fill(spec.prompt), {
      steps: spec.steps,
      guidance: spec.guidance,
      seed: spec.seed,
      width: spec.width,
      height: spec.height,
      method: spec.method,
      methodOptions: spec.ratio === undefined ? undefined : { ratio: spec.ratio },
      cache: spec.cache,
      signal: flag,
      onProgress: ({ step, steps }) => {
        started = true;
        port.postMessage({ type: 'progress', id: m.id, step, steps } satisfies FromThread);
      },
    });
    const pngs = await Promise.all(images.map((im) => im.toPNG()));
    port.postMessage({ type: 'done', id: m.id, pngs, ms: performance.now() - t0 } satisfies FromThread, [
      ...new Set(pngs.map((p) => p.buffer as ArrayBuffer)),
    ]);
  } catch (e) {
    const err = e as Error;
    port.postMessage({
      type: 'error',
      id: m.id,
      message: err.message,
      cancelled: flag.aborted || err.name === 'AbortError',
      // the pipeline checks its inputs (an unknown class, a size the model refuses) before the first step
      invalid: !started && (err instanceof RangeError || err instanceof TypeError),
    } satisfies FromThread);
  } finally {
    pipe.backend.signal = undefined;
  }
});
