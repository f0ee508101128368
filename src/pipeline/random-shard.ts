// One file of a random-weight model folder: its tensors' values drawn by the shared initialisation rule
// (src/models/random-weights.ts) from a per-key seed, streamed to disk as f16. The same key and seed give
// the same values as RandomWeightSource, so a folder loads to the same model as the in-memory source.
import { type StreamedTensor, writeSafetensorsStreamed } from '../io/safetensors-stream.js';
import { initFor } from '../models/random-weights.js';
import { FastNormal, seedFor } from '../util/fast-normal.js';

export interface ShardJob {
  path: string;
  seed: number;
  tensors: { key: string; shape: number[] }[];
  metadata?: Record<string, string>;
}

export function shardTensors(job: ShardJob): StreamedTensor[] {
  return job.tensors.map(({ key, shape }) => ({
    key,
    dtype: 'F16' as const,
    shape,
    produce: () => {
      const init = initFor(key, shape);
      if (init.kind === 'normal') {
        const g = new FastNormal(seedFor(key, job.seed), init.std);
        return (out) => g.fillF16(out as Uint16Array);
      }
      const bits = init.kind === 'ones' ? 0x3c00 : 0;
      return (out) => out.fill(bits);
    },
  }));
}

export function writeShard(
  job: ShardJob,
  onBytes?: (written: number, total: number) => void,
): Promise<number> {
  return writeSafetensorsStreamed(job.path, shardTensors(job), { metadata: job.metadata, onBytes });
}
