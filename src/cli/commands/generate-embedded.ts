// `toma generate` with the embedded model (or another pixel-space Flux checkpoint with its class
// conditioning): images per class, with the chosen token-reduction method timed against dense on the
// same seeds.
import { mkdirSync } from 'node:fs';
import type { EmbeddedPipeline } from '../../api/embedded-pipeline.js';
import type { GeneratedImage } from '../../api/image.js';
import { EMBEDDED_DEFAULTS, type GenerateCallOptions, TextToImagePipeline } from '../../api/pipeline.js';
import type { Backend } from '../../backend.js';
import { scheduleString } from '../../cache/spec.js';
import { validateOutputDir } from '../../io/output.js';
import { fluxForwardNeed } from '../../models/flux/memory.js';
import { budgetOf, checkMemory, EMBEDDED_MAX_SIZE, MAX_STEPS } from '../../models/limits.js';
import { type CacheSpec, cacheSpecString, METHODS, type MethodName } from '../../pipeline/methods.js';
import { choice, exemptOption, num, UsageError } from '../args.js';
import { defaultDtype } from '../backend-choice.js';
import { cacheCreateOptions, cacheSpecOption } from '../cache-options.js';
import { cliAbortFlag } from '../cancel.js';
import { freePath, imageName } from '../output-names.js';
import { ProgressBar } from '../progress.js';
import type { GenerateValues } from './generate.js';

interface Run {
  method: MethodName;
  cache: CacheSpec | null;
}

