// Vite build of the browser demo (web/): `npm run web` builds it and serves it on localhost.
// The engine's WGSL reaches the bundle through src/kernels/shaders.gen.ts (written by the build), and
// the embedded model's files through `?url` imports, so they are served in dev and copied by the build.
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('..', import.meta.url));

/**
 * Some engine modules serve Node and browsers alike and import node:fs for their Node-only paths (e.g.
 * Checkpoint in src/io/safetensors.ts, reached through FluxModel.load(path)). In the browser every
 * node: module resolves to stubs that throw when called: the bundle holds no Node code, and a browser
 * path that reached for the file system would fail with an error naming it.
 */
function nodeModulesUnavailable(): Plugin {
  const prefix = '\0node-unavailable:';
  return {
    name: 'toma:node-modules-unavailable',
    enforce: 'pre',
    resolveId(id) {
      return id.startsWith('node:') ? prefix + id : undefined;
    },
    async load(id) {
      if (!id.startsWith(prefix)) return undefined;
      const name = id.slice(prefix.length);
      const exported = Object.keys(await import(name)).filter(
        (k) => k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k),
      );
      return [
        'const unavailable = (what) => () => {',
        "  throw new Error(what + ' is not available in the browser');",
        '};',
        ...exported.map((k) => `export const ${k} = /* @__PURE__ */ unavailable('${name} ${k}');`),
        'export default {};',
      ].join('\n');
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  plugins: [nodeModulesUnavailable()],
  // the FLUX.1 worker (web/src/flux-worker.ts) is bundled separately: the same stubs, as an ES module
  worker: { format: 'es', plugins: () => [nodeModulesUnavailable()] },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2000 },
  server: { host: '127.0.0.1', port: 5173, fs: { allow: [repo] } },
  preview: { host: '127.0.0.1', port: 4173 },
});
