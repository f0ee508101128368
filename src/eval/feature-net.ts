// Deep features for the evaluation metrics: a pool of worker threads, each holding one copy of a
// pretrained network from nsfwjs (see nsfwjs-model.ts). Loaded once per process and per network, then
// reused; closeFeatureNets() ends the workers.
//
// Caveat, shown wherever these numbers appear: the nsfwjs networks are fine-tuned on another task and
// quantised to 8 bits, so distances from them are comparable within this project only, not with
// published FID / KID values.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { FeatureRequest, WorkerMessage } from './feature-worker.js';
import type { RgbImage } from './image-metrics.js';
import { type FeatureNetName, FeatureNetUnavailable } from './nsfwjs-model.js';

export { FEATURE_NETS, type FeatureNetName, FeatureNetUnavailable } from './nsfwjs-model.js';

export const FEATURE_CAVEAT =
  'deep-feature numbers use networks from npm nsfwjs (fine-tuned on another task, 8-bit quantised): ' +
  'comparable within this project only, not with published FID/KID';

export interface FeatureNet {
  name: FeatureNetName;
  description: string;
  dim: number;
  inputSize: number;
  workers: number;
  /** Feature vectors of images of one size, in order. */
  extract(
    images: readonly RgbImage[],
    onProgress?: (done: number, total: number) => void,
  ): Promise<Float32Array[]>;
}

/** Images per message to a worker. */
const CHUNK = 8;

class WorkerPool implements FeatureNet {
  private nextId = 0;
  private pending = new Map<number, { resolve: (f: Float32Array) => void; reject: (e: Error) => void }>();
  private idle: Worker[] = [];
  private waiting: (() => void)[] = [];

  constructor(
    readonly name: FeatureNetName,
    private readonly all: Worker[],
    readonly description: string,
    readonly dim: number,
    readonly inputSize: number,
  ) {
    this.idle = [...all];
    for (const w of all) {
      w.on('message', (m: WorkerMessage) => {
        if (m.type !== 'result' && m.type !== 'error') return;
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        this.release(w);
        if (m.type === 'result') p?.resolve(m.features);
        else p?.reject(new Error(`${this.name} features: ${m.message}`));
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
    }
  }

  get workers(): number {
    return this.all.length;
  }

  private release(w: Worker): void {
    this.idle.push(w);
    this.waiting.shift()?.();
  }

  private async acquire(): Promise<Worker> {
    while (this.idle.length === 0) await new Promise<void>((r) => this.waiting.push(r));
    return this.idle.pop()!;
  }

  private async run(w: Worker, req: FeatureRequest): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject });
      w.postMessage(req, [req.pixels.buffer as ArrayBuffer]);
    });
  }

  async extract(
    images: readonly RgbImage[],
    onProgress?: (done: number, total: number) => void,
  ): Promise<Float32Array[]> {
    if (images.length === 0) return [];
    const { width, height } = images[0]!;
    for (const im of images)
      if (im.width !== width || im.height !== height)
        throw new RangeError(
          `extract: images of different sizes (${width}x${height} and ${im.width}x${im.height})`,
        );
    const out: Float32Array[] = new Array(images.length);
    let done = 0;
    const jobs: Promise<void>[] = [];
    for (let start = 0; start < images.length; start += CHUNK) {
      const chunk = images.slice(start, start + CHUNK);
      const w = await this.acquire();
      const pixels = new Uint8Array(chunk.length * width * height * 3);
      chunk.forEach((im, i) => {
        pixels.set(im.data, i * width * height * 3);
      });
      const id = this.nextId++;
      jobs.push(
        this.run(w, { id, pixels, count: chunk.length, width, height }).then((f) => {
          for (let i = 0; i < chunk.length; i++) out[start + i] = f.slice(i * this.dim, (i + 1) * this.dim);
          done += chunk.length;
          onProgress?.(done, images.length);
        }),
      );
    }
    await Promise.all(jobs);
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
  }
}

const pools = new Map<FeatureNetName, Promise<WorkerPool>>();

/** Default pool size: one worker per core, at most 16. */
export function defaultFeatureWorkers(): number {
  return Math.max(1, Math.min(16, availableParallelism()));
}

async function startPool(name: FeatureNetName, workers: number): Promise<WorkerPool> {
  const url = new URL('./feature-worker.js', import.meta.url);
  const all = Array.from({ length: workers }, () => new Worker(url, { workerData: { net: name } }));
  const first = await Promise.all(
    all.map(
      (w) =>
        new Promise<WorkerMessage>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  ).catch(async (e: Error) => {
    await Promise.all(all.map((w) => w.terminate()));
    throw new FeatureNetUnavailable(`the feature worker failed to start: ${e.message}`);
  });
  const bad = first.find((m) => m.type !== 'ready');
  if (bad) {
    await Promise.all(all.map((w) => w.terminate()));
    throw new FeatureNetUnavailable(bad.type === 'unavailable' ? bad.message : 'unexpected worker message');
  }
  const r = first[0] as Extract<WorkerMessage, { type: 'ready' }>;
  return new WorkerPool(name, all, r.description, r.dim, r.inputSize);
}

/**
 * The network's worker pool, started on first use and reused by later calls in this process (the
 * worker count of the first call stays). Rejects with FeatureNetUnavailable when it cannot load.
 */
export function loadFeatureNet(name: FeatureNetName, workers = defaultFeatureWorkers()): Promise<FeatureNet> {
  if (!Number.isInteger(workers) || workers < 1)
    throw new RangeError(`loadFeatureNet: workers must be a positive integer, got ${workers}`);
  let p = pools.get(name);
  if (!p) {
    p = startPool(name, workers);
    pools.set(name, p);
    // a failed start is not cached: a later call may try again
    p.catch(() => pools.delete(name));
  }
  return p;
}

/** Ends every worker of every loaded network. */
export async function closeFeatureNets(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.then((pool) => pool.close()).catch(() => {})));
}
