// `toma eval --real DIR` is checked before any generation: a missing path, a file, or a folder without
// images fails at once with one line, not after minutes of sampling.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'toma-eval-real-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('toma eval --real', () => {
  it('refuses a missing path, a file and a folder without images before generating', () => {
    const file = join(dir, 'a.txt');
    writeFileSync(file, 'x');
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    for (const [real, why] of [
      [join(dir, 'nowhere'), /no such folder/],
      [file, /not a folder of images/],
      [empty, /no \.png, \.jpg or \.jpeg files/],
    ] as const) {
      const t0 = performance.now();
      const r = spawnSync(
        process.execPath,
        [
          cli,
          'eval',
          '--backend',
          'cpu',
          '--seeds',
          '1',
          '--size',
          '8',
          '--steps',
          '1',
          '--real',
          real,
          '--out',
          join(dir, 'out'),
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      assert.notEqual(r.status, 0);
      const lines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('toma: '));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, why);
      assert.doesNotMatch(r.stderr + r.stdout, /\d+\/\d+ images/, 'no image was generated first');
      assert.ok(performance.now() - t0 < 20_000);
    }
  });
});
