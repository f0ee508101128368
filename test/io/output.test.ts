// Output safety (src/io/output.ts): atomic writes through exclusive, unguessable temporary files;
// nothing left behind on failure; targets checked against the inputs before any work.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  describeWriteError,
  liveTempFiles,
  newTempPath,
  onTempFiles,
  removeTempFilesSync,
  TEMP_FLAGS,
  TEMP_MODE,
  validateOutput,
  validateOutputDir,
  writeFileAtomic,
  writeFileVia,
} from '../../src/io/output.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { type StreamedTensor, writeSafetensorsStreamed } from '../../src/io/safetensors-stream.js';

const root = mkdtempSync(join(tmpdir(), 'toma-output-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(root, `case-${n++}`);
  mkdirSync(d);
  return d;
};

describe('writeFileAtomic / writeFileVia', () => {
  it('writes the bytes, leaves no temporary file, and registers none afterwards', () => {
    const d = fresh();
    writeFileAtomic(join(d, 'a.txt'), 'hello');
    assert.equal(readFileSync(join(d, 'a.txt'), 'utf8'), 'hello');
    assert.deepEqual(readdirSync(d), ['a.txt']);
    assert.deepEqual(liveTempFiles(), []);
  });

  it('temporary names are random and beside the target, and reported to a listener', () => {
    const seen: [string, boolean][] = [];
    onTempFiles((p, exists) => seen.push([p, exists]));
    try {
      const d = fresh();
      writeFileAtomic(join(d, 'x.bin'), new Uint8Array([1, 2, 3]));
      writeFileAtomic(join(d, 'x.bin'), new Uint8Array([4]));
      assert.equal(seen.length, 4);
      const [a, b] = [seen[0]![0], seen[2]![0]];
      assert.notEqual(a, b);
      assert.match(relative(d, a), /^\.x\.bin\.tmp-[0-9a-f]{16}$/);
      assert.deepEqual(
        seen.map(([, e]) => e),
        [true, false, true, false],
      );
    } finally {
      onTempFiles(null);
    }
  });

  it('never writes through a symbolic link planted at a temporary name', async () => {
    const d = fresh();
    const victim = join(d, 'victim.txt');
    writeFileSync(victim, 'precious');
    const target = join(d, 'out.safetensors');
    // the name the old writers used: no longer used at all
    symlinkSync(victim, `${target}.tmp-${process.pid}`);
    writeSafetensors(target, { x: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
    await writeSafetensorsStreamed(target, [
      { key: 'x', dtype: 'F32', shape: [1], produce: () => (o) => (o as Float32Array).fill(2) },
    ]);
    writeFileAtomic(target, 'text');
    assert.equal(readFileSync(victim, 'utf8'), 'precious');
    // a name of ours, even if seen and planted in time, is opened exclusively: the open fails
    const planted = newTempPath(target);
    symlinkSync(victim, planted);
    assert.throws(
      () => openSync(planted, TEMP_FLAGS, TEMP_MODE),
      (e: NodeJS.ErrnoException) => e.code === 'EEXIST',
    );
    removeTempFilesSync(); // removes the planted link (registered above), not what it points to
    assert.equal(existsSync(planted), false);
    assert.equal(readFileSync(victim, 'utf8'), 'precious');
  });

  it('an existing symbolic link at the target is replaced, not written through', () => {
    const d = fresh();
    const victim = join(d, 'victim.txt');
    writeFileSync(victim, 'precious');
    symlinkSync(victim, join(d, 'out.txt'));
    writeFileAtomic(join(d, 'out.txt'), 'new');
    assert.equal(readFileSync(victim, 'utf8'), 'precious');
    assert.equal(readFileSync(join(d, 'out.txt'), 'utf8'), 'new');
  });

  it('a producer that throws leaves neither the target nor a temporary file', () => {
    const d = fresh();
    assert.throws(
      () =>
        writeFileVia(join(d, 'out.bin'), () => {
          throw new Error('producer failed');
        }),
      /producer failed/,
    );
    assert.deepEqual(readdirSync(d), []);
    assert.deepEqual(liveTempFiles(), []);
  });

  it('a failed write keeps the previous file whole', () => {
    const d = fresh();
    writeFileAtomic(join(d, 'out.bin'), 'old');
    assert.throws(() =>
      writeFileVia(join(d, 'out.bin'), () => {
        throw new Error('boom');
      }),
    );
    assert.equal(readFileSync(join(d, 'out.bin'), 'utf8'), 'old');
    assert.deepEqual(readdirSync(d), ['out.bin']);
  });

  it('never replaces a FIFO (or a device) at the target: only a file or a link is renamed over', () => {
    const d = fresh();
    const target = join(d, 'pipe');
    execFileSync('mkfifo', [target]);
    assert.throws(
      () => writeFileAtomic(target, 'x'),
      /cannot write .*pipe: it is a named pipe, not a regular file/,
    );
    assert.ok(lstatSync(target).isFIFO(), 'still the FIFO');
    assert.deepEqual(readdirSync(d), ['pipe'], 'no temporary file');
  });

  it('a missing folder is named in the error', () => {
    const d = fresh();
    assert.throws(
      () => writeFileAtomic(join(d, 'nope', 'out.txt'), 'x'),
      /cannot write .*out\.txt: the folder .*nope does not exist/,
    );
  });

  it('file-system errors name the target: disk full, quota, read-only', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    assert.equal(
      describeWriteError('out.safetensors', err('ENOSPC')).message,
      'disk full writing out.safetensors',
    );
    assert.match(describeWriteError('o.png', err('EDQUOT')).message, /disk quota exceeded writing o\.png/);
    assert.match(
      describeWriteError('o.png', err('EROFS')).message,
      /cannot write o\.png: read-only file system/,
    );
    assert.match(describeWriteError('d/o.png', err('EACCES')).message, /permission denied in d$/);
  });
});

describe('writeSafetensors / writeSafetensorsStreamed leave nothing on failure', () => {
  it('writeSafetensors: a bad tensor throws before any file exists', () => {
    const d = fresh();
    assert.throws(() =>
      writeSafetensors(join(d, 'o.safetensors'), {
        x: { dtype: 'F32', shape: [3], data: new Float32Array(2) },
      }),
    );
    assert.deepEqual(readdirSync(d), []);
  });

  it('writeSafetensorsStreamed: a producer throwing mid-file removes the temporary file', async () => {
    const d = fresh();
    let calls = 0;
    const t: StreamedTensor = {
      key: 'w',
      dtype: 'F32',
      shape: [1 << 16],
      produce: () => (out) => {
        if (++calls > 2) throw new Error('producer died');
        (out as Float32Array).fill(1);
      },
    };
    await assert.rejects(
      writeSafetensorsStreamed(join(d, 'big.safetensors'), [t], { bufferBytes: 1 << 16 }),
      /producer died/,
    );
    assert.ok(calls > 2, 'some data was written before the failure');
    assert.deepEqual(readdirSync(d), []);
    assert.deepEqual(liveTempFiles(), []);
  });
});

describe('validateOutput', () => {
  const setup = () => {
    const d = fresh();
    const input = join(d, 'in.safetensors');
    writeFileSync(input, 'input bytes');
    return { d, input };
  };

  it('refuses the input itself, by identical and by relative path', () => {
    const { input } = setup();
    assert.throws(() => validateOutput(input, [input]), /--out: .* is the same file as the input/);
    const rel = relative(process.cwd(), input);
    assert.throws(() => validateOutput(`./${rel}`, [input]), /is the same file as the input/);
  });

  it('refuses a hard link and a symbolic link to an input', () => {
    const { d, input } = setup();
    linkSync(input, join(d, 'hard.safetensors'));
    symlinkSync(input, join(d, 'soft.safetensors'));
    assert.throws(() => validateOutput(join(d, 'hard.safetensors'), [input]), /the same file as the input/);
    assert.throws(() => validateOutput(join(d, 'soft.safetensors'), [input]), /the same file as the input/);
  });

  it('refuses a file inside an input folder (a sharded checkpoint), existing or new', () => {
    const { d, input } = setup();
    assert.throws(() => validateOutput(input, [d]), /in\.safetensors is inside the input folder/);
    // a second .safetensors in a folder checkpoint would make it ambiguous
    assert.throws(() => validateOutput(join(d, 'new.safetensors'), [d]), /is inside the input folder/);
    mkdirSync(join(d, 'sub'));
    assert.throws(() => validateOutput(join(d, 'sub', 'o.st'), [d]), /is inside the input folder/);
  });

  it('refuses a shard of an index given as input; accepts a new file beside the index', () => {
    const d = fresh();
    writeSafetensors(join(d, 'model.safetensors'), { w: { dtype: 'F32', shape: [1], data: [1] } });
    const index = join(d, 'model.safetensors.index.json');
    writeFileSync(index, JSON.stringify({ weight_map: { w: 'model.safetensors' } }));
    assert.throws(
      () => validateOutput(join(d, 'model.safetensors'), [index]),
      /model\.safetensors is the same file as the input .*model\.safetensors; writing it would destroy the input/,
    );
    validateOutput(join(d, 'out.safetensors'), [index]);
  });

  it('refuses a folder, a missing folder, a file as folder; accepts a new file and a replaceable one', () => {
    const { d, input } = setup();
    assert.throws(() => validateOutput(d, [input]), /--out: .* is a folder; give a file name/);
    assert.throws(() => validateOutput(join(d, 'no', 'o.st'), [input]), /the folder .*no does not exist/);
    assert.throws(
      () => validateOutput(join(input, 'o.st'), [input]),
      /in\.safetensors is a file, not a folder/,
    );
    validateOutput(join(d, 'new.safetensors'), [input]);
    writeFileSync(join(d, 'old.safetensors'), 'x');
    validateOutput(join(d, 'old.safetensors'), [input]);
  });

  it('refuses a device as the output', () => {
    assert.throws(
      () => validateOutput('/dev/null', []),
      /\/dev\/null is a character device; the output must be a regular file/,
    );
  });

  it('an output folder may not be an input folder; a missing one needs a writable ancestor', () => {
    const { d, input } = setup();
    assert.throws(() => validateOutputDir(d, [d]), /--out: .* is the input folder/);
    assert.throws(() => validateOutputDir(input, []), /--out: .*in\.safetensors is a file, not a folder/);
    validateOutputDir(join(d, 'a', 'b'), [d]);
    assert.throws(() => validateOutputDir(join(input, 'sub'), []), /in\.safetensors is a file, not a folder/);
  });
});
