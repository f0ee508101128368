// The staged FLUX.1 pipeline on the CPU backend with tiny random components: images of the asked size,
// deterministic in the seed, guidance used by dev-style models only, each model freed before the next
// loads, merging methods run on the same noise, cancellation and bad sizes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FLUX_PRESETS } from '../../src/models/flux/config.js';
import { fluxActivationBytes } from '../../src/models/flux/memory.js';
import {
  type FluxPipelineOptions,
  latentNoise,
  methodDefaults,
  runFluxPipeline,
} from '../../src/pipeline/flux-pipeline.js';
import { pipelinePreset } from '../../src/pipeline/flux-presets.js';
import { packPatches, unpackPatches } from '../../src/pipeline/pixels.js';
import { randomFluxComponents } from '../../src/pipeline/random-components.js';
import { cpu, gpu, noGpu, relErr } from '../helpers.js';

const schnell = randomFluxComponents(pipelinePreset('tiny'), { onDevice: false, name: 'tiny' });
const dev = randomFluxComponents(pipelinePreset('tiny-dev'), { onDevice: false, name: 'tiny-dev' });

const run = (o: Partial<FluxPipelineOptions> = {}) =>
  runFluxPipeline({
    be: cpu,
    components: schnell,
    dtype: 'f32',
    prompts: ['a cat'],
    width: 32,
    height: 48,
    steps: 2,
    maxSequenceLength: 16,
    ...o,
  });

