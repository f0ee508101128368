// The malformed corpus through the real CLI, for a handful of cases of each kind (every file is
// covered through the library in malformed.test.ts; a process per file would take minutes): one
// `toma: ` line naming the file, exit 1, no output file and nothing else left in the output folder.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { malformedCases } from './malformed.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'toma-fuzz-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const cases = malformedCases(join(dir, 'corpus'));

const SAMPLE = [
  'prefix-u64-max',
  'bom',
  'deep-array-1e5',
  'duplicate-tensor',
  'dtype-constructor',
  'shape-2p60-elements',
  'alias',
  'trailing-bytes',
  'fifo',
  'symlink-loop',
  'device',
  'index-dotdot',
  'index-symlink-escape',
  'index-value-number',
];

describe('malformed inputs through `toma merge`', () => {
  for (const name of SAMPLE) {
    const c = cases.find((x) => x.name === name);
    it(name, { skip: c ? false : 'not made on this system' }, () => {
      const outDir = join(dir, `out-${name}`);
      mkdirSync(outDir);
      const r = spawnSync(
        process.execPath,
        [
          main,
          'merge',
          '--input',
          c!.path,
          '--out',
          join(outDir, 'o.safetensors'),
          '--grid',
          '2x2',
          '--backend',
          'cpu',
        ],
        { encoding: 'utf8', timeout: 20_000 },
      );
      assert.equal(r.signal, null, 'finished on its own');
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0]!.startsWith(`toma: ${join(dir, 'corpus')}`), lines[0]);
      if (c!.message) assert.match(lines[0]!, c!.message);
      assert.ok(!/root:|at .*\.js:\d+/.test(r.stderr), 'no file contents, no stack');
      assert.deepEqual(readdirSync(outDir), [], 'nothing written');
    });
  }
});
