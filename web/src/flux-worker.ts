// The FLUX.1 worker: opens picked files (headers, configs and tokenizers checked; no weights read),
// then for each run loads the components one at a time onto its own WebGPU device, reading each tensor
// from its File with FileReaderSync as the loader asks for it, and runs the library's staged pipeline
// (src/pipeline/flux-pipeline.ts) with the chosen methods on the same noise.
import { GeneratedImage } from '../../src/api/image.js';
import { GpuBackend } from '../../src/gpu/backend.js';
import { blobFile } from '../../src/io/sync-file.js';
import { FLUX_T5_MAX_LENGTH } from '../../src/models/t5/config.js';
import { type FluxComponents, fluxVariant } from '../../src/pipeline/flux-components.js';
import { openFluxFileList, summarizeFluxFiles } from '../../src/pipeline/flux-file-list.js';
import { latentFactor, type PipelineMethod, runFluxPipeline } from '../../src/pipeline/flux-pipeline.js';
import type { MethodName } from '../../src/pipeline/methods.js';
import type { FluxRunRequest, FromWorker, PickedEntry, ToWorker } from './flux-protocol.js';

const post = (m: FromWorker, transfer: Transferable[] = []) =>
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(m, transfer);

let components: FluxComponents | null = null;
let backend: Promise<GpuBackend> | null = null;
let controller: AbortController | null = null;

const picked = (entries: PickedEntry[]) =>
  entries.map((e) => ({ path: e.path, file: blobFile(e.file, e.path) }));

function open(folder: PickedEntry[], extra: PickedEntry[], dtype: 'f16' | 'f32'): void {
  components = null;
  try {
    const opened = openFluxFileList(picked(folder), picked(extra));
    const c = opened.components;
    const variant = fluxVariant(c.transformerConfig);
    components = c;
    post({
      type: 'opened',
      info: {
        description: c.description,
        variant,
        summary: summarizeFluxFiles(opened.tree, opened.files, dtype === 'f16' ? 2 : 4),
        transformer: c.transformerConfig,
        t5: c.t5Config,
        clip: c.clipConfig,
        ae: c.aeConfig,
        latentFactor: latentFactor(c),
        textTokens: FLUX_T5_MAX_LENGTH[variant],
      },
    });
  } catch (e) {
    post({ type: 'open-failed', message: (e as Error).message });
  }
}

async function run(r: FluxRunRequest): Promise<void> {
  if (!components) throw new Error('no FLUX.1 model is open');
  backend ??= GpuBackend.create();
  const be = await backend;
  controller = new AbortController();
  const methods: PipelineMethod[] = r.methods.map((m) => ({
    method: m.method as MethodName,
    options: { ratio: m.ratio, tile: m.tile, mergeEvery: m.mergeEvery },
    ...(m.cache ? { cache: m.cache } : {}),
  }));
  const out = await runFluxPipeline({
    be,
    components,
    dtype: r.dtype,
    prompts: [r.prompt],
    width: r.size,
    height: r.size,
    steps: r.steps,
    guidance: r.guidance,
    seed: r.seed,
    methods,
    warmup: r.warmUp,
    signal: controller.signal,
    onEvent: (e) =>
      post({
        type: 'stage',
        stage: e.stage,
        phase: e.phase,
        method: e.method,
        done: e.done,
        total: e.total,
        ms: e.ms,
      }),
  });
  const images = out.outputs.map((o) => {
    const f = o.images[0]!;
    let nonFinite = 0;
    for (const v of f) if (!Number.isFinite(v)) nonFinite++;
    const info = { seed: r.seed, label: r.prompt, method: o.method };
    const rgb = GeneratedImage.fromFloatRgb(f, out.width, out.height, info).rgb();
    const denoise = out.stages.find((s) => s.stage === 'denoise' && s.method === o.method);
    return { method: o.method, rgb, stepMs: o.stepMs, totalMs: denoise?.ms ?? 0, nonFinite };
  });
  post(
    { type: 'done', images, width: out.width, height: out.height },
    images.map((i) => i.rgb.buffer as ArrayBuffer),
  );
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  if (m.type === 'open') open(m.folder, m.extra, m.dtype);
  else if (m.type === 'cancel') controller?.abort();
  else if (m.type === 'run')
    run(m.request)
      .catch((e: Error) => post({ type: 'failed', message: e.message, aborted: e.name === 'AbortError' }))
      .finally(() => {
        controller = null;
      });
};
