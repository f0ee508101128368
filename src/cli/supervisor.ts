// The `toma` command line's supervisor (started by main.ts). The command itself (src/cli/run.ts) runs in a worker
// thread, because the CPU backend computes in long synchronous stretches during which a signal
// handler in the same thread would never run. Here, Ctrl-C (SIGINT) or SIGTERM:
//   - the first sets the abort flag shared with the worker; the run stops at its next operation and
//     unwinds (temporary files removed, the device released); if the worker has not exited 1.5 s
//     later (or the grace period the command asked for: `toma serve` and `toma worker` finish their
//     jobs first) it is terminated;
//   - a second one ends everything at once.
// Either way the temporary files the worker reported are removed synchronously, one line
// `toma: interrupted` is printed and the exit code is 130.
import { rmSync } from 'node:fs';
import { MessageChannel, receiveMessageOnPort, SHARE_ENV, Worker } from 'node:worker_threads';
import { SharedAbortFlag } from '../util/abort.js';
import type { CliWorkerData, GraceMessage, TempMessage } from './worker.js';

let graceMs = 1500;
const EXIT_CANCELLED = 130;

const flag = new SharedAbortFlag();
const { port1, port2 } = new MessageChannel();
const temps = new Set<string>();
const note = (m: TempMessage | GraceMessage) => {
  if ('graceMs' in m) graceMs = m.graceMs;
  else if (m.exists) temps.add(m.path);
  else temps.delete(m.path);
};
port1.on('message', note);
/** Takes in the temp-file reports still queued (a signal handler may run before them). */
const drain = () => {
  for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) note(m.message);
};

const data: CliWorkerData = {
  argv: process.argv.slice(2),
  abort: flag.buffer,
  temps: port2,
  stdout: { isTTY: !!process.stdout.isTTY, columns: process.stdout.columns },
  stderr: stderrFacts(),
};

/** The real stderr's terminal facts: this process's own, or those main.ts passed to its child. */
function stderrFacts(): CliWorkerData['stderr'] {
  const parent = process.env.TOMA_STDERR_TTY; // set by main.ts for its child: the width, or ''
  if (parent === undefined) return { isTTY: !!process.stderr.isTTY, columns: process.stderr.columns };
  return { isTTY: parent !== '', columns: Number(parent) || undefined };
}
const worker = new Worker(new URL('./worker.js', import.meta.url), {
  workerData: data,
  transferList: [port2],
  env: SHARE_ENV,
});

let cancelled = false;
let finished = false;
function finish(code: number): void {
  if (finished) return;
  finished = true;
  drain();
  for (const p of temps) {
    try {
      rmSync(p, { recursive: true, force: true });
    } catch {}
  }
  // a run that completed despite a late signal keeps its outcome (its files are whole)
  if (cancelled && code !== 0) {
    process.stderr.write(`${data.stderr.isTTY ? '\n' : ''}toma: interrupted\n`);
    process.exit(EXIT_CANCELLED);
  }
  process.exit(code);
}

function onSignal(): void {
  if (cancelled) {
    finish(EXIT_CANCELLED);
    return;
  }
  cancelled = true;
  drain(); // a grace period the command asked for may still be queued
  flag.set();
  setTimeout(() => {
    void worker.terminate();
    finish(EXIT_CANCELLED);
  }, graceMs).unref();
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// main.ts, whose child this process may be, is gone: nobody reads our stderr any more
if (process.channel) {
  process.channel.unref();
  process.on('disconnect', onSignal);
}

worker.on('error', (e) => {
  // an exception the command did not catch (run.ts catches everything it awaits)
  if (!cancelled) {
    console.error(`toma: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.TOMA_DEBUG) console.error(e);
  }
  finish(cancelled ? EXIT_CANCELLED : 1);
});
worker.on('exit', (code) => finish(code));
