// `toma eval`: speed and fidelity of every token-reduction method against dense, on many seeds of the
// embedded model, with a results table, a JSON of everything, a comparison grid and a Pareto plot.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Backend } from '../../backend.js';
import { buildConfigs, DEFAULT_EVAL_METHODS, type EvalConfig } from '../../eval/configs.js';
import { computeDeepFeatures } from '../../eval/deep-features.js';
import {
  closeFeatureNets,
  defaultFeatureWorkers,
  FEATURE_CAVEAT,
  FEATURE_NETS,
} from '../../eval/feature-net.js';
import { gridColumns } from '../../eval/figures.js';
import { runGenerations } from '../../eval/generation.js';
import { type ImageSet, isImageName, readImageDir } from '../../eval/image-files.js';
import { computeMetrics } from '../../eval/metrics.js';
import { planOutputs, writeEvalOutputs } from '../../eval/outputs.js';
import { type EvalDevice, type EvalReport, type EvalSettings, reportText } from '../../eval/report.js';
import { type EvalRun, loadSavedRun } from '../../eval/saved-run.js';
import { GpuBackend } from '../../gpu/backend.js';
import { validateOutputDir } from '../../io/output.js';
import { statPath } from '../../io/regular-file.js';
import { fluxForwardNeed } from '../../models/flux/memory.js';
import { FluxModel } from '../../models/flux/model.js';
import { budgetOf, checkMemory, EMBEDDED_MAX_SIZE } from '../../models/limits.js';
import { embeddedDir, loadConditioning, resolveClass } from '../../pipeline/embedded.js';
import {
  METHODS,
  type MethodConfig,
  type MethodName,
  type MethodOptions,
  parseConfig,
  smallModelDefaults,
} from '../../pipeline/methods.js';
import { pipelineFamily } from '../../pipeline/model-folder.js';
import { type Command, choice, num, parse, UsageError } from '../args.js';
import { chooseBackend, defaultDtype } from '../backend-choice.js';
import { cacheSpecOption, polynomialOption } from '../cache-options.js';
import { cliAbortFlag } from '../cancel.js';
import { GPU_OPTIONS, GPU_USAGE, gpuOptions } from '../gpu-options.js';
import { EtaBar } from '../progress.js';
import { FLUX_ONLY, SDXL_EVAL_METHODS, SDXL_EVAL_PROMPTS, SDXL_ONLY, sdxlEvalRun } from './eval-sdxl.js';

