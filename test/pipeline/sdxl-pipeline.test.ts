// The SDXL pipeline end to end with real (tiny, random-weight) models: folders written by the random
// folder tool in both layouts are located, opened and run on the CPU and WebGPU backends; the diffusers
// folder loads to exactly the models randomSdxlComponents builds from the same seed; images are
// deterministic in the seed, and the same on both backends within f32 rounding.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { locateSdxl } from '../../src/pipeline/model-folder.js';
import { openSdxlFolder } from '../../src/pipeline/sdxl-folder.js';
import { runSdxlPipeline, type SdxlPipelineOptions } from '../../src/pipeline/sdxl-pipeline.js';
import { sdxlPreset } from '../../src/pipeline/sdxl-presets.js';
import { randomSdxlComponents } from '../../src/pipeline/sdxl-random.js';
import { cpu, gpu, noGpu } from '../helpers.js';
import { tinySdxlFolder } from './sdxl-tiny-folder.js';

const run = (o: Partial<SdxlPipelineOptions> & Pick<SdxlPipelineOptions, 'components'>, be: Backend = cpu) =>
  runSdxlPipeline({
    be,
    dtype: 'f32',
    prompts: ['a red fox in the snow'],
    width: 16,
    height: 32,
    steps: 2,
    seed: 3,
    ...o,
  });

const maxDiff = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('SDXL pipeline (tiny random models)', () => {
  it('a diffusers folder from the tool loads to the models randomSdxlComponents builds', async () => {
    const dir = await tinySdxlFolder();
    assert.deepEqual(readdirSync(dir).sort(), [
      'model_index.json',
      'scheduler',
      'text_encoder',
      'text_encoder_2',
      'tokenizer',
      'tokenizer_2',
      'unet',
      'vae',
    ]);
    const files = locateSdxl({ modelDir: dir });
    assert.equal(files.layout, 'diffusers');
    const fromFolder = openSdxlFolder(files);
    const fromMemory = randomSdxlComponents(sdxlPreset('sdxl-tiny'), { onDevice: false, name: 'tiny' });
    assert.deepEqual(fromFolder.sizes, fromMemory.sizes);
    const a = await run({ components: fromFolder });
    const b = await run({ components: fromMemory });
    const img = a.outputs[0]!.images[0]!;
    assert.equal(img.length, 16 * 32 * 3);
    assert.ok(img.every((v) => Number.isFinite(v) && v >= -1 && v <= 1));
    assert.ok(new Set(img).size > 100, 'not a flat image');
    assert.deepEqual(img, b.outputs[0]!.images[0]);
    assert.equal(a.sampler, 'euler');
    assert.equal(a.zeroNegative, true);
  });

  it('deterministic in the seed; the seed, prompt and negative prompt each change the image', async () => {
    const components = openSdxlFolder(locateSdxl({ modelDir: await tinySdxlFolder() }));
    const img = async (o: Partial<SdxlPipelineOptions>) =>
      (await run({ components, ...o })).outputs[0]!.images[0]!;
    const base = await img({});
    assert.deepEqual(await img({}), base);
    for (const o of [
      { seed: 4 },
      { prompts: ['a blue bird'] },
      { negativePrompts: ['blurry'] },
      { sampler: 'euler-a' as const },
    ])
      assert.ok(maxDiff(await img(o), base) > 1e-3, JSON.stringify(o));
  });

  it('the single-file layout (sd_xl_base_1.0.safetensors + tokenizers) opens and runs', async () => {
    const dir = await tinySdxlFolder('single-file');
    assert.ok(existsSync(join(dir, 'sd_xl_base_1.0.safetensors')));
    for (const o of [{ modelDir: dir }, { checkpoint: join(dir, 'sd_xl_base_1.0.safetensors') }]) {
      const files = locateSdxl(o);
      assert.equal(files.layout, 'single-file');
      const c = openSdxlFolder(files);
      assert.deepEqual(c.sizes, randomSdxlComponents(sdxlPreset('sdxl-tiny')).sizes);
      const r = await run({ components: c, steps: 1 });
      const img = r.outputs[0]!.images[0]!;
      assert.ok(img.every((v) => Number.isFinite(v) && v >= -1 && v <= 1));
      assert.ok(new Set(img).size > 100, 'not a flat image');
    }
  });

  it('WebGPU gives the CPU image (f32)', { skip: noGpu }, async () => {
    const components = randomSdxlComponents(sdxlPreset('sdxl-tiny'), { onDevice: false, name: 'tiny' });
    const onCpu = (await run({ components })).outputs[0]!.images[0]!;
    const onGpu = (await run({ components }, gpu!)).outputs[0]!.images[0]!;
    const d = maxDiff(onCpu, onGpu);
    assert.ok(d < 1e-4, `CPU vs WebGPU max |diff| ${d}`); // measured 6.3e-6 (SwiftShader)
  });
});
