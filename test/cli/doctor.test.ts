// `toma doctor` end to end: it reports the robustness mode and guard mode, and its self-check runs in
// guard mode by default (so a user sees canaries checked). Plus: every command that makes a GPU
// backend takes --robust and --guard.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { noGpu } from '../helpers.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function toma(args: string[], env: Record<string, string | undefined> = {}) {
  const e = { ...process.env, ...env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete e[k];
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env: e });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('toma doctor: robustness and guard', { skip: noGpu }, () => {
  it('defaults: robustness off, guard on, canaries verified', () => {
    const r = toma(['doctor', '--backend', 'webgpu', '--lite'], {
      TOMA_ROBUST: undefined,
      TOMA_GUARD: undefined,
    });
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^robustness: off \(Node's default/m);
    assert.match(r.out, /^guard: on \(1280 canary bytes around every buffer/m);
    const m = /^guard: canaries verified after (\d+) launches and copies.*; none changed$/m.exec(r.out);
    assert.ok(m, r.out);
    assert.ok(Number(m[1]) > 20, `${m[1]} launches checked`);
  });

  it('--robust --no-guard', () => {
    const r = toma(['doctor', '--backend', 'webgpu', '--lite', '--robust', '--no-guard']);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^robustness: on \(--robust or TOMA_ROBUST=1/m);
    assert.match(r.out, /^guard: off \(--no-guard\)$/m);
    assert.doesNotMatch(r.out, /canaries verified/);
  });
});

describe('GPU flags on every command that makes a backend', () => {
  for (const cmd of ['generate', 'eval', 'doctor', 'forward', 'merge', 'serve', 'worker']) {
    it(`${cmd} --help documents --robust and the deprecated --unsafe-disable-robustness`, () => {
      const r = toma([cmd, '--help']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /--robust {2,}keep WebGPU's bounds clamps/);
      assert.match(r.out, /--unsafe-disable-robustness {2,}deprecated/);
      assert.match(r.out, cmd === 'doctor' ? /--no-guard/ : /--guard {2,}canaries/);
    });
  }
  it('--robust with --unsafe-disable-robustness is a usage error', () => {
    const r = toma(['doctor', '--backend', 'cpu', '--robust', '--unsafe-disable-robustness']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--robust and --unsafe-disable-robustness contradict each other/);
  });
});
