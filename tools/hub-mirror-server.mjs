// Serves folders at the Hugging Face hub's URLs, for a machine without internet access (or a test):
//   node tools/hub-mirror-server.mjs --root DIR [--port 8090] [--host 127.0.0.1]
// DIR holds one folder per repo, DIR/<org>/<name>/ (e.g. one made by tools/make-random-flux-folder.mjs).
// Then `HF_ENDPOINT=http://127.0.0.1:8090 toma generate --model org/name ...` downloads from it into the
// Hugging Face cache. Needs a build (npm run build).
import { existsSync, statSync } from 'node:fs';
import { toolArgs, usageError } from './tool-args.mjs';

const { values: a } = toolArgs(import.meta.url, {
  options: {
    root: { type: 'string' },
    port: { type: 'string', default: '8090' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
if (!a.root) usageError(import.meta.url, '--root DIR is required');
const { startHubMirror } = await import(new URL('../dist/src/hub/mirror-server.js', import.meta.url).href);
if (!existsSync(a.root) || !statSync(a.root).isDirectory()) {
  console.error(`hub-mirror-server: --root ${a.root} is not a folder`);
  process.exit(2);
}
const port = Number(a.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`hub-mirror-server: --port must be an integer from 0 to 65535, got "${a.port}"`);
  process.exit(2);
}
let mirror;
try {
  mirror = await startHubMirror({ root: a.root, port, host: a.host });
} catch (e) {
  console.error(`hub-mirror-server: cannot listen on ${a.host}:${port} (${e.code ?? e.message})`);
  process.exit(1);
}
console.log(`serving ${a.root} as a hub: HF_ENDPOINT=${mirror.url}`);
process.on('SIGINT', () => mirror.close().then(() => process.exit(0)));
