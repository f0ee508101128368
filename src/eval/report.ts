// The evaluation report: the JSON document (everything: settings, device, per-configuration summaries
// and per-seed values, timings, the grid's destination maps, where the images are), the markdown table
// and the plain-text table printed at the end of `toma eval`.
import { table } from '../cli/args.js';
import type { MethodOptions } from '../pipeline/methods.js';
import type { EvalConfig } from './configs.js';
import { FEATURE_CAVEAT } from './feature-net.js';
import type { RecordedDestinations } from './generation.js';
import type { ConfigMetrics } from './metrics.js';
import type { Summary } from './stats.js';

export interface EvalSettings {
  model: string;
  /** The model's family (absent: the embedded FLUX model or a pixel-space Flux checkpoint). */
  family?: 'flux' | 'sdxl';
  size: number;
  steps: number;
  cfg: number;
  batch: number;
  seeds: number[];
  /** Class of each seed, and every class name (index = class); for SDXL the prompt's index, and the prompts. */
  classes: number[];
  classNames: string[];
  /** SDXL: the sampler and the negative prompt (absent: none). */
  sampler?: string;
  negativePrompt?: string;
  configs: EvalConfig[];
  methodOptions: MethodOptions;
  /** Seeds timed again at one image per call for the speed figures (0 or absent: batched timings). */
  speedSeeds?: number;
  /** TeaCache's polynomial when given (--teacache-poly); else each model's default. */
  teacachePoly?: number[] | null;
  featureNet: string | null;
  kid: { subsets: number; subsetSize: number };
}

export interface EvalDevice {
  backend: string;
  dtype: string;
  cpu: string;
  cores: number;
  node: string;
  platform: string;
}

export interface FeatureInfo {
  available: boolean;
  description?: string;
  dim?: number;
  /** Why not, when unavailable. */
  reason?: string;
  workers?: number;
  seconds?: number;
}

export interface RealSetInfo {
  name: string;
  dir: string;
  count: number;
  refitted: number;
}

export interface EvalReport {
  tool: 'toma eval';
  format: 1;
  date: string;
  caveat: string;
  /** Set when the metrics were recomputed from the images of an earlier run (`--from`). */
  recomputedFrom?: { dir: string; date: string; device: EvalDevice };
  settings: EvalSettings;
  device: EvalDevice;
  features: FeatureInfo;
  real: RealSetInfo[];
  results: ConfigMetrics[];
  grid: {
    file: string;
    columns: string[];
    seedIndices: number[];
    destinations: Record<string, RecordedDestinations>;
  } | null;
  atlases: {
    columns: string[];
    width: number;
    height: number;
    files: { file: string; first: number; count: number }[];
  };
  timing: { generationS: number | null; featuresS: number | null; metricsS: number; totalS: number };
  files: string[];
}

/** JSON with Infinity / NaN written as null (JSON has neither). */
export function reportJson(r: EvalReport): string {
  return `${JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1)}\n`;
}

const DASH = '-';

function num(v: number | null | undefined, digits: number): string {
  if (v === null || v === undefined || Number.isNaN(v)) return DASH;
  if (v === Number.POSITIVE_INFINITY) return 'inf';
  return v.toFixed(digits);
}

function withIqr(s: Summary | null, digits: number): string {
  if (!s) return DASH;
  return `${num(s.median, digits)} [${num(s.p25, digits)}-${num(s.p75, digits)}]`;
}

/** Header and rows of the results table (shared by the markdown and text renderings). */
export function resultRows(r: EvalReport): { header: string[]; rows: string[][] } {
  const realNames = r.real.map((s) => s.name);
  const cached = r.results.some((m) => m.cache);
  const batch1 = r.results[0]?.speed.basis === 'batch 1';
  const header = [
    'method',
    batch1 ? 'ms/image b1 [IQR]' : 'ms/image [IQR]',
    'speedup',
    ...(cached ? ['steps computed'] : []),
    'PSNR dB [IQR]',
    'SSIM [IQR]',
    'feat dist',
    ...realNames.map((n) => `KID x1e3 ${n}`),
  ];
  const rows = r.results.map((m) => [
    m.config.label,
    withIqr(m.speed.msPerImage, 1),
    `${num(m.speed.speedup, 2)}x`,
    ...(cached
      ? [m.cache ? `${num(m.cache.computedSteps.mean, 1)}/${r.settings.steps}` : `${r.settings.steps}`]
      : []),
    withIqr(m.psnr, 2),
    withIqr(m.ssim, 4),
    m.featDist ? num(m.featDist.median, 4) : m.config.label === 'dense' && r.features.available ? '0' : DASH,
    ...realNames.map((n) => {
      const k = m.kid[n];
      return k ? `${num(k.mean * 1e3, 2)} +- ${num(k.std * 1e3, 2)}` : DASH;
    }),
  ]);
  return { header, rows };
}

