// A file read synchronously at byte offsets, whatever holds it: a browser's File (FileReaderSync, which
// only dedicated workers have), bytes in memory, or anything else with a size and a ranged read. The
// weight readers over it (tree-weights.ts) read one tensor at a time, so a 24 GB file never has to fit
// in one ArrayBuffer. No Node modules: this is part of the browser bundle.

export interface SyncFile {
  /** Bytes in the file. */
  readonly size: number;
  /** Bytes [begin, end), end clamped to the size. */
  read(begin: number, end: number): Uint8Array;
}

/** A file in memory (tests; small files already read). */
export function bytesFile(bytes: Uint8Array): SyncFile {
  return { size: bytes.byteLength, read: (b, e) => bytes.subarray(b, Math.min(e, bytes.byteLength)) };
}

interface FileReaderSyncLike {
  readAsArrayBuffer(blob: Blob): ArrayBuffer;
}

/**
 * A Blob or File read with FileReaderSync: only a slice at a time is in memory. FileReaderSync exists in
 * dedicated workers only (not on a page's main thread, not in Node), hence the error naming that.
 */
export function blobFile(blob: Blob, name = 'file'): SyncFile {
  const Reader = (globalThis as { FileReaderSync?: new () => FileReaderSyncLike }).FileReaderSync;
  if (!Reader)
    throw new Error(
      `${name}: reading a file synchronously needs FileReaderSync, which only a dedicated worker has (open the model in a Worker)`,
    );
  const reader = new Reader();
  return {
    size: blob.size,
    read(begin, end) {
      const e = Math.min(end, blob.size);
      if (e <= begin) return new Uint8Array(0);
      try {
        return new Uint8Array(reader.readAsArrayBuffer(blob.slice(begin, e)));
      } catch (err) {
        // e.g. NotReadableError when the file changed or was removed after it was picked
        throw new Error(`${name}: cannot read bytes ${begin}-${e} (${(err as Error).message})`);
      }
    },
  };
}
