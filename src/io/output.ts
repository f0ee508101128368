// Writing outputs safely. Every file this program writes goes through here:
//   - the bytes go to a temporary file beside the target, created exclusively (O_CREAT|O_EXCL) under a
//     random name, so a symbolic link planted at a guessable name is never followed; the file is
//     fsynced and then renamed over the target, so a reader never sees a half-written file;
//   - every temporary file is registered while it exists, so a cancellation or an exit handler (or
//     the CLI supervisor, for a worker it had to terminate) can remove it synchronously;
//   - on any failure the temporary file is removed and the error names the target ("disk full
//     writing out.safetensors"), never only the temporary name.
// validateOutput() / validateOutputDir() check a target before the work that produces it starts: the
// folder exists and is writable, and the target is not a folder, not a device and not the same file
// as an input (compared by real path and by device + inode, which also catches hard links).
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  fsyncSync,
  lstatSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { fileKind } from './regular-file.js';
import { readShardIndex } from './safetensors-index.js';

export class OutputFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputFileError';
  }
}

// ---- the registry of temporary files --------------------------------------------------------------

const temps = new Set<string>();
type TempListener = (path: string, exists: boolean) => void;
let listener: TempListener | null = null;

/** The temporary files that exist now (absolute paths). */
export function liveTempFiles(): string[] {
  return [...temps];
}

/**
 * Calls `fn(path, true)` before each temporary file is created and `fn(path, false)` once it is renamed
 * or removed (the CLI worker forwards these to its supervisor). One listener; null removes it.
 */
export function onTempFiles(fn: TempListener | null): void {
  listener = fn;
}

/** Removes every registered temporary file (or folder) now (from an exit or signal handler). */
export function removeTempFilesSync(): void {
  for (const p of temps) {
    try {
      rmSync(p, { recursive: true, force: true });
    } catch {}
  }
  temps.clear();
}

/** Registers a temporary file or folder this program created (under a name of its own). */
export function registerTemp(p: string): void {
  temps.add(p);
  listener?.(p, true);
}

/** Unregisters a temporary path (renamed into place or removed). */
export function forgetTemp(p: string): void {
  temps.delete(p);
  listener?.(p, false);
}

/** A fresh, unguessable temporary path beside `target`, registered until forgetTemp(). */
export function newTempPath(target: string): string {
  const abs = resolve(target);
  const p = join(dirname(abs), `.${basename(abs)}.tmp-${randomBytes(8).toString('hex')}`);
  registerTemp(p);
  return p;
}

/** Removes a temporary file or folder (ignoring errors) and unregisters it. */
export function discardTemp(p: string): void {
  try {
    rmSync(p, { recursive: true, force: true });
  } catch {}
  forgetTemp(p);
}

/** Renames a finished temporary file over its target and unregisters it. */
export function commitTemp(p: string, target: string): void {
  try {
    renameSync(p, target);
  } catch (e) {
    throw describeWriteError(target, e);
  }
  forgetTemp(p);
}

/** Opening flags of a temporary file: create it, failing if anything (a file, a link) is there. */
export const TEMP_FLAGS = 'wx';
export const TEMP_MODE = 0o644;

// ---- errors ---------------------------------------------------------------------------------------

/** A readable message for a failed write of `target`; an OutputFileError passes through unchanged. */
export function describeWriteError(target: string, e: unknown): Error {
  if (e instanceof OutputFileError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  const dir = dirname(target) || '.';
  switch (code) {
    case 'ENOSPC':
      return new OutputFileError(`disk full writing ${target}`);
    case 'EDQUOT':
      return new OutputFileError(`disk quota exceeded writing ${target}`);
    case 'EROFS':
      return new OutputFileError(`cannot write ${target}: read-only file system`);
    case 'EACCES':
    case 'EPERM':
      return new OutputFileError(`cannot write ${target}: permission denied in ${dir}`);
    case 'ENOENT':
      return new OutputFileError(`cannot write ${target}: the folder ${dir} does not exist`);
    case 'ENOTDIR':
      return new OutputFileError(`cannot write ${target}: a component of ${dir} is not a folder`);
    case 'EISDIR':
    case 'ENOTEMPTY':
      return new OutputFileError(`cannot write ${target}: it is a folder`);
    case 'EFBIG':
      return new OutputFileError(`cannot write ${target}: larger than the file system allows`);
    case 'EIO':
      return new OutputFileError(`I/O error writing ${target}`);
    case 'ENAMETOOLONG':
      return new OutputFileError(`cannot write ${target.slice(0, 80)}...: path too long`);
    default:
      if (e instanceof Error && !code) return e; // not a file-system error (e.g. a producer's)
      return new OutputFileError(`cannot write ${target} (${code ?? String(e)})`);
  }
}

// ---- writing --------------------------------------------------------------------------------------

/**
 * Writes `path` atomically: `write(fd)` fills a fresh temporary file beside it, which is fsynced and
 * renamed into place. On any failure (including one thrown by `write`) nothing is left behind.
 */
export function writeFileVia(path: string, write: (fd: number) => void): void {
  refuseSpecialTarget(path);
  const tmp = newTempPath(path);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, TEMP_FLAGS, TEMP_MODE);
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    refuseSpecialTarget(path); // again: something may have been put there while we wrote
    commitTemp(tmp, path);
  } catch (e) {
    if (fd !== null)
      try {
        closeSync(fd);
      } catch {}
    discardTemp(tmp);
    throw describeWriteError(path, e);
  }
}

/**
 * The rename would replace whatever is at `path`; only a regular file or a symbolic link (replaced
 * itself, never written through) may be. Run as root, renaming over /dev/full would replace the
 * device node with a regular file.
 */
