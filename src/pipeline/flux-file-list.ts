// FLUX.1 from files a browser's pickers gave: a model folder (an <input webkitdirectory> or
// showDirectoryPicker: every file with its path under the folder) and separately picked files (a GGUF
// or single-file transformer, ae.safetensors). They are laid out as one FileTree, resolved by the same
// rules as a folder on disk (flux-layout.ts), and opened through readers that read one tensor at a time
// (tree-weights.ts). Reading is synchronous (FileReaderSync), so this runs in a dedicated worker.
import { FileListTree, type FileTree } from '../io/file-tree.js';
import type { SyncFile } from '../io/sync-file.js';
import { openTreeWeights, TreeCheckpoint, TreeGguf } from '../io/tree-weights.js';
import { ggmlBytes, isQuantType } from '../quant/ggml-types.js';
import type { TokenizerFiles } from '../text/load-tokenizer.js';
import { type FluxComponents, type FluxFileAccess, openFluxComponents } from './flux-components.js';
import { type FluxFiles, FluxFolderError, type FluxLocations, locateFluxIn } from './flux-layout.js';

export interface PickedFile {
  /** Folder picker: the path under the picked folder's parent ("FLUX.1-schnell/vae/config.json"); else the name. */
  path: string;
  file: SyncFile;
}

/** Where separately picked files are placed in the tree (a name no folder picker gives). */
export const PICKED_FILES = '(picked files)';

const MAX_TOKENIZER_BYTES = 64 << 20;

/** Reading a tree's weights and tokenizer files. */
export function treeAccess(tree: FileTree): FluxFileAccess {
  const tokenizerFiles: TokenizerFiles = {
    join: (dir, name) => tree.join(dir, name),
    exists: (p) => tree.isFile(p),
    readText: (p) => tree.readText(p, MAX_TOKENIZER_BYTES, 'tokenizer file'),
  };
  return {
    openCheckpoint: (p) => TreeCheckpoint.open(tree, p),
    openWeights: (p) => openTreeWeights(tree, p),
    tokenizerFiles,
  };
}

/**
 * The tree and locations of a picked folder (`folder`: every file under one top folder) and picked
 * files (`extra`: a transformer, .gguf or flux*.safetensors, and optionally ae.safetensors).
 */
export function fluxFileList(
  folder: readonly PickedFile[],
  extra: readonly PickedFile[] = [],
): { tree: FileListTree; locations: FluxLocations } {
  if (folder.length === 0 && extra.length === 0)
    throw new FluxFolderError(
      'choose a FLUX.1 model folder, or a transformer file and a folder with the rest',
    );
  const roots = new Set(folder.map((f) => f.path.split('/')[0]!));
  if (roots.size > 1)
    throw new FluxFolderError(`the folder's files lie under several folders (${[...roots].join(', ')})`);
  const named = extra.map((f) => ({ path: `${PICKED_FILES}/${f.path.split('/').at(-1)}`, file: f.file }));
  const tree = new FileListTree([...folder, ...named]);
  const locations: FluxLocations = {};
  if (roots.size === 1) locations.modelDir = [...roots][0]!;
  const names = named.map((f) => f.path.slice(PICKED_FILES.length + 1));
  const transformers = names.filter(
    (n) => /\.gguf$/i.test(n) || (/\.safetensors$/i.test(n) && !/^ae\.safetensors$/i.test(n)),
  );
  if (transformers.length > 1)
    throw new FluxFolderError(
      `several transformer files were picked (${transformers.join(', ')}): pick one, with ae.safetensors if it is not in the folder`,
    );
  if (transformers.length === 1) locations.checkpoint = `${PICKED_FILES}/${transformers[0]}`;
  const ae = names.find((n) => /^ae\.safetensors$/i.test(n));
  if (ae) locations.ae = `${PICKED_FILES}/${ae}`;
  return { tree, locations };
}

/** One component as found: where, in which format, and what its tensors are stored as. */
export interface ComponentSummary {
  component: 'transformer' | 'T5 encoder' | 'CLIP encoder' | 'autoencoder';
  path: string;
  format: 'GGUF' | 'safetensors';
  tensors: number;
  /** Stored bytes of the tensors. */
  bytes: number;
  /** Tensor count by stored type ("Q8_0": 120, "F32": 300). */
  types: Record<string, number>;
  /** Bytes its parameters take on the device in the compute dtype (quantized matrices at their stored size). */
  deviceBytes: number;
  /** The largest of them on the device. */
  largestDeviceTensor: number;
}

const ITEM_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, I8: 1 };

/**
 * What each located component holds (headers only). `valueBytes`: bytes per value in the compute
 * dtype (2 for f16, 4 for f32); the autoencoder runs in f32.
 */
export function summarizeFluxFiles(tree: FileTree, files: FluxFiles, valueBytes: number): ComponentSummary[] {
  const access = treeAccess(tree);
  const one = (
    component: ComponentSummary['component'],
    path: string,
    open: (p: string) => ReturnType<FluxFileAccess['openWeights']>,
    values: number,
  ): ComponentSummary => {
    const ck = open(path);
    try {
      const types: Record<string, number> = {};
      let bytes = 0;
      let deviceBytes = 0;
      let largest = 0;
      for (const k of ck.keys()) {
        const { dtype, shape } = ck.info(k);
        const n = shape.reduce((a, b) => a * b, 1);
        types[dtype] = (types[dtype] ?? 0) + 1;
        const stored = isQuantType(dtype) ? ggmlBytes(dtype, n) : n * (ITEM_BYTES[dtype] ?? 4);
        bytes += stored;
        const held = isQuantType(dtype) && shape.length === 2 ? stored : n * values;
        deviceBytes += held;
        largest = Math.max(largest, held);
      }
      return {
        component,
        path: ck instanceof TreeGguf ? ck.path : path,
        format: ck instanceof TreeGguf ? 'GGUF' : 'safetensors',
        tensors: ck.keys().length,
        bytes,
        types,
        deviceBytes,
        largestDeviceTensor: largest,
      };
    } finally {
      ck.close();
    }
  };
  return [
    one('transformer', files.transformer.weights, access.openWeights, valueBytes),
    one('T5 encoder', files.t5.weights, access.openWeights, valueBytes),
    one('CLIP encoder', files.clip.weights, access.openCheckpoint, valueBytes),
    one('autoencoder', files.ae.weights, access.openCheckpoint, 4),
  ];
}

/** Locates and opens (headers, configs and tokenizers checked; no weights read) picked files. */
export function openFluxFileList(
  folder: readonly PickedFile[],
  extra: readonly PickedFile[] = [],
): { components: FluxComponents; files: FluxFiles; tree: FileListTree } {
  const { tree, locations } = fluxFileList(folder, extra);
  const files = locateFluxIn(tree, locations);
  return { components: openFluxComponents(files, treeAccess(tree)), files, tree };
}
