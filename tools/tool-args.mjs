// Argument handling shared by the scripts under tools/: --help prints the script's header comment (its
// usage) and exits 0; a bad argument is one line naming the script and exits 2. Call it before loading
// dist/ or opening a device, so --help works on a machine without a build or a GPU.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** The leading // comment block of a script, without the markers. */
export function headerOf(url) {
  const lines = readFileSync(fileURLToPath(url), 'utf8').split('\n');
  const out = [];
  for (const line of lines.slice(lines[0]?.startsWith('#!') ? 1 : 0)) {
    if (!line.startsWith('//')) break;
    out.push(line.replace(/^\/\/ ?/, ''));
  }
  return out.join('\n');
}

/** Prints `<script>: message` on stderr and exits 2. */
export function usageError(url, message) {
  const name = basename(fileURLToPath(url));
  console.error(`${name}: ${message} (--help for usage)`);
  process.exit(2);
}

/**
 * `--opt -1` as `--opt=-1` for string options, so a negative number reaches the script's range check
 * instead of parseArgs's "argument is ambiguous" (the CLI does the same in src/cli/args.ts).
 */
function joinNegatives(argv, options) {
  const out = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return out.concat(argv.slice(i));
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    const next = argv[i + 1];
    if (
      name &&
      Object.hasOwn(options, name) &&
      options[name].type === 'string' &&
      /^-(\d|\.\d|Infinity$)/.test(next ?? '')
    ) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/**
 * parseArgs with --help/-h added: returns { values, positionals }, or prints the usage (exit 0) or the
 * parse error (exit 2). `config` is parseArgs's (options, allowPositionals, ...); args default to argv.
 */
export function toolArgs(url, config) {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegatives(process.argv.slice(2), config.options),
      ...config,
      options: { ...config.options, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    usageError(url, e.message);
  }
  if (parsed.values.help) {
    console.log(headerOf(url));
    process.exit(0);
  }
  return parsed;
}

/** An integer option >= min (exit 2 otherwise). */
export function intArg(url, value, name, min) {
  const n = Number(value);
  if (value === undefined || String(value).trim() === '' || !Number.isInteger(n) || n < min)
    usageError(url, `--${name} must be an integer >= ${min}; got "${value}"`);
  return n;
}
