// `toma doctor` says what "passed" means: on the CPU backend (the reference itself) only some checks
// have a known answer, the others only ran and gave finite values; each row names what it was
// checked against.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkSummary } from '../../src/cli/commands/doctor.js';
import type { CheckRow } from '../../src/selfcheck.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function row(check: CheckRow['check'], ok = true): CheckRow {
  return { kernel: 'k', check, dtype: 'f32', path: 'p', shape: 's', error: 0, tolerance: 1e-4, ok, ms: 0 };
}

describe('toma doctor: what a passed check means', () => {
  it('--backend cpu separates known answers from finite-only checks, in the summary and per row', () => {
    const r = spawnSync(process.execPath, [main, 'doctor', '--backend', 'cpu', '--lite'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const m =
      /^all (\d+) checks passed: (\d+) match a known answer, (\d+) ran and gave finite values \(no known answer\)$/m.exec(
        r.stdout,
      );
    assert.ok(m, r.stdout);
    const [total, known, finite] = [Number(m[1]), Number(m[2]), Number(m[3])];
    assert.equal(known + finite, total);
    assert.ok(known > 0 && finite > 0);
    assert.doesNotMatch(r.stdout, /CPU reference {2}/, 'no row claims a comparison that did not happen');
    // the rows agree with the summary
    const rows = r.stdout.split('\n').filter((l) => / (known answer|finite only) /.test(l) && / ok /.test(l));
    assert.equal(rows.length, total);
    assert.equal(rows.filter((l) => / known answer /.test(l)).length, known);
    // a finite-only row shows no error or tolerance: nothing was compared
    assert.ok(rows.filter((l) => / finite only /.test(l)).every((l) => /finite only +- +- +ok/.test(l)));
    assert.match(r.stdout, /softmax +f32 .* known answer +\d\.\d\de[-+]\d+ +1e-4 +ok/);
  });

  it('the summary counts each kind, and failures first', () => {
    assert.equal(
      checkSummary([row('reference'), row('reference')]),
      'all 2 checks passed: 2 match the CPU reference',
    );
    const s = checkSummary([row('known-answer'), row('finite'), row('finite', false)]);
    assert.match(
      s,
      /^1 of 3 checks FAILED: 1 match a known answer, 1 ran and gave finite values \(no known answer\), 1 FAILED\n/,
    );
    assert.match(s, /the CPU backend is the reference/);
  });
});
