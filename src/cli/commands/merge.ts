// `toma merge`: ToMA merge and unmerge of a token tensor from a safetensors file, for inspection and
// for checking against other implementations.
import type { Backend } from '../../backend.js';
import { type BackendName, createBackend } from '../../backends.js';
import { tomaDenseRef } from '../../cpu/toma.js';
import { validateOutput } from '../../io/output.js';
import { Checkpoint, type TensorToWrite, writeSafetensors } from '../../io/safetensors.js';
import { TileLayout } from '../../merge/tile-layout.js';
import { tomaMerge, tomaSelectAndWeigh, tomaUnmerge } from '../../merge/toma.js';
import { budgetOf, bytesText, checkMemory, type MemoryNeed } from '../../models/limits.js';
import { assertFinite } from '../../util/finite.js';
import { type Command, choice, num, parse, required, UsageError } from '../args.js';
import { cancellable } from '../cancel.js';
import { GPU_OPTIONS, GPU_USAGE, gpuOptions } from '../gpu-options.js';

/** The dense matrices (B·M·N·4 bytes each) are written only while both together stay under this. */
export const DENSE_LIMIT_BYTES = 64 * 2 ** 20;
/** Grid sides above this are refused before the input is read (FLUX.1 at 2048 px has 128). */
const MAX_GRID_SIDE = 4096;

const usage = `usage: toma merge --input IN.safetensors --out OUT.safetensors --grid HxW [--ratio R] [--tile S]
                  [--temperature T] [--backend webgpu|cpu] [--key x] [--robust] [--guard]

Reads x [B, N, C] (raster order, N = H*W; any float dtype, computed in f32) and writes to OUT:
  dst            I64 [B, N_merged]     raster index of each merged token's destination, in merged order
  merged         F32 [B, N_merged, C]  ToMA-merged tokens (tile-major: tile 0's destinations, tile 1's, ...)
  unmerged       F32 [B, N, C]         unmerge(merge(x)), raster order
  merge_matrix   F32 [B, N_merged, N]  merged = merge_matrix · x
  unmerge_matrix F32 [B, N, N_merged]  unmerged = unmerge_matrix · merged
(the two matrices only while together they take at most ${DENSE_LIMIT_BYTES / 2 ** 20} MiB; else a note says they
were left out). x must be finite; the run's memory is estimated from x's header and refused if it
exceeds the machine's.

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
  if (g[0] > MAX_GRID_SIDE || g[1] > MAX_GRID_SIDE)
    throw new UsageError(`--grid sides must be at most ${MAX_GRID_SIDE}; got "${s}"`);
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
    let be: Backend | undefined;
    try {
      const info = ck.info(key);
      const shape = info.shape;
      if (shape.length !== 3 || shape.some((d) => d < 1))
        throw new Error(
          `${input}: "${key}" must be [B, N, C] with no empty dimension, got [${shape.join(', ')}]`,
        );
      if (!['F32', 'F16', 'BF16', 'F64'].includes(info.dtype))
        throw new Error(`${input}: "${key}" must hold floats, got ${info.dtype}`);
      if (shape[1] !== H * W)
        throw new UsageError(`"${key}" has ${shape[1]} tokens but --grid ${H}x${W} has ${H * W}`);
      const [B, N, C] = shape as [number, number, number];
      const layout = new TileLayout(H, W, tile, ratio);
      const dense = denseBytes(B, layout.tokens, N) <= DENSE_LIMIT_BYTES;

      // the memory check comes before x is read: a header may declare (and a sparse file hold) 64 GiB
      const b = cancellable(await createBackend(backend, gpuOptions(values)));
      be = b;
      const note = checkMemory(mergeNeed(B, N, C, layout, dense, input), budgetOf(b));
      if (note) console.error(note);
      const x = ck.readF32(key);
      ck.close();
      // NaN has no similarity: selection and weights would be meaningless
      assertFinite(input, `"${key}"`, x, shape, 'merge needs finite tokens');
      const t0 = performance.now();
      const res = b.tidy(() => {
        const xt = b.tensor(x, [B, N, C]);
        const sel = tomaSelectAndWeigh(b, xt, layout, tau);
        const merged = tomaMerge(b, xt, sel.m, layout);
        const unmerged = tomaUnmerge(b, merged, sel.p, layout);
        return { ...sel, merged, unmerged };
      });
      const [dst, p, m, merged, unmerged] = await Promise.all([
        b.readU32(res.dst),
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
      if (dense) {
        const d = tomaDenseRef(layout, B, p, m);
        tensors.merge_matrix = { dtype: 'F32', shape: [B, M, N], data: d.merge };
        tensors.unmerge_matrix = { dtype: 'F32', shape: [B, N, M], data: d.unmerge };
      } else
        console.error(
          `note: merge_matrix and unmerge_matrix left out: together they would take ${bytesText(denseBytes(B, M, N))} (limit ${bytesText(DENSE_LIMIT_BYTES)})`,
        );
      writeSafetensors(out, tensors, {
        grid: `${H}x${W}`,
        ratio: String(ratio),
        tile: String(tile),
        temperature: String(tau),
        backend: b.info().description,
      });
      console.log(
        `${layout}: wrote ${Object.keys(tensors).join(', ')} to ${out} (${b.name}, ${ms.toFixed(0)} ms incl. readback)`,
      );
      return 0;
    } finally {
      ck.close();
      be?.destroy();
    }
  },
};

/** Bytes of merge_matrix and unmerge_matrix together. */
function denseBytes(B: number, M: number, N: number): number {
  return 2 * B * M * N * 4;
}

/** What a merge run holds at once, from x's header: the sizes of x, its outputs and the tile weights. */
function mergeNeed(
  B: number,
  N: number,
  C: number,
  layout: TileLayout,
  dense: boolean,
  input: string,
): MemoryNeed {
  const x = B * N * C * 4;
  const weights = B * layout.tiles * layout.kMax * layout.nMax * 4;
  const M = layout.tokens;
  // x on the host and the backend, merged and unmerged on both, p and m on both, the dense matrices
  const bytes = 2 * (x + B * M * C * 4 + x + 2 * weights) + (dense ? denseBytes(B, M, N) : 0);
  return { what: `merging ${input} ([${B}, ${N}, ${C}])`, bytes, largestTensor: Math.max(x, weights) };
}
