// The command line's cancellation flag. main.ts runs each command in a worker thread and shares a
// flag in shared memory with it; the supervisor sets it on Ctrl-C (SIGINT) or SIGTERM. Commands pass
// it to the sampling loops and to their backend (Backend.signal), which checks it at every operation,
// so even the CPU backend's long synchronous stretches stop within one operation. Run in the main
// thread (tests call a command's run() directly) the flag is never set.
import type { Backend } from '../backend.js';
import type { AbortFlag } from '../util/abort.js';

let flag: AbortFlag = { aborted: false };
let askGrace: (ms: number) => void = () => {};

export function cliAbortFlag(): AbortFlag {
  return flag;
}

export function setCliAbortFlag(f: AbortFlag): void {
  flag = f;
}

/** The backend, made to stop at its next operation once the run is cancelled. */
export function cancellable<B extends Backend>(be: B): B {
  be.signal = flag;
  return be;
}

/** Set by the worker thread's setup: how a command tells the supervisor how long it may take to stop. */
export function onGraceRequest(fn: (ms: number) => void): void {
  askGrace = fn;
}

/**
 * Asks the supervisor to wait up to `ms` (instead of 1.5 s) after the first signal before it ends this
 * thread: long-running commands (`toma serve`, `toma worker`) finish their jobs when asked to stop.
 */
export function requestGracePeriod(ms: number): void {
  askGrace(ms);
}
