// Attacks the built CLI the way issue 14's reporter did and counts what happens: several hundred probes
// of `node dist/src/cli/main.js ... --backend cpu` (and of every script under tools/), each a child
// process with a timeout and a memory watch, in a fresh temporary workspace. Families: the malformed
// corpus of test/fuzz/malformed.ts through `merge --input`, `forward --inputs` and `forward
// --checkpoint`; shard indexes; absurd configs; non-files as every input option; output paths; bad
// arguments; tools; NaN/Inf values; huge-but-valid headers; signals. Needs a build (npm run build).
//
//   node tools/hostile-probe.mjs [--json FILE] [--jobs 2] [--timeout 60] [--filter TEXT] [--keep]
//
// Each probe is classified as one of
//   rejected     exit 1/2/3 with exactly one `toma: ` line (`<script>: ` for tools), naming the file
//                where one is at fault, no stack trace, no internal text, nothing written
//   succeeded    exit 0 where success is right, with its outputs (and finite values where checked)
//   interrupted  a signal answered with exit 130 within 2 s, one `toma: interrupted` line, no files
// or a failure: crash (a signal, exit 134, a stack trace or internal text such as "Invalid typed
// array length" or a raw errno), hang (killed at the timeout), input-destroyed (an input's hash
// changed), symlink-write (a planted link's target changed or was created), leftover (a temporary or
// partial file left behind), memory (peak RSS above the budget: 256 MiB + 8 x the bytes the probe's
// inputs occupy on disk), unclear (no single readable line, or it does not name the file at fault),
// accepted (a malformed or invalid input ran to completion), refused (a valid run was refused).
// Prints a table of family x class counts; --json writes every probe (command, exit code, ms, peak
// RSS, class, problems, first stderr line). Exit status 1 when any probe failed.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { arch, cpus, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { intArg, toolArgs, usageError } from './tool-args.mjs';

const url = import.meta.url;
const { values: opt } = toolArgs(url, {
  options: {
    json: { type: 'string' },
    jobs: { type: 'string', default: '2' },
    timeout: { type: 'string', default: '60' },
    filter: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const jobs = intArg(url, opt.jobs, 'jobs', 1);
const timeoutMs = intArg(url, opt.timeout, 'timeout', 1) * 1000;

const root = fileURLToPath(new URL('..', url));
const main = join(root, 'dist/src/cli/main.js');
const corpusModule = join(root, 'dist/test/fuzz/malformed.js');
if (!existsSync(main) || !existsSync(corpusModule)) usageError(url, 'no build: run npm run build first');
const { malformedCases, safetensorsBytes } = await import(corpusModule);
const { writeSafetensors } = await import(join(root, 'dist/src/io/safetensors.js'));

const MiB = 1 << 20;
/** Peak RSS allowed: a fixed budget for node and the program, plus a small multiple of the inputs. */
const FIXED_BUDGET = 256 * MiB;
const INPUT_FACTOR = 8;

// ---------------------------------------------------------------- workspace and fixtures
const ws = mkdtempSync(join(tmpdir(), 'toma-hostile-'));
const fx = join(ws, 'fx');
mkdirSync(fx);
const P = (...p) => join(ws, ...p);

function runTool(script, args) {
  execFileSync(process.execPath, [join(root, 'tools', script), ...args], { stdio: 'pipe' });
}
// a valid tiny FLUX checkpoint with its inputs, a sharded one, a larger one for Ctrl-C, a random folder
runTool('flux-random-checkpoint.mjs', ['--out', P('fx/ck.safetensors'), '--inputs', P('fx/in.safetensors')]);
runTool('flux-random-checkpoint.mjs', ['--out', P('fx/sharded/model.safetensors'), '--shards', '2']);
runTool('flux-random-checkpoint.mjs', [
  '--out',
  P('fx/big-ck.safetensors'),
  '--inputs',
  P('fx/big-in.safetensors'),
  '--rows',
  '128',
  '--cols',
  '128',
]);
runTool('make-random-flux-folder.mjs', ['--out', P('fx/tinyflux'), '--preset', 'tiny', '--threads', '1']);
const ck = P('fx/ck.safetensors');
const inputs = P('fx/in.safetensors');
const sharded = P('fx/sharded');
const shardIndex = join(sharded, 'model.safetensors.index.json');
const shardNames = readdirSync(sharded).filter((n) => n.endsWith('.safetensors'));

const F32 = (shape, f = (i) => Math.sin(i * 0.37)) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'F32', shape, data: Float32Array.from({ length: n }, (_, i) => f(i)) };
};
const x = P('fx/x.safetensors');
writeSafetensors(x, { x: F32([1, 16, 8]) });
const victim = P('fx/victim.txt');
writeFileSync(victim, 'the victim: a file no probe may change\n');

/** Reads a safetensors file into { header, data } (header: the parsed JSON). */
function readRaw(path) {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.subarray(8, 8 + n).toString()), data: b.subarray(8 + n) };
}
/** Writes a header object (or JSON text) and data bytes as a safetensors file. */
function writeRaw(path, header, data = new Uint8Array(0), prefix) {
  writeFileSync(path, safetensorsBytes(header, data, prefix));
  return path;
}
/** The tiny checkpoint with __metadata__.config replaced by `config` (a string). */
function ckWithConfig(name, config) {
  const { header, data } = readRaw(ck);
  header.__metadata__ = { config };
  return writeRaw(P('fx', `${name}.safetensors`), header, data);
}
/** The forward inputs with one tensor's values changed by `edit(values)`. */
function inputsWith(name, key, edit) {
  const { header, data } = readRaw(inputs);
  const d = new Uint8Array(data);
  const [b, e] = header[key].data_offsets;
  edit(new Float32Array(d.buffer, b, (e - b) / 4));
  return writeRaw(P('fx', `${name}.safetensors`), header, d);
}

// ---------------------------------------------------------------- hashing inputs and victims
function fingerprint(path) {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return 'absent';
  }
  if (st.isSymbolicLink()) {
    let target = '';
    try {
      const t = statSync(path);
      if (t.isFile()) target = fingerprintFile(path, t.size);
    } catch {}
    return `link:${readlinkSync(path)}:${target}`;
  }
  if (st.isDirectory())
    return `dir:${readdirSync(path)
      .sort()
      .map((n) => `${n}=${fingerprint(join(path, n))}`)
      .join(',')}`;
  if (st.isFile()) return fingerprintFile(path, st.size);
  return `special:${st.mode}`; // never opened: a FIFO would block
}
/** sha256 of a file; of its size and first and last MiB for a large (sparse) one. */
function fingerprintFile(path, size) {
  const h = createHash('sha256');
  if (size <= 64 * MiB) h.update(readFileSync(path));
  else {
    const fd = openSync(path, 'r');
    const buf = Buffer.alloc(MiB);
    h.update(buf.subarray(0, readSync(fd, buf, 0, MiB, 0)));
    h.update(buf.subarray(0, readSync(fd, buf, 0, MiB, size - MiB)));
    closeSync(fd);
    h.update(String(size));
  }
  return h.digest('hex');
}
/** Bytes a path occupies on disk (a sparse file counts what it holds, not its length). */
function diskBytes(path) {
  try {
    const st = statSync(path);
    if (st.isFile()) return Math.min(st.size, st.blocks * 512);
    if (st.isDirectory()) return readdirSync(path).reduce((a, n) => a + diskBytes(join(path, n)), 0);
  } catch {}
  return 0;
}
/** Every entry under `dir` (relative paths), not following links. */
function walk(dir, base = dir, out = []) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    out.push(relative(base, p));
    try {
      if (lstatSync(p).isDirectory()) walk(p, base, out);
    } catch {}
  }
  return out;
}

// ---------------------------------------------------------------- probes
/**
 * A probe: `args` for the CLI (or `cmd` + `args` for another program), what it reads (`inputs`: their
 * hashes must not change), where it writes (`outDir`: nothing may be left there on a rejection),
 * `expect` ('reject' | 'success' | 'either' | 'interrupt'), `mention` (text the error line must hold),
 * `outputs` (files a success must write), `victims` (files that must stay as they are, or absent),
 * `check(result)` (extra problems), `signals` ({ after: RegExp on stdout+stderr, send: [...] }).
 */
const probes = [];
let nextOut = 0;
function outDir() {
  const d = P('out', String(nextOut++));
  mkdirSync(d, { recursive: true });
  return d;
}
function probe(family, name, p) {
  probes.push({ family, name, cmd: process.execPath, prefix: [main], expect: 'reject', ...p });
}
const cpu = ['--backend', 'cpu'];

// ---- 1. the malformed corpus through three input options
const corpus = malformedCases(P('corpus'));
for (const c of corpus) {
  // an index case may be refused for its shard (named by its path inside the case's folder)
  const file = c.name.startsWith('index-') ? c.name : basename(c.path);
  const cOut = () => {
    const d = outDir();
    return { d, o: join(d, 'o.safetensors') };
  };
  {
    const { d, o } = cOut();
    probe('corpus: merge --input', c.name, {
      args: ['merge', ...cpu, '--input', c.path, '--out', o, '--grid', '2x2'],
      inputs: [c.path],
      outDir: d,
      mention: file,
      message: c.message,
    });
  }
  {
    const { d, o } = cOut();
    probe('corpus: forward --inputs', c.name, {
      args: ['forward', ...cpu, '--checkpoint', ck, '--inputs', c.path, '--out', o],
      inputs: [c.path, ck],
      outDir: d,
      mention: file,
      message: c.message,
    });
  }
  {
    const { d, o } = cOut();
    probe('corpus: forward --checkpoint', c.name, {
      args: ['forward', ...cpu, '--checkpoint', c.path, '--inputs', inputs, '--out', o],
      inputs: [c.path, inputs],
      outDir: d,
      mention: file,
      message: c.message,
    });
  }
}

