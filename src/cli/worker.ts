// The worker thread a `toma` command runs in (started by main.ts). It shares the supervisor's abort
// flag, reports every temporary file it creates or finishes (so the supervisor can remove them if it
// has to terminate this thread), and takes over the terminal facts of the real stdout/stderr so
// progress bars still redraw in place.
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'node:worker_threads';
import { onTempFiles, removeTempFilesSync } from '../io/output.js';
import { SharedAbortFlag } from '../util/abort.js';
import { onGraceRequest, setCliAbortFlag } from './cancel.js';
import { runCli } from './run.js';

export interface StreamFacts {
  isTTY: boolean;
  columns?: number;
}

export interface CliWorkerData {
  argv: string[];
  abort: SharedArrayBuffer;
  temps: MessagePort;
  stdout: StreamFacts;
  stderr: StreamFacts;
}

/** A message on the temps port: a temporary path that now exists, or no longer does. */
export interface TempMessage {
  path: string;
  exists: boolean;
}

/** A message on the temps port: how long the command may take to stop after a signal (ms). */
export interface GraceMessage {
  graceMs: number;
}

const data = workerData as CliWorkerData;

function takeFacts(stream: NodeJS.WriteStream, facts: StreamFacts): void {
  if (!facts.isTTY) return;
  stream.isTTY = true;
  if (facts.columns) stream.columns = facts.columns;
}

takeFacts(process.stdout, data.stdout);
takeFacts(process.stderr, data.stderr);
setCliAbortFlag(new SharedAbortFlag(data.abort));
onTempFiles((path, exists) => data.temps.postMessage({ path, exists } satisfies TempMessage));
onGraceRequest((graceMs) => data.temps.postMessage({ graceMs } satisfies GraceMessage));
const code = await runCli(data.argv);
removeTempFilesSync();
// handles a GPU runtime keeps open must not keep the thread alive
process.exit(code);
