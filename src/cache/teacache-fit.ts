// Data for TeaCache's rescaling polynomial (tools/fit-teacache.mjs): dense sampling, recording per image
// and step the relative change of the first block's modulated input (what TeaCache measures) and of the
// model's output (what it should estimate), both as mean|cur − prev| / mean|prev| over the image's rows.
import type { FluxModel } from '../models/flux/model.js';
import { type ClassConditioning, generate } from '../pipeline/generate.js';
import { TeaCache } from './teacache.js';

export interface TeaCacheSample {
  /** Relative change of the modulated input, and of the model output, from the previous step. */
  inputChange: number;
  outputChange: number;
  step: number;
  seed: number;
}

export interface CollectOptions {
  model: FluxModel;
  conditioning: ClassConditioning;
  /** One class per seed. */
  classes: number[];
  seeds: number[];
  size: number;
  steps: number;
  cfg: number;
  /** Images per generate() call. */
  batch: number;
  onBatch?: (done: number, total: number) => void;
}

/** Runs dense sampling (every step computed) and returns one sample per image and step after the first. */
export async function collectTeaCacheSamples(o: CollectOptions): Promise<TeaCacheSample[]> {
  if (o.classes.length !== o.seeds.length)
    throw new RangeError('collectTeaCacheSamples(): one class per seed');
  const samples: TeaCacheSample[] = [];
  for (let start = 0; start < o.seeds.length; start += o.batch) {
    const seeds = o.seeds.slice(start, start + o.batch);
    const B = seeds.length;
    // threshold 0: every step computes; the cache only measures
    const probe = new TeaCache(0);
    let previous: Float32Array | null = null;
    const outputChange: number[][] = seeds.map(() => []);
    await generate({
      model: o.model,
      conditioning: o.conditioning,
      classes: o.classes.slice(start, start + o.batch),
      seeds,
      seed: 0,
      width: o.size,
      height: o.size,
      steps: o.steps,
      cfg: o.cfg,
      cache: probe,
      onModelOutput: async (step, output) => {
        const cur = await output.read();
        const rows = output.dim(0);
        const per = cur.length / rows;
        if (previous) {
          const diff = new Float64Array(B);
          const sum = new Float64Array(B);
          for (let r = 0; r < rows; r++) {
            for (let i = r * per; i < (r + 1) * per; i++) {
              diff[r % B] += Math.abs(cur[i]! - previous[i]!);
              sum[r % B] += Math.abs(previous[i]!);
            }
          }
          for (let g = 0; g < B; g++) outputChange[g]![step] = diff[g]! / sum[g]!;
        }
        previous = cur;
      },
    });
    const d = probe.decisions();
    probe.dispose();
    for (let g = 0; g < B; g++)
      for (let step = 1; step < o.steps; step++)
        samples.push({
          inputChange: d.change[g]![step]!,
          outputChange: outputChange[g]![step]!,
          step,
          seed: seeds[g]!,
        });
    o.onBatch?.(Math.min(start + o.batch, o.seeds.length), o.seeds.length);
  }
  return samples;
}
