// The deep-feature phase of an evaluation: features of every generated image and every real one, in
// one pass over the worker pool (all images share the generation size), or the reason they are
// unavailable.
import type { EvalConfig } from './configs.js';
import { type FeatureNetName, FeatureNetUnavailable, loadFeatureNet } from './feature-net.js';
import type { RgbImage } from './image-metrics.js';
import type { FeatureInfo } from './report.js';

export interface DeepFeatures {
  info: FeatureInfo;
  /** Per configuration label, one vector per seed; absent when unavailable. */
  generated?: Map<string, Float32Array[]>;
  real: { name: string; features: Float32Array[] }[];
}

export async function computeDeepFeatures(
  net: FeatureNetName | 'none',
  workers: number,
  configs: EvalConfig[],
  images: Map<string, RgbImage[]>,
  realSets: { name: string; images: RgbImage[] }[],
  log: (line: string) => void = () => {},
): Promise<DeepFeatures> {
  if (net === 'none')
    return { info: { available: false, reason: 'not requested (--features none)' }, real: [] };
  const t0 = performance.now();
  let pool: Awaited<ReturnType<typeof loadFeatureNet>>;
  try {
    pool = await loadFeatureNet(net, workers);
  } catch (e) {
    if (!(e instanceof FeatureNetUnavailable)) throw e;
    log(`deep features unavailable: ${e.message}`);
    return { info: { available: false, reason: e.message }, real: [] };
  }
  log(`deep features: ${pool.description}, ${pool.workers} worker(s)`);
  const groups = [
    ...configs.map((k) => ({ key: k.label, images: images.get(k.label)! })),
    ...realSets.map((s) => ({ key: `real:${s.name}`, images: s.images })),
  ];
  const all = groups.flatMap((g) => g.images);
  let lastPrint = 0;
  const feats = await pool.extract(all, (done, total) => {
    if (performance.now() - lastPrint > 5000 || done === total) {
      lastPrint = performance.now();
      log(`features: ${done}/${total} images (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
  });
  const byKey = new Map<string, Float32Array[]>();
  let o = 0;
  for (const g of groups) {
    byKey.set(g.key, feats.slice(o, o + g.images.length));
    o += g.images.length;
  }
  return {
    info: {
      available: true,
      description: pool.description,
      dim: pool.dim,
      workers: pool.workers,
      seconds: (performance.now() - t0) / 1000,
    },
    generated: new Map(configs.map((k) => [k.label, byKey.get(k.label)!])),
    real: realSets.map((s) => ({ name: s.name, features: byKey.get(`real:${s.name}`)! })),
  };
}