function refuseSpecialTarget(path: string): void {
  const s = statOrNull(path, false);
  if (s && !s.isFile() && !s.isSymbolicLink())
    throw new OutputFileError(`cannot write ${path}: it is ${fileKind(s)}, not a regular file`);
}

/** Writes all of `data` at the descriptor's position. */
export function writeAllSync(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done);
}

/** Writes bytes or text to `path` atomically (see writeFileVia). */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  writeFileVia(path, (fd) => writeAllSync(fd, bytes));
}

// ---- checking a target before the work --------------------------------------------------------------

const statOrNull = (p: string, follow = true): Stats | null => {
  try {
    return follow ? statSync(p) : lstatSync(p);
  } catch {
    return null;
  }
};

const realOrNull = (p: string): string | null => {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
};

function sameFile(a: string, sa: Stats, b: string, sb: Stats): boolean {
  if (sa.dev === sb.dev && sa.ino === sb.ino) return true;
  const ra = realOrNull(a);
  return ra !== null && ra === realOrNull(b);
}

/** The folder a new file or folder at `path` would be created in must exist and be writable. */
function checkWritableFolder(dir: string, label: string): void {
  const s = statOrNull(dir);
  if (!s) throw new OutputFileError(`${label}: the folder ${dir} does not exist`);
  if (!s.isDirectory()) throw new OutputFileError(`${label}: ${dir} is ${fileKind(s)}, not a folder`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OutputFileError(
      code === 'EROFS'
        ? `${label}: ${dir} is on a read-only file system`
        : `${label}: cannot create files in ${dir} (permission denied)`,
    );
  }
}

/** The inputs that exist, with their stats (a missing one is the reader's error to report). */
function inputFiles(inputs: readonly string[]): { path: string; stat: Stats }[] {
  const out: { path: string; stat: Stats }[] = [];
  for (const p of inputs) {
    const s = statOrNull(p);
    if (s) out.push({ path: p, stat: s });
  }
  return out;
}

/** Whether the existing file `path` lies inside the folder `dir` (after resolving links). */
function inside(path: string, dir: string): boolean {
  const rp = realOrNull(path);
  const rd = realOrNull(dir);
  return rp !== null && rd !== null && rp.startsWith(rd.endsWith(sep) ? rd : rd + sep);
}

/** The shard files a *.safetensors.index.json input names (none if it cannot be read: the reader reports that). */
function shardsOf(input: string): string[] {
  if (!input.endsWith('.safetensors.index.json')) return [];
  try {
    return [...new Set(readShardIndex(input).weightMap.values())].map((n) => join(dirname(input), n));
  } catch {
    return [];
  }
}

/** Whether two existing folders are the same one. */
function sameDir(a: string, b: string): boolean {
  const sa = statOrNull(a);
  const sb = statOrNull(b);
  return sa !== null && sb !== null && sa.dev === sb.dev && sa.ino === sb.ino;
}

/**
 * Checks, before any work, that a file can be written at `path` without harm: its folder exists and
 * is writable; it is not a folder or a device; and it is not the same file as any of `inputs` (by
 * real path or by device + inode, so `./x`, a hard link or a symbolic link to an input are caught).
 * An existing symbolic link at `path` that leads elsewhere is replaced by the output (the rename
 * replaces the link itself; nothing is written through it). `label` names the option ("--out").
 */
export function validateOutput(path: string, inputs: readonly string[], label = '--out'): void {
  if (path === '') throw new OutputFileError(`${label}: empty path`);
  const target = statOrNull(path);
  // a new file inside an input folder changes that input too (a second .safetensors makes a folder
  // checkpoint ambiguous)
  const folder = dirname(resolve(path));
  for (const i of inputFiles(inputs))
    if (i.stat.isDirectory() && (sameDir(folder, i.path) || inside(folder, i.path)))
      throw new OutputFileError(
        `${label}: ${path} is inside the input folder ${i.path}; writing it would change the input`,
      );
  if (target) {
    if (target.isDirectory()) throw new OutputFileError(`${label}: ${path} is a folder; give a file name`);
    if (!target.isFile())
      throw new OutputFileError(
        `${label}: ${path} is ${fileKind(target)}; the output must be a regular file`,
      );
    for (const i of inputFiles([...inputs, ...inputs.flatMap(shardsOf)]))
      if (sameFile(path, target, i.path, i.stat))
        throw new OutputFileError(
          `${label}: ${path} is the same file as the input ${i.path}; writing it would destroy the input`,
        );
  }
  checkWritableFolder(dirname(resolve(path)), label);
}

/**
 * Checks an output folder before any work: an existing `dir` must be a writable folder that is not
 * one of `inputs`; a missing one must be creatable (its nearest existing ancestor is a writable
 * folder).
 */
export function validateOutputDir(dir: string, inputs: readonly string[], label = '--out'): void {
  if (dir === '') throw new OutputFileError(`${label}: empty path`);
  const s = statOrNull(dir);
  if (s) {
    if (!s.isDirectory()) throw new OutputFileError(`${label}: ${dir} is ${fileKind(s)}, not a folder`);
    for (const i of inputFiles(inputs))
      if (sameFile(dir, s, i.path, i.stat))
        throw new OutputFileError(
          `${label}: ${dir} is the input folder ${i.path}; write the outputs to another folder`,
        );
    checkWritableFolder(dir, label);
    return;
  }
  if (statOrNull(dir, false)) throw new OutputFileError(`${label}: ${dir} is a broken symbolic link`);
  let parent = dirname(resolve(dir));
  while (!statOrNull(parent) && dirname(parent) !== parent) parent = dirname(parent);
  checkWritableFolder(parent, label);
}
