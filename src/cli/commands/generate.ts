// `toma generate`: three code paths behind one command.
//   - a model given (--model, --model-dir, or --checkpoint without --conditioning): prompt -> image through
//     the staged pipeline of its family, told by pipelineFamily (model_index.json, unet/ vs transformer/,
//     tensor names): FLUX.1 (generate-flux.ts) or Stable Diffusion XL (generate-sdxl.ts);
//   - otherwise the embedded class-conditional model, as before (generate-embedded.ts).
// Options of one path given to another are usage errors, not silently ignored.

import { existsSync, statSync } from 'node:fs';
import { embeddedDir, loadConditioning } from '../../pipeline/embedded.js';
import { pipelineFamily } from '../../pipeline/model-folder.js';
import { type Command, choice, parse, UsageError } from '../args.js';
import { chooseBackend } from '../backend-choice.js';
import { CACHE_USAGE } from '../cache-options.js';
import { GPU_OPTIONS, GPU_USAGE, gpuOptions } from '../gpu-options.js';
import { generateEmbedded } from './generate-embedded.js';
import { generateFlux } from './generate-flux.js';
import { generateSdxl, SDXL_USAGE } from './generate-sdxl.js';

const usage = `usage: toma generate --model ORG/NAME|DIR --prompt TEXT [options]  (a FLUX.1 or SDXL model)
       toma generate --model-dir DIR --prompt TEXT [options]
       toma generate --checkpoint sd_xl_base_1.0.safetensors --prompt TEXT [options]
       toma generate --checkpoint flux1-schnell.safetensors|FILE.gguf --prompt TEXT [--ae FILE] [--clip DIR] [--t5 DIR|FILE.gguf]
       toma generate [--class NAME|INDEX[,...]] [options]              (the embedded model)

FLUX.1 (schnell or dev, told apart by the guidance embedder): a diffusers-layout folder (transformer/,
text_encoder/, text_encoder_2/, vae/, tokenizer/, tokenizer_2/) or the single-file release with ae.safetensors
and the encoder folders beside it or given. The transformer (and the T5 encoder) may be GGUF files (e.g.
flux1-dev-Q4_K.gguf, made by \`toma quantize\` or downloaded): their matrices stay quantized on the
device. Components load one at a time and are freed after use.
  --model        a Hugging Face repo id (e.g. black-forest-labs/FLUX.1-schnell: downloaded into the
                 Hugging Face cache, HF_HOME / HF_TOKEN / HF_HUB_OFFLINE honoured; docs/hub.md) or a folder
  --prompt       the text (required)
  --steps        Euler steps (default 4 schnell, 28 dev)
  --guidance     distilled guidance, FLUX.1-dev only (default 3.5)
  --size         WxH or one side in pixels, multiples of 16 (default 1024x1024; 256x256 on the CPU);
                 at most 4096 a side and 4 megapixels, and within the machine's memory (estimated first)
  --seed         noise seed (default 0)
  --max-length   T5 tokens (default 256 schnell, 512 dev)
  --ae-dtype     the autoencoder's dtype (default f32: it overflows f16 on real weights)
  --method       dense|toma|tomesd|todo|hilbert (default dense); --compare also runs dense
  --ratio --tile ToMA / ToMeSD ratio (0.5) and tile (4); --merge-every K (3); --exempt D,S (5,5)
  --ae --clip --t5 --clip-tokenizer --t5-tokenizer   component locations outside the model folder
  --decoder      ae|taef1: the final decode by the FLUX.1 autoencoder (default) or by TAEF1, the bundled
                 1.2 M-parameter tiny decoder (much faster and smaller, softer images: docs/taesd.md)
  --preview [FILE]  a live preview (TAEF1's decode of the current estimate), refreshed in FILE (default
                 <out>/preview.png, at most 256 px) every --preview-every N steps (default steps/8, >= 1)
  --max-memory SIZE  device memory the transformer stage may take (e.g. 6GiB, 6000MB): the blocks that
                 do not fit stay in host memory and are streamed in before each use (docs/memory-plan.md)

${SDXL_USAGE}

Embedded model (a small pixel-space Flux trained by this project, models/embedded/MODEL_CARD.md): PNGs
per class. On a GPU the same seeds run dense too and the speedup of the method is printed (--no-compare
skips it); on the CPU only the method runs unless --compare (dense there takes about twice as long).
  --class        class name (or unique prefix) or index, comma-separated for several images
                 (default: green-meadow,twilight-lake on a GPU; green-meadow on the CPU)
  --size         square size in pixels, even, at most 1024 (default 128)
  --steps        Euler steps (default 28 on a GPU, 8 on the CPU); --cfg guidance scale (default 4)
  --method       token reduction or sparse attention (default toma)
  --ratio --tile --merge-every --exempt   default for toma: ratio 0.25 on every 3rd step, tile 4,
                 first double and single block exempt, with --cache fora:2 (26.2 dB vs dense, 1.5x
                 on an H100; --cache none for ToMA alone); other methods: ratio 0.5, every step
  --checkpoint FILE --conditioning FILE   another pixel-space model and its class conditioning
  classes of the embedded model: @CLASSES@

Both:
  --out DIR      where PNGs go (default ./out), named <prompt or class>-seed<N>-<size>-<method>-<backend>.png;
                 an existing file is kept and the new one gets a -2, -3... suffix unless --overwrite
  --backend      auto (WebGPU if there is an adapter, else CPU), webgpu or cpu
  --dtype        f16 or f32 (default f16 where the adapter has it, f32 on the CPU)
${CACHE_USAGE}
                 With a cache, the method runs with it (e.g. --method toma --cache fbcache:0.12) and the
                 steps each image computed are printed.
${GPU_USAGE}`;

