// Runs the compiled tests (dist/test/**/*.test.js) with node:test.
// Where no Vulkan driver is configured and Debian's Chromium is installed, its SwiftShader ICD is
// used, so WGSL kernels really execute (on the CPU) in CI and on development machines.
//
// Every GPU test runs in guard mode (TOMA_GUARD=1 unless set: canaries around every buffer, checked
// after every launch) with Node's default robustness (off). Without arguments (npm test) the whole
// suite runs that way, then the kernel tests (ROBUST_PASS below) run again with robustness on
// (TOMA_ROBUST=1), the mode browsers always use. With arguments, only the test files whose path
// contains one of them run, once, in the mode the environment asks for
// (e.g. `TOMA_ROBUST=1 node tools/run-tests.mjs kernels/matmul`).
//
//   node tools/run-tests.mjs [PATH-SUBSTRING ...]

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { toolArgs } from './tool-args.mjs';

const root = new URL('..', import.meta.url).pathname;
const env = { ...process.env };
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!env.VK_ICD_FILENAMES && !env.VK_DRIVER_FILES && existsSync(swiftshader)) {
  env.VK_ICD_FILENAMES = swiftshader;
}
env.XDG_RUNTIME_DIR ??= '/tmp';
env.TOMA_GUARD ??= '1';

// The suite's promise is that the WGSL kernels run. Without an adapter they would all be skipped and
// the run would still look green, so a missing adapter fails loudly unless TOMA_ALLOW_NO_GPU=1 says a
// CPU-only run is what is wanted (then GPU tests skip, each with a note).
if (env.TOMA_ALLOW_NO_GPU === '1') env.TOMA_REQUIRE_GPU = '0';
else {
  env.TOMA_REQUIRE_GPU = '1';
  const probe = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "const { create, globals } = await import('webgpu'); Object.assign(globalThis, globals);" +
        'const a = await create([]).requestAdapter(); process.exit(a ? 0 : 1);',
    ],
    { env, cwd: root, stdio: 'ignore', timeout: 60_000 },
  );
  if (probe.status !== 0) {
    console.error(`npm test: no WebGPU adapter, so the WGSL kernel tests cannot run.
  On Debian/Ubuntu: apt install chromium libvulkan1 (SwiftShader, Vulkan on the CPU; found automatically).
  \`npm run doctor\` says what the machine offers. To run only the CPU tests: TOMA_ALLOW_NO_GPU=1 npm test`);
    process.exit(1);
  }
}

/** The second pass, robustness on: every WGSL kernel against its CPU reference (quick, ~1 min). */
const ROBUST_PASS = ['/test/kernels/', '/test/merge/', '/test/gpu/'];

function testFiles(filter) {
  const files = [];
  (function walk(dir) {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.test.js') && (filter.length === 0 || filter.some((f) => p.includes(f))))
        files.push(p);
    }
  })(join(root, 'dist/test'));
  if (files.length === 0) {
    console.error('no test files found under dist/test (did the build run?)');
    process.exit(1);
  }
  return files;
}

function run(files, extraEnv) {
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
    { stdio: 'inherit', env: { ...env, ...extraEnv } },
  );
  return r.status ?? 1;
}

const filter = toolArgs(import.meta.url, { options: {}, allowPositionals: true }).positionals;
let status = run(testFiles(filter), {});
if (filter.length === 0) {
  const robust = testFiles(ROBUST_PASS);
  console.log(`\n== again with robustness on (TOMA_ROBUST=1): ${robust.length} kernel test files ==\n`);
  const s2 = run(robust, { TOMA_ROBUST: '1' });
  status ||= s2;
}
process.exit(status);