const usage = `usage: toma eval [--seeds N] [--size PX] [--steps N] [--cfg G] [--batch N] [--classes LIST]
                 [--methods LIST] [--ratios LIST] [--caches LIST] [--configs LIST] [--speed-seeds N]
                 [--teacache-poly C4,...,C0] [--tile S] [--merge-every N] [--reuse-steps N]
                 [--exempt D,S] [--real DIR[,DIR...]] [--features inception|mobilenet|none]
                 [--feature-workers N] [--grid-rows N] [--out DIR] [--backend auto|webgpu|cpu]
                 [--dtype f16|f32] [--checkpoint FILE --conditioning FILE] [--robust] [--guard]
       toma eval --model-dir SDXL [--prompts "A,B,..."] [--negative-prompt TEXT] [--seeds N]
                 [--size PX] [--steps N] [--cfg G] [--scheduler euler|euler-a] [--methods LIST]
                 [--ratios LIST] [--configs LIST] [--tile S] [--merge-every N] [--reuse-steps N]
                 [--levels L,...] [--scope block|self-attention] [--real ...] [--features ...] [--out DIR]
       toma eval --from DIR [--real DIR[,DIR...]] [--features ...] [--out DIR]

Generates N seeds with dense and with each method (ToMA and ToMeSD at every ratio, ToDo, HilbertA) and
reports, per method: speed (median ms per image, speedup vs dense in the same run), fidelity to the dense
image of the same seed and class (PSNR, SSIM, deep-feature distance) and KID against real images.
Writes to --out (default out/eval): results.json (everything), results.md (the table), grid.png (a few
seeds side by side, ToMA's destination tokens overlaid), pareto.svg (speedup vs fidelity) and
samples-K.png (every generated image, rows = seeds, columns = methods; --from recomputes the metrics
from them, e.g. where the deep-feature network is installed).
Defaults marked "small" apply on the CPU backend and on a software WebGPU adapter (SwiftShader), where
the GPU defaults would take hours; --backend auto (the default) takes the CPU backend over a software
adapter (faster there), --backend webgpu uses it anyway. Progress: images done, time per image, time left.
  --seeds       images per method (default 64; small: 4); seed i uses noise seed i
  --size        square size in pixels, even, at most 1024 (default 128; small: 32)
  --steps       Euler steps (default 28; small: 4); --cfg guidance scale (default 4)
  --batch       seeds per generate() call (default 8; small: 4)
  --classes     class names or indices to cycle through over the seeds (default: every class but null)
  --methods     comma-separated, of ${METHODS.filter((m) => m !== 'dense').join(',')} (default
                ${DEFAULT_EVAL_METHODS.join(',')}; dense always runs)
  --ratios      merge ratios for toma, tomesd and toma+hilbert (default 0.25,0.5,0.75)
  --caches      step caches, each run alone and with every method configuration above, e.g.
                fbcache:0.1,teacache:0.3,taylorseer:4 (see toma generate --help)
  --configs     explicit configurations METHOD[:RATIO][+CACHE], comma-separated, e.g.
                "fbcache:0.1,toma:0.5+fbcache:0.1,toma+hilbert:0.5+teacache:0.3"; with --configs or
                --caches and no --methods, only dense and what they name run
  --speed-seeds the first N seeds are generated again one image per call, for the speed figures of every
                configuration (default 8, small: 2; at most --seeds; 0: batched timings). Step caches
                decide per image, and a batch computes a step when any image needs it, so batched wall
                time understates one user's speedup
  --teacache-poly  TeaCache's rescaling polynomial (default: FLUX.1's fit for FLUX.1, else the identity)
  --tile, --merge-every, --reuse-steps, --exempt   the merge schedule (defaults for the embedded model:
                tile 4, merge every step, destinations chosen afresh each step, first double and first
                single block exempt)
  --real        folder(s) of real PNG/JPEG images for KID (cropped and resized to --size), e.g. from
                node tools/eval/real-crops.mjs; none: KID is reported as unavailable
  --features    deep-feature network from npm nsfwjs (default inception: InceptionV3 2048-d); needs the
                optional packages nsfwjs and @tensorflow/tfjs-* (npm run setup:eval); without them those
                metrics are unavailable
  --from DIR    recompute the metrics from an earlier run's results.json and samples-K.png (timings and
                images are kept; writes to --out as usual)
SDXL (--model-dir: a diffusers folder, a folder holding the single-file release, or that file): the
same report on a Stable Diffusion XL model, through the pipeline of toma generate. Prompts replace the
classes (cycled over the seeds); seed i of prompt P is the image \`toma generate --prompt P --seed i\`
makes. One pipeline call per seed runs dense and every configuration on the same noise; speed is each
method's denoise stage (UNet steps with the guidance pair), text encoding and VAE decode left out.
Methods: ${SDXL_EVAL_METHODS.join(', ')} (the default; HilbertA has no UNet form; no step caches yet).
  --prompts     comma-separated prompts, so none with a comma (default ${SDXL_EVAL_PROMPTS.length} varied built-in prompts)
  --seeds       default 16 (small: 4); --steps default 30 (small: 4); --cfg guidance, default 5
  --size        one side (or WxH with W = H), a multiple of the UNet's (16 for SDXL base); default the
                model's own (1024 for SDXL base; small: at most 256)
  --levels, --scope   the UNet reducers' levels (0 = full latent resolution) and scope; default each
                method's UNet defaults (docs/merging.md)
  Fidelity on a random-weight folder (tools/make-random-sdxl-folder.mjs) measures nothing about image
  quality: use a real checkpoint for real numbers.
${GPU_USAGE}

Caveat: the nsfwjs networks are fine-tuned on another task and quantised to 8 bits, so the deep-feature
distances and KID are comparable within this project only, not with published FID/KID values.`;

/**
 * The configurations of --methods (default `defaults`), --ratios, --caches and --configs; with --configs
 * or --caches and no --methods, only dense and what they name.
 */