// ---- 2. shard indexes built on a real sharded checkpoint (valid shards everywhere but the one at fault)
const outside = P('fx/outside');
mkdirSync(outside);
copyFileSync(join(sharded, shardNames[0]), join(outside, shardNames[0]));
const goodMap = JSON.parse(readFileSync(shardIndex, 'utf8'));
const firstTensor = Object.keys(goodMap.weight_map).find((k) => goodMap.weight_map[k] === shardNames[0]);
function indexProbe(name, edit, expect = 'reject', setup) {
  const d = P('fx', `idx-${name}`);
  cpSync(sharded, d, { recursive: true });
  const index = JSON.parse(JSON.stringify(goodMap));
  const body = edit(index, d);
  const path = join(d, 'model.safetensors.index.json');
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body ?? index));
  setup?.(d);
  const od = outDir();
  probe('shard index', name, {
    args: ['forward', ...cpu, '--checkpoint', path, '--inputs', inputs, '--out', join(od, 'o.safetensors')],
    inputs: [d, inputs, outside],
    victims: [victim],
    outDir: od,
    expect,
    mention: expect === 'reject' ? basename(d) : undefined,
    outputs: expect === 'success' ? [join(od, 'o.safetensors')] : undefined,
  });
  // the folder as --checkpoint too (found through the index)
  if (expect !== 'success') {
    const od2 = outDir();
    probe('shard index', `${name} (folder)`, {
      args: ['forward', ...cpu, '--checkpoint', d, '--inputs', inputs, '--out', join(od2, 'o.safetensors')],
      inputs: [d, inputs, outside],
      victims: [victim],
      outDir: od2,
      expect,
      mention: basename(d),
    });
  }
}
indexProbe('valid', () => undefined, 'success');
indexProbe('dotdot to a valid shard', (ix) => {
  ix.weight_map[firstTensor] = `../outside/${shardNames[0]}`;
});
indexProbe('dotdot to /etc/passwd', (ix) => {
  ix.weight_map[firstTensor] = '../../../../../../../../etc/passwd';
});
indexProbe('absolute to a valid shard', (ix) => {
  ix.weight_map[firstTensor] = join(outside, shardNames[0]);
});
indexProbe('absolute /dev/zero', (ix) => {
  ix.weight_map[firstTensor] = '/dev/zero';
});
indexProbe(
  'symlink escaping to a valid shard',
  (ix) => {
    ix.weight_map[firstTensor] = 'escape.safetensors';
  },
  'reject',
  (d) => symlinkSync(join(outside, shardNames[0]), join(d, 'escape.safetensors')),
);
indexProbe(
  'symlinked folder escaping',
  (ix) => {
    ix.weight_map[firstTensor] = `up/${shardNames[0]}`;
  },
  'reject',
  (d) => symlinkSync(outside, join(d, 'up')),
);
indexProbe(
  'symlink to the victim',
  (ix) => {
    ix.weight_map[firstTensor] = 'v.safetensors';
  },
  'reject',
  (d) => symlinkSync(victim, join(d, 'v.safetensors')),
);
indexProbe(
  'symlink inside the folder (allowed)',
  (ix) => {
    for (const k of Object.keys(ix.weight_map))
      if (ix.weight_map[k] === shardNames[0]) ix.weight_map[k] = 'alias.safetensors';
  },
  'success',
  (d) => symlinkSync(shardNames[0], join(d, 'alias.safetensors')),
);
for (const [n, v] of [
  ['value number', 1],
  ['value null', null],
  ['value array', [shardNames[0]]],
  ['value object', { file: shardNames[0] }],
  ['value true', true],
  ['value empty string', ''],
  ['value "."', '.'],
  ['value trailing slash', `${shardNames[0]}/`],
  ['value NUL', `${shardNames[0]}\0`],
  ['value backslash', `..\\outside\\${shardNames[0]}`],
  ['value the index itself', 'model.safetensors.index.json'],
  ['value percent-encoded dotdot', `%2e%2e/outside/${shardNames[0]}`],
  ['value 5000-char name', `${'a'.repeat(5000)}.safetensors`],
  ['value missing shard', 'gone.safetensors'],
])
  indexProbe(n, (ix) => {
    ix.weight_map[firstTensor] = v;
  });
indexProbe('tensor dropped from weight_map', (ix) => {
  delete ix.weight_map[firstTensor];
});
indexProbe('tensor not in its shard', (ix) => {
  ix.weight_map['not.a.tensor'] = shardNames[0];
});
indexProbe('tensor mapped to the other shard', (ix) => {
  ix.weight_map[firstTensor] = shardNames[1];
});
indexProbe('empty weight_map', (ix) => {
  ix.weight_map = {};
});
indexProbe('weight_map __proto__ key', () => `{"weight_map":{"__proto__":"${shardNames[0]}"}}`);
indexProbe('metadata config depth 1e6', (ix) => {
  ix.metadata = { config: JSON.stringify({ ...JSON.parse(ix.metadata.config), depth: 1e6 }) };
});
indexProbe('metadata array', (ix) => {
  ix.metadata = [1];
});
indexProbe(
  'shard is a folder',
  (ix) => {
    ix.weight_map[firstTensor] = 'sub.safetensors';
  },
  'reject',
  (d) => mkdirSync(join(d, 'sub.safetensors')),
);
indexProbe(
  'shard is a FIFO',
  (ix) => {
    ix.weight_map[firstTensor] = 'p.safetensors';
  },
  'reject',
  (d) => execFileSync('mkfifo', [join(d, 'p.safetensors')]),
);
indexProbe(
  'shard is a malformed file',
  (ix) => {
    ix.weight_map[firstTensor] = 'bad.safetensors';
  },
  'reject',
  (d) => writeFileSync(join(d, 'bad.safetensors'), 'not a safetensors file at all'),
);
indexProbe('index not JSON', () => '{"weight_map": {');
indexProbe('index with BOM', (ix) => `\ufeff${JSON.stringify(ix)}`);
indexProbe('index nested 1e5', () => '['.repeat(100_000));

