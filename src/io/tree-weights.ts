// Weights in a FileTree (a browser's picked folder): safetensors files, sharded checkpoints through their
// index, and GGUF files, with the same header checks and conversions as the Node readers
// (src/io/safetensors.ts, src/io/gguf.ts). Only headers are read on opening; each tensor is read from
// its byte range when a loader asks for it, so a file is never in memory as a whole.
import type { FileTree } from './file-tree.js';
import { GgufError, GgufReader, isGgufMagic } from './gguf.js';
import { parseGgufHeader } from './gguf-format.js';
import { quoteForMessage } from './json-strict.js';
import {
  checkHoldable,
  headerLength,
  parseHeader,
  SafetensorsError,
  shardTensor,
  type TensorInfo,
  TensorMapReader,
} from './safetensors-format.js';
import { MAX_INDEX_BYTES, parseShardIndex } from './safetensors-index.js';
import type { SyncFile } from './sync-file.js';

/** Reads [begin, end) in full, or fails: a file that is shorter now than its header said has changed. */
function readRange(f: SyncFile, begin: number, end: number, path: string, error: (m: string) => Error) {
  const out = f.read(begin, end);
  if (out.byteLength !== end - begin) throw error(`${path}: the file shrank while being read`);
  return out;
}

function treeCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SafetensorsError) throw e;
    throw new SafetensorsError((e as Error).message, 'file');
  }
}

/** A .safetensors file, a sharded checkpoint (its index) or a folder holding one of either, in a tree. */
export class TreeCheckpoint extends TensorMapReader {
  private constructor(
    tensors: Map<string, TensorInfo>,
    metadata: Record<string, string>,
    path: string,
    private readonly files: Map<string, SyncFile>,
  ) {
    super(tensors, metadata, path);
  }

  static open(tree: FileTree, path: string): TreeCheckpoint {
    if (tree.isDir(path)) {
      const names = tree.list(path);
      const index = names.filter((n) => n.endsWith('.safetensors.index.json'));
      const single = names.filter((n) => n.endsWith('.safetensors'));
      if (index.length === 1) return TreeCheckpoint.openFile(tree, tree.join(path, index[0]!));
      if (single.length === 1) return TreeCheckpoint.openFile(tree, tree.join(path, single[0]!));
      throw new SafetensorsError(
        `${path}: expected one .safetensors file or one *.safetensors.index.json, found ${single.length} and ${index.length}`,
        'file',
      );
    }
    return TreeCheckpoint.openFile(tree, path);
  }

  private static openFile(tree: FileTree, path: string): TreeCheckpoint {
    if (path.endsWith('.json')) return TreeCheckpoint.openIndex(tree, path);
    const f = treeCall(() => tree.open(path));
    const { tensors, metadata } = readHeader(f, path);
    return new TreeCheckpoint(tensors, metadata, path, new Map([[path, f]]));
  }

  private static openIndex(tree: FileTree, path: string): TreeCheckpoint {
    const indexFile = treeCall(() => tree.open(path));
    if (indexFile.size > MAX_INDEX_BYTES)
      throw new SafetensorsError(
        `${path}: ${indexFile.size} bytes is more than the ${MAX_INDEX_BYTES} a safetensors index may have here`,
        'file',
      );
    const index = parseShardIndex(indexFile.read(0, indexFile.size), path);
    // shard names are plain relative paths without '..' (checked by parseShardIndex): inside the folder
    const dir = tree.dirname(path);
    const shards = new Map<string, Map<string, TensorInfo>>();
    const files = new Map<string, SyncFile>();
    const tensors = new Map<string, TensorInfo>();
    for (const [key, shard] of index.weightMap) {
      const file = tree.join(dir, shard);
      let s = shards.get(file);
      if (!s) {
        if (!tree.isFile(file))
          throw new SafetensorsError(
            `${path}: shard ${quoteForMessage(shard)} (holding ${quoteForMessage(key)}) is missing`,
            'index-missing-shard',
          );
        const f = tree.open(file);
        s = readHeader(f, file).tensors;
        shards.set(file, s);
        files.set(file, f);
      }
      tensors.set(key, shardTensor(path, key, shard, s));
    }
    return new TreeCheckpoint(tensors, index.metadata, path, files);
  }

  readBytes(key: string): Uint8Array {
    const t = this.info(key);
    checkHoldable(this.path, key, t.end - t.begin);
    return readRange(this.files.get(t.file)!, t.begin, t.end, t.file, (m) => new SafetensorsError(m, 'read'));
  }

  close(): void {}
}

function readHeader(f: SyncFile, path: string) {
  const hlen = headerLength(f.read(0, 8), f.size, path);
  const json = readRange(f, 8, 8 + hlen, path, (m) => new SafetensorsError(m, 'read'));
  const { tensors, metadata } = parseHeader(json, f.size, path);
  for (const t of tensors.values()) t.file = path;
  return { tensors, metadata };
}

/** A GGUF file in a tree (or any SyncFile): the header parsed up front, tensors read when asked for. */
export class TreeGguf extends GgufReader {
  private constructor(
    private readonly file: SyncFile,
    path: string,
  ) {
    super(
      parseGgufHeader((pos, len) => file.read(pos, pos + len), file.size, path),
      path,
    );
  }

  static open(tree: FileTree, path: string): TreeGguf {
    let f: SyncFile;
    try {
      f = tree.open(path);
    } catch (e) {
      throw new GgufError((e as Error).message, 'file');
    }
    return new TreeGguf(f, path);
  }

  static fromFile(file: SyncFile, path: string): TreeGguf {
    return new TreeGguf(file, path);
  }

  readBytes(key: string): Uint8Array {
    const t = this.info(key);
    checkHoldable(this.path, key, t.end - t.begin);
    return readRange(this.file, t.begin, t.end, this.path, (m) => new GgufError(m, 'read'));
  }
}

export type TreeWeights = TreeCheckpoint | TreeGguf;

/** The one .gguf of a folder without safetensors weights, else null (as src/io/weight-file.ts). */
export function ggufInTreeFolder(tree: FileTree, dir: string): string | null {
  const names = tree.list(dir);
  const gguf = names.filter((n) => /\.gguf$/i.test(n));
  if (gguf.length !== 1 || names.some((n) => n.endsWith('.safetensors'))) return null;
  return tree.join(dir, gguf[0]!);
}

/** A transformer's weights in either format, by the rules of openWeightFile (extension, magic, folder). */
export function openTreeWeights(tree: FileTree, path: string): TreeWeights {
  if (tree.isDir(path)) {
    const g = ggufInTreeFolder(tree, path);
    return g ? TreeGguf.open(tree, g) : TreeCheckpoint.open(tree, path);
  }
  if (/\.gguf$/i.test(path)) return TreeGguf.open(tree, path);
  if (tree.isFile(path) && isGgufMagic(tree.open(path).read(0, 4))) return TreeGguf.open(tree, path);
  return TreeCheckpoint.open(tree, path);
}
