// TAEF1 in the FLUX.1 pipeline and in `toma generate`: previews are TAEF1's decode of x0 = x_t − t·v
// (the first step's preview of a 2-step run is the final image of a 1-step run, decoded by TAEF1),
// the final decode by TAEF1 replaces the autoencoder, and the CLI's --decoder / --preview on a tiny
// random FLUX.1 folder. Skips when the bundled TAEF1 weights are absent.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { defaultPreviewEvery, shrinkRgb } from '../../src/cli/preview.js';
import { Checkpoint } from '../../src/io/safetensors.js';
import {
  type FluxPipelineOptions,
  type PreviewImages,
  runFluxPipeline,
  type StageEvent,
} from '../../src/pipeline/flux-pipeline.js';
import { pipelinePreset } from '../../src/pipeline/flux-presets.js';
import { randomFluxComponents } from '../../src/pipeline/random-components.js';
import { assertClose, cpu } from '../helpers.js';
import { tinyFolder, tmp } from '../pipeline/tiny-folder.js';

const weights = fileURLToPath(new URL('../../../models/taesd/taef1_decoder.safetensors', import.meta.url));
const noWeights = existsSync(weights) ? false : 'models/taesd/taef1_decoder.safetensors is absent';
const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

describe('TAEF1 in the FLUX.1 pipeline (CPU, tiny random components)', { skip: noWeights }, () => {
  const components = randomFluxComponents(pipelinePreset('tiny'), { onDevice: false, name: 'tiny' });
  const run = (o: Partial<FluxPipelineOptions>) =>
    runFluxPipeline({
      be: cpu,
      components,
      dtype: 'f32',
      prompts: ['a cat'],
      width: 32,
      height: 48,
      maxSequenceLength: 16,
      ...o,
    });

  it('previews x0 = x_t − t·v: step 1 of 2 equals the 1-step image decoded by TAEF1', async () => {
    const taef1 = Checkpoint.open(weights);
    try {
      const live0 = cpu.memory().liveBytes;
      const previews: PreviewImages[] = [];
      const events: StageEvent[] = [];
      const two = await run({
        steps: 2,
        taef1,
        previewEvery: 1,
        onEvent: (e) => {
          events.push(e);
          if (e.preview) previews.push(e.preview);
        },
      });
      // one preview (the last step is the final image itself), on the progress event of step 1
      assert.equal(previews.length, 1);
      const p = previews[0]!;
      assert.deepEqual([p.step, p.width, p.height, p.images.length], [1, 32, 48, 1]);
      assert.equal(events.find((e) => e.preview)!.done, 1);
      assert.ok(p.images[0]!.every((v) => v >= -1 && v <= 1));
      assert.deepEqual(
        two.stages.map((s) => s.stage),
        [
          'tokenize',
          'load T5',
          'T5',
          'load CLIP',
          'CLIP',
          'load transformer',
          'load TAEF1',
          'denoise',
          'load AE',
          'decode',
        ],
      );
      // schnell's schedule starts at t = 1 either way, so x0 after step 1 is the 1-step result
      const one = await run({ steps: 1, taef1, decoder: 'taef1' });
      assert.deepEqual(
        one.stages.slice(-3).map((s) => s.stage),
        ['denoise', 'load TAEF1', 'decode'],
      );
      assertClose(p.images[0]!, one.outputs[0]!.images[0]!, 1e-6, 'preview vs 1-step TAEF1 image');
      assert.equal(cpu.memory().liveBytes, live0, 'TAEF1 freed');
    } finally {
      taef1.close();
    }
  });

  it('refuses previews or decoder taef1 without weights, and a fractional previewEvery', async () => {
    await assert.rejects(run({ steps: 1, previewEvery: 2 }), {
      message: 'previews need the TAEF1 decoder weights (option taef1)',
    });
    await assert.rejects(run({ steps: 1, decoder: 'taef1' }), {
      message: "decoder 'taef1' needs the TAEF1 decoder weights (option taef1)",
    });
    await assert.rejects(run({ steps: 1, previewEvery: 1.5 }), {
      message: 'previewEvery must be a non-negative integer, got 1.5',
    });
  });
});

