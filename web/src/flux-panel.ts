// "FLUX.1 from your disk": the pickers (a model folder, and optionally a GGUF transformer and
// ae.safetensors), what was found in them, the adapter limits the model needs at the chosen size, and a
// runner with DemoRunner's interface over the worker that reads the files and runs the pipeline.

import { fluxForwardNeed } from '../../src/models/flux/memory.js';
import { bytesText } from '../../src/models/limits.js';
import type { FluxOpened, FluxRunRequest, FromWorker, PickedEntry, ToWorker } from './flux-protocol.js';
import type { MethodRun, RunCallbacks, RunSettings } from './runner.js';

/** The limits a run needs on the adapter, with what this adapter has. */
export interface LimitRow {
  limit: string;
  needed: number;
  has: number | null;
  ok: boolean;
  why: string;
}

/** What the model needs at `size` px in `dtype` (bytes per value 2 or 4), from its headers' summary. */
export function fluxNeeds(
  info: FluxOpened,
  size: number,
  valueBytes: number,
  limits: Record<string, number>,
): { rows: LimitRow[]; memory: string; memoryBytes: number } {
  const tokens = (size / (2 * info.latentFactor)) ** 2;
  const transformer = info.summary.find((s) => s.component === 'transformer')!;
  const need = fluxForwardNeed(
    info.transformer,
    {
      valueBytes,
      batch: 1,
      imageTokens: tokens,
      textTokens: info.textTokens,
      weights: { bytes: transformer.deviceBytes, largest: transformer.largestDeviceTensor },
    },
    `FLUX.1 at ${size}x${size}`,
  );
  const largestWeight = Math.max(...info.summary.map((s) => s.largestDeviceTensor));
  const largest = Math.max(largestWeight, need.largestTensor);
  const which = largest === largestWeight ? 'its largest weight tensor' : `one activation at ${size}×${size}`;
  const row = (limit: string): LimitRow => {
    const has = limits[limit] ?? null;
    return { limit, needed: largest, has, ok: has === null || has >= largest, why: which };
  };
  // one component at a time is on the device: the largest stage is the transformer's, or T5's weights
  const t5 = info.summary.find((s) => s.component === 'T5 encoder')!;
  const memoryBytes = Math.max(need.bytes, t5.deviceBytes);
  const memory =
    memoryBytes === need.bytes
      ? `about ${bytesText(need.bytes)} of GPU memory at a time at ${size}×${size} (${need.parts})`
      : `about ${bytesText(t5.deviceBytes)} of GPU memory at a time (the T5 encoder's weights)`;
  return { rows: [row('maxStorageBufferBindingSize'), row('maxBufferSize')], memory, memoryBytes };
}

type Pending = {
  resolve: (m: Extract<FromWorker, { type: 'done' }>) => void;
  reject: (e: Error) => void;
  onStage: (m: Extract<FromWorker, { type: 'stage' }>) => void;
};

/** The worker that reads the picked files and runs FLUX.1 on its own WebGPU device. */
export class FluxWorkerClient {
  private readonly worker = new Worker(new URL('./flux-worker.ts', import.meta.url), { type: 'module' });
  private opening: { resolve: (i: FluxOpened) => void; reject: (e: Error) => void } | null = null;
  private running: Pending | null = null;
  info: FluxOpened | null = null;

  constructor() {
    this.worker.onmessage = (ev: MessageEvent<FromWorker>) => this.receive(ev.data);
    this.worker.onerror = (ev) => {
      const e = new Error(`the FLUX.1 worker failed: ${ev.message}`);
      this.opening?.reject(e);
      this.running?.reject(e);
      this.opening = this.running = null;
    };
  }

