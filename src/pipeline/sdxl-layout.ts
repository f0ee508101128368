// Finding a Stable Diffusion XL model's components in a FileTree (the file system in Node, or a browser's
// picked folder): the diffusers folder (model_index.json naming StableDiffusionXLPipeline; unet/,
// text_encoder/ (CLIP ViT-L), text_encoder_2/ (OpenCLIP ViT-bigG with its projection), vae/, tokenizer/,
// tokenizer_2/, scheduler/) or the single-file release (sd_xl_base_1.0.safetensors: the UNet, both text
// encoders and the VAE under SGM prefixes, models/detect.ts) with the tokenizers beside it. A part can also
// come from elsewhere (--vae: e.g. a VAE fixed for f16), and a single file holding only some parts takes
// the others from the folder's subfolders. Every missing piece is named at once, before anything is
// loaded. No Node modules here: this is part of the browser bundle.
import type { FileTree } from '../io/file-tree.js';
import { type SdxlPart, sdxlSingleFileParts } from '../models/detect.js';
import { SDXL_SINGLE_FILE_PREFIX } from '../models/sdxl-single-file.js';
import {
  type DiscreteSchedulerConfig,
  discreteSchedulerConfig,
  SDXL_SCHEDULER_CONFIG,
} from '../schedulers/discrete.js';

export class SdxlFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SdxlFolderError';
  }
}

export interface SdxlLocations {
  /** A diffusers folder, or a folder holding the single-file release (and its tokenizers). */
  modelDir?: string;
  /** A single-file checkpoint (sd_xl_base_1.0.safetensors), whole or the UNet alone. */
  checkpoint?: string;
  /** The VAE from elsewhere: a vae/ folder or a .safetensors file (diffusers or single-file naming). */
  vae?: string;
  /** The tokenizers' folders when they are not tokenizer/ and tokenizer_2/ beside the model. */
  clipTokenizer?: string;
  clipGTokenizer?: string;
}

export interface SdxlComponentFiles {
  /** What to open with Checkpoint.open (file, index or folder). */
  weights: string;
  /** The part's tensors sit under this prefix in `weights` ('' for a diffusers component). */
  prefix: string;
  /** Parsed config.json beside diffusers weights ({} for a single file: shapes and SDXL's defaults tell). */
  config: Record<string, unknown>;
}

export interface TokenizerLocation {
  dir: string;
  /**
   * The padding token when it is not the folder's own: SDXL's second tokenizer is CLIP's vocabulary with
   * "!" as padding, so a lone CLIP tokenizer folder serves both (tokenizer_2/ is used when present).
   */
  padToken?: string;
}

export interface SdxlFiles {
  unet: SdxlComponentFiles;
  clipL: SdxlComponentFiles & { tokenizer: TokenizerLocation };
  clipG: SdxlComponentFiles & { tokenizer: TokenizerLocation };
  vae: SdxlComponentFiles;
  /** scheduler/scheduler_config.json, or SDXL base's own when there is none (the single-file release). */
  scheduler: DiscreteSchedulerConfig;
  /** model_index.json's force_zeros_for_empty_prompt (SDXL base: true; default true). */
  forceZerosForEmptyPrompt: boolean;
  /** model_index.json's pipeline class, when the folder has one. */
  pipelineClass?: string;
  /** 'diffusers' when every part is a diffusers component, 'single-file' when every part is the file's. */
  layout: 'diffusers' | 'single-file' | 'mixed';
  /** The model folder, or the folder of the checkpoint. */
  root: string;
}

/** The diffusers pipeline classes this pipeline runs (the refiner and img2img/inpainting ones differ). */
export const SDXL_PIPELINE_CLASSES = ['StableDiffusionXLPipeline'];

const MAX_CONFIG_BYTES = 16 << 20;

const SUBFOLDER: Record<SdxlPart, string> = {
  unet: 'unet',
  clipL: 'text_encoder',
  clipG: 'text_encoder_2',
  vae: 'vae',
};
const WHAT: Record<SdxlPart, string> = {
  unet: 'the SDXL UNet',
  clipL: 'the CLIP ViT-L text encoder',
  clipG: 'the OpenCLIP ViT-bigG text encoder',
  vae: 'the VAE',
};
/** Keys that say a config.json belongs to the part's weights. */
const CONFIG_KEYS: Record<SdxlPart, string[]> = {
  unet: ['block_out_channels', 'cross_attention_dim'],
  clipL: ['hidden_size', 'text_config'],
  clipG: ['hidden_size', 'text_config'],
  vae: ['latent_channels', 'scaling_factor'],
};
const PARTS: SdxlPart[] = ['unet', 'clipL', 'clipG', 'vae'];