// ---- 3. absurd configs: --config JSON and __metadata__.config
const tinyConfig = JSON.parse(readRaw(ck).header.__metadata__.config);
const configCases = [
  ['depth 1e6', { depth: 1e6 }],
  ['depth_single_blocks 1e9', { depth_single_blocks: 1e9 }],
  ['hidden_size 1e9', { hidden_size: 1e9 }],
  ['in_channels 1e9', { in_channels: 1e9 }],
  ['context_in_dim 1e12', { context_in_dim: 1e12 }],
  ['num_heads 0', { num_heads: 0 }],
  ['num_heads -2', { num_heads: -2 }],
  ['depth -1', { depth: -1 }],
  ['depth 2.5', { depth: 2.5 }],
  ['depth "2"', { depth: '2' }],
  ['depth null', { depth: null }],
  ['depth nested object', { depth: { a: { b: 1 } } }],
  ['depth array', { depth: [2] }],
  ['mlp_ratio 1e300', { mlp_ratio: 1e300 }],
  ['mlp_ratio 0', { mlp_ratio: 0 }],
  ['theta -1', { theta: -1 }],
  ['axes_dim [1e9]', { axes_dim: [1e9] }],
  ['axes_dim of 10000', { axes_dim: Array(10000).fill(1) }],
  ['axes_dim empty', { axes_dim: [] }],
  ['axes_dim strings', { axes_dim: ['8', '12', '12'] }],
  ['axes_dim not summing', { axes_dim: [8, 8, 8] }],
  ['qkv_bias "yes"', { qkv_bias: 'yes' }],
  ['guidance_embed 1', { guidance_embed: 1 }],
  ['hidden not divisible by heads', { num_heads: 3 }],
  [
    'within bounds, far too large',
    { hidden_size: 30720, num_heads: 240, depth: 190, axes_dim: [32, 48, 48] },
  ],
  ['within bounds, mismatching', { depth: 3 }],
];
for (const [n, patch] of configCases) {
  const json = JSON.stringify({ ...tinyConfig, ...patch });
  const od = outDir();
  probe('config: --config JSON', n, {
    args: [
      'forward',
      ...cpu,
      '--checkpoint',
      ck,
      '--inputs',
      inputs,
      '--out',
      join(od, 'o.safetensors'),
    ].concat(['--config', json]),
    inputs: [ck, inputs],
    outDir: od,
  });
  const file = ckWithConfig(`cfg-${nextOut}`, json);
  const od2 = outDir();
  probe('config: __metadata__.config', n, {
    args: ['forward', ...cpu, '--checkpoint', file, '--inputs', inputs, '--out', join(od2, 'o.safetensors')],
    inputs: [file, inputs],
    outDir: od2,
    // the memory estimate speaks of the run, not of the file
    mention: n.includes('far too large') ? undefined : basename(file),
  });
}
// valid readings of odd JSON: the config that results is the tiny one, so the run may succeed
const EITHER_CONFIGS = new Set(['__proto__ depth 1e6', 'duplicate depth', 'empty string']);
for (const [n, text] of [
  ['not JSON', '{depth: 2'],
  ['NaN literal', '{"depth": NaN}'],
  ['1e309 (Infinity)', JSON.stringify(tinyConfig).replace('"theta":10000', '"theta":1e309')],
  ['array', '[]'],
  ['null', 'null'],
  ['a string', '"flux-tiny"'],
  ['empty object', '{}'],
  ['__proto__ depth 1e6', `{"__proto__":{"depth":1000000},${JSON.stringify(tinyConfig).slice(1)}`],
  ['nested 1e4', '['.repeat(10_000)],
  ['duplicate depth', `{"depth":1000000,${JSON.stringify(tinyConfig).slice(1)}`],
  ['unknown preset', 'flux-huge'],
  ['preset "constructor"', 'constructor'],
  ['preset "__proto__"', '__proto__'],
  ['preset "toString"', 'toString'],
  ['preset flux-dev on a tiny checkpoint', 'flux-dev'],
  ['empty string', ''],
  ['diffusers names, 1e6 layers', JSON.stringify({ num_layers: 1e6, num_single_layers: 2 })],
]) {
  const od = outDir();
  probe('config: --config JSON', n, {
    args: [
      'forward',
      ...cpu,
      '--checkpoint',
      ck,
      '--inputs',
      inputs,
      '--out',
      join(od, 'o.safetensors'),
    ].concat(['--config', text]),
    inputs: [ck, inputs],
    outDir: od,
    expect: EITHER_CONFIGS.has(n) ? 'either' : 'reject',
  });
  if (n === 'unknown preset' || n === 'empty string' || n.startsWith('preset')) continue;
  const file = ckWithConfig(`cfg-${nextOut}`, text);
  const od2 = outDir();
  probe('config: __metadata__.config', n, {
    args: ['forward', ...cpu, '--checkpoint', file, '--inputs', inputs, '--out', join(od2, 'o.safetensors')],
    inputs: [file, inputs],
    outDir: od2,
    expect: EITHER_CONFIGS.has(n) ? 'either' : 'reject',
    mention: EITHER_CONFIGS.has(n) ? undefined : basename(file),
  });
}
for (const comp of ['t5', 'clip', 'ae']) {
  const od = outDir();
  probe('config: --config JSON', `--component ${comp} with a FLUX checkpoint`, {
    args: [
      'forward',
      ...cpu,
      '--component',
      comp,
      '--checkpoint',
      ck,
      '--inputs',
      inputs,
      '--out',
      join(od, 'o.safetensors'),
    ],
    inputs: [ck, inputs],
    outDir: od,
  });
}
for (const [comp, cfg] of [
  ['t5', { num_layers: 1e6, d_model: 4096, vocab_size: 32128 }],
  ['clip', { num_hidden_layers: 1e6, hidden_size: 768 }],
  ['ae', { levels: 1e6 }],
]) {
  const od = outDir();
  probe('config: --config JSON', `--component ${comp} --config ${JSON.stringify(cfg)}`, {
    args: [
      'forward',
      ...cpu,
      '--component',
      comp,
      '--checkpoint',
      ck,
      '--inputs',
      inputs,
      '--out',
      join(od, 'o.safetensors'),
      '--config',
      JSON.stringify(cfg),
    ],
    inputs: [ck, inputs],
    outDir: od,
  });
}
{
  // a random FLUX folder whose transformer config.json asks for 1e6 blocks
  const d = P('fx/tinyflux-deep');
  cpSync(P('fx/tinyflux'), d, { recursive: true });
  const cfgPath = join(d, 'transformer/config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  cfg.num_layers = 1e6;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const od = outDir();
  probe('config: config.json', 'model folder transformer num_layers 1e6', {
    args: [
      'generate',
      ...cpu,
      '--model-dir',
      d,
      '--prompt',
      'x',
      '--size',
      '64',
      '--steps',
      '1',
      '--out',
      od,
    ],
    inputs: [d],
    outDir: od,
    mention: 'config.json',
  });
  const d2 = P('fx/tinyflux-t5');
  cpSync(P('fx/tinyflux'), d2, { recursive: true });
  const t5 = join(d2, 'text_encoder_2/config.json');
  writeFileSync(t5, JSON.stringify({ ...JSON.parse(readFileSync(t5, 'utf8')), d_model: 1e9 }));
  const od2 = outDir();
  probe('config: config.json', 'model folder t5 d_model 1e9', {
    args: [
      'generate',
      ...cpu,
      '--model-dir',
      d2,
      '--prompt',
      'x',
      '--size',
      '64',
      '--steps',
      '1',
      '--out',
      od2,
    ],
    inputs: [d2],
    outDir: od2,
    mention: 'd_model',
  });
  const d3 = P('fx/tinyflux-vae');
  cpSync(P('fx/tinyflux'), d3, { recursive: true });
  writeFileSync(join(d3, 'vae/config.json'), '{"block_out_channels": [1e9, 1e9]}');
  const od3 = outDir();
  probe('config: config.json', 'model folder vae block_out_channels 1e9', {
    args: [
      'generate',
      ...cpu,
      '--model-dir',
      d3,
      '--prompt',
      'x',
      '--size',
      '64',
      '--steps',
      '1',
      '--out',
      od3,
    ],
    inputs: [d3],
    outDir: od3,
    // the autoencoder's sizes come from its tensors; a config field it does not read may say anything
    expect: 'either',
  });
}

// ---- 4. things that are not regular files, as every input option
const special = P('fx/special');
mkdirSync(special);
const fifo = join(special, 'fifo.safetensors');
execFileSync('mkfifo', [fifo]);
const loop = join(special, 'loop.safetensors');
symlinkSync('loop.safetensors', loop);
const emptyDir = join(special, 'empty-dir');
mkdirSync(emptyDir);
const sock = join(special, 'sock.safetensors');
const server = createServer().listen(sock);
await new Promise((r) => server.once('listening', r));
const specials = [
  ['FIFO', fifo],
  ['/dev/zero', '/dev/zero'],
  ['/dev/urandom', '/dev/urandom'],
  ['/dev/null', '/dev/null'],
  ['empty folder', emptyDir],
  ['symlink loop', loop],
  ['socket', sock],
  ['missing file', join(special, 'absent.safetensors')],
  ['file with a trailing slash', `${x}/`],
];
const genFlux = (od) => ['generate', ...cpu, '--prompt', 'x', '--size', '64', '--steps', '1', '--out', od];
const inputOptions = [
  [
    'merge --input',
    (p, o) => ['merge', ...cpu, '--input', p, '--out', join(o, 'o.safetensors'), '--grid', '4x4'],
  ],
  [
    'forward --inputs',
    (p, o) => ['forward', ...cpu, '--checkpoint', ck, '--inputs', p, '--out', join(o, 'o.safetensors')],
  ],
  [
    'forward --checkpoint',
    (p, o) => ['forward', ...cpu, '--checkpoint', p, '--inputs', inputs, '--out', join(o, 'o.safetensors')],
  ],
  [
    'forward --config',
    (p, o) => [
      'forward',
      ...cpu,
      '--checkpoint',
      ck,
      '--inputs',
      inputs,
      '--config',
      p,
      '--out',
      join(o, 'o.safetensors'),
    ],
  ],
  [
    'generate --checkpoint (embedded)',
    (p, o) => [
      'generate',
      ...cpu,
      '--size',
      '16',
      '--steps',
      '1',
      '--no-compare',
      '--checkpoint',
      p,
      '--conditioning',
      x,
      '--out',
      o,
    ],
  ],
  [
    'generate --conditioning',
    (p, o) => [
      'generate',
      ...cpu,
      '--size',
      '16',
      '--steps',
      '1',
      '--no-compare',
      '--checkpoint',
      ck,
      '--conditioning',
      p,
      '--out',
      o,
    ],
  ],
  ['generate --model-dir', (p, o) => [...genFlux(o), '--model-dir', p]],
  ['generate --model', (p, o) => [...genFlux(o), '--model', p]],
  ['generate --ae', (p, o) => [...genFlux(o), '--model-dir', P('fx/tinyflux'), '--ae', p]],
  ['generate --t5', (p, o) => [...genFlux(o), '--model-dir', P('fx/tinyflux'), '--t5', p]],
  [
    'eval --real',
    (p, o) => [
      'eval',
      ...cpu,
      '--seeds',
      '1',
      '--size',
      '16',
      '--steps',
      '1',
      '--features',
      'none',
      '--methods',
      'toma',
      '--real',
      p,
      '--out',
      o,
    ],
  ],
  ['eval --from', (p, o) => ['eval', '--from', p, '--features', 'none', '--out', o]],
];
for (const [opt, build] of inputOptions)
  for (const [what, path] of specials) {
    const od = outDir();
    probe(`not a file: ${opt}`, what, {
      args: build(path, od),
      inputs: [x, ck, inputs],
      outDir: od,
      // the config option takes a preset name or JSON text, so a path is refused as neither
      mention: opt === 'forward --config' ? undefined : basename(path),
    });
  }

// ---- 5. output paths
// Devices as outputs: as root, a program that renames over /dev/full replaces the machine's device node
// with a file, so the probes use device nodes of their own in the workspace where mknod is allowed.
const devNode = (name, minor, fallback) => {
  const p = P('fx', name);
  try {
    execFileSync('mknod', ['-m', '666', p, 'c', '1', String(minor)], { stdio: 'ignore' });
    return p;
  } catch {
    return fallback;
  }
};
const devFull = devNode('full', 7, '/dev/full');
const devNull = devNode('null', 3, '/dev/null');
const outputCases = (cmd, input, others = []) => {
  const base = (o) =>
    cmd === 'merge'
      ? ['merge', ...cpu, '--input', input, '--out', o, '--grid', '8x8']
      : ['forward', ...cpu, '--checkpoint', ck, '--inputs', input, '--out', o];
  const fam = `output: ${cmd} --out`;
  const ins = [input, ck, ...others];
  const rel = relative(ws, input);
  const cases = [
    ['the input itself', input],
    ['./relative path to the input', `./${rel}`],
    ['path with .. to the input', join(dirname(input), '..', basename(dirname(input)), basename(input))],
  ];
  for (const [n, o] of cases)
    probe(fam, n, { args: base(o), inputs: ins, cwd: ws, outDir: outDir(), mention: '--out' });
  {
    const d = outDir();
    const hl = join(d, 'hardlink.safetensors');
    linkSync(input, hl);
    probe(fam, 'a hard link to the input', {
      args: base(hl),
      inputs: ins,
      outDir: d,
      preexisting: true,
      mention: '--out',
    });
  }
  {
    const d = outDir();
    const sl = join(d, 'symlink.safetensors');
    symlinkSync(input, sl);
    probe(fam, 'a symlink to the input', {
      args: base(sl),
      inputs: ins,
      outDir: d,
      preexisting: true,
      mention: '--out',
    });
  }
  if (cmd === 'forward') {
    probe(fam, 'the checkpoint', { args: base(ck), inputs: ins, outDir: outDir(), mention: '--out' });
    probe(fam, 'a shard of the checkpoint', {
      args: [
        'forward',
        ...cpu,
        '--checkpoint',
        sharded,
        '--inputs',
        input,
        '--out',
        join(sharded, shardNames[1]),
      ],
      inputs: [sharded, input],
      outDir: outDir(),
      mention: '--out',
    });
    probe(fam, 'the index of the checkpoint', {
      args: ['forward', ...cpu, '--checkpoint', shardIndex, '--inputs', input, '--out', shardIndex],
      inputs: [sharded, input],
      outDir: outDir(),
      mention: '--out',
    });
    probe(fam, 'a new file inside the sharded checkpoint folder', {
      args: [
        'forward',
        ...cpu,
        '--checkpoint',
        sharded,
        '--inputs',
        input,
        '--out',
        join(sharded, 'new.safetensors'),
      ],
      inputs: [sharded, input],
      outDir: outDir(),
      mention: '--out',
      victims: [join(sharded, 'new.safetensors')],
    });
  }
  {
    const d = outDir();
    mkdirSync(join(d, 'folder'));
    probe(fam, 'an existing folder', {
      args: base(join(d, 'folder')),
      inputs: ins,
      outDir: d,
      preexisting: true,
      mention: 'folder',
    });
  }
  {
    const d = outDir();
    probe(fam, 'a missing parent folder', {
      args: base(join(d, 'no/such/dir/o.safetensors')),
      inputs: ins,
      outDir: d,
      mention: 'no/such/dir',
    });
  }
  {
    const d = outDir();
    writeFileSync(join(d, 'file'), 'a file');
    probe(fam, 'a parent that is a file', {
      args: base(join(d, 'file/o.safetensors')),
      inputs: ins,
      outDir: d,
      preexisting: true,
      mention: 'file',
    });
  }
  for (const dev of [devFull, devNull])
    probe(fam, `a device (${basename(dev)})`, {
      args: base(dev),
      inputs: ins,
      outDir: outDir(),
      victims: [dev],
      mention: dev,
    });
  {
    const d = outDir();
    execFileSync('mkfifo', [join(d, 'o.safetensors')]);
    probe(fam, 'an existing FIFO', {
      args: base(join(d, 'o.safetensors')),
      inputs: ins,
      outDir: d,
      preexisting: true,
      mention: 'o.safetensors',
    });
  }
  {
    const d = outDir();
    const planted = join(d, 'o.safetensors');
    symlinkSync(victim, planted);
    probe(fam, 'a planted symlink to another file', {
      args: base(planted),
      inputs: ins,
      outDir: d,
      victims: [victim],
      expect: 'success',
      outputs: [planted],
      check: () => (lstatSync(planted).isSymbolicLink() ? ['the output is still a symlink'] : []),
    });
  }
  {
    const d = outDir();
    const planted = join(d, 'o.safetensors');
    const target = join(d, 'created-through-link');
    symlinkSync(target, planted);
    probe(fam, 'a planted dangling symlink', {
      args: base(planted),
      inputs: ins,
      outDir: d,
      victims: [target],
      expect: 'success',
      outputs: [planted],
    });
  }
  {
    const d = outDir();
    probe(fam, 'an empty string', { args: base(''), inputs: ins, cwd: d, outDir: d });
  }
  {
    const d = outDir();
    probe(fam, 'a 300-character name', {
      args: base(join(d, `${'n'.repeat(300)}.safetensors`)),
      inputs: ins,
      outDir: d,
      mention: 'nnnn',
    });
  }
  {
    const d = outDir();
    probe(fam, 'a trailing slash', { args: base(join(d, 'o.safetensors/')), inputs: ins, outDir: d });
  }
  {
    const d = outDir();
    probe(fam, 'a file size limit (ulimit -f 1: EFBIG, like a full disk)', {
      args: base(join(d, 'o.safetensors')),
      inputs: ins,
      outDir: d,
      ulimitF: 1,
      mention: 'o.safetensors',
    });
  }
  {
    const d = outDir();
    probe(fam, 'a valid output (control)', {
      args: base(join(d, 'o.safetensors')),
      inputs: ins,
      outDir: d,
      expect: 'success',
      outputs: [join(d, 'o.safetensors')],
    });
  }
};
// merge: an input large enough that the output passes a 1 KiB file-size limit
const x2 = P('fx/x-out.safetensors');
writeSafetensors(x2, { x: F32([1, 64, 16]) });
outputCases('merge', x2);
outputCases('forward', inputs);
{
  const fam = 'output: generate --out';
  const g = (od, ...rest) => [
    'generate',
    ...cpu,
    '--size',
    '16',
    '--steps',
    '1',
    '--no-compare',
    '--out',
    od,
    ...rest,
  ];
  const name = 'green-meadow-seed0-16px-toma0.25+fora2-cpu.png';
  {
    const d = outDir();
    writeFileSync(join(d, 'file'), 'x');
    probe(fam, 'an existing file', {
      args: g(join(d, 'file')),
      outDir: d,
      preexisting: true,
      mention: 'file',
    });
  }
  probe(fam, `a device (${basename(devFull)})`, {
    args: g(devFull),
    outDir: outDir(),
    victims: [devFull],
    mention: devFull,
  });
  {
    const d = outDir();
    const planted = join(d, name);
    symlinkSync(victim, planted);
    probe(fam, 'a planted symlink at the image name', {
      args: g(d),
      outDir: d,
      preexisting: true,
      victims: [victim],
      expect: 'success',
    });
    const d2 = outDir();
    symlinkSync(victim, join(d2, name));
    probe(fam, 'a planted symlink at the image name, --overwrite', {
      args: g(d2, '--overwrite'),
      outDir: d2,
      preexisting: true,
      victims: [victim],
      expect: 'success',
      outputs: [join(d2, name)],
      check: () => (lstatSync(join(d2, name)).isSymbolicLink() ? ['the image is still a symlink'] : []),
    });
  }
  {
    const d = outDir();
    probe(fam, 'file size limit (ulimit -f 1)', {
      args: ['generate', ...cpu, '--size', '64', '--steps', '1', '--no-compare', '--out', d],
      outDir: d,
      ulimitF: 1,
      mention: 'green-meadow',
    });
  }
  {
    const d = outDir();
    probe(fam, 'a new nested folder (created)', {
      args: g(join(d, 'a/b')),
      outDir: d,
      expect: 'success',
      outputs: [join(d, 'a/b', name)],
    });
  }
  {
    const d = outDir();
    probe(fam, '--preview equal to an input', {
      args: g(
        d,
        '--checkpoint',
        P('fx/emb.safetensors'),
        '--conditioning',
        P('fx/emb-cond.safetensors'),
        '--preview',
        P('fx/emb.safetensors'),
      ),
      outDir: d,
      inputs: [P('fx/emb.safetensors'), P('fx/emb-cond.safetensors')],
    });
  }
}
{
  // eval --out onto the saved run it reads
  const saved = P('fx/saved-eval');
  probes.push({
    family: 'output: eval --out',
    name: '(setup: a saved eval run)',
    cmd: process.execPath,
    prefix: [main],
    args: [
      'eval',
      ...cpu,
      '--seeds',
      '1',
      '--size',
      '16',
      '--steps',
      '1',
      '--features',
      'none',
      '--methods',
      'toma',
      '--ratios',
      '0.5',
      '--speed-seeds',
      '0',
      '--out',
      saved,
    ],
    expect: 'success',
    outputs: [join(saved, 'results.json')],
    serial: 'eval',
  });
  probes.push({
    family: 'output: eval --out',
    name: '--out equal to --from',
    cmd: process.execPath,
    prefix: [main],
    args: ['eval', '--from', saved, '--features', 'none', '--out', saved],
    expect: 'reject',
    inputs: [saved],
    serial: 'eval',
    mention: '--out',
  });
}
{
  // a sharded checkpoint given by its index: its shards are inputs too; a new file beside it is not
  const fam = 'output: forward --out';
  probe(fam, 'a shard of a checkpoint given by its index', {
    args: [
      'forward',
      ...cpu,
      '--checkpoint',
      shardIndex,
      '--inputs',
      inputs,
      '--out',
      join(sharded, shardNames[0]),
    ],
    inputs: [sharded, inputs],
    outDir: outDir(),
    mention: '--out',
  });
  const beside = P('fx/beside');
  const od = outDir();
  probe(fam, 'a new file beside an index (allowed)', {
    before: () => {
      mkdirSync(beside, { recursive: true });
      for (const n of [...shardNames, 'model.safetensors.index.json'])
        copyFileSync(join(sharded, n), join(beside, n));
    },
    args: [
      'forward',
      ...cpu,
      '--checkpoint',
      join(beside, 'model.safetensors.index.json'),
      '--inputs',
      inputs,
      '--out',
      join(beside, 'o.safetensors'),
    ],
    inputs: [inputs, ...shardNames.map((n) => join(beside, n))],
    outDir: od,
    expect: 'success',
    outputs: [join(beside, 'o.safetensors')],
  });
}
{
  // a saved evaluation whose results.json points elsewhere: read only plain PNG names in its folder
  const saved = P('fx/saved-eval');
  const crafted = (name, edit) => {
    const d = P('fx', `saved-${name.replace(/\W+/g, '-')}`);
    probes.push({
      family: 'non-file: eval --from',
      name,
      cmd: process.execPath,
      prefix: [main],
      before: () => {
        cpSync(saved, d, { recursive: true });
        const r = JSON.parse(readFileSync(join(d, 'results.json'), 'utf8'));
        edit(r, d);
        writeFileSync(join(d, 'results.json'), JSON.stringify(r));
      },
      args: ['eval', '--from', d, '--features', 'none', '--out', outDir()],
      expect: 'reject',
      victims: [victim],
      serial: 'eval',
      mention: basename(d),
    });
  };
  crafted('atlas named ../../victim.txt', (r) => {
    r.atlases.files[0].file = '../victim.txt';
  });
  crafted('atlas named by an absolute path', (r) => {
    r.atlases.files[0].file = victim;
  });
  crafted('atlas that is a FIFO', (r, d) => {
    execFileSync('mkfifo', [join(d, 'pipe.png')]);
    r.atlases.files[0].file = 'pipe.png';
  });
  crafted('atlas that is a link to /dev/zero', (r, d) => {
    symlinkSync('/dev/zero', join(d, 'zero.png'));
    r.atlases.files[0].file = 'zero.png';
  });
  crafted('atlas name not a string', (r) => {
    r.atlases.files[0].file = { toString: 1 };
  });
  probes.push({
    family: 'tools',
    name: 'error-texture on a results.json naming a FIFO',
    cmd: process.execPath,
    prefix: [join(root, 'tools/eval/error-texture.mjs')],
    before: () => {
      const d = P('fx/saved-fifo-tool');
      cpSync(saved, d, { recursive: true });
      const r = JSON.parse(readFileSync(join(d, 'results.json'), 'utf8'));
      execFileSync('mkfifo', [join(d, 'pipe.png')]);
      r.atlases.files[0].file = 'pipe.png';
      writeFileSync(join(d, 'results.json'), JSON.stringify(r));
    },
    args: [P('fx/saved-fifo-tool')],
    expect: 'reject',
    tool: 'error-texture.mjs',
    serial: 'eval',
  });
}
// the embedded model's files, for --checkpoint/--conditioning probes
{
  const emb = join(root, 'models/embedded');
  const files = existsSync(emb) ? readdirSync(emb).filter((n) => n.endsWith('.safetensors')) : [];
  const model = files.find((n) => n === 'flux-embedded.safetensors');
  const cond = files.find((n) => n === 'conditioning.safetensors');
  if (model) copyFileSync(join(emb, model), P('fx/emb.safetensors'));
  else writeRaw(P('fx/emb.safetensors'), {});
  if (cond) copyFileSync(join(emb, cond), P('fx/emb-cond.safetensors'));
  else writeRaw(P('fx/emb-cond.safetensors'), {});
}

// ---- 6. arguments
{
  const mergeBase = (od) => ['merge', ...cpu, '--input', x, '--out', join(od, 'o.safetensors')];
  const fwdBase = (od) => [
    'forward',
    ...cpu,
    '--checkpoint',
    ck,
    '--inputs',
    inputs,
    '--out',
    join(od, 'o.safetensors'),
  ];
  const genBase = (od) => ['generate', ...cpu, '--no-compare', '--out', od];
  const evalBase = (od) => ['eval', ...cpu, '--features', 'none', '--out', od];
  const bad = ['-1', 'NaN', 'Infinity', '-Infinity', '1e309', '', '0x10', 'abc', '1e12'];
  const table = [
    [
      'merge',
      mergeBase,
      ['--grid', '4x4'],
      '--ratio',
      ['-1', 'NaN', 'Infinity', '1', '1e309', '', 'abc', '-0.5'],
    ],
    ['merge', mergeBase, ['--grid', '4x4'], '--tile', [...bad, '0', '9', '2.5']],
    [
      'merge',
      mergeBase,
      ['--grid', '4x4'],
      '--temperature',
      ['-1', 'NaN', 'Infinity', '1e309', '', 'abc', '0'],
    ],
    [
      'merge',
      mergeBase,
      [],
      '--grid',
      [
        '-4x4',
        '4x-4',
        '0x0',
        'NaNxNaN',
        '1e9x1e9',
        '65536x65536',
        '4',
        '4x4x4',
        '',
        'x',
        '2x8',
        '4.5x4',
        '5000x1',
      ],
    ],
    ['merge', mergeBase, ['--grid', '4x4'], '--key', ['', 'nope', '__proto__', 'constructor', 'toString']],
    ['forward', fwdBase, [], '--component', ['nope', '', '__proto__', 'constructor']],
    ['forward', fwdBase, [], '--dtype', ['f64', '', 'F32x']],
    [
      'generate',
      genBase,
      ['--steps', '1'],
      '--size',
      [
        '-1',
        'NaN',
        'Infinity',
        '1e309',
        '',
        '0',
        '3',
        '17',
        '99999999',
        '4096',
        '100000x100000',
        '64x-64',
        '1e12',
      ],
    ],
    [
      'generate',
      genBase,
      ['--size', '16'],
      '--steps',
      ['-1', 'NaN', 'Infinity', '1e309', '', '0', '2.5', '1e12', '4294967297'],
    ],
    [
      'generate',
      genBase,
      ['--size', '16', '--steps', '1'],
      '--seed',
      ['NaN', 'Infinity', '1e309', 'abc', ''],
    ],
    ['generate', genBase, ['--size', '16', '--steps', '1'], '--ratio', ['-1', 'NaN', '1', '1e309']],
    ['generate', genBase, ['--size', '16', '--steps', '1'], '--tile', ['-1', '0', '1e9', 'NaN']],
    ['generate', genBase, ['--size', '16', '--steps', '1'], '--cfg', ['NaN', 'Infinity', '1e309']],
    [
      'generate',
      genBase,
      ['--size', '16', '--steps', '1'],
      '--cache',
      [
        'nonsense',
        'fbcache:NaN',
        'fbcache:-1',
        'fora:0',
        'fora:1e12',
        'taylorseer:1e9:1e9',
        'teacache:Infinity',
      ],
    ],
    [
      'generate',
      genBase,
      ['--size', '16', '--steps', '1'],
      '--class',
      ['nope', '99999', '-1', '__proto__', ''],
    ],
    ['generate', genBase, ['--size', '16', '--steps', '1'], '--merge-every', ['0', '-1', 'NaN']],
    [
      'generate',
      genBase,
      ['--size', '16', '--steps', '1'],
      '--exempt',
      ['-1,-1', 'NaN,1', '1e9,1e9', 'a,b', ''],
    ],
    ['generate', genBase, ['--size', '16', '--steps', '1'], '--method', ['nope', '', '__proto__']],
    ['generate', genBase, ['--size', '16', '--steps', '1'], '--backend', ['nope', '']],
    ['generate', genBase, ['--size', '16', '--steps', '1'], '--teacache-poly', ['NaN', '1,2,x', '']],
    ['eval', evalBase, ['--size', '16', '--steps', '1'], '--seeds', ['-1', '0', 'NaN', '1e12']],
    ['eval', evalBase, ['--seeds', '1', '--steps', '1'], '--size', ['-1', '1e309', '4096', '']],
    ['eval', evalBase, ['--seeds', '1', '--size', '16', '--steps', '1'], '--batch', ['0', '-1', '1e12']],
    [
      'eval',
      evalBase,
      ['--seeds', '1', '--size', '16', '--steps', '1'],
      '--ratios',
      ['-1', 'NaN', '1,2', ''],
    ],
    [
      'eval',
      evalBase,
      ['--seeds', '1', '--size', '16', '--steps', '1'],
      '--feature-workers',
      ['0', '-1', '1e9'],
    ],
  ];
  // valid after all: 2x8 is x's 16 tokens; FORA may reuse every step after the first; an empty list
  // is the default; feature workers are not started with --features none
  const EITHER = new Set(['--grid "2x8"', '--cache "fora:1e12"', '--ratios ""', '--feature-workers "1e9"']);
  // refused by what they name (a tensor, a class), with the file or the list of classes
  const UNNAMED = new Set(['--key', '--class']);
  for (const [cmd, base, fixed, option, values] of table)
    for (const v of values) {
      const od = outDir();
      const name = `${option} ${JSON.stringify(v)}`;
      probe(`arguments: ${cmd}`, name, {
        args: [...base(od), ...fixed, option, v],
        inputs: cmd === 'merge' ? [x] : cmd === 'forward' ? [ck, inputs] : [],
        outDir: od,
        expect: EITHER.has(name) ? 'either' : 'reject',
        mention: UNNAMED.has(option) ? undefined : option.replace(/^--/, ''),
      });
    }
  const misc = [
    ['unknown option', ['merge', '--input', x, '--out', P('out/u.safetensors'), '--grid', '4x4', '--bogus']],
    ['unknown command', ['bogus']],
    ['no command', []],
    ['option without its value', ['merge', '--input']],
    ['positional junk', ['merge', 'junk', '--input', x, '--grid', '4x4', '--out', P('out/j.safetensors')]],
    ['--out missing', ['merge', '--input', x, '--grid', '4x4']],
    ['--input missing', ['merge', '--out', P('out/k.safetensors'), '--grid', '4x4']],
    [
      'repeated option',
      [
        'merge',
        '--input',
        x,
        '--input',
        x,
        '--grid',
        '4x4',
        '--out',
        P('out/r.safetensors'),
        '--grid',
        '-1x4',
      ],
    ],
    ['--help=value', ['merge', '--help=1']],
    [
      'generate --prompt without a model',
      ['generate', ...cpu, '--prompt', 'x', '--size', '16', '--steps', '1', '--out', P('out/pp')],
    ],
    ['doctor unknown option', ['doctor', '--bogus']],
    ['doctor --backend nope', ['doctor', '--backend', 'nope']],
    ['forward --checkpoint missing value', ['forward', '--checkpoint']],
    [
      'a 100 KB argument',
      [
        'merge',
        ...cpu,
        '--input',
        x,
        '--out',
        P('out/big-arg.safetensors'),
        '--grid',
        '4x4',
        '--key',
        'k'.repeat(100_000),
      ],
    ],
  ];
  for (const [n, args] of misc)
    probe('arguments: misc', n, {
      args,
      inputs: [x],
      outDir: outDir(),
      // no command: the usage on stdout, exit 2
      ...(n === 'no command' ? { expect: 'help', helpCodes: [2] } : {}),
    });
}

// ---- 7. tools
{
  const scripts = ['', 'eval', 'device', 'train'].flatMap((sub) =>
    readdirSync(join(root, 'tools', sub))
      // model.py and st_io.py are modules the training scripts import, not tools
      .filter((f) => /\.(mjs|sh|py)$/.test(f) && !['tool-args.mjs', 'model.py', 'st_io.py'].includes(f))
      .map((f) => join(sub, f)),
  );
  const runner = (s) =>
    s.endsWith('.sh')
      ? ['bash', [join(root, 'tools', s)]]
      : s.endsWith('.py')
        ? ['python3', [join(root, 'tools', s)]]
        : [process.execPath, [join(root, 'tools', s)]];
  for (const s of scripts) {
    const [cmd, prefix] = runner(s);
    probes.push({
      family: 'tools',
      name: `${s} --help`,
      cmd,
      prefix,
      args: ['--help'],
      expect: 'help',
      cwd: outDir(),
    });
    if (s.endsWith('.mjs'))
      probes.push({
        family: 'tools',
        name: `${s} --no-such-option`,
        cmd,
        prefix,
        args: ['--no-such-option'],
        expect: 'reject',
        tool: basename(s),
        cwd: outDir(),
      });
  }
  const t = (name, script, args, extra = {}) => {
    const [cmd, prefix] = runner(script);
    probes.push({
      family: 'tools',
      name,
      cmd,
      prefix,
      args,
      expect: 'reject',
      tool: basename(script),
      cwd: outDir(),
      ...extra,
    });
  };
  const frc = 'flux-random-checkpoint.mjs';
  const o = P('out/tool.safetensors');
  t('flux-random-checkpoint --shards -1', frc, ['--out', o, '--shards', '-1']);
  t('flux-random-checkpoint --rows 1e9', frc, [
    '--out',
    o,
    '--inputs',
    P('out/ti.safetensors'),
    '--rows',
    '1e9',
  ]);
  t('flux-random-checkpoint --rows NaN', frc, [
    '--out',
    o,
    '--inputs',
    P('out/ti.safetensors'),
    '--rows',
    'NaN',
  ]);
  t('flux-random-checkpoint --std -1', frc, ['--out', o, '--std', '-1']);
  t('flux-random-checkpoint --config depth 1e6', frc, [
    '--out',
    o,
    '--config',
    JSON.stringify({ ...tinyConfig, depth: 1e6 }),
  ]);
  t('flux-random-checkpoint --config nope', frc, ['--out', o, '--config', 'nope']);
  t('flux-random-checkpoint no --out', frc, []);
  t('flux-random-checkpoint --out a device (full)', frc, ['--out', devFull], { victims: [devFull] });
  t('flux-random-checkpoint --out onto a folder', frc, ['--out', P('fx/special/empty-dir')]);
  const mrf = 'make-random-flux-folder.mjs';
  t('make-random-flux-folder --preset nope', mrf, ['--out', P('out/mrf'), '--preset', 'nope']);
  t('make-random-flux-folder --preset constructor', mrf, ['--out', P('out/mrf'), '--preset', 'constructor']);
  t('make-random-flux-folder --threads 0', mrf, ['--out', P('out/mrf'), '--threads', '0']);
  t('make-random-flux-folder --seed -1', mrf, ['--out', P('out/mrf'), '--seed', '-1']);
  t('make-random-flux-folder --shard-gb -1', mrf, ['--out', P('out/mrf'), '--shard-gb', '-1']);
  t('make-random-flux-folder --shard-gb NaN', mrf, ['--out', P('out/mrf'), '--shard-gb', 'NaN']);
  t('make-random-flux-folder --out a file', mrf, ['--out', x]);
  t('make-random-flux-folder no --out', mrf, []);
  t('hub-mirror-server --root FIFO', 'hub-mirror-server.mjs', ['--root', fifo]);
  t('hub-mirror-server --port -1', 'hub-mirror-server.mjs', ['--root', P('fx'), '--port', '-1']);
  t('hub-mirror-server --port 1e9', 'hub-mirror-server.mjs', ['--root', P('fx'), '--port', '1e9']);
  t('fit-teacache --size -1', 'fit-teacache.mjs', ['--backend', 'cpu', '--size', '-1']);
  t('fit-teacache --seeds NaN', 'fit-teacache.mjs', ['--backend', 'cpu', '--seeds', 'NaN']);
  t('fit-teacache --degree 1e9', 'fit-teacache.mjs', ['--backend', 'cpu', '--degree', '1e9']);
  t('error-texture on a FIFO', join('eval', 'error-texture.mjs'), [fifo]);
  t('error-texture two folders', join('eval', 'error-texture.mjs'), [fx, fx]);
  t('real-crops --size -1', join('eval', 'real-crops.mjs'), ['--size', '-1', '--out', P('out/crops')]);
  t('real-crops --pack FIFO', join('eval', 'real-crops.mjs'), ['--pack', fifo, '--out', P('out/crops')]);
  t('run-tests --bogus', 'run-tests.mjs', ['--bogus']);
}

// ---- 8. NaN / Inf values
{
  const fam = 'non-finite: merge';
  const mergeIn = (n, tensor) => {
    const p = writeRaw(P('fx', `nf-${n}.safetensors`), ...rawTensor(tensor));
    const od = outDir();
    return {
      p,
      od,
      args: ['merge', ...cpu, '--input', p, '--out', join(od, 'o.safetensors'), '--grid', '4x4'],
    };
  };
  /** { dtype, shape, bytes } as header + data. */
  function rawTensor({ dtype, shape, bytes }) {
    return [{ x: { dtype, shape, data_offsets: [0, bytes.length] } }, bytes];
  }
  const f32bytes = (arr) => new Uint8Array(Float32Array.from(arr).buffer);
  const base = Array.from({ length: 128 }, (_, i) => Math.sin(i));
  const withAt = (v, i = 37) => base.map((b, j) => (j === i ? v : b));
  for (const [n, t] of [
    ['F32 NaN', { dtype: 'F32', shape: [1, 16, 8], bytes: f32bytes(withAt(Number.NaN)) }],
    ['F32 +Inf', { dtype: 'F32', shape: [1, 16, 8], bytes: f32bytes(withAt(Infinity)) }],
    ['F32 -Inf', { dtype: 'F32', shape: [1, 16, 8], bytes: f32bytes(withAt(-Infinity)) }],
    ['F32 all NaN', { dtype: 'F32', shape: [1, 16, 8], bytes: f32bytes(base.map(() => Number.NaN)) }],
    [
      'F32 NaN with payload',
      {
        dtype: 'F32',
        shape: [1, 16, 8],
        bytes: (() => {
          const b = f32bytes(base);
          new DataView(b.buffer).setUint32(0, 0x7fa00001, true);
          return b;
        })(),
      },
    ],
    [
      'F16 NaN',
      {
        dtype: 'F16',
        shape: [1, 16, 8],
        bytes: (() => {
          const a = new Uint16Array(128).fill(0x3c00);
          a[5] = 0x7e00;
          return new Uint8Array(a.buffer);
        })(),
      },
    ],
    [
      'F16 Inf',
      {
        dtype: 'F16',
        shape: [1, 16, 8],
        bytes: (() => {
          const a = new Uint16Array(128).fill(0x3c00);
          a[5] = 0x7c00;
          return new Uint8Array(a.buffer);
        })(),
      },
    ],
    [
      'BF16 NaN',
      {
        dtype: 'BF16',
        shape: [1, 16, 8],
        bytes: (() => {
          const a = new Uint16Array(128).fill(0x3f80);
          a[9] = 0x7fc0;
          return new Uint8Array(a.buffer);
        })(),
      },
    ],
    [
      'F64 -Inf',
      { dtype: 'F64', shape: [1, 16, 8], bytes: new Uint8Array(Float64Array.from(withAt(-Infinity)).buffer) },
    ],
    ['I64 values (not float)', { dtype: 'I64', shape: [1, 16, 8], bytes: new Uint8Array(1024) }],
    ['BOOL values', { dtype: 'BOOL', shape: [1, 16, 8], bytes: new Uint8Array(128) }],
  ]) {
    const { p, od, args } = mergeIn(n.replace(/\W+/g, '-'), t);
    probe(fam, n, { args, inputs: [p], outDir: od, mention: basename(p) });
  }
  // finite but extreme: the outputs must be finite or the run refused
  for (const [n, vals] of [
    ['F32 3e38 everywhere', base.map((b) => 3e38 * Math.sign(b || 1))],
    ['F32 subnormals', base.map((b) => b * 1e-42)],
    ['F32 zeros', base.map(() => 0)],
  ]) {
    const { p, od, args } = mergeIn(n.replace(/\W+/g, '-'), {
      dtype: 'F32',
      shape: [1, 16, 8],
      bytes: f32bytes(vals),
    });
    probe(fam, n, {
      args,
      inputs: [p],
      outDir: od,
      expect: 'either',
      finiteOutputs: join(od, 'o.safetensors'),
    });
  }
  const famF = 'non-finite: forward';
  for (const [n, key, v] of [
    ['in.img NaN', 'in.img', Number.NaN],
    ['in.txt +Inf', 'in.txt', Infinity],
    ['in.timesteps NaN', 'in.timesteps', Number.NaN],
    ['in.img_ids -Inf', 'in.img_ids', -Infinity],
    ['in.y NaN', 'in.y', Number.NaN],
    ['in.guidance Inf', 'in.guidance', Infinity],
  ]) {
    const p = inputsWith(`nfi-${key}`, key, (a) => {
      a[a.length - 1] = v;
    });
    const od = outDir();
    probe(famF, n, {
      args: ['forward', ...cpu, '--checkpoint', ck, '--inputs', p, '--out', join(od, 'o.safetensors')],
      inputs: [p, ck],
      outDir: od,
      mention: key,
    });
  }
  {
    const p = inputsWith('nfi-huge', 'in.img', (a) => a.fill(3e38));
    const od = outDir();
    probe(famF, 'in.img 3e38 (output may overflow)', {
      args: ['forward', ...cpu, '--checkpoint', ck, '--inputs', p, '--out', join(od, 'o.safetensors')],
      inputs: [p, ck],
      outDir: od,
      expect: 'either',
      finiteOutputs: join(od, 'o.safetensors'),
    });
  }
  {
    // a checkpoint with a NaN weight: the output is non-finite
    const { header, data } = readRaw(ck);
    const d = new Uint8Array(data);
    const [b] = header['final_layer.linear.bias'].data_offsets;
    new DataView(d.buffer).setFloat32(b, Number.NaN, true);
    const nanCk = writeRaw(P('fx/nan-ck.safetensors'), header, d);
    const od = outDir();
    probe(famF, 'a NaN weight (non-finite output)', {
      args: [
        'forward',
        ...cpu,
        '--checkpoint',
        nanCk,
        '--inputs',
        inputs,
        '--out',
        join(od, 'o.safetensors'),
      ],
      inputs: [nanCk, inputs],
      outDir: od,
    });
    const od2 = outDir();
    probe(famF, 'a NaN weight with --allow-nonfinite', {
      args: [
        'forward',
        ...cpu,
        '--checkpoint',
        nanCk,
        '--inputs',
        inputs,
        '--out',
        join(od2, 'o.safetensors'),
        '--allow-nonfinite',
      ],
      inputs: [nanCk, inputs],
      outDir: od2,
      expect: 'success',
      outputs: [join(od2, 'o.safetensors')],
    });
    const { header: h2, data: d2 } = readRaw(inputs);
    h2['in.img'].dtype = 'I32';
    const i32 = writeRaw(P('fx/in-i32.safetensors'), h2, d2);
    const od3 = outDir();
    probe(famF, 'in.img as I32', {
      args: ['forward', ...cpu, '--checkpoint', ck, '--inputs', i32, '--out', join(od3, 'o.safetensors')],
      inputs: [i32, ck],
      outDir: od3,
      // integers are finite: converting them to floats is a reading, not an error
      expect: 'either',
      mention: 'in.img',
    });
  }
}

// ---- 9. huge-but-valid headers
{
  const fam = 'huge headers';
  const hp = (n, file, args, expect = 'reject', extra = {}) => {
    const od = outDir();
    probe(fam, n, {
      args: args(file, join(od, 'o.safetensors')),
      inputs: [file],
      outDir: od,
      expect,
      ...extra,
    });
  };
  const merge = (grid) => (f, o) => ['merge', ...cpu, '--input', f, '--out', o, '--grid', grid];
  const fwdIn = (f, o) => ['forward', ...cpu, '--checkpoint', ck, '--inputs', f, '--out', o];
  // 2^40 elements declared in a tiny file
  hp(
    'x of 2^40 F32 elements in a 100-byte file',
    writeRaw(
      P('fx/h-2p40.safetensors'),
      { x: { dtype: 'F32', shape: [1, 2 ** 20, 2 ** 20], data_offsets: [0, 2 ** 42] } },
      16,
    ),
    merge('1024x1024'),
  );
  // sparse files: the declared bytes are there, but occupy no disk: refused by the memory estimate
  const sparse = (name, header, bytes) => {
    const p = writeRaw(P('fx', name), header);
    truncateSync(p, statSync(p).size + bytes);
    return p;
  };
  const big = 2 ** 24 * 1024 * 4; // x [1, 4096*4096, 1024] F32: 64 GiB
  hp(
    'sparse 64 GiB x, grid 4096x4096',
    sparse(
      'h-sparse-x.safetensors',
      { x: { dtype: 'F32', shape: [1, 2 ** 24, 1024], data_offsets: [0, big] } },
      big,
    ),
    merge('4096x4096'),
  );
  const med = 2 ** 20 * 64 * 4 * 64; // x [64, 2^20, 64]: 16 GiB, batch 64
  hp(
    'sparse 16 GiB x, batch 64, grid 1024x1024',
    sparse(
      'h-sparse-b.safetensors',
      { x: { dtype: 'F32', shape: [64, 2 ** 20, 64], data_offsets: [0, med] } },
      med,
    ),
    merge('1024x1024'),
  );
  hp('sparse 64 GiB x, grid mismatch', P('fx/h-sparse-x.safetensors'), merge('4x4'));
  // forward inputs with 2^24 image tokens (sparse)
  {
    const { header } = readRaw(inputs);
    const n = 2 ** 24;
    let off = 0;
    const h = {};
    const shapes = {
      'in.img': [1, n, 16],
      'in.img_ids': [1, n, 3],
      'in.txt': [1, 7, 48],
      'in.txt_ids': [1, 7, 3],
      'in.timesteps': [1],
      'in.y': [1, 32],
      'in.guidance': [1],
    };
    for (const k of Object.keys(header).sort()) {
      const bytes = shapes[k].reduce((a, b) => a * b, 1) * 4;
      h[k] = { dtype: 'F32', shape: shapes[k], data_offsets: [off, off + bytes] };
      off += bytes;
    }
    hp('sparse forward inputs with 2^24 image tokens', sparse('h-sparse-in.safetensors', h, off), fwdIn);
  }
  // a sparse checkpoint claiming FLUX.1-dev's config with one 12 GiB tensor
  {
    const bytes = 3 * 2 ** 32;
    const p = sparse(
      'h-sparse-ck.safetensors',
      {
        __metadata__: {
          config: JSON.stringify({
            in_channels: 64,
            out_channels: 64,
            vec_in_dim: 768,
            context_in_dim: 4096,
            hidden_size: 3072,
            mlp_ratio: 4,
            num_heads: 24,
            depth: 19,
            depth_single_blocks: 38,
            axes_dim: [16, 56, 56],
            theta: 10000,
            qkv_bias: true,
            guidance_embed: true,
          }),
        },
        'img_in.weight': { dtype: 'F32', shape: [3 * 2 ** 30], data_offsets: [0, bytes] },
      },
      bytes,
    );
    const od = outDir();
    probe(fam, 'sparse 12 GiB checkpoint claiming FLUX.1-dev', {
      args: ['forward', ...cpu, '--checkpoint', p, '--inputs', inputs, '--out', join(od, 'o.safetensors')],
      inputs: [p, inputs],
      outDir: od,
    });
  }
  // many entries, long names, padding: valid files, read quickly and within the budget
  {
    const h = {};
    for (let i = 0; i < 100_000; i++) h[`e${i}`] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] };
    h.x = { dtype: 'F32', shape: [1, 16, 8], data_offsets: [0, 512] };
    hp(
      '100,000 empty tensors beside x',
      writeRaw(
        P('fx/h-many.safetensors'),
        h,
        new Uint8Array(Float32Array.from({ length: 128 }, (_, i) => Math.cos(i)).buffer),
      ),
      merge('4x4'),
      'success',
      {},
    );
  }
  {
    const h = {};
    let off = 0;
    for (let i = 0; i < 50_000; i++) {
      h[`t${i}`] = { dtype: 'U8', shape: [1], data_offsets: [off, off + 1] };
      off++;
    }
    hp(
      '50,000 one-byte tensors, no x',
      writeRaw(P('fx/h-many-bytes.safetensors'), h, off),
      merge('4x4'),
      'reject',
      { mention: '"x"' },
    );
  }
  {
    const xh = { x: { dtype: 'F32', shape: [1, 16, 8], data_offsets: [0, 512] } };
    const text = JSON.stringify(xh) + ' '.repeat(20 * MiB);
    hp('20 MB header of padding', writeRaw(P('fx/h-pad.safetensors'), text, 512), merge('4x4'), 'success');
    const long = { [`${'n'.repeat(MiB)}`]: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } };
    hp('a 1 MiB tensor name', writeRaw(P('fx/h-longname.safetensors'), long, 4), merge('4x4'), 'reject');
    const meta = {
      __metadata__: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 'v'.repeat(50)])),
      ...xh,
    };
    hp('100,000 metadata entries', writeRaw(P('fx/h-meta.safetensors'), meta, 512), merge('4x4'), 'success');
    const zeroBig = { e: { dtype: 'F32', shape: [0, 2 ** 53 - 1], data_offsets: [0, 0] }, ...xh };
    hp(
      'a zero-element tensor of shape [0, 2^53-1]',
      writeRaw(P('fx/h-zero.safetensors'), zeroBig, 512),
      merge('4x4'),
      'success',
    );
    const justUnder = writeRaw(
      P('fx/h-limit.safetensors'),
      { x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } },
      4,
      100_000_000n,
    );
    hp('header length exactly 100,000,000 in a tiny file', justUnder, merge('4x4'), 'reject');
    const xBig = writeRaw(
      P('fx/h-x-wide.safetensors'),
      { x: { dtype: 'F32', shape: [1, 4096 * 4096, 1], data_offsets: [0, 4 * 4096 * 4096] } },
      4,
    );
    hp('x of 2^24 tokens declared, 4 bytes of data', xBig, merge('4096x4096'), 'reject');
  }
}

