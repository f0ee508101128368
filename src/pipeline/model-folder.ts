// Finding a model's components on disk: the rules are flux-layout.ts's and sdxl-layout.ts's (shared with
// the browser, which applies them to a picked folder), and pipeline-family.ts tells which applies; this is
// the file system they run over in Node, and the checks only a file system needs (named pipes, devices).
import { existsSync, readdirSync, type Stats, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { FileTree } from '../io/file-tree.js';
import { readRegularText } from '../io/regular-file.js';
import { Checkpoint } from '../io/safetensors.js';
import { type FluxFiles, FluxFolderError, type FluxLocations, locateFluxIn } from './flux-layout.js';
import { type PipelineFamily, pipelineFamilyIn } from './pipeline-family.js';
import { locateSdxlIn, type SdxlFiles, SdxlFolderError, type SdxlLocations } from './sdxl-layout.js';

export {
  type ComponentFiles,
  type FluxFiles,
  FluxFolderError,
  type FluxLocations,
} from './flux-layout.js';
export type { PipelineFamily } from './pipeline-family.js';
export {
  type SdxlComponentFiles,
  type SdxlFiles,
  SdxlFolderError,
  type SdxlLocations,
  type TokenizerLocation,
} from './sdxl-layout.js';

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
const kindOf = (s: Stats) =>
  s.isFIFO() ? 'a named pipe' : s.isSocket() ? 'a socket' : s.isCharacterDevice() ? 'a device' : 'special';
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/** The file system as a FileTree (weights are opened by the Node readers, not through open()). */
export const nodeFileTree: FileTree = {
  join,
  dirname,
  basename,
  isFile,
  isDir,
  list: (dir) => readdirSync(dir),
  readText: readRegularText,
  open: () => {
    throw new Error('internal: nodeFileTree.open is not used (Checkpoint and GgufFile read files)');
  },
};

/** The tensor names of a .safetensors file (its header only). */
export function safetensorsKeys(path: string): string[] {
  const ck = Checkpoint.open(path);
  try {
    return ck.keys();
  } finally {
    ck.close();
  }
}

/** Throws unless every given path is a regular file or folder (a FIFO or a device is never listed or read). */
function checkPaths(o: object, error: (m: string) => Error): void {
  for (const [flag, p] of Object.entries(o)) {
    if (typeof p !== 'string') continue;
    if (!existsSync(p)) throw error(`--${kebab(flag)} ${p}: no such file or folder`);
    if (!isFile(p) && !isDir(p))
      throw error(`--${kebab(flag)} ${p}: not a file or folder (${kindOf(statSync(p))})`);
  }
}

/** Whether --model-dir / --checkpoint hold FLUX.1 or Stable Diffusion XL (FLUX.1 when nothing says SDXL). */
export function pipelineFamily(o: { modelDir?: string; checkpoint?: string }): PipelineFamily {
  checkPaths(o, (m) => new FluxFolderError(m));
  return pipelineFamilyIn(nodeFileTree, o, safetensorsKeys);
}

/**
 * Resolves every SDXL component's files, or throws an SdxlFolderError listing each missing piece. Nothing
 * is opened beyond directory listings, small JSON files and safetensors headers.
 */
export function locateSdxl(o: SdxlLocations): SdxlFiles {
  if (!o.modelDir && !o.checkpoint)
    throw new SdxlFolderError('give a model folder (--model-dir) or a single-file checkpoint (--checkpoint)');
  checkPaths(o, (m) => new SdxlFolderError(m));
  return locateSdxlIn(nodeFileTree, o, safetensorsKeys);
}

/**
 * Resolves every component's files, or throws a FluxFolderError listing each missing subfolder or file.
 * Nothing is opened beyond directory listings and small JSON files.
 */
export function locateFlux(o: FluxLocations): FluxFiles {
  if (!o.modelDir && !o.checkpoint)
    throw new FluxFolderError('give a model folder (--model-dir) or a transformer checkpoint (--checkpoint)');
  checkPaths(o, (m) => new FluxFolderError(m));
  return locateFluxIn(nodeFileTree, o);
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