  private send(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  private receive(m: FromWorker): void {
    if (m.type === 'opened') {
      this.info = m.info;
      this.opening?.resolve(m.info);
      this.opening = null;
    } else if (m.type === 'open-failed') {
      this.info = null;
      this.opening?.reject(new Error(m.message));
      this.opening = null;
    } else if (m.type === 'stage') this.running?.onStage(m);
    else if (m.type === 'done') {
      this.running?.resolve(m);
      this.running = null;
    } else if (m.type === 'failed') {
      const e = new Error(m.message);
      if (m.aborted) e.name = 'AbortError';
      this.running?.reject(e);
      this.running = null;
    }
  }

  open(folder: PickedEntry[], extra: PickedEntry[], dtype: 'f16' | 'f32'): Promise<FluxOpened> {
    return new Promise((resolve, reject) => {
      this.opening = { resolve, reject };
      this.send({ type: 'open', folder, extra, dtype });
    });
  }

  run(request: FluxRunRequest, onStage: Pending['onStage'], signal: AbortSignal) {
    return new Promise<Extract<FromWorker, { type: 'done' }>>((resolve, reject) => {
      this.running = { resolve, reject, onStage };
      signal.addEventListener('abort', () => this.send({ type: 'cancel' }), { once: true });
      this.send({ type: 'run', request });
    });
  }
}

const LOADS: Record<string, string> = {
  'load T5': 'loading the T5 encoder',
  'load CLIP': 'loading the CLIP encoder',
  'load transformer': 'loading the transformer',
  'load AE': 'loading the autoencoder',
};
const STAGES: Record<string, string> = {
  tokenize: 'tokenizing the prompt',
  T5: 'encoding the prompt (T5)',
  CLIP: 'encoding the prompt (CLIP)',
  decode: 'decoding the image',
};

/** The label DemoRunner gives a run ("toma 0.5 + fora 2"). */
export function runLabel(method: string, ratio: number, cache: string | null): string {
  const base =
    method === 'todo' || method === 'hilbert' || method === 'dense' ? method : `${method} ${ratio}`;
  return cache ? `${base} + ${cache.replace(':', ' ')}` : base;
}

/** DemoRunner's interface over the worker: the same settings, progress and results. */
export class FluxRunner {
  constructor(
    private readonly client: FluxWorkerClient,
    private readonly dtype: 'f16' | 'f32',
  ) {}

  async run(s: RunSettings, cb: RunCallbacks): Promise<MethodRun[]> {
    const info = this.client.info;
    if (!info) throw new Error('no FLUX.1 model is open');
    const step = 2 * info.latentFactor;
    if (s.size % step !== 0) throw new RangeError(`FLUX.1 sizes are multiples of ${step} px`);
    const cache = s.method === 'dense' || s.cache === 'none' ? null : s.cache;
    const target = { method: s.method, ratio: s.ratio, tile: s.tile, mergeEvery: s.mergeEvery, cache };
    const methods =
      s.compare && s.method !== 'dense' ? [{ ...target, method: 'dense', cache: null }, target] : [target];
    const labels = methods.map((m) => runLabel(m.method, m.ratio, m.cache));
    let index = -1;
    let started = 0;
    let elapsed = 0;
    const done = await this.client.run(
      {
        prompt: s.prompt,
        seed: s.seed,
        size: s.size,
        steps: s.steps,
        guidance: s.cfg,
        methods,
        dtype: this.dtype,
        warmUp: s.warmUp,
      },
      (e) => {
        const total = e.total ?? 0;
        if (e.stage === 'denoise') {
          if (e.phase === 'start') {
            index++;
            started = performance.now();
            elapsed = 0;
            cb.onPhase(`running ${labels[index]}`);
          } else if (e.phase === 'progress' && total) {
            elapsed = performance.now() - started;
            const d = e.done ?? 0;
            cb.onStep(index, methods.length, labels[index]!, {
              step: d,
              steps: total,
              stepMs: e.ms ?? 0,
              elapsedMs: elapsed,
              etaMs: (elapsed / d) * (total - d),
            });
          }
        } else if (LOADS[e.stage] && e.phase === 'progress' && total)
          cb.onPhase(`${LOADS[e.stage]}: ${bytesText(e.done ?? 0)} of ${bytesText(total)}`);
        else if (e.phase === 'start') cb.onPhase(LOADS[e.stage] ?? STAGES[e.stage] ?? e.stage);
      },
      cb.signal,
    );
    return done.images.map((im, i) => {
      if (im.nonFinite) throw new Error(`${labels[i]}: ${im.nonFinite} values of the image are not finite`);
      return {
        method: methods[i]!.method as MethodRun['method'],
        label: labels[i]!,
        rgb: im.rgb,
        size: done.width,
        stepMs: im.stepMs,
        totalMs: im.totalMs,
        destinations: null,
      };
    });
  }
}

/** Every file under a directory handle (showDirectoryPicker), with paths under its parent. */
export async function filesOfDirectory(dir: FileSystemDirectoryHandle): Promise<PickedEntry[]> {
  const out: PickedEntry[] = [];
  const walk = async (d: FileSystemDirectoryHandle, prefix: string) => {
    for await (const h of (d as unknown as { values(): AsyncIterable<FileSystemHandle> }).values()) {
      if (h.kind === 'file')
        out.push({ path: `${prefix}/${h.name}`, file: await (h as FileSystemFileHandle).getFile() });
      else await walk(h as FileSystemDirectoryHandle, `${prefix}/${h.name}`);
    }
  };
  await walk(dir, dir.name);
  return out;
}

/** Describes an adapter limit check for the page. */
export function limitText(r: LimitRow): string {
  const has = r.has === null ? 'unknown here' : bytesText(r.has);
  return `${r.limit} ≥ ${bytesText(r.needed)} (${r.why}); this adapter: ${has} ${r.ok ? '✓' : '✗ too small'}`;
}