const OPTIONS = {
  // both paths
  seed: { type: 'string' },
  size: { type: 'string' },
  steps: { type: 'string' },
  method: { type: 'string' },
  cache: { type: 'string' },
  'teacache-poly': { type: 'string' },
  'cache-schedule': { type: 'string' },
  ratio: { type: 'string' },
  tile: { type: 'string' },
  out: { type: 'string' },
  overwrite: { type: 'boolean' },
  backend: { type: 'string' },
  dtype: { type: 'string' },
  checkpoint: { type: 'string' },
  // the embedded model
  class: { type: 'string' },
  cfg: { type: 'string' },
  'no-compare': { type: 'boolean' },
  conditioning: { type: 'string' },
  // FLUX.1
  model: { type: 'string' },
  'model-dir': { type: 'string' },
  prompt: { type: 'string' },
  guidance: { type: 'string' },
  'max-length': { type: 'string' },
  'ae-dtype': { type: 'string' },
  compare: { type: 'boolean' },
  'merge-every': { type: 'string' },
  exempt: { type: 'string' },
  ae: { type: 'string' },
  clip: { type: 'string' },
  t5: { type: 'string' },
  'clip-tokenizer': { type: 'string' },
  't5-tokenizer': { type: 'string' },
  decoder: { type: 'string' },
  preview: { type: 'string' },
  'preview-every': { type: 'string' },
  'max-memory': { type: 'string' },
  // SDXL
  'negative-prompt': { type: 'string' },
  scheduler: { type: 'string' },
  vae: { type: 'string' },
  'clip-g-tokenizer': { type: 'string' },
  ...GPU_OPTIONS,
} as const;

const EMBEDDED_ONLY = ['class', 'cfg', 'no-compare', 'conditioning'];
/** Options of SDXL that neither FLUX.1 nor the embedded model takes. */
const SDXL_ONLY = ['negative-prompt', 'scheduler', 'vae', 'clip-g-tokenizer'];
/** Options of FLUX.1 that SDXL does not take (the rest of MODEL_ONLY applies to both). */
const FLUX_NOT_SDXL = ['max-length', 'ae', 'clip', 't5', 't5-tokenizer', 'max-memory'];
/** Options of a model given by path (FLUX.1 or SDXL), not of the embedded model. */
const MODEL_ONLY = [
  'model',
  'model-dir',
  'prompt',
  'guidance',
  'max-length',
  'ae-dtype',
  'ae',
  'clip',
  't5',
  'clip-tokenizer',
  't5-tokenizer',
  'decoder',
  'preview',
  'preview-every',
  'max-memory',
];

