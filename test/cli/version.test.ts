// `toma --version` (and -v, version): the package's version from package.json, exit 0.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
// dist/test/cli/ -> the repository root
const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));

function toma(args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('toma --version', () => {
  for (const flag of ['--version', '-v', 'version']) {
    it(`${flag} prints "toma-webgpu <version>" and exits 0`, () => {
      const r = toma([flag]);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, `toma-webgpu ${pkg.version}\n`);
      assert.equal(r.err, '');
    });
  }
  it('the version is a semver string, and --help mentions --version', () => {
    assert.match(pkg.version, /^\d+\.\d+\.\d+/);
    const r = toma(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /toma --version/);
  });
});
