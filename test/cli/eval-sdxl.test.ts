// `toma eval --model-dir <SDXL>` end to end (a child process) on a tiny random SDXL folder: the outputs
// of an evaluation, seed i of a prompt being the image the library makes alone for that seed and prompt
// (dense vs dense identical), ToMA, ToMeSD and ToDo against dense, nothing written when a run fails,
// --from on its outputs, WebGPU, the single-file layout, and the usage errors of options that do not apply.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SdxlTextToImage } from '../../src/api/sdxl-text-to-image.js';
import { CpuBackend } from '../../src/cpu/backend.js';
import { psnr, type RgbImage } from '../../src/eval/image-metrics.js';
import type { EvalReport } from '../../src/eval/report.js';
import { loadSavedRun } from '../../src/eval/saved-run.js';
import { toUint8 } from '../../src/io/png.js';
import { Checkpoint, writeSafetensors } from '../../src/io/safetensors.js';
import { noGpu } from '../helpers.js';
import { sdxlTmp, tinySdxlFolder } from '../pipeline/sdxl-tiny-folder.js';
import { tinyFolder } from '../pipeline/tiny-folder.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function toma(args: string[]) {
  const r = spawnSync(process.execPath, [cli, 'eval', ...args], { encoding: 'utf8', timeout: 600_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

let outs = 0;
const outDir = () => join(sdxlTmp, `eval-out-${outs++}`);
const PROMPTS = ['a lighthouse at dusk', 'a red fox in snow'];
const base = [
  '--prompts',
  PROMPTS.join(','),
  '--seeds',
  '3',
  '--size',
  '32',
  '--steps',
  '2',
  '--features',
  'none',
];
const readReport = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as EvalReport;
const ALL_FILES = ['grid.png', 'pareto.svg', 'results.json', 'results.md', 'samples-1.png'];

function same(a: RgbImage, b: RgbImage, what: string): void {
  assert.equal(psnr(a, b), Number.POSITIVE_INFINITY, `${what}: identical images`);
  assert.deepEqual(a.data, b.data, what);
}

describe('toma eval with an SDXL model', () => {
  it('dense alone: every output, settings of the run, seed i = the image made alone for seed i', async () => {
    const dir = await tinySdxlFolder();
    const out = outDir();
    const r = toma([...base, '--model-dir', dir, '--backend', 'cpu', '--methods', 'dense', '--out', out]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(readdirSync(out).sort(), ALL_FILES);
    const rep = readReport(out);
    assert.equal(rep.settings.family, 'sdxl');
    assert.deepEqual(rep.settings.classNames, PROMPTS);
    assert.deepEqual(rep.settings.classes, [0, 1, 0]);
    assert.equal(rep.settings.size, 32);
    assert.equal(rep.settings.steps, 2);
    assert.equal(rep.settings.cfg, 5);
    assert.deepEqual(
      rep.results.map((m) => m.config.label),
      ['dense'],
    );
    const dense = rep.results[0]!;
    assert.equal(dense.speed.calls.length, 3);
    for (const c of dense.speed.calls) assert.ok(Number.isFinite(c.msPerImage) && c.msPerImage > 0);
    assert.match(readFileSync(join(out, 'results.md'), 'utf8'), /prompts cycled over 2/);

    // the library alone, one prompt and seed per call: the same pixels
    const run = loadSavedRun(out);
    const be = new CpuBackend();
    try {
      const p = SdxlTextToImage.open(SdxlTextToImage.locate({ modelDir: dir }), be, 'f32');
      for (const i of [0, 2]) {
        const g = await p.run({ prompts: [PROMPTS[i % 2]!], seed: i, width: 32, height: 32, steps: 2 });
        const img = { width: 32, height: 32, data: toUint8(g.outputs[0]!.images[0]!) };
        same(run.images.get('dense')![i]!, img, `seed ${i}`);
      }
    } finally {
      be.destroy();
    }

    // --from recomputes the metrics from the written images, keeping the SDXL settings
    const again = outDir();
    const f = toma(['--from', out, '--features', 'none', '--out', again]);
    assert.equal(f.code, 0, f.err);
    assert.equal(readReport(again).settings.family, 'sdxl');
    assert.match(readFileSync(join(again, 'results.md'), 'utf8'), /prompts cycled over 2/);
  });

  it('ToMA, ToMeSD and ToDo against dense: finite metrics, dense unchanged by the methods beside it', async () => {
    const dir = await tinySdxlFolder();
    const out = outDir();
    const args = [...base, '--model-dir', dir, '--backend', 'cpu', '--methods', 'toma,tomesd,todo'];
    const r = toma([...args, '--ratios', '0.5', '--out', out]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(readdirSync(out).sort(), ALL_FILES);
    const rep = readReport(out);
    assert.deepEqual(
      rep.results.map((m) => m.config.label),
      ['dense', 'toma 0.5', 'tomesd 0.5', 'todo'],
    );
    // no destinations are recorded on the UNet: no ToMA overlay column in the grid
    assert.deepEqual(rep.grid?.columns, ['dense', 'toma 0.5', 'tomesd 0.5', 'todo']);
    for (const m of rep.results) {
      for (const c of m.speed.calls)
        assert.ok(Number.isFinite(c.msPerImage) && c.msPerImage > 0, m.config.label);
      assert.ok(Number.isFinite(m.speed.speedup) && m.speed.speedup > 0, m.config.label);
      if (m.config.label === 'dense') continue;
      for (const p of m.perSeed) {
        // finite: a method that changed nothing would read as identical (null in JSON)
        assert.equal(typeof p.psnr, 'number', `${m.config.label} seed ${p.seed}: changes the image`);
        assert.ok(Number.isFinite(p.psnr) && p.psnr > 0, `${m.config.label} PSNR ${p.psnr}`);
        assert.ok(Number.isFinite(p.ssim) && p.ssim <= 1, `${m.config.label} SSIM ${p.ssim}`);
      }
    }
    // dense ran first, in the middle and last across the seeds: its images are those of a dense-only run
    const alone = outDir();
    const d = toma([...base, '--model-dir', dir, '--backend', 'cpu', '--methods', 'dense', '--out', alone]);
    assert.equal(d.code, 0, d.err);
    const [withMethods, denseOnly] = [loadSavedRun(out), loadSavedRun(alone)];
    for (let i = 0; i < 3; i++)
      same(withMethods.images.get('dense')![i]!, denseOnly.images.get('dense')![i]!, `dense seed ${i}`);
  });

  it('the single-file release: the file itself or a folder holding it', async () => {
    const dir = await tinySdxlFolder('single-file');
    for (const model of [dir, join(dir, 'sd_xl_base_1.0.safetensors')]) {
      const out = outDir();
      const r = toma([
        ...base,
        '--seeds',
        '1',
        '--model-dir',
        model,
        '--backend',
        'cpu',
        '--methods',
        'todo',
        '--out',
        out,
      ]);
      assert.equal(r.code, 0, r.err);
      assert.match(readReport(out).settings.model, /single-file SDXL checkpoint/);
      assert.deepEqual(
        readReport(out).results.map((m) => m.config.label),
        ['dense', 'todo'],
      );
    }
  });

  it('a run that fails after denoising writes nothing', async () => {
    // a VAE whose output bias is NaN: the decode fails after the UNet has run
    const dir = join(sdxlTmp, 'eval-nan-vae');
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
    const r = toma([...base, '--model-dir', dir, '--backend', 'cpu', '--methods', 'dense', '--out', out]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /non-finite/);
    assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'no file, not even a partial one');
  });

  it('WebGPU: dense is the CPU image within 8-bit rounding; ToMA runs beside it', {
    skip: noGpu,
  }, async () => {
    const dir = await tinySdxlFolder();
    const [a, b] = [outDir(), outDir()];
    const args = [...base, '--seeds', '1', '--model-dir', dir];
    assert.equal(toma([...args, '--methods', 'dense', '--backend', 'cpu', '--out', a]).code, 0);
    const r = toma([
      ...args,
      '--methods',
      'toma',
      '--ratios',
      '0.5',
      '--backend',
      'webgpu',
      '--dtype',
      'f32',
      '--out',
      b,
    ]);
    assert.equal(r.code, 0, r.err);
    const gpuReport = readReport(b);
    assert.deepEqual(
      gpuReport.results.map((m) => m.config.label),
      ['dense', 'toma 0.5'],
    );
    for (const m of gpuReport.results.slice(1))
      for (const p of m.perSeed)
        assert.ok(Number.isFinite(p.psnr) && p.psnr > 0, `${m.config.label}: ${p.psnr}`);
    const [x, y] = [loadSavedRun(a), loadSavedRun(b)];
    const [p, q] = [x.images.get('dense')![0]!.data, y.images.get('dense')![0]!.data];
    let worst = 0;
    for (let j = 0; j < p.length; j++) worst = Math.max(worst, Math.abs(p[j]! - q[j]!));
    assert.ok(worst <= 1, `max difference ${worst} levels`);
  });

  it('options that do not apply are usage errors, before any output', async () => {
    const dir = await tinySdxlFolder();
    const bad = (args: string[], re: RegExp) => {
      const out = outDir();
      const r = toma([...args, '--backend', 'cpu', '--features', 'none', '--out', out]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, re);
      assert.ok(!existsSync(out), `${args.join(' ')}: nothing written`);
    };
    bad(['--model-dir', dir, '--classes', '1'], /--classes: options of the embedded model's evaluation/);
    bad(['--model-dir', dir, '--batch', '2'], /--batch: options of the embedded model's evaluation/);
    bad(['--prompts', 'a cat'], /--prompts: options of an SDXL model's evaluation; give --model-dir/);
    bad(['--model-dir', dir, '--methods', 'dense', '--size', '32x48'], /--size: eval compares square images/);
    bad(
      ['--model-dir', dir, '--methods', 'dense', '--size', '24'],
      /--size: width must be a positive multiple of 16/,
    );
    bad(['--model-dir', dir, '--methods', 'hilbert'], /--methods: method "hilbert" .*has no UNet form/);
    bad(['--model-dir', dir, '--scope', 'everything'], /--scope/);
    bad(['--model-dir', dir, '--configs', 'fbcache:0.1'], /step caches are not available for SDXL/);
    bad(['--model-dir', await tinyFolder()], /not an SDXL model/);
    bad(['--model-dir', join(sdxlTmp, 'nowhere')], /no such file or folder/);
  });
});