function evalConfigs(
  values: Record<string, string | boolean | undefined>,
  defaults: readonly MethodName[],
): EvalConfig[] {
  const text = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const caches = (list(text('caches')) ?? [])
    .map((c) => cacheSpecOption(c, 'caches'))
    .filter((c) => c !== null);
  const explicit: MethodConfig[] = (list(text('configs')) ?? []).map((k) => {
    try {
      return parseConfig(k);
    } catch (e) {
      throw new UsageError(`--configs: ${(e as Error).message}`);
    }
  });
  const methods = (
    list(text('methods')) ?? (values.caches !== undefined || values.configs !== undefined ? [] : defaults)
  ).map((m) => choice(m, METHODS, 'methods', 'dense') as MethodName);
  const ratios = (list(text('ratios')) ?? ['0.25', '0.5', '0.75']).map((r) =>
    num(r, 'ratios', 0.5, (v) => v > 0 && v < 1, 'numbers in (0, 1)'),
  );
  return buildConfigs(methods, ratios, { caches, explicit });
}

/** The merge options given on the command line (SDXL: the UNet defaults fill in the rest). */
function givenMethodOptions(values: Record<string, string | boolean | undefined>): MethodOptions {
  const text = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const o: MethodOptions = {};
  if (values.tile !== undefined)
    o.tile = num(
      text('tile'),
      'tile',
      4,
      (v) => Number.isInteger(v) && v >= 1 && v <= 8,
      'an integer in 1..8',
    );
  if (values['merge-every'] !== undefined) o.mergeEvery = intOpt(text('merge-every'), 'merge-every', 1);
  if (values['reuse-steps'] !== undefined) o.reuseSteps = intOpt(text('reuse-steps'), 'reuse-steps', 1);
  return o;
}

function list(v: string | undefined): string[] | undefined {
  return v === undefined
    ? undefined
    : v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
}

function intOpt(v: string | undefined, name: string, fallback: number, min = 1): number {
  return num(v, name, fallback, (x) => Number.isInteger(x) && x >= min, `an integer >= ${min}`);
}

