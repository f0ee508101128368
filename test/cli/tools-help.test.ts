// Every script under tools/ answers --help with its usage (exit 0) and a bad argument with one line
// naming the script (exit 2), before it loads dist/ or opens a device. The Python training scripts
// (tools/train/) use argparse, and need torch, so they are not run here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const tools = fileURLToPath(new URL('../../../tools/', import.meta.url));
const scripts = ['', 'eval', 'device'].flatMap((sub) =>
  readdirSync(join(tools, sub))
    .filter((f) => /\.(mjs|sh)$/.test(f) && f !== 'tool-args.mjs')
    .map((f) => join(sub, f)),
);

function runTool(script: string, ...args: string[]) {
  const path = join(tools, script);
  const [cmd, pre] = script.endsWith('.sh') ? ['bash', [path]] : [process.execPath, [path]];
  const r = spawnSync(cmd, [...pre, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('tools/ --help', () => {
  it('finds the scripts', () => {
    assert.ok(scripts.includes('flux-random-checkpoint.mjs'));
    assert.ok(scripts.includes(join('device', 'gpu-suite.sh')));
  });
  for (const s of scripts) {
    it(`${s} --help prints its usage and exits 0`, () => {
      const r = runTool(s, '--help');
      assert.equal(r.code, 0, r.err);
      assert.ok(r.out.trim().split('\n').length >= 2, `usage of ${s}: ${r.out}`);
      assert.equal(r.err, '');
    });
    if (s.endsWith('.mjs'))
      it(`${s} --no-such-option is one line and exit 2`, () => {
        const r = runTool(s, '--no-such-option');
        assert.equal(r.code, 2);
        const name = s.split('/').pop()!;
        assert.match(
          r.err,
          new RegExp(
            `^${name.replace('.', '\\.')}: Unknown option '--no-such-option'.*\\(--help for usage\\)\\n$`,
          ),
        );
      });
  }
  it('flux-random-checkpoint.mjs refuses a bad --layout with a line, not a stack trace', () => {
    const r = runTool(
      'flux-random-checkpoint.mjs',
      '--out',
      '/nonexistent/x.safetensors',
      '--layout',
      'weird',
    );
    assert.equal(r.code, 2);
    assert.equal(
      r.err,
      'flux-random-checkpoint.mjs: --layout must be original or diffusers; got "weird" (--help for usage)\n',
    );
  });
});
