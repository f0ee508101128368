// The metrics phase of an evaluation: per configuration and seed, fidelity to the dense image of the
// same seed and class (PSNR, SSIM, deep-feature cosine distance); per configuration, KID against each
// set of real images; per configuration, speed from the generation calls.
import type { EvalConfig } from './configs.js';
import type { CallTiming } from './generation.js';
import { psnr, type RgbImage, ssim } from './image-metrics.js';
import { type KidResult, kid, kidReference } from './kid.js';
import { type Summary, summarize } from './stats.js';

export interface PerSeed {
  seed: number;
  class: number;
  /** Infinity when identical to dense (written as null in JSON). */
  psnr: number;
  ssim: number;
  /** 1 − cosine similarity of deep features to dense's; null when the network is unavailable. */
  featDist: number | null;
}

export interface ConfigMetrics {
  config: EvalConfig;
  /**
   * msPerImage and speedup come from the one-image calls of the speed pass where the run had one
   * (basis 'batch 1'), else from the batched generation calls ('batched'); `batched` keeps the latter.
   */
  speed: {
    basis: 'batch 1' | 'batched';
    msPerImage: Summary;
    speedup: number;
    calls: CallTiming[];
    batched: { msPerImage: Summary; speedup: number };
    singleCalls?: CallTiming[];
  };
  /**
   * With a step cache: the steps each seed computed in full, how many (summary over seeds), and the
   * pattern of a seed with the median count ("full=0,1,2,5,...", for bench/flux-sampling --schedule).
   */
  cache?: { spec: string; fullSteps: number[][]; computedSteps: Summary; typical: string };
  /** Null for dense itself (the reference). */
  psnr: Summary | null;
  ssim: Summary | null;
  featDist: Summary | null;
  /** Per real-image set name. */
  kid: Record<string, KidResult>;
  perSeed: PerSeed[];
}

export function cosineDistance(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  if (aa === 0 && bb === 0) return 0;
  if (aa === 0 || bb === 0) return 1;
  return 1 - ab / Math.sqrt(aa * bb);
}

export interface MetricsInput {
  configs: EvalConfig[];
  seeds: number[];
  classes: number[];
  images: Map<string, RgbImage[]>;
  calls: Map<string, CallTiming[]>;
  /** One-image calls of a speed pass (basis of the speed figures when every configuration has some). */
  singleCalls?: Map<string, CallTiming[]>;
  /** Full steps per seed of the configurations with a step cache. */
  fullSteps?: Map<string, number[][]>;
  /** Deep features per configuration label, one per seed; absent when the network is unavailable. */
  features?: Map<string, Float32Array[]>;
  /** Deep features of each real-image set. */
  real?: { name: string; features: Float32Array[] }[];
  kidSubsets?: number;
  kidSubsetSize?: number;
}

/** "full=..." of a seed whose number of full steps is the median (the first such seed). */
export function typicalPattern(full: number[][]): string {
  const counts = full.map((f) => f.length).sort((a, b) => a - b);
  const mid = counts[(counts.length - 1) >> 1];
  return `full=${(full.find((f) => f.length === mid) ?? []).join(',')}`;
}

export function computeMetrics(m: MetricsInput): ConfigMetrics[] {
  const dense = m.images.get('dense');
  if (!dense) throw new Error('computeMetrics: the dense images (the reference) are missing');
  const denseMs = summarize(m.calls.get('dense')!.map((c) => c.msPerImage));
  const single = m.configs.every((k) => (m.singleCalls?.get(k.label)?.length ?? 0) > 0)
    ? m.singleCalls!
    : null;
  const denseSingle = single && summarize(single.get('dense')!.map((c) => c.msPerImage));
  const denseFeat = m.features?.get('dense');
  const refs = (m.real ?? [])
    .filter((r) => r.features.length >= 2)
    .map((r) => ({ name: r.name, ref: kidReference(r.features) }));
  return m.configs.map((config) => {
    const imgs = m.images.get(config.label);
    const calls = m.calls.get(config.label);
    if (!imgs || !calls) throw new Error(`computeMetrics: no images or timings for ${config.label}`);
    const feats = m.features?.get(config.label);
    const isRef = config.label === 'dense';
    const perSeed: PerSeed[] = m.seeds.map((seed, i) => ({
      seed,
      class: m.classes[i]!,
      psnr: isRef ? Number.POSITIVE_INFINITY : psnr(imgs[i]!, dense[i]!),
      ssim: isRef ? 1 : ssim(imgs[i]!, dense[i]!),
      featDist: feats && denseFeat ? (isRef ? 0 : cosineDistance(feats[i]!, denseFeat[i]!)) : null,
    }));
    const msPerImage = summarize(calls.map((c) => c.msPerImage));
    const batched = { msPerImage, speedup: denseMs.median / msPerImage.median };
    const singleCalls = single?.get(config.label);
    const singleMs = singleCalls && summarize(singleCalls.map((c) => c.msPerImage));
    const full = m.fullSteps?.get(config.label);
    const kids: Record<string, KidResult> = {};
    if (feats && feats.length >= 2)
      for (const r of refs)
        kids[r.name] = kid(feats, r.ref, { subsets: m.kidSubsets, subsetSize: m.kidSubsetSize, seed: 1 });
    return {
      config,
      speed:
        singleMs && denseSingle
          ? {
              basis: 'batch 1' as const,
              msPerImage: singleMs,
              speedup: denseSingle.median / singleMs.median,
              calls,
              batched,
              singleCalls,
            }
          : { basis: 'batched' as const, ...batched, calls, batched },
      ...(config.cache && full
        ? {
            cache: {
              spec: config.cache,
              fullSteps: full,
              computedSteps: summarize(full.map((f) => f.length)),
              typical: typicalPattern(full),
            },
          }
        : {}),
      psnr: isRef ? null : summarize(perSeed.map((p) => p.psnr)),
      ssim: isRef ? null : summarize(perSeed.map((p) => p.ssim)),
      featDist: isRef || !feats ? null : summarize(perSeed.map((p) => p.featDist!)),
      kid: kids,
      perSeed,
    };
  });
}
