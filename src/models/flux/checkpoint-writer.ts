// Writes Flux parameters held on the host (canonical keys) as a checkpoint in either key layout, as one
// file or sharded with an index, so loading is exercised without real checkpoints (tests,
// tools/flux-random-checkpoint.mjs). Also: seeded random host parameters.
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../../io/output.js';
import { type TensorToWrite, writeSafetensors } from '../../io/safetensors.js';
import { Rng } from '../../util/random.js';
import type { FluxConfig } from './config.js';
import { canonicalShapes, type KeyLayout, sourcesFor } from './layouts.js';

/** Canonical key -> f32 values (row-major, canonical shape). */
export type HostParams = Map<string, Float32Array>;

/** Every parameter of `config` drawn from N(0, std²) on the host (the fixture's scheme: std 0.2 everywhere). */
export function randomHostParams(config: FluxConfig, seed: number, std = 0.2): HostParams {
  const rng = new Rng(seed);
  const out: HostParams = new Map();
  for (const [k, shape] of canonicalShapes(config))
    out.set(
      k,
      rng.normals(
        shape.reduce((a, b) => a * b, 1),
        std,
      ),
    );
  return out;
}

export interface WriteOptions {
  layout: KeyLayout;
  dtype: 'F32' | 'F16' | 'BF16';
  /** Number of shard files; > 1 writes `<stem>-0000i-of-0000n.safetensors` and `<stem>.safetensors.index.json`. */
  shards?: number;
  /** Store the config as __metadata__.config (default true). */
  withConfig?: boolean;
  /** Extra tensors to store as they are (e.g. inputs). */
  extra?: Record<string, TensorToWrite>;
}

/** The stored tensors of `layout` for canonical host parameters. */
export function toLayout(
  params: HostParams,
  config: FluxConfig,
  layout: KeyLayout,
): Map<string, Float32Array> {
  const shapes = canonicalShapes(config);
  const stored = new Map<string, Float32Array>();
  for (const [canon, src] of sourcesFor(config, layout)) {
    const data = params.get(canon);
    const shape = shapes.get(canon)!;
    if (!data) throw new Error(`toLayout: no values for ${canon}`);
    const inner = data.length / shape[0]!;
    if (src.op === 'copy') stored.set(src.key, data);
    else if (src.op === 'swap') {
      const half = (shape[0]! / 2) * inner;
      const out = new Float32Array(data.length);
      out.set(data.subarray(half), 0);
      out.set(data.subarray(0, half), half);
      stored.set(src.key, out);
    } else {
      let row = 0;
      for (const p of src.parts) {
        stored.set(p.key, data.slice(row * inner, (row + p.rows) * inner));
        row += p.rows;
      }
    }
  }
  return stored;
}

/**
 * Writes a checkpoint; returns the path to open (the .safetensors file, or the index for shards).
 * `path` names the single file, or for shards the file stem's location: "dir/model.safetensors" gives
 * dir/model-00001-of-00003.safetensors, ... and dir/model.safetensors.index.json.
 */
export function writeFluxCheckpoint(
  path: string,
  params: HostParams,
  config: FluxConfig,
  o: WriteOptions,
): string {
  const shapes = canonicalShapes(config);
  const storedShape = new Map<string, number[]>();
  for (const [canon, src] of sourcesFor(config, o.layout)) {
    const shape = shapes.get(canon)!;
    if (src.op === 'concat') for (const p of src.parts) storedShape.set(p.key, [p.rows, ...shape.slice(1)]);
    else storedShape.set(src.key, shape);
  }
  const tensors: Record<string, TensorToWrite> = {};
  for (const [k, data] of toLayout(params, config, o.layout))
    tensors[k] = { dtype: o.dtype, shape: storedShape.get(k)!, data };
  Object.assign(tensors, o.extra ?? {});
  const metadata = o.withConfig === false ? undefined : { config: JSON.stringify(config) };
  const shards = o.shards ?? 1;
  if (shards <= 1) {
    writeSafetensors(path, tensors, metadata);
    return path;
  }
  const stem = basename(path).replace(/\.safetensors$/, '');
  const dir = dirname(path);
  const keys = Object.keys(tensors);
  const per = Math.ceil(keys.length / shards);
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const name = `${stem}-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part: Record<string, TensorToWrite> = {};
    for (const k of keys.slice(s * per, (s + 1) * per)) {
      part[k] = tensors[k]!;
      weightMap[k] = name;
    }
    writeSafetensors(join(dir, name), part);
  }
  const index = join(dir, `${stem}.safetensors.index.json`);
  writeFileAtomic(index, JSON.stringify({ metadata: metadata ?? {}, weight_map: weightMap }, null, 1));
  return index;
}
