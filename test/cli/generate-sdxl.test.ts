// `toma generate` with an SDXL model end to end as a user runs it (a child process): tiny random SDXL
// folders (both layouts) to PNGs on the CPU and on WebGPU (the same image within 8-bit rounding),
// deterministic for a seed, nothing written when a run fails, and the usage errors of options that do
// not apply.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Checkpoint, writeSafetensors } from '../../src/io/safetensors.js';
import { noGpu } from '../helpers.js';
import { sdxlTmp, tinySdxlFolder } from '../pipeline/sdxl-tiny-folder.js';
import { tinyFolder } from '../pipeline/tiny-folder.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function toma(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 600_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

let outs = 0;
const outDir = () => join(sdxlTmp, `out-${outs++}`);
const base = ['generate', '--prompt', 'a lighthouse at dusk', '--steps', '2', '--size', '16x32'];

/** The one PNG in a folder. */
function onePng(dir: string, size = '16x32', method = 'dense'): Buffer {
  const files = readdirSync(dir);
  assert.equal(files.length, 1, files.join(', '));
  assert.match(files[0]!, new RegExp(`^a-lighthouse-at-dusk-seed\\d+-${size}-${method}-(cpu|webgpu)\\.png$`));
  return readFileSync(join(dir, files[0]!));
}

