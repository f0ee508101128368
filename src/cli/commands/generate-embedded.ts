// `toma generate` with the embedded model (or another pixel-space Flux checkpoint with its class
// conditioning): images per class, with the chosen token-reduction method timed against dense on the
// same seeds.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { Backend } from '../../backend.js';
import { scheduleString } from '../../cache/spec.js';
import { fullSteps } from '../../cache/step-cache.js';
import { validateOutputDir, writeFileAtomic } from '../../io/output.js';
import { encodePng, toUint8 } from '../../io/png.js';
import { fluxForwardNeed } from '../../models/flux/memory.js';
import { FluxModel } from '../../models/flux/model.js';
import { budgetOf, checkMemory, EMBEDDED_MAX_SIZE } from '../../models/limits.js';
import { embeddedDir, loadConditioning, resolveClass } from '../../pipeline/embedded.js';
import { type GenerateResult, generate } from '../../pipeline/generate.js';
import {
  type CacheSpec,
  cacheSpecString,
  createMethod,
  METHODS,
  type MethodName,
  smallModelDefaults,
} from '../../pipeline/methods.js';
import { choice, exemptOption, num, UsageError } from '../args.js';
import { defaultDtype } from '../backend-choice.js';
import { cacheCreateOptions, cacheSpecOption } from '../cache-options.js';
import { cliAbortFlag } from '../cancel.js';
import { ProgressBar } from '../progress.js';
import type { GenerateValues } from './generate.js';

interface Run {
  method: MethodName;
  cache: CacheSpec | null;
}

/** The file-name tag of a run: the method, with the cache ("toma+fbcache-0.12"). */
function fileTag(r: Run): string {
  return r.cache ? `${r.method}+${cacheSpecString(r.cache).replace(/:/g, '-')}` : r.method;
}

