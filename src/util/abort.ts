// Cancellation. Long runs take an AbortFlag: anything with an `aborted` property that can be read at
// any time. A DOM AbortSignal is one; so is a flag in shared memory that another thread sets (the CLI's
// supervisor sets one while the command runs in a worker, because a thread busy in synchronous CPU
// kernels never sees an event). Sampling loops check it between steps, and a Backend whose `signal`
// is set checks it as each operation's result is made, so a run stops within one operation.

export interface AbortFlag {
  readonly aborted: boolean;
}

/** The error a cancelled run throws (name "AbortError", like fetch() and the DOM). */
export function abortError(what = 'cancelled'): DOMException {
  return new DOMException(what, 'AbortError');
}

export function isAbortError(e: unknown): boolean {
  return (e as Error | null)?.name === 'AbortError';
}

export function throwIfAborted(s: AbortFlag | undefined): void {
  if (s?.aborted) throw abortError();
}

/** An AbortFlag in a SharedArrayBuffer: set by one thread, read by others without messages. */
export class SharedAbortFlag implements AbortFlag {
  readonly cells: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.cells = new Int32Array(buffer, 0, 1);
  }

  get buffer(): SharedArrayBuffer {
    return this.cells.buffer as SharedArrayBuffer;
  }

  get aborted(): boolean {
    return Atomics.load(this.cells, 0) !== 0;
  }

  set(): void {
    Atomics.store(this.cells, 0, 1);
  }
}
