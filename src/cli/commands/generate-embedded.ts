// `toma generate` with the embedded model (or another pixel-space Flux checkpoint with its class
// conditioning): images per class, with the chosen token-reduction method timed against dense on the
// same seeds.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { Backend } from '../../backend.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { encodePng, toUint8 } from '../../io/png.js';
import { FluxModel } from '../../models/flux/model.js';
import { embeddedDir, loadConditioning, resolveClass } from '../../pipeline/embedded.js';
import { type GenerateResult, generate } from '../../pipeline/generate.js';
import { createMethod, METHODS, type MethodName, smallModelDefaults } from '../../pipeline/methods.js';
import { choice, num, UsageError } from '../args.js';
import { defaultDtype } from '../backend-choice.js';
import { ProgressBar } from '../progress.js';
import type { GenerateValues } from './generate.js';

/** `toma generate` without a FLUX.1 model: the embedded class-conditional model (parsed options in). */
export async function generateEmbedded(
  values: GenerateValues,
  makeBackend: () => Promise<Backend>,
): Promise<number> {
  const method = choice(values.method, METHODS, 'method', 'toma') as MethodName;
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
  if (values.conditioning !== undefined && values.checkpoint === undefined) {
    throw new UsageError(
      '--conditioning goes with --checkpoint (a pixel-space Flux model and its class conditioning)',
    );
  }

  const be = await makeBackend();
  const onCpu = be.name === 'cpu';
  const dtype = choice(values.dtype, ['f16', 'f32'] as const, 'dtype', defaultDtype(be));
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
  if (d && x && method !== 'dense') console.log(`${method} vs dense: ${(d.totalMs / x.totalMs).toFixed(2)}x`);
  model.dispose();
  be.destroy();
  return 0;
}
