// The embedded class-conditional model behind TextToImagePipeline: files beside the package in Node,
// fetched (with progress) in a browser.
import type { Backend } from '../backend.js';
import { fullSteps } from '../cache/step-cache.js';
import { parseSafetensors } from '../io/safetensors-bytes.js';
import type { TensorReader } from '../io/safetensors-format.js';
import { TomaReducer } from '../merge/toma-reducer.js';
import { FluxModel } from '../models/flux/model.js';
import type { CheckpointLike } from '../models/flux/weights.js';
import type { ComputeDType } from '../models/weights.js';
import { conditioningFrom, resolveClass } from '../pipeline/conditioning.js';
import { type ClassConditioning, generate } from '../pipeline/generate.js';
import { createMethod, parseCacheSpec, smallModelDefaults } from '../pipeline/methods.js';
import { GeneratedImage } from './image.js';
import {
  EMBEDDED_DEFAULTS,
  type GenerateCallOptions,
  type LoadOptions,
  TextToImagePipeline,
  withEta,
} from './pipeline.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Bytes of a URL, reporting progress. */
async function fetchBytes(
  url: string | URL,
  what: string,
  onProgress: LoadOptions['onLoadProgress'],
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const res = await fetch(url, { signal });
  if (!res.ok) throw new Error(`could not fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    onProgress?.({ what, loaded, total: Math.max(total, loaded) });
  }
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

async function readerFor(
  source: string | URL | Uint8Array | undefined,
  file: string,
  o: LoadOptions,
): Promise<TensorReader | CheckpointLike> {
  if (source instanceof Uint8Array) return parseSafetensors(source, file);
  // Node: the package's own file, or a path (anything that is not a URL with a scheme)
  const isPath = typeof source === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(source);
  if (isNode && (source === undefined || isPath)) {
    const [{ embeddedDir }, { openWeightFile }] = await Promise.all([
      import('../pipeline/embedded.js'),
      import('../io/weight-file.js'),
    ]);
    // a path may also name GGUF weights (e.g. the embedded model after `toma quantize`)
    return openWeightFile((source as string | undefined) ?? `${embeddedDir()}${file}`);
  }
  // browsers: the file as the bundler placed it beside this module (or the URL given)
  const url = source ?? new URL(`../../../models/embedded/${file}`, import.meta.url);
  return parseSafetensors(await fetchBytes(url, file, o.onLoadProgress, o.signal), file);
}

export class EmbeddedPipeline extends TextToImagePipeline {
  readonly kind = 'embedded' as const;

  private constructor(
    be: Backend,
    dtype: ComputeDType,
    own: boolean,
    readonly model: FluxModel,
    readonly conditioning: ClassConditioning,
  ) {
    super(be, dtype, own);
  }

  /** The class names (the unconditional "null" class is not one to ask for). */
  get labels(): readonly string[] {
    return this.conditioning.names.filter((_, i) => i !== this.conditioning.nullClass);
  }

  static async load(
    be: Backend,
    dtype: ComputeDType,
    own: boolean,
    o: LoadOptions,
  ): Promise<EmbeddedPipeline> {
    const files = o.embeddedFiles;
    const weights = await readerFor(files?.model, 'flux-embedded.safetensors', o);
    const condReader = await readerFor(files?.conditioning, 'conditioning.safetensors', o);
    try {
      o.signal?.throwIfAborted();
      const conditioning = conditioningFrom(condReader as TensorReader);
      const model = FluxModel.load(be, weights, {
        dtype,
        onTensor: (_key, loaded, total) => o.onLoadProgress?.({ what: 'transformer', loaded, total }),
      });
      return new EmbeddedPipeline(be, dtype, own, model, conditioning);
    } finally {
      for (const r of [weights, condReader]) (r as { close?: () => void }).close?.();
    }
  }

  /** A class index from its name, a unique prefix of it, or its index as text (not the null class). */
  classIndex(label: string): number {
    return resolveClass(this.conditioning, label, { allowNull: false });
  }

  async generate(input: string | readonly string[], o: GenerateCallOptions = {}): Promise<GeneratedImage[]> {
    const labels = typeof input === 'string' ? [input] : [...input];
    if (labels.length === 0) throw new RangeError('generate(): give at least one class');
    const classes = labels.map((l) => this.classIndex(l));
    const onCpu = this.backend.name === 'cpu';
    const d = onCpu ? EMBEDDED_DEFAULTS.cpu : EMBEDDED_DEFAULTS.gpu;
    const width = o.width ?? o.height ?? d.size;
    const height = o.height ?? o.width ?? d.size;
    const steps = o.steps ?? d.steps;
    const seed = o.seed ?? 0;
    const method = o.method ?? EMBEDDED_DEFAULTS.method;
    const isDefault = method === 'toma';
    const cacheText = o.cache === undefined ? (isDefault ? EMBEDDED_DEFAULTS.cache : null) : o.cache;
    const cache = cacheText === null ? null : parseCacheSpec(cacheText);
    const c = this.model.config;
    const options = {
      ...smallModelDefaults(c.depth, c.depth_single_blocks),
      ...(isDefault ? EMBEDDED_DEFAULTS.toma : EMBEDDED_DEFAULTS.other),
      ...o.methodOptions,
    };
    const setup = createMethod(this.backend, method, options, c.depth, {
      cache,
      cacheOptions: cache ? o.cacheOptions : undefined,
    });
    if (o.keepDestinations && setup.reducer instanceof TomaReducer) setup.reducer.keepDestinations = true;
    const progress = withEta(o.onProgress);
    try {
      const r = await generate({
        model: this.model,
        conditioning: this.conditioning,
        classes,
        seeds: classes.map((_, i) => seed + i),
        seed,
        width,
        height,
        steps,
        cfg: o.guidance ?? EMBEDDED_DEFAULTS.guidance,
        reducer: setup.reducer,
        pattern: setup.pattern,
        cache: setup.cache,
        signal: o.signal,
        onProgress: progress && ((p) => progress(p.step, p.steps, p.elapsedMs, p.stepMs)),
      });
      const destinations =
        o.keepDestinations && setup.reducer instanceof TomaReducer
          ? await setup.reducer.lastDestinations('double')
          : undefined;
      const decisions = setup.cache?.decisions();
      return r.images.map((img, i) =>
        GeneratedImage.fromFloatRgb(img, r.width, r.height, {
          seed: seed + i,
          label: this.conditioning.names[classes[i]!]!,
          method: setup.name,
          stepMs: r.stepMs,
          totalMs: r.totalMs,
          destinations,
          fullSteps: decisions && fullSteps(decisions, i),
        }),
      );
    } finally {
      setup.dispose();
    }
  }

  protected release(): void {
    this.model.dispose();
  }
}