export function readJsonIn(tree: FileTree, path: string, error = (m: string) => new SdxlFolderError(m)) {
  let text: string;
  try {
    // a config is a few KB: a bounded read of a regular file (not a pipe, not gigabytes)
    text = tree.readText(path, MAX_CONFIG_BYTES, 'JSON file');
  } catch (e) {
    throw error((e as Error).message);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw error(`${path}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** Whether a folder holds weights Checkpoint.open reads (one .safetensors or one index). */
function weightsIn(tree: FileTree, dir: string): boolean {
  const names = tree.list(dir);
  return (
    names.filter((n) => n.endsWith('.safetensors.index.json')).length === 1 ||
    names.filter((n) => n.endsWith('.safetensors')).length === 1
  );
}

/** Whether a folder holds a CLIP tokenizer (tokenizer.json, or the slow tokenizer's vocab.json + merges.txt). */
export function hasClipTokenizer(tree: FileTree, d: string): boolean {
  return (
    tree.isDir(d) &&
    (tree.isFile(tree.join(d, 'tokenizer.json')) ||
      (tree.isFile(tree.join(d, 'vocab.json')) && tree.isFile(tree.join(d, 'merges.txt'))))
  );
}

/** Single-file candidates in a folder: .safetensors files directly in it. */
function safetensorsFiles(tree: FileTree, dir: string): string[] {
  return tree
    .list(dir)
    .filter((n) => /\.safetensors$/i.test(n) && tree.isFile(tree.join(dir, n)))
    .map((n) => tree.join(dir, n));
}

/**
 * Resolves every component's files in `tree`, or throws an SdxlFolderError listing each missing piece.
 * `keysOf` lists a .safetensors file's tensor names (its header only), to tell a single-file
 * checkpoint's parts. Nothing else is opened beyond directory listings and small JSON files.
 */
export function locateSdxlIn(
  tree: FileTree,
  o: SdxlLocations,
  keysOf: (path: string) => string[],
): SdxlFiles {
  const { join, dirname, isDir, isFile } = {
    join: (...p: string[]) => tree.join(...p),
    dirname: (p: string) => tree.dirname(p),
    isDir: (p: string) => tree.isDir(p),
    isFile: (p: string) => tree.isFile(p),
  };
  if (!o.modelDir && !o.checkpoint)
    throw new SdxlFolderError('give a model folder (--model-dir) or a single-file checkpoint (--checkpoint)');
  for (const [flag, p] of Object.entries(o))
    if (p !== undefined && !isFile(p) && !isDir(p))
      throw new SdxlFolderError(`--${kebab(flag)} ${p}: no such file or folder`);
  if (o.modelDir && !isDir(o.modelDir))
    throw new SdxlFolderError(`--model-dir ${o.modelDir} is not a folder`);
  if (o.checkpoint && !isFile(o.checkpoint))
    throw new SdxlFolderError(
      `--checkpoint ${o.checkpoint} is not a file (a folder is given with --model-dir)`,
    );

  const bases: string[] = [];
  if (o.modelDir) bases.push(o.modelDir);
  if (o.checkpoint) bases.push(dirname(o.checkpoint));
  const where = bases[0]!;
  const missing: string[] = [];

  // model_index.json: the pipeline class and its defaults
  let pipelineClass: string | undefined;
  let forceZeros = true;
  if (o.modelDir && isFile(join(o.modelDir, 'model_index.json'))) {
    const idx = readJsonIn(tree, join(o.modelDir, 'model_index.json'));
    pipelineClass = typeof idx._class_name === 'string' ? idx._class_name : undefined;
    if (pipelineClass && !SDXL_PIPELINE_CLASSES.includes(pipelineClass))
      throw new SdxlFolderError(
        `${o.modelDir}: model_index.json describes a ${pipelineClass}, not an SDXL text-to-image pipeline (${SDXL_PIPELINE_CLASSES.join(', ')})`,
      );
    if (typeof idx.force_zeros_for_empty_prompt === 'boolean') forceZeros = idx.force_zeros_for_empty_prompt;
  }

  // a single file: the given one, or the one .safetensors in a folder that has no unet/
  let single: string | null = o.checkpoint ?? null;
  if (!single && o.modelDir && !isDir(join(o.modelDir, 'unet'))) {
    const files = safetensorsFiles(tree, o.modelDir).filter((f) => {
      try {
        return sdxlSingleFileParts(keysOf(f)).length > 0;
      } catch {
        return false; // not a readable checkpoint: not the model
      }
    });
    if (files.length === 1) single = files[0]!;
    else if (files.length > 1)
      missing.push(
        `${o.modelDir}: one single-file checkpoint, found several (${files.map((f) => tree.basename(f)).join(', ')}): choose one with --checkpoint`,
      );
  }
  const singleParts = single ? sdxlSingleFileParts(keysOf(single)) : [];
  if (o.checkpoint && !singleParts.includes('unet'))
    missing.push(
      `${o.checkpoint} holds no SDXL UNet under "${SDXL_SINGLE_FILE_PREFIX.unet}" (the single-file release's naming)`,
    );

  const part = (p: SdxlPart): SdxlComponentFiles | null => {
    if (p === 'vae' && o.vae) {
      if (isFile(o.vae)) {
        const parts = sdxlSingleFileParts(keysOf(o.vae));
        return {
          weights: o.vae,
          prefix: parts.includes('vae') ? SDXL_SINGLE_FILE_PREFIX.vae : '',
          config: {},
        };
      }
      if (weightsIn(tree, o.vae)) return { weights: o.vae, prefix: '', config: configBeside(o.vae, p) };
      missing.push(
        `${o.vae} (--vae) holds no weights: expected one *.safetensors file or one *.safetensors.index.json`,
      );
      return null;
    }
    // the single file's own part first; subfolders fill in the parts it lacks
    if (single && singleParts.includes(p))
      return { weights: single, prefix: SDXL_SINGLE_FILE_PREFIX[p], config: {} };
    for (const b of bases) {
      const d = join(b, SUBFOLDER[p]);
      if (!isDir(d)) continue;
      if (weightsIn(tree, d)) return { weights: d, prefix: '', config: configBeside(d, p) };
      missing.push(
        `${d}/ (${WHAT[p]}) holds no weights: expected one *.safetensors file or one *.safetensors.index.json`,
      );
      return null;
    }
    missing.push(
      single
        ? `${WHAT[p]}: neither in ${tree.basename(single)} (no "${SDXL_SINGLE_FILE_PREFIX[p]}…" tensors) nor in ${join(where, SUBFOLDER[p])}/`
        : `${join(where, SUBFOLDER[p])}/ (${WHAT[p]})`,
    );
    return null;
  };
  const configBeside = (weights: string, p: SdxlPart): Record<string, unknown> => {
    const c = join(isDir(weights) ? weights : dirname(weights), 'config.json');
    if (!isFile(c)) return {};
    const json = readJsonIn(tree, c);
    return CONFIG_KEYS[p].some((k) => k in json) ? json : {};
  };
  const found = Object.fromEntries(PARTS.map((p) => [p, part(p)])) as Record<
    SdxlPart,
    SdxlComponentFiles | null
  >;

  // tokenizers: given, or tokenizer/ and tokenizer_2/ beside the model; a lone CLIP tokenizer serves both
  const tokenizer = (given: string | undefined, sub: string, flag: string, what: string): string | null => {
    if (given) {
      if (hasClipTokenizer(tree, given)) return given;
      missing.push(
        `${given} (--${flag}) has no tokenizer files (tokenizer.json, or vocab.json + merges.txt)`,
      );
      return null;
    }
    const d = bases.map((b) => join(b, sub)).find((c) => hasClipTokenizer(tree, c));
    if (!d && what) missing.push(`${join(where, sub)}/ (the tokenizer of ${what}: vocab.json + merges.txt)`);
    return d ?? null;
  };
  const tokL = tokenizer(o.clipTokenizer, 'tokenizer', 'clip-tokenizer', WHAT.clipL);
  let tokG: TokenizerLocation | null = null;
  const g = tokenizer(o.clipGTokenizer, 'tokenizer_2', 'clip-g-tokenizer', '');
  if (g) tokG = { dir: g };
  else if (tokL && !o.clipGTokenizer) tokG = { dir: tokL, padToken: '!' };
  else if (!o.clipGTokenizer) missing.push(`${join(where, 'tokenizer_2')}/ (the tokenizer of ${WHAT.clipG})`);

  // the scheduler: the folder's, else SDXL base's
  let scheduler = SDXL_SCHEDULER_CONFIG;
  const schedulerPath = bases.map((b) => join(b, 'scheduler', 'scheduler_config.json')).find(isFile);
  if (schedulerPath) {
    try {
      scheduler = discreteSchedulerConfig(readJsonIn(tree, schedulerPath), schedulerPath);
    } catch (e) {
      missing.push((e as Error).message);
    }
  }

  const { unet, clipL, clipG, vae } = found;
  if (missing.length || !unet || !clipL || !clipG || !vae || !tokL || !tokG)
    throw new SdxlFolderError(
      // one line, as every error: the pieces separated by "; "
      `${o.modelDir ?? o.checkpoint}: incomplete SDXL model, missing: ${missing.join('; ')}`,
    );
  const prefixes = [unet, clipL, clipG, vae].map((c) => c.prefix !== '');
  return {
    unet,
    clipL: { ...clipL, tokenizer: { dir: tokL } },
    clipG: { ...clipG, tokenizer: tokG },
    vae,
    scheduler,
    forceZerosForEmptyPrompt: forceZeros,
    ...(pipelineClass ? { pipelineClass } : {}),
    layout: prefixes.every(Boolean) ? 'single-file' : prefixes.some(Boolean) ? 'mixed' : 'diffusers',
    root: where,
  };
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