// ---- 10. signals
{
  const fam = 'signals';
  const progress = /\] \d+\/\d+/;
  const gen = (od, steps = '8') => ['generate', ...cpu, '--size', '64', '--steps', steps, '--out', od];
  // real work, not a tiny malformed file: the budget is a fixed 1 GiB
  const sig = (name, args, send, after, { od: given, defaultActionOk, ...extra } = {}) => {
    const od = given ?? P('out', `sig-${nextOut++}`); // not created: an interrupted run leaves no folder
    probes.push({
      family: fam,
      name,
      cmd: process.execPath,
      prefix: [main],
      args: args(od),
      expect: 'interrupt',
      signals: { after, send, defaultActionOk },
      outDir: od,
      serial: 'signal',
      budget: 1024 * MiB,
      ...extra,
    });
  };
  sig('generate: SIGINT after the first step', gen, ['SIGINT'], progress);
  sig('generate: two SIGINTs', gen, ['SIGINT', 'SIGINT'], progress);
  sig('generate: SIGTERM', gen, ['SIGTERM'], progress);
  // before main.js has installed its handler, SIGINT's default action ends the process: nothing exists yet
  sig('generate: SIGINT at start-up (100 ms)', gen, ['SIGINT'], 100, { defaultActionOk: true });
  sig('generate: SIGINT while loading (400 ms)', gen, ['SIGINT'], 400, { defaultActionOk: true });
  sig(
    'generate: SIGINT in the dense run of a comparison',
    (od) => [...gen(od, '30'), '--compare'],
    ['SIGINT'],
    /dense .*\] \d+\/30/,
  );
  sig('generate: SIGINT in the second (method) run', gen, ['SIGINT'], /toma .*\] 1\/8/);
  sig(
    'generate (FLUX folder): SIGINT after a step',
    (od) => [
      'generate',
      ...cpu,
      '--model-dir',
      P('fx/tinyflux'),
      '--prompt',
      'a cat',
      '--size',
      '512',
      '--steps',
      '50',
      '--out',
      od,
    ],
    ['SIGINT'],
    progress,
  );
  sig(
    'forward: SIGINT during the pass',
    (od) => [
      'forward',
      ...cpu,
      '--checkpoint',
      P('fx/big-ck.safetensors'),
      '--inputs',
      P('fx/big-in.safetensors'),
      '--out',
      join(od, 'o.safetensors'),
    ],
    ['SIGINT'],
    2500, // its stdout reaches the pipe late (from a worker); loading takes under a second
    { od: outDir(), inputs: [P('fx/big-ck.safetensors'), P('fx/big-in.safetensors')] },
  );
  sig(
    'forward: SIGTERM during the pass',
    (od) => [
      'forward',
      ...cpu,
      '--checkpoint',
      P('fx/big-ck.safetensors'),
      '--inputs',
      P('fx/big-in.safetensors'),
      '--out',
      join(od, 'o.safetensors'),
    ],
    ['SIGTERM'],
    2500,
    { od: outDir(), inputs: [P('fx/big-ck.safetensors'), P('fx/big-in.safetensors')] },
  );
  {
    const bx = P('fx/merge-big.safetensors');
    writeSafetensors(bx, { x: F32([1, 256 * 256, 64]) });
    sig(
      'merge: SIGINT during the merge',
      (od) => [
        'merge',
        ...cpu,
        '--input',
        bx,
        '--out',
        join(od, 'o.safetensors'),
        '--grid',
        '256x256',
        '--tile',
        '8',
      ],
      ['SIGINT'],
      300,
      { od: outDir(), inputs: [bx] },
    );
  }
  sig(
    'eval: SIGINT after the first step',
    (od) => [
      'eval',
      ...cpu,
      '--seeds',
      '2',
      '--size',
      '32',
      '--steps',
      '8',
      '--features',
      'none',
      '--methods',
      'toma',
      '--out',
      od,
    ],
    ['SIGINT'],
    /images\b.*\d+\/\d+|\d+\/\d+ images/, // eval's progress line (images done / total)
  );
}