/** RGB bytes of a PNG as src/io/png.ts writes it (8-bit RGB, filter 0). */
async function rgbOf(png: Buffer): Promise<Uint8Array> {
  const { inflateSync } = await import('node:zlib');
  let o = 8;
  let w = 0;
  const idat: Buffer[] = [];
  while (o < png.length) {
    const len = png.readUInt32BE(o);
    const type = png.toString('latin1', o + 4, o + 8);
    if (type === 'IHDR') w = png.readUInt32BE(o + 8);
    if (type === 'IDAT') idat.push(png.subarray(o + 8, o + 8 + len));
    o += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const rows = raw.length / (w * 3 + 1);
  const rgb = new Uint8Array(w * rows * 3);
  for (let y = 0; y < rows; y++) rgb.set(raw.subarray(y * (w * 3 + 1) + 1, (y + 1) * (w * 3 + 1)), y * w * 3);
  return rgb;
}

describe('toma generate with an SDXL model', () => {
  it('writes a PNG on the CPU, every stage reported; the same seed gives the same file', async () => {
    const dir = await tinySdxlFolder();
    const a = outDir();
    const r = toma([...base, '--model-dir', dir, '--backend', 'cpu', '--seed', '7', '--out', a]);
    assert.equal(r.code, 0, r.err);
    for (const stage of [
      'tokenize',
      'load CLIP-L',
      'CLIP-L',
      'load CLIP-G',
      'CLIP-G',
      'load UNet',
      'denoise dense',
      'load VAE',
      'decode dense',
    ])
      assert.match(r.out, new RegExp(`^  ${stage} +[0-9.]+ s   peak`, 'm'), stage);
    assert.match(r.out, /model: SDXL from StableDiffusionXLPipeline folder/);
    assert.match(r.out, /image: 16x32, 2 euler steps, guidance 5, seed 7/);
    const png = onePng(a);
    const b = outDir();
    assert.equal(toma([...base, '--model-dir', dir, '--backend', 'cpu', '--seed', '7', '--out', b]).code, 0);
    assert.deepEqual(onePng(b), png, 'deterministic for a seed');
    const c = outDir();
    const r2 = toma([
      ...base,
      '--model-dir',
      dir,
      '--backend',
      'cpu',
      '--seed',
      '7',
      '--negative-prompt',
      'fog',
      '--scheduler',
      'euler-a',
      '--guidance',
      '3',
      '--out',
      c,
    ]);
    assert.equal(r2.code, 0, r2.err);
    assert.match(r2.out, /2 euler-a steps, guidance 3, with a negative prompt/);
    assert.notDeepEqual(onePng(c), png);
  });

  it('--method toma / tomesd / todo reduce tokens in the UNet: each image differs from dense, deterministically', async () => {
    const dir = await tinySdxlFolder();
    // 32x64 pixels: latent 4x8, attention levels 2x4 and 1x2 (the tiny preset), so every method merges
    const args = [...base, '--size', '32x64', '--model-dir', dir, '--backend', 'cpu', '--seed', '3'];
    const dense = outDir();
    assert.equal(toma([...args, '--out', dense]).code, 0);
    const densePng = onePng(dense, '32x64');
    for (const method of ['toma', 'tomesd', 'todo']) {
      const a = outDir();
      const r = toma([...args, '--method', method, '--ratio', '0.5', '--out', a]);
      assert.equal(r.code, 0, `${method}: ${r.err}`);
      assert.match(r.out, new RegExp(`denoise ${method}`), method);
      const png = onePng(a, '32x64', method);
      assert.notDeepEqual(png, densePng, `${method} changed the image`);
      const b = outDir();
      assert.equal(toma([...args, '--method', method, '--ratio', '0.5', '--out', b]).code, 0);
      assert.deepEqual(onePng(b, '32x64', method), png, `${method} is deterministic for a seed`);
    }
  });

  it('--cache fora:2 reuses the transformer modules between full steps (with or without a method)', async () => {
    const dir = await tinySdxlFolder();
    const args = [...base, '--steps', '3', '--model-dir', dir, '--backend', 'cpu', '--seed', '4'];
    const dense = outDir();
    assert.equal(toma([...args, '--out', dense]).code, 0);
    for (const method of ['dense', 'toma']) {
      const a = outDir();
      const r = toma([...args, '--method', method, '--cache', 'fora:2', '--out', a]);
      assert.equal(r.code, 0, `${method}: ${r.err}`);
      assert.notDeepEqual(onePng(a, '16x32', `${method}\\+fora2`), onePng(dense), method);
    }
    const bad = toma([...args, '--cache', 'teacache:0.3', '--out', outDir()]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--cache: step cache "teacache" probes a diffusion transformer's first block/);
  });

  it('the single-file release runs through --checkpoint', async () => {
    const dir = await tinySdxlFolder('single-file');
    const out = outDir();
    const r = toma([
      ...base,
      '--checkpoint',
      join(dir, 'sd_xl_base_1.0.safetensors'),
      '--backend',
      'cpu',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /model: SDXL from single-file SDXL checkpoint/);
    onePng(out);
  });

  it('WebGPU makes the CPU image within 8-bit rounding', { skip: noGpu }, async () => {
    const dir = await tinySdxlFolder();
    const [a, b] = [outDir(), outDir()];
    assert.equal(toma([...base, '--model-dir', dir, '--backend', 'cpu', '--out', a]).code, 0);
    const r = toma([...base, '--model-dir', dir, '--backend', 'webgpu', '--dtype', 'f32', '--out', b]);
    assert.equal(r.code, 0, r.err);
    const [x, y] = [await rgbOf(onePng(a)), await rgbOf(onePng(b))];
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    assert.ok(worst <= 1, `max difference ${worst} levels`);
  });

  it('a run that fails after denoising writes nothing', async () => {
    // a VAE whose output bias is NaN: the decode fails after the UNet has run
    const dir = join(sdxlTmp, 'nan-vae');
    cpSync(await tinySdxlFolder(), dir, { recursive: true });
    const file = join(dir, 'vae/diffusion_pytorch_model.safetensors');
    const ck = Checkpoint.open(file);
    const tensors = Object.fromEntries(
      ck.keys().map((k) => {
        const bits = ck.readF16Bits(k);
        if (k === 'decoder.conv_out.bias') bits.fill(0x7e00);
        return [k, { dtype: 'F16' as const, shape: ck.info(k).shape, data: bits }];
      }),
    );
    ck.close();
    writeSafetensors(file, tensors);
    const out = outDir();
    const r = toma([...base, '--model-dir', dir, '--backend', 'cpu', '--out', out]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /non-finite/);
    assert.match(r.out, /denoise dense/);
    assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'no file, not even a partial one');
  });

  it('options that do not apply are usage errors', async () => {
    const dir = await tinySdxlFolder();
    const bad = (args: string[], re: RegExp) => {
      const r = toma([...base, ...args, '--backend', 'cpu', '--out', outDir()]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, re);
    };
    bad(
      ['--model-dir', dir, '--max-length', '77'],
      /--max-length: options of a FLUX\.1 model, not of this SDXL model/,
    );
    bad(
      ['--model-dir', dir, '--method', 'hilbert'],
      /--method: method "hilbert" reorders FLUX's joint attention/,
    );
    bad(['--model-dir', dir, '--scheduler', 'dpm'], /--scheduler/);
    bad(['--model-dir', dir, '--size', '24x32'], /--size: width must be a positive multiple of 16/);
    bad(
      ['--model-dir', await tinyFolder(), '--negative-prompt', 'fog'],
      /--negative-prompt: options of an SDXL model, not of this FLUX\.1 model/,
    );
    bad(['--negative-prompt', 'fog'], /--negative-prompt: options of a FLUX\.1 or SDXL model/);
  });

  it('an incomplete folder names what is missing', async () => {
    const dir = join(sdxlTmp, 'incomplete');
    cpSync(await tinySdxlFolder(), dir, {
      recursive: true,
      filter: (src) => !/text_encoder_2|tokenizer_2/.test(src),
    });
    const r = toma([...base, '--model-dir', dir, '--backend', 'cpu', '--out', outDir()]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.err,
      /incomplete SDXL model, missing: .*text_encoder_2\/ \(the OpenCLIP ViT-bigG text encoder\)/,
    );
  });
});
