// Finding a FLUX.1 model's components in a FileTree (the file system in Node: model-folder.ts; a
// browser's picked folder: flux-file-list.ts): a diffusers-layout folder (transformer/, text_encoder/
// (CLIP-L), text_encoder_2/ (T5-XXL), vae/, tokenizer/, tokenizer_2/, model_index.json) or the original
// single-file release (flux1-schnell.safetensors / flux1-dev.safetensors, or a .gguf, + ae.safetensors)
// with the encoders in folders given separately or found beside it. Every missing piece is named at
// once, before anything is loaded. No Node modules here: this is part of the browser bundle.
import type { FileTree } from '../io/file-tree.js';

export class FluxFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FluxFolderError';
  }
}

export interface FluxLocations {
  /** The diffusers-layout folder holding the components (transformer/, text_encoder/, ...). */
  modelDir?: string;
  /** The transformer: a single-file release (.safetensors), an index, or a folder. */
  checkpoint?: string;
  /** The autoencoder: ae.safetensors or a vae/ folder. */
  ae?: string;
  /** The CLIP text encoder's folder (text_encoder/, or a whole CLIP-L download). */
  clip?: string;
  /** The T5 encoder's folder (text_encoder_2/, or a whole T5 v1.1 XXL download). */
  t5?: string;
  clipTokenizer?: string;
  t5Tokenizer?: string;
}

export interface ComponentFiles {
  /** What to open with Checkpoint.open (file, index or folder). */
  weights: string;
  /** Parsed config.json that belongs to these weights ({} when there is none). */
  config: Record<string, unknown>;
}

export interface FluxFiles {
  transformer: ComponentFiles;
  ae: ComponentFiles;
  clip: ComponentFiles & { tokenizer: string };
  t5: ComponentFiles & { tokenizer: string };
  /** model_index.json's pipeline class, when the folder has one. */
  pipelineClass?: string;
  /** The model folder, or the folder of the transformer checkpoint. */
  root: string;
}

const MAX_CONFIG_BYTES = 16 << 20;

