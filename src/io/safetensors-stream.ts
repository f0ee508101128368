// Streaming safetensors writer for files larger than memory: the header is computed from the tensor
// list, then each tensor's values are produced chunk by chunk into one of two large buffers, one being
// written (asynchronously, in the libuv pool) while the other fills. Nothing but the two buffers and a
// scratch chunk is ever held. Written to a temp file renamed into place, like writeSafetensors.
import { open } from 'node:fs/promises';
import { commitTemp, describeWriteError, discardTemp, newTempPath, TEMP_FLAGS, TEMP_MODE } from './output.js';

export interface StreamedTensor {
  key: string;
  dtype: 'F16' | 'F32';
  shape: number[];
  /**
   * Returns a filler for this tensor, called with consecutive chunks (f16 bit patterns for F16) that
   * cover its values in row-major order.
   */
  produce(): (out: Uint16Array | Float32Array) => void;
}

export interface StreamOptions {
  metadata?: Record<string, string>;
  /** Size of each of the two write buffers (default 64 MiB). */
  bufferBytes?: number;
  /** Called after each buffer is handed to the file with the bytes written so far. */
  onBytes?: (written: number, total: number) => void;
}

const BYTES = { F16: 2, F32: 4 } as const;
const SCRATCH_BYTES = 16 << 20;

/** The bytes the file will have: 8 + header + data. */
export function streamedFileBytes(
  tensors: readonly StreamedTensor[],
  metadata?: Record<string, string>,
): number {
  return header(tensors, metadata).bytes.length + 8 + dataBytes(tensors);
}

function dataBytes(tensors: readonly StreamedTensor[]): number {
  return tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * BYTES[t.dtype], 0);
}

function header(
  tensors: readonly StreamedTensor[],
  metadata?: Record<string, string>,
): { bytes: Buffer; order: StreamedTensor[] } {
  const order = [...tensors].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const h: Record<string, unknown> = Object.create(null); // no prototype: "__proto__" is a tensor name like any other
  if (metadata) h.__metadata__ = metadata;
  let offset = 0;
  for (let i = 0; i < order.length; i++) {
    const t = order[i]!;
    if (i > 0 && order[i - 1]!.key === t.key) throw new Error(`safetensors: duplicate tensor "${t.key}"`);
    if (!(t.dtype in BYTES)) throw new Error(`safetensors: "${t.key}" has unsupported dtype ${t.dtype}`);
    const n = t.shape.reduce((a, b) => a * b, 1) * BYTES[t.dtype];
    h[t.key] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(h);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  return { bytes: Buffer.from(json, 'utf8'), order };
}

/** Writes the tensors to `path` (atomically); returns the file size. */
export async function writeSafetensorsStreamed(
  path: string,
  tensors: readonly StreamedTensor[],
  o: StreamOptions = {},
): Promise<number> {
  const { bytes: hbytes, order } = header(tensors, o.metadata);
  const total = 8 + hbytes.length + dataBytes(tensors);
  const bufferBytes = Math.max(1 << 16, Math.min(o.bufferBytes ?? 64 << 20, total));
  const tmp = newTempPath(path);
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(tmp, TEMP_FLAGS, TEMP_MODE);
  } catch (e) {
    discardTemp(tmp);
    throw describeWriteError(path, e);
  }
  // whole ArrayBuffers (offset 0), so typed views at even / multiple-of-4 positions are aligned
  let buffers = [Buffer.allocUnsafeSlow(bufferBytes), Buffer.allocUnsafeSlow(bufferBytes)];
  let pos = 0;
  let written = 0;
  let pending: Promise<void> = Promise.resolve();
  const writeAll = async (buf: Buffer, n: number) => {
    let done = 0;
    while (done < n) done += (await fh.write(buf, done, n - done)).bytesWritten;
    written += n;
    o.onBytes?.(written, total);
  };
  const flush = async () => {
    await pending;
    if (pos === 0) return;
    const full = buffers[0]!;
    const n = pos;
    pending = writeAll(full, n);
    buffers = [buffers[1]!, full];
    pos = 0;
  };
  const put = async (bytes: Uint8Array) => {
    let o2 = 0;
    while (o2 < bytes.length) {
      const n = Math.min(bytes.length - o2, bufferBytes - pos);
      buffers[0]!.set(bytes.subarray(o2, o2 + n), pos);
      pos += n;
      o2 += n;
      if (pos === bufferBytes) await flush();
    }
  };
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hbytes.length));
    await put(len);
    await put(hbytes);
    const largest = Math.max(0, ...order.map((t) => t.shape.reduce((a, b) => a * b, 1)));
    // allocated on first use (folders of f16 weights never need them)
    let scratch16: Uint16Array | null = null;
    let scratch32: Float32Array | null = null;
    const scratchFor = (dtype: 'F16' | 'F32'): Uint16Array | Float32Array => {
      if (dtype === 'F16') {
        scratch16 ??= new Uint16Array(Math.min(SCRATCH_BYTES / 2, largest));
        return scratch16;
      }
      scratch32 ??= new Float32Array(Math.min(SCRATCH_BYTES / 4, largest));
      return scratch32;
    };
    for (const t of order) {
      const fill = t.produce();
      const item = BYTES[t.dtype];
      const Typed = t.dtype === 'F16' ? Uint16Array : Float32Array;
      let left = t.shape.reduce((a, b) => a * b, 1);
      while (left > 0) {
        const room = Math.floor((bufferBytes - pos) / item);
        if (room > 0 && pos % item === 0) {
          // values go straight into the write buffer
          const k = Math.min(left, room);
          const buf = buffers[0]!;
          fill(new Typed(buf.buffer, buf.byteOffset + pos, k));
          pos += k * item;
          left -= k;
          if (pos === bufferBytes) await flush();
        } else {
          // unaligned position (an f32 tensor after an odd number of f16 values) or a buffer end
          // splitting a value: through a scratch chunk
          const scratch = scratchFor(t.dtype);
          const k = Math.min(left, scratch.length);
          const view = scratch.subarray(0, k);
          fill(view);
          await put(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
          left -= k;
        }
      }
    }
    await flush();
    await pending;
    await fh.sync();
    await fh.close();
    commitTemp(tmp, path);
    return total;
  } catch (e) {
    await pending.catch(() => {});
    await fh.close().catch(() => {});
    discardTemp(tmp);
    throw describeWriteError(path, e);
  }
}