function describeSettings(r: EvalReport): string[] {
  const s = r.settings;
  const mo = s.methodOptions;
  const given = (v: unknown, what: string) => (v === undefined ? [] : [`${what} ${v}`]);
  const model =
    s.family === 'sdxl'
      ? [
          `${s.model}, ${s.size}x${s.size} px, ${s.steps} ${s.sampler ?? ''} steps, guidance ${s.cfg}, ${s.seeds.length} seeds (one per call), prompts cycled over ${new Set(s.classes).size}${s.negativePrompt === undefined ? '' : `, negative prompt "${s.negativePrompt}"`}`,
          `merging (UNet): ${[...given(mo.tile, 'tile'), ...given(mo.mergeEvery, 'merge every'), ...given(mo.reuseSteps, 'reuse'), ...given(mo.levels?.join(','), 'levels'), ...given(mo.unetScope, 'scope')].join(', ') || "each method's UNet defaults"}`,
        ]
      : [
          `${s.model}, ${s.size}x${s.size} px, ${s.steps} steps, cfg ${s.cfg}, ${s.seeds.length} seeds (batch ${s.batch}), classes cycled over ${new Set(s.classes).size}`,
          `merging: tile ${mo.tile ?? 4}, merge every ${mo.mergeEvery ?? 1} step(s), exempt ${mo.exemptDouble ?? 0} double + ${mo.exemptSingle ?? 0} single block(s), destinations reused for ${mo.reuseSteps ?? 1} step(s)`,
        ];
  return [
    ...model,
    ...(s.configs.some((k) => k.cache)
      ? [
          `step caches: decisions per image; TeaCache polynomial ${s.teacachePoly ? `[${s.teacachePoly.join(', ')}]` : "the model's default (FLUX.1's fit for FLUX.1, else the identity)"}`,
        ]
      : []),
    `device: ${r.device.backend} (${r.device.dtype}); CPU ${r.device.cpu} x${r.device.cores}; node ${r.device.node}`,
    r.features.available
      ? `deep features: ${r.features.description}`
      : `deep features: unavailable (${r.features.reason ?? 'not requested'})`,
    r.real.length
      ? `real images: ${r.real.map((x) => `${x.name} = ${x.count} from ${x.dir}`).join('; ')}`
      : 'real images: none given (--real), so no KID',
  ];
}

function notes(r: EvalReport): string[] {
  const batch1 = r.results[0]?.speed.basis === 'batch 1';
  return [
    `Fidelity (PSNR, SSIM, feat dist = 1 - cosine of deep features) is against the dense image of the same seed and ${r.settings.family === 'sdxl' ? 'prompt' : 'class'}.`,
    r.settings.family === 'sdxl'
      ? "Speed: the denoise stage of each method in the same pipeline call, one image per call (the UNet's steps with the guidance pair and the sampler; text encoding, loading and the VAE decode are the same for every method and left out); median and IQR over seeds; speedup = dense median / method median, same run."
      : batch1
        ? `Speed: wall time of generate() calls of one image each (all steps, CFG pair, read-back) on the first ${r.settings.speedSeeds} seeds; median and IQR over calls; speedup = dense median / method median, same run. Batch 1 because step caches decide per image and a batch computes a step when any of its images needs it, so batched wall time understates one user's speedup (batched timings are in results.json).`
        : 'Speed: wall time per generate() call (all steps, CFG pair, read-back) divided by the images in it; median and IQR over calls; speedup = dense median / method median, same run.',
    ...(r.results.some((m) => m.cache)
      ? ['Steps computed: mean over seeds of the steps the cache ran in full (per seed in results.json).']
      : []),
    'KID: unbiased MMD^2 with the cubic polynomial kernel on the deep features, mean +- std over random subsets, against real crops.',
  ];
}

export function reportMarkdown(r: EvalReport): string {
  const { header, rows } = resultRows(r);
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const lines = [
    `# toma eval (${r.date})`,
    '',
    ...describeSettings(r).map((l) => `- ${l}`),
    ...(r.recomputedFrom
      ? [`- metrics recomputed from the images of ${r.recomputedFrom.dir} (${r.recomputedFrom.date})`]
      : []),
    '',
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(esc).join(' | ')} |`),
    '',
    ...notes(r),
    ...skipPatternLines(r),
    '',
    `**Caveat:** ${FEATURE_CAVEAT}.`,
    '',
    `Files: ${r.files.map((f) => `\`${f}\``).join(', ')}.`,
    '',
  ];
  return lines.join('\n');
}

/** The typical skip pattern of every cached configuration (none without caches), for both reports. */
function skipPatternLines(r: EvalReport): string[] {
  if (!r.results.some((m) => m.cache)) return [];
  return [
    '',
    'Skip patterns (a seed with the median number of computed steps; every seed in results.json), for `bench/flux-sampling --schedule`:',
    '',
    ...r.results.flatMap((m) =>
      m.cache
        ? [`- ${m.config.label}: ${m.cache.computedSteps.median}/${r.settings.steps}, \`${m.cache.typical}\``]
        : [],
    ),
  ];
}

export function reportText(r: EvalReport): string {
  const { header, rows } = resultRows(r);
  return [
    ...describeSettings(r),
    '',
    table(header, rows),
    '',
    ...notes(r),
    ...skipPatternLines(r),
    `Caveat: ${FEATURE_CAVEAT}.`,
  ].join('\n');
}