export type GenerateValues = Record<string, string | undefined> & {
  'no-compare'?: boolean;
  compare?: boolean;
  overwrite?: boolean;
};

/** The embedded model's class names, wrapped for the help text. */
function embeddedClassList(): string {
  let names: string[];
  try {
    const cond = loadConditioning(`${embeddedDir()}conditioning.safetensors`);
    names = cond.names.filter((_, i) => i !== cond.nullClass);
  } catch {
    return '(the embedded model is missing from this installation)';
  }
  const lines: string[] = [];
  let line = '';
  for (const n of names) {
    if (line && line.length + n.length + 2 > 74) {
      lines.push(`${line},`);
      line = '';
    }
    line = line ? `${line}, ${n}` : n;
  }
  lines.push(line);
  return lines.join('\n                 ');
}

export const generateCommand: Command = {
  name: 'generate',
  summary: 'prompt -> image with FLUX.1 (--model-dir), or the embedded model; dense vs a merging method',
  usage,
  async run(argv) {
    const { values } = parse(optionalValue(argv, 'preview'), OPTIONS, usage);
    if (values.help) {
      console.log(usage.replace('@CLASSES@', embeddedClassList()));
      return 0;
    }
    const v = values as GenerateValues;
    const model =
      v.model !== undefined ||
      v['model-dir'] !== undefined ||
      (v.checkpoint !== undefined && v.conditioning === undefined);
    const flags = (keys: string[]) => keys.map((k) => `--${k}`).join(', ');
    if (!model) {
      const wrong = [...MODEL_ONLY, ...SDXL_ONLY].filter((k) => v[k] !== undefined);
      if (wrong.length)
        throw new UsageError(
          `${flags(wrong)}: options of a FLUX.1 or SDXL model; give --model-dir DIR (or --checkpoint FILE)`,
        );
    }
    const sdxl = model && family(v) === 'sdxl';
    const wrong = model ? EMBEDDED_ONLY.filter((k) => v[k] !== undefined) : [];
    if (wrong.length)
      throw new UsageError(`${flags(wrong)}: options of the embedded model, not of a FLUX.1 or SDXL model`);
    const other = (sdxl ? FLUX_NOT_SDXL : model ? SDXL_ONLY : []).filter((k) => v[k] !== undefined);
    if (other.length)
      throw new UsageError(
        `${flags(other)}: ${sdxl ? 'options of a FLUX.1 model, not of this SDXL model' : 'options of an SDXL model, not of this FLUX.1 model'}`,
      );
    const backend = choice(v.backend, ['auto', 'webgpu', 'cpu'] as const, 'backend', 'auto');
    const gpu = gpuOptions(values);
    const practical = () => chooseBackend(backend, 'only practical for tiny test models', true, gpu);
    if (sdxl) return generateSdxl(v, practical);
    return model
      ? generateFlux(v, practical)
      : generateEmbedded(v, () => chooseBackend(backend, '8 steps, no dense comparison', true, gpu));
  },
};

/** The pipeline family of the model options (a hub repo id or a missing path: FLUX.1, which reports it). */
function family(v: GenerateValues): 'flux' | 'sdxl' {
  let modelDir = v['model-dir'];
  let checkpoint = v.checkpoint;
  if (v.model !== undefined && existsSync(v.model)) {
    if (statSync(v.model).isDirectory()) modelDir = v.model;
    else checkpoint = v.model;
  } else if (v.model !== undefined) return 'flux';
  if ((modelDir && !existsSync(modelDir)) || (checkpoint && !existsSync(checkpoint))) return 'flux';
  return pipelineFamily({ modelDir, checkpoint });
}

/** `--name` given without a value (last, or before another option) becomes `--name=` (an empty value). */
function optionalValue(argv: string[], name: string): string[] {
  return argv.map((a, i) => (a === `--${name}` && (argv[i + 1] ?? '--').startsWith('-') ? `--${name}=` : a));
}