// ---------------------------------------------------------------- running
const selected = opt.filter ? probes.filter((p) => `${p.family} ${p.name}`.includes(opt.filter)) : probes;

function vmHWM(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function runOne(p) {
  p.before?.();
  const inputs = p.inputs ?? [];
  const before = new Map(inputs.map((i) => [i, fingerprint(i)]));
  const victims = new Map((p.victims ?? []).map((v) => [v, fingerprint(v)]));
  const outBefore = new Set(p.outDir ? walk(p.outDir) : []);
  const outExisted = p.outDir ? existsSync(p.outDir) : false;
  const budget = p.budget ?? FIXED_BUDGET + INPUT_FACTOR * inputs.reduce((a, i) => a + diskBytes(i), 0);
  const argv = [...p.prefix, ...p.args];
  let cmd = p.cmd;
  let args = argv;
  if (p.ulimitF) {
    // exec: the shell becomes the program, so the pid watched is the program's
    args = ['-c', `ulimit -f ${p.ulimitF}; exec "$0" "$@"`, p.cmd, ...argv];
    cmd = 'bash';
  }
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: p.cwd ?? ws,
      env: { ...process.env, HF_HUB_OFFLINE: '1', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let peak = 0;
    let timedOut = false;
    let sentAt = 0;
    const cap = (s, d) => (s.length < 1 << 20 ? s + d : s);
    const send = () => {
      if (sentAt) return;
      sentAt = performance.now();
      for (const [i, s] of p.signals.send.entries()) setTimeout(() => child.kill(s), 10 * i);
    };
    const watchText = () => {
      if (p.signals && p.signals.after instanceof RegExp && !sentAt && p.signals.after.test(out + err))
        send();
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out = cap(out, d);
      watchText();
    });
    child.stderr.on('data', (d) => {
      err = cap(err, d);
      watchText();
    });
    if (p.signals && typeof p.signals.after === 'number') setTimeout(send, p.signals.after);
    const poll = setInterval(() => {
      peak = Math.max(peak, vmHWM(child.pid));
    }, 10);
    const kill = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, p.timeoutMs ?? timeoutMs);
    child.on('exit', () => {
      peak = Math.max(peak, vmHWM(child.pid)); // a zombie's status may still be readable
    });
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(kill);
      const ms = performance.now() - t0;
      const r = {
        code,
        signal,
        ms,
        out,
        err,
        peak,
        budget,
        timedOut,
        sinceSignal: sentAt ? performance.now() - sentAt : null,
      };
      resolve(classify(p, r, before, victims, outBefore, outExisted));
    });
  });
}