function deviceInfo(be: Backend | null, dtype: string): EvalDevice {
  const c = cpus();
  return {
    backend: be ? be.info().description : 'none',
    dtype,
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/**
 * Defaults by device: the CPU backend and software adapters (SwiftShader) get the "small" ones, which
 * finish in minutes there where the GPU defaults would take hours.
 */
export function evalDefaults(be: Backend): {
  seeds: number;
  size: number;
  steps: number;
  batch: number;
  speedSeeds: number;
} {
  const small = be.name === 'cpu' || (be instanceof GpuBackend && be.caps.software);
  return small
    ? { seeds: 4, size: 32, steps: 4, batch: 4, speedSeeds: 2 }
    : { seeds: 64, size: 128, steps: 28, batch: 8, speedSeeds: 8 };
}

export const evalCommand: Command = {
  name: 'eval',
  summary:
    'speed and fidelity of merging methods and step caches vs dense over many seeds (tables, grid, Pareto plot)',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        seeds: { type: 'string' },
        size: { type: 'string' },
        steps: { type: 'string' },
        cfg: { type: 'string' },
        batch: { type: 'string' },
        classes: { type: 'string' },
        methods: { type: 'string' },
        ratios: { type: 'string' },
        caches: { type: 'string' },
        configs: { type: 'string' },
        'speed-seeds': { type: 'string' },
        'teacache-poly': { type: 'string' },
        tile: { type: 'string' },
        'merge-every': { type: 'string' },
        'reuse-steps': { type: 'string' },
        exempt: { type: 'string' },
        real: { type: 'string' },
        features: { type: 'string' },
        'feature-workers': { type: 'string' },
        'grid-rows': { type: 'string' },
        'kid-subsets': { type: 'string' },
        'kid-subset-size': { type: 'string' },
        from: { type: 'string' },
        out: { type: 'string' },
        backend: { type: 'string' },
        dtype: { type: 'string' },
        checkpoint: { type: 'string' },
        conditioning: { type: 'string' },
        'model-dir': { type: 'string' },
        prompts: { type: 'string' },
        'negative-prompt': { type: 'string' },
        scheduler: { type: 'string' },
        levels: { type: 'string' },
        scope: { type: 'string' },
        ...GPU_OPTIONS,
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const t0 = performance.now();
    const featureName = choice(values.features, [...FEATURE_NETS, 'none'] as const, 'features', 'inception');
    const featureWorkers = intOpt(values['feature-workers'], 'feature-workers', defaultFeatureWorkers());
    const gridRows = intOpt(values['grid-rows'], 'grid-rows', 4);
    const kidSubsets = intOpt(values['kid-subsets'], 'kid-subsets', 100);
    const kidSubsetSize = intOpt(values['kid-subset-size'], 'kid-subset-size', 1000, 2);
    const realDirs = list(values.real) ?? [];
    // each --real folder is checked now, not after minutes of generation: a folder holding images
    for (const dir of realDirs) checkImageFolder(dir);
    if (values.from !== undefined) {
      const generationOnly = [
        'seeds',
        'size',
        'steps',
        'cfg',
        'batch',
        'classes',
        'methods',
        'ratios',
        'caches',
        'configs',
        'speed-seeds',
        'teacache-poly',
        'tile',
        'merge-every',
        'reuse-steps',
        'exempt',
        'backend',
        'dtype',
        'checkpoint',
        'conditioning',
        ...SDXL_ONLY,
        'robust',
        'guard',
      ];
      const clash = generationOnly.filter((k) => values[k] !== undefined);
      if (clash.length)
        throw new UsageError(
          `--from reuses an earlier run's images: --${clash.join(', --')} cannot change them`,
        );
    }
    const sdxl = values['model-dir'] !== undefined;
    const flags = (keys: readonly string[]) => keys.map((k) => `--${k}`).join(', ');
    const misplaced = (sdxl ? FLUX_ONLY : SDXL_ONLY).filter((k) => values[k] !== undefined);
    if (values.from === undefined && misplaced.length)
      throw new UsageError(
        sdxl
          ? `${flags(misplaced)}: options of the embedded model's evaluation, not of an SDXL model's`
          : `${flags(misplaced)}: options of an SDXL model's evaluation; give --model-dir DIR`,
      );
    if (sdxl && values.from === undefined) {
      const dir = values['model-dir']!;
      if (!existsSync(dir)) throw new UsageError(`--model-dir ${dir}: no such file or folder`);
      const isFile = statSync(dir).isFile();
      if (pipelineFamily(isFile ? { checkpoint: dir } : { modelDir: dir }) !== 'sdxl')
        throw new UsageError(
          `--model-dir ${dir}: not an SDXL model; toma eval runs the embedded model, a pixel-space Flux checkpoint (--checkpoint with --conditioning) or an SDXL model`,
        );
    }
    if ((values.checkpoint === undefined) !== (values.conditioning === undefined))
      throw new UsageError(
        '--checkpoint and --conditioning go together (a pixel-space Flux model and its class conditioning)',
      );

    validateOutputDir(values.out ?? join('out', 'eval'), values.from !== undefined ? [values.from] : []);
    let run: EvalRun;
    let generationS: number | null = null;
    let be: Backend | null = null;
    let model: FluxModel | null = null;
    try {
      if (values.from !== undefined) {
        try {
          run = loadSavedRun(values.from);
        } catch (e) {
          throw new UsageError(`--from: ${(e as Error).message}`);
        }
        console.log(`metrics from the images of ${values.from} (${run.date}, ${run.device.backend})`);
      } else if (sdxl) {
        const r = await sdxlEvalRun({
          values,
          configs: evalConfigs(values, SDXL_EVAL_METHODS),
          methodOptions: givenMethodOptions(values),
          makeBackend: () =>
            chooseBackend(
              choice(values.backend, ['auto', 'webgpu', 'cpu'] as const, 'backend', 'auto'),
              'smaller size, fewer seeds',
              true,
              gpuOptions(values),
            ),
          intOpt,
          deviceInfo,
          list,
        });
        run = r.run;
        generationS = r.generationS;
      } else {
        // a software adapter (SwiftShader) is slower than the CPU backend: auto takes the CPU
        be = await chooseBackend(
          choice(values.backend, ['auto', 'webgpu', 'cpu'] as const, 'backend', 'auto'),
          'smaller size, fewer seeds',
          true,
          gpuOptions(values),
        );
        const onCpu = be.name === 'cpu';
        const dflt = evalDefaults(be);
        const dtype = choice(values.dtype, ['f16', 'f32'] as const, 'dtype', defaultDtype(be));
        const seedsN = intOpt(values.seeds, 'seeds', dflt.seeds);
        const size = num(
          values.size,
          'size',
          dflt.size,
          (v) => Number.isInteger(v) && v >= 4 && v % 2 === 0 && v <= EMBEDDED_MAX_SIZE,
          `an even integer in 4..${EMBEDDED_MAX_SIZE}`,
        );
        const steps = intOpt(values.steps, 'steps', dflt.steps);
        const cfg = num(values.cfg, 'cfg', 4, (v) => v >= 0, 'a number >= 0');
        const batch = intOpt(values.batch, 'batch', dflt.batch);
        const configs = evalConfigs(values, DEFAULT_EVAL_METHODS);
        const speedSeeds = Math.min(seedsN, intOpt(values['speed-seeds'], 'speed-seeds', dflt.speedSeeds, 0));
        const teacachePoly = polynomialOption(values['teacache-poly']);
        if (teacachePoly && !configs.some((k) => k.cache?.startsWith('teacache')))
          throw new UsageError('--teacache-poly goes with a teacache:T cache (in --caches or --configs)');

        const dir = values.checkpoint ? null : embeddedDir();
        model = FluxModel.load(be, values.checkpoint ?? `${dir}flux-embedded.safetensors`, { dtype });
        const cond = loadConditioning(values.conditioning ?? `${dir}conditioning.safetensors`);
        const c = model.config;
        const defaults = smallModelDefaults(c.depth, c.depth_single_blocks);
        const exempt = list(values.exempt);
        if (exempt && exempt.length !== 2) throw new UsageError('--exempt takes two numbers: double,single');
        const methodOptions: MethodOptions = {
          ...defaults,
          tile: num(
            values.tile,
            'tile',
            4,
            (v) => Number.isInteger(v) && v >= 1 && v <= 8,
            'an integer in 1..8',
          ),
          mergeEvery: intOpt(values['merge-every'], 'merge-every', defaults.mergeEvery ?? 1),
          reuseSteps: intOpt(values['reuse-steps'], 'reuse-steps', 1),
          exemptDouble: exempt ? intOpt(exempt[0], 'exempt', 0, 0) : defaults.exemptDouble,
          exemptSingle: exempt ? intOpt(exempt[1], 'exempt', 0, 0) : defaults.exemptSingle,
        };
        const classList = (
          list(values.classes) ??
          cond.names.map((_, i) => String(i)).filter((i) => Number(i) !== cond.nullClass)
        ).map((s) => resolveClass(cond, s));
        // one batch's forward (two rows per image for guidance) and every image kept for the metrics
        const need = fluxForwardNeed(
          c,
          {
            valueBytes: dtype === 'f16' && !onCpu ? 2 : 4,
            batch: 2 * batch,
            imageTokens: (size / 2) ** 2,
            textTokens: cond.textTokens,
          },
          `eval at ${size}x${size}, batch ${batch}, ${seedsN} seeds x ${configs.length + 1} runs`,
        );
        need.bytes += seedsN * (configs.length + 1) * size * size * 3 * 4;
        need.parts = undefined;
        const memNote = checkMemory(need, budgetOf(be));
        if (memNote) console.error(memNote);
        const seeds = Array.from({ length: seedsN }, (_, i) => i);
        const classes = seeds.map((i) => classList[i % classList.length]!);
        const settings: EvalSettings = {
          model: values.checkpoint
            ? `${basename(values.checkpoint)} (${c.depth} double + ${c.depth_single_blocks} single blocks)`
            : `embedded flux (${c.depth} double + ${c.depth_single_blocks} single blocks, hidden ${c.hidden_size})`,
          size,
          steps,
          cfg,
          batch,
          seeds,
          classes,
          classNames: cond.names,
          configs,
          methodOptions,
          speedSeeds,
          teacachePoly: teacachePoly ?? null,
          featureNet: null,
          kid: { subsets: kidSubsets, subsetSize: kidSubsetSize },
        };
        const device = deviceInfo(be, dtype);
        console.log(`backend: ${device.backend}, ${dtype}`);
        console.log(
          `${settings.model}; ${size}x${size} px, ${steps} steps, cfg ${cfg}; ${seedsN} seeds x ${configs.length} configurations (${configs.map((k) => k.label).join(', ')}), batch ${batch}`,
        );
        const g0 = performance.now();
        const gridCfg = gridColumns(configs).find((k) => k.overlay)?.config;
        const bar = new EtaBar('eval', 'image');
        const gen = await runGenerations({
          be,
          model,
          conditioning: cond,
          configs,
          seeds,
          classes,
          size,
          steps,
          cfg,
          batch,
          methodOptions,
          cacheOptions: teacachePoly ? { coefficients: teacachePoly } : {},
          speedSeeds,
          warmup: !onCpu,
          recordDestinations: gridCfg
            ? { label: gridCfg.label, seedIndices: seeds.slice(0, gridRows).map((_, i) => i) }
            : undefined,
          signal: cliAbortFlag(),
          log: (l) => console.error(l),
          onProgress: (p) => bar.update(p.images, p.total),
        });
        bar.done();
        generationS = (performance.now() - g0) / 1000;
        run = { settings, device, date: new Date().toISOString(), ...gen };
      }
    } finally {
      model?.dispose();
      be?.destroy();
    }

    const { settings } = run;
    try {
      const realSets: ImageSet[] = [];
      const taken = new Set<string>();
      for (const d of realDirs) {
        let name = basename(resolve(d));
        while (taken.has(name)) name = `${name}'`;
        taken.add(name);
        const s = await readImageDir(d, settings.size, name);
        const note = s.refitted ? ` (${s.refitted} cropped/resized to ${settings.size} px)` : '';
        console.log(`real images "${name}": ${s.images.length} from ${d}${note}`);
        realSets.push(s);
      }
      const deep = await computeDeepFeatures(
        featureName,
        featureWorkers,
        settings.configs,
        run.images,
        realSets,
        (l) => console.error(l),
      );
      const m0 = performance.now();
      const results = computeMetrics({
        configs: settings.configs,
        seeds: settings.seeds,
        classes: settings.classes,
        images: run.images,
        calls: run.calls,
        singleCalls: run.singleCalls,
        fullSteps: run.fullSteps,
        features: deep.generated,
        real: deep.real,
        kidSubsets,
        kidSubsetSize,
      });
      const metricsS = (performance.now() - m0) / 1000;

      const outDir = values.out ?? join('out', 'eval');
      const report: EvalReport = {
        tool: 'toma eval',
        format: 1,
        date: new Date().toISOString(),
        caveat: FEATURE_CAVEAT,
        ...(values.from !== undefined
          ? { recomputedFrom: { dir: values.from, date: run.date, device: run.device } }
          : {}),
        settings: {
          ...settings,
          featureNet: deep.info.available ? (deep.info.description ?? null) : null,
          kid: { subsets: kidSubsets, subsetSize: kidSubsetSize },
        },
        device: run.device,
        features: deep.info,
        real: realSets.map((s) => ({
          name: s.name,
          dir: s.dir,
          count: s.images.length,
          refitted: s.refitted,
        })),
        results,
        ...planOutputs(run, gridRows),
        timing: {
          generationS,
          featuresS: deep.info.seconds ?? null,
          metricsS,
          totalS: (performance.now() - t0) / 1000,
        },
      };
      writeEvalOutputs(outDir, report, run.images);
      if (report.files.length > 8)
        console.error(
          `note: ${report.files.length} files written (a device run brings back 8): fewer seeds or a smaller size keep them to 8`,
        );
      console.log(`\nwrote ${report.files.map((f) => join(outDir, f)).join(', ')}\n`);
      console.log(reportText(report));
      return 0;
    } finally {
      await closeFeatureNets();
    }
  },
};

/** --real DIR: an existing folder with at least one .png/.jpg/.jpeg (read later, after generation). */
function checkImageFolder(dir: string): void {
  const s = statPath(dir, 'folder');
  if (!s.isDirectory()) throw new UsageError(`--real ${dir}: not a folder of images`);
  const images = readdirSync(dir).filter(isImageName);
  if (images.length === 0) throw new UsageError(`--real ${dir}: no .png, .jpg or .jpeg files`);
}
