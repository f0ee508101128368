// `toma merge`: ToMA merge and unmerge of a token tensor from a safetensors file, for inspection and
// for checking against other implementations.
import type { Backend } from '../../backend.js';
import { type BackendName, createBackend } from '../../backends.js';
import { tomaDenseRef } from '../../cpu/toma.js';
import { validateOutput } from '../../io/output.js';
import { Checkpoint, type TensorToWrite, writeSafetensors } from '../../io/safetensors.js';
import { TileLayout } from '../../merge/tile-layout.js';
import { tomaMerge, tomaSelectAndWeigh, tomaUnmerge } from '../../merge/toma.js';
import { type Command, choice, num, parse, required, UsageError } from '../args.js';
import { cancellable } from '../cancel.js';
import { GPU_OPTIONS, GPU_USAGE, gpuOptions } from '../gpu-options.js';

const DENSE_LIMIT = 4096;

const usage = `usage: toma merge --input IN.safetensors --out OUT.safetensors --grid HxW [--ratio R] [--tile S]
                  [--temperature T] [--backend webgpu|cpu] [--key x] [--robust] [--guard]

Reads x [B, N, C] (raster order, N = H*W; any float dtype, computed in f32) and writes to OUT:
  dst            I64 [B, N_merged]     raster index of each merged token's destination, in merged order
  merged         F32 [B, N_merged, C]  ToMA-merged tokens (tile-major: tile 0's destinations, tile 1's, ...)
  unmerged       F32 [B, N, C]         unmerge(merge(x)), raster order
  merge_matrix   F32 [B, N_merged, N]  merged = merge_matrix · x      (only when N <= ${DENSE_LIMIT})
  unmerge_matrix F32 [B, N, N_merged]  unmerged = unmerge_matrix · merged  (only when N <= ${DENSE_LIMIT})

  --ratio        fraction of tokens removed, in [0, 1) (default 0.5)
  --tile         tile side in tokens, 1..8 (default 4); edge tiles of grids it does not divide are smaller
  --temperature  softmax temperature of the merge weights (default 1000)
  --key          name of the input tensor (default x)
${GPU_USAGE}`;

function parseGrid(s: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(s);
  const g = m ? ([Number(m[1]), Number(m[2])] as [number, number]) : null;
  if (!g || g[0] < 1 || g[1] < 1)
    throw new UsageError(`--grid must be HxW with positive integers (e.g. 64x64); got "${s}"`);
  return g;
}

export const merge: Command = {
  name: 'merge',
  summary: 'ToMA merge / unmerge of a token tensor (safetensors in, safetensors out)',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        input: { type: 'string' },
        out: { type: 'string' },
        grid: { type: 'string' },
        ratio: { type: 'string' },
        tile: { type: 'string' },
        temperature: { type: 'string' },
        backend: { type: 'string' },
        key: { type: 'string' },
        ...GPU_OPTIONS,
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const input = required(values.input, 'input', usage);
    const out = required(values.out, 'out', usage);
    const [H, W] = parseGrid(required(values.grid, 'grid', usage));
    const ratio = num(values.ratio, 'ratio', 0.5, (v) => v >= 0 && v < 1, 'a number in [0, 1)');
    const tile = num(
      values.tile,
      'tile',
      4,
      (v) => Number.isInteger(v) && v >= 1 && v <= 8,
      'an integer in 1..8',
    );
    const tau = num(values.temperature, 'temperature', 1000, (v) => v > 0, 'a positive number');
    const backend = choice(values.backend, ['webgpu', 'cpu'] as const, 'backend', 'webgpu') as BackendName;
    const key = values.key ?? 'x';

    validateOutput(out, [input]);
    const ck = Checkpoint.open(input);
    let x: Float32Array;
    let shape: number[];
    try {
      const info = ck.info(key);
      shape = info.shape;
      if (shape.length !== 3 || shape.some((d) => d < 1))
        throw new Error(
          `${input}: "${key}" must be [B, N, C] with no empty dimension, got [${shape.join(', ')}]`,
        );
      if (!['F32', 'F16', 'BF16', 'F64'].includes(info.dtype))
        throw new Error(`${input}: "${key}" must hold floats, got ${info.dtype}`);
      x = ck.readF32(key);
    } finally {
      ck.close();
    }
    const [B, N, C] = shape as [number, number, number];
    if (N !== H * W) throw new UsageError(`"${key}" has ${N} tokens but --grid ${H}x${W} has ${H * W}`);
    const layout = new TileLayout(H, W, tile, ratio);

    const be: Backend = cancellable(await createBackend(backend, gpuOptions(values)));
    try {
      const t0 = performance.now();
      const res = be.tidy(() => {
        const xt = be.tensor(x, [B, N, C]);
        const sel = tomaSelectAndWeigh(be, xt, layout, tau);
        const merged = tomaMerge(be, xt, sel.m, layout);
        const unmerged = tomaUnmerge(be, merged, sel.p, layout);
        return { ...sel, merged, unmerged };
      });
      const [dst, p, m, merged, unmerged] = await Promise.all([
        be.readU32(res.dst),
        res.p.read(),
        res.m.read(),
        res.merged.read(),
        res.unmerged.read(),
      ]);
      const ms = performance.now() - t0;
      const M = layout.tokens;
      const tensors: Record<string, TensorToWrite> = {
        dst: { dtype: 'I64', shape: [B, M], data: dst },
        merged: { dtype: 'F32', shape: [B, M, C], data: merged },
        unmerged: { dtype: 'F32', shape: [B, N, C], data: unmerged },
      };
      if (N <= DENSE_LIMIT) {
        const dense = tomaDenseRef(layout, B, p, m);
        tensors.merge_matrix = { dtype: 'F32', shape: [B, M, N], data: dense.merge };
        tensors.unmerge_matrix = { dtype: 'F32', shape: [B, N, M], data: dense.unmerge };
      }
      writeSafetensors(out, tensors, {
        grid: `${H}x${W}`,
        ratio: String(ratio),
        tile: String(tile),
        temperature: String(tau),
        backend: be.info().description,
      });
      console.log(
        `${layout}: wrote ${Object.keys(tensors).join(', ')} to ${out} (${be.name}, ${ms.toFixed(0)} ms incl. readback)`,
      );
      return 0;
    } finally {
      be.destroy();
    }
  },
};