const INTERNAL = [
  /Invalid typed array length/,
  /\b(RangeError|TypeError|ReferenceError|SyntaxError|AssertionError|EvalError)\b/,
  /Maximum call stack/,
  /FATAL ERROR|JavaScript heap out of memory|Aborted|Segmentation/,
  /Cannot read propert|is not a function|is not iterable|is not defined/,
  /\bundefined\b|\[object \w+\]|NaN bytes/,
  /(?<!")\b4294967\d{3}\b/, // a wrapped index (-1 as u32), not a number the user gave and is quoted
  /\bERR_[A-Z_]{3,}\b/,
  /\b(ENOENT|EACCES|EISDIR|ENOTDIR|ELOOP|ENOSPC|EFBIG|EEXIST|EPERM|EROFS|EMFILE|ENXIO|ENAMETOOLONG|EINVAL|EAGAIN)\b/,
  /node:internal|^\s+at .+:\d+:\d+\)?$/m,
  /Error: .*\n\s+at /,
];
const SEVERITY = [
  'crash',
  'hang',
  'input-destroyed',
  'symlink-write',
  'memory',
  'leftover',
  'accepted',
  'refused',
  'unclear',
];

const reportedTemps = new Set();
/** Folders a probe may write in: its output folder, the folder of its --out, its inputs' folders. */
function tempScanDirs(p) {
  const dirs = new Set();
  if (p.outDir) dirs.add(p.outDir);
  const i = p.args.indexOf('--out');
  if (i >= 0 && p.args[i + 1]) dirs.add(dirname(join(p.cwd ?? ws, p.args[i + 1])));
  for (const x of p.inputs ?? []) dirs.add(dirname(x));
  return [...dirs].filter((d) => d.startsWith(ws) && d !== ws);
}

