// The `toma` commands and how a command's outcome becomes an exit code and one line on stderr. Runs in
// the worker thread that main.ts starts (or anywhere a caller wants the command line in-process).
import { readFileSync } from 'node:fs';
import { NoAdapterError } from '../gpu/device.js';
import { serveCommand, workerCommand } from '../serve/commands.js';
import { isAbortError } from '../util/abort.js';
import { type Command, UsageError } from './args.js';
import { cliAbortFlag } from './cancel.js';
import { doctor } from './commands/doctor.js';
import { evalCommand } from './commands/eval.js';
import { forward } from './commands/forward.js';
import { generateCommand } from './commands/generate.js';
import { merge } from './commands/merge.js';
import { quantize } from './commands/quantize.js';

const commands: Command[] = [
  generateCommand,
  evalCommand,
  doctor,
  forward,
  merge,
  quantize,
  serveCommand,
  workerCommand,
];

/** Exit codes: 2 usage, 3 no WebGPU adapter, 1 anything else, 130 cancelled. */
export const EXIT_CANCELLED = 130;

/**
 * This package's version, from its package.json: three folders up from dist/src/cli/ both in a clone
 * and in an installed package (node_modules/toma-webgpu/dist/src/cli/).
 */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
  return String(pkg.version);
}

function help(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return `toma: diffusion transformers on WebGPU, with ToMA token merging

usage: toma <command> [options]   (toma <command> --help for its options)
       toma --version

  --verbose      also show the WebGPU runtime's (Dawn's) own log lines, hidden by default
                 (also TOMA_VERBOSE=1)

commands:
${commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join('\n')}`;
}

/** argv without the global --verbose (main.ts acted on it: Dawn's log lines unfiltered). */
function withoutVerbose(argv: string[]): string[] {
  const end = argv.indexOf('--');
  const head = end < 0 ? argv : argv.slice(0, end);
  return [...head.filter((a) => a !== '--verbose'), ...(end < 0 ? [] : argv.slice(end))];
}

async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = withoutVerbose(argv);
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    console.log(`toma-webgpu ${packageVersion()}`);
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    console.error(`toma: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  return cmd.run(rest);
}

/** Runs one command line; errors are printed as one `toma: …` line and become the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (e) {
    // whatever a cancelled run throws on its way out is the cancellation (the supervisor says so)
    if (isAbortError(e) || cliAbortFlag().aborted) return EXIT_CANCELLED;
    console.error(`toma: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.TOMA_DEBUG) console.error(e);
    if (e instanceof UsageError) return 2;
    if (e instanceof NoAdapterError) return 3;
    return 1;
  }
}