describe('preview files', () => {
  it('shrink by the smallest integer factor that fits 256 px, averaging boxes', () => {
    const rgb = Float32Array.from({ length: 600 * 4 * 3 }, (_, i) => (Math.floor(i / 3) % 600) % 3);
    const s = shrinkRgb(rgb, 600, 4);
    // factor 3: 200 x 1, each box averages columns with values 0, 1, 2
    assert.deepEqual([s.width, s.height], [200, 1]);
    assert.ok(s.rgb.every((v) => Math.abs(v - 1) < 1e-6));
    assert.equal(shrinkRgb(rgb, 256, 2).rgb, rgb, 'small enough: unchanged');
  });
  it('come about eight times per image by default', () => {
    assert.deepEqual([1, 4, 8, 28, 50].map(defaultPreviewEvery), [1, 1, 1, 3, 6]);
  });
});

function toma(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Width and height from a PNG's IHDR. */
function pngSize(path: string): [number, number] {
  const b = readFileSync(path);
  assert.equal(b.toString('latin1', 12, 16), 'IHDR');
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}

describe('toma generate --decoder taef1 --preview', { skip: noWeights }, () => {
  it('writes the image through TAEF1 and a preview PNG (bare --preview: <out>/preview.png)', async () => {
    const out = join(tmp, 'out-taef1');
    const r = toma([
      'generate',
      '--model-dir',
      await tinyFolder(),
      '--prompt',
      'a cat',
      '--steps',
      '3',
      '--size',
      '32x48',
      '--backend',
      'cpu',
      '--decoder',
      'taef1',
      '--preview',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /decoder TAEF1 f32/);
    assert.match(
      r.out,
      new RegExp(`^preview: ${join(out, 'preview.png')}, refreshed every 1 step \\(TAEF1\\)$`, 'm'),
    );
    assert.match(r.out, /^ {2}load TAEF1 +[0-9.]+ s {3}peak .*of parameters$/m);
    assert.doesNotMatch(r.out, /load AE/);
    assert.deepEqual(readdirSync(out).sort(), ['a-cat-seed0-32x48-dense-cpu.png', 'preview.png']);
    assert.deepEqual(pngSize(join(out, 'preview.png')), [32, 48]);
    assert.deepEqual(pngSize(join(out, 'a-cat-seed0-32x48-dense-cpu.png')), [32, 48]);
  });

  it('--preview FILE with --preview-every, the autoencoder decoding the final image', async () => {
    const out = join(tmp, 'out-preview-file');
    const file = join(tmp, 'previews', 'live.png');
    const r = toma([
      'generate',
      '--model-dir',
      await tinyFolder(),
      '--prompt',
      'a cat',
      '--steps',
      '3',
      '--size',
      '32',
      '--backend',
      'cpu',
      '--preview',
      file,
      '--preview-every',
      '2',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /refreshed every 2 steps/);
    assert.match(r.out, /^ {2}load AE /m);
    assert.deepEqual(pngSize(file), [32, 32]);
    assert.deepEqual(readdirSync(out), ['a-cat-seed0-32px-dense-cpu.png']);
  });

  it('a preview path that cannot be written is one line naming it', async () => {
    const folder = join(tmp, 'preview-is-a-folder');
    mkdirSync(folder, { recursive: true });
    const r = toma([
      'generate',
      '--model-dir',
      await tinyFolder(),
      '--prompt',
      'a',
      '--steps',
      '2',
      '--size',
      '32',
      '--backend',
      'cpu',
      '--preview',
      folder,
      '--out',
      join(tmp, 'out-preview-folder'),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`^toma: --preview: ${folder} is a folder; give a file name$`, 'm'));
  });

  it('usage errors (exit 2) name the option and the rule', async () => {
    const base = await tinyFolder();
    let r = toma(['generate', '--model-dir', base, '--prompt', 'a', '--decoder', 'vae', '--backend', 'cpu']);
    assert.equal(r.code, 2);
    assert.match(r.err, /toma: --decoder must be one of ae, taef1; got "vae"/);
    r = toma(['generate', '--model-dir', base, '--prompt', 'a', '--preview-every', '2', '--backend', 'cpu']);
    assert.equal(r.code, 2);
    assert.match(r.err, /toma: --preview-every needs --preview \[FILE\]/);
    r = toma(['generate', '--model-dir', base, '--prompt', 'a', '--preview', '--preview-every', '0']);
    assert.equal(r.code, 2);
    assert.match(r.err, /toma: --preview-every must be a positive integer; got "0"/);
    r = toma(['generate', '--class', 'green-meadow', '--preview']);
    assert.equal(r.code, 2);
    assert.match(r.err, /toma: --preview: options of a FLUX\.1 or SDXL model; give --model-dir/);
  });
});
