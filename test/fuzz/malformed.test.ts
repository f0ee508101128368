// Every file of the malformed corpus is refused by the rule it breaks, with one line that names the
// file, within a second, and without the process's peak memory growing by more than a small budget.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Checkpoint, SafetensorsError } from '../../src/io/safetensors.js';
import { parseSafetensors } from '../../src/io/safetensors-bytes.js';
import type { SafetensorsRule } from '../../src/io/safetensors-format.js';
import { malformedCases } from './malformed.js';

const dir = mkdtempSync(join(tmpdir(), 'toma-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const cases = malformedCases(dir);

const BUDGET_BYTES = 64 << 20;
const TIME_MS = 1000;

/** Every rule of the reader: the corpus must break each at least once. */
const RULES: SafetensorsRule[] = [
  'file',
  'too-short',
  'header-too-large',
  'header-length',
  'bom',
  'utf8',
  'json',
  'depth',
  'duplicate-key',
  'not-object',
  'metadata',
  'entry',
  'dtype',
  'dtype-unsupported',
  'shape',
  'offsets',
  'overflow',
  'misaligned',
  'size-mismatch',
  'start',
  'gap',
  'overlap',
  'alias',
  'truncated',
  'trailing',
  'index-json',
  'index-weight-map',
  'index-metadata',
  'index-path',
  'index-escape',
  'index-missing-shard',
  'index-missing-tensor',
];

/** The error `f` throws (it must throw). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  assert.fail('accepted a malformed input');
}

/** Peak resident memory so far, in bytes (maxRSS is the process's high-water mark, in KiB). */
const peak = () => process.resourceUsage().maxRSS * 1024;

describe('malformed safetensors corpus', () => {
  it('has at least 60 cases covering every rule', () => {
    assert.ok(cases.length >= 60, `${cases.length} cases`);
    assert.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'names are unique');
    const covered = new Set(cases.map((c) => c.rule));
    assert.deepEqual(
      RULES.filter((r) => !covered.has(r)),
      [],
    );
  });

  for (const c of cases) {
    it(`${c.name}: refused by rule ${c.rule}`, () => {
      (globalThis as { gc?: () => void }).gc?.();
      const before = peak();
      const t0 = performance.now();
      const e = thrown(() => Checkpoint.open(c.path).close());
      const ms = performance.now() - t0;
      const grew = peak() - before;
      assert.ok(e instanceof SafetensorsError, `not a SafetensorsError: ${String(e)}`);
      assert.equal(e.rule, c.rule, e.message);
      if (c.message) assert.match(e.message, c.message);
      assert.ok(!e.message.includes('\n'), 'one line');
      assert.ok(e.message.startsWith(dir), `names the file: ${e.message}`);
      assert.ok(!/root:|\0/.test(e.message), 'never prints what a file holds');
      assert.ok(ms < TIME_MS, `${ms.toFixed(0)} ms`);
      assert.ok(grew < BUDGET_BYTES, `peak memory grew by ${(grew / 2 ** 20).toFixed(1)} MiB`);
    });
  }

  it('the in-memory reader refuses the same files by the same rules', () => {
    const files = cases.filter((c) => c.path.endsWith('.safetensors') && isFile(c.path));
    assert.ok(files.length >= 60, `${files.length} files`);
    for (const c of files) {
      const e = thrown(() => parseSafetensors(readFileSync(c.path), c.name));
      assert.ok(e instanceof SafetensorsError, `${c.name}: ${String(e)}`);
      assert.equal(e.rule, c.rule, `${c.name}: ${e.message}`);
      assert.ok(e.message.startsWith(`${c.name}: `), e.message);
    }
  });
});

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}
