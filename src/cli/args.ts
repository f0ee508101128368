// Small helpers shared by the CLI commands: typed option parsing with clear errors.
import { type ParseArgsConfig, parseArgs } from 'node:util';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(
  argv: string[],
  options: Options,
  usage: string,
): { values: Record<string, string | undefined> & { help?: boolean } } {
  try {
    return parseArgs({
      args: joinNegativeNumbers(argv, options),
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
      strict: true,
    }) as never;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage}`);
  }
}

/** A token that reads as a negative number ("-1", "-.5", "-2e3", "-Infinity"), not as an option. */
const NEGATIVE = /^-(\d|\.\d|Infinity$)/;

/**
 * parseArgs takes "-1" after "--ratio" for an option and calls the value ambiguous; joining the pair as
 * "--ratio=-1" lets the number reach its range check, whose message states the range.
 */
export function joinNegativeNumbers(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    const opt = name !== undefined && Object.hasOwn(options, name) ? options[name] : undefined;
    if (opt?.type === 'string' && next !== undefined && NEGATIVE.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

export function choice<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  name: string,
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T))
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}; got "${value}"`);
  return value as T;
}

export function num(
  value: string | undefined,
  name: string,
  fallback: number,
  check?: (v: number) => boolean,
  what = 'a number',
): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || (check && !check(v)))
    throw new UsageError(`--${name} must be ${what}; got "${value}"`);
  return v;
}

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * A memory size: a number with a unit (6GiB, 6000MB, 1.5 GiB; KB/MB/GB/TB are powers of 1000,
 * KiB/MiB/GiB/TiB of 1024, B bytes; case-insensitive), more than 0. Bare numbers are refused: a
 * unit-less "6" is more likely GiB meant than 6 bytes.
 */
export function byteSize(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(value);
  const unit = m && BYTE_UNITS[m[2]!.toLowerCase()];
  if (!m || !unit)
    throw new UsageError(
      `--${name} must be a size with a unit, e.g. 6GiB, 6000MB or 512MiB (KB/MB/GB/TB: powers of 1000; KiB/MiB/GiB/TiB: of 1024); got "${value}"`,
    );
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes < 1)
    throw new UsageError(`--${name} must be at least 1B and at most 8PiB; got "${value}"`);
  return bytes;
}

export function required(value: string | undefined, name: string, usage: string): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required\n\n${usage}`);
  return value;
}

/** A plain-text table with aligned columns. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** --exempt D,S: the first D double-stream and S single-stream blocks never merge ({} when absent). */
export function exemptOption(value: string | undefined): { exemptDouble?: number; exemptSingle?: number } {
  if (value === undefined) return {};
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(value);
  if (!m) throw new UsageError(`--exempt must be D,S (exempt double and single blocks); got "${value}"`);
  return { exemptDouble: Number(m[1]), exemptSingle: Number(m[2]) };
}
