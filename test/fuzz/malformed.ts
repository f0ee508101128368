// A corpus of malformed safetensors files and shard indexes, each tagged with the rule it breaks
// (SafetensorsError.rule). Written into a folder by malformedCases(dir), so the same files can be fed
// to the library (test/fuzz/malformed.test.ts) and to the CLI (toma merge / forward): every one must
// be refused with one clear line, quickly, with little memory, and without touching anything else.
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SafetensorsRule } from '../../src/io/safetensors-format.js';

export interface MalformedCase {
  /** Short unique name (also the file's base name). */
  name: string;
  /** The rule the reader must report. */
  rule: SafetensorsRule;
  /** What to open: a file, an index, or a folder. */
  path: string;
  /** Besides the rule, the message must match this. */
  message?: RegExp;
}

const enc = new TextEncoder();

/** A safetensors file from a header (JSON text or a value to stringify) and the data section. */
export function safetensorsBytes(
  header: string | object,
  data: Uint8Array | number = 0,
  prefix?: bigint,
): Uint8Array {
  const h = typeof header === 'string' ? enc.encode(header) : enc.encode(JSON.stringify(header));
  return withPrefix(h, data, prefix ?? BigInt(h.length));
}

function withPrefix(h: Uint8Array, data: Uint8Array | number, n: bigint): Uint8Array {
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, n, true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

/** One well-formed F32 entry. */
function f32(shape: number[], begin: number): object {
  const n = shape.reduce((a, b) => a * b, 1) * 4;
  return { dtype: 'F32', shape, data_offsets: [begin, begin + n] };
}

/** Whether this system can make named pipes (mkfifo): the FIFO cases are skipped otherwise. */
function mkfifo(path: string): boolean {
  try {
    execFileSync('mkfifo', [path], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Writes the corpus into `dir` (which should be empty) and lists it. */
export function malformedCases(dir: string): MalformedCase[] {
  mkdirSync(dir, { recursive: true });
  const cases: MalformedCase[] = [];
  const file = (name: string, rule: SafetensorsRule, bytes: Uint8Array, message?: RegExp) => {
    const path = join(dir, `${name}.safetensors`);
    writeFileSync(path, bytes);
    cases.push({ name, rule, path, ...(message ? { message } : {}) });
  };
  /** A header (raw text or a value) with `data` bytes after it. */
  const header = (
    name: string,
    rule: SafetensorsRule,
    h: string | object,
    data: number | Uint8Array = 0,
    message?: RegExp,
  ) => file(name, rule, safetensorsBytes(h, data), message);
  /** One tensor entry `entry` (raw JSON text) named "w", with `data` bytes. */
  const entry = (name: string, rule: SafetensorsRule, e: string, data = 0, message?: RegExp) =>
    header(name, rule, `{"w":${e}}`, data, message);

  // ---- the length prefix
  file('empty', 'too-short', new Uint8Array(0), /too short/);
  file('seven-bytes', 'too-short', new Uint8Array(7), /too short/);
  file('prefix-zero', 'json', withPrefix(new Uint8Array(0), 0, 0n), /unexpected end of JSON/);
  file(
    'prefix-u64-max',
    'header-too-large',
    withPrefix(enc.encode('{}'), 0, (1n << 64n) - 1n),
    /18446744073709551615/,
  );
  file(
    'prefix-2p53-plus-1',
    'header-too-large',
    withPrefix(enc.encode('{}'), 0, (1n << 53n) + 1n),
    /9007199254740993/,
  );
  file(
    'prefix-100000001',
    'header-too-large',
    withPrefix(enc.encode('{}'), 0, 100_000_001n),
    /limit of 100000000/,
  );
  file('prefix-past-file', 'header-length', withPrefix(enc.encode('{}'), 0, 1000n), /runs past the end/);
  file(
    'prefix-at-limit-past-file',
    'header-length',
    withPrefix(enc.encode('{}'), 0, 100_000_000n),
    /runs past the end/,
  );
  file('prefix-one-past-file', 'header-length', withPrefix(enc.encode('{}'), 0, 3n));

  // ---- the header text
  file('bad-utf8', 'utf8', withPrefix(Uint8Array.of(0x7b, 0xff, 0x7d), 0, 3n), /not valid UTF-8/);
  file('overlong-utf8', 'utf8', withPrefix(Uint8Array.of(0x7b, 0xc0, 0xaf, 0x7d), 0, 4n));
  file('utf8-surrogate', 'utf8', withPrefix(Uint8Array.of(0x7b, 0xed, 0xa0, 0x80, 0x7d), 0, 5n));
  file('bom', 'bom', withPrefix(Uint8Array.of(0xef, 0xbb, 0xbf, 0x7b, 0x7d), 0, 5n), /byte-order mark/);
  header('not-json', 'json', '{nope', 0, /not valid JSON/);
  header('trailing-comma', 'json', `{"w":${JSON.stringify(f32([1], 0))},}`, 4);
  header('single-quotes', 'json', "{'w':1}");
  header('nan-literal', 'json', '{"w":NaN}');
  header('two-values', 'json', '{} {}', 0, /after the JSON value/);
  header('control-char', 'json', '{"a\u0001":{}}', 0, /control character/);
  header('bad-escape', 'json', '{"\\x41":{}}', 0, /invalid escape/);
  header('lone-surrogate-escape', 'json', '{"\\ud800":{}}', 0, /unpaired surrogate/);
  header('leading-zero', 'json', '{"w":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}', 4);
  header('header-array', 'not-object', '[]', 0, /not a JSON object/);
  header('header-string', 'not-object', '"x"', 0, /not a JSON object/);
  header('header-number', 'not-object', '42');
  header('header-null', 'not-object', 'null');
  header('deep-array-1e5', 'depth', '['.repeat(100_000), 0, /nesting deeper than 128/);
  header('deep-object-1e5', 'depth', '{"a":'.repeat(100_000), 0, /nesting deeper than 128/);
  // deep inside a field the reader ignores: still bounded
  entry(
    'deep-extra-field',
    'depth',
    `{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":${'['.repeat(200)}${']'.repeat(200)}}`,
    4,
  );
  header(
    'duplicate-tensor',
    'duplicate-key',
    `{"w":${JSON.stringify(f32([1], 0))},"w":${JSON.stringify(f32([1], 0))}}`,
    4,
    /duplicate key "w"/,
  );
  header(
    'duplicate-metadata',
    'duplicate-key',
    '{"__metadata__":{},"__metadata__":{}}',
    0,
    /duplicate key "__metadata__"/,
  );
  entry(
    'duplicate-field',
    'duplicate-key',
    '{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}',
    4,
  );

  // ---- __metadata__
  header('metadata-string', 'metadata', { __metadata__: 'x' }, 0, /__metadata__ is the string "x"/);
  header('metadata-array', 'metadata', { __metadata__: ['a'] });
  header(
    'metadata-number-value',
    'metadata',
    { __metadata__: { a: 1 } },
    0,
    /__metadata__ "a" is 1; metadata values must be strings/,
  );
  header('metadata-object-value', 'metadata', { __metadata__: { a: { b: 'c' } } });
  header('metadata-null-value', 'metadata', { __metadata__: { a: null } });
  header('metadata-bool-value', 'metadata', { __metadata__: { a: true } });

  // ---- each entry
  entry('entry-string', 'entry', '"F32"', 0, /tensor "w" is the string "F32", not an object/);
  entry('entry-array', 'entry', '[1,2]');
  entry('entry-null', 'entry', 'null');
  entry('no-dtype', 'entry', '{"shape":[1],"data_offsets":[0,4]}', 4, /has no dtype/);
  entry('no-shape', 'entry', '{"dtype":"F32","data_offsets":[0,4]}', 4, /has no shape/);
  entry('no-offsets', 'entry', '{"dtype":"F32","shape":[1]}', 4, /has no data_offsets/);
  for (const d of ['F33', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'f32', ''])
    entry(
      `dtype-${d || 'empty'}`,
      'dtype',
      `{"dtype":${JSON.stringify(d)},"shape":[1],"data_offsets":[0,4]}`,
      4,
      new RegExp(`unknown dtype "${d}"`),
    );
  entry(
    'dtype-number',
    'dtype',
    '{"dtype":4,"shape":[1],"data_offsets":[0,4]}',
    4,
    /dtype is 4, not a string/,
  );
  entry(
    'dtype-f8',
    'dtype-unsupported',
    '{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}',
    4,
    /valid safetensors but this program cannot read it/,
  );
  entry(
    'dtype-f4-misaligned',
    'misaligned',
    '{"dtype":"F4","shape":[3],"data_offsets":[0,2]}',
    2,
    /byte boundary/,
  );

  // ---- shape
  entry(
    'shape-negative',
    'shape',
    '{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}',
    4,
    /shape \[-1\] is not a list of non-negative integers/,
  );
  entry('shape-fraction', 'shape', '{"dtype":"F32","shape":[2.5],"data_offsets":[0,10]}', 10);
  entry('shape-float-integral', 'shape', '{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}', 4);
  entry('shape-exponent', 'shape', '{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}', 4);
  entry('shape-string', 'shape', '{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}', 4);
  entry('shape-scalar', 'shape', '{"dtype":"F32","shape":1,"data_offsets":[0,4]}', 4);
  entry('shape-nested', 'shape', '{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}', 4);
  entry('shape-null', 'shape', '{"dtype":"F32","shape":null,"data_offsets":[0,4]}', 4);
  entry(
    'shape-beyond-2p53',
    'shape',
    '{"dtype":"F32","shape":[0,9007199254740993],"data_offsets":[0,0]}',
    0,
    /beyond 2\^53 - 1/,
  );
  entry(
    'shape-2p60-elements',
    'size-mismatch',
    `{"dtype":"U8","shape":[${2 ** 30},${2 ** 30}],"data_offsets":[0,4]}`,
    4,
    /takes 1152921504606846976 bytes/,
  );
  entry(
    'shape-2p60-f32-overflow',
    'overflow',
    `{"dtype":"F32","shape":[${2 ** 30},${2 ** 30}],"data_offsets":[0,4]}`,
    4,
  );
  entry(
    'shape-count-overflow',
    'overflow',
    `{"dtype":"U8","shape":[${2 ** 40},${2 ** 40},${2 ** 40}],"data_offsets":[0,4]}`,
    4,
    /64-bit/,
  );
  entry(
    'shape-bytes-overflow',
    'overflow',
    `{"dtype":"F64","shape":[${2 ** 31},${2 ** 31}],"data_offsets":[0,8]}`,
    8,
  );

  // ---- data_offsets
  entry(
    'offsets-fraction',
    'offsets',
    '{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}',
    4,
    /not two non-negative integers/,
  );
  entry('offsets-negative', 'offsets', '{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}', 4);
  entry(
    'offsets-reversed',
    'offsets',
    '{"dtype":"F32","shape":[1],"data_offsets":[4,0]}',
    4,
    /end before they begin/,
  );
  entry('offsets-three', 'offsets', '{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}', 4);
  entry('offsets-one', 'offsets', '{"dtype":"F32","shape":[1],"data_offsets":[4]}', 4);
  entry('offsets-strings', 'offsets', '{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}', 4);
  entry('offsets-object', 'offsets', '{"dtype":"F32","shape":[1],"data_offsets":{"0":0,"1":4}}', 4);
  entry(
    'offsets-beyond-file',
    'truncated',
    '{"dtype":"F32","shape":[100],"data_offsets":[0,400]}',
    16,
    /truncated: tensor "w" ends at byte 400/,
  );
  entry(
    'offsets-beyond-u64',
    'start',
    '{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551616,18446744073709551620]}',
    4,
  );
  entry(
    'size-mismatch',
    'size-mismatch',
    '{"dtype":"F32","shape":[4],"data_offsets":[0,12]}',
    12,
    /takes 16 bytes but data_offsets \[0, 12\] span 12/,
  );
  entry('scalar-size-mismatch', 'size-mismatch', '{"dtype":"F32","shape":[],"data_offsets":[0,8]}', 8);

  // ---- the data section as a whole
  header('not-from-zero', 'start', { w: f32([1], 4) }, 8, /must start at 0/);
  header(
    'gap',
    'gap',
    { v: f32([1], 0), w: f32([1], 8) },
    12,
    /tensor "w": data_offsets \[8, 12\] leave a gap of 4 bytes after "v"/,
  );
  header('overlap', 'overlap', { v: f32([2], 0), w: f32([2], 4) }, 12, /overlap "v"/);
  header('alias', 'alias', { v: f32([2], 0), w: f32([2], 0) }, 8, /are the same bytes as "v"/);
  header(
    'empty-inside-other',
    'overlap',
    { v: f32([2], 0), w: { dtype: 'F32', shape: [0], data_offsets: [4, 4] } },
    8,
  );
  header('trailing-bytes', 'trailing', { w: f32([2], 0) }, 9, /1 byte follows the last tensor/);
  header('trailing-no-tensors', 'trailing', {}, 4);
  header('truncated-data', 'truncated', { w: f32([4], 0) }, 12, /truncated/);

  // ---- what is opened
  const fifo = join(dir, 'fifo.safetensors');
  if (mkfifo(fifo))
    cases.push({
      name: 'fifo',
      rule: 'file',
      path: fifo,
      message: /is a named pipe, not a safetensors file/,
    });
  const loop = join(dir, 'loop.safetensors');
  symlinkSync('loop.safetensors', loop);
  cases.push({ name: 'symlink-loop', rule: 'file', path: loop, message: /symbolic link loop/ });
  const dev = join(dir, 'device.safetensors');
  symlinkSync('/dev/zero', dev);
  cases.push({ name: 'device', rule: 'file', path: dev, message: /is a character device/ });
  const sub = join(dir, 'dir.safetensors');
  mkdirSync(sub);
  cases.push({
    name: 'folder-named-like-a-file',
    rule: 'file',
    path: sub,
    message: /expected one \.safetensors file or one \*\.safetensors\.index\.json, found 0 and 0/,
  });
  const two = join(dir, 'folder-two');
  mkdirSync(two);
  writeFileSync(join(two, 'a.safetensors'), safetensorsBytes({}));
  writeFileSync(join(two, 'b.safetensors'), safetensorsBytes({}));
  cases.push({ name: 'folder-two-files', rule: 'file', path: two, message: /found 2 and 0/ });
  const withFifo = join(dir, 'folder-fifo');
  mkdirSync(withFifo);
  if (mkfifo(join(withFifo, 'model.safetensors')))
    cases.push({ name: 'folder-holding-fifo', rule: 'file', path: withFifo, message: /named pipe/ });
  const withDir = join(dir, 'folder-dir');
  mkdirSync(join(withDir, 'model.safetensors'), { recursive: true });
  cases.push({
    name: 'folder-holding-folder',
    rule: 'file',
    path: withDir,
    message: /is a folder, not a safetensors file/,
  });
  cases.push({
    name: 'missing',
    rule: 'file',
    path: join(dir, 'absent.safetensors'),
    message: /no such file/,
  });

  // ---- shard indexes: a folder per case, with a good shard "s.safetensors" holding "w"
  const good = safetensorsBytes({ w: f32([1], 0) }, 4);
  const index = (
    name: string,
    rule: SafetensorsRule,
    body: string | object,
    message?: RegExp,
    setup?: (d: string) => void,
  ) => {
    const d = join(dir, `index-${name}`);
    mkdirSync(d);
    writeFileSync(join(d, 's.safetensors'), good);
    const path = join(d, 'model.safetensors.index.json');
    writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
    setup?.(d);
    cases.push({ name: `index-${name}`, rule, path, ...(message ? { message } : {}) });
  };
  index('not-json', 'index-json', '{"weight_map":', /not a valid index/);
  index('array', 'index-json', '[]', /not a JSON object/);
  index(
    'duplicate-key',
    'index-json',
    '{"weight_map":{"w":"s.safetensors","w":"../x"}}',
    /duplicate key "w"/,
  );
  index('deep', 'index-json', '['.repeat(100_000), /nesting deeper/);
  index('bad-utf8', 'file', '', /not valid UTF-8/, (d) =>
    writeFileSync(join(d, 'model.safetensors.index.json'), Uint8Array.of(0xff)),
  );
  index('no-weight-map', 'index-weight-map', { metadata: {} }, /no weight_map/);
  index('weight-map-array', 'index-weight-map', { weight_map: ['s.safetensors'] });
  index('value-number', 'index-weight-map', { weight_map: { w: 1 } }, /maps "w" to a number/);
  index('value-null', 'index-weight-map', { weight_map: { w: null } });
  index('value-object', 'index-weight-map', { weight_map: { w: { file: 's.safetensors' } } });
  index('dotdot', 'index-path', { weight_map: { w: '../../../../etc/passwd' } }, /through '\.\.'/);
  index('dotdot-inner', 'index-path', { weight_map: { w: 'sub/../s.safetensors' } });
  index('absolute', 'index-path', { weight_map: { w: '/etc/passwd' } }, /an absolute path/);
  index('drive-letter', 'index-path', { weight_map: { w: 'C:/Windows/win.ini' } });
  index('backslash', 'index-path', { weight_map: { w: '..\\..\\etc\\passwd' } }, /backslash/);
  index('nul', 'index-path', { weight_map: { w: 's.safetensors\0.txt' } }, /NUL/);
  index('empty-name', 'index-path', { weight_map: { w: '' } }, /empty name/);
  // "s.safetensors/" opens nowhere else (ENOTDIR); a path resolver that drops the slash must not accept it
  index('trailing-slash', 'index-path', { weight_map: { w: 's.safetensors/' } }, /ending in '\/'/);
  index('name-too-long', 'index-path', { weight_map: { w: `${'a'.repeat(5000)}.safetensors` } }, /too long/);
  index('bom', 'index-json', '', /byte-order mark/, (d) =>
    writeFileSync(
      join(d, 'model.safetensors.index.json'),
      `\ufeff${JSON.stringify({ weight_map: { w: 's.safetensors' } })}`,
    ),
  );
  index(
    'symlink-escape',
    'index-escape',
    { weight_map: { w: 'link.safetensors' } },
    /outside the index's folder/,
    (d) => symlinkSync('/etc/passwd', join(d, 'link.safetensors')),
  );
  index('symlink-dir-escape', 'index-escape', { weight_map: { w: 'up/passwd' } }, undefined, (d) =>
    symlinkSync('/etc', join(d, 'up')),
  );
  index(
    'missing-shard',
    'index-missing-shard',
    { weight_map: { w: 'gone.safetensors' } },
    /shard "gone.safetensors" \(holding "w"\) is missing/,
  );
  index(
    'missing-tensor',
    'index-missing-tensor',
    { weight_map: { w: 's.safetensors', x: 's.safetensors' } },
    /maps "x" to "s.safetensors", which does not contain it/,
  );
  index(
    'metadata-string',
    'index-metadata',
    { metadata: 'x', weight_map: { w: 's.safetensors' } },
    /metadata must be an object/,
  );
  index('shard-fifo', 'file', { weight_map: { w: 'p.safetensors' } }, /named pipe/, (d) => {
    if (!mkfifo(join(d, 'p.safetensors'))) symlinkSync('/dev/zero', join(d, 'p.safetensors'));
  });
  index('shard-loop', 'file', { weight_map: { w: 'l.safetensors' } }, /symbolic link loop/, (d) =>
    symlinkSync('l.safetensors', join(d, 'l.safetensors')),
  );
  index(
    'shard-malformed',
    'trailing',
    { weight_map: { w: 'bad.safetensors' } },
    /bad\.safetensors: 1 byte follows/,
    (d) => writeFileSync(join(d, 'bad.safetensors'), safetensorsBytes({ w: f32([1], 0) }, 5)),
  );
  // over the index size cap, but sparse: costs no disk and must cost no memory
  index('too-large', 'file', '{}', /more than the 67108864/, (d) => {
    truncateSync(join(d, 'model.safetensors.index.json'), (64 << 20) + 1);
  });
  return cases;
}
