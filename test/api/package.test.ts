// The package as a user gets it: `npm pack`, installed into a fresh temporary project, and every
// README example that imports 'toma-webgpu' run there as written. Catches a wrong main/types/exports
// map, files missing from the tarball (the embedded model, dist), and examples that drifted from the API.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'toma-pack-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** The ```js blocks of the README that import the package. */
export function readmeExamples(readme: string): string[] {
  return [...readme.matchAll(/```js\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .filter((c) => /from 'toma-webgpu'/.test(c));
}

const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });

// npm is part of every Node install, but not of the GPU machine's packed Node: skip there, with a note
const npmMissing =
  spawnSync('npm', ['--version'], { stdio: 'ignore' }).status !== 0 ? 'npm is not installed' : false;

describe('the packed package', { skip: npmMissing }, () => {
  const examples = readmeExamples(readFileSync(join(root, 'README.md'), 'utf8'));
  const project = join(work, 'app');

  it('packs (dist and the embedded model included) and installs into a fresh project', () => {
    npm(['pack', '--ignore-scripts', '--pack-destination', work], root);
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    assert.ok(tgz, 'npm pack wrote no tarball');
    const list = execFileSync('tar', ['-tzf', join(work, tgz)], { encoding: 'utf8' });
    for (const f of [
      'package/dist/src/index.js',
      'package/dist/src/index.d.ts',
      'package/models/embedded/flux-embedded.safetensors',
      'package/models/embedded/conditioning.safetensors',
    ])
      assert.ok(list.includes(f), `${f} is missing from the tarball`);
    assert.ok(!list.includes('package/test/'), 'tests are packed');
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), '{ "name": "app", "private": true, "type": "module" }\n');
    npm(
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(work, tgz)],
      project,
    );
  });

  it('has README examples to run', () => {
    assert.ok(
      examples.length >= 3,
      `found ${examples.length} js examples importing toma-webgpu in README.md`,
    );
  });

  examples.forEach((code, i) => {
    it(`runs README example ${i + 1} as written`, () => {
      const file = join(project, `example-${i + 1}.mjs`);
      writeFileSync(file, code);
      const out = execFileSync(process.execPath, [file], {
        cwd: project,
        encoding: 'utf8',
        timeout: 240_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      assert.ok(out.length > 0, 'the example printed nothing');
    });
  });

  it('resolves the package root in Node and refuses deep imports it does not promise', () => {
    const probe = join(project, 'probe.mjs');
    writeFileSync(
      probe,
      `import * as api from 'toma-webgpu';
for (const k of ['pipeline', 'TextToImagePipeline', 'GeneratedImage', 'createBackend', 'FluxModel', 'generate', 'createMethod'])
  if (!(k in api)) throw new Error('missing export ' + k);
try { await import('toma-webgpu/dist/src/pipeline/generate.js'); throw new Error('deep import allowed'); }
catch (e) { if (e.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw e; }
console.log('ok');
`,
    );
    assert.equal(execFileSync(process.execPath, [probe], { cwd: project, encoding: 'utf8' }).trim(), 'ok');
  });
});
