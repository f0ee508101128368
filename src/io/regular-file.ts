// Opening inputs safely: only regular files are read. A named pipe would block the open (or the read)
// forever, a device can be endless, a directory is not data; each is refused up front with a message
// that names the path and says what it is. The open itself is non-blocking, so even a FIFO swapped in
// between the check and the open cannot hang the program, and the type is checked again on the
// descriptor that is actually read.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from 'node:fs';

export class InputFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputFileError';
  }
}

/** What a file system entry is, in words ("a named pipe", "a folder", ...). */
export function fileKind(s: Stats): string {
  if (s.isDirectory()) return 'a folder';
  if (s.isFIFO()) return 'a named pipe';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  return s.isFile() ? 'a file' : 'not a regular file';
}

/** A readable message for a failed stat/open (ENOENT, ELOOP, EACCES, ...). */
export function describeFsError(path: string, e: unknown, what = 'file'): InputFileError {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return new InputFileError(`${path}: no such ${what}`);
    case 'ELOOP':
      return new InputFileError(`${path}: symbolic link loop (too many levels of links)`);
    case 'EACCES':
    case 'EPERM':
      return new InputFileError(`${path}: permission denied`);
    case 'ENOTDIR':
      return new InputFileError(`${path}: a component of the path is not a folder`);
    case 'ENAMETOOLONG':
      return new InputFileError(`${path.slice(0, 80)}...: path too long`);
    case 'EISDIR':
      return new InputFileError(`${path}: is a folder, not a ${what}`);
    default:
      return new InputFileError(`${path}: cannot open (${code ?? (e as Error)?.message ?? String(e)})`);
  }
}

/** stat() with the errors above; follows symbolic links. */
export function statPath(path: string, what = 'file'): Stats {
  try {
    return statSync(path);
  } catch (e) {
    throw describeFsError(path, e, what);
  }
}

/**
 * Opens `path` for reading if it is a regular file (after following links); returns the descriptor
 * and the file's size. Anything else is refused with a message naming it.
 */
export function openRegularFile(path: string, what = 'file'): { fd: number; size: number } {
  const before = statPath(path, what);
  if (!before.isFile()) throw new InputFileError(`${path}: is ${fileKind(before)}, not a ${what}`);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw describeFsError(path, e, what);
  }
  const s = fstatSync(fd);
  if (!s.isFile()) {
    closeSync(fd);
    throw new InputFileError(`${path}: is ${fileKind(s)}, not a ${what}`);
  }
  return { fd, size: s.size };
}

/** Reads a whole regular file of at most `maxBytes` bytes (refusing larger ones before reading). */
export function readRegularFile(path: string, maxBytes: number, what = 'file'): Uint8Array {
  const { fd, size } = openRegularFile(path, what);
  try {
    if (size > maxBytes)
      throw new InputFileError(`${path}: ${size} bytes is more than the ${maxBytes} a ${what} may have here`);
    const out = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const r = readSync(fd, out, done, size - done, done);
      if (r === 0) throw new InputFileError(`${path}: file shrank while being read`);
      done += r;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** A regular file's text (UTF-8), at most `maxBytes` bytes. */
export function readRegularText(path: string, maxBytes: number, what = 'file'): string {
  const bytes = readRegularFile(path, maxBytes, what);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputFileError(`${path}: not valid UTF-8 text`);
  }
}
