// The built CLI under Ctrl-C and with outputs that would destroy an input: a CPU generation stops
// within 2 s of SIGINT (or SIGTERM) with one `toma: interrupted` line, exit code 130 and no file at
// all; a second signal ends it at once; `--out` naming an input is refused before any work.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeSafetensors } from '../../src/io/safetensors.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'toma-cancel-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Interrupted {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From the first signal to the exit. */
  ms: number;
  err: string;
}

/**
 * Starts a long CPU generation into `out`, waits for its first progress line, then sends `signals`
 * (10 ms apart).
 */
function interruptGeneration(out: string, signals: NodeJS.Signals[]): Promise<Interrupted> {
  const child = spawn(
    process.execPath,
    [cli, 'generate', '--backend', 'cpu', '--method', 'dense', '--no-compare'].concat([
      '--size',
      '32',
      '--steps',
      '10000',
      '--out',
      out,
    ]),
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  let sentAt = 0;
  const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      err += d;
      if (!sentAt && /\] \d+\/10000/.test(err)) {
        sentAt = performance.now();
        for (const [i, s] of signals.entries()) setTimeout(() => child.kill(s), 10 * i);
      }
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(kill);
      if (!sentAt) reject(new Error(`exited before its first step (code ${code}): ${err}`));
      else resolve({ code, signal, ms: performance.now() - sentAt, err });
    });
  });
}

function assertInterrupted(r: Interrupted, out: string): void {
  assert.equal(r.signal, null, 'exits by itself, not killed');
  assert.equal(r.code, 130, r.err);
  assert.ok(r.ms < 2000, `stopped ${r.ms.toFixed(0)} ms after the signal`);
  assert.equal(r.err.match(/toma: interrupted/g)?.length, 1, r.err);
  assert.doesNotMatch(r.err, /toma: (?!interrupted)/, 'no other error line');
  // nothing written: no images, no temporary files, not even the folder
  assert.equal(existsSync(out), false, existsSync(out) ? readdirSync(out).join(', ') : '');
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('.tmp-')),
    [],
  );
}

describe('toma generate: Ctrl-C', () => {
  it('SIGINT during a CPU generation: exit 130 within 2 s, one line, no files', async () => {
    const out = join(dir, 'sigint');
    assertInterrupted(await interruptGeneration(out, ['SIGINT']), out);
  });

  it('two SIGINTs: exits at once, the same way', async () => {
    const out = join(dir, 'twice');
    assertInterrupted(await interruptGeneration(out, ['SIGINT', 'SIGINT']), out);
  });

  it('SIGTERM is handled like SIGINT', async () => {
    const out = join(dir, 'sigterm');
    assertInterrupted(await interruptGeneration(out, ['SIGTERM']), out);
  });
});

describe('outputs checked before the work', () => {
  const toma = (...args: string[]) => {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const input = join(dir, 'x.safetensors');
  writeSafetensors(input, { x: { dtype: 'F32', shape: [1, 4, 2], data: new Float32Array(8).fill(0.5) } });
  const before = readFileSync(input);

  it('merge --out equal to --input (same path, ./path) is refused and the input is untouched', () => {
    for (const out of [input, join(dir, '.', 'x.safetensors')]) {
      const r = toma('merge', '--backend', 'cpu', '--input', input, '--out', out, '--grid', '2x2');
      assert.equal(r.code, 1, r.err);
      assert.match(
        r.err,
        /^toma: --out: .*x\.safetensors is the same file as the input .*x\.safetensors; writing it would destroy the input\n$/,
      );
      assert.deepEqual(readFileSync(input), before);
    }
  });

  it('forward --out equal to --inputs is refused before the checkpoint is read', () => {
    const r = toma(
      'forward',
      '--backend',
      'cpu',
      '--checkpoint',
      join(dir, 'missing'),
      '--inputs',
      input,
      '--out',
      input,
    );
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /^toma: --out: .* is the same file as the input/);
    assert.deepEqual(readFileSync(input), before);
  });

  it('merge --out naming a folder, generate --out naming a file: refused with the path', () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder, { recursive: true });
    const r1 = toma('merge', '--backend', 'cpu', '--input', input, '--out', folder, '--grid', '2x2');
    assert.equal(r1.code, 1);
    assert.match(r1.err, /^toma: --out: .*a-folder is a folder; give a file name\n$/);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a folder');
    const r2 = toma('generate', '--backend', 'cpu', '--size', '4', '--steps', '1', '--out', file);
    assert.equal(r2.code, 1);
    assert.match(r2.err, /^toma: --out: .*a-file is a file, not a folder\n$/);
    assert.doesNotMatch(r2.out, /backend:/, 'refused before a backend was made');
  });
});