function classify(p, r, before, victims, outBefore, outExisted) {
  const problems = [];
  const notes = [];
  const add = (cls, why) => problems.push({ cls, why });
  const errLines = r.err
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  // a tool names itself with or without its extension
  const prefixes = p.tool ? [`${p.tool}: `, `${p.tool.replace(/\.\w+$/, '')}: `] : ['toma: '];
  const isError = (l) => prefixes.some((x) => l.startsWith(x));
  const isProgress = (l) => /^(note|warning):|\] \d+\/\d+|^(speed )?\[\d+\/\d+\]/.test(l);
  // a usage error (exit 2) may print the usage after its line; that text is not an error line
  const usageAt =
    r.code === 2 ? errLines.findIndex((l, i) => i > 0 && /^usage:|^toma: diffusion/.test(l)) : -1;
  const ownLines = usageAt > 0 ? errLines.slice(0, usageAt) : errLines;
  const tomaLines = ownLines.filter(isError);
  if (r.timedOut) add('hang', `killed after ${(r.ms / 1000).toFixed(0)} s`);
  else if (r.signal && !(p.expect === 'interrupt')) add('crash', `killed by ${r.signal}`);
  else if (r.code !== null && r.code > 128 && r.code !== 130) add('crash', `exit ${r.code}`);
  // stdout may echo numbers the user gave (4294967297 steps); internal text is looked for on stderr
  const internal = INTERNAL.find((re) => re.test(r.err));
  if (internal) add('crash', `internal text ${internal}`);
  for (const [i, h] of before) if (fingerprint(i) !== h) add('input-destroyed', `${relative(ws, i)} changed`);
  for (const [v, h] of victims)
    if (fingerprint(v) !== h) add('symlink-write', `${relative(ws, v) || v} changed or created`);
  // temporary files live beside their target: in the probe's folders only (another probe running at
  // the same time has its own), each reported once
  const temps = [...tempScanDirs(p)].flatMap((d) =>
    walk(d)
      .filter((f) => /\.tmp-/.test(basename(f)))
      .map((f) => join(d, f)),
  );
  const fresh = temps.filter((t) => !reportedTemps.has(t));
  if (fresh.length)
    add(
      'leftover',
      `temporary files: ${fresh
        .slice(0, 3)
        .map((t) => relative(ws, t))
        .join(', ')}`,
    );
  for (const t of fresh) reportedTemps.add(t);
  if (r.peak > r.budget)
    add('memory', `peak RSS ${(r.peak / MiB).toFixed(0)} MiB > budget ${(r.budget / MiB).toFixed(0)} MiB`);
  const outNow = p.outDir ? walk(p.outDir) : [];
  const created = outNow.filter((f) => !outBefore.has(f));
  if (p.expect === 'reject' || p.expect === 'interrupt') {
    if (created.length) add('leftover', `written: ${created.slice(0, 3).join(', ')}`);
  }
  if (p.expect === 'reject') {
    if (r.code === 0) add('accepted', 'exit 0');
    else if (!r.timedOut && !r.signal) {
      if (![1, 2, 3].includes(r.code)) add('unclear', `exit ${r.code}`);
      if (tomaLines.length !== 1) add('unclear', `${tomaLines.length} error lines`);
      // the message is one line: nothing but progress and notes beside it
      const extra = ownLines.filter((l) => !isError(l) && !isProgress(l));
      if (extra.length) add('unclear', `more lines: ${extra[0].slice(0, 80)}`);
      const line = tomaLines[0] ?? '';
      if (p.mention && !line.includes(p.mention)) add('unclear', `does not name ${p.mention}`);
      if (p.message && !p.message.test(line)) add('unclear', `does not match ${p.message}`);
      if (line.length > 1000) add('unclear', `a ${line.length}-character line`);
    }
  } else if (p.expect === 'success' || p.expect === 'either') {
    if (r.code === 0) {
      for (const o of p.outputs ?? []) if (!existsSync(o)) add('refused', `no ${relative(ws, o)}`);
      for (const why of p.check?.(r) ?? []) add('refused', why);
      if (p.finiteOutputs && existsSync(p.finiteOutputs)) {
        const bad = nonFinite(p.finiteOutputs);
        if (bad) add('accepted', `wrote ${bad} with non-finite values and exit 0`);
      }
    } else if (p.expect === 'success') add('refused', `exit ${r.code}: ${errLines[0] ?? ''}`.slice(0, 200));
    else if (!r.timedOut && !r.signal && (![1, 2, 3].includes(r.code) || tomaLines.length !== 1))
      add('unclear', `exit ${r.code}, ${tomaLines.length} error lines`);
  } else if (p.expect === 'help') {
    if (!(p.helpCodes ?? [0]).includes(r.code) || r.out.trim().split('\n').length < 2)
      add('refused', `usage: exit ${r.code}, ${r.out.trim().split('\n').length} lines on stdout`);
  } else if (p.expect === 'interrupt') {
    if (r.sinceSignal === null) add('refused', `finished (exit ${r.code}) before the signal was sent`);
    else {
      if (r.signal && p.signals.defaultActionOk && !existsSync(p.outDir))
        notes.push(`ended by the default ${r.signal} action (no handler yet), nothing written`);
      else if (r.signal) add('crash', `killed by ${r.signal}, did not handle it`);
      else if (r.code !== 130) add('unclear', `exit ${r.code} after the signal`);
      if (r.sinceSignal > 2000) add('hang', `exited ${(r.sinceSignal / 1000).toFixed(1)} s after the signal`);
      const n = r.signal && notes.length ? 1 : (r.err.match(/toma: interrupted/g) ?? []).length;
      const others = tomaLines.filter((l) => l !== 'toma: interrupted');
      if (n !== 1 || others.length) add('unclear', `${n} "interrupted" lines, other: ${others[0] ?? '-'}`);
      if (p.outDir && !outExisted && existsSync(p.outDir))
        add('leftover', `created ${relative(ws, p.outDir)}`);
    }
  }
  problems.sort((a, b) => SEVERITY.indexOf(a.cls) - SEVERITY.indexOf(b.cls));
  const cls =
    problems[0]?.cls ?? (p.expect === 'interrupt' ? 'interrupted' : r.code === 0 ? 'succeeded' : 'rejected');
  const shown = p.ulimitF
    ? ['ulimit', '-f', String(p.ulimitF), ';', p.cmd, ...p.prefix, ...p.args]
    : [p.cmd, ...p.prefix, ...p.args];
  return {
    family: p.family,
    name: p.name,
    command: shown.map(shellQuote).join(' ').replaceAll(ws, '$WS').replaceAll(root, '.'),
    expect: p.expect,
    code: r.code,
    signal: r.signal,
    ms: Math.round(r.ms),
    peakRssMiB: Math.round(r.peak / MiB),
    budgetMiB: Math.round(r.budget / MiB),
    ...(r.sinceSignal !== null ? { sinceSignalMs: Math.round(r.sinceSignal) } : {}),
    class: cls,
    problems: problems.map((q) => `${q.cls}: ${q.why}`),
    ...(notes.length ? { notes } : {}),
    stderr: (errLines.find((l) => !/\] \d+\/\d+/.test(l)) ?? '').replaceAll(ws, '$WS').slice(0, 300),
  };
}