/** `toma generate` without a FLUX.1 model: the embedded class-conditional model (parsed options in). */
export async function generateEmbedded(
  values: GenerateValues,
  makeBackend: () => Promise<Backend>,
): Promise<number> {
  const method = choice(values.method, METHODS, 'method', EMBEDDED_DEFAULTS.method) as MethodName;
  // The library's defaults (src/api/pipeline.ts): ToMA 0.25 on every 3rd step with FORA every 2nd step
  // keeps the image close to dense (26.2 dB PSNR, 1.51x on the H100, docs/eval/defaults.md); other
  // methods keep their plain defaults.
  const isDefault = method === EMBEDDED_DEFAULTS.method;
  const d = isDefault ? EMBEDDED_DEFAULTS.toma : EMBEDDED_DEFAULTS.other;
  const ratio = num(values.ratio, 'ratio', d.ratio, (v) => v >= 0 && v < 1, 'in [0, 1)');
  const mergeEvery = num(
    values['merge-every'],
    'merge-every',
    d.mergeEvery,
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
  const cfg = num(values.cfg, 'cfg', EMBEDDED_DEFAULTS.guidance, (v) => v >= 0, 'a number >= 0');
  const cache = cacheSpecOption(values.cache ?? (isDefault ? EMBEDDED_DEFAULTS.cache : undefined));
  if (values.conditioning !== undefined && values.checkpoint === undefined) {
    throw new UsageError(
      '--conditioning goes with --checkpoint (a pixel-space Flux model and its class conditioning)',
    );
  }

  const outDir = values.out ?? 'out';
  validateOutputDir(
    outDir,
    [values.checkpoint, values.conditioning].filter((p) => p !== undefined),
  );
  const be = await makeBackend();
  let pipe: EmbeddedPipeline | undefined;
  try {
    const onCpu = be.name === 'cpu';
    const defaults = onCpu ? EMBEDDED_DEFAULTS.cpu : EMBEDDED_DEFAULTS.gpu;
    const dtype = choice(values.dtype, ['f16', 'f32'] as const, 'dtype', defaultDtype(be));
    const size = num(
      values.size,
      'size',
      defaults.size,
      (v) => Number.isInteger(v) && v >= 4 && v % 2 === 0 && v <= EMBEDDED_MAX_SIZE,
      `an even integer in 4..${EMBEDDED_MAX_SIZE}`,
    );
    const steps = num(
      values.steps,
      'steps',
      defaults.steps,
      (v) => Number.isInteger(v) && v >= 1 && v <= MAX_STEPS,
      `an integer in 1..${MAX_STEPS}`,
    );
    const cacheOptions = cacheCreateOptions(values, [cache], steps);

    // the library's pipeline: the package's model, or --checkpoint / --conditioning
    pipe = await TextToImagePipeline.fromPretrained('embedded', {
      backend: be,
      dtype,
      embeddedFiles: { model: values.checkpoint, conditioning: values.conditioning },
    });
    const p = pipe;
    const labels = (values.class ?? (onCpu ? 'green-meadow' : 'green-meadow,twilight-lake'))
      .split(',')
      .map((k) => p.conditioning.names[p.classIndex(k.trim())]!);
    const c = p.model.config;
    // two rows per class (classifier-free guidance), 2x2 pixel patches
    const need = fluxForwardNeed(
      c,
      {
        valueBytes: dtype === 'f16' && !onCpu ? 2 : 4,
        batch: 2 * labels.length,
        imageTokens: (size / 2) ** 2,
        textTokens: p.conditioning.textTokens,
      },
      `the embedded model at ${size}x${size} for ${labels.length} class(es)`,
    );
    const memNote = checkMemory(need, budgetOf(be));
    if (memNote) console.error(memNote);
    console.log(`backend: ${be.info().description}, ${dtype}`);
    console.log(
      `model: ${c.depth} double + ${c.depth_single_blocks} single blocks, hidden ${c.hidden_size}; ${size}x${size} px = ${(size / 2) ** 2} image tokens, ${steps} steps, cfg ${cfg}`,
    );

    // dense (on a GPU unless --no-compare, on the CPU only with --compare) and the method with its cache
    if (values.compare && values['no-compare']) throw new UsageError('--compare and --no-compare contradict');
    const compare = values.compare ?? (!onCpu && !values['no-compare']);
    const target: Run = { method, cache };
    const runs: Run[] =
      !compare || (method === 'dense' && !cache) ? [target] : [{ method: 'dense', cache: null }, target];
    const call = (r: Run): GenerateCallOptions => ({
      method: r.method,
      methodOptions: { ...exempt, ratio, tile, mergeEvery },
      cache: r.cache ? cacheSpecString(r.cache) : null,
      cacheOptions: r.cache ? cacheOptions : undefined,
      width: size,
      height: size,
      seed,
      guidance: cfg,
      signal: cliAbortFlag(),
    });
    if (!onCpu) {
      // compile every pipeline once (one step at this size) so the timed runs compare like with like
      for (const r of runs) await p.generate(labels, { ...call(r), steps: 1 });
    }
    const results: GeneratedImage[][] = [];
    for (const r of runs) {
      const bar = new ProgressBar((r.method === 'dense' && !r.cache ? 'dense' : method).padEnd(10));
      results.push(
        await p.generate(labels, {
          ...call(r),
          steps,
          onProgress: (s) => bar.update(s.step, s.steps, `${(s.stepMs / 1000).toFixed(2)} s/step`),
        }),
      );
      bar.done();
    }

    mkdirSync(outDir, { recursive: true });
    const taken = new Set<string>();
    for (const images of results)
      for (const im of images) {
        const parts = { ...im, backend: be.name };
        const path = freePath(outDir, imageName(parts), !!values.overwrite, taken);
        await im.save(path);
        console.log(`wrote ${path}`);
      }
    for (const images of results) {
      const im = images[0]!;
      const ms = im.totalMs ?? 0;
      console.log(`${im.method.padEnd(8)} ${(ms / 1000).toFixed(2)} s (${(ms / steps).toFixed(0)} ms/step)`);
      for (const x of images) {
        const f = x.fullSteps;
        if (!f) continue;
        const flags = Array.from({ length: steps }, (_, s) => f.includes(s));
        console.log(`  ${x.label}: ${f.length} of ${steps} steps computed (${scheduleString(flags)})`);
      }
    }
    if (results.length === 2) {
      const [dense, other] = results as [GeneratedImage[], GeneratedImage[]];
      console.log(
        `${other[0]!.method} vs dense: ${((dense[0]!.totalMs ?? 0) / (other[0]!.totalMs ?? 1)).toFixed(2)}x`,
      );
    }
    return 0;
  } finally {
    pipe?.dispose();
    be.destroy();
  }
}
