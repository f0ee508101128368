// `toma generate --model-dir` end to end as a user runs it (a child process): a tiny random FLUX.1
// folder to PNGs on the CPU and on WebGPU (the same image within 8-bit rounding), the errors for a
// folder missing a component, a mismatched tokenizer and a checkpoint of another model family, and the
// embedded-model path unchanged.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { parseSize, promptSlug } from '../../src/cli/commands/generate-flux.js';
import { clipTokenizerJson } from '../../src/text/load-tokenizer.js';
import { noGpu } from '../helpers.js';
import { tinyFolder, tinyFolderCopy, tmp } from '../pipeline/tiny-folder.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function toma(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Width, height and RGB bytes of a PNG as src/io/png.ts writes it (8-bit RGB, filter 0 rows). */
function readPng(path: string): { w: number; h: number; rgb: Uint8Array } {
  const b = readFileSync(path);
  assert.deepEqual([...b.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  let o = 8;
  let w = 0;
  let h = 0;
  const idat: Buffer[] = [];
  while (o < b.length) {
    const len = b.readUInt32BE(o);
    const type = b.toString('latin1', o + 4, o + 8);
    const data = b.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      w = data.readUInt32BE(0);
      h = data.readUInt32BE(4);
      assert.equal(data[8], 8);
      assert.equal(data[9], 2, 'RGB');
    } else if (type === 'IDAT') idat.push(data);
    o += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) rgb.set(raw.subarray(y * (w * 3 + 1) + 1, (y + 1) * (w * 3 + 1)), y * w * 3);
  return { w, h, rgb };
}

describe('toma generate with a FLUX.1 model folder', () => {
  it('writes a PNG on the CPU backend, with every stage reported', async () => {
    const out = join(tmp, 'out-cpu');
    const r = toma([
      'generate',
      '--model-dir',
      await tinyFolder(),
      '--prompt',
      'a cat',
      '--steps',
      '2',
      '--size',
      '32x32',
      '--backend',
      'cpu',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.err);
    for (const stage of [
      'tokenize',
      'load T5',
      'T5',
      'load CLIP',
      'CLIP',
      'load transformer',
      'denoise dense',
      'load AE',
      'decode dense',
    ])
      assert.match(r.out, new RegExp(`^  ${stage} +[0-9.]+ s   peak`, 'm'), stage);
    assert.match(r.out, /model: FLUX\.1-schnell/);
    assert.match(r.err, /denoise dense +\[#+\] 2\/2/);
    const png = join(out, 'a-cat-seed0-32px-dense-cpu.png');
    assert.match(r.out, new RegExp(`wrote ${png}`));
    const img = readPng(png);
    assert.equal(img.w, 32);
    assert.equal(img.h, 32);
    assert.deepEqual(readdirSync(out), ['a-cat-seed0-32px-dense-cpu.png'], 'no temp files left');
  });

  it('--method toma --compare writes both images and the speedup', async () => {
    const out = join(tmp, 'out-compare');
    const r = toma([
      'generate',
      '--model-dir',
      await tinyFolder('tiny-dev'),
      '--prompt',
      'a cat',
      '--steps',
      '2',
      '--size',
      '32',
      '--backend',
      'cpu',
      '--out',
      out,
      '--method',
      'toma',
      '--compare',
      '--guidance',
      '2',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /model: FLUX\.1-dev/);
    assert.match(r.out, /guidance 2/);
    assert.match(r.out, /toma vs dense \(denoising\): [0-9.]+x/);
    assert.ok(
      existsSync(join(out, 'a-cat-seed0-32px-dense-cpu.png')) &&
        existsSync(join(out, 'a-cat-seed0-32px-toma-cpu.png')),
    );
  });

  it('on WebGPU gives the CPU image within 8-bit rounding', { skip: noGpu }, async () => {
    const out = join(tmp, 'out-gpu');
    const r = toma([
      'generate',
      '--model-dir',
      await tinyFolder(),
      '--prompt',
      'a cat',
      '--steps',
      '2',
      '--size',
      '32x32',
      '--backend',
      'webgpu',
      '--dtype',
      'f32',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.err);
    const gpuImg = readPng(join(out, 'a-cat-seed0-32px-dense-webgpu.png')).rgb;
    const cpuImg = readPng(join(tmp, 'out-cpu/a-cat-seed0-32px-dense-cpu.png')).rgb;
    let worst = 0;
    for (let i = 0; i < gpuImg.length; i++) worst = Math.max(worst, Math.abs(gpuImg[i]! - cpuImg[i]!));
    assert.ok(worst <= 1, `largest pixel difference ${worst}`);
  });

  it('names a missing component, a mismatched tokenizer and a checkpoint of another family (exit 1)', async () => {
    const missing = await tinyFolderCopy();
    rmSync(join(missing, 'text_encoder_2'), { recursive: true });
    let r = toma(['generate', '--model-dir', missing, '--prompt', 'a cat', '--backend', 'cpu']);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^toma: .*incomplete FLUX\.1 model, missing: .*text_encoder_2\/ \(the T5-XXL text encoder\)\n$/,
    );

    // tokenizer_2/ holding a CLIP tokenizer.json
    const swapped = await tinyFolderCopy();
    const vocab = JSON.parse(readFileSync(join(swapped, 'tokenizer/vocab.json'), 'utf8'));
    const merges = readFileSync(join(swapped, 'tokenizer/merges.txt'), 'utf8');
    writeFileSync(
      join(swapped, 'tokenizer_2/tokenizer.json'),
      JSON.stringify(clipTokenizerJson(vocab, merges)),
    );
    writeFileSync(join(swapped, 'tokenizer_2/tokenizer_config.json'), '{"pad_token": "<|endoftext|>"}');
    r = toma(['generate', '--model-dir', swapped, '--prompt', 'a cat', '--backend', 'cpu']);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /the tokenizer in .*tokenizer_2 does not match the T5 encoder .*250 tokens .*384 rows/,
    );

    const base = await tinyFolder();

    r = toma([
      'generate',
      '--model-dir',
      base,
      '--prompt',
      'a cat',
      '--backend',
      'cpu',
      '--clip-tokenizer',
      join(base, 'tokenizer_2'),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.err, /does not match the CLIP encoder .*356 tokens .*250 rows/);

    r = toma([
      'generate',
      '--checkpoint',
      join(base, 'text_encoder_2'),
      '--model-dir',
      base,
      '--prompt',
      'a cat',
      '--backend',
      'cpu',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.err, /is not a Flux transformer checkpoint: it looks like a T5 encoder/);
  });

  it('usage errors (exit 2): no prompt, options of the other path, a bad size', async () => {
    const base = await tinyFolder();
    let r = toma(['generate', '--model-dir', base, '--backend', 'cpu']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--prompt is required/);
    r = toma(['generate', '--prompt', 'a cat', '--backend', 'cpu']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--prompt: options of a FLUX\.1 or SDXL model; give --model-dir/);
    r = toma(['generate', '--model-dir', base, '--prompt', 'a', '--class', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--class: options of the embedded model/);
    r = toma(['generate', '--model-dir', base, '--prompt', 'a', '--size', '40x32', '--backend', 'cpu']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--size: width must be a positive multiple of 16/);
  });

  it('the embedded model still runs without --model-dir', () => {
    const out = join(tmp, 'out-embedded');
    const r = toma([
      'generate',
      '--class',
      'green-meadow',
      '--size',
      '8',
      '--steps',
      '1',
      '--backend',
      'cpu',
      '--no-compare',
      '--method',
      'dense',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.equal(readPng(join(out, 'green-meadow-seed0-8px-dense-cpu.png')).w, 8);
  });

  it('parses sizes and names files after the prompt', () => {
    assert.deepEqual(parseSize('1024x768', [1, 1]), [1024, 768]);
    assert.deepEqual(parseSize('512', [1, 1]), [512, 512]);
    assert.deepEqual(parseSize(undefined, [3, 4]), [3, 4]);
    assert.throws(() => parseSize('big', [1, 1]), /--size must be WxH/);
    assert.equal(promptSlug('A Cat, on the Mat!'), 'a-cat-on-the-mat');
    assert.equal(promptSlug('¡¿!'), 'image');
    assert.ok(promptSlug('x'.repeat(100)).length <= 48);
  });
});
