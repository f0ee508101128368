// Finding a FLUX.1 model's components on disk: the rules are flux-layout.ts's (shared with the browser,
// which applies them to a picked folder); this is the file system they run over in Node, and the checks
// only a file system needs (named pipes, devices).
import { existsSync, readdirSync, type Stats, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { FileTree } from '../io/file-tree.js';
import { readRegularText } from '../io/regular-file.js';
import { type FluxFiles, FluxFolderError, type FluxLocations, locateFluxIn } from './flux-layout.js';

export {
  type ComponentFiles,
  type FluxFiles,
  FluxFolderError,
  type FluxLocations,
} from './flux-layout.js';

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

/**
 * Resolves every component's files, or throws a FluxFolderError listing each missing subfolder or file.
 * Nothing is opened beyond directory listings and small JSON files.
 */
export function locateFlux(o: FluxLocations): FluxFiles {
  if (!o.modelDir && !o.checkpoint)
    throw new FluxFolderError('give a model folder (--model-dir) or a transformer checkpoint (--checkpoint)');
  for (const [flag, p] of Object.entries(o)) {
    if (p === undefined) continue;
    if (!existsSync(p)) throw new FluxFolderError(`--${kebab(flag)} ${p}: no such file or folder`);
    // a FIFO or a device is never listed or read
    if (!isFile(p) && !isDir(p))
      throw new FluxFolderError(`--${kebab(flag)} ${p}: not a file or folder (${kindOf(statSync(p))})`);
  }
  return locateFluxIn(nodeFileTree, o);
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
