// A read-only view of files and folders that model-folder resolution and component opening work over:
// the file system in Node (src/pipeline/model-folder.ts), or a list of files a browser's folder picker
// gave (relative paths such as "FLUX.1-schnell/transformer/config.json"). No Node modules here: this
// is part of the browser bundle.
import type { SyncFile } from './sync-file.js';

export interface FileTree {
  join(...parts: string[]): string;
  dirname(path: string): string;
  basename(path: string): string;
  isFile(path: string): boolean;
  isDir(path: string): boolean;
  /** Names (not paths) of a folder's entries. */
  list(dir: string): string[];
  /** A file's UTF-8 text, refusing one larger than maxBytes; errors name the path. */
  readText(path: string, maxBytes: number, what: string): string;
  /** The file for ranged reads (weights). */
  open(path: string): SyncFile;
}

/** '/'-separated relative paths, normalised: no empty or "." segments, ".." folded. */
export function posixJoin(...parts: string[]): string {
  const out: string[] = [];
  for (const seg of parts.join('/').split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..' && out.length && out.at(-1) !== '..') out.pop();
    else out.push(seg);
  }
  return out.join('/') || '.';
}

export function posixDirname(p: string): string {
  const n = posixJoin(p);
  const i = n.lastIndexOf('/');
  return i < 0 ? '.' : n.slice(0, i);
}

export function posixBasename(p: string): string {
  const n = posixJoin(p);
  return n.slice(n.lastIndexOf('/') + 1);
}

export class FileTreeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FileTreeError';
  }
}

/** A tree over files given by relative path (a browser's picked folder and files). */
export class FileListTree implements FileTree {
  private readonly files = new Map<string, SyncFile>();
  private readonly dirs = new Map<string, Set<string>>();

  constructor(entries: Iterable<{ path: string; file: SyncFile }>) {
    for (const { path, file } of entries) {
      const p = posixJoin(path);
      if (p === '.' || p.startsWith('..'))
        throw new FileTreeError(`${path}: not a relative path inside the chosen folder`);
      this.files.set(p, file);
      let child = p;
      for (let d = posixDirname(p); ; d = posixDirname(d)) {
        let s = this.dirs.get(d);
        if (!s) {
          s = new Set();
          this.dirs.set(d, s);
        }
        s.add(posixBasename(child));
        if (d === '.') break;
        child = d;
      }
    }
  }

  /** Every file's path, sorted. */
  paths(): string[] {
    return [...this.files.keys()].sort();
  }

  join(...parts: string[]): string {
    return posixJoin(...parts);
  }
  dirname(p: string): string {
    return posixDirname(p);
  }
  basename(p: string): string {
    return posixBasename(p);
  }
  isFile(p: string): boolean {
    return this.files.has(posixJoin(p));
  }
  isDir(p: string): boolean {
    return this.dirs.has(posixJoin(p));
  }
  list(dir: string): string[] {
    const s = this.dirs.get(posixJoin(dir));
    if (!s) throw new FileTreeError(`${dir}: no such folder`);
    return [...s].sort();
  }
  open(p: string): SyncFile {
    const f = this.files.get(posixJoin(p));
    if (!f) throw new FileTreeError(this.isDir(p) ? `${p}: is a folder, not a file` : `${p}: no such file`);
    return f;
  }
  readText(p: string, maxBytes: number, what: string): string {
    const f = this.open(p);
    if (f.size > maxBytes)
      throw new FileTreeError(`${p}: ${f.size} bytes is more than the ${maxBytes} a ${what} may have here`);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(f.read(0, f.size));
    } catch {
      throw new FileTreeError(`${p}: not valid UTF-8 text`);
    }
  }
}