function readJson(tree: FileTree, path: string): Record<string, unknown> {
  let text: string;
  try {
    // a config is a few KB: a bounded read of a regular file (not a pipe, not gigabytes)
    text = tree.readText(path, MAX_CONFIG_BYTES, 'JSON file');
  } catch (e) {
    throw new FluxFolderError((e as Error).message);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new FluxFolderError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new FluxFolderError(`${path}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** Whether a folder holds weights openWeightFile can read (one .safetensors, one index, or one .gguf). */
function weightsIn(tree: FileTree, dir: string): boolean {
  const names = tree.list(dir);
  return (
    names.filter((n) => n.endsWith('.safetensors.index.json')).length === 1 ||
    names.filter((n) => n.endsWith('.safetensors')).length === 1 ||
    ggufIn(tree, dir)
  );
}

/** Whether a folder holds exactly one .gguf and no safetensors (as ggufInFolder in src/io/weight-file.ts). */
function ggufIn(tree: FileTree, dir: string): boolean {
  const names = tree.list(dir);
  return (
    names.filter((n) => /\.gguf$/i.test(n)).length === 1 && !names.some((n) => n.endsWith('.safetensors'))
  );
}

/** The folder's config.json if `accept` says it describes these weights. */
function configBeside(
  tree: FileTree,
  weights: string,
  accept: (c: Record<string, unknown>) => boolean,
): Record<string, unknown> {
  const dir = tree.isDir(weights) ? weights : tree.dirname(weights);
  const p = tree.join(dir, 'config.json');
  if (!tree.isFile(p)) return {};
  const c = readJson(tree, p);
  return accept(c) ? c : {};
}

const has = (c: Record<string, unknown>, ...keys: string[]) => keys.some((k) => k in c);

/** Single-file transformer releases in a folder (flux1-schnell.safetensors, flux1-dev.safetensors, ...). */
function singleFileTransformers(tree: FileTree, dir: string): string[] {
  return tree
    .list(dir)
    .filter((n) => /^flux.*\.(safetensors|gguf)$/i.test(n) && !/^ae\.safetensors$/i.test(n))
    .map((n) => tree.join(dir, n));
}

/**
 * Resolves every component's files in `tree`, or throws a FluxFolderError listing each missing
 * subfolder or file. Nothing is opened beyond directory listings and small JSON files.
 */
export function locateFluxIn(tree: FileTree, o: FluxLocations): FluxFiles {
  const join = (...p: string[]) => tree.join(...p);
  const dirname = (p: string) => tree.dirname(p);
  const basename = (p: string) => tree.basename(p);
  const isDir = (p: string) => tree.isDir(p);
  const isFile = (p: string) => tree.isFile(p);
  if (!o.modelDir && !o.checkpoint)
    throw new FluxFolderError('give a model folder (--model-dir) or a transformer checkpoint (--checkpoint)');
  for (const [flag, p] of Object.entries(o))
    if (p !== undefined && !isFile(p) && !isDir(p))
      throw new FluxFolderError(`--${kebab(flag)} ${p}: no such file or folder`);
  if (o.modelDir && !isDir(o.modelDir))
    throw new FluxFolderError(`--model-dir ${o.modelDir} is not a folder`);

  const missing: string[] = [];
  const bases: string[] = [];
  if (o.modelDir) bases.push(o.modelDir);
  if (o.checkpoint && !isDir(o.checkpoint)) bases.push(dirname(o.checkpoint));
  const where = bases[0] ?? '.';

  let pipelineClass: string | undefined;
  if (o.modelDir && isFile(join(o.modelDir, 'model_index.json'))) {
    const idx = readJson(tree, join(o.modelDir, 'model_index.json'));
    pipelineClass = typeof idx._class_name === 'string' ? idx._class_name : undefined;
    if (pipelineClass && !/^Flux/.test(pipelineClass))
      throw new FluxFolderError(
        `${o.modelDir}: model_index.json describes a ${pipelineClass}, not a FLUX.1 pipeline (FluxPipeline)`,
      );
  }

  /**
   * A component folder under the first base that has it: its path, or null after noting it as missing
   * (`absent` describes what is needed when no base has the folder).
   */
  const subfolder = (name: string, what: string, absent: string | null): string | null => {
    for (const b of bases) {
      const d = join(b, name);
      if (!isDir(d)) continue;
      if (weightsIn(tree, d)) return d;
      missing.push(
        `${d}/ (${what}) holds no weights: expected one *.safetensors file or one *.safetensors.index.json`,
      );
      return null;
    }
    if (absent) missing.push(absent);
    return null;
  };

  // transformer
  let transformer: string | null = null;
  if (o.checkpoint) transformer = o.checkpoint;
  else if (o.modelDir) {
    const single = singleFileTransformers(tree, o.modelDir);
    if (isDir(join(o.modelDir, 'transformer')) || single.length === 0)
      transformer = subfolder(
        'transformer',
        'the Flux transformer',
        `${join(o.modelDir, 'transformer')}/ (the Flux transformer, diffusers layout) or a flux1-*.safetensors file (single-file release)`,
      );
    else if (single.length === 1) transformer = single[0]!;
    else
      missing.push(
        `${o.modelDir}: one transformer, found several (${single.map((s) => basename(s)).join(', ')}): choose one with --checkpoint`,
      );
  }

  // autoencoder
  let ae: string | null = o.ae ?? null;
  if (!ae) ae = bases.map((b) => join(b, 'ae.safetensors')).find(isFile) ?? null;
  if (!ae)
    ae = subfolder(
      'vae',
      'the autoencoder',
      `${join(where, 'vae')}/ (the autoencoder) or ${join(where, 'ae.safetensors')}`,
    );

  // text encoders and their tokenizers
  const encoder = (
    given: string | undefined,
    sub: string,
    tokSub: string,
    givenTok: string | undefined,
    what: string,
    flag: string,
    hasTokenizer: (d: string) => boolean,
  ): { weights: string; tokenizer: string } | null => {
    let weights: string | null = null;
    if (given) {
      if (isFile(given)) weights = given;
      else if (isDir(given) && weightsIn(tree, given)) weights = given;
      else if (isDir(join(given, sub)) && weightsIn(tree, join(given, sub))) weights = join(given, sub);
      else
        missing.push(
          `${given} (--${flag}, ${what}) holds no weights: expected one *.safetensors file or one *.safetensors.index.json`,
        );
    } else weights = subfolder(sub, what, `${join(where, sub)}/ (${what})`);
    let tokenizer: string | null = givenTok ?? null;
    if (!tokenizer) {
      const near = weights ? (isDir(weights) ? weights : dirname(weights)) : null;
      const candidates = [
        ...(near ? [near, join(dirname(near), tokSub)] : []),
        ...(given && isDir(given) ? [given, join(given, tokSub)] : []),
        ...bases.map((b) => join(b, tokSub)),
      ];
      tokenizer = candidates.find((d) => isDir(d) && hasTokenizer(d)) ?? null;
      if (!tokenizer) missing.push(`${join(where, tokSub)}/ (the tokenizer of ${what})`);
    } else if (!hasTokenizer(tokenizer))
      missing.push(`${tokenizer} (--${flag}-tokenizer) has no tokenizer files`);
    return weights && tokenizer ? { weights, tokenizer } : null;
  };
  const clip = encoder(
    o.clip,
    'text_encoder',
    'tokenizer',
    o.clipTokenizer,
    'the CLIP-L text encoder',
    'clip',
    (d) =>
      isFile(join(d, 'tokenizer.json')) || (isFile(join(d, 'vocab.json')) && isFile(join(d, 'merges.txt'))),
  );
  const t5 = encoder(
    o.t5,
    'text_encoder_2',
    'tokenizer_2',
    o.t5Tokenizer,
    'the T5-XXL text encoder',
    't5',
    (d) => isFile(join(d, 'tokenizer.json')),
  );

  if (missing.length || !transformer || !ae || !clip || !t5)
    throw new FluxFolderError(
      // one line, as every error: the pieces separated by "; "
      `${o.modelDir ?? o.checkpoint}: incomplete FLUX.1 model, missing: ${missing.join('; ')}`,
    );

  const textConfig = (c: Record<string, unknown>) =>
    c.text_config && typeof c.text_config === 'object' ? (c.text_config as Record<string, unknown>) : c;
  return {
    transformer: {
      weights: transformer,
      config: configBeside(tree, transformer, (c) =>
        has(c, 'num_layers', 'attention_head_dim', 'depth_single_blocks'),
      ),
    },
    ae: {
      weights: ae,
      config: configBeside(tree, ae, (c) => has(c, 'scaling_factor', 'shift_factor', 'latent_channels')),
    },
    clip: {
      ...clip,
      config: textConfig(configBeside(tree, clip.weights, (c) => has(c, 'hidden_size', 'text_config'))),
    },
    t5: { ...t5, config: configBeside(tree, t5.weights, (c) => has(c, 'd_model', 'd_ff')) },
    pipelineClass,
    root: where,
  };
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
