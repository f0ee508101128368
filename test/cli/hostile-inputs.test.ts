// What the hostile-input run (tools/hostile-probe.mjs) found, kept fixed: a tensor declared (or held
// sparsely) beyond what one array holds, an unbounded --steps, non-files given where a folder is
// expected (--t5, eval --real, a saved run's atlases), and the tools' handling of negative numbers and
// unwritable outputs. Each case: one readable line, no internal text, nothing read that was not named.
import assert from 'node:assert/strict';
import { constants } from 'node:buffer';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readImageDir } from '../../src/eval/image-files.js';
import { loadSavedRun } from '../../src/eval/saved-run.js';
import { Checkpoint, SafetensorsError } from '../../src/io/safetensors.js';
import { MAX_STEPS } from '../../src/models/limits.js';
import { FluxFolderError, locateFlux } from '../../src/pipeline/model-folder.js';
import { fluxSchedule } from '../../src/pipeline/schedule.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const tools = fileURLToPath(new URL('../../../tools/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'toma-hostile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string[], timeout = 60_000) {
  const r = spawnSync(process.execPath, cmd, { encoding: 'utf8', timeout });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** A safetensors file whose header declares `x` of `shape` (F32), its data a hole of that size. */
function sparseX(path: string, shape: number[]): string {
  const bytes = shape.reduce((a, b) => a * b, 1) * 4;
  const h = Buffer.from(JSON.stringify({ x: { dtype: 'F32', shape, data_offsets: [0, bytes] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(path, Buffer.concat([len, h]));
  truncateSync(path, 8 + h.length + bytes);
  return path;
}

describe('tensors larger than memory', () => {
  it('toma merge: a sparse 64 GiB x is refused by the memory estimate before it is read', () => {
    const x = sparseX(join(dir, 'sparse-x.safetensors'), [1, 4096 * 4096, 1024]);
    const out = join(dir, 'merge-out');
    mkdirSync(out);
    const t0 = performance.now();
    const r = run([
      cli,
      'merge',
      '--backend',
      'cpu',
      '--input',
      x,
      '--out',
      join(out, 'o.safetensors'),
      '--grid',
      '4096x4096',
    ]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /^toma: merging .*sparse-x\.safetensors \(\[1, 16777216, 1024\]\) needs /);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.doesNotMatch(r.err, /Invalid typed array length/);
    assert.ok(performance.now() - t0 < 20_000, 'refused without reading 64 GiB');
    assert.deepEqual(readdirSync(out), []);
  });

  it('Checkpoint.readF32 refuses a tensor one array cannot hold, naming file and tensor', {
    skip: constants.MAX_LENGTH > 2 ** 40 ? 'typed arrays on this platform hold more than a test file' : false,
  }, () => {
    const n = Math.floor(constants.MAX_LENGTH / 4) + 1;
    const p = sparseX(join(dir, 'sparse-big.safetensors'), [n]);
    const ck = Checkpoint.open(p);
    try {
      assert.throws(
        () => ck.readF32('x'),
        (e: Error) =>
          e instanceof SafetensorsError &&
          /sparse-big\.safetensors: tensor "x" takes \d+ bytes in memory, more than one array can hold/.test(
            e.message,
          ),
      );
    } finally {
      ck.close();
    }
  });
});

describe('--steps is bounded', () => {
  it('toma generate --steps 1e12 is a range error, not "Invalid array length"', () => {
    for (const v of ['1e12', '4294967297', String(MAX_STEPS + 1)]) {
      const r = run([
        cli,
        'generate',
        '--backend',
        'cpu',
        '--size',
        '16',
        '--steps',
        v,
        '--out',
        join(dir, 'g'),
      ]);
      assert.equal(r.code, 2, r.err);
      assert.equal(r.err, `toma: --steps must be an integer in 1..${MAX_STEPS}; got "${v}"\n`);
    }
  });

  it('the schedule itself refuses an unbounded count (every caller, eval included)', () => {
    assert.throws(() => fluxSchedule(1e12, 16), /steps must be an integer in 1\.\.10000, got 1000000000000/);
    assert.equal(fluxSchedule(MAX_STEPS, 16).length, MAX_STEPS + 1);
  });
});

describe('non-files where a folder is expected', () => {
  it('generate --t5 /dev/null: "not a file or folder", never listed', () => {
    assert.throws(
      () => locateFlux({ modelDir: dir, t5: '/dev/null' }),
      (e: Error) =>
        e instanceof FluxFolderError && e.message === '--t5 /dev/null: not a file or folder (a device)',
    );
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    assert.throws(
      () => locateFlux({ modelDir: dir, clip: fifo }),
      /--clip .*fifo: not a file or folder \(a named pipe\)/,
    );
  });

  it('eval --real naming a file: the folder error has no raw errno', async () => {
    const file = join(dir, 'not-a-folder.png');
    writeFileSync(file, 'x');
    await assert.rejects(readImageDir(file, 16), (e: Error) => {
      assert.match(
        e.message,
        /cannot read the image folder .*not-a-folder\.png: a component of the path is not a folder/,
      );
      assert.doesNotMatch(e.message, /ENOTDIR|scandir/);
      return true;
    });
  });

  it('a saved run names its atlases by plain names in its folder: no paths, no pipes', () => {
    const saved = (files: unknown[], setup?: (d: string) => void) => {
      const d = mkdtempSync(join(dir, 'saved-'));
      setup?.(d);
      const r = {
        tool: 'toma eval',
        format: 1,
        settings: { seeds: [0] },
        atlases: { columns: ['dense'], width: 4, height: 4, files },
      };
      writeFileSync(join(d, 'results.json'), JSON.stringify(r));
      return d;
    };
    for (const file of ['../victim.png', '/etc/passwd', 'sub/x.png', '.hidden.png', 7])
      assert.throws(() => loadSavedRun(saved([{ file, first: 0, count: 1 }])), /is not a PNG file name in/);
    const withFifo = saved([{ file: 'pipe.png', first: 0, count: 1 }], (d) =>
      execFileSync('mkfifo', [join(d, 'pipe.png')]),
    );
    assert.throws(() => loadSavedRun(withFifo), /pipe\.png: is a named pipe, not a PNG file/);
    const fifoResults = mkdtempSync(join(dir, 'saved-'));
    execFileSync('mkfifo', [join(fifoResults, 'results.json')]);
    assert.throws(() => loadSavedRun(fifoResults), /results\.json: is a named pipe, not a results file/);
  });
});

describe('tools under attack', () => {
  it('a negative number reaches the range check, as in the CLI', () => {
    const r = run([
      join(tools, 'flux-random-checkpoint.mjs'),
      '--out',
      join(dir, 'x.safetensors'),
      '--shards',
      '-1',
    ]);
    assert.equal(r.code, 2);
    assert.equal(
      r.err,
      'flux-random-checkpoint.mjs: --shards must be an integer >= 1; got "-1" (--help for usage)\n',
    );
  });

  it('an output that cannot be written is one line naming the script, not a stack trace', () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    const r = run([join(tools, 'flux-random-checkpoint.mjs'), '--out', folder]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^flux-random-checkpoint\.mjs: cannot write .*a-folder: it is a folder, not a regular file\n$/,
    );
  });

  it('make-random-flux-folder and fit-teacache name themselves in their range errors', () => {
    const a = run([join(tools, 'make-random-flux-folder.mjs'), '--out', join(dir, 'm'), '--threads', '0']);
    assert.equal(a.code, 2);
    assert.equal(
      a.err,
      'make-random-flux-folder.mjs: --threads must be an integer >= 1; got "0" (--help for usage)\n',
    );
    const b = run([join(tools, 'fit-teacache.mjs'), '--backend', 'cpu', '--degree', '1e9']);
    assert.equal(b.code, 2);
    assert.equal(
      b.err,
      'fit-teacache.mjs: --degree must be an integer in 0..12; got "1e9" (--help for usage)\n',
    );
  });
});
