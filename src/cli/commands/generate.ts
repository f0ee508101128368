// `toma generate`: images from the embedded model (or another pixel-space Flux checkpoint), with the
// chosen token-reduction method timed against dense on the same seeds.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { Backend } from '../../backend.js';
import { createBackend } from '../../backends.js';
import { NoAdapterError } from '../../gpu/device.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { encodePng, toUint8 } from '../../io/png.js';
import { FluxModel } from '../../models/flux/model.js';
import { embeddedDir, loadConditioning, resolveClass } from '../../pipeline/embedded.js';
import { type GenerateResult, generate } from '../../pipeline/generate.js';
import { createMethod, METHODS, type MethodName, smallModelDefaults } from '../../pipeline/methods.js';
import { type Command, choice, num, parse, UsageError } from '../args.js';
import { ProgressBar } from '../progress.js';

const usage = `usage: toma generate [--class NAME|INDEX[,...]] [--seed N] [--size PX] [--steps N] [--cfg G]
                     [--method toma|tomesd|todo|hilbert|dense] [--ratio R] [--tile S]
                     [--no-compare] [--out DIR] [--backend auto|webgpu|cpu] [--dtype f16|f32]
                     [--checkpoint FILE --conditioning FILE]

Generates images with the embedded model (a small pixel-space Flux trained by this project, see
models/embedded/MODEL_CARD.md) and writes PNGs to --out (default ./out). Unless --no-compare, the same
seeds run dense too and the speedup of the method is printed.
  --class       class name (or unique prefix) or index, comma-separated for several images
                (default: green-meadow,twilight-lake on a GPU; green-meadow on the CPU)
  --size        square size in pixels, even (default 128 on a GPU, 64 on the CPU)
  --steps       Euler steps (default 28 on a GPU, 4 on the CPU)
  --cfg         classifier-free guidance scale (default 4)
  --method      token reduction or sparse attention (default toma)
  --ratio/--tile  ToMA / ToMeSD ratio (default 0.5) and ToMA tile side (default 4)
  --backend     auto (WebGPU if there is an adapter, else CPU), webgpu or cpu`;

