// Shard indexes (*.safetensors.index.json): which shard file holds each tensor of a sharded checkpoint.
//
// The index is as untrusted as the shards: its file names are resolved only inside the index's folder.
// A name must be a plain relative path (no absolute path, drive letter, backslash, `..` segment or NUL),
// and the file it names, with every symbolic link resolved, must still lie in that folder, so an index
// cannot make the program open /etc/passwd or a device. One exception keeps Hugging Face's cache
// working: there a snapshot folder (<repo>/snapshots/<revision>/...) holds symbolic links into
// <repo>/blobs, so for an index inside a snapshot, that repository's blobs folder is inside too.
import { realpathSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { type JsonObject, JsonSyntaxError, parseStrictJson, quoteForMessage as q } from './json-strict.js';
import { InputFileError, readRegularFile } from './regular-file.js';
import { MAX_HEADER_DEPTH, SafetensorsError } from './safetensors-format.js';

/** Largest index read (real ones are tens of KB: one line per tensor). */
export const MAX_INDEX_BYTES = 64 << 20;

export interface ShardIndex {
  /** Tensor name -> shard file name as written in the index. */
  weightMap: Map<string, string>;
  /** String and number values of the index's "metadata" (e.g. total_size), as text. */
  metadata: Record<string, string>;
}

/** Reads and checks an index file's structure (not yet the shards it names). */
export function readShardIndex(path: string): ShardIndex {
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(path, MAX_INDEX_BYTES, 'safetensors index');
  } catch (e) {
    if (e instanceof InputFileError) throw new SafetensorsError(e.message, 'file');
    throw e;
  }
  return parseShardIndex(bytes, path);
}

/** Checks an index's bytes (`path` names it in messages): the structure, not yet the shards it names. */
export function parseShardIndex(bytes: Uint8Array, path: string): ShardIndex {
  // a decoder drops a byte-order mark silently; the JSON readers of other loaders refuse it
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
    throw new SafetensorsError(
      `${path}: not a valid index (it starts with a UTF-8 byte-order mark, which JSON does not allow)`,
      'index-json',
    );
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new SafetensorsError(`${path}: not valid UTF-8 text`, 'file');
  }
  let root: unknown;
  try {
    root = parseStrictJson(text, { maxDepth: MAX_HEADER_DEPTH });
  } catch (e) {
    if (e instanceof JsonSyntaxError)
      throw new SafetensorsError(`${path}: not a valid index (${e.message})`, 'index-json');
    throw e;
  }
  if (!(root instanceof Map))
    throw new SafetensorsError(`${path}: not a valid index (not a JSON object)`, 'index-json');
  const wm = root.get('weight_map');
  if (!(wm instanceof Map))
    throw new SafetensorsError(
      `${path}: index has no weight_map object (tensor name -> shard file name)`,
      'index-weight-map',
    );
  const weightMap = new Map<string, string>();
  for (const [key, v] of wm as JsonObject) {
    if (typeof v !== 'string')
      throw new SafetensorsError(
        `${path}: weight_map maps ${q(key)} to ${kindOf(v)}, not a shard file name`,
        'index-weight-map',
      );
    checkShardName(path, key, v);
    weightMap.set(key, v);
  }
  return { weightMap, metadata: readIndexMetadata(path, root.get('metadata')) };
}

/**
 * Hugging Face writers put numbers there ({"total_size": 23782506688}) and readers accept any values,
 * so only the container is checked: strings and numbers are kept as text, other values skipped.
 */
function readIndexMetadata(path: string, v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!(v instanceof Map))
    throw new SafetensorsError(`${path}: index metadata must be an object`, 'index-metadata');
  const out: [string, string][] = [];
  for (const [k, x] of v as JsonObject)
    if (typeof x === 'string' || typeof x === 'number' || typeof x === 'bigint') out.push([k, String(x)]);
  return Object.fromEntries(out);
}

/** The lexical rules for a shard name; the message names the index and the tensor. */
function checkShardName(index: string, key: string, name: string): void {
  const bad = (why: string): never => {
    throw new SafetensorsError(
      `${index}: weight_map entry ${q(key)} names shard ${q(name)}, ${why}; shards must be files inside the index's folder`,
      'index-path',
    );
  };
  if (name === '') bad('an empty name');
  if (name.includes('\0')) bad('a name with a NUL byte');
  // (Windows' other absolute forms start with a backslash, refused below)
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) bad('an absolute path');
  if (name.includes('\\')) bad('a name with a backslash');
  if (name.split('/').includes('..')) bad("a path through '..'");
  // "s.safetensors/" names a folder: opening it fails for other readers, so it must here too
  if (name.endsWith('/')) bad("a name ending in '/'");
}

/**
 * The real path of a shard named by an index, checked to lie inside the index's folder (or its Hugging
 * Face blobs folder, see above). A missing shard, a symbolic link loop and an escape each have their
 * own message.
 */
export function resolveShard(index: string, key: string, name: string): string {
  const dir = dirname(index);
  let real: string;
  try {
    real = realpathSync(join(dir, name));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new SafetensorsError(
        `${index}: shard ${q(name)} (holding ${q(key)}) is missing`,
        'index-missing-shard',
      );
    if (code === 'ENAMETOOLONG')
      throw new SafetensorsError(
        `${index}: shard ${q(name)} (holding ${q(key)}) has a name too long for the file system`,
        'index-path',
      );
    if (code === 'ELOOP')
      throw new SafetensorsError(
        `${index}: shard ${q(name)} (holding ${q(key)}) is a symbolic link loop`,
        'file',
      );
    throw new SafetensorsError(
      `${index}: shard ${q(name)} (holding ${q(key)}) cannot be opened (${code ?? (e as Error).message})`,
      'file',
    );
  }
  if (!allowedRoots(dir).some((root) => real.startsWith(root.endsWith(sep) ? root : root + sep)))
    throw new SafetensorsError(
      `${index}: shard ${q(name)} (holding ${q(key)}) is a link to a file outside the index's folder`,
      'index-escape',
    );
  return real;
}

function allowedRoots(dir: string): string[] {
  const real = realpathSync(dir);
  const roots = [real];
  // <repo>/snapshots/<revision>/...: the cache's links point into <repo>/blobs
  for (const p of new Set([resolve(dir), real])) {
    const parts = p.split(sep);
    const at = parts.lastIndexOf('snapshots');
    if (at > 0 && at < parts.length - 1) {
      try {
        roots.push(realpathSync(join(parts.slice(0, at).join(sep) || sep, 'blobs')));
      } catch {}
    }
  }
  return roots;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Map) return 'an object';
  if (typeof v === 'bigint' || typeof v === 'number') return 'a number';
  return `a ${typeof v}`;
}
