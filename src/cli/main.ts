#!/usr/bin/env node
// The `toma` entry point. Normally it starts the CLI again as a child process whose stderr it reads,
// to keep Dawn's native log lines out of the output (dawn-log.ts), and mirrors the child's exit
// code; the child runs the supervisor (supervisor.ts), which runs the command in a worker thread.
// With --verbose or TOMA_VERBOSE=1, and on Windows, the supervisor runs in this process and Dawn's
// lines go to stderr unfiltered.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { DawnLogFilter } from './dawn-log.js';

/** Set in the child's environment: it is the child (it runs the supervisor). */
const CHILD = 'TOMA_CLI_CHILD';
/** The parent's stderr when it is a terminal: its width (the child's own stderr is a pipe). */
const STDERR_TTY = 'TOMA_STDERR_TTY';

const argv = process.argv.slice(2);
const end = argv.indexOf('--');
const verbose =
  process.env.TOMA_VERBOSE === '1' || (end < 0 ? argv : argv.slice(0, end)).includes('--verbose');

// help and the version never start Dawn: no child needed
const quick =
  argv.length === 0 || /^(-h|--help|help|-v|--version|version)$/.test(argv[0]!) || argv.includes('--help');

if (verbose || quick || process.env[CHILD] === '1' || process.platform === 'win32') {
  await import('./supervisor.js');
} else {
  runFiltered();
}

function runFiltered(): void {
  const script = process.argv[1]!;
  // Its own process group (detached), so a Ctrl-C at the terminal reaches the child once, from here,
  // not twice (the supervisor ends at once on a second signal). The IPC channel tells the child when
  // this process is gone (killed outright).
  const child = spawn(process.execPath, [...process.execArgv, script, ...argv], {
    stdio: ['inherit', 'inherit', 'pipe', 'ipc'],
    detached: true,
    env: {
      ...process.env,
      [CHILD]: '1',
      [STDERR_TTY]: process.stderr.isTTY ? String(process.stderr.columns || 80) : '',
    },
  });
  const filter = new DawnLogFilter();
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => process.stderr.write(filter.push(s)));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(sig, () => child.kill(sig === 'SIGHUP' ? 'SIGTERM' : sig));
  child.on('error', (e) => {
    process.stderr.write(`toma: could not start the command: ${e.message}\n`);
    process.exit(1);
  });
  // 'close': the exit, and stderr read to its end
  child.on('close', (code, signal) => {
    process.stderr.write(filter.end());
    // a signal that reached the child before its supervisor's handler (the first ~0.1 s): nothing was
    // written yet; say so the way a handled interruption does
    if (signal === 'SIGINT' || signal === 'SIGTERM') process.stderr.write('toma: interrupted\n');
    process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0));
  });
}