export const generateCommand: Command = {
  name: 'generate',
  summary: 'generate images with the embedded model, dense vs a merging method',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        class: { type: 'string' },
        seed: { type: 'string' },
        size: { type: 'string' },
        steps: { type: 'string' },
        cfg: { type: 'string' },
        method: { type: 'string' },
        ratio: { type: 'string' },
        tile: { type: 'string' },
        'no-compare': { type: 'boolean' },
        out: { type: 'string' },
        backend: { type: 'string' },
        dtype: { type: 'string' },
        checkpoint: { type: 'string' },
        conditioning: { type: 'string' },
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const method = choice(values.method, METHODS, 'method', 'toma') as MethodName;
    const backendName = choice(values.backend, ['auto', 'webgpu', 'cpu'] as const, 'backend', 'auto');
    const ratio = num(values.ratio, 'ratio', 0.5, (v) => v >= 0 && v < 1, 'in [0, 1)');
    const tile = num(
      values.tile,
      'tile',
      4,
      (v) => Number.isInteger(v) && v >= 1 && v <= 8,
      'an integer in 1..8',
    );
    const seed = num(values.seed, 'seed', 0, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer');
    const cfg = num(values.cfg, 'cfg', 4, (v) => v >= 0, 'a number >= 0');
    if ((values.checkpoint === undefined) !== (values.conditioning === undefined)) {
      throw new UsageError(
        '--checkpoint and --conditioning go together (a pixel-space Flux model and its class conditioning)',
      );
    }

    let be: Backend;
    try {
      be = await createBackend(backendName === 'auto' ? 'webgpu' : backendName);
    } catch (e) {
      if (!(backendName === 'auto' && e instanceof NoAdapterError)) throw e;
      console.error(
        'no WebGPU adapter: running on the CPU backend (smaller size, fewer steps). See `toma doctor`.',
      );
      be = await createBackend('cpu');
    }
    const onCpu = be.name === 'cpu';
    const dtype = choice(
      values.dtype,
      ['f16', 'f32'] as const,
      'dtype',
      be.supports('f16') && !onCpu ? 'f16' : 'f32',
    );
    const size = num(
      values.size,
      'size',
      onCpu ? 64 : 128,
      (v) => Number.isInteger(v) && v >= 4 && v % 2 === 0,
      'an even integer >= 4',
    );
    const steps = num(
      values.steps,
      'steps',
      onCpu ? 4 : 28,
      (v) => Number.isInteger(v) && v >= 1,
      'a positive integer',
    );
    const outDir = values.out ?? 'out';

    const dir = values.checkpoint ? null : embeddedDir();
    const model = FluxModel.load(be, values.checkpoint ?? `${dir}flux-embedded.safetensors`, { dtype });
    const cond = loadConditioning(values.conditioning ?? `${dir}conditioning.safetensors`);
    const classes = (values.class ?? (onCpu ? 'green-meadow' : 'green-meadow,twilight-lake'))
      .split(',')
      .map((c) => resolveClass(cond, c.trim()));
    const c = model.config;
    const mopts = { ...smallModelDefaults(c.depth, c.depth_single_blocks), ratio, tile };
    console.log(`backend: ${be.info().description}, ${dtype}`);
    console.log(
      `model: ${c.depth} double + ${c.depth_single_blocks} single blocks, hidden ${c.hidden_size}; ${size}x${size} px = ${(size / 2) ** 2} image tokens, ${steps} steps, cfg ${cfg}`,
    );

    const controller = new AbortController();
    const onSigint = () => controller.abort();
    process.once('SIGINT', onSigint);
    const runs: MethodName[] = values['no-compare'] || method === 'dense' ? [method] : ['dense', method];
    const results = new Map<MethodName, GenerateResult>();
    try {
      if (!onCpu) {
        // compile every pipeline once (one step at this size) so the timed runs compare like with like
        for (const m of runs) {
          const setup = createMethod(be, m, mopts, c.depth);
          await generate({
            model,
            conditioning: cond,
            classes,
            width: size,
            height: size,
            steps: 1,
            seed,
            cfg,
            reducer: setup.reducer,
            pattern: setup.pattern,
          });
          setup.dispose();
        }
      }
      for (const m of runs) {
        const setup = createMethod(be, m, mopts, c.depth);
        const bar = new ProgressBar(setup.name.padEnd(10));
        try {
          const r = await generate({
            model,
            conditioning: cond,
            classes,
            width: size,
            height: size,
            steps,
            seed,
            cfg,
            reducer: setup.reducer,
            pattern: setup.pattern,
            signal: controller.signal,
            onProgress: (p) => bar.update(p.step, p.steps, `${(p.stepMs / 1000).toFixed(2)} s/step`),
          });
          bar.done();
          results.set(m, r);
        } finally {
          setup.dispose();
        }
      }
    } catch (e) {
      if ((e as Error).name === 'AbortError') {
        console.error('\ncancelled: no images written');
        return 130;
      }
      throw e;
    } finally {
      process.off('SIGINT', onSigint);
    }

    mkdirSync(outDir, { recursive: true });
    for (const [m, r] of results) {
      r.images.forEach((img, i) => {
        const name = `${cond.names[classes[i]!]}-seed${seed}-${m}.png`;
        writeFileAtomic(
          join(outDir, name),
          encodePng(toUint8(img), r.width, r.height, 3, (raw) => deflateSync(raw)),
        );
        console.log(`wrote ${join(outDir, name)}`);
      });
    }
    for (const [m, r] of results)
      console.log(
        `${m.padEnd(8)} ${(r.totalMs / 1000).toFixed(2)} s (${(r.totalMs / steps).toFixed(0)} ms/step)`,
      );
    const d = results.get('dense');
    const x = results.get(method);
    if (d && x && method !== 'dense')
      console.log(`${method} vs dense: ${(d.totalMs / x.totalMs).toFixed(2)}x`);
    model.dispose();
    be.destroy();
    return 0;
  },
};