/** `toma generate` without a FLUX.1 model: the embedded class-conditional model (parsed options in). */
export async function generateEmbedded(
  values: GenerateValues,
  makeBackend: () => Promise<Backend>,
): Promise<number> {
  const method = choice(values.method, METHODS, 'method', 'toma') as MethodName;
  // The default (ToMA 0.25 on every 3rd step, FORA every 2nd step) keeps the image close to dense:
  // 26.2 dB PSNR, 1.51x on the H100 (docs/eval/defaults.md); other methods keep their plain defaults.
  const isDefault = method === 'toma';
  const ratio = num(values.ratio, 'ratio', isDefault ? 0.25 : 0.5, (v) => v >= 0 && v < 1, 'in [0, 1)');
  const mergeEvery = num(
    values['merge-every'],
    'merge-every',
    isDefault ? 3 : 1,
    (v) => Number.isInteger(v) && v >= 1,
    'a positive integer',
  );
  const exempt = exemptOption(values.exempt);
  const tile = num(
    values.tile,
    'tile',
    4,
    (v) => Number.isInteger(v) && v >= 1 && v <= 8,
    'an integer in 1..8',
  );
  const seed = num(values.seed, 'seed', 0, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer');
  const cfg = num(values.cfg, 'cfg', 4, (v) => v >= 0, 'a number >= 0');
  const cache = cacheSpecOption(values.cache ?? (isDefault ? 'fora:2' : undefined));
  if (values.conditioning !== undefined && values.checkpoint === undefined) {
    throw new UsageError(
      '--conditioning goes with --checkpoint (a pixel-space Flux model and its class conditioning)',
    );
  }

  validateOutputDir(
    values.out ?? 'out',
    [values.checkpoint, values.conditioning].filter((p) => p !== undefined),
  );
  const be = await makeBackend();
  const onCpu = be.name === 'cpu';
  const dtype = choice(values.dtype, ['f16', 'f32'] as const, 'dtype', defaultDtype(be));
  const size = num(
    values.size,
    'size',
    onCpu ? 64 : 128,
    (v) => Number.isInteger(v) && v >= 4 && v % 2 === 0 && v <= EMBEDDED_MAX_SIZE,
    `an even integer in 4..${EMBEDDED_MAX_SIZE}`,
  );
  const steps = num(
    values.steps,
    'steps',
    onCpu ? 4 : 28,
    (v) => Number.isInteger(v) && v >= 1,
    'a positive integer',
  );
  const outDir = values.out ?? 'out';
  const cacheOptions = cacheCreateOptions(values, [cache], steps);

  const dir = values.checkpoint ? null : embeddedDir();
  const model = FluxModel.load(be, values.checkpoint ?? `${dir}flux-embedded.safetensors`, { dtype });
  const cond = loadConditioning(values.conditioning ?? `${dir}conditioning.safetensors`);
  const classes = (values.class ?? (onCpu ? 'green-meadow' : 'green-meadow,twilight-lake'))
    .split(',')
    .map((c) => resolveClass(cond, c.trim()));
  const c = model.config;
  // two rows per class (classifier-free guidance), 2x2 pixel patches
  const need = fluxForwardNeed(
    c,
    {
      valueBytes: dtype === 'f16' && !onCpu ? 2 : 4,
      batch: 2 * classes.length,
      imageTokens: (size / 2) ** 2,
      textTokens: cond.textTokens,
    },
    `the embedded model at ${size}x${size} for ${classes.length} class(es)`,
  );
  try {
    const memNote = checkMemory(need, budgetOf(be));
    if (memNote) console.error(memNote);
  } catch (e) {
    model.dispose();
    be.destroy();
    throw e;
  }
  const mopts = { ...smallModelDefaults(c.depth, c.depth_single_blocks), ...exempt, ratio, tile, mergeEvery };
  console.log(`backend: ${be.info().description}, ${dtype}`);
  console.log(
    `model: ${c.depth} double + ${c.depth_single_blocks} single blocks, hidden ${c.hidden_size}; ${size}x${size} px = ${(size / 2) ** 2} image tokens, ${steps} steps, cfg ${cfg}`,
  );

  // dense (unless --no-compare) and the method with its cache
  const target: Run = { method, cache };
  const runs: Run[] =
    values['no-compare'] || (method === 'dense' && !cache)
      ? [target]
      : [{ method: 'dense', cache: null }, target];
  const results = new Map<string, { run: Run; result: GenerateResult; full?: number[][] }>();
  const setupFor = (r: Run) =>
    createMethod(be, r.method, mopts, c.depth, {
      cache: r.cache,
      cacheOptions: r.cache ? cacheOptions : undefined,
    });
  try {
    if (!onCpu) {
      // compile every pipeline once (one step at this size) so the timed runs compare like with like
      for (const r of runs) {
        const setup = setupFor(r);
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
          cache: setup.cache,
        });
        setup.dispose();
      }
    }
    for (const r of runs) {
      const setup = setupFor(r);
      const bar = new ProgressBar(setup.name.padEnd(10));
      try {
        const result = await generate({
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
          cache: setup.cache,
          signal: cliAbortFlag(),
          onProgress: (p) => bar.update(p.step, p.steps, `${(p.stepMs / 1000).toFixed(2)} s/step`),
        });
        bar.done();
        const d = setup.cache?.decisions();
        results.set(setup.name, { run: r, result, full: d && classes.map((_, i) => fullSteps(d, i)) });
      } finally {
        setup.dispose();
      }
    }
  } catch (e) {
    model.dispose();
    be.destroy();
    throw e;
  }

  mkdirSync(outDir, { recursive: true });
  for (const { run, result: r } of results.values()) {
    r.images.forEach((img, i) => {
      const name = `${cond.names[classes[i]!]}-seed${seed}-${fileTag(run)}.png`;
      writeFileAtomic(
        join(outDir, name),
        encodePng(toUint8(img), r.width, r.height, 3, (raw) => deflateSync(raw)),
      );
      console.log(`wrote ${join(outDir, name)}`);
    });
  }
  for (const [name, { result: r, full }] of results) {
    console.log(
      `${name.padEnd(8)} ${(r.totalMs / 1000).toFixed(2)} s (${(r.totalMs / steps).toFixed(0)} ms/step)`,
    );
    full?.forEach((f, i) => {
      const flags = Array.from({ length: steps }, (_, s) => f.includes(s));
      console.log(
        `  ${cond.names[classes[i]!]}: ${f.length} of ${steps} steps computed (${scheduleString(flags)})`,
      );
    });
  }
  const dense = [...results.values()].find((x) => x.run.method === 'dense' && !x.run.cache);
  const other = [...results].find(([, x]) => x !== dense);
  if (dense && other)
    console.log(`${other[0]} vs dense: ${(dense.result.totalMs / other[1].result.totalMs).toFixed(2)}x`);
  model.dispose();
  be.destroy();
  return 0;
}