/** The name of the first tensor of an F32/I64 output file holding NaN or Infinity, or ''. */
function nonFinite(path) {
  const { header, data } = readRaw(path);
  for (const [k, t] of Object.entries(header)) {
    if (k === '__metadata__' || t.dtype !== 'F32') continue;
    const [b, e] = t.data_offsets;
    const a = new Float32Array(data.buffer.slice(data.byteOffset + b, data.byteOffset + e));
    if (a.some((v) => !Number.isFinite(v))) return k;
  }
  return '';
}

function shellQuote(s) {
  const t = String(s);
  if (t.length > 120) return `'<${t.length} characters>'`;
  return /^[\w@%+=:,./-]+$/.test(t) ? t : `'${t.replace(/'/g, "'\\''").replace(/\0/g, '\\0')}'`;
}

// probes marked `serial` run in order, alone; the rest `jobs` at a time
const results = [];
const parallel = selected.filter((p) => !p.serial);
const serial = selected.filter((p) => p.serial);
const t0 = performance.now();
let done = 0;
const report = (res) => {
  results.push(res);
  done++;
  if (res.class !== 'rejected' && res.class !== 'succeeded' && res.class !== 'interrupted')
    console.error(`  ${res.class}: ${res.family} / ${res.name}: ${res.problems[0] ?? ''} | ${res.stderr}`);
  if (done % 50 === 0)
    console.error(`  ${done}/${selected.length} probes, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
};
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(jobs, parallel.length) }, async () => {
    while (next < parallel.length) report(await runOne(parallel[next++]));
  }),
);
for (const p of serial) report(await runOne(p));
server.close();

// ---------------------------------------------------------------- summary
const OK = ['rejected', 'succeeded', 'interrupted'];
const classes = [...OK, ...SEVERITY];
// in the order the probes were defined, not the order they finished
const families = [...new Set(selected.map((p) => p.family))].filter((f) =>
  results.some((r) => r.family === f),
);
const count = (f, c) => results.filter((r) => (f === null || r.family === f) && r.class === c).length;
const used = classes.filter(
  (c) => c === 'rejected' || c === 'succeeded' || results.some((r) => r.class === c),
);
const w = Math.max(...families.map((f) => f.length), 5);
const row = (name, cells) =>
  `| ${name.padEnd(w)} | ${cells.map((c, i) => String(c).padStart(Math.max(used[i]?.length ?? 5, 5))).join(' | ')} |`;
const lines = [
  row('family', used),
  `|${'-'.repeat(w + 2)}|${used.map((c) => `${'-'.repeat(Math.max(c.length, 5) + 1)}:`).join('|')}|`,
  ...families.map((f) =>
    row(
      f,
      used.map((c) => count(f, c)),
    ),
  ),
  row(
    'total',
    used.map((c) => count(null, c)),
  ),
];
const failed = results.filter((r) => !OK.includes(r.class)).length;
const peak = Math.max(...results.map((r) => r.peakRssMiB));
console.log(lines.join('\n'));
console.log(
  `\n${results.length} probes in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${results.length - failed} as they should be, ${failed} not; highest peak RSS ${peak} MiB; ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version} ${arch()}`,
);
if (opt.json) {
  writeFileSync(
    opt.json,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, budget: { fixedMiB: FIXED_BUDGET / MiB, inputFactor: INPUT_FACTOR }, probes: results }, null, 1)}\n`,
  );
  console.log(`wrote ${opt.json}`);
}
if (!opt.keep) {
  // a folder made unreadable by a probe would stop the removal
  try {
    chmodSync(ws, 0o755);
  } catch {}
  rmSync(ws, { recursive: true, force: true });
} else console.log(`workspace kept: ${ws}`);
process.exit(failed ? 1 : 0);
