// Runs the compiled tests (dist/test/**/*.test.js) with node:test.
// Where no Vulkan driver is configured and Debian's Chromium is installed, its SwiftShader ICD is
// used, so WGSL kernels really execute (on the CPU) in CI and on development machines.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const env = { ...process.env };
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!env.VK_ICD_FILENAMES && !env.VK_DRIVER_FILES && existsSync(swiftshader)) {
  env.VK_ICD_FILENAMES = swiftshader;
}
env.XDG_RUNTIME_DIR ??= '/tmp';

const filter = process.argv.slice(2);
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
const r = spawnSync(
  process.execPath,
  ['--expose-gc', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  {
    stdio: 'inherit',
    env,
  },
);
process.exit(r.status ?? 1);