describe('FLUX.1 pipeline (CPU, tiny random components)', () => {
  it('makes an image of the asked size through every stage, freeing each model before the next', async () => {
    const live0 = cpu.memory().liveBytes;
    const r = await run();
    assert.equal(r.variant, 'schnell');
    assert.equal(r.guidance, null);
    assert.equal(r.imageTokens, (32 / 16) * (48 / 16));
    assert.equal(r.textTokens, 16);
    assert.equal(r.outputs.length, 1);
    const img = r.outputs[0]!.images[0]!;
    assert.equal(img.length, 32 * 48 * 3);
    assert.ok(img.every((v) => Number.isFinite(v) && v >= -1 && v <= 1));
    assert.ok(new Set(img).size > 100, 'not a flat image');
    assert.deepEqual(
      r.stages.map((s) => s.stage),
      ['tokenize', 'load T5', 'T5', 'load CLIP', 'CLIP', 'load transformer', 'denoise', 'load AE', 'decode'],
    );
    assert.equal(r.outputs[0]!.stepMs.length, 2);
    const params = (name: string) => r.stages.find((s) => s.stage === name)!.paramBytes!;
    const peak = (name: string) => r.stages.find((s) => s.stage === name)!.peakBytes;
    // while the transformer loads, T5's and CLIP's parameters are gone
    assert.ok(peak('load transformer') < params('load transformer') + params('load T5'));
    assert.ok(peak('load AE') < params('load AE') + params('load transformer'));
    assert.ok(peak('load T5') >= params('load T5'));
    assert.equal(cpu.memory().liveBytes, live0, 'nothing left on the device');
  });

  it('maxDeviceBytes streams transformer blocks: the same image at a lower transformer peak', async () => {
    const preset = pipelinePreset('tiny');
    const deep = randomFluxComponents(
      { ...preset, transformer: { ...preset.transformer, depth: 4, depth_single_blocks: 6 } },
      { onDevice: false, name: 'tiny-deep' },
    );
    const full = await run({ components: deep });
    const stage = (r: typeof full, name: string) => r.stages.find((x) => x.stage === name)!;
    const params = stage(full, 'load transformer').paramBytes!;
    const activations = fluxActivationBytes(deep.transformerConfig, {
      valueBytes: 4,
      batch: 1,
      imageTokens: (32 / 16) * (48 / 16),
      textTokens: 16,
    }).bytes;
    const streamed = await run({ components: deep, maxDeviceBytes: Math.floor(activations + 0.6 * params) });
    assert.deepEqual(streamed.outputs[0]!.images[0], full.outputs[0]!.images[0]);
    assert.ok(stage(streamed, 'load transformer').paramBytes! <= 0.6 * params);
    assert.ok(stage(streamed, 'denoise').peakBytes < stage(full, 'denoise').peakBytes);
    await assert.rejects(
      run({ components: deep, maxDeviceBytes: activations + 1000 }),
      /every block streamed/,
    );
  });

  it('is deterministic in the seed and the prompt', async () => {
    const a = (await run({ seed: 1 })).outputs[0]!.images[0]!;
    const b = (await run({ seed: 1 })).outputs[0]!.images[0]!;
    const c = (await run({ seed: 2 })).outputs[0]!.images[0]!;
    const d = (await run({ seed: 1, prompts: ['a dog'] })).outputs[0]!.images[0]!;
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.notDeepEqual(a, d);
  });

  it('dev-style models take guidance (default 3.5); schnell ignores it', async () => {
    const g = async (components: typeof dev, guidance?: number) =>
      (await run({ components, guidance })).outputs[0]!.images[0]!;
    const r = await run({ components: dev });
    assert.equal(r.variant, 'dev');
    assert.equal(r.guidance, 3.5);
    assert.deepEqual(r.outputs[0]!.images[0], await g(dev, 3.5));
    assert.notDeepEqual(await g(dev, 1), await g(dev, 6));
    assert.deepEqual(await g(schnell, 1), await g(schnell, 6));
  });

  it('runs several methods on the same noise: ToMA close to dense but not equal', async () => {
    const r = await run({
      methods: [{ method: 'dense' }, { method: 'toma', options: { ratio: 0.5 } }],
      width: 64,
      height: 64,
    });
    assert.deepEqual(
      r.outputs.map((o) => o.method),
      ['dense', 'toma'],
    );
    const [d, t] = r.outputs.map((o) => o.images[0]!);
    assert.notDeepEqual(d, t);
    assert.ok(relErr(t!, d!) < 0.5, `toma vs dense ${relErr(t!, d!)}`);
    assert.equal(r.stages.filter((s) => s.stage === 'denoise').length, 2);
    assert.equal(r.stages.filter((s) => s.stage === 'decode').length, 2);
  });

  it('one image per prompt', async () => {
    const r = await run({ prompts: ['a cat', 'a dog'] });
    const [a, b] = r.outputs[0]!.images;
    assert.equal(r.outputs[0]!.images.length, 2);
    assert.notDeepEqual(a, b);
  });

  it('rejects sizes off the 16-pixel grid and stops when cancelled, leaving nothing on the device', async () => {
    await assert.rejects(run({ width: 40 }), /width must be a positive multiple of 16/);
    await assert.rejects(run({ steps: 0 }), /steps must be a positive integer/);
    const live0 = cpu.memory().liveBytes;
    const controller = new AbortController();
    await assert.rejects(
      run({
        signal: controller.signal,
        onEvent: (e) => {
          if (e.stage === 'load transformer' && e.phase === 'end') controller.abort();
        },
      }),
      (e: Error) => e.name === 'AbortError',
    );
    assert.equal(cpu.memory().liveBytes, live0);
  });

  it('latent noise is packed 2x2 like Flux and unpacks back', () => {
    const noise = latentNoise(3, 2, 16, 4, 6);
    assert.equal(noise.length, 2 * 16 * 4 * 6);
    const nchw = unpackPatches(noise, 2, 16, 4, 6);
    assert.deepEqual(packPatches(nchw, 2, 16, 4, 6), noise);
    // token (row 1, col 2) of image 1, channel c·4 + ph·2 + pw = pixel (2 + ph, 4 + pw) of channel c
    const token = 1 * 3 + 2;
    const per = 2 * 3 * 64;
    assert.equal(noise[per + token * 64 + 5 * 4 + 1 * 2 + 0], nchw[((1 * 16 + 5) * 4 + 3) * 6 + 4]);
  });

  it('merging defaults: the reference settings for released sizes, small-model ones for tiny models', () => {
    assert.deepEqual(methodDefaults(FLUX_PRESETS['flux-schnell']!), {});
    assert.deepEqual(methodDefaults(pipelinePreset('tiny').transformer), {
      exemptDouble: 1,
      exemptSingle: 1,
      mergeEvery: 1,
    });
  });
});

describe('FLUX.1 pipeline on WebGPU', { skip: noGpu }, () => {
  it('matches the CPU run and hands the buffers of every freed model back to the device', async () => {
    const o = { steps: 1, width: 32, height: 32, maxSequenceLength: 8 };
    const want = (await run(o)).outputs[0]!.images[0]!;
    const be = gpu!;
    be.trim();
    const live0 = be.memory().liveBytes;
    const r = await run({ ...o, be });
    const got = r.outputs[0]!.images[0]!;
    assert.ok(relErr(got, want) < 1e-4, `WebGPU vs CPU ${relErr(got, want)}`);
    const params = (name: string) => r.stages.find((s) => s.stage === name)!.paramBytes!;
    const peak = (name: string) => r.stages.find((s) => s.stage === name)!.peakBytes;
    // peaks count pooled buffers too: T5's are gone (trimmed) while the transformer loads
    assert.ok(peak('load transformer') < params('load transformer') + params('load T5'));
    assert.ok(peak('load AE') < params('load AE') + params('load transformer'));
    assert.equal(be.memory().liveBytes, live0, 'nothing left alive');
    assert.equal(be.memory().pooledBytes, 0, 'the last model trimmed');
  });
});
