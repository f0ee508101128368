#!/usr/bin/env node
// The `toma` command line. Each command lives in src/cli/commands/ and is listed here.
import { NoAdapterError } from '../gpu/device.js';
import { type Command, UsageError } from './args.js';
import { doctor } from './commands/doctor.js';
import { evalCommand } from './commands/eval.js';
import { forward } from './commands/forward.js';
import { generateCommand } from './commands/generate.js';
import { merge } from './commands/merge.js';

const commands: Command[] = [generateCommand, evalCommand, doctor, forward, merge];

function help(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return `toma: diffusion transformers on WebGPU, with ToMA token merging

usage: toma <command> [options]   (toma <command> --help for its options)

commands:
${commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join('\n')}`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    console.error(`toma: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      console.error(`toma: ${e.message}`);
      process.exit(2);
    }
    if (e instanceof NoAdapterError) {
      console.error(`toma: ${e.message}`);
      process.exit(3);
    }
    console.error(`toma: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.TOMA_DEBUG) console.error(e);
    process.exit(1);
  },
);
